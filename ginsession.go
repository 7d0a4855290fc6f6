// Package ginsession gives Gin handlers server-side sessions the way
// Flask-Session gives them to Flask: one middleware, one Options struct, and
// a type string (SESSION_TYPE) that picks where sessions live — redis,
// memcached, filesystem, mongodb, sqlalchemy (GORM), memory or null.
//
// Sessions are stored in Flask-Session 0.8's byte format under the same keys,
// so a Flask service and a Gin service pointed at one store share logged-in
// users, and OptionsFromEnv reads Flask's own configuration names, so a Flask
// app's .env configures the Gin app unchanged.
//
// The request lifecycle:
//
//   - Lazy: nothing touches the store until the handler first uses the
//     session. A route that never calls Default(c)'s methods costs nothing.
//   - Strict ids: a missing, malformed, badly signed or unknown session id
//     gives a fresh id; a client never chooses its id. Malformed and badly
//     signed cookies are rejected without a store call.
//   - One write per change: changes are tracked (including maps and slices
//     from Get mutated in place); an unchanged session is not rewritten, only
//     its expiry refreshed (SESSION_REFRESH_EACH_REQUEST).
//   - No lost updates: with a store that supports compare-and-swap, a write
//     that raced with another request on the same session reloads, reapplies
//     only this request's changes and retries.
//   - The commit happens just before the first byte of the response (the
//     middleware wraps c.Writer), or after the handler if it wrote nothing;
//     a store failure reaches Options.ErrorHandler (default 503) while the
//     response can still be replaced.
package ginsession

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
	"github.com/ginsession/ginsession/internal/wire"
)

// contextKey is the gin.Context key under which the Session is kept.
const contextKey = "github.com/ginsession/ginsession"

// ErrTooLarge is reported (through the ErrorHandler) when an encoded session
// exceeds Options.MaxSize or the store's own limit. Nothing is written and
// the previous value stays intact.
var ErrTooLarge = backends.ErrTooLarge

// ErrConflict is reported when a write kept losing compare-and-swap races
// for Options.MaxRetries attempts.
var ErrConflict = backends.ErrConflict

// Register makes a store available under a SESSION_TYPE name; see
// backends.Register.
func Register(name string, factory backends.Factory) { backends.Register(name, factory) }

// Middleware is the session middleware built from Options. Most programs
// only need New; NewMiddleware also gives access to the store and Close.
type Middleware struct {
	opts      Options
	store     backends.Store
	cas       backends.CompareAndSwapper
	toucher   backends.Toucher
	cleaner   backends.Cleaner
	ownsStore bool
	format    wire.Format
	signer    *cookie.Signer
	sealer    *seal.Sealer // encryption at rest; nil when off
	log       *slog.Logger
	errorHF   func(c *gin.Context, err error)
	now       func() time.Time

	qmu    sync.Mutex
	queues map[string]*commitQueue // sessions being written, by key
	moves  map[string]*move        // keys retired by Regenerate, by old key (under qmu)
	movesN atomic.Int32            // len(moves), read without the lock

	cleaning atomic.Bool
	bg       sync.WaitGroup
	closed   atomic.Bool
}

// New returns the session middleware for opts. It panics if opts are
// invalid or the store cannot be opened, like regexp.MustCompile: use
// NewMiddleware to handle the error.
func New(opts Options) gin.HandlerFunc {
	m, err := NewMiddleware(opts)
	if err != nil {
		panic(err)
	}
	return m.Handler()
}

// NewMiddleware validates opts, opens the store (unless opts.Store is set)
// and returns the middleware.
func NewMiddleware(opts Options) (*Middleware, error) {
	o := opts.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	format, err := wire.ParseFormat(o.SerializationFormat)
	if err != nil {
		return nil, err
	}
	m := &Middleware{opts: o, format: format, log: o.Logger, now: time.Now, queues: map[string]*commitQueue{}}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.errorHF = o.ErrorHandler
	if m.errorHF == nil {
		m.errorHF = m.defaultErrorHandler
	}
	if o.UseSigner {
		m.signer = cookie.NewSigner(o.SecretKey, o.SecretKeyFallbacks)
	}
	if len(o.EncryptionKey) > 0 {
		if m.sealer, err = seal.New(o.EncryptionKey, o.EncryptionKeyFallbacks); err != nil {
			return nil, fmt.Errorf("ginsession: SESSION_ENCRYPTION_KEY: %w", err)
		}
	}
	m.store = o.Store
	if m.store == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg := o.backendConfig()
		cfg.Logger = m.log
		m.store, err = backends.Open(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("ginsession: open %s store: %w", o.Type, err)
		}
		m.ownsStore = true
	}
	m.cas, _ = m.store.(backends.CompareAndSwapper)
	m.toucher, _ = m.store.(backends.Toucher)
	m.cleaner, _ = m.store.(backends.Cleaner)
	return m, nil
}

