package setup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOnceRetriesUntilSuccess(t *testing.T) {
	var calls atomic.Int32
	fail := true
	o := New(func(context.Context) error {
		calls.Add(1)
		if fail {
			return Unreachable(errors.New("connection refused"))
		}
		return nil
	})
	err := o.Do(context.Background())
	if !IsUnreachable(err) || o.Done() {
		t.Fatalf("first Do = %v, done %v; want an unreachable error", err, o.Done())
	}
	if err := o.Do(context.Background()); err == nil {
		t.Fatal("second Do succeeded while the server is still down")
	}
	fail = false
	if err := o.Do(context.Background()); err != nil || !o.Done() {
		t.Fatalf("Do after the server came back = %v, done %v", err, o.Done())
	}
	for range 5 {
		if err := o.Do(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("setup ran %d times; want 3 (two failures, one success, then never again)", n)
	}
}

// TestOnceOneAttemptAtATime checks that concurrent callers share one
// running attempt and that a waiter gives up at its own deadline.
func TestOnceOneAttemptAtATime(t *testing.T) {
	var running, most, calls atomic.Int32
	release := make(chan struct{})
	o := New(func(ctx context.Context) error {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		<-release
		return nil
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = o.Do(context.Background()) }()
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := o.Do(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a waiter past its deadline got %v; want DeadlineExceeded", err)
	}
	close(release)
	wg.Wait()
	if most.Load() != 1 || calls.Load() != 1 {
		t.Fatalf("%d attempts, at most %d at once; want 1 and 1", calls.Load(), most.Load())
	}
}

func TestUnreachable(t *testing.T) {
	if Unreachable(nil) != nil {
		t.Fatal("Unreachable(nil) != nil")
	}
	base := errors.New("dial tcp: connection refused")
	err := fmt.Errorf("outer: %w", Unreachable(base))
	if !IsUnreachable(err) || !errors.Is(err, base) || err.Error() != "outer: dial tcp: connection refused" {
		t.Fatalf("wrapped unreachable error: %v", err)
	}
	if IsUnreachable(base) {
		t.Fatal("an unmarked error is unreachable")
	}
}
