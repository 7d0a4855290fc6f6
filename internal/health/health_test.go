package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/memstore"
)

// recorder is a slog.Handler keeping every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// take returns the records logged since the last call.
func (r *recorder) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := r.recs
	r.recs = nil
	return recs
}

func attrs(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func refused(n int) error {
	return fmt.Errorf("ginsession: redis: load: dial tcp 127.0.0.1:%d: connect: connection refused", n)
}
func newTracker() (*Tracker, *recorder, *clock) {
	rec, clk := &recorder{}, newClock()
	return New(Config{Logger: slog.New(rec), Now: clk.now, SummaryEvery: 10 * time.Second}), rec, clk
}

// TestOutage: one ERROR when the store starts failing, a summary at most
// every SummaryEvery while it stays down, one INFO on recovery with the
// outage's duration; nothing while it answers.
func TestOutage(t *testing.T) {
	tr, rec, clk := newTracker()
	for range 5 {
		tr.Observe(nil)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("logged %d lines while the store answered", len(got))
	}

	tr.Observe(refused(1))
	got := rec.take()
	if len(got) != 1 || got[0].Level != slog.LevelError || !strings.Contains(attrs(got[0])["err"], "refused") {
		t.Fatalf("outage start: %v", got)
	}
	for i := range 5 {
		clk.add(time.Second)
		tr.Observe(refused(2 + i))
		tr.RequestFailed(Classify(refused(2 + i)))
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("logged %d lines within the summary interval", len(got))
	}
	clk.add(5 * time.Second) // 10s since the start
	tr.Observe(context.DeadlineExceeded)
	got = rec.take()
	if len(got) != 1 || got[0].Level != slog.LevelError || !strings.Contains(got[0].Message, "still failing") {
		t.Fatalf("summary: %v", got)
	}
	a := attrs(got[0])
	if a["failed_calls"] != "7" || a["failed_requests"] != "5" || !strings.Contains(a["first_err"], ":1:") || a["last_err"] != context.DeadlineExceeded.Error() || a["for"] != "10s" {
		t.Fatalf("summary attributes: %v", a)
	}
	clk.add(9 * time.Second)
	tr.Observe(refused(9))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("a second summary after 9s: %v", got)
	}
	if s := tr.Stats(); !s.Down || !s.DownSince.Equal(newClock().t) || s.Outages != 1 {
		t.Fatalf("during the outage: %+v", s)
	}
	clk.add(1500 * time.Millisecond)
	tr.Observe(nil)
	got = rec.take()
	if len(got) != 1 || got[0].Level != slog.LevelInfo || attrs(got[0])["outage"] != "20.5s" || attrs(got[0])["failed_calls"] != "8" {
		t.Fatalf("recovery: %v", got)
	}
	tr.Observe(nil)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("logged again after the recovery: %v", got)
	}
	s := tr.Stats()
	if s.Down || !s.DownSince.IsZero() || s.Outages != 1 || s.Unavailable != 7 || s.Timeouts != 1 || s.FailedRequests != 5 || s.FailedByKind["unavailable"] != 5 {
		t.Fatalf("after the outage: %+v", s)
	}

	// A second outage is a new one.
	tr.Observe(refused(10))
	if got := rec.take(); len(got) != 1 || tr.Stats().Outages != 2 {
		t.Fatalf("second outage: %v, %+v", got, tr.Stats())
	}
}

// TestPartialOutage: a store failing every other call (one dead master of
// a Cluster) is one outage, not one per failure; it ends at the first
// success after Settle without a failure.
func TestPartialOutage(t *testing.T) {
	tr, rec, clk := newTracker()
	for i := range 100 {
		clk.add(20 * time.Millisecond)
		if i%3 == 0 {
			tr.Observe(refused(i))
		} else {
			tr.Observe(nil)
		}
	}
	got := rec.take()
	if len(got) != 1 || got[0].Level != slog.LevelError {
		t.Fatalf("%d lines for one partial outage, want 1: %v", len(got), got)
	}
	clk.add(999 * time.Millisecond) // 999ms since the last failure (call 99)
	tr.Observe(nil)
	if got := rec.take(); len(got) != 0 || !tr.Stats().Down {
		t.Fatalf("recovered before Settle: %v", got)
	}
	clk.add(time.Millisecond)
	tr.Observe(nil)
	got = rec.take()
	if len(got) != 1 || got[0].Level != slog.LevelInfo || attrs(got[0])["outage"] != "2.98s" {
		t.Fatalf("recovery: %v", got)
	}
	if s := tr.Stats(); s.Outages != 1 || s.Down || s.Unavailable != 34 {
		t.Fatalf("stats: %+v", s)
	}
}

