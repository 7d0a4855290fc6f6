package ginsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"

	"github.com/bradfitz/gomemcache/memcache"
)

type userStore struct {
	name string
	open func(t *testing.T) backends.Store
}

// userStores are the stores with a user index, each fresh per call: these,
// and the SQL harnesses (SQLite, PostgreSQL, MariaDB) of backends_gorm_test.go.
func userStores() []userStore {
	out := slices.Clone(ownUserStores)
	for _, h := range harnesses {
		if strings.HasPrefix(h.name, "gorm-") || strings.HasPrefix(h.name, "mongodb") || strings.HasPrefix(h.name, "dynamodb") {
			out = append(out, userStore{h.name, func(t *testing.T) backends.Store { s, _ := h.open(t); return s }})
		}
	}
	return out
}

var ownUserStores = []userStore{
	{"memory", func(t *testing.T) backends.Store {
		s := memstore.New(memstore.Options{})
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"filesystem", func(t *testing.T) backends.Store {
		s, err := filestore.New(t.TempDir(), filestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"redis", func(t *testing.T) backends.Store {
		srv := testserver.SharedRedis(t)
		prefix := "users:" + strings.ReplaceAll(t.Name(), "/", "_") + ":"
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		return redisstore.New(c, redisstore.Options{KeyPrefix: prefix})
	}},
}

// userApp is an app with login (Regenerate + SetUser), whoami, regenerate
// and logout (Destroy) routes.
type userApp struct {
	t  *testing.T
	mw *Middleware
	r  *gin.Engine
}

func newUserApp(t *testing.T, store backends.Store, prefix string) *userApp {
	t.Helper()
	// A long store timeout: 200 concurrent requests queue up on FerretDB
	// (one SQLite writer); this is a test of correctness, not of speed.
	mw, err := NewMiddleware(Options{Store: store, KeyPrefix: prefix, StoreTimeout: time.Minute,
		ErrorHandler: func(c *gin.Context, err error) { c.String(http.StatusServiceUnavailable, "%v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	r.GET("/login", func(c *gin.Context) {
		s := Default(c)
		if err := s.Regenerate(); err != nil {
			c.String(500, err.Error())
			return
		}
		s.SetUser(c.Query("u"))
		s.Set("name", c.Query("u"))
		c.String(200, s.ID())
	})
	r.GET("/whoami", func(c *gin.Context) {
		s := Default(c)
		c.String(200, s.User()+"|"+strings.Join(s.Keys(), ","))
	})
	r.GET("/regen", func(c *gin.Context) {
		s := Default(c)
		s.Regenerate()
		s.Set("regenerated", true)
		c.String(200, s.ID())
	})
	r.GET("/logout", func(c *gin.Context) {
		Default(c).Destroy()
		c.String(200, "bye")
	})
	return &userApp{t: t, mw: mw, r: r}
}

// get sends a request with cookie and returns the body and the new cookie
// (the old one when none was set).
func (a *userApp) get(path, cookie string) (string, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	a.r.ServeHTTP(w, req)
	if w.Code != 200 {
		a.t.Errorf("%s: %d %s", path, w.Code, w.Body)
	}
	if c := cookieOf(w, "session"); c != "" {
		cookie = c
	}
	return w.Body.String(), cookie
}

func (a *userApp) login(user string) (sid, cookie string) {
	return a.get("/login?u="+user, "")
}

func (a *userApp) sessions(user string) []string {
	a.t.Helper()
	ids, err := a.mw.UserSessions(context.Background(), user)
	if err != nil {
		a.t.Fatalf("UserSessions(%s): %v", user, err)
	}
	return ids
}

// indexed returns the keys the store's index holds for user, raw.
func (a *userApp) indexed(user string) []string {
	a.t.Helper()
	keys, err := a.mw.Store().(backends.UserIndexer).UserKeys(context.Background(), user)
	if err != nil {
		a.t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func TestUserIndex(t *testing.T) {
	for _, st := range userStores() {
		t.Run(st.name, func(t *testing.T) {
			a := newUserApp(t, st.open(t), "s:")
			alice1, ca1 := a.login("alice")
			alice2, _ := a.login("alice")
			alice3, ca3 := a.login("alice")
			bob1, cb1 := a.login("bob")
			bob2, _ := a.login("bob")

			if got, want := a.sessions("alice"), sorted([]string{alice1, alice2, alice3}); !slices.Equal(got, want) {
				t.Fatalf("UserSessions(alice) = %v, want %v", got, want)
			}
			if body, _ := a.get("/whoami", ca1); body != "alice|name" {
				t.Fatalf("whoami = %q: the user survives a request and is hidden from Keys", body)
			}

			// Regenerate moves the index entry to the new id.
			alice3b, ca3 := a.get("/regen", ca3)
			if got, want := a.sessions("alice"), sorted([]string{alice1, alice2, alice3b}); !slices.Equal(got, want) {
				t.Fatalf("after Regenerate: %v, want %v", got, want)
			}
			if got, want := a.indexed("alice"), sorted([]string{"s:" + alice1, "s:" + alice2, "s:" + alice3b}); !slices.Equal(got, want) {
				t.Fatalf("index after Regenerate = %v, want %v (old id unlinked)", got, want)
			}
			// Destroy unlinks.
			a.get("/logout", ca1)
			if got, want := a.indexed("alice"), sorted([]string{"s:" + alice2, "s:" + alice3b}); !slices.Equal(got, want) {
				t.Fatalf("index after Destroy = %v, want %v", got, want)
			}

			// Log in as bob on alice's browser: the session moves indexes.
			_, ca3 = a.get("/login?u=bob", ca3)
			if got := a.indexed("alice"); len(got) != 1 || got[0] != "s:"+alice2 {
				t.Fatalf("alice's index after her session became bob's: %v", got)
			}

			// A Flask writer rewrites alice's remaining session (the whole
			// value, as Flask-Session does): it stays hers and revocable.
			ctx := context.Background()
			data, found, err := a.mw.Store().Load(ctx, "s:"+alice2)
			if err != nil || !found {
				t.Fatalf("load: %v %v", found, err)
			}
			if err := a.mw.Store().Save(ctx, "s:"+alice2, data, time.Hour); err != nil {
				t.Fatal(err)
			}
			n, err := a.mw.RevokeUser(context.Background(), "alice")
			if err != nil || n != 1 {
				t.Fatalf("RevokeUser(alice) = %d, %v; want 1", n, err)
			}
			if ids := a.sessions("alice"); len(ids) != 0 {
				t.Fatalf("alice still has sessions %v", ids)
			}
			if got := a.indexed("alice"); len(got) != 0 {
				t.Fatalf("alice's index not emptied: %v", got)
			}
			if _, found, _ := a.mw.Store().Load(context.Background(), "s:"+alice2); found {
				t.Fatal("a revoked session is still stored")
			}
			if got := a.sessions("bob"); len(got) != 3 {
				t.Fatalf("bob's sessions harmed: %v (had %s, %s and alice's old browser)", got, bob1, bob2)
			}
			if body, _ := a.get("/whoami", cb1); body != "bob|name" {
				t.Fatalf("bob's session harmed: %q", body)
			}
			n, err = a.mw.RevokeUser(context.Background(), "bob")
			if err != nil || n != 3 {
				t.Fatalf("RevokeUser(bob) = %d, %v", n, err)
			}
			if body, _ := a.get("/whoami", ca3); body != "|" {
				t.Fatalf("a revoked browser is still logged in: %q", body)
			}
		})
	}
}

// A stale link (the session now belongs to someone else, as after a Flask
// writer or a failed unlink) never makes RevokeUser delete another user's
// session.
func TestRevokeUserStaleLink(t *testing.T) {
	for _, st := range userStores() {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			a := newUserApp(t, store, "s:")
			erin, _ := a.login("erin")
			if err := store.(backends.UserIndexer).LinkUser(context.Background(), "mallory", "s:"+erin, 3600e9); err != nil {
				t.Fatal(err)
			}
			if ids := a.sessions("mallory"); len(ids) != 0 {
				t.Fatalf("UserSessions trusts a stale link: %v", ids)
			}
			a.mw.Store().(backends.UserIndexer).LinkUser(context.Background(), "mallory", "s:"+erin, 3600e9)
			if n, err := a.mw.RevokeUser(context.Background(), "mallory"); n != 0 || err != nil {
				t.Fatalf("RevokeUser(mallory) = %d, %v", n, err)
			}
			if got := a.sessions("erin"); len(got) != 1 || got[0] != erin {
				t.Fatalf("erin's session harmed by a stale link: %v", got)
			}
		})
	}
}

// 200 concurrent requests log in, regenerate and log out; the index ends
// exactly right, and revocation leaves no session of the revoked users.
func TestUserIndexConcurrent(t *testing.T) {
	for _, st := range userStores() {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			a := newUserApp(t, store, "s:")
			const n, users = 200, 10
			var mu sync.Mutex
			live := map[string][]string{} // user -> sids expected live
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					user := fmt.Sprintf("u%d", i%users)
					_, c := a.login(user)
					sid, c := a.get("/regen", c)
					if i%3 == 0 {
						a.get("/logout", c)
						return
					}
					mu.Lock()
					live[user] = append(live[user], sid)
					mu.Unlock()
				}()
			}
			wg.Wait()
			for u := range users {
				user := fmt.Sprintf("u%d", u)
				want := sorted(live[user])
				if got := a.sessions(user); !slices.Equal(got, want) {
					t.Fatalf("UserSessions(%s) = %d ids, want %d", user, len(got), len(want))
				}
				var keys []string
				for _, sid := range want {
					keys = append(keys, "s:"+sid)
				}
				if got := a.indexed(user); !slices.Equal(got, keys) {
					t.Fatalf("index of %s holds %d keys, want exactly its %d live sessions", user, len(got), len(keys))
				}
			}
			// Revoke half the users while the others keep working.
			var revoked atomic.Int64
			for u := 0; u < users; u += 2 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					k, err := a.mw.RevokeUser(context.Background(), fmt.Sprintf("u%d", u))
					if err != nil {
						t.Error(err)
					}
					revoked.Add(int64(k))
				}()
				go func() {
					defer wg.Done()
					a.login(fmt.Sprintf("u%d", u+1))
				}()
			}
			wg.Wait()
			want := 0
			for u := 0; u < users; u += 2 {
				want += len(live[fmt.Sprintf("u%d", u)])
				for _, sid := range live[fmt.Sprintf("u%d", u)] {
					if _, found, _ := store.Load(context.Background(), "s:"+sid); found {
						t.Fatalf("revoked session %s… still stored", sid[:8])
					}
				}
			}
			if int(revoked.Load()) != want {
				t.Fatalf("revoked %d sessions, want %d", revoked.Load(), want)
			}
			for u := 1; u < users; u += 2 {
				user := fmt.Sprintf("u%d", u)
				if got := len(a.sessions(user)); got != len(live[user])+1 {
					t.Fatalf("%s has %d sessions, want %d: another user's revocation harmed them", user, got, len(live[user])+1)
				}
			}
		})
	}
}

