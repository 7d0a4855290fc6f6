// Package redisstore keeps sessions in Redis, registered as
// SESSION_TYPE=redis, in Flask-Session 0.8's format: the value of session
// key <prefix><sid> is the encoded session, written with
// SET <key> <bytes> EX <lifetime in whole seconds>, so a Flask app and a Gin
// app pointed at one Redis share sessions.
//
// Any go-redis v9 client works: a single node, a Cluster, a Sentinel
// failover client or a Ring. Every operation is one command on one key, so
// each costs one round trip and works on a Cluster:
//
//	Load                      GET
//	Save                      SET key value EX ttl
//	Delete                    DEL
//	Touch                     EXPIRE key ttl
//	LoadVersion (refresh > 0) GETEX key EX refresh   (GET when refresh is 0)
//	SaveIf (nil version)      SET key value EX ttl NX
//	SaveIf (a version)        EVALSHA of a compare-and-set script (EVAL once
//	                          per server, when its script cache is empty)
//
// The version handed out by LoadVersion is the SHA-1 of the loaded bytes;
// the script compares it with redis.sha1hex of the current value and writes
// only if they match, so a write never overwrites a change it has not seen.
// Because versions compare content, a key deleted and re-created with
// byte-identical content still matches an older version; the write is then
// based on exactly the current data, so no update is lost.
//
// With SESSION_TYPE=redis the client is built from SESSION_REDIS (see
// ParseURL) and closed by Close; a client passed to New belongs to the
// caller.
package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
)

func init() {
	backends.Register("redis", open)
}

// open is the SESSION_TYPE=redis factory. It does not connect: the first
// store call does, so a Redis that is down at start-up only fails requests.
func open(_ context.Context, cfg backends.Config) (backends.Store, error) {
	u := cfg.Redis
	if strings.TrimSpace(u) == "" {
		u = DefaultURL
	}
	o, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	so := o.Store
	so.KeyPrefix, so.Logger = cfg.KeyPrefix, cfg.Logger
	s := New(o.NewClient(), so)
	s.owned = true
	return s, nil
}

// Options configure a Store. The zero value is usable.
type Options struct {
	// KeyPrefix is SESSION_KEY_PREFIX. Only Keys uses it, to list the keys
	// that start with it; empty lists every key of the database.
	KeyPrefix string
	// Logger receives the store's diagnostics; nil means slog.Default().
	Logger *slog.Logger

	// ReloadMinInterval applies to a *redis.ClusterClient: a call that
	// fails with a network error or a cluster error reply (MOVED, ASK,
	// TRYAGAIN, CLUSTERDOWN, READONLY, MASTERDOWN, LOADING) makes the client
	// reload its slot map, at most once per ReloadMinInterval, so that a
	// replica promoted by a failover is used at once instead of at the
	// client's next periodic reload (ClusterStateReloadInterval, 60 s by
	// default). Zero means 250ms; negative turns reloading on errors off.
	// SESSION_REDIS: cluster_reload_min_interval.
	ReloadMinInterval time.Duration

	// WaitReplicas, when positive, makes every Save, SaveIf and Delete
	// wait (Redis WAIT) until that many replicas have the write before it
	// is acknowledged; fewer within WaitTimeout is an error matching
	// ErrNotReplicated (the write is then on the master but may be lost by
	// a failover). Zero (the default) waits for none. SESSION_REDIS:
	// wait_replicas.
	WaitReplicas int
	// WaitTimeout bounds the wait for WaitReplicas; zero means 1s. The
	// call's context deadline bounds it too. SESSION_REDIS: wait_timeout.
	WaitTimeout time.Duration
}

// Store keeps sessions in Redis. It implements backends.Store,
// backends.Toucher, backends.CompareAndSwapper, backends.Lister and
// io.Closer, and is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	log    *slog.Logger
	// owned: Close closes the client (the factory made it).
	owned bool
	// guard: the client ignores context deadlines during I/O
	// (ContextTimeoutEnabled is off), so calls run in a goroutine the
	// caller stops waiting for when its context ends.
	guard     bool
	closed    atomic.Bool
	noGetEx   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// cluster is the client as a *redis.ClusterClient, nil for others.
	cluster    *redis.ClusterClient
	reloadMin  time.Duration // < 0: off
	lastReload atomic.Int64  // unix nanoseconds of the last reload asked for
	waitN      int
	waitFor    time.Duration
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)

