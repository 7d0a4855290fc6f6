package engine

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ginsession/ginsession/internal/race"

	"github.com/ginsession/ginsession/internal/wire"
)

// Tests written to kill mutants go-gremlins found alive in the code changed
// after the first run (budget.go, GetString, the commit queue's inline
// slot, the pooled encode buffers); docs/testing.md lists the run.

// GetString answers like Get followed by a string type assertion, for a
// stored value (read from its bytes), a value set by the request, a
// non-string value and a missing key — including the session's first entry
// (a non-permanent session has no _permanent before it).
func TestGetStringLikeGet(t *testing.T) {
	for _, f := range []wire.Format{wire.MsgPack, wire.JSON} {
		h := newHarness(t, false, func(c *Config) { c.Permanent = false; c.Format = f })
		sid := h.newSession("first", "héllo", "n", int64(7), "b", []byte("xy"), "esc", "a\"b\\c\n", "empty", "")
		check := func(r *Request, key, want string, wantOK bool) {
			t.Helper()
			got, ok := r.GetString(key)
			if got != want || ok != wantOK {
				t.Errorf("format %d: GetString(%q) = %q, %v; want %q, %v", f, key, got, ok, want, wantOK)
			}
			v, present := r.Get(key)
			s, isString := v.(string)
			if present && isString != wantOK || isString && s != got {
				t.Errorf("format %d: GetString(%q) = %q, %v disagrees with Get = %#v, %v", f, key, got, ok, v, present)
			}
		}
		res := h.do(sid, func(r *Request) {
			check(r, "first", "héllo", true)
			if i := r.index("first"); i != 0 {
				t.Fatalf("format %d: the first key is at %d, want 0", f, i)
			}
			check(r, "n", "", false)
			if f == wire.MsgPack { // JSON stores bytes as a base64 string
				check(r, "b", "", false)
			}
			check(r, "esc", "a\"b\\c\n", true)
			check(r, "empty", "", true)
			check(r, "missing", "", false)
			r.Set("first", "changed")
			check(r, "first", "changed", true)
			r.Set("n", "now a string")
			check(r, "n", "now a string", true)
		})
		if res.err != nil {
			t.Fatal(res.err)
		}
	}
}

// The first store call of a request uses the context held in the Request:
// a read that only checks Err and Deadline, as an in-process store does,
// costs no allocation. Later calls each get their own (TestEachCallItsContext).
func TestFirstCallContextAllocatesNothing(t *testing.T) {
	r := &Request{e: &Engine{cfg: Config{Timeout: time.Second}}, http: httptest.NewRequest(http.MethodGet, "/", nil)}
	n := testing.AllocsPerRun(100, func() {
		r.calls, r.spent, r.call0 = 0, 0, callCtx{} // a new request
		ctx, c := r.readCtx()
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		r.done(c)
	})
	if n != 0 {
		t.Errorf("the first store call's context costs %v allocations, want 0", n)
	}
}

// Sessions are encoded into a pooled scratch buffer: a small session costs
// one allocation (its bytes, copied out at their size), and the bytes handed
// to the store are its own (a store may keep them, as the memory store does).
func TestEncodeReusesItsBuffer(t *testing.T) {
	h := newHarness(t, false, nil)
	first := []wire.Entry{wire.NewEntry("a", "first value")}
	data, err := h.e.encode("k", first)
	if err != nil {
		t.Fatal(err)
	}
	keep := string(data)
	second := []wire.Entry{wire.NewEntry("a", "other value")}
	if _, err := h.e.encode("k", second); err != nil {
		t.Fatal(err)
	}
	if string(data) != keep || cap(data) >= 1024 {
		t.Fatalf("encoded bytes changed by a later encoding or not copied out of the scratch buffer (len %d, cap %d)", len(data), cap(data))
	}
	if race.Enabled {
		t.Skip("allocation counts need a non-race build (sync.Pool drops items under -race)")
	}
	// Two collections empty the pool (it keeps a victim cache for one), so
	// that a large buffer left there by another test is not what is reused.
	runtime.GC()
	runtime.GC()
	if n := testing.AllocsPerRun(100, func() { _, _ = h.e.encode("k", second) }); n != 1 {
		t.Errorf("encoding a small session allocates %v times, want 1", n)
	}
}