// The index costs one round trip when a user's session is written with a
// new key, and none on the requests that follow.
func TestUserIndexRedisRoundTrips(t *testing.T) {
	srv := testserver.SharedRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	var cmds atomic.Int64
	c.AddHook(countHook{&cmds})
	a := newUserApp(t, redisstore.New(c, redisstore.Options{}), "rt:")

	_, warm := a.login("warmup") // load the scripts
	a.get("/regen", warm)
	cmds.Store(0)
	_, anon := a.get("/regen", "") // an anonymous session: one write
	base := cmds.Load()
	cmds.Store(0)
	_, cookie := a.login("carol")
	if got := cmds.Load(); got != base+1 {
		t.Fatalf("a login costs %d round trips, want %d (the write) + 1 (the link)", got, base)
	}
	cmds.Store(0)
	a.get("/whoami", anon)
	anonRead := cmds.Load()
	cmds.Store(0)
	a.get("/whoami", cookie)
	if got := cmds.Load(); got != anonRead {
		t.Fatalf("reading a logged-in session costs %d round trips, an anonymous one %d", got, anonRead)
	}
	cmds.Store(0)
	if n, err := a.mw.RevokeUser(context.Background(), "carol"); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if got := cmds.Load(); got != 4 {
		t.Fatalf("RevokeUser of one session costs %d round trips, want 4 (list, load, delete, unlink)", got)
	}
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			h.n.Add(1) // a script's first EVALSHA is followed by EVAL: one trip counted
		}
		return err
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func TestUserIndexUnsupported(t *testing.T) {
	mc := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	a := newUserApp(t, memcachedstore.New(memcache.New(mc.Addr), memcachedstore.Options{}), "s:")
	_, cookie := a.login("dave")
	if body, _ := a.get("/whoami", cookie); body != "dave|name" {
		t.Fatalf("SetUser must work without an index: %q", body)
	}
	_, err := a.mw.RevokeUser(context.Background(), "dave")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "memcached") || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("RevokeUser on memcached: %v", err)
	}
	if _, err := a.mw.UserSessions(context.Background(), "dave"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("UserSessions on memcached: %v", err)
	}
}
