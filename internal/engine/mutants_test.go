package engine

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/wire"
)

// Tests written to kill mutants go-gremlins found alive (docs/testing.md).

func TestRefreshAtLoadNeedsNoTouch(t *testing.T) {
	// With a compare-and-swap store the expiry is refreshed by the load
	// itself; a read-only request then makes no further store call. When
	// the absolute deadline is nearer than the refresh, the load does not
	// refresh and the commit touches with the exact expiry.
	for _, c := range []struct {
		name     string
		absolute time.Duration
		advance  time.Duration
		touches  int32
	}{
		{"no absolute lifetime", 0, time.Minute, 0},
		{"absolute longer than the lifetime", 2 * time.Hour, time.Minute, 0},
		{"absolute equal to the lifetime, loaded at creation", time.Hour, 0, 0},
		{"absolute shorter than the lifetime", 30 * time.Minute, time.Minute, 1},
	} {
		h := newHarness(t, false, func(cfg *Config) { cfg.Lifetime = time.Hour; cfg.Absolute = c.absolute })
		sid := h.newSession("a", "1")
		h.clk.add(c.advance)
		res := h.do(sid, func(r *Request) { r.Get("a") })
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := h.store.touches.Load(); got != c.touches {
			t.Errorf("%s: %d touches, want %d", c.name, got, c.touches)
		}
		if got := h.store.saveIfs.Load(); got != 1 {
			t.Errorf("%s: %d writes, want the creation only", c.name, got)
		}
	}
}

func TestCreationTimeAsFirstEntry(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Permanent = false; c.Absolute = time.Hour })
	created := h.clk.now().Add(-10 * time.Minute).Unix()
	sid := h.newSession(CreatedKey, created, "a", "1")
	h.do(sid, func(r *Request) {
		r.Get("a")
		if c, ok := r.Created(); !ok || c.Unix() != created {
			t.Errorf("Created = %v, %v; want %d (the stored first entry)", c, ok, created)
		}
	})
	if m, _ := h.stored(sid); m[CreatedKey] != created {
		t.Errorf("creation time rewritten: %v", m[CreatedKey])
	}
}

func TestSaveAfterRegenerateWritesOnce(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1")
	r := h.start(sid)
	if err := r.Regenerate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if r.IsNew() {
		t.Error("still new after its first write")
	}
	w, d := h.store.saveIfs.Load(), h.store.deletes.Load()
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if h.store.saveIfs.Load() != w || h.store.deletes.Load() != d {
		t.Errorf("Regenerate written again: %d writes, %d deletes", h.store.saveIfs.Load()-w, h.store.deletes.Load()-d)
	}
	r.End()
}

// failingDelete is a real store whose Delete fails.
type failingDelete struct{ backends.Store }

var errDown = errors.New("store down")

func (s failingDelete) Delete(ctx context.Context, key string) error { return errDown }

func TestDestroyReportsAFailedDelete(t *testing.T) {
	h := newHarness(t, true, nil)
	sid := h.newSession("a", "1")
	h.e.store = failingDelete{h.mem}
	res := h.do(sid, func(r *Request) {
		r.Destroy()
		r.Set("b", "2")
	})
	if !errors.Is(res.err, ErrUnavailable) || !errors.Is(res.err, errDown) {
		t.Fatalf("commit = %v", res.err)
	}
	if len(res.header.Values("Set-Cookie")) != 0 {
		t.Error("cookie for a failed Destroy")
	}
	// Destroy alone: the delete of the session fails.
	res = h.do(sid, func(r *Request) { r.Destroy() })
	if !errors.Is(res.err, ErrUnavailable) {
		t.Fatalf("commit = %v", res.err)
	}
}

