package ginsession

// The built-in backends register their SESSION_TYPE names when imported, so
// that a type string alone picks one (database/sql style; third parties add
// theirs with Register).
import (
	_ "github.com/ginsession/ginsession/backends/dynamostore"    // dynamodb
	_ "github.com/ginsession/ginsession/backends/filestore"      // filesystem
	_ "github.com/ginsession/ginsession/backends/gormstore"      // sqlalchemy (alias gorm): SQLite, PostgreSQL, MySQL
	_ "github.com/ginsession/ginsession/backends/memcachedstore" // memcached
	_ "github.com/ginsession/ginsession/backends/memstore"       // memory
	_ "github.com/ginsession/ginsession/backends/mongostore"     // mongodb
	_ "github.com/ginsession/ginsession/backends/nullstore"      // null
	_ "github.com/ginsession/ginsession/backends/redisstore"     // redis: single node, Cluster or Sentinel
)
