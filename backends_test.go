package ginsession

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// harness describes one backend for the suites in this file. Backends add
// theirs from backends_<name>_test.go with registerHarness in an init func.
type harness struct {
	// name is the subtest name, e.g. "redis" or "gorm/postgres".
	name string
	// open starts (or reuses) a real server and returns a fresh store on it,
	// plus a Controller when the server can be killed and restarted by the
	// fault tests (nil for in-process backends). The store must be closed
	// by a t.Cleanup registered by open when it needs closing.
	open func(t *testing.T) (backends.Store, testserver.Controller)
	// conformance tunes the storetest suite.
	conformance storetest.Options
}

var (
	harnessMu sync.Mutex
	harnesses []harness
)

func registerHarness(h harness) {
	harnessMu.Lock()
	defer harnessMu.Unlock()
	harnesses = append(harnesses, h)
	sort.Slice(harnesses, func(i, j int) bool { return harnesses[i].name < harnesses[j].name })
}

// TestConformance runs the storetest suite over every backend against a real server.
func TestConformance(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) backends.Store {
				s, _ := h.open(t)
				return s
			}, h.conformance)
		})
	}
}

// TestNoLostUpdatesBackends sends 200 concurrent requests on one session
// through the middleware to every backend; each sets a distinct key and all
// 200 must be present afterwards.
func TestNoLostUpdatesBackends(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			store, _ := h.open(t)
			// Two middlewares over one store behave like two processes
			// behind a load balancer: their writes really conflict.
			// The budget is generous: this test is about lost updates,
			// and 200 writers queued on one session of a slow server
			// (FerretDB under -race on a busy machine) may take more than
			// the default second each.
			var engines []http.Handler
			for range 2 {
				mw, err := NewMiddleware(Options{Store: store, StoreTimeout: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { mw.Close() })
				r := gin.New()
				r.Use(mw.Handler())
				concurrencyRoutes(r)
				engines = append(engines, r)
			}
			noLostUpdates(t, 200, engines...)
		})
	}
}

// TestFaultsBackends takes each networked backend's server away under a load
// of concurrent requests, hung (SIGSTOP) and gone (SIGKILL): every request
// must be answered (503 by default) within the store timeout plus a margin,
// goroutines must not pile up, and service must resume once the server is
// back.
func TestFaultsBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("fault tests are slow; run without -short")
	}
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			store, ctl := h.open(t)
			if ctl == nil {
				t.Skip("in-process backend: no server to take away")
			}
			const timeout = 500 * time.Millisecond
			mw, err := NewMiddleware(Options{Store: store, StoreTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mw.Close() })
			r := gin.New()
			r.Use(mw.Handler())
			concurrencyRoutes(r)
			srv := httptest.NewServer(r)
			t.Cleanup(srv.Close)
			client := &http.Client{Timeout: 30 * time.Second}
			t.Cleanup(client.CloseIdleConnections)

			status := func(path, cookie string) (int, time.Duration) {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return 0, time.Since(start)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, time.Since(start)
			}
			req, _ := http.NewRequest("GET", srv.URL+"/init", nil)
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("init: %v %v", err, resp)
			}
			resp.Body.Close()
			cookie := resp.Cookies()[0].Name + "=" + resp.Cookies()[0].Value
			client.CloseIdleConnections()
			baseline := runtime.NumGoroutine()

			// load sends requests from 16 goroutines for d and checks each answer.
			load := func(d time.Duration) (ok, unavailable int) {
				var mu sync.Mutex
				var wg sync.WaitGroup
				stop := time.Now().Add(d)
				for g := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; time.Now().Before(stop); i++ {
							code, took := status(fmt.Sprintf("/k/%d-%d", g, i), cookie)
							if limit := 2*timeout + 2*time.Second; took > limit {
								t.Errorf("a request took %v, over %v", took, limit)
							}
							mu.Lock()
							switch code {
							case 200:
								ok++
							case 503:
								unavailable++
							default:
								t.Errorf("status %d", code)
							}
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				return ok, unavailable
			}
			recovered := func(what string) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					if code, _ := status("/k/recovered", cookie); code == 200 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("service did not resume after %s", what)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}

			if ok, _ := load(300 * time.Millisecond); ok == 0 {
				t.Fatal("no request succeeded before the fault")
			}

			ctl.Pause(t)
			_, unavailable := load(1500 * time.Millisecond)
			ctl.Resume(t)
			if unavailable == 0 {
				t.Error("a hung server produced no 503")
			}
			recovered("SIGCONT")

			ctl.Kill(t)
			_, unavailable = load(1500 * time.Millisecond)
			if unavailable == 0 {
				t.Error("a dead server produced no 503")
			}
			ctl.Restart(t)
			recovered("restart")

			client.CloseIdleConnections()
			deadline := time.Now().Add(10 * time.Second)
			for runtime.NumGoroutine() > baseline+32 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > baseline+32 {
				t.Errorf("goroutines grew from %d to %d", baseline, n)
			}
		})
	}
}

func init() {
	registerHarness(harness{
		name: "memory",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			s := memstore.New(memstore.Options{})
			t.Cleanup(func() { s.Close() })
			return s, nil
		},
	})
}
