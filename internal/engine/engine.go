// Package engine is one request's session, from the cookie to the store and
// back: loading on first use, tracking changes, committing them (with
// compare-and-swap and a per-session queue that batches concurrent writers),
// Regenerate and Destroy, lifetimes, and the Set-Cookie and Vary headers.
//
// It knows nothing of Gin: the root package adapts it to gin.Context and
// gin.ResponseWriter. A [Request] moves through named states:
//
//	idle ──first use──▶ open ──commit──▶ saved ──change──▶ open …
//	  │                  │
//	  └──load failed──▶ failed          any state ──request ended──▶ ended
//	                     a panic inside a store call or an encoder ──▶ broken
//
// Invariants (each one tested through real Gin engines in the root package):
// a Request is never pooled, so a Session reached after its request ended
// shows that request's data or reports ErrEnded, never another request's;
// every lock and queue slot is released by a deferred call, so a panic
// anywhere leaves nothing held; all of a request's waiting for the store
// (queue included) shares one budget of Config.StoreTimeout.
package engine

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
	"github.com/ginsession/ginsession/internal/wire"
)

// Reserved keys. The first two are Flask's.
const (
	PermanentKey = "_permanent"
	FlashesKey   = "_flashes"
	// CreatedKey holds the creation time (Unix seconds) when
	// Config.AbsoluteLifetime is set. Flask ignores it.
	CreatedKey = "_created"
)

// Config is everything the engine needs, defaults already applied by the
// caller (the root package's Options).
type Config struct {
	Store      backends.Store
	Users      backends.UserIndexer // nil: Store's, if it has one (users.go)
	Format     wire.Format
	Signer     *cookie.Signer // nil: the cookie holds the bare sid
	Sealer     *seal.Sealer   // nil: values are stored in clear
	Cookie     cookie.Spec
	KeyPrefix  string
	IDLength   int
	Permanent  bool          // SESSION_PERMANENT
	Lifetime   time.Duration // PERMANENT_SESSION_LIFETIME
	Refresh    bool          // SESSION_REFRESH_EACH_REQUEST
	Idle       time.Duration // SESSION_IDLE_TIMEOUT (0: off)
	Absolute   time.Duration // SESSION_ABSOLUTE_LIFETIME (0: off)
	Timeout    time.Duration // SESSION_STORE_TIMEOUT: one budget per request
	MaxSize    int           // SESSION_MAX_SIZE
	MaxRetries int           // SESSION_MAX_RETRIES
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Engine holds what the requests of one middleware share: the store and its
// capabilities, the per-session commit queues and the ids retired by
// Regenerate. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	store   backends.Store
	cas     backends.CompareAndSwapper
	toucher backends.Toucher
	users   *userIndex // nil: the store keeps no user index (users.go)
	log     *slog.Logger
	now     func() time.Time

	qmu    sync.Mutex
	queues map[string]*queue // sessions being written, by store key
	moves  map[string]*move  // keys retired by Regenerate, by old key
	movesN atomic.Int32      // len(moves), read without the lock

	bg       sync.WaitGroup // background retries
	stop     chan struct{}  // closed by Close
	stopOnce sync.Once
}

// New returns an engine for cfg.
func New(cfg Config) *Engine {
	e := &Engine{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now, queues: map[string]*queue{}, stop: make(chan struct{})}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.cas, _ = cfg.Store.(backends.CompareAndSwapper)
	e.toucher, _ = cfg.Store.(backends.Toucher)
	e.users = newUserIndex(cfg.Store, cfg.Users, cfg.Lifetime)
	return e
}

// Close stops the background retries and waits for them to end.
func (e *Engine) Close() {
	e.stopOnce.Do(func() { close(e.stop) })
	e.bg.Wait()
}

// Key returns the store key of a sid.
func (e *Engine) Key(sid string) string { return e.cfg.KeyPrefix + sid }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// CookieSID extracts and checks the sid from the request's cookie; a
// malformed or badly signed value is rejected without a store call.
func (e *Engine) CookieSID(r *http.Request) (string, bool) {
	v, ok := cookie.Read(r, e.cfg.Cookie.Name)
	if !ok || len(v) == 0 || len(v) > 512 {
		return "", false
	}
	if e.cfg.Signer != nil {
		if v, ok = e.cfg.Signer.Unsign(v); !ok {
			return "", false
		}
	}
	if !cookie.ValidID(v, e.cfg.IDLength) {
		return "", false
	}
	return v, true
}

