package ginsession

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
)

func sessionRoutes(r *gin.Engine) {
	r.GET("/none", okHandler)
	r.GET("/get", func(c *gin.Context) {
		v, _ := Default(c).Get("x")
		c.String(http.StatusOK, "%v", v)
	})
	r.GET("/set", func(c *gin.Context) {
		Default(c).Set("x", c.Query("v"))
		c.String(http.StatusOK, "ok")
	})
	r.GET("/setnowrite", func(c *gin.Context) { Default(c).Set("x", "late") })
	r.GET("/clear", func(c *gin.Context) { Default(c).Clear(); c.String(http.StatusOK, "ok") })
	r.GET("/append", func(c *gin.Context) {
		s := Default(c)
		v, ok := s.Get("list")
		if !ok {
			s.Set("list", []any{"a"})
		} else {
			l := v.([]any)
			l[0] = "changed-in-place" // mutate the value handed out by Get
		}
		c.String(http.StatusOK, "ok")
	})
	r.GET("/getlist", func(c *gin.Context) {
		v, _ := Default(c).Get("list")
		c.String(http.StatusOK, "%v", v)
	})
	r.GET("/regen", func(c *gin.Context) {
		if err := Default(c).Regenerate(); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
}

func TestLazyRouteMakesNoStoreCall(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	w := a.do("GET", "/set?v=1", "")
	ck := cookieOf(w, "session")
	before := a.count.total()
	w = a.do("GET", "/none", ck)
	if n := a.count.total() - before; n != 0 {
		t.Fatalf("route that never touches the session made %d store calls", n)
	}
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("Vary") != "" {
		t.Fatalf("untouched route sent Set-Cookie %q / Vary %q", w.Header().Get("Set-Cookie"), w.Header().Get("Vary"))
	}
}

func TestStrictIDs(t *testing.T) {
	a := newTestApp(t, Options{UseSigner: true, SecretKey: "k"}, false, sessionRoutes)
	good := cookieOf(a.do("GET", "/set?v=1", ""), "session")
	goodSID := strings.TrimPrefix(strings.SplitN(good, ".", 2)[0], "session=")
	unknown := cookie.NewID(32)
	signedUnknown := "session=" + a.mw.signer.Sign(unknown)
	for _, tc := range []struct {
		name, cookie string
		loads        int64
	}{
		{"missing", "", 0},
		{"malformed", "session=../../etc/passwd", 0},
		{"unsigned", "session=" + goodSID, 0},
		{"bad signature", "session=" + goodSID + ".AAAAAAAAAAAAAAAAAAAAAAAAAAA", 0},
		{"signed by another key", "session=" + cookie.NewSigner("other", nil).Sign(goodSID), 0},
		{"unknown sid, validly signed", signedUnknown, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.count.lvs.Load()
			w := a.do("GET", "/set?v=2", tc.cookie)
			if n := a.count.lvs.Load() - before; n != tc.loads {
				t.Errorf("store loads = %d, want %d", n, tc.loads)
			}
			ck := cookieOf(w, "session")
			if ck == "" || strings.Contains(ck, goodSID) || strings.Contains(ck, unknown) {
				t.Fatalf("want a fresh sid, got cookie %q", ck)
			}
			if _, ok := a.stored(unknown); ok {
				t.Fatal("the client's unknown sid was adopted")
			}
		})
	}
	// The genuine session was never overwritten by the rejected requests.
	data, ok := a.stored(goodSID)
	if !ok || !strings.Contains(string(data), "1") {
		t.Fatalf("genuine session damaged: %q %v", data, ok)
	}
}

func TestChangeTrackingInPlaceMutation(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	ck := cookieOf(a.do("GET", "/append", ""), "session")
	sifs := a.count.sifs.Load()
	a.do("GET", "/append", ck) // mutates the slice from Get in place, never calls Set
	if a.count.sifs.Load() == sifs {
		t.Fatal("in-place mutation of a slice from Get was not saved")
	}
	if body := a.do("GET", "/getlist", ck).Body.String(); body != "[changed-in-place]" {
		t.Fatalf("after in-place change: %q", body)
	}
	// A read that hands out the slice without changing it writes nothing.
	sifs, touches := a.count.sifs.Load(), a.count.touches.Load()
	a.do("GET", "/getlist", ck)
	if a.count.sifs.Load() != sifs {
		t.Fatal("an unchanged session handed out by Get was rewritten")
	}
	if a.count.touches.Load() != touches {
		t.Fatal("the store refreshed at load (LoadVersion), so no separate touch was expected")
	}
}

func TestCommitBeforeFirstByte(t *testing.T) {
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		r.GET("/stream", func(c *gin.Context) {
			Default(c).Set("x", 1)
			c.Writer.WriteHeader(200)
			c.Writer.Write([]byte("first"))
			c.Writer.Flush()
			c.Writer.Write([]byte("second"))
		})
		r.GET("/abort", func(c *gin.Context) {
			Default(c).Set("x", 1)
			c.AbortWithStatus(http.StatusNoContent)
		})
	})
	for _, path := range []string{"/stream", "/abort"} {
		w := a.do("GET", path, "")
		if cookieOf(w, "session") == "" {
			t.Errorf("%s: cookie missing: the commit did not happen before the first byte", path)
		}
	}
}

