package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Edge cases of the codecs: the exact depth limit, truncated input at every
// byte, cyclic values, boundaries of the integer and timestamp forms, and
// what the error messages point at. (Written after a go-gremlins run showed
// them untested: docs/testing.md.)

// nestIn wraps inner in n containers of the given kind; the outermost is
// the value of a top-level entry (level 2), so inner sits at level n+2.
func nestIn(inner any, n int, kind string) any {
	v := inner
	for range n {
		switch kind {
		case "list":
			v = []any{v}
		case "dict":
			v = map[string]any{"k": v, "z": false}
		case "Map":
			v = Map{{Key: int64(1), Value: v}, {Key: "z", Value: false}}
		}
	}
	return v
}

// TestEncodeDepthLimitExact: the encoders accept a value whose deepest
// container sits at level DefaultMaxDepth (the deepest the decoders read,
// the session map being level 1) and refuse, with ErrTooDeep, one level
// more: what Set accepts is read back by the next request, and what the
// next request could not read is refused at Set rather than stored and lost.
// This holds for the generic containers and for values the encoders
// convert first (a typed slice, a struct).
func TestEncodeDepthLimitExact(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	cases := []struct {
		name  string
		inner any // a container, or a scalar inside the innermost container
		kind  string
		n     int // wrappers that put the deepest container at DefaultMaxDepth
	}{
		{"list", int64(1), "list", DefaultMaxDepth - 1},
		{"dict", int64(1), "dict", DefaultMaxDepth - 1},
		{"Map", int64(1), "Map", DefaultMaxDepth - 1},
		{"[]int8 in lists", []int8{1, 2}, "list", DefaultMaxDepth - 2},
		{"struct in dicts", point{X: 1}, "dict", DefaultMaxDepth - 2},
		{"[]any in Maps", []any{int64(1)}, "Map", DefaultMaxDepth - 2},
	}
	for _, f := range []Format{MsgPack, JSON} {
		for _, c := range cases {
			ok, deep := nestIn(c.inner, c.n, c.kind), nestIn(c.inner, c.n+1, c.kind)
			enc, err := f.AppendValue(nil, ok)
			if err != nil {
				t.Errorf("%v %s: deepest container at level %d refused: %v", f, c.name, DefaultMaxDepth, err)
				continue
			}
			if _, err := decodeValue(f, string(enc)); err != nil {
				t.Errorf("%v %s: encoded at level %d but not decoded: %v", f, c.name, DefaultMaxDepth, err)
			}
			if _, err := f.Normalize(ok); err != nil {
				t.Errorf("%v %s: Normalize at level %d: %v", f, c.name, DefaultMaxDepth, err)
			}
			session, err := f.Encode(nil, []Entry{NewEntry("k", ok)})
			if err != nil {
				t.Fatalf("%v %s: Encode: %v", f, c.name, err)
			}
			if es, err := f.Decode(nil, session, Limits{}); err != nil {
				t.Errorf("%v %s: session with a value at level %d not decoded: %v", f, c.name, DefaultMaxDepth, err)
			} else if _, err := es[0].Value(); err != nil {
				t.Errorf("%v %s: Value: %v", f, c.name, err)
			}
			if _, err := f.AppendValue(nil, deep); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v %s: level %d: AppendValue error %v, want ErrTooDeep", f, c.name, DefaultMaxDepth+1, err)
			}
			if _, err := f.Normalize(deep); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v %s: level %d: Normalize error %v, want ErrTooDeep", f, c.name, DefaultMaxDepth+1, err)
			}
			if _, err := f.Encode(nil, []Entry{NewEntry("k", deep)}); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v %s: level %d: Encode error %v, want ErrTooDeep", f, c.name, DefaultMaxDepth+1, err)
			}
		}
	}
}

type (
	selfSlice []selfSlice
	anySlice  []any
	anyMap    map[string]any
	listNode  struct {
		Next *listNode `json:"next"`
	}
)

// TestCyclicValuesRefused: a value that contains itself (through a typed
// slice, a typed map, an interface or a pointer) is refused with an error
// by Set (Normalize) and by the encoders, never followed until the stack
// overflows.
func TestCyclicValuesRefused(t *testing.T) {
	s := selfSlice{nil}
	s[0] = s
	l := anySlice{nil}
	l[0] = l
	m := anyMap{}
	m["self"] = m
	var p any
	p = &p
	n := &listNode{}
	n.Next = n
	g := []any{nil}
	g[0] = g
	for _, v := range []any{s, l, m, &p, n, g, map[string]any{"a": []any{m}}} {
		for _, f := range []Format{MsgPack, JSON} {
			if _, err := f.Normalize(v); err == nil {
				t.Errorf("%v: cyclic %T normalized", f, v)
			}
			if _, err := f.AppendValue(nil, v); err == nil {
				t.Errorf("%v: cyclic %T encoded", f, v)
			} else if _, ok := v.(*listNode); !ok && !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v: cyclic %T: %v, want ErrTooDeep", f, v, err)
			}
		}
	}
}

