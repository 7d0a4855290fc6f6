package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// commitAsync commits r on another goroutine (as a concurrent request's
// middleware would) and returns its result channel.
func commitAsync(r *Request) <-chan error {
	ch := make(chan error, 1)
	go func() {
		err := r.Commit()
		r.End()
		ch <- err
	}()
	return ch
}

// recv waits for ch, failing the test after a few seconds (a mutant that
// never answers must fail, not hang).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5 s")
	}
	var zero T
	return zero
}

func waitQueued(t *testing.T, e *Engine, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.Queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", e.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchLeaderWritesTheQueuedChanges(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "0")

	// L's write is held inside the store; W1 and W2, which loaded the same
	// version, queue behind it.
	l := h.start(sid)
	l.Set("a", "L")
	if l.IsNew() {
		t.Fatal("the session was not loaded") // fail at once, not after a wait
	}
	entered, release := h.store.hold()
	lres := commitAsync(l)
	recv(t, entered)
	w1, w2 := h.start(sid), h.start(sid)
	w1.Set("b", "1")
	w1.Flash("message", "from w1")
	w2.Set("c", "2")
	w2.Delete("a")
	w2.Flash("message", "from w2")
	r1, r2 := commitAsync(w1), commitAsync(w2)
	waitQueued(t, h.e, 2)
	before := h.store.saveIfs.Load()
	release()
	for _, ch := range []<-chan error{lres, r1, r2} {
		if err := recv(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := h.stored(sid)
	flashes, _ := m[FlashesKey].([]any)
	if m["b"] != "1" || m["c"] != "2" || len(flashes) != 2 {
		t.Fatalf("stored %v: a queued request's changes were lost", m)
	}
	// W1 and W2 go in one batch: one conflicting write of the batch's
	// encoding, then one write of the changes reapplied.
	if n := h.store.saveIfs.Load() - before; n != 2 {
		t.Errorf("%d writes for the queued batch, want 2", n)
	}
	// The batch keeps its order: W2 deleted a after W1, and both ran
	// after L.
	if _, ok := m["a"]; ok {
		t.Errorf("a = %v, W2's Delete was not applied", m["a"])
	}
	if h.e.Queued() != 0 || len(h.e.queues) != 0 {
		t.Errorf("queue left behind: %d waiting, %d queues", h.e.Queued(), len(h.e.queues))
	}
}

func TestTooLargeFailsBeforeTheStore(t *testing.T) {
	// A session over MaxSize is refused before any store call; the next
	// request still sees the stored version.
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "0")
	l := h.start(sid)
	l.Set("a", "L")
	l.Set("big", strings.Repeat("x", 70<<10)) // over MaxSize: L fails before the store
	if err := l.Commit(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if !strings.Contains(l.Commit().Error(), "over the limit of 65536") {
		t.Error("too-large message")
	}
	if h.store.saveIfs.Load() != 1 {
		t.Errorf("%d writes", h.store.saveIfs.Load())
	}
	w := h.start(sid)
	w.Set("b", "1")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if m, _ := h.stored(sid); m["a"] != "0" || m["b"] != "1" {
		t.Errorf("stored %v", m)
	}
}

func TestConflictReplaysClearThenSet(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada", "cart", "3")
	a := h.start(sid)
	a.Get("user")
	b := h.do(sid, func(r *Request) { r.Set("x", "B"); r.Flash("message", "b") })
	if b.err != nil {
		t.Fatal(b.err)
	}
	a.Clear()
	a.Set("msg", "bye")
	a.Flash("message", "logged out")
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	m, _ := h.stored(sid)
	want := map[string]any{"msg": "bye", FlashesKey: []any{[]any{"message", "logged out"}}}
	if len(m) != 2 || m["msg"] != "bye" || len(m[FlashesKey].([]any)) != 1 {
		t.Fatalf("stored %v, want %v", m, want)
	}
}

func TestConflictReplaysOnFreshData(t *testing.T) {
	for _, format := range []bool{false, true} {
		h := newHarness(t, false, nil)
		if format {
			h.e.cfg.Format = 2 // JSON
		}
		sid := h.newSession("n", "1", "gone", "x")
		a := h.start(sid)
		a.Get("n")
		h.do(sid, func(r *Request) { r.Set("b", "B"); r.Flash("message", "first") })
		a.Set("a", "A")
		a.Delete("gone")
		a.Flash("message", "second")
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		m, _ := h.stored(sid)
		fl, _ := m[FlashesKey].([]any)
		if m["a"] != "A" || m["b"] != "B" || m["n"] != "1" || m["gone"] != nil || len(fl) != 2 {
			t.Fatalf("stored %v", m)
		}
		if p, _ := fl[1].([]any); len(p) != 2 || p[1] != "second" {
			t.Errorf("flash order %v", fl)
		}
	}
}

func TestWriteRacingALogoutIsDropped(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada")
	a := h.start(sid)
	a.Get("user")
	h.do(sid, func(r *Request) { r.Clear() })
	a.Set("late", "1")
	hdr := a.header
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.stored(sid); ok {
		t.Fatal("a write racing a logout resurrected the session")
	}
	if line := strings.Join(hdr.Values("Set-Cookie"), ""); !strings.Contains(line, "Max-Age=0") {
		t.Errorf("dropped write: cookie %q", line)
	}
}

// racer is a real store on which another writer always gets in first: each
// SaveIf is preceded by a rewrite of the key.
type racer struct {
	*counting
	mu sync.Mutex
}

func (s *racer) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	if version != nil {
		rec, err := s.Store.LoadVersion(ctx, key, 0)
		if err == nil && rec.Found {
			_ = s.Store.SaveIf(ctx, key, rec.Data, rec.Version, ttl)
		}
	}
	return s.counting.SaveIf(ctx, key, data, version, ttl)
}

func TestConflictGivesUpAfterMaxRetries(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.MaxRetries = 2 })
	sid := h.newSession("a", "1")
	h.e.cas = &racer{counting: h.store}
	before := h.store.saveIfs.Load()
	res := h.do(sid, func(r *Request) { r.Set("a", "2") })
	if !errors.Is(res.err, ErrConflict) || !strings.Contains(res.err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v", res.err)
	}
	if n := h.store.saveIfs.Load() - before; n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if len(res.header.Values("Set-Cookie")) != 0 {
		t.Error("cookie for a failed write")
	}
}