func TestQueuedWriterOutOfBudgetLeavesTheQueue(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "0")
	l := h.start(sid)
	l.Set("a", "L")
	if l.IsNew() {
		t.Fatal("the session was not loaded") // fail at once, not after a wait
	}
	entered, release := h.store.hold()
	lres := commitAsync(l)
	recv(t, entered)
	w := h.start(sid)
	w.Set("w", "1")
	w.spent = h.e.cfg.Timeout - 20*time.Millisecond // nearly spent
	err := w.Commit()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued writer out of budget: %v", err)
	}
	if n := h.e.Queued(); n != 0 {
		t.Errorf("%d still queued after giving up", n)
	}
	release()
	if err := recv(t, lres); err != nil {
		t.Fatal(err)
	}
	if m, _ := h.stored(sid); m["a"] != "L" || m["w"] != nil {
		t.Errorf("stored %v", m)
	}
	if len(h.e.queues) != 0 {
		t.Error("queue left behind")
	}
}

func TestRegenerateSurvivesAFailedRemoval(t *testing.T) {
	// The old entry, frozen as a tombstone, could not be deleted: the
	// session is regenerated anyway, the move is forgotten, the tombstone
	// expires after tombstoneTTL and the delete is retried in the
	// background.
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1")
	h.store.failDeletes.Store(2) // the removal and its first retry fail
	res := h.do(sid, func(r *Request) {
		if err := r.Regenerate(); err != nil {
			t.Fatal(err)
		}
	})
	nsid, _ := res.setCookie()
	if res.err != nil || nsid == "" {
		t.Fatalf("err %v cookie %q", res.err, nsid)
	}
	if m, _ := h.stored(nsid); m["a"] != "1" {
		t.Fatalf("new id holds %v", m)
	}
	k := h.e.Key(sid)
	if h.e.retired(k) || h.e.movesN.Load() != 0 {
		t.Fatal("a failed retirement still forwards")
	}
	if h.store.deletes.Load() != 1 {
		t.Fatalf("%d deletes, want the failed one", h.store.deletes.Load())
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, found, _ := h.mem.Load(context.Background(), k); !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("old entry never removed by the background retries")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.e.Close()
	if h.store.deletes.Load() != 3 {
		t.Errorf("%d deletes, want 3 (the removal, a failed retry, a successful one)", h.store.deletes.Load())
	}

	h2 := newHarness(t, false, nil)
	sid = h2.newSession("a", "1")
	h2.store.failDeletes.Store(1 << 20)
	h2.do(sid, func(r *Request) { _ = r.Regenerate() })
	data, found, _ := h2.mem.Load(context.Background(), h2.e.Key(sid))
	if !found || string(data) != "\xc0" {
		t.Fatalf("old entry %q, %v; want the tombstone", data, found)
	}
	h2.clk.add(tombstoneTTL - time.Second)
	if _, found, _ := h2.mem.Load(context.Background(), h2.e.Key(sid)); !found {
		t.Error("tombstone gone before tombstoneTTL")
	}
	h2.clk.add(time.Second)
	if _, found, _ := h2.mem.Load(context.Background(), h2.e.Key(sid)); found {
		t.Error("tombstone outlived tombstoneTTL")
	}
	h2.e.Close() // stops the retries
}

func TestBatchOnTheCurrentVersionIsMergedBeforeItsFirstWrite(t *testing.T) {
	// L's write fails (its budget ends while the store holds it), so the
	// version W1 and W2 loaded is still current: W1 leads their batch and
	// writes both requests' changes in one store call.
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "0")
	l := h.start(sid)
	l.Set("a", "L")
	if l.IsNew() {
		t.Fatal("the session was not loaded")
	}
	l.spent = h.e.cfg.Timeout - 50*time.Millisecond
	entered, release := h.store.hold()
	lres := commitAsync(l)
	lctx := recv(t, entered)
	w1, w2 := h.start(sid), h.start(sid)
	w1.Set("b", "1")
	w2.Set("c", "2")
	r1, r2 := commitAsync(w1), commitAsync(w2)
	waitQueued(t, h.e, 2)
	<-lctx.Done() // L's budget is over: its write fails
	before := h.store.saveIfs.Load()
	release()
	if err := recv(t, lres); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("L: %v", err)
	}
	for _, ch := range []<-chan error{r1, r2} {
		if err := recv(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := h.stored(sid)
	if m["a"] != "0" || m["b"] != "1" || m["c"] != "2" {
		t.Fatalf("stored %v", m)
	}
	if n := h.store.saveIfs.Load() - before; n != 1 {
		t.Errorf("%d writes for a batch on the current version, want 1", n)
	}
}

func TestStoreExpiryEndsAtTheAbsoluteDeadline(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Lifetime = time.Hour; c.Absolute = 90 * time.Minute })
	sid := h.newSession("a", "1")
	h.clk.add(50 * time.Minute)
	h.do(sid, func(r *Request) { r.Set("a", "2") }) // written with ttl cut to 40 min
	h.clk.add(40*time.Minute - time.Second)
	if _, found, _ := h.mem.Load(context.Background(), h.e.Key(sid)); !found {
		t.Fatal("expired before the deadline")
	}
	h.clk.add(time.Second)
	if _, found, _ := h.mem.Load(context.Background(), h.e.Key(sid)); found {
		t.Error("the store keeps the session past its absolute deadline")
	}
}

