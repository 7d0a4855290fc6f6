package ginsession

// SESSION_TYPE=filesystem: sessions as files in SESSION_FILE_DIR (package filestore).
import _ "github.com/ginsession/ginsession/backends/filestore"
