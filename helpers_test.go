package ginsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
)

func init() { gin.SetMode(gin.TestMode) }

// countingStore wraps a store and counts the calls the core makes. It
// forwards the optional interfaces of the wrapped store.
type countingStore struct {
	inner                                     backends.Store
	loads, saves, deletes, touches, lvs, sifs atomic.Int64
	fail                                      atomic.Pointer[error] // when set, every call returns it
}

func (c *countingStore) err() error {
	if p := c.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *countingStore) total() int64 {
	return c.loads.Load() + c.saves.Load() + c.deletes.Load() + c.touches.Load() + c.lvs.Load() + c.sifs.Load()
}

func (c *countingStore) Load(ctx context.Context, key string) ([]byte, bool, error) {
	c.loads.Add(1)
	if err := c.err(); err != nil {
		return nil, false, err
	}
	return c.inner.Load(ctx, key)
}

func (c *countingStore) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	c.saves.Add(1)
	if err := c.err(); err != nil {
		return err
	}
	return c.inner.Save(ctx, key, data, ttl)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	if err := c.err(); err != nil {
		return err
	}
	return c.inner.Delete(ctx, key)
}

// casCountingStore adds Touch and compare-and-swap.
type casCountingStore struct{ *countingStore }

func (c casCountingStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	c.touches.Add(1)
	if err := c.err(); err != nil {
		return err
	}
	return c.inner.(backends.Toucher).Touch(ctx, key, ttl)
}

func (c casCountingStore) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	c.lvs.Add(1)
	if err := c.err(); err != nil {
		return backends.Record{}, err
	}
	return c.inner.(backends.CompareAndSwapper).LoadVersion(ctx, key, refresh)
}

func (c casCountingStore) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	c.sifs.Add(1)
	if err := c.err(); err != nil {
		return err
	}
	return c.inner.(backends.CompareAndSwapper).SaveIf(ctx, key, data, version, ttl)
}

// testApp is a gin engine behind the middleware, over a counted memory store.
type testApp struct {
	t      *testing.T
	engine *gin.Engine
	mw     *Middleware
	mem    *memstore.Store
	count  *countingStore
}

// newTestApp builds an app. plain selects a store without Touch and CAS.
func newTestApp(t *testing.T, opts Options, plain bool, routes func(r *gin.Engine)) *testApp {
	t.Helper()
	mem := memstore.New(memstore.Options{})
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
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	routes(r)
	return &testApp{t: t, engine: r, mw: mw, mem: mem, count: cs}
}

// do sends a request with an optional Cookie header.
func (a *testApp) do(method, path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	a.engine.ServeHTTP(w, req)
	return w
}

// cookieOf returns "name=value" from the response's session Set-Cookie.
func cookieOf(w *httptest.ResponseRecorder, name string) string {
	for _, sc := range w.Result().Header["Set-Cookie"] {
		if strings.HasPrefix(sc, name+"=") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	return ""
}

// stored returns the stored value of a sid in the app's memory store.
func (a *testApp) stored(sid string) ([]byte, bool) {
	a.t.Helper()
	b, ok, err := a.mem.Load(context.Background(), a.mw.key(sid))
	if err != nil {
		a.t.Fatal(err)
	}
	return b, ok
}

func okHandler(c *gin.Context) { c.String(http.StatusOK, "ok") }
