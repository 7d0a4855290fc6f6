package memstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// linkCount returns the number of links held.
func (st *state) linkCount() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	n := 0
	for _, links := range st.users {
		n += len(links)
	}
	return n
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestUserIndexPrunesGoneSessions: a link to a session that expired (or
// was deleted) does not live on until the link's own, longer, expiry; it
// is pruned on read and by Cleanup, once past the grace that covers a link
// made just before its session's first save.
func TestUserIndexPrunesGoneSessions(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := New(Options{Now: clk.Now, JanitorInterval: -1})
	defer s.Close()

	const life = time.Hour
	for _, k := range []string{"s:a", "s:b", "s:c"} {
		if err := s.LinkUser(ctx, "alice", k, 2*life); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LinkUser(ctx, "bob", "s:d", 2*life); err != nil {
		t.Fatal(err)
	}
	// Not saved yet: within the grace the links stay (the engine links
	// before it saves).
	if keys, _ := s.UserKeys(ctx, "alice"); len(keys) != 3 {
		t.Fatalf("UserKeys before the first save = %q; want the 3 fresh links", keys)
	}
	for _, k := range []string{"s:a", "s:b"} {
		if err := s.Save(ctx, k, []byte("v"), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(ctx, "s:c", []byte("v"), life); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "s:d", []byte("v"), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "s:b"); err != nil {
		t.Fatal(err)
	}
	clk.add(20 * time.Minute) // s:a and s:d expired, s:b deleted, s:c live

	keys, err := s.UserKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"s:c"}) {
		t.Fatalf("UserKeys(alice) = %q; want only the live session s:c", keys)
	}
	if n := s.s.linkCount(); n != 2 {
		t.Fatalf("%d links held after the read; want 2 (alice's s:c, bob's s:d not read yet)", n)
	}
	if _, err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.s.linkCount(); n != 1 {
		t.Fatalf("%d links held after Cleanup; want 1 (bob's expired session pruned)", n)
	}
	if _, ok := s.s.users["bob"]; ok {
		t.Error("a user without links is still in the index after Cleanup")
	}

	// Relinking after the grace keeps a live session's link.
	clk.add(30 * time.Minute) // s:c still live (50 of its 60 minutes)
	if keys, _ := s.UserKeys(ctx, "alice"); !slices.Equal(keys, []string{"s:c"}) {
		t.Fatalf("UserKeys(alice) = %q; want s:c", keys)
	}
	clk.add(11 * time.Minute) // s:c expired too
	if keys, _ := s.UserKeys(ctx, "alice"); len(keys) != 0 {
		t.Fatalf("UserKeys(alice) after every session expired = %q; want none", keys)
	}
	if n := s.s.linkCount(); n != 0 {
		t.Fatalf("%d links held; want 0", n)
	}
}

// TestUserIndexJanitorPrunes: the janitor prunes links as Cleanup does.
func TestUserIndexJanitorPrunes(t *testing.T) {
	ctx := context.Background()
	s := New(Options{JanitorInterval: 10 * time.Millisecond})
	defer s.Close()
	if err := s.LinkUser(ctx, "alice", "s:a", time.Hour); err != nil {
		t.Fatal(err)
	}
	// A link older than the grace whose session never came: backdate it.
	s.s.mu.Lock()
	l := s.s.users["alice"]["s:a"]
	l.at = l.at.Add(-2 * linkGrace)
	s.s.users["alice"]["s:a"] = l
	s.s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for s.s.linkCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the janitor did not prune a link to a missing session within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
