package ginsession

// Tests of the engine's invariants (DESIGN.md §7), driven through real Gin
// engines the way Gin users write them: Recovery on either side of the
// middleware, goroutines holding c.Copy(), outer middlewares, Abort,
// redirects, files, streams, Flush, Hijack, and panics everywhere.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
)

// faultStore wraps a memory store (Touch and compare-and-swap included) and
// calls hook, when set, at the start of every method with the method's
// name: a hook can panic, block or fail the call.
type faultStore struct {
	inner *memstore.Store
	hook  atomic.Pointer[func(ctx context.Context, op string) error]
	calls sync.Map // op -> *atomic.Int64
}

func newFaultStore(t *testing.T) *faultStore {
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	return &faultStore{inner: m}
}

func (f *faultStore) setHook(h func(ctx context.Context, op string) error) {
	if h == nil {
		f.hook.Store(nil)
		return
	}
	f.hook.Store(&h)
}

func (f *faultStore) before(ctx context.Context, op string) error {
	c, _ := f.calls.LoadOrStore(op, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	if h := f.hook.Load(); h != nil {
		return (*h)(ctx, op)
	}
	return nil
}

func (f *faultStore) count(op string) int64 {
	if c, ok := f.calls.Load(op); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

func (f *faultStore) Load(ctx context.Context, key string) ([]byte, bool, error) {
	if err := f.before(ctx, "Load"); err != nil {
		return nil, false, err
	}
	return f.inner.Load(ctx, key)
}

func (f *faultStore) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := f.before(ctx, "Save"); err != nil {
		return err
	}
	return f.inner.Save(ctx, key, data, ttl)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	if err := f.before(ctx, "Delete"); err != nil {
		return err
	}
	return f.inner.Delete(ctx, key)
}

func (f *faultStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := f.before(ctx, "Touch"); err != nil {
		return err
	}
	return f.inner.Touch(ctx, key, ttl)
}

func (f *faultStore) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	if err := f.before(ctx, "LoadVersion"); err != nil {
		return backends.Record{}, err
	}
	return f.inner.LoadVersion(ctx, key, refresh)
}

func (f *faultStore) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	if err := f.before(ctx, "SaveIf"); err != nil {
		return err
	}
	return f.inner.SaveIf(ctx, key, data, version, ttl)
}

// hang blocks until the call's deadline, like a store that does not answer.
func hang(ctx context.Context, _ string) error {
	<-ctx.Done()
	return fmt.Errorf("store did not answer: %w", ctx.Err())
}

// recordingHandler keeps every log record's message and attributes.
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }
func (h *recordingHandler) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.msgs, "\n")
}

// liveApp is a real HTTP server (so that a dropped connection is seen as
// one) running a Gin engine with the middleware over a faultStore.
type liveApp struct {
	t     *testing.T
	srv   *httptest.Server
	mw    *Middleware
	store *faultStore
	logs  *recordingHandler
}

// recoveryPlace says where gin.Recovery sits relative to the middleware.
type recoveryPlace int

const (
	recoveryNone   recoveryPlace = iota
	recoveryBefore               // gin.Default(): Recovery runs first
	recoveryAfter                // r.Use(session); r.Use(gin.Recovery())
)

func (p recoveryPlace) String() string {
	return [...]string{"no Recovery", "Recovery before", "Recovery after"}[p]
}

func newLiveApp(t *testing.T, opts Options, place recoveryPlace, routes func(r *gin.Engine)) *liveApp {
	t.Helper()
	fs := newFaultStore(t)
	logs := &recordingHandler{}
	opts.Store = fs
	if opts.Logger == nil {
		opts.Logger = slog.New(logs)
	}
	mw, err := NewMiddleware(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	recovery := gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) })
	if place == recoveryBefore {
		r.Use(recovery)
	}
	r.Use(mw.Handler())
	if place == recoveryAfter {
		r.Use(recovery)
	}
	routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &liveApp{t: t, srv: srv, mw: mw, store: fs, logs: logs}
}

// client returns an HTTP client with its own cookie jar (one browser).
func (a *liveApp) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get sends GET path and returns the status and body; a transport error
// (a dropped connection) is returned as err.
func (a *liveApp) get(c *http.Client, path string) (int, string, error) {
	resp, err := c.Get(a.srv.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (a *liveApp) mustGet(c *http.Client, path string, wantStatus int, wantBody string) {
	a.t.Helper()
	code, body, err := a.get(c, path)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	if code != wantStatus || (wantBody != "" && body != wantBody) {
		a.t.Fatalf("GET %s: %d %q, want %d %q", path, code, body, wantStatus, wantBody)
	}
}

// Invariant 1: a session reached after its request ended (a goroutine with
// c.Copy()) shows that request's data or fails loudly, never another's, and
// never races.
func TestCopyAfterRequestNeverSeesAnotherSession(t *testing.T) {
	type seen struct {
		want, got string
		saveErr   error
	}
	release := make(chan struct{})
	results := make(chan seen, 400)
	var wg sync.WaitGroup
	mw, err := NewMiddleware(Options{Store: newFaultStore(t), Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(func(c *gin.Context) { // an outer middleware: signals the end
		ended := make(chan struct{})
		c.Set("ended", ended)
		c.Next()
		close(ended)
	}, mw.Handler())
	r.GET("/login/:user", func(c *gin.Context) {
		Default(c).Set("user", c.Param("user"))
		c.String(http.StatusOK, "ok")
	})
	r.GET("/who", func(c *gin.Context) {
		u, _ := Default(c).GetString("user")
		c.String(http.StatusOK, u)
	})
	r.GET("/late", func(c *gin.Context) {
		want, _ := Default(c).GetString("user")
		cp := c.Copy()
		ended := c.MustGet("ended").(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ended   // this request's session middleware has returned
			<-release // and other requests reuse Gin's contexts meanwhile
			s := Default(cp)
			got, _ := s.GetString("user")
			s.Set("user", "mallory") // refused: the request is over
			results <- seen{want: want, got: got, saveErr: s.Save()}
		}()
		c.String(http.StatusOK, want)
	})
	a := &testApp{t: t, engine: r, mw: mw}
	users := make([]string, 8)
	cookies := make([]string, 8)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
		cookies[i] = cookieOf(a.do("GET", "/login/"+users[i], ""), "session")
	}
	run := func() {
		var reqs sync.WaitGroup
		for range 10 {
			for i := range users {
				reqs.Add(1)
				go func() {
					defer reqs.Done()
					if body := a.do("GET", "/late", cookies[i]).Body.String(); body != users[i] {
						t.Errorf("%s's request read %q", users[i], body)
					}
				}()
			}
		}
		reqs.Wait()
	}
	run()          // 80 goroutines now hold sessions of ended requests
	close(release) // they read while 80 more requests run
	run()
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		n++
		if r.got != r.want {
			t.Errorf("a c.Copy() read %q after its request ended; its request was %q's", r.got, r.want)
		}
		if !errors.Is(r.saveErr, ErrEnded) {
			t.Errorf("Save after the request ended = %v, want ErrEnded", r.saveErr)
		}
	}
	if n != 160 {
		t.Fatalf("%d goroutines reported, want 160", n)
	}
	for i := range users {
		if body := a.do("GET", "/who", cookies[i]).Body.String(); body != users[i] {
			t.Fatalf("a change made after the request ended was saved: %q", body)
		}
	}
}
