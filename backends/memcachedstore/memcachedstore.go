// Package memcachedstore keeps sessions in one or more memcached servers,
// registered as SESSION_TYPE=memcached.
//
// Items are laid out as Flask-Session 0.8 writes them, so a Flask app and a
// Gin app pointed at the same servers share sessions: the key is
// SESSION_KEY_PREFIX + sid, the value is the session bytes, flags are 0, and
// the expiry is sent as relative seconds up to 30 days (2592000 s) and as an
// absolute Unix time beyond that, as memcached requires.
//
// The client is github.com/bradfitz/gomemcache. With several servers the
// client's ServerList spreads keys over them (CRC32 of the key modulo the
// number of servers); every server must be listed in the same order by
// every instance of the application.
//
// The store implements backends.Store, backends.Toucher (the memcached
// touch command: the value is never resent), backends.CompareAndSwapper
// (a load with refresh is one gat, whose version is the content; a write
// checks it with gets then cas; without refresh, gets and cas; add for new
// sessions) and io.Closer. It does not list or
// clean up keys: memcached expires items by itself and cannot enumerate
// them reliably.
//
// gomemcache has no context support. Each call checks its context first and
// is then bounded by the client's Timeout (a connect, then each read or
// write); when the context's deadline is closer than twice that timeout the
// call runs in a goroutine and returns as soon as the context is done. See
// docs/backends/memcached.md.
package memcachedstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/errs"
	"github.com/ginsession/ginsession/internal/setup"
)

// TypeName is the SESSION_TYPE this package registers.
const TypeName = "memcached"

// Defaults used when the corresponding Options field is zero, and by the
// SESSION_TYPE=memcached factory.
const (
	// DefaultServers is the server list used when SESSION_MEMCACHED is empty.
	DefaultServers = "127.0.0.1:11211"
	// DefaultTimeout is the socket timeout of clients this package builds
	// (gomemcache's own default is 500ms). A call takes at most about twice
	// this long (connect, then I/O), well under the core's default store
	// timeout of 3s.
	DefaultTimeout = time.Second
	// DefaultMaxIdleConns is the number of idle connections kept per server
	// by clients this package builds (gomemcache's own default is 2, which
	// makes a busy server open and close a connection for most requests).
	DefaultMaxIdleConns = 64
	// DefaultMaxItemSize is memcached's default maximum item size (-I 1m).
	DefaultMaxItemSize = 1 << 20
	// MaxRelativeExpiry is the longest expiry memcached accepts as a
	// relative number of seconds (30 days). Longer lifetimes are sent as an
	// absolute Unix time, exactly as Flask-Session (pymemcache) does.
	MaxRelativeExpiry = 30 * 24 * time.Hour
	// MaxKeyLength is memcached's key length limit in bytes.
	MaxKeyLength = 250
)

// itemOverhead is what memcached adds to the key and value lengths when it
// checks an item against its maximum item size: a 48-byte item header, the
// 8-byte CAS value, the key's terminating NUL and the value's trailing
// "\r\n". Measured on memcached 1.6: with -I 1m, len(key)+len(value) may be
// at most 1048517.
const itemOverhead = 48 + 8 + 1 + 2

// DefaultMaxValueSize is the largest value that fits memcached's default
// item size together with any valid key (of up to 250 bytes):
// 1 MiB - 309 bytes. Larger values may fit under shorter keys.
const DefaultMaxValueSize = DefaultMaxItemSize - MaxKeyLength - itemOverhead

// ErrInvalidKey is wrapped by the error returned for a key memcached cannot
// take: empty, longer than 250 bytes, or containing a space, a control
// character or a byte outside printable ASCII. Such a key never reaches the
// server.
var ErrInvalidKey = errors.New("ginsession: memcached: invalid key")

// Options configure a Store. The zero value uses the defaults above.
type Options struct {
	// Timeout is the socket timeout of a client built by Open or by the
	// SESSION_TYPE factory; 0 means DefaultTimeout. A client passed to New
	// keeps its own Timeout (set memcache.Client.Timeout yourself).
	Timeout time.Duration

	// MaxIdleConns is the number of idle connections per server kept by a
	// client built by Open or by the factory; 0 means DefaultMaxIdleConns.
	// A client passed to New keeps its own setting.
	MaxIdleConns int

	// MaxItemSize is the servers' maximum item size (memcached -I); 0 means
	// DefaultMaxItemSize (1 MiB). Values that would not fit are refused
	// with an error wrapping backends.ErrTooLarge before anything is sent:
	// memcached answers a `set` that is too large by deleting the item it
	// had under that key, so checking first is what keeps the previous
	// session intact. Negative disables the check (the server's
	// "SERVER_ERROR object too large" still maps to backends.ErrTooLarge).
	MaxItemSize int

	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger

	// Now returns the current time, used for absolute expiry times
	// (lifetimes over 30 days); nil means time.Now. For tests.
	Now func() time.Time
}

