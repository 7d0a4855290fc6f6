package ginsession

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The memcached harness builds its stores the way SESSION_TYPE=memcached
// does, from a SESSION_MEMCACHED list naming two servers shared by the
// whole test binary, so every suite also exercises keys spread over
// several servers. The Controller acts on both servers at once: the fault
// suite runs alone (it is a sequential top-level test), and keys are
// random, so other suites are unaffected by the data it loses.
func init() {
	registerHarness(harness{
		name: "memcached",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			g := testserver.SharedMemcached(t)
			return openMemcached(t, strings.Join(g.Addrs(), ",")), g
		},
		conformance: storetest.Options{Granularity: time.Second, MaxValueSize: memcachedstore.DefaultMaxValueSize},
	})
}

func openMemcached(t testing.TB, servers string) backends.Store {
	t.Helper()
	st, err := backends.Open(context.Background(), backends.Config{Type: "memcached", Memcached: servers})
	if err != nil {
		t.Fatalf("open memcached store: %v", err)
	}
	t.Cleanup(func() { st.(*memcachedstore.Store).Close() })
	return st
}

// memcachedStats sums the command counters of servers: every command the
// store sends is one round trip, and memcached counts each by kind.
type memcachedStats struct {
	addrs []string
	last  map[string]int
}

func newMemcachedStats(tb testing.TB, addrs []string) *memcachedStats {
	s := &memcachedStats{addrs: addrs}
	s.last = s.read(tb)
	return s
}

func (s *memcachedStats) read(tb testing.TB) map[string]int {
	tb.Helper()
	raw := map[string]int{}
	for _, addr := range s.addrs {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprint(c, "stats\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.Close()
				tb.Fatal(err)
			}
			f := strings.Fields(line)
			if len(f) == 1 && f[0] == "END" {
				break
			}
			if len(f) == 3 && f[0] == "STAT" {
				if n, err := strconv.Atoi(f[2]); err == nil {
					raw[f[1]] += n
				}
			}
		}
		c.Close()
	}
	cas := raw["cas_hits"] + raw["cas_misses"] + raw["cas_badval"]
	return map[string]int{
		"gets":   raw["cmd_get"],
		"set":    raw["cmd_set"] - cas, // set and add
		"cas":    cas,
		"gat":    raw["cmd_touch"], // gat and touch: memcached counts both as cmd_touch
		"delete": raw["delete_hits"] + raw["delete_misses"],
	}
}

// take returns the commands sent since the last call (zero counts left out)
// and their total.
func (s *memcachedStats) take(tb testing.TB) (map[string]int, int) {
	tb.Helper()
	now := s.read(tb)
	d := map[string]int{}
	total := 0
	for k, v := range now {
		if n := v - s.last[k]; n != 0 {
			d[k] = n
			total += n
		}
	}
	s.last = now
	return d, total
}

type memcachedBench struct {
	engine *gin.Engine
	stats  *memcachedStats
	cookie string // a session holding a few values
}

func newMemcachedBench(tb testing.TB, g testserver.MemcachedGroup, opts Options) *memcachedBench {
	tb.Helper()
	opts.Store = openMemcached(tb, strings.Join(g.Addrs(), ","))
	mw, err := NewMiddleware(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mw.Close() })
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(mw.Handler())
	benchRoutes(r)
	r.GET("/clear", func(c *gin.Context) {
		Default(c).Clear()
		c.Status(http.StatusNoContent)
	})
	r.GET("/seed", func(c *gin.Context) {
		s := Default(c)
		s.Set("user", "alice")
		s.Set("user_id", 42)
		s.Set("n", 0)
		s.Set("cart", []any{"apple", "pear"})
	})
	b := &memcachedBench{engine: r}
	w := b.do(tb, "/seed", "")
	for _, sc := range w.Result().Cookies() {
		if sc.Name == "session" {
			b.cookie = "session=" + sc.Value
		}
	}
	if b.cookie == "" {
		tb.Fatalf("/seed set no session cookie: %v", w.Header())
	}
	b.stats = newMemcachedStats(tb, g.Addrs())
	return b
}

