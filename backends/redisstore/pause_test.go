package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestClientPauseWrite documents what CLIENT PAUSE … WRITE (a Redis
// maintenance or a manual failover) does to sessions: a read with refresh
// (GETEX, a write command) waits for the pause like any write and ends at
// its deadline; a read without refresh (GET) is answered at once.
func TestClientPauseWrite(t *testing.T) {
	t.Parallel()
	srv := testserver.StartRedis(t)
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis://" + srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*redisstore.Store).Close()
	cas := st.(backends.CompareAndSwapper)
	if err := st.Save(ctx(t), "pause:k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := testserver.RedisCommand(srv.Addr, "CLIENT", "PAUSE", "5000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	defer testserver.RedisCommand(srv.Addr, "CLIENT", "UNPAUSE")

	short := func() context.Context {
		c, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if rec, err := cas.LoadVersion(short(), "pause:k", 0); err != nil || string(rec.Data) != "v" {
		t.Fatalf("GET during CLIENT PAUSE WRITE: %q %v", rec.Data, err)
	}
	if _, _, err := st.Load(short(), "pause:k"); err != nil {
		t.Fatalf("Load during CLIENT PAUSE WRITE: %v", err)
	}
	if _, err := cas.LoadVersion(short(), "pause:k", time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GETEX during CLIENT PAUSE WRITE: %v, want the deadline", err)
	}
	if err := st.Save(short(), "pause:k", []byte("w"), time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SET during CLIENT PAUSE WRITE: %v, want the deadline", err)
	}
	if _, err := testserver.RedisCommand(srv.Addr, "CLIENT", "UNPAUSE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	v, _ := testserver.RedisCommand(srv.Addr, "GET", "pause:k")
	t.Logf("after the pause the key holds %q (the SET that timed out %s)", v, map[bool]string{true: "was applied", false: "was dropped"}[v == "w"])
}