// New returns a store on client, which may be any go-redis v9 client
// (*redis.Client, including one from redis.NewFailoverClient,
// *redis.ClusterClient or *redis.Ring). The client stays the caller's:
// Close does not close it.
//
// Give the client ContextTimeoutEnabled: true (ParseURL does), so that
// socket reads and writes end at the context's deadline. Without it the
// store still returns by the deadline, by running each call in a goroutine
// it stops waiting for, at the cost of that goroutine.
func New(client redis.UniversalClient, opts Options) *Store {
	if client == nil {
		panic("redisstore: New with a nil client")
	}
	s := &Store{client: client, prefix: opts.KeyPrefix, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.cluster, _ = client.(*redis.ClusterClient)
	s.reloadMin = opts.ReloadMinInterval
	if s.reloadMin == 0 {
		s.reloadMin = DefaultReloadMinInterval
	}
	if opts.WaitReplicas > 0 {
		switch client.(type) {
		case *redis.Client, *redis.ClusterClient:
			s.waitN, s.waitFor = opts.WaitReplicas, opts.WaitTimeout
			if s.waitFor <= 0 {
				s.waitFor = DefaultWaitTimeout
			}
		default:
			s.log.Warn("ginsession: redis: WaitReplicas needs a *redis.Client or *redis.ClusterClient; writes will not wait for replicas", "client", fmt.Sprintf("%T", client))
		}
	}
	s.guard = !honoursContext(client)
	if s.guard {
		s.log.Info("ginsession: redis: the client has ContextTimeoutEnabled off; store calls run in a goroutine so that they end by their context's deadline")
	}
	return s
}

func honoursContext(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Client returns the go-redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Close marks the store closed: later calls fail with an error matching
// backends.ErrClosed. It closes the client only if the SESSION_TYPE factory
// made it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.owned {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// seconds truncates a TTL to whole seconds, at least one, as Flask-Session
// does (int(lifetime.total_seconds())).
func seconds(d time.Duration) time.Duration {
	d = d.Truncate(time.Second)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// check fails fast on a closed store or a finished context.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("ginsession: redis: %s: %w", op, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: redis: %s: %w", op, err)
	}
	return nil
}

// wrap prefixes a client error. Keys are left out: they hold session ids.
// A command the server refuses becomes an *UnsupportedError that says what
// the store needs.
func wrap(op string, err error) error {
	if u := refused(op, err); u != nil {
		return u
	}
	if tooLarge(err) {
		return fmt.Errorf("ginsession: redis: %s: %w (%w)", op, backends.ErrTooLarge, err)
	}
	return fmt.Errorf("ginsession: redis: %s: %w", op, err)
}

// tooLarge reports the errors Redis gives for a value over
// proto-max-bulk-len (512 MB by default).
func tooLarge(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	return strings.Contains(msg, "invalid bulk length") || strings.Contains(msg, "exceeds maximum allowed size")
}

// guarded runs fn in a goroutine and returns when it does or when ctx ends.
func guarded[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

type loaded struct {
	data      []byte
	found     bool
	refreshed bool
}

// Load returns the value of key (GET). A missing or expired key gives
// found=false and a nil error.
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.check(ctx, "load"); err != nil {
		return nil, false, err
	}
	r, err := run(s, ctx, func(ctx context.Context) (loaded, error) { return s.get(ctx, key, 0) })
	if err != nil {
		return nil, false, wrap("load", err)
	}
	return r.data, r.found, nil
}

// get reads key with GET, or with GETEX EX refresh when refresh > 0 and the
// server has GETEX (Redis 6.2).
func (s *Store) get(ctx context.Context, key string, refresh time.Duration) (loaded, error) {
	var cmd *redis.StringCmd
	getex := refresh > 0 && !s.noGetEx.Load()
	if getex {
		cmd = s.client.GetEx(ctx, key, seconds(refresh))
		// Redis before 6.2 answers "ERR unknown command 'getex'". (go-redis's
		// HasErrorPrefix strips "ERR ", so it cannot be used for this.)
		if u := refused("load", cmd.Err()); u != nil && u.Command == "GETEX" && strings.Contains(u.Reply, "unknown command") {
			s.noGetEx.Store(true)
			s.log.Warn("ginsession: redis: the server has no GETEX (Redis < 6.2); an unmodified session's expiry is refreshed by a separate EXPIRE")
			getex = false
			cmd = s.client.Get(ctx, key)
		}
	} else {
		cmd = s.client.Get(ctx, key)
	}
	b, err := cmd.Bytes()
	if err == redis.Nil {
		return loaded{}, nil
	}
	if err != nil {
		return loaded{}, err
	}
	// The reply may be shared (client-side caching, hooks): hand out a copy.
	data := make([]byte, len(b))
	copy(data, b)
	return loaded{data: data, found: true, refreshed: getex}, nil
}

// Save stores data under key for ttl, truncated to whole seconds (at least
// one): SET key data EX ttl.
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	if s.guard {
		data = append([]byte(nil), data...) // the goroutine may outlive the call
	}
	_, err := run(s, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.write(ctx, key, func(ctx context.Context, c redis.Cmdable) (bool, error) {
			return true, c.Set(ctx, key, data, seconds(ttl)).Err()
		})
	})
	if err != nil {
		return wrap("save", err)
	}
	return nil
}

