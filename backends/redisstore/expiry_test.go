package redisstore_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
)

// countHook counts the PTTL commands a client sends alone and the
// pipelines of PTTLs (connection set-up commands are not counted).
type countHook struct{ cmds, pipelines atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "pttl" {
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "pttl" {
			h.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestExpiriesPipelined: a page of keys costs one round trip (a pipeline of
// PTTLs), not one per key.
func TestExpiriesPipelined(t *testing.T) {
	t.Parallel()
	c := singleClient(t, 0, true)
	h := &countHook{}
	c.AddHook(h)
	st := redisstore.New(c, redisstore.Options{})
	p := prefix(t)
	keys := make([]string, 600)
	for i := range keys {
		keys[i] = p + itoa(i)
	}
	if err := st.Save(ctx(t), keys[0], []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	h.cmds.Store(0)
	h.pipelines.Store(0)
	got, err := st.Expiries(ctx(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	if cmds, pipes := h.cmds.Load(), h.pipelines.Load(); cmds != 0 || pipes != 2 {
		t.Errorf("Expiries of 600 keys sent %d commands and %d pipelines; want 0 and 2 (500 keys a page)", cmds, pipes)
	}
	if d := time.Until(got[0]); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("expiry in %v; want about an hour", d)
	}
	for i, at := range got[1:] {
		if !at.IsZero() {
			t.Fatalf("key %d was never saved but expires at %v", i+1, at)
		}
	}
	// A key without a TTL (written by someone else) has no expiry to show.
	if err := c.Set(ctx(t), keys[1], "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Expiries(ctx(t), keys[1:2]); err != nil || !got[0].IsZero() {
		t.Errorf("Expiries of a key without a TTL = %v, %v; want the zero time", got, err)
	}
	c.Del(ctx(t), keys[0], keys[1])
}

// TestKeysSkipUserIndexes: with an empty SESSION_KEY_PREFIX, SCAN's
// pattern matches the user indexes too; Keys lists the sessions only.
func TestKeysSkipUserIndexes(t *testing.T) {
	t.Parallel()
	c := singleClient(t, ownDB(t), true)
	st := redisstore.New(c, redisstore.Options{})
	if err := st.Save(ctx(t), "sid1", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.LinkUser(ctx(t), "alice", "sid1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx(t), redisstore.UserIndexPrefix+"alice").Result(); err != nil || n != 1 {
		t.Fatalf("the user index is not where the test looks: EXISTS = %d, %v", n, err)
	}
	keys, err := st.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"sid1"}) {
		t.Fatalf("Keys = %q; want only the session", keys)
	}
	var _ backends.Lister = st
}