func TestItoa(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 9: "9", 10: "10", 11: "11", 99: "99", 123: "123"} {
		if got := itoa(n); got != want {
			t.Errorf("itoa(%d) = %q", n, got)
		}
	}
}

func TestRegenerateCarriesALaterWrite(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada")
	w := h.start(sid)
	w.Get("user")
	res := h.do(sid, func(r *Request) {
		if err := r.Regenerate(); err != nil {
			t.Fatal(err)
		}
	})
	nsid, _ := res.setCookie()
	if !h.e.retired(h.e.Key(sid)) || h.e.retired(h.e.Key(nsid)) {
		t.Error("retired")
	}
	w.Set("cart", "3")
	hdr := w.header
	before := h.store.saveIfs.Load()
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	// One conflicting write on the old id, one write on the new id.
	if n := h.store.saveIfs.Load() - before; n != 2 {
		t.Errorf("%d writes for a forwarded change, want 2", n)
	}
	if m, _ := h.stored(nsid); m["cart"] != "3" || m["user"] != "ada" {
		t.Fatalf("new id holds %v: the concurrent write was not carried over", m)
	}
	if _, ok := h.stored(sid); ok {
		t.Error("old id stored again")
	}
	if len(hdr.Values("Set-Cookie")) != 0 {
		t.Errorf("forwarded write sent a cookie: %v", hdr)
	}
	// A new request with the old id gets a fresh session.
	h.do(sid, func(r *Request) {
		if !r.IsNew() {
			t.Error("old id leads to the session")
		}
	})
}

