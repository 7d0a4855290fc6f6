package ginsession

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/wire"
)

// testClock is a settable clock shared by the middleware and the memory
// store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newClockApp is newTestApp with an injected clock in the middleware and
// the memory store.
func newClockApp(t *testing.T, opts Options, plain bool, routes func(r *gin.Engine)) (*testApp, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memstore.New(memstore.Options{Now: clk.now, JanitorInterval: -1})
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{inner: mem}
	if plain {
		opts.Store = cs
	} else {
		opts.Store = casCountingStore{cs}
	}
	mw, err := NewMiddleware(opts)
	if err != nil {
		t.Fatal(err)
	}
	mw.now = clk.now
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	routes(r)
	return &testApp{t: t, engine: r, mw: mw, mem: mem, count: cs}, clk
}

func timeoutRoutes(r *gin.Engine) {
	sessionRoutes(r)
	r.GET("/keys", func(c *gin.Context) { c.String(http.StatusOK, "%v", Default(c).Keys()) })
	r.GET("/new", func(c *gin.Context) { c.String(http.StatusOK, "%v", Default(c).IsNew()) })
}

func sidOf(cookie string) string { return strings.TrimPrefix(cookie, "session=") }

func TestIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		plain bool
	}{
		{"cas store", Options{IdleTimeout: 30 * time.Minute}, false},
		{"plain store", Options{IdleTimeout: 30 * time.Minute}, true},
		{"refresh off still refreshes on use", Options{IdleTimeout: 30 * time.Minute, NoRefreshEachRequest: true}, false},
		{"refresh off, plain store", Options{IdleTimeout: 30 * time.Minute, NoRefreshEachRequest: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, clk := newClockApp(t, tc.opts, tc.plain, timeoutRoutes)
			ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
			// Used every 20 minutes for two hours: never idle for 30.
			for range 6 {
				clk.add(20 * time.Minute)
				if body := a.do("GET", "/get", ck).Body.String(); body != "1" {
					t.Fatalf("an active session timed out: %q", body)
				}
			}
			clk.add(30*time.Minute + time.Second)
			if _, ok := a.stored(sidOf(ck)); ok {
				t.Fatal("the store kept an entry idle past IdleTimeout: its expiry was not min(Lifetime, IdleTimeout)")
			}
			w := a.do("GET", "/new", ck)
			if w.Body.String() != "true" {
				t.Fatalf("an idle session was loaded: IsNew=%s", w.Body.String())
			}
		})
	}
	t.Run("writes expire at IdleTimeout", func(t *testing.T) {
		a, clk := newClockApp(t, Options{IdleTimeout: time.Hour}, false, timeoutRoutes)
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		clk.add(time.Hour - time.Second)
		if _, ok := a.stored(sidOf(ck)); !ok {
			t.Fatal("gone before IdleTimeout")
		}
		clk.add(2 * time.Second)
		if _, ok := a.stored(sidOf(ck)); ok {
			t.Fatal("still stored after IdleTimeout")
		}
	})
	t.Run("off by default: Lifetime alone", func(t *testing.T) {
		a, clk := newClockApp(t, Options{}, false, timeoutRoutes)
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		clk.add(30 * 24 * time.Hour)
		if body := a.do("GET", "/get", ck).Body.String(); body != "1" {
			t.Fatalf("session lost within Lifetime: %q", body)
		}
	})
}

