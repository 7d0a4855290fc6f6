package ginsession

// Tests of the engine's invariants (DESIGN.md §7), driven through real Gin
// engines the way Gin users write them: Recovery on either side of the
// middleware, goroutines holding c.Copy(), outer middlewares, Abort,
// redirects, files, streams, Flush, Hijack, and panics everywhere.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/internal/cookie"
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

// newLiveApp starts the app; plain hides the store's Touch and
// compare-and-swap.
func newLiveApp(t *testing.T, opts Options, place recoveryPlace, plain bool, routes func(r *gin.Engine)) *liveApp {
	t.Helper()
	fs := newFaultStore(t)
	logs := &recordingHandler{}
	opts.Store = fs
	if plain {
		opts.Store = plainFaultStore{fs}
	}
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

// panicky is a value whose JSON encoding panics (a user's buggy MarshalJSON).
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("MarshalJSON exploded") }

// plainFaultStore hides Touch and compare-and-swap: the core then uses
// Load, Save and Delete only.
type plainFaultStore struct{ f *faultStore }

func (p plainFaultStore) Load(ctx context.Context, key string) ([]byte, bool, error) {
	return p.f.Load(ctx, key)
}
func (p plainFaultStore) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return p.f.Save(ctx, key, data, ttl)
}
func (p plainFaultStore) Delete(ctx context.Context, key string) error { return p.f.Delete(ctx, key) }

func panicRoutes(r *gin.Engine) {
	r.GET("/get", func(c *gin.Context) {
		v, _ := Default(c).GetString("v")
		c.String(http.StatusOK, v)
	})
	r.GET("/set", func(c *gin.Context) {
		Default(c).Set("v", c.Query("v"))
		c.String(http.StatusOK, "ok")
	})
	r.GET("/seedmap", func(c *gin.Context) {
		Default(c).Set("m", map[string]any{"a": 1})
		c.String(http.StatusOK, "ok")
	})
	r.GET("/clear", func(c *gin.Context) {
		Default(c).Clear()
		c.String(http.StatusOK, "ok")
	})
	r.GET("/panic-before", func(c *gin.Context) {
		Default(c).Set("v", "lost")
		panic("handler exploded")
	})
	r.GET("/panic-after", func(c *gin.Context) {
		Default(c).Set("v", "after")
		c.String(http.StatusOK, "partial")
		c.Writer.Flush()
		panic("handler exploded after the first byte")
	})
	r.GET("/marshal-set", func(c *gin.Context) {
		Default(c).Set("bad", panicky{})
		c.String(http.StatusOK, "unreachable")
	})
	r.GET("/marshal-commit-before", func(c *gin.Context) {
		m, _ := Default(c).Get("m")
		m.(map[string]any)["bad"] = panicky{} // encoded by the commit
		c.String(http.StatusOK, "unreachable body")
	})
	r.GET("/marshal-commit-after", func(c *gin.Context) {
		m, _ := Default(c).Get("m")
		c.String(http.StatusOK, "sent")
		m.(map[string]any)["bad"] = panicky{} // encoded after the handler
	})
}