// TestAnsweredErrors: a conflict or a size refusal means the store
// answered: it ends an outage and never starts one. A canceled call does
// neither.
func TestAnsweredErrors(t *testing.T) {
	tr, rec, clk := newTracker()
	conflict := fmt.Errorf("x: %w", backends.ErrConflict)
	tr.Observe(conflict)
	tr.Observe(fmt.Errorf("x: %w", backends.ErrTooLarge))
	tr.Observe(context.Canceled)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("logged %v", got)
	}
	tr.Observe(refused(1))
	tr.Observe(context.Canceled)
	if !tr.Stats().Down {
		t.Fatal("a canceled call ended the outage")
	}
	clk.add(time.Second)
	tr.Observe(conflict)
	if tr.Stats().Down {
		t.Fatal("a conflict did not end the outage")
	}
	tr.Observe(conflict)
	tr.RequestFailed(Classify(conflict)) // one request gave up
	s := tr.Stats()
	if s.Conflicts != 3 || s.Retries != 2 || s.TooLarge != 1 || s.Canceled != 2 || s.FailedByKind["conflict"] != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{nil, None},
		{errors.New("connection refused"), Unavailable},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", context.DeadlineExceeded)), Timeout},
		{fmt.Errorf("a: %w", context.Canceled), Canceled},
		{fmt.Errorf("a: %w", backends.ErrConflict), Conflict},
		{fmt.Errorf("a: %w", backends.ErrTooLarge), TooLarge},
		{fmt.Errorf("a: %w", backends.ErrClosed), Closed},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !Unavailable.Outage() || !Timeout.Outage() || Conflict.Outage() || Canceled.Outage() {
		t.Error("Outage")
	}
}

// failing is a store whose every call fails with err, for the wrappers'
// error path (memstore never fails).
type failing struct{ err error }

func (f failing) Load(context.Context, string) ([]byte, bool, error)        { return nil, false, f.err }
func (f failing) Save(context.Context, string, []byte, time.Duration) error { return f.err }
func (f failing) Delete(context.Context, string) error                      { return f.err }
func (f failing) Touch(context.Context, string, time.Duration) error        { return f.err }
func (f failing) LoadVersion(context.Context, string, time.Duration) (backends.Record, error) {
	return backends.Record{}, f.err
}
func (f failing) SaveIf(context.Context, string, []byte, any, time.Duration) error { return f.err }
func (f failing) LinkUser(context.Context, string, string, time.Duration) error    { return f.err }
func (f failing) UnlinkUser(context.Context, string, string) error                 { return f.err }
func (f failing) UserKeys(context.Context, string) ([]string, error)               { return nil, f.err }

