package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gin-contrib/sessions"
	gcmemcached "github.com/gin-contrib/sessions/memcached"
	gcmemstore "github.com/gin-contrib/sessions/memstore"
	gcredis "github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/backends/redisstore"
)

// Library names, as printed.
const (
	libFloor      = "floor (raw client)"
	libBare       = "bare gin"
	libGinsession = "ginsession"
	libGinContrib = "gin-contrib/sessions"
	libSCS        = "scs"
	libSCSRedigo  = "scs + redigo"
)

var workloads = []string{"none", "read", "write", "new"}

// lifetime is the session lifetime every library is given: 7 days rather
// than Flask's 31, because gorilla-sessions-memcache (gin-contrib's memcached
// store) sends MaxAge as a relative expiry, which memcached reads as an
// absolute Unix time above 30 days, so that store would never find a
// session again.
const lifetime = 7 * 24 * time.Hour

// poolSize is every client's connection pool size (the load uses 64
// connections).
const poolSize = 64

var secret = []byte("0123456789abcdef0123456789abcdef")

func init() {
	gob.Register([]string{})
}

// target is one library over one backend, serving the workload routes.
type target struct {
	lib, backend string
	h            http.Handler
	workloads    []string
	// seed creates a session with a few keys and returns its Cookie header
	// value ("name=value").
	seed func() (string, error)
	// rt counts the client's connection writes (round trips); nil when
	// the backend is in process.
	rt    *atomic.Int64
	close func()
}

func (t *target) name() string { return t.lib + "/" + t.backend }

// seedVia serves /seed in process and returns the cookie it set.
func seedVia(h http.Handler, name string) func() (string, error) {
	return func() (string, error) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/seed", nil))
		if w.Code >= 300 {
			return "", fmt.Errorf("seed: status %d: %s", w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == name && c.Value != "" {
				return c.Name + "=" + c.Value, nil
			}
		}
		return "", errors.New("seed: no session cookie")
	}
}

func noContent(c *gin.Context) { c.Status(http.StatusNoContent) }

// ---- ginsession

func ginsessionTarget(backend string, store backends.Store, rt *atomic.Int64, closeFn func()) (*target, error) {
	mw, err := ginsession.NewMiddleware(ginsession.Options{Store: store, Lifetime: lifetime})
	if err != nil {
		return nil, err
	}
	r := gin.New()
	r.Use(mw.Handler())
	r.GET("/none", noContent)
	r.GET("/read", func(c *gin.Context) {
		ginsession.Default(c).GetString("user")
		noContent(c)
	})
	r.GET("/write", func(c *gin.Context) {
		s := ginsession.Default(c)
		n, _ := s.GetInt("n")
		s.Set("n", n+1)
		noContent(c)
	})
	r.GET("/new", func(c *gin.Context) {
		ginsession.Default(c).Set("user", "alice")
		noContent(c)
	})
	r.GET("/seed", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Set("user", "alice")
		s.Set("user_id", 42)
		s.Set("n", 0)
		s.Set("cart", []any{"apple", "pear"})
		noContent(c)
	})
	return &target{lib: libGinsession, backend: backend, h: r, workloads: workloads, seed: seedVia(r, "session"), rt: rt,
		close: func() { mw.Close(); closeFn() }}, nil
}

// ---- gin-contrib/sessions