// Invariants 2 and 4: a panic anywhere leaves no lock held, no queue stuck
// and no writer swapped: the client gets a 500 (or the response already
// under way), never a dropped connection, and the next requests on the
// same session work.
func TestPanicsEverywhereLeaveSessionUsable(t *testing.T) {
	type tcase struct {
		name     string
		path     string
		storeOp  string // a store method that panics during the request
		plain    bool   // a store without Touch and compare-and-swap
		status   int    // of the request that panics
		wantV    string // "v" afterwards
		needsMap bool
		opts     Options
	}
	cases := []tcase{
		// With Recovery before the middleware (gin.Default()) the panic
		// passes through it: the handler's changes are discarded. With
		// Recovery after it, the middleware sees a handler that answered
		// 500, and saves its changes, as Flask saves a session with its
		// error response. Both are documented.
		{name: "handler before first byte", path: "/panic-before", status: 500, wantV: "seed"},
		{name: "handler after first byte", path: "/panic-after", status: 200, wantV: "after"},
		{name: "MarshalJSON in Set", path: "/marshal-set", status: 500, wantV: "seed"},
		{name: "MarshalJSON in the commit before the first byte", path: "/marshal-commit-before", status: 500, wantV: "seed", needsMap: true},
		{name: "MarshalJSON in the commit after the handler", path: "/marshal-commit-after", status: 200, wantV: "seed", needsMap: true},
		{name: "store LoadVersion", path: "/get", storeOp: "LoadVersion", status: 500, wantV: "seed"},
		{name: "store SaveIf", path: "/set?v=new", storeOp: "SaveIf", status: 500, wantV: "seed"},
		// An absolute lifetime shorter than the refresh stops the refresh
		// at load: the commit touches.
		{name: "store Touch", path: "/get", storeOp: "Touch", status: 500, wantV: "seed", opts: Options{AbsoluteLifetime: time.Hour}},
		{name: "store Delete", path: "/clear", storeOp: "Delete", status: 500, wantV: "seed"},
		{name: "plain store Load", path: "/get", storeOp: "Load", plain: true, status: 500, wantV: "seed"},
		{name: "plain store Save", path: "/set?v=new", storeOp: "Save", plain: true, status: 500, wantV: "seed"},
		{name: "plain store Save as refresh", path: "/get", storeOp: "Save", plain: true, status: 500, wantV: "seed"},
		{name: "plain store Delete", path: "/clear", storeOp: "Delete", plain: true, status: 500, wantV: "seed"},
	}
	for _, place := range []recoveryPlace{recoveryBefore, recoveryAfter} {
		for _, tc := range cases {
			t.Run(place.String()+"/"+tc.name, func(t *testing.T) {
				opts := tc.opts
				opts.StoreTimeout = 2 * time.Second
				a := newLiveApp(t, opts, place, tc.plain, panicRoutes)
				wantV := tc.wantV
				if place == recoveryAfter && tc.path == "/panic-before" {
					wantV = "lost"
				}
				c := a.client()
				a.mustGet(c, "/set?v=seed", 200, "ok")
				if tc.needsMap {
					a.mustGet(c, "/seedmap", 200, "ok")
				}
				if tc.storeOp != "" {
					a.store.setHook(func(_ context.Context, op string) error {
						if op == tc.storeOp {
							panic("store " + op + " exploded")
						}
						return nil
					})
				}
				code, _, err := a.get(c, tc.path)
				a.store.setHook(nil)
				if err != nil {
					t.Fatalf("the panicking request lost its connection: %v", err)
				}
				if code != tc.status {
					t.Fatalf("status %d, want %d", code, tc.status)
				}
				// The same session still works, alone and under concurrency.
				a.mustGet(c, "/get", 200, wantV)
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if code, _, err := a.get(c, fmt.Sprintf("/set?v=c%d", i)); err != nil || code != 200 {
							t.Errorf("concurrent request after the panic: %d %v", code, err)
						}
					}()
				}
				wg.Wait()
				if _, v, _ := a.get(c, "/get"); !strings.HasPrefix(v, "c") {
					t.Fatalf("after the concurrent writes v = %q", v)
				}
			})
		}
	}
}