// Store returns the store sessions are kept in.
func (m *Middleware) Store() backends.Store { return m.store }

// Options returns the options in force, defaults filled in.
func (m *Middleware) Options() Options { return m.opts }

// Close waits for background cleanups and closes the store if the
// middleware opened it.
func (m *Middleware) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.bg.Wait()
	if c, ok := m.store.(io.Closer); ok && m.ownsStore {
		return c.Close()
	}
	return nil
}

// Handler returns the gin middleware.
func (m *Middleware) Handler() gin.HandlerFunc { return m.handle }

// Default returns the request's session. It panics if the middleware is not
// installed on the route.
func Default(c *gin.Context) *Session {
	if v, ok := c.Get(contextKey); ok {
		if s, ok := v.(*Session); ok {
			return s
		}
	}
	panic("ginsession: Default called on a route without the middleware: add r.Use(ginsession.New(opts))")
}

var sessionPool = sync.Pool{New: func() any { return new(Session) }}

func (m *Middleware) handle(c *gin.Context) {
	s := sessionPool.Get().(*Session)
	defer s.release()
	s.m, s.c = m, c
	s.w.ResponseWriter = c.Writer
	s.w.s = s
	c.Writer = &s.w
	c.Set(contextKey, s)

	if m.cleaner != nil && m.opts.CleanupNRequests > 0 && rand.IntN(m.opts.CleanupNRequests+1) == 0 {
		m.startCleanup()
	}

	c.Next()

	c.Writer = s.w.ResponseWriter
	s.mu.Lock()
	if s.answered || (s.committed && !s.lateChange) {
		s.mu.Unlock()
		return
	}
	late := s.committed
	err := m.commit(s, false)
	s.mu.Unlock()
	if err == nil {
		return
	}
	if late || s.w.ResponseWriter.Written() {
		m.log.Error("ginsession: session changed after the response was sent and could not be saved; call Save() before writing the body",
			"sid", logSID(s.sid), "err", err)
		return
	}
	s.fail(err)
}

// fail hands the response to the ErrorHandler.
func (s *Session) fail(err error) {
	s.answering = true
	s.m.errorHF(s.c, err)
	s.answering = false
	s.answered = true
	s.c.Abort()
}