// cookieValue is what the cookie carries for sid.
func (e *Engine) cookieValue(sid string) string {
	if e.cfg.Signer != nil {
		return e.cfg.Signer.Sign(sid)
	}
	return sid
}

// limits bounds the decoding of a stored value: twice SESSION_MAX_SIZE
// (plus the encryption overhead), so that a value this program could have
// written always decodes and a far larger one is never decoded.
func (e *Engine) limits() wire.Limits {
	return wire.Limits{MaxInput: 2*e.cfg.MaxSize + seal.Overhead}
}

// encode returns the value to store under key: the encoding of entries,
// encrypted when encryption is on, at most MaxSize bytes.
func (e *Engine) encode(key string, entries []wire.Entry) ([]byte, error) {
	bp := scratchBufs.Get().(*[]byte)
	plain, err := e.cfg.Format.Encode((*bp)[:0], entries)
	if err != nil {
		scratchBufs.Put(bp)
		return nil, notEncodable(err)
	}
	var data []byte
	if e.cfg.Sealer != nil {
		data = e.cfg.Sealer.Seal(key, plain)
	} else {
		data = bytes.Clone(plain)
	}
	if cap(plain) <= maxScratch {
		*bp = plain[:0]
		scratchBufs.Put(bp)
	}
	if len(data) > e.cfg.MaxSize {
		return nil, &Error{Kind: ErrTooLarge, Op: "save session", Detail: tooLargeDetail(len(data), e.cfg.MaxSize)}
	}
	return data, nil
}

// scratchBufs hold the buffers sessions are encoded into; the result is
// copied out at its exact size (a store may keep it, as the memory store
// does), so a session costs its size, and its encoding never grows a buffer
// step by step.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxScratch bounds the buffers kept for reuse.
const maxScratch = 64 << 10

// decode decrypts (when encryption is on) and decodes a value loaded from
// key. reseal reports a value encrypted with a fallback key, which the caller
// rewrites with the current key.
func (e *Engine) decode(key string, data []byte) (entries []wire.Entry, reseal bool, err error) {
	lim := e.limits()
	if len(data) > lim.MaxInput {
		return nil, false, &Error{Kind: wire.ErrTooLarge, Op: "decode session", Detail: tooLargeDetail(len(data), lim.MaxInput) + " (twice SESSION_MAX_SIZE)"}
	}
	if e.cfg.Sealer != nil {
		if data, reseal, err = e.cfg.Sealer.Open(key, data); err != nil {
			return nil, false, err
		}
	}
	entries, _, err = wire.DecodeAny(e.cfg.Format, nil, data, lim)
	return entries, reseal, err
}

// tombstone is the value that marks a retired entry until it is deleted:
// the serialization's nil, which both ginsession and Flask-Session read as
// "no session".
func (e *Engine) tombstone(key string) []byte {
	data := []byte{0xc0} // msgpack nil
	if e.cfg.Format == wire.JSON {
		data = []byte("null")
	}
	if e.cfg.Sealer != nil {
		data = e.cfg.Sealer.Seal(key, data)
	}
	return data
}

// refreshes reports whether an unmodified session gets its expiry extended
// when it is used: SESSION_REFRESH_EACH_REQUEST, or any idle timeout (a
// session in use must not time out).
func (e *Engine) refreshes() bool { return e.cfg.Refresh || e.cfg.Idle > 0 }

// baseTTL is the store expiry of a write or refresh before the absolute
// deadline is applied: min(Lifetime, Idle).
func (e *Engine) baseTTL() time.Duration {
	ttl := e.cfg.Lifetime
	if it := e.cfg.Idle; it > 0 && it < ttl {
		ttl = it
	}
	return ttl
}

// loadRefresh is the expiry LoadVersion may set while loading (0: none).
// When the absolute lifetime is shorter than the refresh, a refresh at load
// could reach past a session's deadline, which is not known before the
// session is decoded: the commit then refreshes with the exact expiry.
func (e *Engine) loadRefresh() time.Duration {
	if !e.refreshes() {
		return 0
	}
	ttl := e.baseTTL()
	if a := e.cfg.Absolute; a > 0 && a < ttl {
		return 0
	}
	return ttl
}

// LogSID shortens a sid for logs so that logs never carry a usable id.
func LogSID(sid string) string {
	if len(sid) > 8 {
		return sid[:8] + "…"
	}
	return sid
}

// clean removes the "ginsession: " prefixes an inner error carries, so that
// a message says it once.
func clean(err error) string {
	return strings.ReplaceAll(err.Error(), "ginsession: ", "")
}
