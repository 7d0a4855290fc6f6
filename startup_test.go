package ginsession

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/internal/testserver"
)

// TestStartWithServerDown checks the start-up policy on every backend with
// a server (DynamoDB as dynalite) (docs/backends.md, "Start-up"): with its server stopped,
// NewMiddleware returns within OpenTimeout, requests that use the session
// get the ErrorHandler's 503 and routes that do not are served; once the
// server is started, sessions work, schema and indexes included, with no
// restart of the app.
func TestStartWithServerDown(t *testing.T) {
	cases := []struct {
		name  string
		start func(t *testing.T) (Options, testserver.Controller)
	}{
		{"redis", func(t *testing.T) (Options, testserver.Controller) {
			r := testserver.StartRedis(t)
			return Options{Type: "redis", Redis: "redis://" + r.Addr}, r
		}},
		{"memcached", func(t *testing.T) (Options, testserver.Controller) {
			m := testserver.StartMemcached(t, testserver.MemcachedOptions{})
			return Options{Type: "memcached", Memcached: m.Addr}, m
		}},
		{"mongodb", func(t *testing.T) (Options, testserver.Controller) {
			m := testserver.FerretDB(t)
			return Options{Type: "mongodb", MongoDB: m.URI}, m
		}},
		{"sqlalchemy-postgres", func(t *testing.T) (Options, testserver.Controller) {
			pg := testserver.StartPostgres(t)
			return Options{Type: "sqlalchemy", SQLAlchemy: pg.URL(pg.NewDatabase(t))}, pg
		}},
		{"sqlalchemy-mariadb", func(t *testing.T) (Options, testserver.Controller) {
			m := testserver.StartMariaDB(t)
			return Options{Type: "sqlalchemy", SQLAlchemy: m.URL(m.NewDatabase(t))}, m
		}},
		{"dynamodb", func(t *testing.T) (Options, testserver.Controller) {
			d := testserver.StartDynalite(t)
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			return Options{Type: "dynamodb", DynamoDB: d.Endpoint}, d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, ctl := tc.start(t)
			ctl.Kill(t)
			opts.OpenTimeout = time.Second
			opts.StoreTimeout = time.Second
			opts.Logger = quietLogger
			start := time.Now()
			mw, err := NewMiddleware(opts)
			if err != nil {
				t.Fatalf("NewMiddleware with the server down = %v; want a middleware", err)
			}
			t.Cleanup(func() { mw.Close() })
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("NewMiddleware took %v with an OpenTimeout of 1s", took)
			}
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.Use(mw.Handler())
			r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
			r.GET("/set", func(c *gin.Context) { Default(c).Set("user", "alice"); c.String(http.StatusOK, "set") })
			r.GET("/get", func(c *gin.Context) { v, _ := Default(c).GetString("user"); c.String(http.StatusOK, v) })
			do := func(path, cookie string) *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", path, nil)
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				return w
			}
			if w := do("/health", ""); w.Code != http.StatusOK {
				t.Errorf("/health with the server down: %d", w.Code)
			}
			if w := do("/set", ""); w.Code != http.StatusServiceUnavailable {
				t.Errorf("/set with the server down: %d %s; want 503", w.Code, w.Body)
			}

			ctl.Restart(t)
			deadline := time.Now().Add(30 * time.Second)
			var w *httptest.ResponseRecorder
			for {
				w = do("/set", "")
				if w.Code == http.StatusOK || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if w.Code != http.StatusOK {
				t.Fatalf("/set 30s after the server started: %d %s", w.Code, w.Body)
			}
			cookie := strings.Split(w.Header().Get("Set-Cookie"), ";")[0]
			if got := do("/get", cookie); got.Code != http.StatusOK || got.Body.String() != "alice" {
				t.Fatalf("/get after the restart: %d %q; want alice", got.Code, got.Body)
			}
		})
	}
}

// TestOpenErrorsOnePrefix: a configuration a store cannot use fails
// NewMiddleware with one error that names the setting and carries the
// "ginsession:" prefix once (the MongoDB error used to repeat it three
// times).
func TestOpenErrorsOnePrefix(t *testing.T) {
	for _, tc := range []struct {
		opts    Options
		mention string
	}{
		{Options{Type: "redis", Redis: "127.0.0.1:6379"}, "SESSION_REDIS"},
		{Options{Type: "memcached", Memcached: "127.0.0.1"}, "SESSION_MEMCACHED"},
		{Options{Type: "mongodb", MongoDB: "postgres://nope"}, "SESSION_MONGODB"},
		{Options{Type: "sqlalchemy", SQLAlchemy: "flask_session.db"}, "SESSION_SQLALCHEMY"},
		{Options{Type: "filesystem", FileDir: t.TempDir(), FileMode: 0o644}, "SESSION_FILE_MODE"},
	} {
		tc.opts.Logger = quietLogger
		mw, err := NewMiddleware(tc.opts)
		if err == nil {
			mw.Close()
			t.Errorf("%s: NewMiddleware succeeded", tc.opts.Type)
			continue
		}
		if msg := err.Error(); strings.Count(msg, "ginsession:") != 1 || !strings.Contains(msg, tc.mention) {
			t.Errorf("%s: %q; want one prefix and %s named", tc.opts.Type, msg, tc.mention)
		}
		t.Log(err)
	}
}