func TestSaveForStreamingHandlers(t *testing.T) {
	var saveErr error
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		r.GET("/s", func(c *gin.Context) {
			s := Default(c)
			s.Set("x", 1)
			saveErr = s.Save()
			c.Writer.Write([]byte("chunk"))
			c.Writer.Flush()
		})
	})
	w := a.do("GET", "/s", "")
	if saveErr != nil {
		t.Fatal(saveErr)
	}
	ck := cookieOf(w, "session")
	if ck == "" || len(w.Result().Header["Set-Cookie"]) != 1 {
		t.Fatalf("Set-Cookie = %q", w.Result().Header["Set-Cookie"])
	}
	if _, ok := a.stored(strings.TrimPrefix(ck, "session=")); !ok {
		t.Fatal("Save did not store the session")
	}
}

func TestCommitFailureReachesErrorHandlerBeforeHeaders(t *testing.T) {
	var got error
	a := newTestApp(t, Options{ErrorHandler: func(c *gin.Context, err error) {
		got = err
		c.String(http.StatusTeapot, "custom")
	}}, false, sessionRoutes)
	boom := errors.New("store down")
	a.count.fail.Store(&boom)
	w := a.do("GET", "/set?v=1", "")
	if w.Code != http.StatusTeapot || w.Body.String() != "custom" {
		t.Fatalf("got %d %q; want the ErrorHandler's answer alone", w.Code, w.Body.String())
	}
	if !errors.Is(got, boom) || !strings.HasPrefix(got.Error(), "ginsession: ") {
		t.Fatalf("ErrorHandler got %v", got)
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Fatal("a cookie was set for a session that was not saved")
	}
}

func TestLoadFailureGives503AndNoWrite(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	ck := cookieOf(a.do("GET", "/set?v=orig", ""), "session")
	boom := errors.New("connection refused")
	a.count.fail.Store(&boom)
	sifs := a.count.sifs.Load()
	w := a.do("GET", "/set?v=clobber", ck)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", w.Code)
	}
	if strings.Contains(w.Body.String(), "ok") {
		t.Fatalf("the handler's output leaked into the error response: %q", w.Body.String())
	}
	if a.count.sifs.Load() != sifs {
		t.Fatal("a session that failed to load was written")
	}
	a.count.fail.Store(nil)
	if body := a.do("GET", "/get", ck).Body.String(); body != "orig" {
		t.Fatalf("after recovery: %q", body)
	}
}

func TestModifiedEmptyDeletesAndExpiresCookie(t *testing.T) {
	opts := Options{CookieDomain: "example.com", CookiePath: "/app", CookieSecure: true,
		CookieSameSite: http.SameSiteNoneMode, CookiePartitioned: true}
	a := newTestApp(t, opts, false, func(r *gin.Engine) {
		r.GET("/app/set", func(c *gin.Context) { Default(c).Set("x", 1) })
		r.GET("/app/clear", func(c *gin.Context) { Default(c).Clear() })
	})
	w := a.do("GET", "/app/set", "")
	ck := cookieOf(w, "session")
	sid := strings.TrimPrefix(ck, "session=")
	w = a.do("GET", "/app/clear", ck)
	if _, ok := a.stored(sid); ok {
		t.Fatal("cleared session still stored")
	}
	want := "session=; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; HttpOnly; Path=/app; SameSite=None; Partitioned"
	if got := w.Header().Get("Set-Cookie"); got != want {
		t.Fatalf("deletion cookie\n got %q\nwant %q", got, want)
	}
}