func (m *Middleware) defaultErrorHandler(c *gin.Context, err error) {
	m.log.Error("ginsession: session store failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	c.Header("Retry-After", "1")
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", unavailableBody)
}

var unavailableBody = []byte("503 Service Unavailable: the session store is not answering; try again shortly.\n")

// logSID shortens a sid for logs so that logs never carry a usable id.
func logSID(sid string) string {
	if len(sid) > 8 {
		return sid[:8] + "…"
	}
	return sid
}

// key returns the store key of a sid.
func (m *Middleware) key(sid string) string { return m.opts.KeyPrefix + sid }

func (m *Middleware) storeCtx(s *Session, commit bool) (context.Context, context.CancelFunc) {
	ctx := s.c.Request.Context()
	if commit {
		// A client that goes away must not cancel a write half-way.
		ctx = context.WithoutCancel(ctx)
	}
	return context.WithTimeout(ctx, m.opts.StoreTimeout)
}

// load reads the session named by the request's cookie. The caller holds s.mu.
func (m *Middleware) load(s *Session) {
	sid, ok := m.cookieSID(s.c.Request)
	if ok {
		key := m.key(sid)
		ctx, cancel := m.storeCtx(s, false)
		var (
			data  []byte
			found bool
			err   error
		)
		if m.cas != nil {
			var rec backends.Record
			rec, err = m.cas.LoadVersion(ctx, key, m.loadRefresh())
			data, found, s.version, s.fresh = rec.Data, rec.Found, rec.Version, rec.Refreshed
		} else {
			data, found, err = m.store.Load(ctx, key)
		}
		cancel()
		if err != nil {
			s.err = fmt.Errorf("ginsession: load session: %w", err)
			s.version, s.fresh = nil, false
			return
		}
		if found {
			// The pooled session's slice is free: decode into it.
			entries, old, derr := m.decodeStored(s.entries, key, data)
			if derr == nil && m.opts.AbsoluteLifetime > 0 && m.pastDeadline(s, sid, key, entries) {
				derr = errNoSession // deleted; a fresh session follows
			}
			if derr == nil {
				s.sid, s.key, s.entries = sid, key, entries
				if m.toucher == nil {
					s.raw = data
				}
				m.afterLoad(s)
				if old {
					// Encrypted with a fallback key: rewrite it with the
					// current one (key rotation on read).
					s.modified = true
				}
				return
			}
			if !errors.Is(derr, errNoSession) {
				m.log.Warn("ginsession: stored session cannot be decoded; starting a new session", "sid", logSID(sid), "err", derr)
			}
		}
		s.version, s.fresh = nil, false
	}
	s.isNew = true
	s.sid, s.key = cookie.NewID(m.opts.IDLength), ""
	if !m.opts.NonPermanent {
		s.entries = append(s.entries[:0], wire.NewEntry(permanentKey, true))
	}
}

// cookieSID extracts and checks the sid from the request's cookie.
func (m *Middleware) cookieSID(r *http.Request) (string, bool) {
	v, ok := cookie.Read(r, m.opts.CookieName)
	if !ok || len(v) == 0 || len(v) > 512 {
		return "", false
	}
	if m.signer != nil {
		if v, ok = m.signer.Unsign(v); !ok {
			return "", false
		}
	}
	if !cookie.ValidID(v, m.opts.IDLength) {
		return "", false
	}
	return v, true
}

// commit writes the session's changes and sets the cookie. The caller holds
// s.mu. explicit is true for Session.Save.
func (m *Middleware) commit(s *Session, explicit bool) error {
	if s.committed && !s.lateChange {
		return nil
	}
	err := m.commitOnce(s)
	if err != nil && explicit && s.err == nil {
		// Save reported it; the commit stays pending and is retried at the
		// end of the request, where a failure reaches the ErrorHandler.
		s.committed = false
	}
	return err
}

func (m *Middleware) commitOnce(s *Session) error {
	late := s.w.ResponseWriter.Written() // headers are gone: no cookie can be set
	s.committed, s.lateChange = true, false
	if !s.loaded {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	s.detectInPlace()
	if !late {
		cookie.AddVary(s.w.Header())
	}
	if s.empty() {
		if !s.modified {
			return nil
		}
		ctx, cancel := m.storeCtx(s, true)
		defer cancel()
		var err error
		if !s.isNew {
			err = m.store.Delete(ctx, s.storeKey())
		}
		if err == nil && s.oldKey != "" {
			err = m.store.Delete(ctx, s.oldKey)
			s.oldKey = ""
		}
		if err != nil {
			return fmt.Errorf("ginsession: delete session: %w", err)
		}
		// Flask-Session expires the cookie even if the client had none.
		if !late {
			m.setCookie(s.w.Header(), s, true)
		}
		s.modified, s.changes, s.isNew = false, s.changes[:0], true
		return nil
	}

	m.stampCreated(s)
	ttl := m.sessionTTL(s)
	setCookie := false
	if s.modified {
		if late && s.isNew {
			return errors.New("ginsession: the session id changed after the response headers were sent, so its cookie cannot be delivered")
		}
		if err := m.write(s, ttl); err != nil {
			return err
		}
		if s.dropped {
			if !late {
				m.setCookie(s.w.Header(), s, true)
			}
			return nil
		}
		setCookie = true
	} else if m.refreshes() && !s.fresh && !s.isNew {
		key := s.storeKey()
		ctx, cancel := m.storeCtx(s, true)
		defer cancel()
		var err error
		if m.toucher != nil {
			err = m.toucher.Touch(ctx, key, ttl)
		} else {
			err = m.store.Save(ctx, key, s.raw, ttl)
		}
		if err != nil {
			return fmt.Errorf("ginsession: refresh session expiry: %w", err)
		}
	}
	// No cookie for an id a concurrent Regenerate retired: re-sending it
	// could undo the browser's switch to the new id.
	if !late && !s.empty() && (setCookie || (!m.opts.NoRefreshEachRequest && s.permanentLocked())) && !(m.movesN.Load() > 0 && m.retired(s.storeKey())) {
		m.setCookie(s.w.Header(), s, false)
	}
	return nil
}

func (s *Session) permanentLocked() bool {
	if i := s.index(permanentKey); i >= 0 {
		b, _ := valueOf(&s.entries[i]).(bool)
		return b
	}
	return false
}

// encode encodes the session and enforces MaxSize.
func (m *Middleware) encode(s *Session) ([]byte, error) {
	return m.encodeEntries(s.storeKey(), s.entries)
}

// encodeEntries returns the value to store under key: the encoding of
// entries, encrypted when encryption is on. MaxSize applies to that value.
func (m *Middleware) encodeEntries(key string, entries []entry) ([]byte, error) {
	data, err := m.format.Encode(nil, entries)
	if err != nil {
		return nil, fmt.Errorf("ginsession: encode session: %w", err)
	}
	if m.sealer != nil {
		data = m.sealer.Seal(key, data)
	}
	if len(data) > m.opts.MaxSize {
		return nil, fmt.Errorf("ginsession: encoded session is %d bytes, over SESSION_MAX_SIZE=%d: %w", len(data), m.opts.MaxSize, ErrTooLarge)
	}
	return data, nil
}

// decodeStored decrypts (when encryption is on) and decodes a value loaded
// from key into dst[:0]. old reports a value encrypted with a fallback key, which the
// caller rewrites with the current key. A value that does not decrypt
// fails like one that does not decode.
func (m *Middleware) decodeStored(dst []entry, key string, data []byte) (entries []entry, old bool, err error) {
	if n := m.decodeLimits().MaxInput; len(data) > n {
		return nil, false, fmt.Errorf("ginsession: %w: %d bytes, over twice SESSION_MAX_SIZE", wire.ErrTooLarge, len(data))
	}
	if m.sealer != nil {
		if data, old, err = m.sealer.Open(key, data); err != nil {
			return nil, false, err
		}
	}
	entries, _, err = wire.DecodeAny(m.format, dst, data, m.decodeLimits())
	return entries, old, err
}

// decodeLimits bounds the decoding of stored values: a value longer than
// twice MaxSize is not decoded (we never write one over MaxSize; the margin
// admits a session Flask wrote in the other format, or a little over the
// limit, for reading). See docs/wire-format.md.
func (m *Middleware) decodeLimits() wire.Limits {
	return wire.Limits{MaxInput: 2 * m.opts.MaxSize}
}

// write stores a modified session: a create for a new id, else a
// compare-and-swap loop where the store supports it.
func (m *Middleware) write(s *Session, ttl time.Duration) error {
	data, err := m.encode(s)
	if err != nil {
		return err
	}
	key := s.storeKey()
	if m.cas != nil && !s.isNew {
		// The commit queue gives the batch's leader its own deadline.
		err = m.swap(s, key, data, ttl)
	} else {
		ctx, cancel := m.storeCtx(s, true)
		if m.cas == nil {
			err = m.store.Save(ctx, key, data, ttl)
		} else {
			err = m.cas.SaveIf(ctx, key, data, nil, ttl)
		}
		cancel()
	}
	if err != nil {
		return fmt.Errorf("ginsession: save session: %w", err)
	}
	if s.oldKey != "" {
		ctx, cancel := m.storeCtx(s, true)
		defer cancel()
		if err := m.retire(ctx, s, key, ttl); err != nil {
			return fmt.Errorf("ginsession: delete the session's previous id: %w", err)
		}
		s.oldKey, s.oldVersion = "", nil
	}
	s.isNew, s.regenerated, s.modified = false, false, false
	s.changes = s.changes[:0]
	return nil
}

// pendingCommit is one request's write waiting in a session's commit queue.
type pendingCommit struct {
	s    *Session
	err  error
	turn chan bool // true: lead the next batch; false: done, err is set
}

// commitQueue serialises, and batches, the writes of one session within the
// process: while one request writes, the others queue, and the next leader
// applies all their changes in one write.
type commitQueue struct {
	queue   []*pendingCommit
	spare   []*pendingCommit // the previous batch's array, reused
	running bool
}

// swap writes the session's changes with compare-and-swap. Concurrent
// commits of one session in this process are combined: one request leads a
// batch, writes every queued request's changes at once and reports to the
// others; the next batch is led by the first request that queued behind it.
// Across processes, conflicts are resolved by reloading and reapplying.
func (m *Middleware) swap(s *Session, key string, data []byte, ttl time.Duration) error {
	p := &s.pending
	*p = pendingCommit{s: s}
	m.qmu.Lock()
	q := m.queues[key]
	if q == nil {
		q = queuePool.Get().(*commitQueue)
		m.queues[key] = q
	}
	q.queue = append(q.queue, p)
	lead := !q.running
	if !lead {
		p.turn = make(chan bool, 1) // only a request that waits needs one
	}
	q.running = true
	m.qmu.Unlock()
	if !lead && !<-p.turn {
		return p.err
	}
	m.qmu.Lock()
	batch := q.queue
	q.queue = q.spare[:0]
	q.spare = batch
	m.qmu.Unlock()

	ctx, cancel := m.storeCtx(s, true)
	err := m.writeBatch(ctx, key, batch, data, ttl)
	cancel()
	for _, b := range batch {
		b.err = err
		if b != p {
			b.turn <- false
		}
	}
	m.qmu.Lock()
	if len(q.queue) > 0 {
		q.queue[0].turn <- true
	} else {
		q.running = false
		delete(m.queues, key)
		queuePool.Put(q)
	}
	m.qmu.Unlock()
	return err
}

var queuePool = sync.Pool{New: func() any { return new(commitQueue) }}

// writeBatch stores the changes of every session in batch, in order. The
// first session's own encoding (data) and version are tried first, which is
// the whole job in the common case of a batch of one.
func (m *Middleware) writeBatch(ctx context.Context, key string, batch []*pendingCommit, data []byte, ttl time.Duration) error {
	first := batch[0].s
	version := first.version
	forwarded := data == nil // carried over from a regenerated id: reload first
	if len(batch) > 1 && !forwarded {
		merged := &Session{entries: first.entries}
		for _, p := range batch[1:] {
			merged.apply(p.s.changes)
		}
		var err error
		if data, err = m.encodeEntries(key, merged.entries); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if !forwarded || attempt > 0 {
			err := m.cas.SaveIf(ctx, key, data, version, ttl)
			if err == nil || !errors.Is(err, backends.ErrConflict) {
				return err
			}
			if attempt >= m.opts.MaxRetries {
				return fmt.Errorf("gave up after %d attempts: %w", attempt+1, err)
			}
			if attempt > 0 {
				backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		rec, err := m.cas.LoadVersion(ctx, key, 0)
		if err != nil {
			return err
		}
		var entries []entry
		var derr error
		if rec.Found {
			entries, _, derr = m.decodeStored(nil, key, rec.Data)
		}
		if !rec.Found || errors.Is(derr, errNoSession) {
			if to, ok := m.movedTo(ctx, key); ok {
				// A request of this process regenerated the session after
				// these requests loaded it: carry their changes to the new
				// id (see regenerate.go).
				return m.writeBatch(ctx, to, batch, nil, ttl)
			}
			// Another request destroyed the session (logout): do not
			// resurrect it. These changes are dropped, loudly.
			m.log.Warn("ginsession: session was deleted by a concurrent request; changes of this request are dropped",
				"sid", logSID(first.sid), "requests", len(batch))
			for _, p := range batch {
				p.s.entries = p.s.entries[:0]
				p.s.dropped = true
			}
			return nil
		}
		if derr != nil {
			m.log.Warn("ginsession: stored session cannot be decoded; overwriting it", "sid", logSID(first.sid), "err", derr)
		}
		merged := &Session{entries: entries}
		for _, p := range batch {
			merged.apply(p.s.changes)
		}
		version = rec.Version
		if data, err = m.encodeEntries(key, merged.entries); err != nil {
			return err
		}
	}
}

// setCookie adds the Set-Cookie header, with attributes in Werkzeug's order.
// A deletion cookie keeps every attribute the cookie was set with (Flask
// drops Secure, HttpOnly and SameSite; browsers may then refuse the
// deletion of a SameSite=None or Partitioned cookie).
func (m *Middleware) setCookie(h http.Header, s *Session, deletion bool) {
	o := &m.opts
	var buf [256]byte
	b := buf[:0]
	b = append(b, o.CookieName...)
	b = append(b, '=')
	if !deletion {
		if m.signer != nil {
			b = append(b, m.signer.Sign(s.sid)...)
		} else {
			b = append(b, s.sid...)
		}
	}
	if o.CookieDomain != "" {
		b = append(b, "; Domain="...)
		b = append(b, o.CookieDomain...)
	}
	if deletion {
		b = append(b, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"...)
	} else if s.permanentLocked() {
		b = append(b, "; Expires="...)
		b = m.cookieExpires(s).UTC().AppendFormat(b, http.TimeFormat)
	}
	if o.CookieSecure {
		b = append(b, "; Secure"...)
	}
	if !o.CookieNoHTTPOnly {
		b = append(b, "; HttpOnly"...)
	}
	b = append(b, "; Path="...)
	b = append(b, o.CookiePath...)
	switch o.CookieSameSite {
	case http.SameSiteStrictMode:
		b = append(b, "; SameSite=Strict"...)
	case http.SameSiteNoneMode:
		b = append(b, "; SameSite=None"...)
	default:
		b = append(b, "; SameSite=Lax"...)
	}
	if o.CookiePartitioned {
		b = append(b, "; Partitioned"...)
	}
	cookies := h["Set-Cookie"]
	for i := 0; i < len(cookies); i++ { // an earlier Save set it: replace
		if len(cookies[i]) > len(o.CookieName) && cookies[i][len(o.CookieName)] == '=' && strings.HasPrefix(cookies[i], o.CookieName) {
			cookies = append(cookies[:i], cookies[i+1:]...)
			i--
		}
	}
	h["Set-Cookie"] = append(cookies, string(b))
}

// startCleanup removes expired entries in the background, one run at a time.
func (m *Middleware) startCleanup() {
	if m.closed.Load() || !m.cleaning.CompareAndSwap(false, true) {
		return
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		defer m.cleaning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*m.opts.StoreTimeout)
		defer cancel()
		n, err := m.cleaner.Cleanup(ctx)
		if err != nil {
			m.log.Warn("ginsession: cleanup of expired sessions failed", "err", err)
			return
		}
		m.log.Debug("ginsession: removed expired sessions", "count", n)
	}()
}

// respWriter commits the session just before the first byte of the
// response is written.
type respWriter struct {
	gin.ResponseWriter
	s    *Session
	done bool
}

// before commits once; it reports false when the handler's output must be
// discarded because the ErrorHandler answered instead.
func (w *respWriter) before() bool {
	s := w.s
	if s.answering {
		return true
	}
	if s.answered {
		return false
	}
	if w.done {
		return true
	}
	w.done = true
	s.mu.Lock()
	err := s.m.commit(s, false)
	s.mu.Unlock()
	if err != nil {
		s.fail(err)
		return false
	}
	return true
}

// Write implements io.Writer.
func (w *respWriter) Write(b []byte) (int, error) {
	if !w.before() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// WriteString implements io.StringWriter.
func (w *respWriter) WriteString(str string) (int, error) {
	if !w.before() {
		return len(str), nil
	}
	return w.ResponseWriter.WriteString(str)
}

// WriteHeaderNow implements gin.ResponseWriter.
func (w *respWriter) WriteHeaderNow() {
	if w.before() {
		w.ResponseWriter.WriteHeaderNow()
	}
}

// WriteHeader implements http.ResponseWriter. Gin only records the status
// here; the header goes out with the first byte, after the commit.
func (w *respWriter) WriteHeader(code int) {
	if w.s.answered && !w.s.answering {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush implements http.Flusher.
func (w *respWriter) Flush() {
	w.before()
	w.ResponseWriter.Flush()
}

// Hijack implements http.Hijacker, committing the session first.
func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.before() {
		return nil, nil, errors.New("ginsession: the response was already answered by the ErrorHandler")
	}
	return w.ResponseWriter.Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
