package gormstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginsession/ginsession/internal/testserver"
)

// load runs a mix of store calls from several goroutines, each with a
// deadline, until stop is closed, and reports calls that outlived their
// deadline by more than slack.
type load struct {
	s        *Store
	deadline time.Duration
	slack    time.Duration
	ok, errs atomic.Int64
	mu       sync.Mutex
	late     []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(s *Store, workers int, deadline time.Duration) *load {
	l := &load{s: s, deadline: deadline, slack: time.Second, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.call(fmt.Sprintf("session:load-%d-%d", w, i%5))
			}
		})
	}
	return l
}

func (l *load) call(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.deadline)
	defer cancel()
	start := time.Now()
	err := l.s.Save(ctx, key, []byte("value"), time.Hour)
	if err == nil {
		var rec = struct{ found bool }{}
		r, e := l.s.LoadVersion(ctx, key, 0)
		rec.found = r.Found
		err = e
		if err == nil && rec.found {
			err = l.s.SaveIf(ctx, key, []byte("value 2"), r.Version, time.Hour)
		}
		if err == nil {
			err = l.s.Touch(ctx, key, time.Hour)
		}
	}
	if d := time.Since(start); d > l.deadline+l.slack {
		l.mu.Lock()
		l.late = append(l.late, fmt.Sprintf("calls took %v with a %v deadline (err %v)", d, l.deadline, err))
		l.mu.Unlock()
	}
	if err != nil {
		l.errs.Add(1)
		time.Sleep(10 * time.Millisecond)
	} else {
		l.ok.Add(1)
	}
}

func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	for _, msg := range l.late {
		t.Error(msg)
	}
}

// waitHealthy waits until the store answers again.
func waitHealthy(t *testing.T, s *Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.Save(ctx, "session:probe", []byte("p"), time.Hour)
		if err == nil {
			_, _, err = s.Load(ctx, "session:probe")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing %v after the server came back: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresKilledUnderLoad kills and pauses a dedicated PostgreSQL while
// goroutines use the store: every call returns within its deadline (with
// an error while the server is away), and the store works again once the
// server is back, without being reopened.
func TestPostgresKilledUnderLoad(t *testing.T) {
	pg := testserver.StartPostgres(t)
	s := mustOpen(t, pg.URL(pg.NewDatabase(t)), Options{})
	const deadline = time.Second

	l := startLoad(s, 24, deadline) // more workers than the pool has connections
	for wait := time.Now().Add(15 * time.Second); l.ok.Load() < 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("only %d call groups succeeded before the fault (%d errors)", l.ok.Load(), l.errs.Load())
		}
	}

	pg.Kill(t)
	errsBefore := l.errs.Load()
	time.Sleep(2 * deadline)
	if l.errs.Load() == errsBefore {
		t.Error("no call failed while the server was dead")
	}
	// A single call against the dead server fails promptly.
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	_, _, err := s.Load(ctx, "session:x")
	cancel()
	if err == nil {
		t.Error("Load succeeded against a killed server")
	}
	pg.Restart(t)
	waitHealthy(t, s, 15*time.Second)
	okAfter := l.ok.Load()
	for wait := time.Now().Add(15 * time.Second); l.ok.Load() == okAfter; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the load did not recover after Restart")
		}
	}

	pg.Pause(t)
	time.Sleep(2 * deadline)
	ctx, cancel = context.WithTimeout(context.Background(), deadline)
	start := time.Now()
	_, _, err = s.Load(ctx, "session:x")
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && time.Since(start) < deadline/2 {
		t.Errorf("Load against a paused server = %v after %v; want a deadline error", err, time.Since(start))
	}
	pg.Resume(t)
	waitHealthy(t, s, 15*time.Second)
	l.finish(t)
	t.Logf("%d call groups succeeded, %d failed", l.ok.Load(), l.errs.Load())

	// Rows written before the kill survived the crash.
	if _, found, err := s.Load(context.Background(), "session:probe"); err != nil || !found {
		t.Fatalf("probe row: found=%v err=%v", found, err)
	}
}