func TestNewEmptySessionStoresNothing(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	w := a.do("GET", "/get", "")
	if a.count.sifs.Load()+a.count.saves.Load() != 0 || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("a new, empty session was stored or got a cookie: %q", w.Header().Get("Set-Cookie"))
	}
	if w.Header().Get("Vary") != "Cookie" {
		t.Fatalf("Vary = %q, want Cookie (the session was accessed)", w.Header().Get("Vary"))
	}
}

func TestRefreshTouchesNeverRewrites(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			a := newTestApp(t, Options{}, plain, sessionRoutes)
			ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
			saves, sifs := a.count.saves.Load(), a.count.sifs.Load()
			w := a.do("GET", "/get", ck)
			if a.count.sifs.Load() != sifs {
				t.Fatal("an unmodified session was written with SaveIf")
			}
			if !plain && a.count.saves.Load() != saves {
				t.Fatal("an unmodified session was rewritten although the store can touch")
			}
			if plain && a.count.saves.Load() != saves+1 {
				t.Fatal("a store without Touch must get the loaded bytes re-saved to refresh the expiry")
			}
			if cookieOf(w, "session") != ck {
				t.Fatalf("permanent session cookie not re-sent: %q", w.Header().Get("Set-Cookie"))
			}
		})
	}
	t.Run("non-permanent gets no cookie", func(t *testing.T) {
		a := newTestApp(t, Options{NonPermanent: true}, false, sessionRoutes)
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		if w := a.do("GET", "/get", ck); w.Header().Get("Set-Cookie") != "" {
			t.Fatalf("non-permanent unmodified session got a cookie: %q", w.Header().Get("Set-Cookie"))
		}
	})
	t.Run("refresh off: no touch, no cookie", func(t *testing.T) {
		a := newTestApp(t, Options{NoRefreshEachRequest: true}, true, sessionRoutes)
		ck := cookieOf(a.do("GET", "/set?v=1", ""), "session")
		saves := a.count.saves.Load()
		if w := a.do("GET", "/get", ck); w.Header().Get("Set-Cookie") != "" || a.count.saves.Load() != saves {
			t.Fatal("refresh is off, yet the session was refreshed")
		}
	})
}

func TestVaryOnAccess(t *testing.T) {
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		r.GET("/v", func(c *gin.Context) {
			c.Header("Vary", "Accept-Encoding")
			Default(c).Get("x")
			c.String(200, "ok")
		})
	})
	if got := a.do("GET", "/v", "").Header().Get("Vary"); got != "Accept-Encoding, Cookie" {
		t.Fatalf("Vary = %q", got)
	}
}

func TestRegenerateKeepsDataDeletesOld(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	ck := cookieOf(a.do("GET", "/set?v=keep", ""), "session")
	w := a.do("GET", "/regen", ck)
	nck := cookieOf(w, "session")
	if nck == "" || nck == ck {
		t.Fatalf("no new sid: %q", nck)
	}
	if _, ok := a.stored(strings.TrimPrefix(ck, "session=")); ok {
		t.Fatal("old entry left behind")
	}
	if body := a.do("GET", "/get", nck).Body.String(); body != "keep" {
		t.Fatalf("data lost on regenerate: %q", body)
	}
	// Regenerating a new, empty session is a no-op, as in Flask-Session.
	if w := a.do("GET", "/regen", ""); w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("empty regenerate set a cookie: %q", w.Header().Get("Set-Cookie"))
	}
}