type bigUint uint64

// TestEncodeConvertedTypes: types the encoders convert keep their meaning:
// a nil *time.Time or *big.Int is null, a non-nil one its value; a byte
// array is binary data like []byte; a named uint64 above MaxInt64 stays
// positive; a non-struct type with its own text or JSON form (net.IP) is
// written in that form, as encoding/json writes it.
func TestEncodeConvertedTypes(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	ip := net.ParseIP("192.0.2.1")
	ipJSON, _ := json.Marshal(ip)
	cases := []struct {
		v        any
		mp, json string
	}{
		{(*time.Time)(nil), "\xc0", "null"},
		{(*big.Int)(nil), "\xc0", "null"},
		{&when, "\xd6\xff\x65\x93\x7d\x25", `"2024-01-02T03:04:05Z"`},
		{big.NewInt(-5), "\xfb", "-5"},
		{[4]byte{1, 2, 3, 4}, "\xc4\x04\x01\x02\x03\x04", `"AQIDBA=="`},
		{bigUint(1 << 63), "\xcf\x80\x00\x00\x00\x00\x00\x00\x00", "9223372036854775808"},
		{bigUint(1<<63 + 1), "\xcf\x80\x00\x00\x00\x00\x00\x00\x01", "9223372036854775809"},
		{ip, "\xa9192.0.2.1", string(ipJSON)},
		{[]net.IP{ip}, "\x91\xa9192.0.2.1", "[" + string(ipJSON) + "]"},
	}
	for _, c := range cases {
		for f, want := range map[Format]string{MsgPack: c.mp, JSON: c.json} {
			got, err := f.AppendValue(nil, c.v)
			if err != nil || string(got) != want {
				t.Errorf("%v %T %v: %q, %v; want %q", f, c.v, c.v, got, err, want)
			}
		}
	}
	if v, err := MsgPack.Normalize((*time.Time)(nil)); err != nil || v != nil {
		t.Errorf("Normalize(nil *time.Time) = %#v, %v", v, err)
	}
}

// TestDecodeRejectsEveryTruncation: Decode alone (before any value is read)
// refuses every strict prefix of a stored session, whatever value the cut
// falls in, without panicking: a session cut short by a store is reported
// as unreadable, never loaded with a value that fails later.
func TestDecodeRejectsEveryTruncation(t *testing.T) {
	var sources [][]byte
	last := []any{
		2.5, int64(-1 << 40), int64(-100), uint64(math.MaxUint64), int64(300), int64(70000), []byte{1, 2, 3},
		strings.Repeat("x", 40), strings.Repeat("y", 300), Ext{Type: 5, Data: []byte{1, 2, 3}},
		Ext{Type: 6, Data: []byte{1, 2, 3, 4}}, time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1900, 1, 2, 3, 4, 5, 6, time.UTC), "é", []any{int64(1), "a"},
		map[string]any{"a": nil}, Map{{Key: int64(1), Value: true}},
	}
	for _, v := range last {
		src, err := MsgPack.Encode(nil, []Entry{NewEntry("a", int64(1)), NewEntry("k", v)})
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, src)
	}
	// Forms the encoder does not write: float32, int16/int32, bin16, str16
	// of a short string, array16, map16.
	for _, raw := range []string{
		"\xca\x3f\xc0\x00\x00", "\xd1\xff\x00", "\xd2\xff\xff\x00\x00", "\xcd\x01\x00",
		"\xc5\x00\x02ab", "\xda\x00\x01a", "\xdc\x00\x01\x01", "\xde\x00\x01\xa1a\x01",
	} {
		sources = append(sources, []byte("\x82\xa1a\x01\xa1k"+raw))
	}
	for _, src := range sources {
		checkTruncations(t, MsgPack, src)
	}
	for _, src := range []string{
		`{"s":"a\"b\\c\/\b\f\n\r\t\u00e9\uD83D\uDE00z","f":[1.5e+30,-2E-7,1e9,0.0,-0],"n":null,"t":true,"b":false,"o":{"k":[]}}`,
		`[["a",1],[2,"x\u0041"],["e",{"k":1e+09}]]`,
		` { "k" : [ 1 , "\ud83d\ude00" ] } `,
	} {
		checkTruncations(t, JSON, []byte(src))
	}
}

