//go:build nomemcachedstore

package main

import (
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/ginsession/ginsession/backends"
)

// ginsessionMemcachedStore: this ginsession has no memcached store (run.sh
// builds with -tags nomemcachedstore then).
func ginsessionMemcachedStore(*memcache.Client) backends.Store { return nil }
