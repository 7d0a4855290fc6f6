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
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/engine"
	"github.com/ginsession/ginsession/internal/errs"
	"github.com/ginsession/ginsession/internal/health"
	"github.com/ginsession/ginsession/internal/seal"
	"github.com/ginsession/ginsession/internal/wire"
)

// sessionKey is the request context key under which the Session is kept.
type sessionKey struct{}

// sessionCtx is the request's context with its Session added; it is part of
// the Session, so that adding it costs no allocation of its own.
type sessionCtx struct {
	context.Context
	s *Session
}

// Value returns the Session for sessionKey and asks the parent otherwise.
func (c *sessionCtx) Value(key any) any {
	if key == (sessionKey{}) {
		return c.s
	}
	return c.Context.Value(key)
}

// Register makes a store available under a SESSION_TYPE name; see
// backends.Register.
func Register(name string, factory backends.Factory) { backends.Register(name, factory) }

// Middleware is the session middleware built from Options. Most programs
// only need New; NewMiddleware also gives access to the store and Close.
type Middleware struct {
	opts      Options
	store     backends.Store
	cleaner   backends.Cleaner
	ownsStore bool
	engine    *engine.Engine
	signer    *cookie.Signer
	log       *slog.Logger
	errorHF   func(c *gin.Context, err error)
	now       func() time.Time // the clock of lifetimes; tests set it

	cleaning atomic.Bool
	bg       sync.WaitGroup
	closed   atomic.Bool

	health *health.Tracker // counts store calls, logs outages (stats.go)
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
		return nil, fmt.Errorf("ginsession: SESSION_SERIALIZATION_FORMAT: %w", err)
	}
	m := &Middleware{opts: o, log: o.Logger, now: time.Now}
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
	var sealer *seal.Sealer
	if len(o.EncryptionKey) > 0 {
		if sealer, err = seal.New(o.EncryptionKey, o.EncryptionKeyFallbacks); err != nil {
			return nil, fmt.Errorf("ginsession: SESSION_ENCRYPTION_KEY: %w", err)
		}
	}
	m.store = o.Store
	if m.store == nil {
		ctx, cancel := context.WithTimeout(context.Background(), o.OpenTimeout)
		defer cancel()
		cfg := o.backendConfig()
		cfg.Logger = m.log
		m.store, err = backends.Open(ctx, cfg)
		if err != nil {
			return nil, errs.Wrap("open the "+o.Type+" store", err)
		}
		m.ownsStore = true
	}
	m.cleaner, _ = m.store.(backends.Cleaner)
	m.engine = engine.New(engine.Config{
		Store:     m.instrument(),
		Format:    format,
		Signer:    m.signer,
		Sealer:    sealer,
		KeyPrefix: o.KeyPrefix,
		IDLength:  o.IDLength,
		Cookie: cookie.Spec{
			Name: o.CookieName, Domain: o.CookieDomain, Path: o.CookiePath,
			HTTPOnly: !o.CookieNoHTTPOnly, Secure: o.CookieSecure,
			SameSite: o.CookieSameSite, Partitioned: o.CookiePartitioned,
		},
		Permanent:  !o.NonPermanent,
		Lifetime:   o.Lifetime,
		Refresh:    !o.NoRefreshEachRequest,
		Idle:       o.IdleTimeout,
		Absolute:   o.AbsoluteLifetime,
		Timeout:    o.StoreTimeout,
		MaxSize:    o.MaxSize,
		MaxRetries: o.MaxRetries,
		Logger:     m.log,
		Now:        func() time.Time { return m.now() },
	})
	return m, nil
}

// Store returns the store sessions are kept in.
func (m *Middleware) Store() backends.Store { return m.store }

// Options returns the options in force, defaults filled in.
func (m *Middleware) Options() Options { return m.opts }

// Close waits for background work (cleanups, retried removals of
// regenerated ids) and closes the store if the middleware opened it.
func (m *Middleware) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.bg.Wait()
	m.engine.Close()
	if c, ok := m.store.(io.Closer); ok && m.ownsStore {
		return c.Close()
	}
	return nil
}

// Handler returns the gin middleware.
func (m *Middleware) Handler() gin.HandlerFunc { return m.handle }

// Default returns the request's session. It panics if the middleware is not
// installed on the route.
//
// The session is found through c.Writer while the handlers run, and through
// the context of c.Request otherwise: the middleware gives the request a
// context carrying it, so that a c.Copy() (which keeps c.Request) and an
// outer middleware after c.Next() find it too.
func Default(c *gin.Context) *Session {
	if w, ok := c.Writer.(*respWriter); ok {
		return w.s
	}
	if c.Request != nil {
		if s, ok := c.Request.Context().Value(sessionKey{}).(*Session); ok {
			return s
		}
	}
	panic("ginsession: Default called on a route without the middleware: add r.Use(ginsession.New(opts))")
}

// key returns the store key of a sid.
func (m *Middleware) key(sid string) string { return m.opts.KeyPrefix + sid }

