package ginsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The redis harnesses build their stores the way SESSION_TYPE=redis does,
// from a SESSION_REDIS URL, on servers shared by the whole test binary.
// The single node's Controller acts on that shared server: the fault suite
// runs alone (it is a sequential top-level test), and keys are random, so
// other suites are unaffected by the data it loses.
func init() {
	registerHarness(harness{
		name: "redis",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			srv := testserver.SharedRedis(t)
			return openRedis(t, "redis://"+srv.Addr), srv
		},
		conformance: storetest.Options{Granularity: time.Second, ContentVersions: true},
	})
	registerHarness(harness{
		name: "redis-cluster",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			cl := testserver.SharedRedisCluster(t)
			return openRedis(t, "redis+cluster://"+strings.Join(cl.Addrs, ",")), nil
		},
		conformance: storetest.Options{Granularity: time.Second, ContentVersions: true},
	})
}

func openRedis(t testing.TB, url string) backends.Store {
	t.Helper()
	st, err := backends.Open(context.Background(), backends.Config{Type: "redis", Redis: url})
	if err != nil {
		t.Fatalf("open redis store: %v", err)
	}
	t.Cleanup(func() { st.(*redisstore.Store).Close() })
	return st
}

// cmdCounter is a go-redis hook counting round trips (a pipeline is one)
// and recording command names.
type cmdCounter struct {
	mu    sync.Mutex
	trips int
	names []string
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		for _, c := range cmds {
			h.names = append(h.names, c.Name())
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *cmdCounter) take() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, names := h.trips, h.names
	h.trips, h.names = 0, nil
	return n, names
}

// redisBench is a gin engine with the middleware on a store whose client
// counts round trips, against the shared redis-server.
type redisBench struct {
	engine *gin.Engine
	count  *cmdCounter
	cookie string // a session holding {"user": "alice", "n": 1}
}

func newRedisBench(tb testing.TB, opts Options) *redisBench {
	tb.Helper()
	srv := testserver.SharedRedis(tb)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil { // connect before counting
		tb.Fatal(err)
	}
	count := &cmdCounter{}
	client.AddHook(count)
	opts.Store = redisstore.New(client, redisstore.Options{})
	mw, err := NewMiddleware(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mw.Close() })
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(mw.Handler())
	r.GET("/none", func(c *gin.Context) { c.String(200, "ok") })
	r.GET("/read", func(c *gin.Context) {
		u, _ := Default(c).GetString("user")
		c.String(200, u)
	})
	r.GET("/write", func(c *gin.Context) {
		s := Default(c)
		n, _ := s.GetInt("n")
		s.Set("n", n+1)
		c.String(200, "ok")
	})
	r.GET("/new", func(c *gin.Context) {
		s := Default(c)
		s.Set("user", "alice")
		s.Set("n", 1)
		c.String(200, "ok")
	})
	r.GET("/clear", func(c *gin.Context) {
		Default(c).Clear()
		c.String(200, "ok")
	})
	b := &redisBench{engine: r, count: count}
	w := b.do(tb, "/new", "")
	for _, sc := range w.Result().Cookies() {
		if sc.Name == "session" {
			b.cookie = "session=" + sc.Value
		}
	}
	if b.cookie == "" {
		tb.Fatalf("/new set no session cookie: %v", w.Header())
	}
	count.take()
	return b
}

func (b *redisBench) do(tb testing.TB, path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		tb.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
	}
	return w
}

// TestRedisRoundTrips counts the Redis commands one request sends through
// the real middleware with default options (SESSION_REFRESH_EACH_REQUEST
// on): a route that never touches the session 0, a read 1 (GETEX: load and
// refresh at once), a write 1 after the load, a new session 1, a clear 1
// after the load.
func TestRedisRoundTrips(t *testing.T) {
	b := newRedisBench(t, Options{})
	// Warm the script cache: the first EVALSHA on a server is followed by
	// an EVAL that loads the script.
	b.do(t, "/write", b.cookie)
	b.count.take()
	for _, tc := range []struct {
		path, cookie string
		want         []string
	}{
		{"/none", "", nil},
		{"/none", b.cookie, nil},
		{"/read", b.cookie, []string{"getex"}},
		{"/write", b.cookie, []string{"getex", "evalsha"}},
		{"/new", "", []string{"set"}},
		{"/read", "", nil},                                                 // a new, empty session is never stored
		{"/read", "session=" + strings.Repeat("A", 43), []string{"getex"}}, // well-formed, unknown: one miss
		{"/read", "session=not-a-sid", nil},                                // malformed: rejected without a round trip
		{"/clear", b.cookie, []string{"getex", "del"}},
	} {
		b.do(t, tc.path, tc.cookie)
		trips, names := b.count.take()
		if trips != len(tc.want) || !slices.Equal(names, tc.want) {
			t.Errorf("%s (cookie %v): %d round trips %v; want %v", tc.path, tc.cookie != "", trips, names, tc.want)
		}
	}
}

// benchWriter is a ResponseWriter that allocates nothing per request once
// its header map has grown, so the benchmarks measure the middleware and the
// store rather than httptest.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

func benchRedis(b *testing.B, path string, withCookie bool) {
	rb := newRedisBench(b, Options{})
	cookie := ""
	if withCookie {
		cookie = rb.cookie
	}
	rb.do(b, path, cookie) // warm up (script cache, pools)
	rb.count.take()
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		rb.engine.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("%s: status %d", path, w.code)
		}
	}
	b.StopTimer()
	trips, _ := rb.count.take()
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisNone: a route that never touches the session.
func BenchmarkRedisNone(b *testing.B) { benchRedis(b, "/none", true) }

// BenchmarkRedisRead: read one value of an existing session (GETEX).
func BenchmarkRedisRead(b *testing.B) { benchRedis(b, "/read", true) }

// BenchmarkRedisWrite: increment a counter in an existing session (GETEX + EVALSHA).
func BenchmarkRedisWrite(b *testing.B) { benchRedis(b, "/write", true) }

// BenchmarkRedisNew: create a new session with two values (SET NX).
func BenchmarkRedisNew(b *testing.B) { benchRedis(b, "/new", false) }
