package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
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
