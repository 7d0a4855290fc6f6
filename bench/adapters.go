package main

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	redigo "github.com/gomodule/redigo/redis"
)

// countConn counts the writes on a client connection. Every client used here
// (go-redis, redigo, gomemcache) buffers a command, or a pipeline, and sends
// it with one flush, so one Write is one round trip.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countConn{Conn: c, n: n}, nil
	}
}

// scsRedigoStore is an scs store over a redigo pool that sends exactly the
// commands of github.com/alexedwards/scs/redisstore (which the module proxy
// here does not serve): Find is GET, Commit is MULTI / SET / PEXPIREAT /
// EXEC in one pipeline, Delete is DEL.
type scsRedigoStore struct {
	pool   *redigo.Pool
	prefix string
}

func (r *scsRedigoStore) Find(token string) ([]byte, bool, error) {
	conn := r.pool.Get()
	defer conn.Close()
	b, err := redigo.Bytes(conn.Do("GET", r.prefix+token))
	if err == redigo.ErrNil {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func (r *scsRedigoStore) Commit(token string, b []byte, expiry time.Time) error {
	conn := r.pool.Get()
	defer conn.Close()
	if err := conn.Send("MULTI"); err != nil {
		return err
	}
	if err := conn.Send("SET", r.prefix+token, b); err != nil {
		return err
	}
	if err := conn.Send("PEXPIREAT", r.prefix+token, expiry.UnixNano()/int64(time.Millisecond)); err != nil {
		return err
	}
	_, err := conn.Do("EXEC")
	return err
}

func (r *scsRedigoStore) Delete(token string) error {
	conn := r.pool.Get()
	defer conn.Close()
	_, err := conn.Do("DEL", r.prefix+token)
	return err
}

// scsMemcachedStore is an scs store over gomemcache (scs has no memcached
// store): Find is get, Commit is set with the remaining lifetime, Delete is
// delete.
type scsMemcachedStore struct {
	c      *memcache.Client
	prefix string
}

func (m *scsMemcachedStore) Find(token string) ([]byte, bool, error) {
	it, err := m.c.Get(m.prefix + token)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return it.Value, true, nil
}

func (m *scsMemcachedStore) Commit(token string, b []byte, expiry time.Time) error {
	secs := int32(math.Ceil(time.Until(expiry).Seconds()))
	if secs < 1 {
		secs = 1
	}
	return m.c.Set(&memcache.Item{Key: m.prefix + token, Value: b, Expiration: secs})
}

func (m *scsMemcachedStore) Delete(token string) error {
	err := m.c.Delete(m.prefix + token)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}

// memFloor is the in-memory floor: a mutex-guarded map of opaque bytes.
type memFloor struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (f *memFloor) get(k string) ([]byte, bool) {
	f.mu.RLock()
	v, ok := f.m[k]
	f.mu.RUnlock()
	return v, ok
}

func (f *memFloor) set(k string, v []byte) {
	f.mu.Lock()
	f.m[k] = v
	f.mu.Unlock()
}
