package ginsession

// SESSION_TYPE=sqlalchemy (alias gorm): sessions in Flask-Session's SQL table
// through GORM on SQLite (cgo), PostgreSQL or MySQL/MariaDB (package gormstore).
import _ "github.com/ginsession/ginsession/backends/gormstore"
