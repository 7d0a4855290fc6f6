package engine

import (
	"context"
	"testing"
)

// A map handed out by Get and changed in place after Save is saved by the
// final commit (the mutation run found the change lost).
func TestInPlaceChangeAfterSaveIsSaved(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("cart", map[string]any{"n": int64(1)})
	res := h.do(sid, func(r *Request) {
		v, _ := r.Get("cart")
		if err := r.Save(); err != nil {
			t.Fatal(err)
		}
		v.(map[string]any)["n"] = int64(3)
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	m, _ := h.stored(sid)
	if n := m["cart"].(map[string]any)["n"]; n != int64(3) {
		t.Fatalf("stored n = %v, want 3", n)
	}
	// A value set by the request, saved, then changed in place, too.
	h.do(sid, func(r *Request) {
		r.Set("list", []any{"a"})
		v, _ := r.Get("list")
		if err := r.Save(); err != nil {
			t.Fatal(err)
		}
		l := v.([]any)
		l[0] = "b"
	})
	m, _ = h.stored(sid)
	if got := m["list"].([]any)[0]; got != "b" {
		t.Fatalf("stored list[0] = %v, want b", got)
	}
}

// A request whose write was dropped because a concurrent request deleted
// the session (a logout) does not write its data under a new id afterwards
// (the mutation run found the logged-out data written on Regenerate).
func TestDroppedWriteRestartsTheSession(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("user", "ada")
	r := h.start(sid)
	r.Set("note", "x") // loaded; the logout below deletes the session
	if err := h.mem.Delete(context.Background(), h.e.Key(sid)); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Get("user"); ok {
		t.Fatalf("after the dropped write the request still sees user=%v", v)
	}
	if err := r.Regenerate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	r.End()
	keys, err := h.mem.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if m, _ := h.stored(k[len("session:"):]); m["user"] == "ada" {
			t.Fatalf("the logged-out data was written under %s", k)
		}
	}
}

// Repairing invalid UTF-8 keeps the other values of a list or map as
// they are: an integer stays an integer.
func TestRepairKeepsIntegers(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("x", []any{"\xff", int64(1) << 60, true, nil, []byte{1}})
	m, _ := h.stored(sid)
	l := m["x"].([]any)
	if l[0] != "\uFFFD" || l[1] != int64(1)<<60 || l[2] != true || l[3] != nil {
		t.Fatalf("stored %#v", l)
	}
	if b, ok := l[4].([]byte); !ok || len(b) != 1 {
		t.Fatalf("bytes became %#v", l[4])
	}
}