// Invariant 3: one budget per request covers queue waiting, retries and
// store calls. With a store whose writes hang and SESSION_STORE_TIMEOUT=1s,
// every one of many concurrent requests on one session is answered within
// 1 s + 100 ms.
func TestOneDeadlinePerRequest(t *testing.T) {
	a := newLiveApp(t, Options{StoreTimeout: time.Second, Logger: quietLogger}, recoveryBefore, false, panicRoutes)
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.store.setHook(func(ctx context.Context, op string) error {
		if op == "SaveIf" {
			return hang(ctx, op)
		}
		return nil
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, body, err := a.get(c, fmt.Sprintf("/set?v=w%d", i))
			took := time.Since(start)
			if err != nil || code != http.StatusServiceUnavailable {
				t.Errorf("request %d: %d %q %v, want 503", i, code, body, err)
			}
			mu.Lock()
			worst = max(worst, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// The budget is 1s; the margin absorbs scheduling on a loaded 2-core
	// machine (-race, other packages' servers). Before the one-budget
	// engine the queued requests waited 1s each in turn: 2s and more.
	if worst > time.Second+300*time.Millisecond {
		t.Fatalf("a request waited %v for the store, over its 1s budget", worst)
	}
	a.store.setHook(nil)
	a.mustGet(c, "/set?v=after", 200, "ok")
	a.mustGet(c, "/get", 200, "after")
}

// The load and the commit share the budget: a store that answers the load
// slowly leaves the commit only what is left.
func TestLoadAndCommitShareTheBudget(t *testing.T) {
	a := newLiveApp(t, Options{StoreTimeout: time.Second, Logger: quietLogger}, recoveryBefore, false, panicRoutes)
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.store.setHook(func(ctx context.Context, op string) error {
		if op == "LoadVersion" {
			time.Sleep(700 * time.Millisecond)
		}
		if op == "SaveIf" {
			return hang(ctx, op)
		}
		return nil
	})
	start := time.Now()
	code, _, err := a.get(c, "/set?v=x")
	if took := time.Since(start); err != nil || code != http.StatusServiceUnavailable || took > time.Second+300*time.Millisecond {
		t.Fatalf("%d %v after %v; want 503 within the 1s budget (+300ms of scheduling)", code, err, took)
	}
}

// Invariant 4 and DESIGN §8: errors have kinds. A value that cannot be
// encoded and a session over SESSION_MAX_SIZE are 500s naming the cause
// (retrying never helps); a store that is down is a 503 with Retry-After.
func TestErrorKindsAndStatuses(t *testing.T) {
	a := newLiveApp(t, Options{MaxSize: 200}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/chan", func(c *gin.Context) {
			Default(c).Set("ch", make(chan int))
			c.String(http.StatusOK, "ok")
		})
		r.GET("/big", func(c *gin.Context) {
			Default(c).Set("big", strings.Repeat("x", 300))
			c.String(http.StatusOK, "ok")
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	resp, err := c.Get(a.srv.URL + "/chan")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("Retry-After") != "" || !strings.Contains(string(body), `"ch"`) || strings.Contains(string(body), "not answering") {
		t.Fatalf("unencodable value: %d Retry-After=%q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := strings.Count(string(body), "ginsession:"); n != 1 {
		t.Fatalf("the message carries the prefix %d times: %q", n, body)
	}
	resp, _ = c.Get(a.srv.URL + "/big")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("Retry-After") != "" || !strings.Contains(string(body), "over the limit of 200") {
		t.Fatalf("too large: %d %q", resp.StatusCode, body)
	}
	a.mustGet(c, "/get", 200, "seed") // nothing of either was written
	a.store.setHook(func(context.Context, string) error { return errors.New("connection refused") })
	resp, _ = c.Get(a.srv.URL + "/get")
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("store down: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// A handler that calls Save() while the store is down and then writes its
// page gets the 503, not a 200 with an empty (logged-out) session.
func TestSaveWithStoreDownEndsInErrorHandler(t *testing.T) {
	a := newLiveApp(t, Options{Logger: quietLogger}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/save", func(c *gin.Context) {
			s := Default(c)
			s.Set("v", "saved")
			err := s.Save()
			c.String(http.StatusOK, "page; Save said %v", err != nil)
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.store.setHook(func(context.Context, string) error { return errors.New("connection refused") })
	code, body, err := a.get(c, "/save")
	a.store.setHook(nil)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("%d %q %v, want 503", code, body, err)
	}
	a.mustGet(c, "/get", 200, "seed")
}

// Set normalises: what Get returns in this request is what it returns in
// the next; strings that are not UTF-8 (any visitor can send %ff) are
// repaired with U+FFFD as Werkzeug does, logged once, and not an error.
func TestSetNormalisesAndRepairsUTF8(t *testing.T) {
	type prefs struct {
		Theme string `json:"theme"`
	}
	var sameRequest string
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		r.GET("/set", func(c *gin.Context) {
			s := Default(c)
			s.Set("q", c.Query("q"))
			s.Set("tags", []string{"a", "b\xff\xfe"})
			s.Set("prefs", prefs{Theme: "dark"})
			s.Set("n", 7)
			v, _ := s.Get("tags")
			p, _ := s.Get("prefs")
			n, _ := s.Get("n")
			sameRequest = fmt.Sprintf("%T %T %T", v, p, n)
			c.String(http.StatusOK, "ok")
		})
		r.GET("/get", func(c *gin.Context) {
			s := Default(c)
			q, _ := s.GetString("q")
			v, _ := s.Get("tags")
			p, _ := s.Get("prefs")
			n, _ := s.Get("n")
			c.String(http.StatusOK, "%q %v|%T %T %T", q, v, v, p, n)
		})
	})
	c := a.client()
	a.mustGet(c, "/set?q=%ff%e2%82x", 200, "ok")
	_, body, _ := a.get(c, "/get")
	want := `"\ufffd\ufffdx" [a b\ufffd\ufffd]|` + sameRequest
	if body != strings.ReplaceAll(want, `\ufffd`, "\uFFFD") && body != want {
		t.Fatalf("next request reads %q, want %q", body, want)
	}
	if sameRequest != "[]interface {} map[string]interface {} int64" {
		t.Fatalf("same request reads types %s", sameRequest)
	}
	if n := strings.Count(a.logs.all(), "invalid UTF-8"); n != 1 {
		t.Fatalf("repair logged %d times, want once per request:\n%s", n, a.logs.all())
	}
}

// The engine's own errors carry the prefix once, even when they wrap a
// store's error that has its own.
func TestErrorMessagesCarryThePrefixOnce(t *testing.T) {
	var got error
	a := newLiveApp(t, Options{ErrorHandler: func(c *gin.Context, err error) {
		got = err
		c.AbortWithStatus(503)
	}}, recoveryBefore, false, panicRoutes)
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.store.setHook(func(context.Context, string) error {
		return fmt.Errorf("ginsession: mongodb: %w", errors.New("ginsession: server selection timeout"))
	})
	a.get(c, "/get")
	if got == nil || strings.Count(got.Error(), "ginsession:") != 1 || !errors.Is(got, ErrStoreUnavailable) {
		t.Fatalf("error %v", got)
	}
	_, err := NewMiddleware(Options{Type: "mongodb", MongoDB: "mongodb://[::1"})
	if err == nil || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("open error %v", err)
	}
}

// Every way a Gin handler ends its response commits the session before the
// first byte (so the Set-Cookie goes out with it), and an outer middleware
// reads the session after c.Next().
func TestEveryResponseKindCarriesTheCookie(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("file body"), 0o600); err != nil {
		t.Fatal(err)
	}
	var outerSaw atomic.Value
	fs := newFaultStore(t)
	mw, err := NewMiddleware(Options{Store: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(func(c *gin.Context) { // outer: reads the session after the handler
		c.Next()
		v, _ := Default(c).GetString("v")
		outerSaw.Store(v)
	}, mw.Handler())
	set := func(c *gin.Context) { Default(c).Set("v", c.Request.URL.Path) }
	r.GET("/string", func(c *gin.Context) { set(c); c.String(200, "x") })
	r.GET("/nothing", func(c *gin.Context) { set(c) })
	r.GET("/abort", func(c *gin.Context) { set(c); c.AbortWithStatus(http.StatusUnauthorized) })
	r.GET("/redirect", func(c *gin.Context) { set(c); c.Redirect(http.StatusFound, "/elsewhere") })
	r.GET("/file", func(c *gin.Context) { set(c); c.File(file) })
	r.GET("/json", func(c *gin.Context) { set(c); c.JSON(200, gin.H{"a": 1}) })
	r.GET("/flush", func(c *gin.Context) { set(c); c.Writer.Flush() })
	r.GET("/stream", func(c *gin.Context) {
		set(c)
		n := 0
		c.Stream(func(w io.Writer) bool {
			c.SSEvent("tick", n)
			n++
			return n < 3
		})
	})
	r.GET("/hijack", func(c *gin.Context) {
		// A websocket upgrade: Save, then hand the headers (Set-Cookie
		// included) to the upgrader, which writes its own response.
		s := Default(c)
		set(c)
		if err := s.Save(); err != nil {
			c.AbortWithStatus(503)
			return
		}
		conn, rw, err := c.Writer.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		c.Writer.Header().Write(rw)
		rw.WriteString("\r\n")
		rw.Flush()
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/string", "/nothing", "/abort", "/redirect", "/file", "/json", "/flush", "/stream", "/hijack"} {
		t.Run(path, func(t *testing.T) {
			outerSaw.Store("")
			var header http.Header
			var status int
			if path == "/hijack" {
				conn, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				fmt.Fprintf(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				header, status = resp.Header, resp.StatusCode
			} else {
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := c.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				header, status = resp.Header, resp.StatusCode
			}
			sc := strings.Join(header["Set-Cookie"], "; ")
			if !strings.HasPrefix(sc, "session=") || !strings.Contains(header.Get("Vary"), "Cookie") {
				t.Fatalf("status %d: Set-Cookie %q, Vary %q", status, sc, header.Get("Vary"))
			}
			sid := strings.TrimPrefix(strings.SplitN(sc, ";", 2)[0], "session=")
			if data, ok, _ := fs.inner.Load(context.Background(), mw.key(sid)); !ok || !bytes.Contains(data, []byte(path)) {
				t.Fatalf("the session of %s was not stored: %q", path, data)
			}
			if path != "/hijack" {
				deadline := time.Now().Add(2 * time.Second)
				for outerSaw.Load() != path && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond) // the outer middleware runs after the response
				}
				if got := outerSaw.Load(); got != path {
					t.Fatalf("the outer middleware read %q", got)
				}
			}
		})
	}
}

// Invariant 5: Destroy kills the id; a flash stored after it goes to a new
// id, and the old one is gone from the store.
func TestDestroyKillsTheID(t *testing.T) {
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/logout", func(c *gin.Context) {
			s := Default(c)
			s.Destroy()
			s.Flash("you are logged out")
			c.String(http.StatusOK, "bye")
		})
		r.GET("/flashes", func(c *gin.Context) {
			fl := Default(c).Flashes()
			c.String(http.StatusOK, "%d", len(fl))
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=secret", 200, "ok")
	u, _ := url.Parse(a.srv.URL)
	oldSID := c.Jar.Cookies(u)[0].Value
	a.mustGet(c, "/logout", 200, "bye")
	newSID := c.Jar.Cookies(u)[0].Value
	if newSID == oldSID {
		t.Fatal("Destroy kept the session id")
	}
	if _, ok, _ := a.store.inner.Load(context.Background(), a.mw.key(oldSID)); ok {
		t.Fatal("the destroyed session is still stored")
	}
	a.mustGet(c, "/get", 200, "")
	a.mustGet(c, "/flashes", 200, "1")
	// The old cookie leads nowhere.
	old := a.client()
	old.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: oldSID}})
	a.mustGet(old, "/get", 200, "")
}

// Invariant 6: Regenerate never loses the session. When removing the old
// entry fails, the new one is still delivered (no 503), the failure is
// logged, and the removal is retried in the background.
func TestRegenerateSurvivesFailedDeleteOfOldID(t *testing.T) {
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/login", func(c *gin.Context) {
			s := Default(c)
			if err := s.Regenerate(); err != nil {
				c.String(500, err.Error())
				return
			}
			s.Set("user", "alice")
			c.String(http.StatusOK, "in")
		})
		r.GET("/user", func(c *gin.Context) {
			u, _ := Default(c).GetString("user")
			c.String(http.StatusOK, u)
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=pre", 200, "ok")
	u, _ := url.Parse(a.srv.URL)
	oldSID := c.Jar.Cookies(u)[0].Value
	var fails atomic.Int32
	a.store.setHook(func(_ context.Context, op string) error {
		if op == "Delete" && fails.Load() < 2 {
			// the removal of the old entry fails twice
			fails.Add(1)
			return errors.New("connection reset")
		}
		return nil
	})
	a.mustGet(c, "/login", 200, "in")
	if c.Jar.Cookies(u)[0].Value == oldSID {
		t.Fatal("no new id delivered")
	}
	a.mustGet(c, "/user", 200, "alice")
	a.mustGet(c, "/get", 200, "pre")
	if !strings.Contains(a.logs.all(), "retrying in the background") {
		t.Fatalf("the failed removal was not logged:\n%s", a.logs.all())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, _ := a.store.inner.Load(context.Background(), a.mw.key(oldSID)); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old id was never removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The leader of a batched write writes the changes of the requests queued
// behind it: one write is held so that two requests with the current
// version queue behind it (one adds a key, the next deletes one); both
// changes are stored in one batch, and the leader's own view is its own,
// untouched by the merge (no key twice, no key of the other request).
func TestBatchLeaderWritesQueuedChanges(t *testing.T) {
	var leaderView atomic.Value
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/add/:k", func(c *gin.Context) {
			s := Default(c)
			s.Set(c.Param("k"), "yes")
			if err := s.Save(); err != nil {
				c.String(503, err.Error())
				return
			}
			if c.Param("k") == "b" {
				leaderView.Store(fmt.Sprint(s.Keys()))
			}
			c.String(http.StatusOK, "ok")
		})
		r.GET("/del/:k", func(c *gin.Context) {
			Default(c).Delete(c.Param("k"))
			c.String(http.StatusOK, "ok")
		})
		r.GET("/keys", func(c *gin.Context) { c.String(http.StatusOK, "%v", Default(c).Keys()) })
	})
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.mustGet(c, "/add/z", 200, "ok")
	hold, held := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	a.store.setHook(func(_ context.Context, op string) error {
		if op == "SaveIf" && first.CompareAndSwap(false, true) {
			close(held)
			<-hold // the first write hangs until the two others queued
		}
		return nil
	})
	var wg sync.WaitGroup
	get := func(path string) {
		defer wg.Done()
		if code, body, err := a.get(c, path); err != nil || code != 200 {
			t.Errorf("%s: %d %q %v", path, code, body, err)
		}
	}
	waitQueued := func(n int) {
		for a.queued() < n {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Add(1)
	go get("/add/a")
	<-held
	wg.Add(1)
	go get("/add/b") // leads the next batch
	waitQueued(1)
	wg.Add(1)
	go get("/del/v")
	waitQueued(2)
	writesBefore := a.store.count("SaveIf")
	close(hold)
	wg.Wait()
	a.store.setHook(nil)
	if _, keys, _ := a.get(c, "/keys"); keys != "[z a b]" {
		t.Fatalf("stored keys %s, want [z a b]", keys)
	}
	// One batch for the two: its first try conflicts (they loaded the
	// version the held write replaced), its retry writes both. Written
	// one by one they would take two writes each.
	if n := a.store.count("SaveIf") - writesBefore; n != 2 {
		t.Fatalf("the two queued requests took %d write attempts, want 2 (one batch and its retry)", n)
	}
	if v, _ := leaderView.Load().(string); v != "[v z b]" {
		t.Fatalf("the leader's view after the batched write: %s, want [v z b]", v)
	}
}

// queued reports how many requests wait in commit queues.
func (a *liveApp) queued() int { return a.mw.engine.Queued() }

// Clear() then Set (a logout that leaves a message) is replayed in order
// after a compare-and-swap conflict: what another request wrote meanwhile
// is cleared too.
func TestClearThenSetReplayedAfterConflict(t *testing.T) {
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/logout", func(c *gin.Context) {
			s := Default(c)
			s.GetString("v") // load now
			<-c.Request.Context().Done()
		})
		r.GET("/clear-set", func(c *gin.Context) {
			s := Default(c)
			s.Clear()
			s.Set("msg", "bye")
			c.String(http.StatusOK, "ok")
		})
		r.GET("/dump", func(c *gin.Context) {
			s := Default(c)
			v, _ := s.GetString("v")
			m, _ := s.GetString("msg")
			c.String(http.StatusOK, "%v v=%s msg=%s", s.Keys(), v, m)
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	// The clearing request loads, then another request writes before it
	// commits: its write conflicts and is replayed on the new data.
	loaded, proceed := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	a.store.setHook(func(_ context.Context, op string) error {
		if op == "SaveIf" && once.CompareAndSwap(false, true) {
			close(loaded)
			<-proceed
		}
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.mustGet(c, "/clear-set", 200, "ok")
	}()
	<-loaded // the clearing request is about to write its loaded version
	other := a.client()
	u, _ := url.Parse(a.srv.URL)
	other.Jar.SetCookies(u, c.Jar.Cookies(u))
	a.store.setHook(nil)
	// Write straight to the store, as another process would.
	key := a.mw.key(c.Jar.Cookies(u)[0].Value)
	data, _ := msgpackCodec.Encode(nil, []entry{kv(permanentKey, true), kv("v", "other"), kv("extra", 1)})
	if err := a.store.inner.Save(context.Background(), key, data, time.Hour); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	<-done
	a.mustGet(c, "/dump", 200, "[msg] v= msg=bye")
}

// Flash stores Flask's layout: through the middleware, a new session with
// the flashes of each stored Flask vector whose session is only flashes
// (and the permanent marker) has exactly Flask's bytes.
func TestFlashMatchesFlaskBytes(t *testing.T) {
	vecs := flashVectors(t)
	if len(vecs) == 0 {
		t.Fatal("no flash-only vector with stored bytes")
	}
	for _, v := range vecs {
		t.Run(v.id, func(t *testing.T) {
			a := newTestApp(t, Options{NonPermanent: !v.permanent, SerializationFormat: v.format}, false, func(r *gin.Engine) {
				r.GET("/flash", func(c *gin.Context) {
					s := Default(c)
					for _, p := range v.pairs {
						s.Flash(p[1], p[0])
					}
				})
			})
			ck := cookieOf(a.do("GET", "/flash", ""), "session")
			got, _ := a.stored(sidOf(ck))
			if !bytes.Equal(got, v.stored) {
				t.Fatalf("stored %x\nFlask   %x", got, v.stored)
			}
		})
	}
}

type flashVector struct {
	id        string
	format    string
	permanent bool
	pairs     [][2]string
	stored    []byte
}

// flashVectors picks, by rule, the serialization vectors whose session
// holds nothing but _flashes (pairs of strings) and maybe _permanent.
func flashVectors(t *testing.T) []flashVector {
	raw, err := os.ReadFile("testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Serialization struct {
			Vectors []struct {
				ID        string                     `json:"id"`
				Format    string                     `json:"format"`
				Session   map[string]json.RawMessage `json:"session"`
				StoredHex string                     `json:"stored_hex"`
			} `json:"vectors"`
		} `json:"serialization"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []flashVector
	for _, v := range doc.Serialization.Vectors {
		fl, ok := v.Session["_flashes"]
		if !ok || v.StoredHex == "" {
			continue
		}
		fv := flashVector{id: v.ID, format: v.Format}
		onlyFlashes := true
		for k, val := range v.Session {
			switch k {
			case "_flashes":
			case "_permanent":
				fv.permanent = string(val) == "true"
			default:
				onlyFlashes = false
			}
		}
		var items []struct {
			Tuple []string `json:"$tuple"`
		}
		if !onlyFlashes || json.Unmarshal(fl, &items) != nil {
			continue
		}
		for _, it := range items {
			if len(it.Tuple) != 2 {
				onlyFlashes = false
			} else {
				fv.pairs = append(fv.pairs, [2]string{it.Tuple[0], it.Tuple[1]})
			}
		}
		if !onlyFlashes {
			continue
		}
		fv.stored, err = hex.DecodeString(v.StoredHex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fv)
	}
	return out
}

// The absolute lifetime ends exactly at created + AbsoluteLifetime, checked
// on load even when the store would keep the entry longer.
func TestAbsoluteLifetimeBoundary(t *testing.T) {
	const abs = time.Hour
	a, clk := newClockApp(t, Options{AbsoluteLifetime: abs}, false, timeoutRoutes)
	created := clk.now().Unix()
	for _, tc := range []struct {
		age   time.Duration
		alive bool
	}{{abs - time.Second, true}, {abs, false}} {
		sid := cookie.NewID(32)
		data, _ := msgpackCodec.Encode(nil, []entry{kv(permanentKey, true), kv(createdKey, created-int64(tc.age/time.Second)), kv("x", "v")})
		a.mem.Save(t.Context(), a.mw.key(sid), data, 30*24*time.Hour) // the store keeps it
		body := a.do("GET", "/get", "session="+sid).Body.String()
		if alive := body == "v"; alive != tc.alive {
			t.Fatalf("age %v: read %q, alive %v, want %v", tc.age, body, alive, tc.alive)
		}
	}
}

// Save from a goroutine of the request races nothing: the handler writes
// its body while the goroutine saves (run under -race).
func TestSaveFromRequestGoroutineDoesNotRace(t *testing.T) {
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/bg", func(c *gin.Context) {
			s := Default(c)
			s.Set("v", "bg")
			done := make(chan error, 1)
			go func() { done <- s.Save() }()
			c.String(http.StatusOK, "body")
			if err := <-done; err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	})
	c := a.client()
	for range 50 {
		a.mustGet(c, "/bg", 200, "body")
	}
	a.mustGet(c, "/get", 200, "bg")
}

// A session first used after its request ended (never loaded during it)
// fails loudly: it reads as empty, Err reports ErrEnded, and it is logged.
func TestSessionFirstUsedAfterRequestFailsLoudly(t *testing.T) {
	got := make(chan error, 1)
	answered := make(chan struct{})
	a := newLiveApp(t, Options{}, recoveryBefore, false, func(r *gin.Engine) {
		panicRoutes(r)
		r.GET("/later", func(c *gin.Context) {
			cp := c.Copy()
			go func() {
				<-answered // the client has the response: the request is over
				s := Default(cp)
				if _, ok := s.Get("v"); ok {
					got <- errors.New("read a value")
					return
				}
				got <- s.Err()
			}()
			c.String(http.StatusOK, "ok")
		})
	})
	c := a.client()
	a.mustGet(c, "/set?v=seed", 200, "ok")
	a.mustGet(c, "/later", 200, "ok")
	close(answered)
	if err := <-got; !errors.Is(err, ErrEnded) {
		t.Fatalf("Err() = %v, want ErrEnded", err)
	}
	if !strings.Contains(a.logs.all(), "first used after its request ended") {
		t.Fatalf("not logged:\n%s", a.logs.all())
	}
}

// casNoTouch is a compare-and-swap store without Touch whose LoadVersion
// never refreshes: an unchanged session is refreshed by rewriting it.
type casNoTouch struct{ f *faultStore }

func (s casNoTouch) Load(ctx context.Context, key string) ([]byte, bool, error) {
	return s.f.Load(ctx, key)
}
func (s casNoTouch) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return s.f.Save(ctx, key, data, ttl)
}
func (s casNoTouch) Delete(ctx context.Context, key string) error { return s.f.Delete(ctx, key) }
func (s casNoTouch) LoadVersion(ctx context.Context, key string, _ time.Duration) (backends.Record, error) {
	return s.f.LoadVersion(ctx, key, 0)
}
func (s casNoTouch) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	return s.f.SaveIf(ctx, key, data, version, ttl)
}

// The refresh of an unchanged session by a store without Touch never puts
// back the bytes it loaded over a write another request made meanwhile.
func TestRefreshRewriteNeverUndoesAConcurrentWrite(t *testing.T) {
	loaded, release := make(chan struct{}), make(chan struct{})
	fs := newFaultStore(t)
	mw, err := NewMiddleware(Options{Store: casNoTouch{fs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	panicRoutes(r)
	r.GET("/slow-read", func(c *gin.Context) {
		v, _ := Default(c).GetString("v")
		close(loaded)
		<-release
		c.String(http.StatusOK, v)
	})
	a := &testApp{t: t, engine: r, mw: mw}
	ck := cookieOf(a.do("GET", "/set?v=old", ""), "session")
	done := make(chan struct{})
	go func() { defer close(done); a.do("GET", "/slow-read", ck) }()
	<-loaded
	a.do("GET", "/set?v=new", ck) // another request writes meanwhile
	close(release)                // the slow reader now refreshes
	<-done
	if body := a.do("GET", "/get", ck).Body.String(); body != "new" {
		t.Fatalf("after the refresh of a stale read the session holds %q, want new", body)
	}
	if fs.count("SaveIf") < 2 || fs.count("Save") != 0 {
		t.Fatalf("refresh by %d SaveIf, %d Save: want conditional rewrites only", fs.count("SaveIf"), fs.count("Save"))
	}
}

// wrappedWriter is what a middleware such as gzip puts in c.Writer.
type wrappedWriter struct{ gin.ResponseWriter }

// Default finds the session however c.Writer and c.Request were replaced
// after the middleware: a writer wrapped by an inner middleware, a request
// given a derived context (tracing), a c.Copy() in a goroutine. All of them
// see the same Session, and its Set-Cookie still goes out.
func TestDefaultFindsTheSessionBehindWrappers(t *testing.T) {
	type ctxKey struct{}
	var seen []*Session
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		r.GET("/", func(c *gin.Context) {
			seen = append(seen, Default(c))
			c.Writer = &wrappedWriter{c.Writer}
			c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), ctxKey{}, 1))
			s := Default(c)
			seen = append(seen, s)
			cp := c.Copy()
			done := make(chan *Session)
			go func() { done <- Default(cp) }()
			seen = append(seen, <-done)
			s.Set("k", "v")
			c.String(200, "ok")
		})
	})
	w := a.do("GET", "/", "")
	if len(seen) != 3 || seen[0] != seen[1] || seen[1] != seen[2] {
		t.Fatalf("Default gave different sessions: %p", seen)
	}
	if cookieOf(w, "session") == "" {
		t.Fatalf("no Set-Cookie through the wrapped writer: %v", w.Header())
	}
}

// Default on a route without the middleware panics with a message saying
// what to do, also when the request carries a context of its own.
func TestDefaultWithoutMiddlewarePanics(t *testing.T) {
	r := gin.New()
	var msg any
	r.GET("/", func(c *gin.Context) {
		defer func() { msg = recover() }()
		Default(c)
	})
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if s, _ := msg.(string); !strings.Contains(s, "r.Use(ginsession.New") {
		t.Fatalf("panic = %v", msg)
	}
}
