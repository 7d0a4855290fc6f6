package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/internal/wire"
)

// These tests drive the engine's Request directly, the way the root
// package's middleware does (Init, the handler's calls, Commit, End), on the
// real memory store with a test clock. They exist so that a mutation tool
// running only this package's tests (go-gremlins) can judge the engine; the
// root package's tests cover the same behaviour through real Gin engines.

const cookieName = "session"

// clock is a settable time shared by the engine and the memory store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// counting wraps a real store, counting calls and, when gate is set,
// holding each SaveIf until gate is closed (to queue writers behind it).
type counting struct {
	*memstore.Store
	loads, saves, saveIfs, deletes, touches atomic.Int32
	failDeletes                             atomic.Int32 // fail this many Deletes
	gateMu                                  sync.Mutex
	gate                                    chan struct{}
	entered                                 chan context.Context
}

func (s *counting) Load(ctx context.Context, key string) ([]byte, bool, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx, key)
}
func (s *counting) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	s.saves.Add(1)
	return s.Store.Save(ctx, key, data, ttl)
}
func (s *counting) Delete(ctx context.Context, key string) error {
	s.deletes.Add(1)
	if s.failDeletes.Add(-1) >= 0 {
		return errDown
	}
	return s.Store.Delete(ctx, key)
}
func (s *counting) Touch(ctx context.Context, key string, ttl time.Duration) error {
	s.touches.Add(1)
	return s.Store.Touch(ctx, key, ttl)
}
func (s *counting) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	s.loads.Add(1)
	return s.Store.LoadVersion(ctx, key, refresh)
}
func (s *counting) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	s.saveIfs.Add(1)
	s.gateMu.Lock()
	g, en := s.gate, s.entered
	s.gate, s.entered = nil, nil // hold only the first write after arming
	s.gateMu.Unlock()
	if g != nil {
		en <- ctx
		<-g
	}
	return s.Store.SaveIf(ctx, key, data, version, ttl)
}

// hold arms the gate: the next SaveIf sends its context on entered and
// waits for release.
func (s *counting) hold() (entered <-chan context.Context, release func()) {
	g, en := make(chan struct{}), make(chan context.Context, 1)
	s.gateMu.Lock()
	s.gate, s.entered = g, en
	s.gateMu.Unlock()
	return en, func() { close(g) }
}

// plainStore hides the memory store's optional interfaces (no
// compare-and-swap, no Touch), like a minimal third-party store.
type plainStore struct{ backends.Store }

type harness struct {
	t     *testing.T
	clk   *clock
	mem   *memstore.Store
	store *counting
	e     *Engine
}

func baseConfig() Config {
	return Config{
		Format:     wire.MsgPack,
		KeyPrefix:  "session:",
		IDLength:   32,
		Permanent:  true,
		Lifetime:   31 * 24 * time.Hour,
		Refresh:    true,
		Timeout:    2 * time.Second,
		MaxSize:    64 << 10,
		MaxRetries: 5,
		Cookie:     cookieSpec(),
	}
}

// newHarness builds an engine on the memory store; plain hides the
// store's optional interfaces.
func newHarness(t *testing.T, plain bool, mutate func(*Config)) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mem := memstore.New(memstore.Options{JanitorInterval: -1, Now: clk.now})
	t.Cleanup(func() { _ = mem.Close() })
	cs := &counting{Store: mem}
	cfg := baseConfig()
	cfg.Store = cs
	if plain {
		cfg.Store = plainStore{cs}
	}
	cfg.Now = clk.now
	if mutate != nil {
		mutate(&cfg)
	}
	e := New(cfg)
	t.Cleanup(e.Close)
	return &harness{t: t, clk: clk, mem: mem, store: cs, e: e}
}

// result is what one request sent back.
type result struct {
	header http.Header
	err    error
	sid    string // the session's id at the end of the request
}

// setCookie returns the value of the session's Set-Cookie, and whether
// there is one.
func (res result) setCookie() (string, bool) {
	for _, line := range res.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(line, cookieName+"="); ok {
			return line[len(cookieName)+1 : len(cookieName)+1+strings.IndexByte(v+";", ';')], true
		}
	}
	return "", false
}

func (res result) cookieLine() string {
	for _, line := range res.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, cookieName+"=") {
			return line
		}
	}
	return ""
}

// do runs one request carrying cookie (none when empty) through the
// engine: fn plays the handler, then the middleware commits and ends it.
func (h *harness) do(cookie string, fn func(r *Request)) result {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	hdr := http.Header{}
	r := &Request{}
	r.Init(h.e, req, hdr)
	if fn != nil {
		fn(r)
	}
	err := r.Commit()
	r.mu.Lock()
	sid := r.sid
	r.mu.Unlock()
	r.End()
	return result{header: hdr, err: err, sid: sid}
}

// start begins a request whose commit the test drives itself.
func (h *harness) start(cookie string) *Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	r := &Request{}
	r.Init(h.e, req, http.Header{})
	return r
}

// newSession stores a session holding kv and returns its cookie value.
func (h *harness) newSession(kv ...any) string {
	h.t.Helper()
	res := h.do("", func(r *Request) {
		for i := 0; i < len(kv); i += 2 {
			r.Set(kv[i].(string), kv[i+1])
		}
	})
	if res.err != nil {
		h.t.Fatalf("create session: %v", res.err)
	}
	v, ok := res.setCookie()
	if !ok {
		h.t.Fatalf("create session: no cookie in %v", res.header)
	}
	return v
}

// stored decodes the entry stored under sid's key (nil, false when absent).
func (h *harness) stored(sid string) (map[string]any, bool) {
	h.t.Helper()
	data, found, err := h.mem.Load(context.Background(), h.e.Key(sid))
	if err != nil {
		h.t.Fatalf("load %s: %v", sid, err)
	}
	if !found {
		return nil, false
	}
	entries, _, err := h.e.decode(h.e.Key(sid), data)
	if err != nil {
		h.t.Fatalf("decode %s: %v", sid, err)
	}
	m := map[string]any{}
	for i := range entries {
		v, err := entries[i].Value()
		if err != nil {
			h.t.Fatalf("value %s: %v", entries[i].Key, err)
		}
		m[entries[i].Key] = v
	}
	return m, true
}

func (h *harness) raw(sid string) []byte {
	h.t.Helper()
	data, _, err := h.mem.Load(context.Background(), h.e.Key(sid))
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}