func checkTruncations(t *testing.T, f Format, src []byte) {
	t.Helper()
	es, err := f.Decode(nil, src, Limits{})
	if err == nil {
		err = forceValues(es)
	}
	if err != nil {
		t.Fatalf("%v %q: %v", f, src, err)
	}
	for i := range len(bytes.TrimRight(src, " ")) {
		if es, err := f.Decode(nil, src[:i], Limits{}); err == nil {
			t.Errorf("%v: prefix %q of %q decoded: %s", f, src[:i], src, fmtEntries(es))
		}
	}
}

// TestDecodeErrorsPointAtTheFault: a decode error names the offset of the
// fault (the backslash of a bad escape, the length that overruns the input
// and the bytes that remain, the element of a top-level pair list), and a
// string cut off after an escape is reported as unterminated, not as a bad
// escape: the log line of an unreadable session says what is wrong where.
func TestDecodeErrorsPointAtTheFault(t *testing.T) {
	at := func(src, sub string) string { return strconv.Itoa(strings.Index(src, sub)) }
	cases := []struct {
		f        Format
		src      string
		contains string
	}{
		{JSON, `{"k":"ab\x"}`, `invalid escape at offset ` + at(`{"k":"ab\x"}`, `\x`)},
		{JSON, `{"k":"ab\u12G4"}`, `invalid \u escape at offset ` + at(`{"k":"ab\u12G4"}`, `\u`)},
		{JSON, `{"k":"a\ud800b"}`, `lone surrogate \ud800 in string at offset ` + at(`{"k":"a\ud800b"}`, `\u`)},
		{JSON, `{"k":"ab\ud800\u0041"}`, `lone surrogate \ud800 in string at offset ` + at(`{"k":"ab\ud800\u0041"}`, `\u`)},
		{JSON, `{"k":"\u0041`, `unterminated string starting at offset 5`},
		{JSON, `{"k":"\ud83d\ude00`, `unterminated string starting at offset 5`},
		{JSON, `{"k":"ab\`, `unterminated string starting at offset 5`},
		{JSON, `[["a",1],[null,2]]`, `top-level array element 1 has an unhashable key`},
		{JSON, `[["a",1],["b",2],["c"]]`, `top-level array element 2 is not a [key, value] pair`},
		{JSON, `{"n":1e}`, `invalid character '}' at offset 7`},
		{JSON, "{\"k\":\"a\\\"b\x01\"}", `control character in string at offset 10`},
		{MsgPack, "\x81\xa1k\xd9\x0aabc", `declared length 10 at offset 5 exceeds the 3 remaining bytes`},
		{MsgPack, "\x8a\xa1a\x01\xa1b\x02\xa1c\x03\xa1", `declared length 20 at offset 1 exceeds the 10 remaining bytes`},
	}
	for _, c := range cases {
		_, err := c.f.Decode(nil, []byte(c.src), Limits{})
		if err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%v %q: error %v, want it to say %q", c.f, c.src, err, c.contains)
		}
	}
}

// TestElementBudgetBothForms: Limits.MaxElements counts every value and
// every map key, nested ones and the keys of a top-level [key, value] pair
// list included, the same in both formats: a session of n elements decodes
// with a budget of n and fails with ErrBudget under n-1.
func TestElementBudgetBothForms(t *testing.T) {
	for _, c := range []struct {
		mp, js string
		n      int
	}{
		{"\x81\xa1a\x82\xa1x\x01\xa1y\x02", `{"a":{"x":1,"y":2}}`, 6},
		{"\x92\x92\xa1a\x92\x01\x02\x92\xa1b\xc0", `[["a",[1,2]],["b",null]]`, 6},
		{"\x92\x92\x01\x81\xa1x\x01\x92\xa1b\x90", `[[1,{"x":1}],["b",[]]]`, 6},
	} {
		for f, src := range map[Format]string{MsgPack: c.mp, JSON: c.js} {
			if _, err := f.Decode(nil, []byte(src), Limits{MaxElements: c.n}); err != nil {
				t.Errorf("%v %q: %d elements with a budget of %d: %v", f, src, c.n, c.n, err)
			}
			if _, err := f.Decode(nil, []byte(src), Limits{MaxElements: c.n - 1}); !errors.Is(err, ErrBudget) {
				t.Errorf("%v %q: %d elements with a budget of %d: %v, want ErrBudget", f, src, c.n, c.n-1, err)
			}
		}
	}
}

// TestMsgpackTimestampBoundaries: the timestamp forms at their edges, as
// msgspec writes them (32-bit seconds up to 2^32-1 without nanoseconds),
// and nanoseconds of 10^9 or more refused in the 64- and 96-bit forms.
func TestMsgpackTimestampBoundaries(t *testing.T) {
	if got, _ := MsgPack.AppendValue(nil, time.Unix(math.MaxUint32, 0)); string(got) != "\xd6\xff\xff\xff\xff\xff" {
		t.Errorf("2^32-1 s: %x, want timestamp 32", got)
	}
	if got, _ := MsgPack.AppendValue(nil, time.Unix(math.MaxUint32, 1)); string(got) != "\xd7\xff\x00\x00\x00\x04\xff\xff\xff\xff" {
		t.Errorf("2^32-1 s + 1 ns: %x, want timestamp 64", got)
	}
	ts64 := func(ns uint64) string {
		return string(binary.BigEndian.AppendUint64([]byte{0xd7, 0xff}, ns<<34|1700000000))
	}
	ts96 := func(ns uint32) string {
		b := binary.BigEndian.AppendUint32([]byte{0xc7, 12, 0xff}, ns)
		return string(binary.BigEndian.AppendUint64(b, 1700000000))
	}
	for _, c := range []struct {
		raw string
		ns  int
		ok  bool
	}{
		{ts64(999_999_999), 999_999_999, true}, {ts64(1e9), 0, false}, {ts64(1<<30 - 1), 0, false},
		{ts96(999_999_999), 999_999_999, true}, {ts96(1e9), 0, false},
	} {
		src := []byte("\x81\xa1k" + c.raw)
		es, err := MsgPack.Decode(nil, src, Limits{})
		if !c.ok {
			if err == nil {
				t.Errorf("%x: nanoseconds out of range accepted", c.raw)
			}
			continue
		}
		if err != nil {
			t.Errorf("%x: %v", c.raw, err)
			continue
		}
		v, err := es[0].Value()
		if tm, ok := v.(time.Time); err != nil || !ok || tm.Unix() != 1700000000 || tm.Nanosecond() != c.ns {
			t.Errorf("%x: %#v, %v", c.raw, v, err)
		}
	}
}

// TestJSONNumberEdges: exponents with every digit (msgspec writes 1e16 and
// up in exponent form), and integer literals up to CPython's 4300 digits
// (longer ones refused, as Python's int() refuses them).
func TestJSONNumberEdges(t *testing.T) {
	for _, lit := range []string{"1e9", "2E+19", "3e-09", "1.5e300", "4e0", "5e+08", "6.5e-7", "1e16", "1.7976931348623157e308"} {
		es, err := JSON.Decode(nil, []byte(`{"f":`+lit+`}`), Limits{})
		if err != nil {
			t.Errorf("%s: %v", lit, err)
			continue
		}
		want, _ := strconv.ParseFloat(lit, 64)
		if v, err := es[0].Value(); err != nil || v != want {
			t.Errorf("%s: %#v, %v; want %v", lit, v, err, want)
		}
	}
	digits := strings.Repeat("7", maxIntDigits)
	es, err := JSON.Decode(nil, []byte(`{"n":`+digits+`}`), Limits{})
	if err != nil {
		t.Fatalf("%d digits: %v", maxIntDigits, err)
	}
	if v, err := es[0].Value(); err != nil || fmt.Sprint(v) != digits {
		t.Errorf("%d digits: %.30v..., %v", maxIntDigits, v, err)
	}
	if _, err := JSON.Decode(nil, []byte(`{"n":`+digits+`7}`), Limits{}); err == nil {
		t.Errorf("%d digits accepted", maxIntDigits+1)
	}
}

// TestFloatKeys: float map keys are told apart by value, and -0.0 and 0.0
// are one key (as in a Python dict: the first key stays, the last value
// wins), in nested maps and at the top level.
func TestFloatKeys(t *testing.T) {
	f := func(x float64) string { return string(mpAppendFloat(nil, x)) }
	items := f(1.5) + "\x01" + f(2.5) + "\x02" + f(math.Copysign(0, -1)) + "\x03" + f(0) + "\x04"
	nested := []byte("\x81\xa1m\x84" + items)
	es, err := MsgPack.decode(nil, nested)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := es[0].val.(Map)
	if !ok || len(m) != 3 || m[0].Key != 1.5 || m[0].Value != int64(1) || m[1].Key != 2.5 || m[1].Value != int64(2) ||
		!math.Signbit(m[2].Key.(float64)) || m[2].Value != int64(4) {
		t.Errorf("nested: %#v", es[0].val)
	}
	es, err = MsgPack.decode(nil, []byte("\x84"+items))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Foreign != 1.5 || es[1].Foreign != 2.5 || es[2].val != int64(4) {
		t.Errorf("top level: %s", fmtEntries(es))
	}
}

// TestRewriteKeepsStoredKeyBytes: an untouched entry is written back with
// its key as stored, even in a form the encoder would not choose (a short
// string as str8, an int key as uint16), when another key is set.
func TestRewriteKeepsStoredKeyBytes(t *testing.T) {
	src := []byte("\x82\xd9\x01k\x01\xcd\x00\x05\xa1v")
	es, err := MsgPack.Decode(nil, src, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	es = append(es, NewEntry("n", int64(2)))
	out, err := MsgPack.Encode(nil, es)
	if want := "\x83\xd9\x01k\x01\xcd\x00\x05\xa1v\xa1n\x02"; err != nil || string(out) != want {
		t.Errorf("rewrite %x, %v; want %x", out, err, want)
	}
}

// TestProbesCountEveryLookup: the complexity tests bound the key probes
// from above, which only means something if every lookup is counted. Each
// key after the first has to be compared with, or looked up among, the
// earlier ones at least once, whatever the data structure: n keys cost at
// least n-1 probes (duplicates of one key, distinct keys past the point
// where an index is built, top-level and nested, both formats).
func TestProbesCountEveryLookup(t *testing.T) {
	const n = 200
	same := func(prefix []byte, item []byte) []byte {
		b := binary.BigEndian.AppendUint32(append(prefix, 0xdf), n)
		for range n {
			b = append(b, item...)
		}
		return b
	}
	var js strings.Builder
	js.WriteString("{")
	for i := range n {
		if i > 0 {
			js.WriteString(",")
		}
		js.WriteString(`"k":1`)
	}
	js.WriteString("}")
	for _, c := range []struct {
		name string
		f    Format
		src  []byte
	}{
		{"one string key, top level", MsgPack, same(nil, []byte{0xa1, 'k', 0x01})},
		{"one int key, top level", MsgPack, same(nil, []byte{0x07, 0x01})},
		{"one int key, nested", MsgPack, same([]byte{0x81, 0xa1, 'm'}, []byte{0x07, 0x01})},
		{"distinct int keys, top level", MsgPack, intKeyMap(n, false)},
		{"distinct int keys, nested", MsgPack, intKeyMap(n, true)},
		{"one string key, JSON", JSON, []byte(js.String())},
	} {
		if probes, _ := decodeProbes(t, c.f, c.src); probes < n-1 {
			t.Errorf("%s: %d keys counted %d probes, want at least %d", c.name, n, probes, n-1)
		}
	}
}

// TestMsgpackExtSizes: an extension value (kept from another program, or
// set by the application) is written in the smallest form for its length,
// fixext for 1, 2, 4, 8 and 16 bytes, else ext 8, 16 or 32 with the length
// in big-endian, and reads back unchanged.
func TestMsgpackExtSizes(t *testing.T) {
	for _, c := range []struct {
		n      int
		header string
	}{
		{0, "\xc7\x00"}, {1, "\xd4"}, {2, "\xd5"}, {3, "\xc7\x03"}, {4, "\xd6"}, {8, "\xd7"}, {16, "\xd8"}, {17, "\xc7\x11"},
		{255, "\xc7\xff"}, {256, "\xc8\x01\x00"}, {65535, "\xc8\xff\xff"}, {65536, "\xc9\x00\x01\x00\x00"},
	} {
		x := Ext{Type: 42, Data: bytes.Repeat([]byte{7}, c.n)}
		got, err := MsgPack.AppendValue(nil, x)
		want := c.header + "\x2a" + string(x.Data)
		if err != nil || string(got) != want {
			t.Errorf("%d bytes: %.12x..., %v; want %.12x...", c.n, got, err, want)
			continue
		}
		v, err := decodeValue(MsgPack, string(got))
		if e, ok := v.(Ext); err != nil || !ok || e.Type != 42 || !bytes.Equal(e.Data, x.Data) {
			t.Errorf("%d bytes: decoded %T, %v", c.n, v, err)
		}
	}
}