func TestRegenerateKeepsAnEarlierWrite(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada")
	r := h.start(sid)
	r.Get("user")
	h.do(sid, func(w *Request) { w.Set("cart", "3") })
	r.Set("role", "admin")
	if err := r.Regenerate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get("cart"); v != "3" {
		t.Errorf("the request's own view after Regenerate lacks the earlier write: cart = %v", v)
	}
	nsid := r.ID()
	r.End()
	m, _ := h.stored(nsid)
	if m["cart"] != "3" || m["role"] != "admin" || m["user"] != "ada" {
		t.Fatalf("new id holds %v: the earlier write was lost", m)
	}
	if _, ok := h.stored(sid); ok {
		t.Error("old id kept")
	}
}

func TestDestroyDropsARacingWrite(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada")
	w := h.start(sid)
	w.Get("user")
	res := h.do(sid, func(r *Request) { r.Destroy() })
	if h.e.retired(h.e.Key(sid)) {
		t.Error("Destroy forwards writes")
	}
	_ = res
	w.Set("cart", "3")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if h.mem.Len() != 0 {
		keys, _ := h.mem.Keys(context.Background())
		t.Errorf("stored after Destroy: %v", keys)
	}
}

func TestMovesExpire(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1")
	h.do(sid, func(r *Request) { _ = r.Regenerate() })
	k := h.e.Key(sid)
	h.e.qmu.Lock()
	h.e.moves[k].until = time.Now().Add(-time.Second)
	h.e.qmu.Unlock()
	if h.e.retired(k) {
		t.Error("an old move still counts")
	}
	sid2 := h.newSession("a", "2")
	h.do(sid2, func(r *Request) { _ = r.Regenerate() })
	h.e.qmu.Lock()
	_, kept := h.e.moves[k]
	n := len(h.e.moves)
	h.e.qmu.Unlock()
	if kept || n != 1 || h.e.movesN.Load() != 1 {
		t.Errorf("expired move kept (%v), %d moves, movesN %d", kept, n, h.e.movesN.Load())
	}
	if _, ok := h.e.movedTo(context.Background(), "session:unknown"); ok {
		t.Error("movedTo of an unknown key")
	}
}

// hanging delays every call of a real store until its context ends.
type hanging struct{ backends.Store }

func (s hanging) Load(ctx context.Context, key string) ([]byte, bool, error) {
	<-ctx.Done()
	return nil, false, ctx.Err()
}
func (s hanging) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}
func (s hanging) Delete(ctx context.Context, key string) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestStoreTimeoutIsOneBudget(t *testing.T) {
	h := newHarness(t, true, func(c *Config) { c.Timeout = 30 * time.Millisecond })
	sid := h.newSession("a", "1")
	h.e.store = hanging{h.mem}
	res := h.do(sid, func(r *Request) {
		if _, ok := r.Get("a"); ok {
			t.Error("value from a hanging store")
		}
		err := r.Err()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err = %v", err)
		}
		if !strings.HasPrefix(err.Error(), "ginsession: load session: ") || strings.Count(err.Error(), "ginsession:") != 1 {
			t.Errorf("message %q", err)
		}
		r.Set("a", "2") // refused: the load failed
	})
	if !errors.Is(res.err, ErrUnavailable) {
		t.Errorf("commit after a failed load: %v", res.err)
	}
	// The budget is spent by the first call: the next one fails at once,
	// on a store that answers (a memory store checks its context).
	h.e.store = plainStore{h.store}
	r := h.start("")
	r.Set("a", "1")
	r.spent = time.Hour
	if err := r.Commit(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("commit with the budget spent: %v", err)
	}
	if r.spent < time.Hour {
		t.Error("store call not charged to the budget")
	}
}

func TestBrokenRequestIsNeverCommitted(t *testing.T) {
	h := newHarness(t, false, nil)
	r := h.start("")
	r.Set("a", "1")
	r.st = stBroken
	if err := r.Commit(); !errors.Is(err, ErrPanicked) {
		t.Errorf("commit of a broken request: %v", err)
	}
	if err := r.Err(); !errors.Is(err, ErrPanicked) {
		t.Errorf("Err = %v", err)
	}
	r.Set("b", "2")
	if r.Has("b") {
		t.Error("Set on a broken request")
	}
	if h.mem.Len() != 0 {
		t.Error("broken request stored")
	}
}
