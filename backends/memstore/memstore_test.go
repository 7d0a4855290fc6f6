package memstore

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return New(Options{})
	}, storetest.Options{Granularity: 100 * time.Millisecond})
}

func TestConformanceBounded(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return New(Options{MaxEntries: 1000, JanitorInterval: -1})
	}, storetest.Options{Granularity: 100 * time.Millisecond})
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func has(t *testing.T, s *Store, key string) bool {
	t.Helper()
	_, found, err := s.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return found
}

func TestNowInjection(t *testing.T) {
	clk := newClock()
	s := New(Options{Now: clk.Now, JanitorInterval: -1})
	defer s.Close()
	ctx := t.Context()
	if err := s.Save(ctx, "a", []byte("x"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "b", []byte("y"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10*time.Second - time.Nanosecond)
	if !has(t, s, "a") {
		t.Fatal("a expired early")
	}
	clk.Advance(time.Nanosecond)
	if has(t, s, "a") {
		t.Fatal("a still found at its expiry time")
	}
	if keys, _ := s.Keys(ctx); !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("Keys = %q; want [b]", keys)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d before Cleanup; want 2 (expired entries are held until removed)", s.Len())
	}
	if err := s.Touch(ctx, "b", time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if has(t, s, "b") {
		t.Fatal("Touch did not shorten b's expiry to one minute")
	}
	n, err := s.Cleanup(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Cleanup = %d, %v; want 2, nil", n, err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len after Cleanup = %d", s.Len())
	}
}

func TestMaxEntriesEvictsSoonestExpiring(t *testing.T) {
	clk := newClock()
	s := New(Options{MaxEntries: 3, Now: clk.Now, JanitorInterval: -1})
	defer s.Close()
	ctx := t.Context()
	save := func(key string, ttl time.Duration) {
		t.Helper()
		if err := s.Save(ctx, key, []byte(key), ttl); err != nil {
			t.Fatal(err)
		}
	}
	present := func(want ...string) {
		t.Helper()
		keys, err := s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("keys = %q; want %q", keys, want)
		}
	}
	save("a", 10*time.Second)
	save("b", 5*time.Second)
	save("c", 20*time.Second)
	save("d", 30*time.Second) // full: b expires soonest
	present("a", "c", "d")
	save("a", time.Hour) // replacing never evicts
	present("a", "c", "d")
	save("e", 40*time.Second) // c is now soonest
	present("a", "d", "e")
	if err := s.Touch(ctx, "d", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	// e (40s) is now the soonest.
	if err := s.SaveIf(ctx, "f", []byte("f"), nil, 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	present("a", "d", "f")
	// An expired entry goes first even if it was saved last.
	save("a", time.Second)
	clk.Advance(2 * time.Second)
	save("g", time.Minute)
	present("d", "f", "g")
	if s.Len() != 3 {
		t.Fatalf("Len = %d; want 3", s.Len())
	}
}

func waitGoroutines(t *testing.T, cond func(n int) bool) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if cond(n) || time.Now().After(deadline) {
			return n
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJanitorStopsOnClose(t *testing.T) {
	before := waitGoroutines(t, func(int) bool { return true })
	s := New(Options{JanitorInterval: time.Millisecond})
	if n := waitGoroutines(t, func(n int) bool { return n > before }); n <= before {
		t.Fatalf("no janitor goroutine started (%d goroutines before and after New)", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := waitGoroutines(t, func(n int) bool { return n <= before }); n > before {
		t.Fatalf("%d goroutines after Close; want %d", n, before)
	}
	if err := s.Save(t.Context(), "k", nil, time.Second); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Save after Close = %v; want ErrClosed", err)
	}
}

func TestJanitorRemovesExpired(t *testing.T) {
	clk := newClock()
	s := New(Options{JanitorInterval: time.Millisecond, Now: clk.Now})
	defer s.Close()
	ctx := t.Context()
	_ = s.Save(ctx, "old", []byte("x"), time.Second)
	_ = s.Save(ctx, "new", []byte("y"), time.Hour)
	time.Sleep(20 * time.Millisecond)
	if s.Len() != 2 {
		t.Fatalf("janitor removed a live entry: Len = %d", s.Len())
	}
	clk.Advance(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.Len() != 1 || !has(t, s, "new") {
		t.Fatalf("after expiry Len = %d, new found = %v; want 1, true", s.Len(), has(t, s, "new"))
	}
}

func TestNoJanitor(t *testing.T) {
	before := waitGoroutines(t, func(int) bool { return true })
	s := New(Options{JanitorInterval: -1})
	defer s.Close()
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("JanitorInterval < 0 started a goroutine (%d > %d)", n, before)
	}
}

func TestUnclosedStoreStopsJanitorWhenCollected(t *testing.T) {
	before := waitGoroutines(t, func(int) bool { return true })
	func() {
		s := New(Options{JanitorInterval: time.Millisecond})
		_ = s.Save(t.Context(), "k", []byte("v"), time.Minute)
	}()
	if n := waitGoroutines(t, func(n int) bool { return n <= before }); n > before {
		t.Fatalf("%d goroutines after the store became unreachable; want %d", n, before)
	}
}

func TestRegistered(t *testing.T) {
	st, err := backends.Open(context.Background(), backends.Config{Type: "memory", MemoryMaxEntries: 2})
	if err != nil {
		t.Fatalf("Open(memory): %v", err)
	}
	defer st.(io.Closer).Close()
	s, ok := st.(*Store)
	if !ok {
		t.Fatalf("Open(memory) = %T", st)
	}
	for _, k := range []string{"a", "b", "c"} {
		_ = s.Save(t.Context(), k, []byte(k), time.Hour)
	}
	if s.Len() != 2 {
		t.Fatalf("MemoryMaxEntries not applied: Len = %d", s.Len())
	}
	if _, err := backends.Open(context.Background(), backends.Config{Type: "memory", MemoryMaxEntries: -1}); err == nil {
		t.Fatal("Open with MemoryMaxEntries -1 succeeded")
	}
}

func TestSaveIfForeignVersion(t *testing.T) {
	s := New(Options{JanitorInterval: -1})
	defer s.Close()
	_ = s.Save(t.Context(), "k", []byte("v"), time.Hour)
	err := s.SaveIf(t.Context(), "k", []byte("w"), "not a version", time.Hour)
	if err == nil || errors.Is(err, backends.ErrConflict) {
		t.Fatalf("SaveIf with a foreign version = %v; want a non-conflict error", err)
	}
}

func TestLoadAllocs(t *testing.T) {
	s := New(Options{JanitorInterval: -1})
	defer s.Close()
	ctx := context.Background()
	_ = s.Save(ctx, "session:abc", make([]byte, 300), time.Hour)
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = s.Load(ctx, "session:abc")
	})
	if allocs > 1 {
		t.Fatalf("Load allocates %v times; want 1 (the copy)", allocs)
	}
}

func BenchmarkLoad(b *testing.B) {
	s := New(Options{JanitorInterval: -1})
	defer s.Close()
	ctx := context.Background()
	_ = s.Save(ctx, "session:abc", make([]byte, 300), time.Hour)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _, _ = s.Load(ctx, "session:abc")
		}
	})
}

func BenchmarkSave(b *testing.B) {
	s := New(Options{JanitorInterval: -1})
	defer s.Close()
	ctx := context.Background()
	data := make([]byte, 300)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = s.Save(ctx, "session:abc", data, time.Hour)
		}
	})
}
