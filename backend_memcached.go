package ginsession

// SESSION_TYPE=memcached: sessions in one or more memcached servers from
// SESSION_MEMCACHED (package memcachedstore).
import _ "github.com/ginsession/ginsession/backends/memcachedstore"
