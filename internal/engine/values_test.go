package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
	"github.com/ginsession/ginsession/internal/wire"
)

func TestRepairUTF8LikePython(t *testing.T) {
	// Expected values: Python's b.decode("utf-8", "replace").
	const R = "\uFFFD"
	for in, want := range map[string]string{
		"plain":                     "plain",
		"h\u00e9 \u20ac \U0001F600": "h\u00e9 \u20ac \U0001F600",
		"\x80":                      R,
		"a\xffb":                    "a" + R + "b",
		"\xc0\xaf":                  R + R,
		"\xc1\x80":                  R + R,
		"\xc2":                      R,
		"\xc2a":                     R + "a",
		"\xdf":                      R,
		"\xe0\x80\xaf":              R + R + R,
		"\xe0\xa0":                  R,
		"\xe0\xa0a":                 R + "a",
		"\xe1\x80":                  R,
		"\xec\x80a":                 R + "a",
		"\xed\xa0\x80":              R + R + R,
		"\xed\x9f":                  R,
		"\xee\x80":                  R,
		"\xef\xbf":                  R,
		"\xf0\x8f\x80\x80":          R + R + R + R,
		"\xf0\x90\x80":              R,
		"\xf0\x90\x80a":             R + "a",
		"\xf1\x80\x80":              R,
		"\xf3\xbf\xbf":              R,
		"\xf4\x90\x80\x80":          R + R + R + R,
		"\xf4\x8f\xbf":              R,
		"\xf5\x80":                  R + R,
		"\xfe\xff":                  R + R,
		"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64": "a" + R + R + R + "b" + R + "c" + R + R + "d",
	} {
		if got := repairUTF8(in); got != want {
			t.Errorf("repairUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIllFormedLen(t *testing.T) {
	for in, want := range map[string]int{
		"\x80": 1, "\xc1\x80": 1, "\xc2": 1, "\xc2\x41": 1, "\xdf\xc0": 1,
		"\xe0\x9f": 1, "\xe0\xa0": 2, "\xe0\xbf\x41": 2, "\xe1\x80": 2, "\xe1\x7f": 1,
		"\xed\x80": 2, "\xed\xa0": 1, "\xee\x80\x41": 2, "\xef\xbf": 2,
		"\xf0\x8f": 1, "\xf0\x90": 2, "\xf0\x90\x80": 3, "\xf1\x80\x80": 3, "\xf3\x80\x80\x41": 3,
		"\xf4\x8f\x80": 3, "\xf4\x90": 1, "\xf5\x80": 1, "\xff": 1,
	} {
		if got := illFormedLen(in); got != want {
			t.Errorf("illFormedLen(%q) = %d, want %d", in, got, want)
		}
	}
}

type profile struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func TestSetNormalisesAndRepairs(t *testing.T) {
	h := newHarness(t, false, nil)
	now := map[string]any{}
	res := h.do("", func(r *Request) {
		r.Set("int", 42)
		r.Set("f", 1.5)
		r.Set("nil", nil)
		r.Set("s", "a\xffb")
		r.Set("ss", []string{"x\xff", "y"})
		r.Set("sa", []any{"\xff", true})
		r.Set("m", map[string]any{"k\xff": "v\xff"})
		r.Set("ms", map[string]string{"k": "v\xff"})
		r.Set("st", profile{Name: "n\xff", Tags: []string{"t"}})
		r.Set("b", []byte{0xff, 0})
		for _, k := range r.Keys() {
			now[k], _ = r.Get(k)
		}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	sid, _ := res.setCookie()
	stored, _ := h.stored(sid)
	want := map[string]any{
		"int": int64(42), "f": 1.5, "nil": nil, "s": "a\uFFFDb",
		"ss": []any{"x\uFFFD", "y"}, "sa": []any{"\uFFFD", true},
		"m": map[string]any{"k\uFFFD": "v\uFFFD"}, "ms": map[string]any{"k": "v\uFFFD"},
		"st": map[string]any{"name": "n\uFFFD", "tags": []any{"t"}},
		"b":  []byte{0xff, 0},
	}
	for k, w := range want {
		if !reflect.DeepEqual(now[k], w) {
			t.Errorf("Get(%s) in the request = %#v, want %#v", k, now[k], w)
		}
		if !reflect.DeepEqual(stored[k], w) {
			t.Errorf("stored %s = %#v, want %#v", k, stored[k], w)
		}
	}
}

func TestRepairKeepsOtherValues(t *testing.T) {
	for _, v := range []any{[]byte("\xff"), true, "ok"} {
		if got := repair(v); !reflect.DeepEqual(got, v) {
			t.Errorf("repair(%#v) = %#v", v, got)
		}
	}
	ch := make(chan int)
	if got := repair(ch); got != any(ch) {
		t.Error("repair of an unencodable value changed it")
	}
	if got := repair(math.Inf(1)); got != math.Inf(1) {
		t.Errorf("repair(+Inf) = %v", got)
	}
	if got := repair(json1{}); !reflect.DeepEqual(got, json1{}) {
		t.Errorf("repair of a value whose JSON does not parse back = %#v", got)
	}
}

// json1 marshals to JSON that json.Unmarshal into any rejects? It cannot;
// it marshals fine, so repair returns its generic form.
type json1 struct{}

func (json1) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }

func TestSetRejectsUnencodable(t *testing.T) {
	h := newHarness(t, false, nil)
	for _, v := range []any{make(chan int), func() {}} {
		res := h.do("", func(r *Request) {
			r.Set("ok", "1")
			r.Set("bad", v)
			r.Set("bad2", v)
			if r.Has("bad") {
				t.Errorf("%v stored in the session", v)
			}
		})
		var ge *Error
		if !errors.Is(res.err, ErrNotEncodable) || !errors.As(res.err, &ge) || ge.Key != "bad" {
			t.Errorf("Set(%v): commit = %v", v, res.err)
		}
		if len(res.header.Values("Set-Cookie")) != 0 {
			t.Error("cookie for an unsaved session")
		}
	}
	if h.mem.Len() != 0 {
		t.Error("stored a session holding an unencodable value")
	}
}

func TestInPlaceChanges(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("cart", map[string]any{"n": int64(1)}, "list", []any{"a"}, "s", "x")
	writes := func() int32 { return h.store.saveIfs.Load() }
	w0 := writes()
	h.do(sid, func(r *Request) {
		v, _ := r.Get("cart")
		v.(map[string]any)["n"] = int64(2)
		r.Get("cart") // a second Get does not re-record
		l, _ := r.Get("list")
		l.([]any)[0] = "b"
	})
	m, _ := h.stored(sid)
	if m["cart"].(map[string]any)["n"] != int64(2) || m["list"].([]any)[0] != "b" {
		t.Fatalf("in-place change lost: %v", m)
	}
	if writes() != w0+1 {
		t.Errorf("%d writes", writes()-w0)
	}
	// Read, not changed: no write.
	w0 = writes()
	h.do(sid, func(r *Request) { r.Get("cart"); r.Get("s"); r.Get("list") })
	if writes() != w0 {
		t.Error("unchanged values rewritten")
	}
	// Handed out, then replaced or deleted: the Set wins.
	h.do(sid, func(r *Request) {
		v, _ := r.Get("cart")
		r.Set("cart", map[string]any{"n": int64(9)})
		v.(map[string]any)["n"] = int64(5)
		l, _ := r.Get("list")
		r.Delete("list")
		l.([]any)[0] = "z"
	})
	m, _ = h.stored(sid)
	if m["cart"].(map[string]any)["n"] != int64(9) || m["list"] != nil {
		t.Errorf("stored %v", m)
	}
	// A value set in this request and changed in place is written anyway.
	h.do(sid, func(r *Request) {
		v := map[string]any{"n": int64(1)}
		r.Set("new", v)
		got, _ := r.Get("new")
		got.(map[string]any)["n"] = int64(3)
	})
	m, _ = h.stored(sid)
	if m["new"].(map[string]any)["n"] != int64(3) {
		t.Errorf("stored %v", m)
	}
}

func TestDecodeOnlyWhatIsRead(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", []any{"x"}, "b", "y")
	h.do(sid, func(r *Request) {
		r.Get("b")
		if got := r.DecodedKeys(); len(got) != 1 || got[0] != "b" {
			t.Errorf("decoded %v", got)
		}
	})
}

func TestSignedCookies(t *testing.T) {
	signer := cookie.NewSigner("secret", nil)
	h := newHarness(t, false, func(c *Config) { c.Signer = signer })
	res := h.do("", func(r *Request) { r.Set("a", "1") })
	v, _ := res.setCookie()
	sid, ok := signer.Unsign(v)
	if !ok || sid != res.sid {
		t.Fatalf("cookie %q not signed for %q", v, res.sid)
	}
	h.do(v, func(r *Request) {
		if r.IsNew() {
			t.Error("signed cookie not accepted")
		}
	})
	loads := h.store.loads.Load()
	for _, bad := range []string{sid, tamper(v), strings.Repeat("a", 600)} {
		h.do(bad, func(r *Request) {
			if !r.IsNew() {
				t.Errorf("cookie %q accepted", bad)
			}
		})
	}
	if h.store.loads.Load() != loads {
		t.Error("a bad cookie reached the store")
	}
}

// tamper changes one character in the middle of a signed value's signature.
func tamper(v string) string {
	i := len(v) - 10
	c := byte('A')
	if v[i] == 'A' {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}

func TestCookieSID(t *testing.T) {
	h := newHarness(t, false, nil)
	id := cookie.NewID(32)
	for _, c := range []struct {
		v  string
		ok bool
	}{{"", false}, {id, true}, {id[:42], false}, {id + "A", false}, {strings.Repeat("A", 513), false}} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", cookieName+"="+c.v)
		got, ok := h.e.CookieSID(req)
		if ok != c.ok || (ok && got != c.v) {
			t.Errorf("CookieSID(%q) = %q, %v", c.v, got, ok)
		}
	}
	// 512 bytes is accepted as far as length goes.
	h2 := newHarness(t, false, func(c *Config) { c.IDLength = 384 })
	long := cookie.NewID(384)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", cookieName+"="+long)
	if _, ok := h2.e.CookieSID(req); len(long) != 512 || !ok {
		t.Errorf("512-byte id (%d) rejected", len(long))
	}
}

func TestEncryptedSessions(t *testing.T) {
	key := bytes.Repeat([]byte{7}, seal.KeyLen)
	s, err := seal.New(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, false, func(c *Config) { c.Sealer = s })
	sid := h.newSession("secret", "hunter2")
	raw := h.raw(sid)
	if bytes.Contains(raw, []byte("hunter2")) {
		t.Fatal("stored in clear")
	}
	h.do(sid, func(r *Request) {
		if v, _ := r.Get("secret"); v != "hunter2" {
			t.Errorf("Get = %v", v)
		}
	})
	// A tombstone decodes as "no session" for both formats.
	for _, f := range []wire.Format{wire.MsgPack, wire.JSON} {
		h.e.cfg.Format = f
		if _, _, err := h.e.decode("k", h.e.tombstone("k")); !errors.Is(err, wire.ErrNil) {
			t.Errorf("%v tombstone: %v", f, err)
		}
	}
	h.e.cfg.Sealer, h.e.cfg.Format = nil, wire.MsgPack
	if got := h.e.tombstone("k"); string(got) != "\xc0" {
		t.Errorf("msgpack tombstone %q", got)
	}
	h.e.cfg.Format = wire.JSON
	if got := h.e.tombstone("k"); string(got) != "null" {
		t.Errorf("JSON tombstone %q", got)
	}
	// Rotation: a value sealed with a fallback key is rewritten with the
	// current one.
	s2, _ := seal.New(bytes.Repeat([]byte{8}, seal.KeyLen), [][]byte{key})
	h2 := newHarness(t, false, func(c *Config) { c.Sealer = s })
	sid = h2.newSession("a", "1")
	h2.e.cfg.Sealer = s2
	w := h2.store.saveIfs.Load()
	h2.do(sid, func(r *Request) { r.Get("a") })
	if h2.store.saveIfs.Load() != w+1 {
		t.Error("fallback-key value not rewritten")
	}
	if _, _, err := s.Open(h2.e.Key(sid), h2.raw(sid)); err == nil {
		t.Error("still sealed with the old key")
	}
}

func TestJSONFormat(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Format = wire.JSON })
	sid := h.newSession("a", "1")
	if got := string(h.raw(sid)); got != `{"_permanent":true,"a":"1"}` {
		t.Errorf("stored %s", got)
	}
}

func TestDecodeLimits(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.MaxSize = 100 })
	big := []byte("\x81\xa1a\xda\x00\xd0" + strings.Repeat("x", 208)) // 214 bytes > 2*100+overhead? overhead is added
	lim := h.e.limits()
	if lim.MaxInput != 200+seal.Overhead {
		t.Fatalf("MaxInput %d", lim.MaxInput)
	}
	over := append(big, bytes.Repeat([]byte("y"), lim.MaxInput-len(big)+1)...)
	if _, _, err := h.e.decode("k", over); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("decode of %d bytes: %v", len(over), err)
	}
	okv := []byte("\x81\xa1a\xda" + string([]byte{0, byte(lim.MaxInput - 6)}) + strings.Repeat("x", lim.MaxInput-6))
	if len(okv) != lim.MaxInput {
		t.Fatalf("len %d", len(okv))
	}
	if _, _, err := h.e.decode("k", okv); err != nil {
		t.Errorf("decode of exactly MaxInput bytes: %v", err)
	}
	// Exactly MaxSize encodes; one more does not.
	for _, n := range []int{0, 1} {
		entries := []wire.Entry{wire.NewEntry("a", strings.Repeat("x", 100-5-n+1))}
		data, err := h.e.encode("k", entries)
		if n == 1 && (err != nil || len(data) != 100) {
			t.Errorf("%d bytes: %v", len(data), err)
		}
		if n == 0 && !errors.Is(err, ErrTooLarge) {
			t.Errorf("101 bytes: %v", err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	cause := errors.New("ginsession: dial tcp: refused")
	for _, c := range []struct {
		err  *Error
		want string
	}{
		{&Error{Kind: ErrUnavailable, Op: "load session", Err: cause}, "ginsession: load session: dial tcp: refused"},
		{&Error{Kind: ErrNotEncodable, Op: "set session value", Key: `a"b`, Err: cause}, `ginsession: set session value at key "a\"b": dial tcp: refused`},
		{&Error{Kind: ErrTooLarge, Op: "save session", Detail: "too big", Err: cause}, "ginsession: save session: too big"},
		{&Error{Kind: ErrEnded, Op: "save session"}, "ginsession: save session: session used after its request ended"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
	e := storeError("save session", fmt.Errorf("x: %w", backends.ErrTooLarge))
	if !errors.Is(e, ErrTooLarge) || errors.Is(e, ErrUnavailable) {
		t.Errorf("too large: %v", e)
	}
	e = storeError("save session", fmt.Errorf("x: %w", backends.ErrConflict))
	if !errors.Is(e, ErrConflict) {
		t.Errorf("conflict: %v", e)
	}
	e = storeError("save session", cause)
	if !errors.Is(e, ErrUnavailable) || !errors.Is(e, cause) {
		t.Errorf("other: %v", e)
	}
	inner := &Error{Kind: ErrConflict, Op: "x"}
	if got := storeError("save session", inner); got != error(inner) {
		t.Errorf("an engine error is wrapped again: %v", got)
	}
	if got := tooLargeDetail(5, 4); got != "encoded session is 5 bytes, over the limit of 4" {
		t.Errorf("%q", got)
	}
	if got := notEncodable(cause); !errors.Is(got, ErrNotEncodable) || !errors.Is(got, cause) {
		t.Errorf("notEncodable: %v", got)
	}
}

func TestLogSID(t *testing.T) {
	for in, want := range map[string]string{"": "", "12345678": "12345678", "123456789": "12345678…"} {
		if got := LogSID(in); got != want || !utf8.ValidString(got) {
			t.Errorf("LogSID(%q) = %q", in, got)
		}
	}
}

func TestApply(t *testing.T) {
	entries := []wire.Entry{wire.NewEntry("a", "1"), wire.NewEntry("b", "2")}
	got := apply(entries, []change{
		{kind: changeSet, key: "c", val: "3"},
		{kind: changeDelete, key: "a"},
		{kind: changeFlash, key: "message", val: "hi"},
		{kind: changeSet, key: "b", val: "B"},
	})
	var keys []string
	for i := range got {
		keys = append(keys, got[i].Key)
	}
	if strings.Join(keys, ",") != "b,c,_flashes" {
		t.Errorf("keys %v", keys)
	}
	if v, _ := got[0].Value(); v != "B" {
		t.Errorf("b = %v", v)
	}
	if got = apply(got, []change{{kind: changeClear}, {kind: changeSet, key: "z", val: int64(1)}}); len(got) != 1 || got[0].Key != "z" {
		t.Errorf("after clear: %v", got)
	}
}

func TestFlashCopiesTheList(t *testing.T) {
	shared := []any{[]any{"message", "a"}}
	list := make([]any, 1, 4)
	copy(list, shared)
	one := []wire.Entry{wire.NewEntry(FlashesKey, list)}
	two := []wire.Entry{wire.NewEntry(FlashesKey, list)}
	one = flash(one, "message", "b")
	two = flash(two, "message", "c")
	v1, _ := one[0].Value()
	v2, _ := two[0].Value()
	if fmt.Sprint(v1) != "[[message a] [message b]]" || fmt.Sprint(v2) != "[[message a] [message c]]" {
		t.Errorf("views share a backing array: %v / %v", v1, v2)
	}
	// A _flashes that is not a list is replaced.
	three := flash([]wire.Entry{wire.NewEntry(FlashesKey, "junk")}, "m", "x")
	if v, _ := three[0].Value(); fmt.Sprint(v) != "[[m x]]" {
		t.Errorf("junk flashes: %v", v)
	}
}

func TestPlan(t *testing.T) {
	h := newHarness(t, false, nil)
	r := &Request{e: h.e}
	if r.plan() != actNothing {
		t.Error("empty, clean")
	}
	r.changes = []change{{kind: changeClear}}
	if r.plan() != actDelete {
		t.Error("emptied")
	}
	r.entries = []wire.Entry{wire.NewEntry("a", "1")}
	if r.plan() != actWrite {
		t.Error("changed")
	}
	r.changes = nil
	if r.plan() != actTouch {
		t.Error("unchanged, refresh")
	}
	r.fresh = true
	if r.plan() != actNothing {
		t.Error("refreshed at load")
	}
	r.fresh, r.isNew = false, true
	if r.plan() != actNothing {
		t.Error("new")
	}
	r.isNew, r.reseal = false, true
	if r.plan() != actWrite {
		t.Error("reseal")
	}
	r.reseal, r.prev = false, &previous{}
	if r.plan() != actWrite {
		t.Error("moved")
	}
	r.prev = nil
	h.e.cfg.Refresh = false
	if r.plan() != actNothing {
		t.Error("no refresh")
	}
	h.e.cfg.Idle = 1
	if r.plan() != actTouch {
		t.Error("idle timeout refreshes")
	}
}

type roleName string

func ptr[T any](v T) *T { return &v }

// Invalid UTF-8 is repaired the same way wherever the string is: in a named
// string type, a slice, array or map of any element type, a map key — as
// if the caller had stored the repaired strings (each maximal ill-formed
// sequence one U+FFFD, as Werkzeug decodes; "\xe2\x82" is one sequence).
func TestRepairLikeAPlainStringEverywhere(t *testing.T) {
	const bad, good = "x\xe2\x82y\xff", "x\uFFFDy\uFFFD"
	pairs := []struct{ bad, good any }{
		{roleName(bad), roleName(good)},
		{[]roleName{bad, "ok"}, []roleName{good, "ok"}},
		{[2]string{bad, "ok"}, [2]string{good, "ok"}},
		{map[string]roleName{"k": bad}, map[string]roleName{"k": good}},
		{map[roleName]int64{bad: 1}, map[roleName]int64{good: 1}},
		{map[string][]string{"k": {bad}, "nil": nil}, map[string][]string{"k": {good}, "nil": nil}},
		{[][]any{{bad, int64(1)}, nil}, [][]any{{good, int64(1)}, nil}},
		{map[string]map[string]any{"m": {bad: bad, "n": nil, "i": int64(1) << 60}}, map[string]map[string]any{"m": {good: good, "n": nil, "i": int64(1) << 60}}},
		{&[]*roleName{ptr(roleName(bad)), nil}, &[]*roleName{ptr(roleName(good)), nil}},
		{map[string]*string{"k": ptr(bad)}, map[string]*string{"k": ptr(good)}},
	}
	for _, f := range []wire.Format{wire.MsgPack, wire.JSON} {
		h := newHarness(t, false, func(c *Config) { c.Format = f })
		// A struct goes through encoding/json, beside a bad string as alone.
		st := profile{Name: bad, Tags: []string{bad}}
		sid := h.newSession("alone", st, "beside", []any{st, bad})
		stored, _ := h.stored(sid)
		if beside, _ := stored["beside"].([]any); len(beside) != 2 || !reflect.DeepEqual(beside[0], stored["alone"]) || beside[1] != good {
			t.Errorf("format %d: a struct beside a bad string = %#v, alone %#v", f, stored["beside"], stored["alone"])
		}
		for _, p := range pairs {
			sid := h.newSession("bad", p.bad, "good", p.good)
			stored, _ := h.stored(sid)
			if !reflect.DeepEqual(stored["bad"], stored["good"]) {
				t.Errorf("format %d: %T repaired to %#v, want %#v", f, p.bad, stored["bad"], stored["good"])
			}
		}
	}
}

type (
	ring []any
	rmap map[string]any
)

// A value that contains itself and an invalid string is refused with a
// clear error (its repair once recursed until the stack overflowed, a crash
// no recover catches): a cycle through each kind repair walks.
func TestRepairOfACyclicValue(t *testing.T) {
	h := newHarness(t, false, nil)
	m := map[string]any{"bad": "\xff"}
	m["self"] = m
	a := []any{"\xff", nil}
	a[1] = a
	r := ring{"\xff", nil}
	r[1] = r
	rm := rmap{"bad": "\xff"}
	rm["self"] = rm
	pm := map[string]any{}
	pm["p"] = &pm
	for _, v := range []any{m, a, []any{"\xff", r}, []any{"\xff", rm}, []any{"\xff", &pm}} {
		res := h.do("", func(r *Request) {
			r.Set("ok", "1")
			r.Set("k", v)
		})
		if !errors.Is(res.err, ErrNotEncodable) {
			t.Errorf("%T containing itself: commit = %v", v, res.err)
		}
	}
	if h.mem.Len() != 0 {
		t.Error("stored a session holding a cyclic value")
	}
}

// repair goes as deep as a value may be: a bad string at the deepest level
// Normalize accepts is repaired, one level deeper is refused as too deep.
func TestRepairAsDeepAsNormalize(t *testing.T) {
	nest := func(n int, s string) any {
		var v any = s
		for range n {
			v = []any{v}
		}
		return v
	}
	deepest := -1
	for n := 0; n < 2*wire.DefaultMaxDepth; n++ {
		if _, err := wire.MsgPack.Normalize(nest(n, "ok")); err != nil {
			break
		}
		deepest = n
	}
	if deepest < 1 {
		t.Fatalf("Normalize accepts %d levels", deepest)
	}
	h := newHarness(t, false, nil)
	for _, n := range []int{deepest, deepest + 1} {
		res := h.do("", func(r *Request) { r.Set("k", nest(n, "\xff")) })
		if n == deepest && res.err != nil {
			t.Errorf("%d levels (the deepest Normalize accepts) with a bad string: %v", n, res.err)
		}
		if n > deepest && !errors.Is(res.err, ErrNotEncodable) {
			t.Errorf("%d levels: %v", n, res.err)
		}
	}
}