// TestWrapUsers: the user index calls are forwarded, counted in
// Stats.UserIndex and observed like any store call.
func TestWrapUsers(t *testing.T) {
	tr, rec, _ := newTracker()
	mem := memstore.New(memstore.Options{})
	defer mem.Close()
	ix := tr.Wrap(mem).(backends.UserIndexer)
	ctx := context.Background()
	if err := ix.LinkUser(ctx, "alice", "k1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := ix.LinkUser(ctx, "alice", "k2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := ix.UnlinkUser(ctx, "alice", "k1"); err != nil {
		t.Fatal(err)
	}
	if keys, err := ix.UserKeys(ctx, "alice"); err != nil || len(keys) != 1 || keys[0] != "k2" {
		t.Fatalf("UserKeys through the wrapper = %q, %v; want [k2]", keys, err)
	}
	if keys, _ := mem.UserKeys(ctx, "alice"); len(keys) != 1 || keys[0] != "k2" {
		t.Fatalf("the store's index holds %q; want [k2]", keys)
	}
	if s := tr.Stats(); s.UserIndex != 4 || s.Loads+s.Writes+s.Deletes+s.Touches != 0 || s.Unavailable != 0 {
		t.Fatalf("stats: %+v; want 4 index calls and nothing else", s)
	}

	bad := failing{errors.New("connection refused")}
	for range 2 {
		ix := tr.Wrap(bad).(backends.UserIndexer)
		e1 := ix.LinkUser(ctx, "u", "k", time.Second)
		e2 := ix.UnlinkUser(ctx, "u", "k")
		_, e3 := ix.UserKeys(ctx, "u")
		for i, e := range []error{e1, e2, e3} {
			if e != bad.err {
				t.Errorf("call %d returned %v, want the store's error unchanged", i, e)
			}
		}
	}
	if s := tr.Stats(); s.UserIndex != 10 || s.Unavailable != 6 || !s.Down || s.Outages != 1 {
		t.Fatalf("stats after failing index calls: %+v", s)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("%d log lines for one outage", len(got))
	}
}

// TestWrappers: every call is forwarded and counted, its result observed.
func TestWrappers(t *testing.T) {
	tr, rec, _ := newTracker()
	mem := memstore.New(memstore.Options{})
	w := tr.Wrap(mem)
	st, cas, tc := w, w.(backends.CompareAndSwapper), w.(backends.Toucher)
	ctx := context.Background()
	if err := st.Save(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if data, found, err := st.Load(ctx, "k"); err != nil || !found || string(data) != "v" {
		t.Fatalf("Load: %q %v %v", data, found, err)
	}
	r, err := cas.LoadVersion(ctx, "k", 0)
	if err != nil || !r.Found {
		t.Fatalf("LoadVersion: %+v %v", r, err)
	}
	if err := cas.SaveIf(ctx, "k", []byte("w"), r.Version, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := cas.SaveIf(ctx, "k", []byte("x"), r.Version, time.Minute); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale SaveIf: %v", err)
	}
	if err := tc.Touch(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := mem.Load(ctx, "k"); found {
		t.Fatal("Delete was not forwarded")
	}
	s := tr.Stats()
	if s.Loads != 2 || s.Writes != 3 || s.Touches != 1 || s.Deletes != 1 || s.Conflicts != 1 || s.Unavailable != 0 {
		t.Fatalf("stats: %+v", s)
	}

	bad := failing{errors.New("connection refused")}
	w = tr.Wrap(bad)
	st, cas, tc = w, w.(backends.CompareAndSwapper), w.(backends.Toucher)
	_, _, e1 := st.Load(ctx, "k")
	e2 := st.Save(ctx, "k", nil, time.Second)
	e3 := st.Delete(ctx, "k")
	_, e4 := cas.LoadVersion(ctx, "k", 0)
	e5 := cas.SaveIf(ctx, "k", nil, nil, time.Second)
	e6 := tc.Touch(ctx, "k", time.Second)
	for i, e := range []error{e1, e2, e3, e4, e5, e6} {
		if e != bad.err {
			t.Errorf("call %d returned %v, want the store's error unchanged", i, e)
		}
	}
	if s := tr.Stats(); s.Unavailable != 6 || !s.Down || s.Loads != 4 || s.Writes != 5 {
		t.Fatalf("stats: %+v", s)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("%d log lines for one outage", len(got))
	}
	if tr.Wrap(nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
}

// TestWrapCapabilities: the wrapper has exactly the optional interfaces
// of the store it wraps.
func TestWrapCapabilities(t *testing.T) {
	tr := New(Config{})
	mem := memstore.New(memstore.Options{})
	// Every combination of the three forwarded interfaces.
	for mask := range 8 {
		wantCAS, wantToucher, wantUsers := mask&1 != 0, mask&2 != 0, mask&4 != 0
		var st backends.Store
		switch mask {
		case 0:
			st = struct{ backends.Store }{mem}
		case 1:
			st = struct {
				backends.Store
				backends.CompareAndSwapper
			}{mem, mem}
		case 2:
			st = struct {
				backends.Store
				backends.Toucher
			}{mem, mem}
		case 3:
			st = struct {
				backends.Store
				backends.CompareAndSwapper
				backends.Toucher
			}{mem, mem, mem}
		case 4:
			st = struct {
				backends.Store
				backends.UserIndexer
			}{mem, mem}
		case 5:
			st = struct {
				backends.Store
				backends.CompareAndSwapper
				backends.UserIndexer
			}{mem, mem, mem}
		case 6:
			st = struct {
				backends.Store
				backends.Toucher
				backends.UserIndexer
			}{mem, mem, mem}
		case 7:
			st = mem
		}
		w := tr.Wrap(st)
		_, cas := w.(backends.CompareAndSwapper)
		_, toucher := w.(backends.Toucher)
		_, users := w.(backends.UserIndexer)
		_, cleaner := w.(backends.Cleaner)
		if cas != wantCAS || toucher != wantToucher || users != wantUsers || cleaner {
			t.Errorf("store %d: wrapper has CAS %v, Toucher %v, UserIndexer %v, Cleaner %v; want %v, %v, %v, false",
				mask, cas, toucher, users, cleaner, wantCAS, wantToucher, wantUsers)
		}
	}
}

// TestConcurrent: under -race, many goroutines failing and recovering
// log exactly one start per outage and one recovery per start.
func TestConcurrent(t *testing.T) {
	rec := &recorder{}
	tr := New(Config{Logger: slog.New(rec), Settle: time.Nanosecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				if (i/100+g)%2 == 0 {
					tr.Observe(refused(i))
				} else {
					tr.Observe(nil)
				}
				tr.RequestFailed(Classify(refused(i)))
			}
		}()
	}
	wg.Wait()
	tr.Observe(nil)
	starts, ends := 0, 0
	for _, r := range rec.take() {
		switch {
		case r.Level == slog.LevelError && strings.Contains(r.Message, "failing;"):
			starts++
		case r.Level == slog.LevelInfo:
			ends++
		}
	}
	s := tr.Stats()
	if starts == 0 || starts != ends || uint64(starts) != s.Outages || s.Down || s.FailedRequests != 8000 {
		t.Fatalf("starts %d, ends %d, stats %+v", starts, ends, s)
	}
}

// BenchmarkObserveParallel is the cost the tracker adds to every store
// call while the store answers: atomic counters, no lock.
func BenchmarkObserveParallel(b *testing.B) {
	tr := New(Config{})
	st := tr.Wrap(memstore.New(memstore.Options{})).(backends.Toucher)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = st.Touch(context.Background(), "k", time.Minute)
		}
	})
}
