package redisstore_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func storeOn(t *testing.T, srv *testserver.Redis, logs *syncBuffer) *redisstore.Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return redisstore.New(c, redisstore.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

// wantUnsupported checks the error of a refused command: it matches
// ErrUnsupportedServer, names the command, the reply and the minimum
// version, and carries one prefix.
func wantUnsupported(t *testing.T, err error, cmd string, mentions ...string) {
	t.Helper()
	var u *redisstore.UnsupportedError
	if !errors.Is(err, redisstore.ErrUnsupportedServer) || !errors.As(err, &u) || u.Command != cmd {
		t.Fatalf("error = %v; want an UnsupportedError for %s", err, cmd)
	}
	msg := err.Error()
	for _, m := range append([]string{cmd, "Redis " + redisstore.MinServerVersion, "docs/backends/redis.md"}, mentions...) {
		if !strings.Contains(msg, m) {
			t.Errorf("error %q does not mention %q", msg, m)
		}
	}
	if strings.Count(msg, "ginsession:") != 1 {
		t.Errorf("error %q repeats its prefix", msg)
	}
	t.Logf("%s refused: %v", cmd, err)
}

// TestServerWithoutGetEx runs against a server on which GETEX does not
// exist, as on Redis before 6.2 (renamed away): a read with refresh falls
// back to GET, is not reported as refreshed (the core touches with
// EXPIRE), and the fallback is logged once.
func TestServerWithoutGetEx(t *testing.T) {
	t.Parallel()
	srv := testserver.StartRedisArgs(t, "--rename-command", "GETEX", "")
	if _, err := testserver.RedisCommand(srv.Addr, "GETEX", "x"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("GETEX on the renamed server answered %v; want unknown command", err)
	}
	logs := &syncBuffer{}
	s := storeOn(t, srv, logs)
	key := prefix(t) + "old"
	if err := s.Save(ctx(t), key, []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := s.LoadVersion(ctx(t), key, 2*time.Hour)
		if err != nil || !r.Found || r.Refreshed || string(r.Data) != "v" {
			t.Fatalf("LoadVersion without GETEX = %+v, %v; want the value, not refreshed", r, err)
		}
		if err := s.Touch(ctx(t), key, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveIf(ctx(t), key, []byte("v"), r.Version, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "has no GETEX"); n != 1 {
		t.Errorf("fallback logged %d times; want once:\n%s", n, logs)
	}
}

// TestServerRefusesScripts runs against servers that do not run the
// compare-and-swap script: EVALSHA renamed away, and an ACL that denies
// EVALSHA and EVAL. Writes of a loaded session fail with a clear error and
// change nothing; the rest works.
func TestServerRefusesScripts(t *testing.T) {
	t.Parallel()
	t.Run("renamed", func(t *testing.T) {
		t.Parallel()
		srv := testserver.StartRedisArgs(t, "--rename-command", "EVALSHA", "")
		s := storeOn(t, srv, &syncBuffer{})
		key := prefix(t) + "k"
		if err := s.SaveIf(ctx(t), key, []byte("v1"), nil, time.Hour); err != nil {
			t.Fatalf("SaveIf of a new session (SET NX) = %v", err)
		}
		r, err := s.LoadVersion(ctx(t), key, time.Hour)
		if err != nil || !r.Found {
			t.Fatal(r, err)
		}
		err = s.SaveIf(ctx(t), key, []byte("secret-value"), r.Version, time.Hour)
		wantUnsupported(t, err, "EVALSHA", "unknown command", "scripting")
		// Redis quotes the arguments in its reply: the key (a session id)
		// and the value must not reach the error.
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "secret-value") {
			t.Errorf("error %q repeats the key or the value", err)
		}
		if errors.Is(err, backends.ErrConflict) {
			t.Error("a refused script reported as a conflict (the core would retry it)")
		}
		if got, _, _ := s.Load(ctx(t), key); string(got) != "v1" {
			t.Errorf("value after the refused write = %q; want v1", got)
		}
	})
	t.Run("acl", func(t *testing.T) {
		t.Parallel()
		srv := testserver.StartRedis(t)
		s := storeOn(t, srv, &syncBuffer{})
		key := prefix(t) + "k"
		if err := s.Save(ctx(t), key, []byte("v1"), time.Hour); err != nil {
			t.Fatal(err)
		}
		r, err := s.LoadVersion(ctx(t), key, time.Hour)
		if err != nil || !r.Found {
			t.Fatal(r, err)
		}
		if reply, err := testserver.RedisCommand(srv.Addr, "ACL", "SETUSER", "default", "-evalsha", "-eval"); err != nil || reply != "OK" {
			t.Fatalf("ACL SETUSER: %q, %v", reply, err)
		}
		wantUnsupported(t, s.SaveIf(ctx(t), key, []byte("v2"), r.Version, time.Hour), "EVALSHA", "NOPERM", "scripting")
		if reply, err := testserver.RedisCommand(srv.Addr, "ACL", "SETUSER", "default", "-getex"); err != nil || reply != "OK" {
			t.Fatalf("ACL SETUSER: %q, %v", reply, err)
		}
		_, err = s.LoadVersion(ctx(t), key, time.Hour)
		wantUnsupported(t, err, "GETEX", "NOPERM")
		// Reads without refresh (GET) still work.
		if got, found, err := s.Load(ctx(t), key); err != nil || !found || string(got) != "v1" {
			t.Fatalf("Load = %q, %v, %v", got, found, err)
		}
	})
}