func TestAbsoluteLifetime(t *testing.T) {
	const abs = 2 * time.Hour
	for _, plain := range []bool{false, true} {
		name := "cas store"
		if plain {
			name = "plain store"
		}
		t.Run(name, func(t *testing.T) {
			a, clk := newClockApp(t, Options{AbsoluteLifetime: abs}, plain, timeoutRoutes)
			start := clk.now()
			w := a.do("GET", "/set?v=1", "")
			ck := cookieOf(w, "session")
			sid := sidOf(ck)
			// The cookie does not outlive the deadline either.
			if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, "Expires="+start.Add(abs).UTC().Format(http.TimeFormat)) {
				t.Fatalf("cookie Expires not cut at the absolute deadline: %q", sc)
			}
			data, _ := a.stored(sid)
			if !strings.Contains(string(data), createdKey) {
				t.Fatalf("creation time not stored: %q", data)
			}
			if body := a.do("GET", "/keys", ck).Body.String(); body != "[x]" {
				t.Fatalf("Keys shows the reserved key: %s", body)
			}
			// Active use does not extend it.
			for range 3 {
				clk.add(30 * time.Minute)
				if body := a.do("GET", "/set?v=2", ck).Body.String(); body != "ok" {
					t.Fatal(body)
				}
			}
			clk.add(29 * time.Minute)
			if body := a.do("GET", "/get", ck).Body.String(); body != "2" {
				t.Fatalf("session lost before its deadline: %q", body)
			}
			// Writes and refreshes never set an expiry past the deadline:
			// the store drops the entry at the deadline by itself.
			clk.add(time.Minute + time.Second)
			if _, ok := a.stored(sid); ok {
				t.Fatal("the store kept the entry past the absolute deadline")
			}
			w = a.do("GET", "/set?v=3", ck)
			nck := cookieOf(w, "session")
			if nck == "" || nck == ck {
				t.Fatalf("want a fresh sid after the deadline, got %q", nck)
			}
		})
	}
	t.Run("expired on load is deleted", func(t *testing.T) {
		// The store's own expiry is long (the entry was written before the
		// option was shortened, say): the load check alone must catch it.
		a, clk := newClockApp(t, Options{AbsoluteLifetime: abs}, false, timeoutRoutes)
		sid := cookie.NewID(32)
		old := clk.now().Add(-abs - time.Second).Unix()
		data, err := msgpackCodec.Encode(nil, []entry{kv(permanentKey, true), kv(createdKey, old), kv("x", "old")})
		if err != nil {
			t.Fatal(err)
		}
		a.mem.Save(t.Context(), a.mw.key(sid), data, 24*time.Hour)
		deletes := a.count.deletes.Load()
		w := a.do("GET", "/get", "session="+sid)
		if w.Code != 200 || w.Body.String() != "<nil>" {
			t.Fatalf("expired session served: %d %q", w.Code, w.Body.String())
		}
		if a.count.deletes.Load() != deletes+1 {
			t.Fatal("the expired entry was not deleted")
		}
		if _, ok := a.stored(sid); ok {
			t.Fatal("expired entry still stored")
		}
	})
	t.Run("creation time that is not a number expires", func(t *testing.T) {
		a, _ := newClockApp(t, Options{AbsoluteLifetime: abs}, false, timeoutRoutes)
		sid := cookie.NewID(32)
		data, _ := msgpackCodec.Encode(nil, []entry{kv(createdKey, "yesterday"), kv("x", "old")})
		a.mem.Save(t.Context(), a.mw.key(sid), data, time.Hour)
		if body := a.do("GET", "/get", "session="+sid).Body.String(); body != "<nil>" {
			t.Fatalf("got %q", body)
		}
	})
	t.Run("a session from before the option is stamped on first use", func(t *testing.T) {
		a, clk := newClockApp(t, Options{AbsoluteLifetime: abs}, false, timeoutRoutes)
		sid := cookie.NewID(32)
		data, _ := msgpackCodec.Encode(nil, []entry{kv(permanentKey, true), kv("x", "legacy")})
		a.mem.Save(t.Context(), a.mw.key(sid), data, 24*time.Hour)
		if body := a.do("GET", "/get", "session="+sid).Body.String(); body != "legacy" {
			t.Fatalf("legacy session not loaded: %q", body)
		}
		stored, _ := a.stored(sid)
		entries, err := msgpackCodec.Decode(nil, stored, wire.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		var created any
		for i := range entries {
			if entries[i].Key == createdKey {
				created, _ = entries[i].Value()
			}
		}
		if c, ok := created.(int64); !ok || c != clk.now().Unix() {
			t.Fatalf("creation time not stamped: %v, want %d", created, clk.now().Unix())
		}
		clk.add(abs)
		if body := a.do("GET", "/get", "session="+sid).Body.String(); body != "<nil>" {
			t.Fatalf("stamped legacy session outlived the absolute lifetime: %q", body)
		}
	})
	t.Run("regenerate keeps the creation time, clear resets it", func(t *testing.T) {
		a, clk := newClockApp(t, Options{AbsoluteLifetime: abs}, false, func(r *gin.Engine) {
			timeoutRoutes(r)
			r.GET("/reset", func(c *gin.Context) {
				s := Default(c)
				s.Clear()
				s.Set("x", "again")
			})
		})
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		clk.add(time.Hour)
		nck := cookieOf(a.do("GET", "/regen", ck), "session")
		clk.add(time.Hour)
		if body := a.do("GET", "/get", nck).Body.String(); body != "<nil>" {
			t.Fatalf("Regenerate extended the absolute lifetime: %q", body)
		}
		ck = cookieOf(a.do("GET", "/set?v=1", ""), "session")
		clk.add(time.Hour)
		a.do("GET", "/reset", ck)
		clk.add(time.Hour + time.Minute)
		if body := a.do("GET", "/get", ck).Body.String(); body != "again" {
			t.Fatalf("Clear did not restart the absolute lifetime: %q", body)
		}
	})
	t.Run("deleting every key still deletes the session", func(t *testing.T) {
		a, _ := newClockApp(t, Options{AbsoluteLifetime: abs}, false, func(r *gin.Engine) {
			timeoutRoutes(r)
			r.GET("/del", func(c *gin.Context) { Default(c).Delete("x") })
		})
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		w := a.do("GET", "/del", ck)
		if _, ok := a.stored(sidOf(ck)); ok {
			t.Fatal("a session holding only bookkeeping keys was kept")
		}
		if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("cookie not expired: %q", sc)
		}
	})
}

func TestTimeoutOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		bad  string
	}{
		{Options{IdleTimeout: -time.Second}, "IdleTimeout"},
		{Options{AbsoluteLifetime: -time.Second}, "AbsoluteLifetime"},
		{Options{AbsoluteLifetime: time.Millisecond}, "at least 1s"},
		{Options{Lifetime: time.Hour, IdleTimeout: 2 * time.Hour}, "longer than Lifetime"},
		{Options{IdleTimeout: 2 * time.Hour, AbsoluteLifetime: time.Hour}, "longer than AbsoluteLifetime"},
		{Options{IdleTimeout: time.Hour, AbsoluteLifetime: 8 * time.Hour}, ""},
		{Options{AbsoluteLifetime: 90 * 24 * time.Hour}, ""}, // longer than Lifetime is fine
	} {
		tc.opts.Type = "memory"
		err := tc.opts.Validate()
		if (err != nil) != (tc.bad != "") || err != nil && !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.opts, err, tc.bad)
		}
	}
	for _, tc := range []struct {
		env  envMap
		idle time.Duration
		abs  time.Duration
		bad  string
	}{
		{envMap{"SESSION_IDLE_TIMEOUT": "1800"}, 30 * time.Minute, 0, ""},
		{envMap{"SESSION_IDLE_TIMEOUT": "30m", "SESSION_ABSOLUTE_LIFETIME": "8h"}, 30 * time.Minute, 8 * time.Hour, ""},
		{envMap{"SESSION_ABSOLUTE_LIFETIME": "43200.5"}, 0, 43200500 * time.Millisecond, ""},
		{envMap{"SESSION_IDLE_TIMEOUT": "0", "SESSION_ABSOLUTE_LIFETIME": "0s"}, 0, 0, ""},
		{envMap{"SESSION_IDLE_TIMEOUT": "-5"}, 0, 0, "SESSION_IDLE_TIMEOUT=\"-5\""},
		{envMap{"SESSION_ABSOLUTE_LIFETIME": "soon"}, 0, 0, "SESSION_ABSOLUTE_LIFETIME=\"soon\""},
		{envMap{"SESSION_IDLE_TIMEOUT": "9h", "SESSION_ABSOLUTE_LIFETIME": "8h"}, 0, 0, "longer than AbsoluteLifetime"},
	} {
		o, err := OptionsFromLookup(tc.env.lookup, "")
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%v: err = %v, want %q", tc.env, err, tc.bad)
			}
			var ee *EnvError
			if strings.HasPrefix(tc.bad, "SESSION_") && !errors.As(err, &ee) {
				t.Errorf("%v: no EnvError in %v", tc.env, err)
			}
			continue
		}
		if err != nil || o.IdleTimeout != tc.idle || o.AbsoluteLifetime != tc.abs {
			t.Errorf("%v: got %v %v %v", tc.env, o.IdleTimeout, o.AbsoluteLifetime, err)
		}
	}
}
