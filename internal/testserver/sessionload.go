package testserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// RoundResult is what one round of a SessionLoad worker saw: a read of its
// session's counter, then a write of the next value.
type RoundResult struct {
	// Read: the read succeeded; Found and Value describe the session.
	Read  bool
	Found bool
	Value int64
	// Wrote: the write of the next value was acknowledged.
	Wrote bool
	// MaybeWrote: the write of the next value may have been applied
	// although the round failed (set when Read is false but the round may
	// have got as far as the write, as with an HTTP 503).
	MaybeWrote bool
	// Err is the round's failure, nil when it read and wrote.
	Err error
}

// Round runs one round for worker: read its session, write next.
type Round func(ctx context.Context, worker int, next int64) RoundResult

// SessionLoad runs workers that each read and write a session of their
// own in a loop, and checks, on every read, that no acknowledged write and
// no session was lost: a worker's session, once a write was acknowledged,
// is found and holds a value between the last acknowledged one and the
// last attempted one (a write that failed may still have been applied).
//
// Fault tests Mark an event (a server killed, a failover reported) and ask
// how many rounds each worker needed after it to succeed again.
type SessionLoad struct {
	round   Round
	timeout time.Duration
	workers []*loadWorker
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	events   []time.Time
	problems []string
}

type loadWorker struct {
	mu        sync.Mutex
	acked     int64 // last acknowledged value
	attempted int64 // last value a write was attempted with
	ok, fail  int64
	event     int           // the last event this worker has seen
	tries     int           // rounds since that event, up to the first success
	recovered bool          // a round succeeded since that event
	took      time.Duration // from the event to that success
	maxTries  []int         // per event: rounds until the first success
	failsAt   []int64       // per event: failed rounds after it
	lastErr   error
}

// StartSessionLoad starts n workers running round, each round with its
// own timeout; they stop at Stop or when t ends.
func StartSessionLoad(t testing.TB, n int, timeout time.Duration, round Round) *SessionLoad {
	l := &SessionLoad{round: round, timeout: timeout, stop: make(chan struct{}), events: []time.Time{time.Now()}}
	for i := 0; i < n; i++ {
		w := &loadWorker{maxTries: []int{0}, failsAt: []int64{0}}
		l.workers = append(l.workers, w)
		l.wg.Add(1)
		go l.run(i, w)
	}
	t.Cleanup(l.Stop)
	return l
}

func (l *SessionLoad) run(i int, w *loadWorker) {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		l.mu.Lock()
		ev := len(l.events) - 1
		evAt := l.events[ev]
		l.mu.Unlock()
		w.mu.Lock()
		if ev != w.event {
			w.event, w.tries, w.recovered = ev, 0, false
		}
		next := w.attempted + 1
		w.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		r := l.round(ctx, i, next)
		cancel()

		w.mu.Lock()
		if r.Read {
			switch {
			case w.acked > 0 && !r.Found:
				l.problem(fmt.Sprintf("worker %d: session lost (last acknowledged write %d)", i, w.acked))
			case r.Found && (r.Value < w.acked || r.Value > w.attempted):
				l.problem(fmt.Sprintf("worker %d: read %d, want %d..%d: an acknowledged write was lost", i, r.Value, w.acked, w.attempted))
			}
		}
		if r.Read || r.MaybeWrote {
			w.attempted = next // the write was at least tried
		}
		if r.Wrote {
			w.acked = next
		}
		if w.event == ev && !w.recovered {
			w.tries++
		}
		if r.Err == nil && r.Wrote {
			w.ok++
			if w.event == ev && !w.recovered {
				w.recovered, w.took = true, time.Since(evAt)
				for len(w.maxTries) <= ev {
					w.maxTries = append(w.maxTries, 0)
				}
				w.maxTries[ev] = w.tries
			}
		} else {
			w.fail++
			w.lastErr = r.Err
			for len(w.failsAt) <= ev {
				w.failsAt = append(w.failsAt, 0)
			}
			w.failsAt[ev]++
		}
		w.mu.Unlock()
	}
}

func (l *SessionLoad) problem(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, p)
	}
}

// Mark records an event now and returns its number: later calls count the
// rounds each worker needs after it to succeed again.
func (l *SessionLoad) Mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, time.Now())
	return len(l.events) - 1
}

