package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestRoundTrips counts the commands each store call sends, with a go-redis
// hook, on a single node and on the cluster: every call is one command.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return singleClient(t, 0, true) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return clusterClient(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client(t)
			rec := &recorder{}
			c.AddHook(rec)
			st := redisstore.New(c, redisstore.Options{})
			key := prefix(t) + "rt"
			const life = time.Hour
			ops := []struct {
				name string
				want string
				fn   func() error
			}{
				{"new session: SaveIf(nil)", "set", func() error { return st.SaveIf(ctx(t), key, []byte("v0"), nil, life) }},
				{"read + refresh: LoadVersion(refresh)", "getex", func() error {
					r, err := st.LoadVersion(ctx(t), key, life)
					if err == nil && (!r.Found || !r.Refreshed) {
						err = errors.New("not found or not refreshed")
					}
					return err
				}},
				{"write: SaveIf(version)", "evalsha", func() error {
					r, _ := st.LoadVersion(ctx(t), key, 0)
					rec.take() // count the write alone
					return st.SaveIf(ctx(t), key, []byte("v1"), r.Version, life)
				}},
				{"touch", "expire", func() error { return st.Touch(ctx(t), key, life) }},
				{"load", "get", func() error { _, _, err := st.Load(ctx(t), key); return err }},
				{"save", "set", func() error { return st.Save(ctx(t), key, []byte("v2"), life) }},
				{"delete", "del", func() error { return st.Delete(ctx(t), key) }},
			}
			// Warm up: connections, cluster slots, the script cache.
			for _, op := range ops {
				if err := op.fn(); err != nil {
					t.Fatalf("warm-up %s: %v", op.name, err)
				}
			}
			for _, op := range ops {
				rec.take()
				if err := op.fn(); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				trips, cmds := rec.take()
				if trips != 1 || !slices.Equal(names(cmds), []string{op.want}) {
					t.Errorf("%s: %d round trips %v; want 1 (%s)", op.name, trips, names(cmds), op.want)
				}
			}
		})
	}
}

// TestServerDown: with the server killed or frozen, every call returns an
// error by its context's deadline, with or without ContextTimeoutEnabled;
// after a restart the same store works again.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := testserver.StartRedis(t)
	for _, ctxTimeout := range []bool{true, false} {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: ctxTimeout})
		defer c.Close()
		st := redisstore.New(c, redisstore.Options{})
		if err := st.Save(ctx(t), "down", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		rec, err := st.LoadVersion(ctx(t), "down", 0)
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]func(context.Context) error{
			"Load":        func(c context.Context) error { _, _, err := st.Load(c, "down"); return err },
			"LoadVersion": func(c context.Context) error { _, err := st.LoadVersion(c, "down", time.Minute); return err },
			"Save":        func(c context.Context) error { return st.Save(c, "down", []byte("w"), time.Minute) },
			"SaveIf":      func(c context.Context) error { return st.SaveIf(c, "down", []byte("w"), rec.Version, time.Minute) },
			"SaveIf(nil)": func(c context.Context) error { return st.SaveIf(c, "down2", []byte("w"), nil, time.Minute) },
			"Touch":       func(c context.Context) error { return st.Touch(c, "down", time.Minute) },
			"Delete":      func(c context.Context) error { return st.Delete(c, "down") },
			"Keys":        func(c context.Context) error { _, err := st.Keys(c); return err },
		}
		const deadline = 300 * time.Millisecond
		const slack = 200 * time.Millisecond
		try := func(state string) {
			t.Helper()
			for name, fn := range calls {
				c, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				err := fn(c)
				took := time.Since(start)
				cancel()
				if err == nil {
					t.Errorf("ContextTimeoutEnabled=%v, server %s: %s succeeded", ctxTimeout, state, name)
				}
				if took > deadline+slack {
					t.Errorf("ContextTimeoutEnabled=%v, server %s: %s took %v; deadline %v", ctxTimeout, state, name, took, deadline)
				}
			}
		}
		srv.Pause(t)
		try("paused")
		srv.Resume(t)
		srv.Kill(t)
		try("killed")
		srv.Restart(t)
		var lastErr error
		for range 50 { // pooled connections to the old process fail once
			if lastErr = st.Save(ctx(t), "down", []byte("back"), time.Minute); lastErr == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if lastErr != nil {
			t.Fatalf("after restart: %v", lastErr)
		}
		if v, found, err := st.Load(ctx(t), "down"); err != nil || !found || string(v) != "back" {
			t.Fatalf("after restart: %q, %v, %v", v, found, err)
		}
		var _ backends.Store = st
	}
}
