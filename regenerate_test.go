package ginsession

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
)

// regenerateRoutes: writers load the session, wait a little and commit, so
// that many are in flight while /regen moves the session to a new id.
func regenerateRoutes(r *gin.Engine) {
	pause := func() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) }
	r.GET("/init", func(c *gin.Context) { Default(c).Set("init", true) })
	r.GET("/k/:n", func(c *gin.Context) {
		s := Default(c)
		s.Has("init") // load now, commit after the pause
		pause()
		s.Set("k"+c.Param("n"), c.Param("n"))
	})
	r.GET("/regen", func(c *gin.Context) {
		s := Default(c)
		if err := s.Regenerate(); err != nil {
			c.String(500, err.Error())
			return
		}
		s.Set("regen", true)
		pause()
	})
	r.GET("/keys", func(c *gin.Context) {
		keys := Default(c).Keys()
		sort.Strings(keys)
		c.String(200, strings.Join(keys, ","))
	})
}

// regenerateRace runs rounds of: one session, n concurrent writers of
// distinct keys, and a Regenerate launched among them. It checks the
// guarantee of regenerate.go for a single process: every writer's key is
// in the new session, or, for a writer that loaded after the retirement,
// in a fresh session of its own; no response carries the new id except
// the regenerating one's, none expires the cookie, and the old entry is
// gone from the store.
func regenerateRace(t *testing.T, store backends.Store, h http.Handler, prefix string, rounds, n int) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	type result struct {
		code    int
		body    string
		cookies []string // raw Set-Cookie values for "session"
	}
	get := func(path, cookie string) result {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return result{}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var cs []string
		for _, sc := range resp.Header["Set-Cookie"] {
			if strings.HasPrefix(sc, "session=") {
				cs = append(cs, sc)
			}
		}
		return result{resp.StatusCode, string(b), cs}
	}
	value := func(sc string) string { return strings.TrimPrefix(strings.SplitN(sc, ";", 2)[0], "session=") }

	var forwardedOrCarried, fresh int
	for round := range rounds {
		init := get("/init", "")
		if len(init.cookies) != 1 {
			t.Fatalf("init: %+v", init)
		}
		sid1 := value(init.cookies[0])
		ck1 := "session=" + sid1

		results := make([]result, n)
		var regen result
		var wg sync.WaitGroup
		for i := range n {
			if i == n/2 {
				wg.Add(1)
				go func() { defer wg.Done(); regen = get("/regen", ck1) }()
			}
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = get(fmt.Sprintf("/k/%d", i), ck1) }()
		}
		wg.Wait()

		if regen.code != 200 || len(regen.cookies) != 1 {
			t.Fatalf("round %d: regenerate: %+v", round, regen)
		}
		sid2 := value(regen.cookies[0])
		if sid2 == sid1 || sid2 == "" {
			t.Fatalf("round %d: no new id: %q", round, regen.cookies[0])
		}
		// A removal that failed is retried in the background (the request
		// itself succeeded): allow it a few seconds.
		var found bool
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, found, err = store.Load(context.Background(), prefix+sid1); err == nil && !found || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || found {
			t.Fatalf("round %d: the old entry is still stored (found=%v, err=%v)", round, found, err)
		}
		inNew := map[string]bool{}
		for _, k := range strings.Split(get("/keys", "session="+sid2).body, ",") {
			inNew[k] = true
		}
		if !inNew["init"] || !inNew["regen"] {
			t.Fatalf("round %d: new session lacks init/regen: %v", round, inNew)
		}
		for i, r := range results {
			key := fmt.Sprintf("k%d", i)
			if r.code != 200 {
				t.Errorf("round %d: writer %d: %d %s", round, i, r.code, r.body)
				continue
			}
			var other string
			for _, sc := range r.cookies {
				v := value(sc)
				switch {
				case strings.Contains(sc, "Max-Age=0"):
					t.Errorf("round %d: writer %d: its changes were dropped (cookie expired): %q", round, i, sc)
				case v == sid2:
					t.Errorf("round %d: writer %d holding the old id was handed the new one", round, i)
				case v != sid1:
					other = v
				}
			}
			if other == "" {
				// Committed to the old entry before its retirement (and was
				// carried over), or forwarded after it.
				if !inNew[key] {
					t.Errorf("round %d: writer %d: %s lost (not in the new session); cookies %q", round, i, key, r.cookies)
				}
				forwardedOrCarried++
				continue
			}
			// Loaded after the retirement: a fresh session of its own.
			fresh++
			if inNew[key] {
				t.Errorf("round %d: writer %d got a fresh session, yet its key reached the new one", round, i)
			}
			if body := get("/keys", "session="+other).body; !strings.Contains(","+body+",", ","+key+",") {
				t.Errorf("round %d: writer %d: %s not in its fresh session (%q)", round, i, key, body)
			}
		}
	}
	t.Logf("%d writes carried or forwarded to the new id, %d in fresh sessions (loaded after the retirement)", forwardedOrCarried, fresh)
}