func ginContribTarget(backend string, store sessions.Store, rt *atomic.Int64, closeFn func()) *target {
	store.Options(sessions.Options{Path: "/", MaxAge: int(lifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	r := gin.New()
	r.Use(sessions.Sessions("session", store))
	r.GET("/none", noContent)
	r.GET("/read", func(c *gin.Context) {
		_, _ = sessions.Default(c).Get("user").(string)
		noContent(c)
	})
	r.GET("/write", func(c *gin.Context) {
		s := sessions.Default(c)
		n, _ := s.Get("n").(int)
		s.Set("n", n+1)
		if err := s.Save(); err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		noContent(c)
	})
	r.GET("/new", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user", "alice")
		if err := s.Save(); err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		noContent(c)
	})
	r.GET("/seed", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user", "alice")
		s.Set("user_id", 42)
		s.Set("n", 0)
		s.Set("cart", []string{"apple", "pear"})
		if err := s.Save(); err != nil {
			c.String(http.StatusInternalServerError, "%v", err)
			return
		}
		noContent(c)
	})
	return &target{lib: libGinContrib, backend: backend, h: r, workloads: workloads, seed: seedVia(r, "session"), rt: rt, close: closeFn}
}

// ---- scs (net/http middleware around the gin engine, as scs is used with gin)

func scsTarget(lib, backend string, store scs.Store, rt *atomic.Int64, closeFn func()) *target {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = lifetime
	sm.Cookie.Name = "session"
	sm.Cookie.Persist = true
	r := gin.New()
	r.GET("/none", noContent)
	r.GET("/read", func(c *gin.Context) {
		sm.GetString(c.Request.Context(), "user")
		noContent(c)
	})
	r.GET("/write", func(c *gin.Context) {
		ctx := c.Request.Context()
		sm.Put(ctx, "n", sm.GetInt(ctx, "n")+1)
		noContent(c)
	})
	r.GET("/new", func(c *gin.Context) {
		sm.Put(c.Request.Context(), "user", "alice")
		noContent(c)
	})
	r.GET("/seed", func(c *gin.Context) {
		ctx := c.Request.Context()
		sm.Put(ctx, "user", "alice")
		sm.Put(ctx, "user_id", 42)
		sm.Put(ctx, "n", 0)
		sm.Put(ctx, "cart", []string{"apple", "pear"})
		noContent(c)
	})
	h := sm.LoadAndSave(r)
	return &target{lib: lib, backend: backend, h: h, workloads: workloads, seed: seedVia(h, "session"), rt: rt, close: closeFn}
}

// ---- floors: the minimal round trips of a correct session implementation,
// no session library, no encoding (the stored bytes are opaque):
//   none  = nothing
//   read  = one load that also refreshes the expiry (redis GETEX, memcached gat)
//   write = load + store (GET + SET EX; get + set)
//   new   = store of a fresh random id (SET EX; set) and its Set-Cookie

// seedBlob is what ginsession stores for the seeded session (msgpack of
// {_permanent: true, user: alice, user_id: 42, n: 0, cart: [apple, pear]}).
var seedBlob = []byte("\x85\xaa_permanent\xc3\xa4user\xa5alice\xa7user_id\x2a\xa1n\x00\xa4cart\x92\xa5apple\xa4pear")

// newBlob is what ginsession stores on a first visit.
var newBlob = []byte("\x82\xaa_permanent\xc3\xa4user\xa5alice")

const floorPrefix = "floor:"

func newSID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func floorCookie(sid string) string {
	return "session=" + sid + "; Expires=" + time.Now().Add(lifetime).UTC().Format(http.TimeFormat) + "; HttpOnly; Path=/; SameSite=Lax"
}

// floorOps are one backend's raw operations.
type floorOps struct {
	getTouch func(ctx context.Context, key string) ([]byte, bool, error)
	get      func(ctx context.Context, key string) ([]byte, bool, error)
	set      func(ctx context.Context, key string, val []byte) error
}

func floorTarget(backend string, ops floorOps, rt *atomic.Int64, closeFn func()) *target {
	sid := func(c *gin.Context) (string, bool) {
		v, err := c.Cookie("session")
		return v, err == nil && len(v) == 43
	}
	fail := func(c *gin.Context, err error) { c.AbortWithStatus(http.StatusServiceUnavailable) }
	r := gin.New()
	r.GET("/none", noContent)
	r.GET("/read", func(c *gin.Context) {
		if id, ok := sid(c); ok {
			if _, _, err := ops.getTouch(c.Request.Context(), floorPrefix+id); err != nil {
				fail(c, err)
				return
			}
		}
		noContent(c)
	})
	r.GET("/write", func(c *gin.Context) {
		id, ok := sid(c)
		if !ok {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		ctx := c.Request.Context()
		v, found, err := ops.get(ctx, floorPrefix+id)
		if err == nil && found {
			err = ops.set(ctx, floorPrefix+id, v)
		}
		if err != nil {
			fail(c, err)
			return
		}
		noContent(c)
	})
	r.GET("/new", func(c *gin.Context) {
		id := newSID()
		if err := ops.set(c.Request.Context(), floorPrefix+id, newBlob); err != nil {
			fail(c, err)
			return
		}
		c.Header("Set-Cookie", floorCookie(id))
		noContent(c)
	})
	seed := func() (string, error) {
		id := newSID()
		if err := ops.set(context.Background(), floorPrefix+id, seedBlob); err != nil {
			return "", err
		}
		return "session=" + id, nil
	}
	return &target{lib: libFloor, backend: backend, h: r, workloads: workloads, seed: seed, rt: rt, close: closeFn}
}

func bareTarget() *target {
	r := gin.New()
	r.GET("/none", noContent)
	return &target{lib: libBare, backend: "-", h: r, workloads: []string{"none"}, seed: func() (string, error) { return "session=x", nil }, close: func() {}}
}

// ---- construction per backend

func newGoRedis(addr string, rt *atomic.Int64) *redis.Client {
	o, err := redisstore.ParseURL("redis://" + addr + "/0")
	if err != nil {
		panic(err)
	}
	o.Single.PoolSize = poolSize
	o.Single.Dialer = countingDial(rt)
	return redis.NewClient(o.Single)
}

func newMemcache(addr string, rt *atomic.Int64) *memcache.Client {
	c := memcache.New(addr)
	c.MaxIdleConns = poolSize
	c.Timeout = time.Second
	c.DialContext = countingDial(rt)
	return c
}

func newRedigoPool(addr string, rt *atomic.Int64, testOnBorrow bool) *redigo.Pool {
	p := &redigo.Pool{
		MaxIdle:     poolSize,
		IdleTimeout: 240 * time.Second,
		Dial: func() (redigo.Conn, error) {
			return redigo.Dial("tcp", addr, redigo.DialContextFunc(countingDial(rt)))
		},
	}
	if testOnBorrow { // as redistore.NewRediStore (gin-contrib's redis.NewStore) builds its pool
		p.TestOnBorrow = func(c redigo.Conn, _ time.Time) error {
			_, err := c.Do("PING")
			return err
		}
	}
	return p
}

func redisTargets(addr string) ([]*target, error) {
	var ts []*target
	{
		rt := new(atomic.Int64)
		c := newGoRedis(addr, rt)
		ts = append(ts, floorTarget("redis", floorOps{
			getTouch: func(ctx context.Context, key string) ([]byte, bool, error) {
				return redisBytes(c.GetEx(ctx, key, lifetime).Bytes())
			},
			get: func(ctx context.Context, key string) ([]byte, bool, error) {
				return redisBytes(c.Get(ctx, key).Bytes())
			},
			set: func(ctx context.Context, key string, val []byte) error {
				return c.Set(ctx, key, val, lifetime).Err()
			},
		}, rt, func() { c.Close() }))
	}
	{
		rt := new(atomic.Int64)
		c := newGoRedis(addr, rt)
		t, err := ginsessionTarget("redis", redisstore.New(c, redisstore.Options{KeyPrefix: "session:"}), rt, func() { c.Close() })
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	{
		rt := new(atomic.Int64)
		pool := newRedigoPool(addr, rt, true)
		st, err := gcredis.NewStoreWithPool(pool, secret)
		if err != nil {
			return nil, err
		}
		ts = append(ts, ginContribTarget("redis", st, rt, func() { pool.Close() }))
	}
	{
		rt := new(atomic.Int64)
		c := newGoRedis(addr, rt)
		ts = append(ts, scsTarget(libSCS, "redis", goredisstore.New(c), rt, func() { c.Close() }))
	}
	{
		rt := new(atomic.Int64)
		pool := newRedigoPool(addr, rt, false)
		ts = append(ts, scsTarget(libSCSRedigo, "redis", &scsRedigoStore{pool: pool, prefix: "scs:session:"}, rt, func() { pool.Close() }))
	}
	return ts, nil
}

func redisBytes(b []byte, err error) ([]byte, bool, error) {
	if err == redis.Nil {
		return nil, false, nil
	}
	return b, err == nil, err
}

func memcachedTargets(addr string) ([]*target, error) {
	var ts []*target
	{
		rt := new(atomic.Int64)
		c := newMemcache(addr, rt)
		mc := func(it *memcache.Item, err error) ([]byte, bool, error) {
			if errors.Is(err, memcache.ErrCacheMiss) {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			return it.Value, true, nil
		}
		exp := func() int32 { return int32(lifetime / time.Second) }
		ts = append(ts, floorTarget("memcached", floorOps{
			getTouch: func(_ context.Context, key string) ([]byte, bool, error) { return mc(c.GetAndTouch(key, exp())) },
			get:      func(_ context.Context, key string) ([]byte, bool, error) { return mc(c.Get(key)) },
			set: func(_ context.Context, key string, val []byte) error {
				return c.Set(&memcache.Item{Key: key, Value: val, Expiration: exp()})
			},
		}, rt, func() { c.Close() }))
	}
	{
		rt := new(atomic.Int64)
		c := newMemcache(addr, rt)
		if st := ginsessionMemcachedStore(c); st != nil {
			t, err := ginsessionTarget("memcached", st, rt, func() { c.Close() })
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
		}
	}
	{
		rt := new(atomic.Int64)
		c := newMemcache(addr, rt)
		ts = append(ts, ginContribTarget("memcached", gcmemcached.NewStore(c, "gc:", secret), rt, func() { c.Close() }))
	}
	{
		rt := new(atomic.Int64)
		c := newMemcache(addr, rt)
		ts = append(ts, scsTarget(libSCS, "memcached", &scsMemcachedStore{c: c, prefix: "scs:session:"}, rt, func() { c.Close() }))
	}
	return ts, nil
}

func memoryTargets() ([]*target, error) {
	var ts []*target
	{
		f := &memFloor{m: map[string][]byte{}}
		ts = append(ts, floorTarget("memory", floorOps{
			getTouch: func(_ context.Context, key string) ([]byte, bool, error) { v, ok := f.get(key); return v, ok, nil },
			get:      func(_ context.Context, key string) ([]byte, bool, error) { v, ok := f.get(key); return v, ok, nil },
			set: func(_ context.Context, key string, val []byte) error {
				f.set(key, append([]byte(nil), val...))
				return nil
			},
		}, nil, func() {}))
	}
	{
		st := memstore.New(memstore.Options{})
		t, err := ginsessionTarget("memory", st, nil, func() { st.Close() })
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	ts = append(ts, ginContribTarget("memory", gcmemstore.NewStore(secret), nil, func() {}))
	sm := scsmem.NewWithCleanupInterval(time.Minute)
	ts = append(ts, scsTarget(libSCS, "memory", sm, nil, func() { sm.StopCleanup() }))
	return ts, nil
}

// shortLib abbreviates names for -only matching.
func matchName(t *target, wl string) string {
	return strings.ReplaceAll(t.lib+"/"+t.backend+"/"+wl, " ", "")
}