// Store keeps sessions in memcached. It is safe for concurrent use.
type Store struct {
	client  *memcache.Client
	owned   bool
	timeout time.Duration
	maxItem int
	log     *slog.Logger
	now     func() time.Time
	closed  atomic.Bool
	// setup resolves the server names of a store built by Open; nil for
	// a client passed to New.
	setup *setup.Once
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
)

func init() {
	backends.Register(TypeName, func(ctx context.Context, cfg backends.Config) (backends.Store, error) {
		servers, err := ParseServers(cfg.Memcached)
		if err != nil {
			return nil, fmt.Errorf("ginsession: SESSION_MEMCACHED=%q: %w", cfg.Memcached, err)
		}
		s, err := Open(ctx, servers, Options{Logger: cfg.Logger})
		if err != nil {
			return nil, errs.Wrap(fmt.Sprintf("SESSION_MEMCACHED=%q", cfg.Memcached), err)
		}
		return s, nil
	})
}

// New returns a store on client. The client belongs to the caller: Close
// does not close it. Its Timeout bounds every call (see the package doc);
// Options.Timeout and Options.MaxIdleConns do not change it.
func New(client *memcache.Client, opts Options) *Store {
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = memcache.DefaultTimeout
	}
	return newStore(client, false, timeout, opts)
}