// WaitRecovered waits until every worker has had a successful round after
// event ev, and returns the most rounds any worker needed (the successful
// one included) and the time from the event until the last worker
// recovered. It fails the test if that takes more than limit.
func (l *SessionLoad) WaitRecovered(t testing.TB, ev int, limit time.Duration) (rounds int, took time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rounds, took = 0, 0
		missing := -1
		var lastErr error
		for i, w := range l.workers {
			w.mu.Lock()
			if w.event < ev || !w.recovered {
				missing, lastErr = i, w.lastErr
			} else {
				rounds, took = max(rounds, w.maxTries[ev]), max(took, w.took)
			}
			w.mu.Unlock()
		}
		if missing < 0 {
			return rounds, took
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d has not succeeded %v after event %d; its last error: %v", missing, limit, ev, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitRounds waits until every worker has n more successful rounds than
// when it was called; it fails the test after limit.
func (l *SessionLoad) WaitRounds(t testing.TB, n int64, limit time.Duration) {
	t.Helper()
	start := make([]int64, len(l.workers))
	for i, w := range l.workers {
		w.mu.Lock()
		start[i] = w.ok
		w.mu.Unlock()
	}
	deadline := time.Now().Add(limit)
	for i := 0; i < len(l.workers); {
		w := l.workers[i]
		w.mu.Lock()
		done, lastErr := w.ok-start[i] >= n, w.lastErr
		w.mu.Unlock()
		if done {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d: fewer than %d successful rounds in %v; its last error: %v", i, n, limit, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Failures returns the number of failed rounds after event ev (before the
// next event) and one of their errors.
func (l *SessionLoad) Failures(ev int) (n int64, sample error) {
	for _, w := range l.workers {
		w.mu.Lock()
		if ev < len(w.failsAt) {
			n += w.failsAt[ev]
			if w.failsAt[ev] > 0 && sample == nil {
				sample = w.lastErr
			}
		}
		w.mu.Unlock()
	}
	return n, sample
}

// Acked returns each worker's last acknowledged value.
func (l *SessionLoad) Acked() []int64 {
	out := make([]int64, len(l.workers))
	for i, w := range l.workers {
		w.mu.Lock()
		out[i] = w.acked
		w.mu.Unlock()
	}
	return out
}

// Totals returns the successful and failed rounds of every worker.
func (l *SessionLoad) Totals() (ok, failed int64) {
	for _, w := range l.workers {
		w.mu.Lock()
		ok, failed = ok+w.ok, failed+w.fail
		w.mu.Unlock()
	}
	return ok, failed
}

// Stop stops the workers and waits for them.
func (l *SessionLoad) Stop() {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// Problems returns the lost writes and sessions the workers saw.
func (l *SessionLoad) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}

// Final checks, after Stop, with read (which must not fail), that every
// worker's session still holds a value between its last acknowledged and
// last attempted write, and returns the problems found (those seen during
// the run included).
func (l *SessionLoad) Final(ctx context.Context, read func(ctx context.Context, worker int) (value int64, found bool, err error)) []string {
	l.Stop()
	for i, w := range l.workers {
		v, found, err := read(ctx, i)
		switch {
		case err != nil:
			l.problem(fmt.Sprintf("worker %d: final read: %v", i, err))
		case w.acked > 0 && !found:
			l.problem(fmt.Sprintf("worker %d: session lost (last acknowledged write %d)", i, w.acked))
		case found && (v < w.acked || v > w.attempted):
			l.problem(fmt.Sprintf("worker %d: final value %d, want %d..%d: an acknowledged write was lost", i, v, w.acked, w.attempted))
		}
	}
	return l.Problems()
}

// StopCheckKill freezes victim (SIGSTOP), checks with replicaHas that its
// replica holds the acknowledged write of every worker whose session lives
// on victim (on reports which), and kills it (SIGKILL). A write Redis
// acknowledged but had not yet sent to the replica is lost by any
// asynchronous failover; that is Redis' documented behaviour (WAIT is the
// cure), not what fault tests check, so when the replica lags the server
// is resumed and frozen again, up to 20 times. Each freeze lasts well under
// a second, shorter than any failure-detection timeout the tests use.
func StopCheckKill(t testing.TB, victim *Redis, l *SessionLoad, on func(worker int) bool, replicaHas func(worker int, acked int64) bool) {
	t.Helper()
	mine := func() []int64 {
		all := l.Acked()
		for i := range all {
			if !on(i) {
				all[i] = 0
			}
		}
		return all
	}
	for try := 0; try < 20; try++ {
		victim.Pause(t)
		// Replies sent before the freeze may still be on their way to the
		// workers: wait (briefly) until their acknowledged values stop
		// moving.
		acked := mine()
		for stable, n := 0, 0; stable < 2 && n < 10; n++ {
			time.Sleep(20 * time.Millisecond)
			now := mine()
			if slices.Equal(now, acked) {
				stable++
			} else {
				acked, stable = now, 0
			}
		}
		lag := -1
		for i, a := range acked {
			if a > 0 && !replicaHas(i, a) {
				lag = i
				break
			}
		}
		if lag < 0 && slices.Equal(acked, mine()) {
			victim.Kill(t)
			return
		}
		t.Logf("replica lags for worker %d; resuming and trying again", lag)
		victim.Resume(t)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("testserver: the replica never caught up with the acknowledged writes")
}