// handle runs one request. The Session is allocated for this request alone
// (never pooled): a goroutine that keeps it, or a c.Copy() of the context,
// sees this request's data or ErrEnded, never another request's. The
// deferred function restores c.Writer and ends the session whether the
// handlers return or panic, so Recovery middleware before this one writes
// its 500 through Gin's own writer.
func (m *Middleware) handle(c *gin.Context) {
	s := &Session{m: m, c: c, http: c.Request, header: c.Writer.Header()}
	s.w = respWriter{ResponseWriter: c.Writer, s: s}
	c.Writer = &s.w
	s.ctx = sessionCtx{Context: c.Request.Context(), s: s}
	c.Request = c.Request.WithContext(&s.ctx)
	defer func() {
		c.Writer = s.w.ResponseWriter
		s.end()
	}()

	if m.cleaner != nil && m.opts.CleanupNRequests > 0 && rand.IntN(m.opts.CleanupNRequests+1) == 0 {
		m.startCleanup()
	}

	c.Next()

	r := s.r.Load()
	if s.resp == respAnswered || r == nil { // answered, or never used: nothing to commit
		return
	}
	err := s.commit(r)
	if err == nil {
		return
	}
	if r.Sent() || s.w.ResponseWriter.Written() {
		m.log.Error("ginsession: session changed after the response was sent and could not be saved; call Save() before writing the body",
			"sid", engine.LogSID(r.ID()), "err", err)
		return
	}
	c.Writer = s.w.ResponseWriter
	s.fail(err)
}

// commit commits what the handler left pending when it returns. A panic
// inside (a store driver's, an encoder's) is the middleware's own: it is
// logged with its stack and answered like any commit failure, with an
// error matching ErrPanicked.
func (s *Session) commit(r *engine.Request) (err error) {
	defer s.recoverCommit(&err)
	return r.Commit()
}

// commitBeforeSend commits just before the first byte; panics as in commit.
func (s *Session) commitBeforeSend(r *engine.Request) (err error) {
	defer s.recoverCommit(&err)
	return r.CommitBeforeSend()
}

func (s *Session) recoverCommit(err *error) {
	if rec := recover(); rec != nil {
		s.m.log.Error("ginsession: panic while saving the session", "panic", rec, "stack", string(debug.Stack()))
		*err = &engine.Error{Kind: ErrPanicked, Op: "save session", Detail: fmt.Sprintf("panic: %v", rec)}
	}
}

// fail hands the response to the ErrorHandler.
func (s *Session) fail(err error) {
	s.m.health.RequestFailed(requestKind(err))
	s.resp = respAnswering
	defer func() { s.resp = respAnswered }()
	s.m.errorHF(s.c, err)
	s.c.Abort()
}

// defaultErrorHandler answers 503 with Retry-After when the store is
// unavailable or a write kept conflicting (retrying helps), and 500 naming
// the cause otherwise (a session too large, a value that cannot be encoded:
// retrying never helps).
func (m *Middleware) defaultErrorHandler(c *gin.Context, err error) {
	c.Header("Cache-Control", "no-store")
	if errors.Is(err, ErrStoreUnavailable) || errors.Is(err, ErrConflict) {
		m.log.Log(c.Request.Context(), failLevel(err), "ginsession: session store failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		c.Header("Retry-After", "1")
		c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", unavailableBody)
		return
	}
	m.log.Error("ginsession: session could not be saved", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("500 Internal Server Error: "+err.Error()+"\n"))
}

var unavailableBody = []byte("503 Service Unavailable: the session store is not answering; try again shortly.\n")

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
			m.log.Warn("ginsession: cleanup of expired sessions failed", "err", cleanMessage(err))
			return
		}
		m.log.Debug("ginsession: removed expired sessions", "count", n)
	}()
}

// respState is where the response of a request is, as the session sees it.
type respState uint8

const (
	respOpen      respState = iota // the handler writes the response
	respAnswering                  // the ErrorHandler is writing it
	respAnswered                   // the ErrorHandler wrote it: the handler's output is discarded
)

// respWriter commits the session just before the first byte of the
// response is written.
type respWriter struct {
	gin.ResponseWriter
	s    *Session
	done bool // the commit before the first byte ran
}

// before commits once; it reports false when the handler's output must be
// discarded because the ErrorHandler answered instead.
func (w *respWriter) before() bool {
	s := w.s
	switch s.resp {
	case respAnswering:
		return true
	case respAnswered:
		return false
	}
	if w.done {
		return true
	}
	w.done = true
	r := s.r.Load()
	if r == nil { // never used: nothing to commit, and no cookie from now on
		s.markSent()
		return true
	}
	if err := s.commitBeforeSend(r); err != nil {
		s.fail(err)
		s.markSent()
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
	if w.s.resp == respAnswered {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush implements http.Flusher.
func (w *respWriter) Flush() {
	if w.before() {
		w.ResponseWriter.Flush()
	}
}

// Hijack implements http.Hijacker, committing the session first; the
// Set-Cookie header is then in c.Writer.Header() for the handler to send
// with its own response (a websocket upgrade passes it to the upgrader).
func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.before() {
		return nil, nil, errors.New("ginsession: the response was already answered by the ErrorHandler")
	}
	return w.ResponseWriter.Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