func newStore(client *memcache.Client, owned bool, timeout time.Duration, opts Options) *Store {
	s := &Store{client: client, owned: owned, timeout: timeout, maxItem: opts.MaxItemSize, log: opts.Logger, now: opts.Now}
	if s.maxItem == 0 {
		s.maxItem = DefaultMaxItemSize
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Open builds a client for servers (host:port addresses, as returned by
// ParseServers) with opts.Timeout and opts.MaxIdleConns and returns a store
// that owns it: Close closes its connections. Host names are resolved here,
// within ctx, as gomemcache's ServerList does; no connection is made. When
// a name cannot be resolved within ctx, Open still returns the store, logs
// a warning and resolves the names again before each call until it
// succeeds (ginsession's start-up policy, docs/backends.md); until then
// calls fail.
func Open(ctx context.Context, servers []string, opts Options) (*Store, error) {
	if len(servers) == 0 {
		return nil, errors.New("ginsession: memcached: no servers")
	}
	list := new(memcache.ServerList)
	client := memcache.NewFromSelector(list)
	client.Timeout = opts.Timeout
	if client.Timeout <= 0 {
		client.Timeout = DefaultTimeout
	}
	client.MaxIdleConns = opts.MaxIdleConns
	if client.MaxIdleConns <= 0 {
		client.MaxIdleConns = DefaultMaxIdleConns
	}
	s := newStore(client, true, client.Timeout, opts)
	s.setup = setup.New(func(ctx context.Context) error {
		addrs := make([]string, len(servers))
		for i, srv := range servers {
			a, err := resolve(ctx, srv)
			if err != nil {
				return setup.Unreachable(fmt.Errorf("ginsession: memcached: server %q: %w", srv, err))
			}
			addrs[i] = a
		}
		if err := list.SetServers(addrs...); err != nil {
			return fmt.Errorf("ginsession: memcached: %w", err)
		}
		return nil
	})
	if err := s.setup.Do(ctx); err != nil {
		if !setup.IsUnreachable(err) {
			return nil, err
		}
		s.log.Warn("ginsession: memcached: a server name does not resolve at start; it is resolved again before each call until it does, and calls fail until then",
			"err", err)
	}
	return s, nil
}

// resolve turns host:port into ip:port within ctx (gomemcache would resolve
// with no deadline); IPv4 is preferred, as net.ResolveTCPAddr does.
func resolve(ctx context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if net.ParseIP(host) != nil {
		return hostport, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	best := ips[0]
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			best = ip
			break
		}
	}
	return net.JoinHostPort(best.IP.String(), port), nil
}

// ParseServers parses SESSION_MEMCACHED: a comma-separated list of
// host:port addresses (IPv6 hosts in brackets, "[::1]:11211"); spaces
// around entries are ignored. An empty string gives DefaultServers. An
// empty entry, a missing or invalid port, or anything that is not a host
// name or IP address is an error. The order matters: it decides which
// server holds which key.
func ParseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultServers
	}
	var out []string
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("entry %d is empty; want comma-separated host:port addresses like %q", i+1, "127.0.0.1:11211,10.0.0.2:11211")
		}
		host, port, err := net.SplitHostPort(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %q: want host:port (IPv6 as [addr]:port): %v", entry, err)
		}
		if host == "" {
			return nil, fmt.Errorf("entry %q: the host is missing; want host:port", entry)
		}
		if net.ParseIP(host) == nil && !validHostname(host) {
			return nil, fmt.Errorf("entry %q: %q is not a host name or IP address", entry, host)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return nil, fmt.Errorf("entry %q: port %q is not a number from 1 to 65535", entry, port)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// validHostname accepts DNS names: labels of letters, digits, '-' and '_'
// separated by dots.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Client returns the underlying client.
func (s *Store) Client() *memcache.Client { return s.client }

// Expiration converts a ttl into memcached's exptime field as Flask-Session
// does: whole seconds (truncated, at least 1) up to 30 days, and beyond
// that the absolute Unix time now+ttl (clamped to the largest 32-bit time).
func Expiration(ttl time.Duration, now time.Time) int32 {
	secs := int64(ttl / time.Second)
	if secs < 1 {
		// 0 would mean "never expires"; sub-second ttls expire after 1s.
		secs = 1
	}
	if secs <= int64(MaxRelativeExpiry/time.Second) {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > math.MaxInt32 {
		abs = math.MaxInt32
	}
	return int32(abs)
}

// Load returns the value stored under key; a missing or expired key gives
// (nil, false, nil).
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	var it *memcache.Item
	err := s.do(ctx, "load", key, nil, 1, func([]byte) error {
		var err error
		it, err = s.client.Get(key)
		return err
	})
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return it.Value, true, nil
}

// Save stores data under key with flags 0 and the ttl converted by
// Expiration (an upsert: memcached set).
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := s.fits(key, data); err != nil {
		return err
	}
	exp := Expiration(ttl, s.now())
	return s.do(ctx, "save", key, data, 1, func(data []byte) error {
		return s.client.Set(&memcache.Item{Key: key, Value: data, Expiration: exp})
	})
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.do(ctx, "delete", key, nil, 1, func([]byte) error { return s.client.Delete(key) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}

// Touch resets key's expiry with the memcached touch command, without
// resending the value. A missing key is not an error and is not created.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	exp := Expiration(ttl, s.now())
	err := s.do(ctx, "touch", key, nil, 1, func([]byte) error { return s.client.Touch(key, exp) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}

// casVersion is the Record.Version of a load without refresh: the item's
// CAS unique, which SaveIf sends back in a cas command.
type casVersion uint64

// contentVersion is the Record.Version of a load with refresh: the SHA-256
// of the loaded bytes. `gat` returns no CAS unique, so a write checks the
// content instead (gets, compare, then cas with the fresh CAS unique), as
// the redis store's content versions do.
type contentVersion [sha256.Size]byte

// LoadVersion loads key with a version token for SaveIf.
//
// With refresh > 0 it sends `gat <exptime> <key>`: one round trip loads the
// value and resets its expiry (Record.Refreshed), and the version is the
// SHA-256 of the value. With refresh 0 it sends `gets <key>` and the version
// is the CAS unique. See docs/backends/memcached.md for why reads use gat
// rather than the meta protocol.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	var it *memcache.Item
	var exp int32
	if refresh > 0 {
		exp = Expiration(refresh, s.now())
	}
	err := s.do(ctx, "load", key, nil, 1, func([]byte) error {
		var err error
		if refresh > 0 {
			it, err = s.client.GetAndTouch(key, exp)
		} else {
			it, err = s.client.Get(key)
		}
		return err
	})
	if errors.Is(err, memcache.ErrCacheMiss) {
		return backends.Record{}, nil
	}
	if err != nil {
		return backends.Record{}, err
	}
	if refresh > 0 {
		return backends.Record{Data: it.Value, Found: true, Version: contentVersion(sha256.Sum256(it.Value)), Refreshed: true}, nil
	}
	return backends.Record{Data: it.Value, Found: true, Version: casVersion(it.CasID)}, nil
}

// errChanged reports that the item no longer holds the loaded content.
var errChanged = errors.New("content changed")

// SaveIf writes data only if key still holds version, or, when version is
// nil, only if the key is absent or expired (add). A CAS-unique version
// (from a load without refresh) is one cas command. A content version (from
// a load with refresh) is gets, a comparison of the current bytes with the
// loaded ones, then cas with the CAS unique just read: two round trips, and
// a change made between them still fails the cas. A failed condition gives
// an error wrapping backends.ErrConflict and writes nothing.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, ver any, ttl time.Duration) error {
	switch ver.(type) {
	case nil, casVersion, contentVersion:
	default:
		return fmt.Errorf("ginsession: memcached: save: version of type %T did not come from this store", ver)
	}
	if err := s.fits(key, data); err != nil {
		return err
	}
	exp := Expiration(ttl, s.now())
	trips := 1
	if _, ok := ver.(contentVersion); ok {
		trips = 2
	}
	err := s.do(ctx, "save", key, data, trips, func(data []byte) error {
		it := &memcache.Item{Key: key, Value: data, Expiration: exp}
		switch v := ver.(type) {
		case nil:
			return s.client.Add(it)
		case casVersion:
			it.CasID = uint64(v)
		case contentVersion:
			cur, err := s.client.Get(key)
			if err != nil {
				return err
			}
			if sha256.Sum256(cur.Value) != v {
				return errChanged
			}
			it.CasID = cur.CasID
		}
		return s.client.CompareAndSwap(it)
	})
	switch {
	case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, errChanged):
		// NOT_STORED (add on a present key), EXISTS (cas on a changed
		// item), NOT_FOUND (cas on a deleted or expired item, or a gets
		// that found nothing), or content that differs from the load.
		return fmt.Errorf("ginsession: memcached: save: %w", backends.ErrConflict)
	}
	return err
}

