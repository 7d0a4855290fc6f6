package ginsession

// SESSION_TYPE=mongodb: sessions as Flask-Session documents in a MongoDB collection (package mongostore).
import _ "github.com/ginsession/ginsession/backends/mongostore"
