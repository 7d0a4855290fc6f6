package ginsession

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
)

// benchRoutes are the four workloads: none (never touches the session),
// read (one Get), write (increment a counter), new (first visit).
func benchRoutes(r *gin.Engine) {
	r.GET("/none", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.GET("/read", func(c *gin.Context) {
		Default(c).GetString("user")
		c.Status(http.StatusNoContent)
	})
	r.GET("/write", func(c *gin.Context) {
		s := Default(c)
		n, _ := s.GetInt("n")
		s.Set("n", n+1)
		c.Status(http.StatusNoContent)
	})
	r.GET("/new", func(c *gin.Context) {
		Default(c).Set("user", "alice")
		c.Status(http.StatusNoContent)
	})
}

// benchEngine returns an engine with the middleware over store (nil: bare Gin).
func benchEngine(b *testing.B, store backends.Store) *gin.Engine {
	r := gin.New()
	if store != nil {
		mw, err := NewMiddleware(Options{Store: store})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { mw.Close() })
		r.Use(mw.Handler())
	}
	benchRoutes(r)
	return r
}

// benchCookie creates a session with a realistic few keys and returns its cookie.
func benchCookie(b *testing.B, r *gin.Engine) string {
	r.GET("/seed", func(c *gin.Context) {
		s := Default(c)
		s.Set("user", "alice")
		s.Set("user_id", 42)
		s.Set("n", 0)
		s.Set("cart", []any{"apple", "pear"})
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/seed", nil))
	for _, c := range w.Result().Cookies() {
		return c.Name + "=" + c.Value
	}
	b.Fatal("no cookie")
	return ""
}

// nopWriter is a minimal ResponseWriter so that benchmarks measure the
// middleware, not httptest.ResponseRecorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// runWorkload serves path b.N times with the given cookie.
func runWorkload(b *testing.B, r *gin.Engine, path, cookie string) {
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		r.ServeHTTP(w, req)
	}
}

func BenchmarkBareGin(b *testing.B) {
	runWorkload(b, benchEngine(b, nil), "/none", "")
}

func BenchmarkMemory(b *testing.B) {
	for _, wl := range []string{"none", "read", "write", "new"} {
		b.Run(wl, func(b *testing.B) {
			store := memstore.New(memstore.Options{})
			defer store.Close()
			r := benchEngine(b, store)
			cookie := ""
			if wl != "new" {
				cookie = benchCookie(b, r)
			}
			runWorkload(b, r, "/"+wl, cookie)
		})
	}
}

// BenchmarkMemoryRead10Keys is the read workload (one GetString) over a
// typical 10-key session: only the value read is decoded.
func BenchmarkMemoryRead10Keys(b *testing.B) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	r := benchEngine(b, store)
	r.GET("/seed10", func(c *gin.Context) {
		s := Default(c)
		s.Set("user_id", 12345)
		s.Set("user", "alice")
		s.Set("email", "alice@example.com")
		s.Set("logged_in", true)
		s.Set("csrf_token", "3f9a0c1e5b7d4a2f8e6c0b1d9a7f5e3c")
		s.Set("cart", []any{"apple", "banana", 3})
		s.Set("score", 98.5)
		s.Set("prefs", map[string]any{"theme": "dark", "lang": "en"})
		s.Set("last_seen", time.Date(2024, 3, 26, 12, 34, 56, 0, time.UTC))
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/seed10", nil))
	cookie := ""
	for _, c := range w.Result().Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	if cookie == "" {
		b.Fatal("no cookie")
	}
	runWorkload(b, r, "/read", cookie)
}