func (b *memcachedBench) do(tb testing.TB, path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)
	if w.Code != http.StatusOK && w.Code != http.StatusNoContent {
		tb.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
	}
	return w
}

// TestMemcachedRoundTrips counts the memcached commands one request sends
// through the real middleware with default options
// (SESSION_REFRESH_EACH_REQUEST on). A read is one gat, which loads and
// refreshes (memcached counts it as cmd_touch, shown here as "gat";
// memcachedstore's TestWireCommands pins the exact bytes). A write checks
// the loaded content with gets and writes with cas: one round trip more
// than a load plus a write. A new session is one add.
func TestMemcachedRoundTrips(t *testing.T) {
	b := newMemcachedBench(t, testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{}), Options{})
	for _, tc := range []struct {
		path, cookie string
		want         map[string]int
	}{
		{"/none", "", map[string]int{}},
		{"/none", b.cookie, map[string]int{}},
		{"/read", b.cookie, map[string]int{"gat": 1}},
		{"/write", b.cookie, map[string]int{"gat": 1, "gets": 1, "cas": 1}},
		{"/new", "", map[string]int{"set": 1}}, // add
		{"/read", "", map[string]int{}},        // a new, empty session is never stored
		{"/read", "session=" + strings.Repeat("A", 43), map[string]int{"gat": 1}},
		{"/read", "session=not-a-sid", map[string]int{}},
		{"/clear", b.cookie, map[string]int{"gat": 1, "delete": 1}},
	} {
		b.do(t, tc.path, tc.cookie)
		got, total := b.stats.take(t)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s (cookie %v): commands %v; want %v", tc.path, tc.cookie != "", got, tc.want)
		}
		if tc.path == "/read" && tc.cookie == b.cookie && total != 1 {
			t.Errorf("reading an existing session with refresh on took %d round trips; want 1", total)
		}
	}

	// Without refresh, a read is one gets and a write gets + cas (the CAS
	// unique is the version).
	b = newMemcachedBench(t, testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{}), Options{NoRefreshEachRequest: true})
	b.do(t, "/read", b.cookie)
	if got, _ := b.stats.take(t); !maps.Equal(got, map[string]int{"gets": 1}) {
		t.Errorf("/read without refresh: commands %v; want one gets", got)
	}
	b.do(t, "/write", b.cookie)
	if got, _ := b.stats.take(t); !maps.Equal(got, map[string]int{"gets": 1, "cas": 1}) {
		t.Errorf("/write without refresh: commands %v; want gets + cas", got)
	}
}

func benchMemcached(b *testing.B, path string, withCookie bool) {
	mb := newMemcachedBench(b, testserver.SharedMemcached(b), Options{})
	cookie := ""
	if withCookie {
		cookie = mb.cookie
	}
	mb.do(b, path, cookie) // warm up the connection pools
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := &nopWriter{h: http.Header{}}
	mb.stats.take(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		mb.engine.ServeHTTP(w, req)
	}
	b.StopTimer()
	_, trips := mb.stats.take(b)
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
}

// BenchmarkMemcachedNone: a route that never touches the session.
func BenchmarkMemcachedNone(b *testing.B) { benchMemcached(b, "/none", true) }

// BenchmarkMemcachedRead: read one value of an existing session (gat).
func BenchmarkMemcachedRead(b *testing.B) { benchMemcached(b, "/read", true) }

// BenchmarkMemcachedWrite: increment a counter in an existing session (gat + gets + cas).
func BenchmarkMemcachedWrite(b *testing.B) { benchMemcached(b, "/write", true) }

// BenchmarkMemcachedNew: create a new session (add).
func BenchmarkMemcachedNew(b *testing.B) { benchMemcached(b, "/new", false) }