func TestRegenerateRaceMemory(t *testing.T) {
	a := newTestApp(t, Options{}, false, regenerateRoutes)
	regenerateRace(t, a.mw.opts.Store, a.engine, a.mw.opts.KeyPrefix, 10, 60)
}

func TestRegenerateRaceEncrypted(t *testing.T) {
	a := newTestApp(t, Options{EncryptionKey: testKey(5), SerializationFormat: "json"}, false, regenerateRoutes)
	regenerateRace(t, a.mw.opts.Store, a.engine, a.mw.opts.KeyPrefix, 3, 40)
}

// TestRegenerateRaceBackends runs the regenerate race over every backend.
func TestRegenerateRaceBackends(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			store, _ := h.open(t)
			if _, ok := store.(backends.CompareAndSwapper); !ok {
				t.Skip("no compare-and-swap: concurrent writes are last-writer-wins")
			}
			mw, err := NewMiddleware(Options{Store: store})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mw.Close() })
			r := gin.New()
			r.Use(mw.Handler())
			regenerateRoutes(r)
			regenerateRace(t, store, r, mw.opts.KeyPrefix, 3, 40)
		})
	}
}

// TestRegenerateRetireMergesConcurrentWrite drives the cross-process case
// step by step: a write lands on the old entry after the regenerating
// request loaded it; the retirement must notice (compare-and-swap),
// reload, and carry that write into the new entry.
func TestRegenerateRetireMergesConcurrentWrite(t *testing.T) {
	loaded := make(chan struct{})
	proceed := make(chan struct{})
	a := newTestApp(t, Options{}, false, func(r *gin.Engine) {
		regenerateRoutes(r)
		r.GET("/slowregen", func(c *gin.Context) {
			s := Default(c)
			s.Set("regen", true)
			close(loaded)
			<-proceed
			s.Regenerate()
		})
	})
	// Another instance over the same store writes meanwhile.
	b := secondApp(t, a, Options{})
	b.engine.GET("/k/:n", func(c *gin.Context) { Default(c).Set("k"+c.Param("n"), c.Param("n")) })
	ck := cookieOf(a.do("GET", "/init", ""), "session")
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- a.do("GET", "/slowregen", ck) }()
	<-loaded
	if w := b.do("GET", "/k/other", ck); w.Code != 200 {
		t.Fatal(w.Code)
	}
	close(proceed)
	w := <-done
	nck := cookieOf(w, "session")
	if nck == "" || nck == ck {
		t.Fatalf("no new id: %q", nck)
	}
	if body := a.do("GET", "/keys", nck).Body.String(); body != "init,kother,regen" {
		t.Fatalf("new session holds %q: the write that raced the regeneration was lost", body)
	}
	if _, ok := a.stored(sidOf(ck)); ok {
		t.Fatal("old entry left behind")
	}
	// The old id leads nowhere: a fresh session.
	if body := a.do("GET", "/keys", ck).Body.String(); body != "" {
		t.Fatalf("the old id still reaches data: %q", body)
	}
}