// Delete removes key (DEL). A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete"); err != nil {
		return err
	}
	_, err := run(s, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.write(ctx, key, func(ctx context.Context, c redis.Cmdable) (bool, error) {
			return true, c.Del(ctx, key).Err()
		})
	})
	if err != nil {
		return wrap("delete", err)
	}
	return nil
}

// Touch resets the expiry of key to ttl without sending the value
// (EXPIRE key ttl). A missing key stays missing.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.check(ctx, "touch"); err != nil {
		return err
	}
	_, err := run(s, ctx, func(ctx context.Context) (bool, error) { return s.client.Expire(ctx, key, seconds(ttl)).Result() })
	if err != nil {
		return wrap("touch", err)
	}
	return nil
}

// version is the token LoadVersion hands out: the SHA-1 of the loaded value.
type version [sha1.Size]byte

// LoadVersion loads key with a version token for SaveIf. With refresh > 0
// it resets the expiry in the same command (GETEX key EX refresh) and
// reports Refreshed.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	if err := s.check(ctx, "load"); err != nil {
		return backends.Record{}, err
	}
	r, err := run(s, ctx, func(ctx context.Context) (loaded, error) { return s.get(ctx, key, refresh) })
	if err != nil {
		return backends.Record{}, wrap("load", err)
	}
	if !r.found {
		return backends.Record{}, nil
	}
	return backends.Record{Data: r.data, Found: true, Version: version(sha1.Sum(r.data)), Refreshed: r.refreshed}, nil
}

// casScript writes ARGV[2] with EX ARGV[3] if the current value's SHA-1 is
// ARGV[1]. A missing key never matches. It returns 1 if it wrote, else 0.
var casScript = redis.NewScript(`local v = redis.call('GET', KEYS[1])
if v and redis.sha1hex(v) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0`)

// SaveIf writes data under key for ttl only if key still holds the value
// LoadVersion returned with ver; a nil ver writes only if key is missing
// (SET … NX). Otherwise it writes nothing and returns an error matching
// backends.ErrConflict. A version from another store is a conflict too.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, ver any, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	var want version
	if ver != nil {
		v, ok := ver.(version)
		if !ok {
			return fmt.Errorf("ginsession: redis: version %T is not from this store: %w", ver, backends.ErrConflict)
		}
		want = v
	}
	if s.guard {
		data = append([]byte(nil), data...) // the goroutine may outlive the call
	}
	wrote, err := run(s, ctx, func(ctx context.Context) (bool, error) { return s.saveIf(ctx, key, data, ver != nil, want, ttl) })
	if err != nil {
		return wrap("save", err)
	}
	if !wrote {
		if ver == nil {
			return fmt.Errorf("ginsession: redis: session already exists: %w", backends.ErrConflict)
		}
		return fmt.Errorf("ginsession: redis: session changed since it was loaded: %w", backends.ErrConflict)
	}
	return nil
}

func (s *Store) saveIf(ctx context.Context, key string, data []byte, versioned bool, want version, ttl time.Duration) (bool, error) {
	ttl = seconds(ttl)
	var wrote bool
	err := s.write(ctx, key, func(ctx context.Context, c redis.Cmdable) (bool, error) {
		var err error
		if !versioned {
			wrote, err = c.SetNX(ctx, key, data, ttl).Result()
			return wrote, err
		}
		var h [2 * sha1.Size]byte
		hex.Encode(h[:], want[:])
		n, err := casScript.Run(ctx, c, []string{key}, h[:], data, int64(ttl/time.Second)).Int64()
		wrote = n == 1
		return wrote, err
	})
	return wrote, err
}

// Keys lists the live keys that start with Options.KeyPrefix (SCAN with
// MATCH, on every master of a Cluster and every shard of a Ring), the
// sessions only: not the user indexes (UserIndexPrefix), which the pattern
// also matches when the prefix is empty.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := s.check(ctx, "keys"); err != nil {
		return nil, err
	}
	keys, err := run(s, ctx, s.keys)
	if err != nil {
		return nil, wrap("keys", err)
	}
	return keys, nil
}

func (s *Store) keys(ctx context.Context) ([]string, error) {
	pattern := globEscape(s.prefix) + "*"
	var mu sync.Mutex
	seen := map[string]struct{}{}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			page, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range page {
				if !s.isIndexKey(k) {
					seen[k] = struct{}{}
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, s.client)
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	return keys, nil
}

// globEscape quotes the characters SCAN's MATCH pattern treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
