//go:build !nomemcachedstore

package main

import (
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memcachedstore"
)

func ginsessionMemcachedStore(c *memcache.Client) backends.Store {
	return memcachedstore.New(c, memcachedstore.Options{})
}