// Close marks the store closed; later calls fail with backends.ErrClosed.
// It closes the client's idle connections only when the store built the
// client (Open or the factory). Calling it again is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("ginsession: memcached: close: %w", err)
	}
	return nil
}

// CheckKey reports whether memcached can take key: 1 to 250 bytes of
// printable ASCII without spaces. The error wraps ErrInvalidKey and does
// not repeat the key (it holds a session id).
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: %d bytes long; memcached allows at most %d", ErrInvalidKey, len(key), MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: byte %d is %#02x; memcached keys are printable ASCII without spaces", ErrInvalidKey, i, c)
		}
	}
	return nil
}

// fits refuses, before anything is sent, a value the servers could not
// hold: memcached would answer a too-large set by deleting the old item.
func (s *Store) fits(key string, data []byte) error {
	if s.maxItem > 0 && len(key)+len(data)+itemOverhead > s.maxItem {
		return fmt.Errorf("ginsession: memcached: save: value of %d bytes does not fit memcached's item size of %d bytes (key %d bytes, overhead %d): %w",
			len(data), s.maxItem, len(key), itemOverhead, backends.ErrTooLarge)
	}
	return nil
}

// do runs call, which makes trips client calls, for op on key: it refuses
// closed stores, invalid keys and done contexts first, and maps errors. When
// ctx's deadline is closer than the client's worst case (a connect plus one
// I/O timeout per call) the
// call runs in a goroutine so that do returns when ctx is done; data is
// then copied, because the abandoned call may still be writing it after
// do returned.
func (s *Store) do(ctx context.Context, op, key string, data []byte, trips int, call func(data []byte) error) error {
	if s.closed.Load() {
		return fmt.Errorf("ginsession: memcached: %s: %w", op, backends.ErrClosed)
	}
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("ginsession: memcached: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: memcached: %s: %w", op, context.Cause(ctx))
	}
	if s.setup != nil {
		if err := s.setup.Do(ctx); err != nil {
			return errs.Prefixed("ginsession: memcached: "+op, err)
		}
	}
	var err error
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*time.Duration(trips)*s.timeout {
		if data != nil {
			data = append([]byte(nil), data...)
		}
		done := make(chan error, 1)
		go func() { done <- call(data) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			return fmt.Errorf("ginsession: memcached: %s: %w", op, context.Cause(ctx))
		}
	} else {
		err = call(data)
	}
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "object too large"):
		// The server's item size is smaller than MaxItemSize; for a set,
		// memcached has deleted the previous item.
		s.log.Warn("ginsession: memcached refused a value as too large; set memcachedstore.Options.MaxItemSize to the server's -I size",
			"op", op, "bytes", len(data), "max_item_size", s.maxItem)
		return fmt.Errorf("ginsession: memcached: %s: %w (%v)", op, backends.ErrTooLarge, err)
	}
	// Callers look for memcache.ErrCacheMiss, ErrNotStored and
	// ErrCASConflict with errors.Is.
	return fmt.Errorf("ginsession: memcached: %s: %w", op, err)
}