func TestCreationTimeIgnoredWithoutAbsoluteLifetime(t *testing.T) {
	// A session stamped while the option was on keeps the normal expiry
	// once it is turned off.
	h := newHarness(t, false, func(c *Config) { c.Lifetime = time.Hour })
	old := h.clk.now().Add(-24 * time.Hour).Unix()
	res := h.do("", func(r *Request) { r.Set(CreatedKey, old); r.Set("a", "1") })
	sid, _ := res.setCookie()
	if !strings.Contains(res.cookieLine(), h.clk.now().Add(time.Hour).Format(http.TimeFormat)) {
		t.Errorf("cookie %q", res.cookieLine())
	}
	h.clk.add(59 * time.Minute)
	if _, ok := h.stored(sid); !ok {
		t.Error("expired early")
	}
	h.do(sid, func(r *Request) {
		if r.IsNew() {
			t.Error("a session with an old creation time ended without an absolute lifetime")
		}
	})
}

func TestLateFirstUseIsLoggedOnce(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	h := newHarness(t, false, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), "first used after its request ended")
	}
	sid := h.newSession("a", "1")
	// Used before it ended: later reads are not a late first use.
	r := h.start(sid)
	r.Get("a")
	r.End()
	r.Get("a")
	r.Has("a")
	if n := count(); n != 0 {
		t.Errorf("%d late-use logs for a session used in time", n)
	}
	// First used after it ended: logged once, however often it is read.
	r = h.start(sid)
	r.End()
	r.Get("a")
	r.Keys()
	r.Len()
	if n := count(); n != 1 {
		t.Errorf("%d late-use logs, want 1", n)
	}
	// A live request is not logged.
	h.do(sid, func(r *Request) { r.Get("a"); r.Get("b") })
	if n := count(); n != 1 {
		t.Errorf("%d late-use logs after a normal request", n)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRegenerateGivesUpFreezingAfterMaxRetries(t *testing.T) {
	// Another writer always changes the old entry first: the tombstone is
	// tried MaxRetries+1 times, then the old entry's removal is left to the
	// background retries.
	h := newHarness(t, false, func(c *Config) { c.MaxRetries = 2 })
	sid := h.newSession("a", "1")
	h.e.cas = &racer{counting: h.store}
	before := h.store.saveIfs.Load()
	res := h.do(sid, func(r *Request) {
		if err := r.Regenerate(); err != nil {
			t.Fatal(err)
		}
	})
	nsid, _ := res.setCookie()
	if res.err != nil || nsid == "" {
		t.Fatalf("err %v cookie %q", res.err, nsid)
	}
	// The new entry's creation, then three tries of the tombstone.
	if n := h.store.saveIfs.Load() - before; n != 4 {
		t.Errorf("%d conditional writes, want 4", n)
	}
	waitGone(t, h, sid)
	if m, _ := h.stored(nsid); m["a"] != "1" {
		t.Errorf("new entry %v", m)
	}
}

// waitGone waits (at most 5 s) for the background removal of sid's entry.
func waitGone(t *testing.T, h *harness, sid string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, found, _ := h.mem.Load(context.Background(), h.e.Key(sid)); !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("old entry never removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFirstEntryIsLikeAnyOther(t *testing.T) {
	// Not permanent: the handler's first key is the first stored entry.
	h := newHarness(t, false, func(c *Config) { c.Permanent = false })
	sid := h.newSession("a", map[string]any{"n": int64(1)}, "b", "2", "c", "3")
	h.do(sid, func(r *Request) {
		if v, ok := r.Get("a"); !ok || v == nil {
			t.Fatal("Get of the first entry")
		}
		v, _ := r.Get("a")
		v.(map[string]any)["n"] = int64(5)
	})
	if m, _ := h.stored(sid); m["a"].(map[string]any)["n"] != int64(5) {
		t.Errorf("in-place change of the first entry lost: %v", m)
	}
	h.do(sid, func(r *Request) {
		if v, ok := r.Pop("a"); !ok || v == nil {
			t.Error("Pop of the first entry")
		}
	})
	h.do(sid, func(r *Request) { r.Delete("b") }) // now first
	if m, _ := h.stored(sid); len(m) != 1 || m["c"] != "3" {
		t.Errorf("stored %v", m)
	}
}

func TestNaNIsNormalisedInTheRequest(t *testing.T) {
	// JSON stores NaN and infinities as null: Get in the same request must
	// already show what the next request will read.
	h := newHarness(t, false, func(c *Config) { c.Format = wire.JSON })
	h.do("", func(r *Request) {
		r.Set("f", math.NaN())
		r.Set("g", math.Inf(1))
		r.Set("h", 2.5)
		for k, want := range map[string]any{"f": nil, "g": nil, "h": 2.5} {
			if v, ok := r.Get(k); !ok || v != want {
				t.Errorf("Get(%s) = %v, %v; want %v", k, v, ok, want)
			}
		}
	})
}

func TestRegenerateAfterSave(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1")
	r := h.start(sid)
	r.Set("b", "2")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.Regenerate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	nsid := r.ID()
	r.End()
	if m, ok := h.stored(nsid); !ok || m["b"] != "2" {
		t.Fatalf("Regenerate after Save not written: %v %v", m, ok)
	}
	if _, ok := h.stored(sid); ok {
		t.Error("old id kept")
	}
}

func TestCreationTimeIsBookkeeping(t *testing.T) {
	// With an absolute lifetime, _created is hidden and does not make a
	// session non-empty; without one it is an ordinary key.
	h := newHarness(t, false, func(c *Config) { c.Absolute = time.Hour })
	sid := h.newSession("a", "1")
	h.do(sid, func(r *Request) {
		if keys := r.Keys(); len(keys) != 1 || keys[0] != "a" || r.Len() != 1 {
			t.Errorf("Keys %v Len %d", keys, r.Len())
		}
		r.Delete("a") // only bookkeeping left: the session is deleted
	})
	if _, ok := h.stored(sid); ok {
		t.Error("a session holding only _created was kept")
	}
	h2 := newHarness(t, false, func(c *Config) { c.Permanent = false })
	sid = h2.newSession(CreatedKey, int64(5))
	h2.do(sid, func(r *Request) {
		if r.IsNew() || r.Len() != 1 || r.Keys()[0] != CreatedKey {
			t.Errorf("without an absolute lifetime: new=%v keys %v", r.IsNew(), r.Keys())
		}
	})
}