func TestTooLargeSessionIsRefusedAndPreviousKept(t *testing.T) {
	a := newTestApp(t, Options{MaxSize: 100}, false, func(r *gin.Engine) {
		r.GET("/small", func(c *gin.Context) { Default(c).Set("x", "small") })
		r.GET("/big", func(c *gin.Context) { Default(c).Set("x", strings.Repeat("b", 200)) })
	})
	ck := cookieOf(a.do("GET", "/small", ""), "session")
	w := a.do("GET", "/big", ck)
	// Too large is not an outage: 500 naming the cause, no Retry-After.
	if w.Code != http.StatusInternalServerError || w.Header().Get("Retry-After") != "" || !strings.Contains(w.Body.String(), "over the limit of 100") {
		t.Fatalf("status %d, Retry-After %q, body %q", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	data, _ := a.stored(strings.TrimPrefix(ck, "session="))
	if !strings.Contains(string(data), "small") {
		t.Fatalf("previous value lost: %q", data)
	}
}

func TestUndecodableStoredValueIsFreshSession(t *testing.T) {
	a := newTestApp(t, Options{}, false, sessionRoutes)
	sid := cookie.NewID(32)
	a.mem.Save(t.Context(), a.mw.key(sid), []byte("\x80\x04garbage pickle"), 3600e9)
	w := a.do("GET", "/set?v=1", "session="+sid)
	if w.Code != 200 {
		t.Fatalf("status %d: undecodable data must not fail the request", w.Code)
	}
	if ck := cookieOf(w, "session"); ck == "" || strings.Contains(ck, sid) {
		t.Fatalf("want a fresh sid, got %q", ck)
	}
}

func TestLateChangeAfterBodyIsSavedForExistingSession(t *testing.T) {
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		r.GET("/set", func(c *gin.Context) { Default(c).Set("x", "a") })
		r.GET("/late", func(c *gin.Context) {
			s := Default(c)
			s.Get("x")
			c.String(200, "body first")
			s.Set("x", "late")
		})
		r.GET("/get", func(c *gin.Context) { v, _ := Default(c).GetString("x"); c.String(200, v) })
	})
	ck := cookieOf(a.do("GET", "/set", ""), "session")
	a.do("GET", "/late", ck)
	if body := a.do("GET", "/get", ck).Body.String(); body != "late" {
		t.Fatalf("a change after the body was dropped: %q", body)
	}
}

// TestNoLostUpdatesMemory sends 200 concurrent requests on one session, each
// setting a distinct key; all 200 must be present afterwards.
func TestNoLostUpdatesMemory(t *testing.T) {
	a := newTestApp(t, Options{}, false, concurrencyRoutes)
	noLostUpdates(t, 200, a.engine)
}

// TestNoLostUpdatesTwoInstances runs two middlewares (as two processes
// would) over one store, so concurrent writes really conflict and are
// resolved by compare-and-swap, reload and replay.
func TestNoLostUpdatesTwoInstances(t *testing.T) {
	a := newTestApp(t, Options{}, false, concurrencyRoutes)
	mw2, err := NewMiddleware(Options{Store: a.mw.opts.Store})
	if err != nil {
		t.Fatal(err)
	}
	r2 := gin.New()
	r2.Use(mw2.Handler())
	concurrencyRoutes(r2)
	lvs := a.count.lvs.Load()
	noLostUpdates(t, 200, a.engine, r2)
	if a.count.lvs.Load()-lvs <= 202 {
		t.Log("no conflict happened between the two instances; the CAS path was not exercised this run")
	}
}

func concurrencyRoutes(r *gin.Engine) {
	r.GET("/init", func(c *gin.Context) { Default(c).Set("init", true) })
	r.GET("/k/:n", func(c *gin.Context) { Default(c).Set("k"+c.Param("n"), c.Param("n")) })
	r.GET("/count", func(c *gin.Context) { c.String(200, "%d", len(Default(c).Keys())) })
}

// noLostUpdates drives n concurrent requests, spread over the handlers (as
// over instances behind a load balancer), through real loopback HTTP.
func noLostUpdates(t *testing.T, n int, handlers ...http.Handler) {
	t.Helper()
	var urls []string
	for _, h := range handlers {
		srv := httptest.NewServer(h)
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	var next sync.Mutex
	turn := 0
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	get := func(path, cookie string) (*http.Response, string) {
		next.Lock()
		url := urls[turn%len(urls)]
		turn++
		next.Unlock()
		req, _ := http.NewRequest("GET", url+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return nil, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("/init", "")
	var ck string
	for _, c := range resp.Cookies() {
		ck = c.Name + "=" + c.Value
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := get(fmt.Sprintf("/k/%d", i), ck)
			if resp != nil && resp.StatusCode != 200 {
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	_, body := get("/count", ck)
	if body != fmt.Sprint(n+1) {
		t.Fatalf("keys after %d concurrent writers: %s, want %d", n, body, n+1)
	}
}
