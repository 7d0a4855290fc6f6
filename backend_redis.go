package ginsession

// SESSION_TYPE=redis: sessions in Redis (single node, Cluster or Sentinel)
// from SESSION_REDIS (package redisstore).
import _ "github.com/ginsession/ginsession/backends/redisstore"
