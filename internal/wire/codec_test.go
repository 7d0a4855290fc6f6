package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func one(key string, v any) []entry { return []entry{{Key: key, val: v}} }

// mpValue encodes {"k": v} and returns the bytes of v only.
func mpValue(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpackCodec.encode(nil, one("k", v))
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b[3:] // 81 a1 6b
}

func mpDecodeValue(t *testing.T, raw []byte) (any, error) {
	t.Helper()
	src := append([]byte{0x81, 0xa1, 'k'}, raw...)
	es, err := msgpackCodec.decode(nil, src)
	if err != nil {
		return nil, err
	}
	return es[0].val, nil
}

func TestMsgpackInts(t *testing.T) {
	cases := []struct {
		v    any
		hex  string
		back any
	}{
		{0, "00", int64(0)},
		{127, "7f", int64(127)},
		{128, "cc80", int64(128)},
		{255, "ccff", int64(255)},
		{256, "cd0100", int64(256)},
		{65535, "cdffff", int64(65535)},
		{65536, "ce00010000", int64(65536)},
		{uint32(math.MaxUint32), "ceffffffff", int64(math.MaxUint32)},
		{int64(1) << 32, "cf0000000100000000", int64(1) << 32},
		{int64(math.MaxInt64), "cf7fffffffffffffff", int64(math.MaxInt64)},
		{uint64(math.MaxUint64), "cfffffffffffffffff", uint64(math.MaxUint64)},
		{-1, "ff", int64(-1)},
		{-32, "e0", int64(-32)},
		{-33, "d0df", int64(-33)},
		{int8(-128), "d080", int64(-128)},
		{int16(-129), "d1ff7f", int64(-129)},
		{-32768, "d18000", int64(-32768)},
		{-32769, "d2ffff7fff", int64(-32769)},
		{int32(math.MinInt32), "d280000000", int64(math.MinInt32)},
		{int64(math.MinInt32) - 1, "d3ffffffff7fffffff", int64(math.MinInt32) - 1},
		{int64(math.MinInt64), "d38000000000000000", int64(math.MinInt64)},
		{uint8(200), "ccc8", int64(200)},
		{uint16(300), "cd012c", int64(300)},
		{uint(7), "07", int64(7)},
		{big.NewInt(-5), "fb", int64(-5)},
		{new(big.Int).SetUint64(math.MaxUint64), "cfffffffffffffffff", uint64(math.MaxUint64)},
	}
	for _, c := range cases {
		got := mpValue(t, c.v)
		if hex.EncodeToString(got) != c.hex {
			t.Errorf("%T(%v): got %x, want %s", c.v, c.v, got, c.hex)
		}
		back, err := mpDecodeValue(t, got)
		if err != nil || back != c.back {
			t.Errorf("%s decodes to %#v, %v; want %#v", c.hex, back, err, c.back)
		}
	}
	// Over-wide encodings are accepted.
	for h, want := range map[string]any{
		"d30000000000000001": int64(1), "d3ffffffffffffffff": int64(-1), "cf0000000000000005": int64(5),
		"d200000064": int64(100), "cc07": int64(7), "d1fffe": int64(-2), "d000": int64(0),
	} {
		raw, _ := hex.DecodeString(h)
		if got, err := mpDecodeValue(t, raw); err != nil || got != want {
			t.Errorf("%s: got %#v, %v", h, got, err)
		}
	}
	huge, _ := new(big.Int).SetString("18446744073709551616", 10)
	if _, err := msgpackCodec.encode(nil, one("big", huge)); err == nil {
		t.Error("2**64 encoded in msgpack")
	}
}

func TestMsgpackFloats(t *testing.T) {
	if got := hex.EncodeToString(mpValue(t, float32(0.1))); got != "cb3fb99999a0000000" {
		t.Errorf("float32 0.1: %s", got)
	}
	if got := hex.EncodeToString(mpValue(t, 1.0)); got != "cb3ff0000000000000" {
		t.Errorf("1.0: %s", got)
	}
	if got := hex.EncodeToString(mpValue(t, math.Copysign(0, -1))); got != "cb8000000000000000" {
		t.Errorf("-0.0: %s", got)
	}
	if got := hex.EncodeToString(mpValue(t, math.NaN())); got != "cb7ff8000000000000" {
		t.Errorf("NaN: %s", got)
	}
	raw, _ := hex.DecodeString("ca3dcccccd")
	v, err := mpDecodeValue(t, raw)
	if err != nil || v != float64(float32(0.1)) {
		t.Errorf("float32 decode: %#v, %v", v, err)
	}
}

func TestMsgpackStringAndBinSizes(t *testing.T) {
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		b := mpValue(t, s)
		var hdr string
		switch {
		case n < 32:
			hdr = hex.EncodeToString([]byte{0xa0 | byte(n)})
		case n < 256:
			hdr = "d9" + hex.EncodeToString([]byte{byte(n)})
		case n < 65536:
			hdr = "da" + hex.EncodeToString([]byte{byte(n >> 8), byte(n)})
		default:
			hdr = "db00010000"
		}
		if got := hex.EncodeToString(b[:len(b)-n]); got != hdr {
			t.Errorf("str %d: header %s, want %s", n, got, hdr)
		}
		back, err := mpDecodeValue(t, b)
		if err != nil || back != s {
			t.Errorf("str %d: round trip failed: %v", n, err)
		}

		bin := bytes.Repeat([]byte{0xab}, n)
		b = mpValue(t, bin)
		switch {
		case n < 256:
			hdr = "c4" + hex.EncodeToString([]byte{byte(n)})
		case n < 65536:
			hdr = "c5" + hex.EncodeToString([]byte{byte(n >> 8), byte(n)})
		default:
			hdr = "c600010000"
		}
		if got := hex.EncodeToString(b[:len(b)-n]); got != hdr {
			t.Errorf("bin %d: header %s, want %s", n, got, hdr)
		}
		back, err = mpDecodeValue(t, b)
		if bb, ok := back.([]byte); err != nil || !ok || !bytes.Equal(bb, bin) {
			t.Errorf("bin %d: round trip failed: %v", n, err)
		}
	}
	// str8/16/32 for tiny strings and as keys
	raw, _ := hex.DecodeString("de0003d90a5f7065726d616e656e74c3d90161da000178db000000046c697374dd00000002d90170a171")
	es, err := msgpackCodec.decode(nil, raw)
	if err != nil || len(es) != 3 || es[1].Key != "a" || es[1].val != "x" {
		t.Fatalf("wide headers: %s, %v", fmtEntries(es), err)
	}
	if _, err := msgpackCodec.encode(nil, one("s", "\xff")); err == nil {
		t.Error("invalid UTF-8 string encoded")
	}
	if _, err := msgpackCodec.decode(nil, []byte{0x81, 0xa1, 'k', 0xa1, 0xff}); err == nil {
		t.Error("invalid UTF-8 str decoded")
	}
}

func TestMsgpackContainers(t *testing.T) {
	arr := make([]any, 16)
	for i := range arr {
		arr[i] = i
	}
	if got := hex.EncodeToString(mpValue(t, arr[:15])[:1]); got != "9f" {
		t.Errorf("fixarray 15: %s", got)
	}
	if got := hex.EncodeToString(mpValue(t, arr)[:3]); got != "dc0010" {
		t.Errorf("array16: %s", got)
	}
	big := make([]any, 70000)
	if got := hex.EncodeToString(mpValue(t, big)[:5]); got != "dd00011170" {
		t.Errorf("array32: %s", got)
	}
	m := map[string]any{}
	for i := 0; i < 16; i++ {
		m[string(rune('a'+i))] = i
	}
	b := mpValue(t, m)
	if b[0] != 0xde || b[1] != 0 || b[2] != 16 || b[3] != 0xa1 || b[4] != 'a' {
		t.Errorf("map16 sorted: %x", b[:6])
	}
	// A map16 header for a tiny map.
	raw, _ := hex.DecodeString("de0001a16101")
	v, err := mpDecodeValue(t, raw)
	if mm, ok := v.(map[string]any); err != nil || !ok || mm["a"] != int64(1) {
		t.Errorf("map16 tiny: %#v, %v", v, err)
	}
	// Int keys give a Map and survive re-encoding.
	raw, _ = hex.DecodeString("8201a36f6e65ffa96d696e7573206f6e65")
	v, err = mpDecodeValue(t, raw)
	if mm, ok := v.(Map); err != nil || !ok || len(mm) != 2 || mm[0].Key != int64(1) || mm[1].Key != int64(-1) {
		t.Errorf("int keys: %#v, %v", v, err)
	}
	if !bytes.Equal(mpValue(t, v), raw) {
		t.Error("Map not re-encoded unchanged")
	}
	// Ext kept as is, in fixext and ext8 forms.
	for _, h := range []string{"d4052a", "d5050102", "c703050a0b0c", "d80500000000000000000000000000000000"} {
		raw, _ := hex.DecodeString(h)
		v, err := mpDecodeValue(t, raw)
		if _, ok := v.(Ext); err != nil || !ok || !bytes.Equal(mpValue(t, v), raw) {
			t.Errorf("ext %s: %#v, %v", h, v, err)
		}
	}
	// Top-level: array of pairs, bin key, nil.
	es, err := msgpackCodec.decode(nil, []byte{0x91, 0x92, 0xa1, 'k', 0x01})
	if err != nil || len(es) != 1 || es[0].Key != "k" || es[0].val != int64(1) {
		t.Errorf("array of pairs: %s, %v", fmtEntries(es), err)
	}
	es, err = msgpackCodec.decode(nil, []byte{0x81, 0xc4, 0x01, 'b', 0x01})
	if err != nil || len(es) != 1 || !bytes.Equal(es[0].Foreign.([]byte), []byte("b")) {
		t.Errorf("bin key: %s, %v", fmtEntries(es), err)
	}
	if re, _ := msgpackCodec.encode(nil, es); !bytes.Equal(re, []byte{0x81, 0xc4, 0x01, 'b', 0x01}) {
		t.Errorf("bin key re-encoded as %x", re)
	}
	if _, err := msgpackCodec.decode(nil, []byte{0xc0}); !errors.Is(err, errNoSession) {
		t.Errorf("nil: %v", err)
	}
	// Duplicate keys: the last value wins at the first position.
	es, err = msgpackCodec.decode(nil, []byte{0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'a', 0x03})
	if err != nil || len(es) != 2 || es[0].val != int64(3) {
		t.Errorf("duplicates: %s, %v", fmtEntries(es), err)
	}
}

func TestMsgpackTime(t *testing.T) {
	cases := []struct {
		t   time.Time
		hex string
	}{
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "d6ff65937d25"},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), "d7ff1d6f280065937d25"},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), "d7ff1d6f345465937d25"},
		{time.Unix(0, 0), "d6ff00000000"},
		{time.Unix(1<<32, 0), "d7ff0000000100000000"},
		{time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), "c70cff00000000ffffffffff2795e4"},
		{time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), "c70cff0000000000000004a0fe7280"},
		{time.Date(2024, 1, 2, 8, 34, 5, 0, time.FixedZone("", 5*3600+1800)), "d6ff65937d25"},
	}
	for _, c := range cases {
		b := mpValue(t, c.t)
		if hex.EncodeToString(b) != c.hex {
			t.Errorf("%v: got %x, want %s", c.t, b, c.hex)
		}
		v, err := mpDecodeValue(t, b)
		tm, ok := v.(time.Time)
		if err != nil || !ok || !tm.Equal(c.t) || tm.Location() != time.UTC {
			t.Errorf("%s decodes to %#v, %v", c.hex, v, err)
		}
	}
	for _, h := range []string{"d5ff0000", "c703ff000000", "d7fffffffffc00000000"} {
		raw, _ := hex.DecodeString(h)
		if _, err := mpDecodeValue(t, raw); err == nil {
			t.Errorf("bad timestamp %s accepted", h)
		}
	}
}

func TestMsgpackDecodeErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, DefaultMaxDepth)
	deep = append(append([]byte{0x81, 0xa1, 'k'}, deep...), 0x01)
	cases := map[string][]byte{
		"empty":             {},
		"trailing":          {0x81, 0xa1, 'a', 0x01, 0x00},
		"garbage":           []byte("\xc1garbage"),
		"top-level int":     {0x01},
		"str32 too long":    {0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"bin32 too long":    {0x81, 0xa1, 'k', 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00},
		"array32 too long":  {0x81, 0xa1, 'k', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 too long":    {0xdf, 0xff, 0xff, 0xff, 0xff},
		"ext32 too long":    {0x81, 0xa1, 'k', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x05},
		"too deep":          deep,
		"nil key":           {0x81, 0xc0, 0x01},
		"array key":         {0x81, 0x90, 0x01},
		"bad pair":          {0x91, 0x93, 0xa1, 'k', 0x01, 0x02},
		"nil then trailing": {0xc0, 0x00},
	}
	for name, src := range cases {
		if es, err := msgpackCodec.decode(nil, src); err == nil {
			t.Errorf("%s: decoded %s", name, fmtEntries(es))
		} else if !strings.HasPrefix(err.Error(), "ginsession: msgpack: ") {
			t.Errorf("%s: error %q lacks prefix", name, err)
		}
	}
	// Depth DefaultMaxDepth-1 nested arrays inside the session map is fine.
	ok := append(append([]byte{0x81, 0xa1, 'k'}, bytes.Repeat([]byte{0x91}, DefaultMaxDepth-1)...), 0x01)
	if _, err := msgpackCodec.decode(nil, ok); err != nil {
		t.Errorf("depth %d rejected: %v", DefaultMaxDepth, err)
	}
	// Encoding refuses what decoding would refuse.
	var v any = 1
	for i := 0; i < DefaultMaxDepth; i++ {
		v = []any{v}
	}
	if _, err := msgpackCodec.encode(nil, one("k", v)); err == nil {
		t.Error("too deep value encoded")
	}
	cyc := map[string]any{}
	cyc["self"] = cyc
	if _, err := msgpackCodec.encode(nil, one("k", cyc)); err == nil {
		t.Error("cyclic map encoded")
	}
}

func TestTruncatedInputNeverPanics(t *testing.T) {
	session := []entry{
		{Key: "_permanent", val: true},
		{Key: "s", val: strings.Repeat("é", 20)},
		{Key: "n", val: []any{int64(1), -200, 70000, uint64(math.MaxUint64), 2.5, nil, false}},
		{Key: "m", val: map[string]any{"a": []byte{1, 2, 3}, "t": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}},
		{Key: "x", val: Map{{Key: int64(1), Value: Ext{Type: 5, Data: []byte{42}}}}},
		{Key: "u", val: "\u2028<&>\"\\\x01"},
	}
	for _, c := range []codec{msgpackCodec, jsonCodec} {
		s := session
		if c == jsonCodec {
			s = session[:4]
		}
		full, err := c.encode(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.decode(nil, full); err != nil {
			t.Fatalf("full value: %v", err)
		}
		for i := 0; i < len(full); i++ {
			if _, err := c.decode(nil, full[:i]); err == nil {
				t.Errorf("%T: prefix of %d bytes decoded", c, i)
			}
		}
	}
}

func TestEncodeTypes(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
		Skip int    `json:"-"`
	}
	type named string
	p := 5
	cases := []struct {
		v    any
		want any // decoded value
	}{
		{[]string{"a", "b"}, []any{"a", "b"}},
		{[]int{1, 2}, []any{int64(1), int64(2)}},
		{[2]int{3, 4}, []any{int64(3), int64(4)}},
		{[]float32{1.5}, []any{1.5}},
		{map[string]int{"b": 2, "a": 1}, map[string]any{"a": int64(1), "b": int64(2)}},
		{inner{Name: "x", Skip: 3}, map[string]any{"name": "x"}},
		{&inner{Name: "y"}, map[string]any{"name": "y"}},
		{&p, int64(5)},
		{(*int)(nil), nil},
		{named("n"), "n"},
		{[]any{nil, true}, []any{nil, true}},
	}
	for _, c := range cases {
		for _, cd := range []codec{msgpackCodec, jsonCodec} {
			b, err := cd.encode(nil, one("k", c.v))
			if err != nil {
				t.Errorf("%T: %v", c.v, err)
				continue
			}
			es, err := cd.decode(nil, b)
			if err != nil || !valuesEqual(es[0].val, c.want, cmpOpts{}) {
				t.Errorf("%T via %s: got %#v, %v; want %#v", c.v, b, es[0].val, err, c.want)
			}
		}
	}
	for _, bad := range []any{make(chan int), func() {}, complex(1, 2), map[int]string{1: "a"}, []any{make(chan int)}} {
		for _, cd := range []codec{msgpackCodec, jsonCodec} {
			_, err := cd.encode(nil, one("c", bad))
			if err == nil || !strings.HasPrefix(err.Error(), "ginsession: cannot encode value of type") || !strings.Contains(err.Error(), `at key "c"`) {
				t.Errorf("%T: error %v", bad, err)
			}
		}
	}
	if _, err := jsonCodec.encode(nil, one("e", Ext{Type: 1})); err == nil {
		t.Error("Ext encoded in JSON")
	}
}

func TestJSONFloatText(t *testing.T) {
	cases := map[float64]string{
		1e300: "1e300", 1e16: "1e16", 1e15: "1000000000000000.0", 1e-7: "1e-7", 5e-324: "5e-324",
		math.MaxFloat64: "1.7976931348623157e308", 1.0: "1.0", 0: "0.0", math.Copysign(0, -1): "-0.0",
		1.0 / 3: "0.3333333333333333", 2.5: "2.5", -123.456: "-123.456", 0.0001: "0.0001", 0.00001: "0.00001",
		1.5e-10: "1.5e-10", -2.5e20: "-2.5e20", 123456789012345680: "1.2345678901234568e17", 100: "100.0",
		math.NaN(): "null", math.Inf(1): "null", math.Inf(-1): "null", 0.1: "0.1",
	}
	for f, want := range cases {
		if got := string(jsAppendFloat(nil, f)); got != want {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}

func TestJSONStringsAndTypes(t *testing.T) {
	b, err := jsonCodec.encode(nil, []entry{
		{Key: "s", val: "<&>\u2028\u2029\x7f\"\\\x00\x1f\b\t\n\f\r é"},
		{Key: "b", val: []byte{0, 1, 0xfe, 0xff}},
		{Key: "t", val: time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{Key: "o", val: time.Date(2024, 1, 2, 8, 34, 5, 0, time.FixedZone("", 5*3600+1800))},
		{Key: "ns", val: time.Date(2024, 1, 2, 3, 4, 5, 1, time.UTC)},
		{Key: "u", val: uint64(math.MaxUint64)},
		{Key: "m", val: Map{{Key: int64(1), Value: "one"}, {Key: []byte("k"), Value: nil}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"s":"<&>` + "\u2028\u2029\x7f" + `\"\\\u0000\u001f\b\t\n\f\r é","b":"AAH+/w==","t":"2024-01-02T03:04:05.123456Z","o":"2024-01-02T08:34:05+05:30","ns":"2024-01-02T03:04:05.000000001Z","u":18446744073709551615,"m":{"1":"one","aw==":null}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	es, err := jsonCodec.decode(nil, b)
	if err != nil || es[0].val != "<&>\u2028\u2029\x7f\"\\\x00\x1f\b\t\n\f\r é" || es[5].val != uint64(math.MaxUint64) {
		t.Errorf("decode: %s, %v", fmtEntries(es), err)
	}
	// Decoding details.
	es, err = jsonCodec.decode(nil, []byte(` { "n" : 1.0e3 , "s" : "a\/b\u00e9\ud83d\ude00", "i": -5, "big": 18446744073709551616, "z": [ ] } `))
	if err != nil {
		t.Fatal(err)
	}
	if es[0].val != 1000.0 || es[1].val != "a/bé😀" || es[2].val != int64(-5) {
		t.Errorf("decode: %s", fmtEntries(es))
	}
	if bi, ok := es[3].val.(*big.Int); !ok || bi.String() != "18446744073709551616" {
		t.Errorf("big: %#v", es[3].val)
	}
	re, _ := jsonCodec.encode(nil, fresh(es))
	if string(re) != `{"n":1000.0,"s":"a/bé😀","i":-5,"big":18446744073709551616,"z":[]}` {
		t.Errorf("re-encode: %s", re)
	}
	// Untouched, each value keeps its spelling; only the space between
	// top-level items goes.
	re, _ = jsonCodec.encode(nil, es)
	if string(re) != `{"n":1.0e3,"s":"a\/b\u00e9\ud83d\ude00","i":-5,"big":18446744073709551616,"z":[ ]}` {
		t.Errorf("untouched re-encode: %s", re)
	}
	if _, err := jsonCodec.decode(nil, []byte("null")); !errors.Is(err, errNoSession) {
		t.Errorf("null: %v", err)
	}
	for _, bad := range []string{"", "{", `{"a":1} x`, `{"a":1}{}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a":01}`, `{"a":1.}`,
		`{"a":[1,]}`, `{a:1}`, `[1]`, `"s"`, `{"a":"x` + "\n" + `"}`, `{"a":tru}`, `{"a":-}`, `{"a":"\x"}`,
		`{"a":` + strings.Repeat("[", DefaultMaxDepth) + strings.Repeat("]", DefaultMaxDepth) + `}`} {
		if es, err := jsonCodec.decode(nil, []byte(bad)); err == nil {
			t.Errorf("%q decoded: %s", bad, fmtEntries(es))
		} else if !strings.HasPrefix(err.Error(), "ginsession: json: ") {
			t.Errorf("%q: error %q lacks prefix", bad, err)
		}
	}
	es, err = jsonCodec.decode(nil, []byte(`[["k",1]]`))
	if err != nil || len(es) != 1 || es[0].Key != "k" {
		t.Errorf("array of pairs: %s, %v", fmtEntries(es), err)
	}
}

func TestCodecForAndDecodeAny(t *testing.T) {
	for name, want := range map[string]codec{"": msgpackCodec, "msgpack": msgpackCodec, "json": jsonCodec} {
		if c, err := ParseFormat(name); err != nil || c != want {
			t.Errorf("ParseFormat(%q) = %v, %v", name, c, err)
		}
	}
	if _, err := ParseFormat("pickle"); err == nil || !strings.HasPrefix(err.Error(), "ginsession: ") {
		t.Errorf("ParseFormat(pickle): %v", err)
	}
	mp := []byte{0x81, 0xa1, 'a', 0x01}
	js := []byte(`{"a":1}`)
	for _, c := range []codec{msgpackCodec, jsonCodec} {
		for _, src := range [][]byte{mp, js} {
			es, err := decodeAny(c, nil, src)
			if err != nil || len(es) != 1 || es[0].val != int64(1) {
				t.Errorf("decodeAny(%T, %q): %s, %v", c, src, fmtEntries(es), err)
			}
		}
		if _, err := decodeAny(c, nil, []byte("\xc1garbage")); err == nil {
			t.Error("garbage decoded")
		}
	}
	if _, err := decodeAny(jsonCodec, nil, []byte{0xc0}); !errors.Is(err, errNoSession) {
		t.Errorf("nil via fallback: %v", err)
	}
}

// benchSession is a typical 10-key session.
func benchSession() []entry {
	return []entry{
		{Key: "_permanent", val: true},
		{Key: "user_id", val: int64(12345)},
		{Key: "username", val: "alice"},
		{Key: "email", val: "alice@example.com"},
		{Key: "logged_in", val: true},
		{Key: "csrf_token", val: "3f9a0c1e5b7d4a2f8e6c0b1d9a7f5e3c"},
		{Key: "cart", val: []any{"apple", "banana", int64(3)}},
		{Key: "score", val: 98.5},
		{Key: "prefs", val: map[string]any{"theme": "dark", "lang": "en"}},
		{Key: "last_seen", val: time.Date(2024, 3, 26, 12, 34, 56, 0, time.UTC)},
	}
}

// benchCodec measures encode (from values) + decode of every value: the
// full round trip, as the codec did it before values were decoded lazily.
func benchCodec(b *testing.B, c codec) {
	s := benchSession()
	buf, err := c.encode(nil, s)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	var into []entry // reused, as the middleware reuses a pooled session's slice
	for i := 0; i < b.N; i++ {
		buf, err = c.encode(buf[:0], s)
		if err != nil {
			b.Fatal(err)
		}
		if into, err = c.decode(into, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCodecLazy measures what a request that reads one key and sets
// another costs the codec: Decode, one value, one Set, Encode (the other
// entries copied as stored).
func benchCodecLazy(b *testing.B, c codec) {
	src, err := c.encode(nil, benchSession())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	var into []entry
	var buf []byte
	for i := 0; i < b.N; i++ {
		if into, err = c.Decode(into, src, Limits{}); err != nil {
			b.Fatal(err)
		}
		if _, err := into[2].Value(); err != nil {
			b.Fatal(err)
		}
		into[1].Set(int64(i))
		if buf, err = c.Encode(buf[:0], into); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodecMsgpack10Keys measures encode+decode of a 10-key session.
func BenchmarkCodecMsgpack10Keys(b *testing.B) { benchCodec(b, msgpackCodec) }

// BenchmarkCodecJSON10Keys measures encode+decode of a 10-key session in JSON.
func BenchmarkCodecJSON10Keys(b *testing.B) { benchCodec(b, jsonCodec) }

// BenchmarkCodecMsgpack10KeysLazy: Decode, read one value, set one, Encode.
func BenchmarkCodecMsgpack10KeysLazy(b *testing.B) { benchCodecLazy(b, msgpackCodec) }

// BenchmarkCodecJSON10KeysLazy: the same in JSON.
func BenchmarkCodecJSON10KeysLazy(b *testing.B) { benchCodecLazy(b, jsonCodec) }

// mpKey is the fixstr encoding of a short key.
func mpKey(k string) []byte { return append([]byte{0xa0 | byte(len(k))}, k...) }

// TestMsgpackStringKeysThenOtherKey reads a nested map whose string keys come
// before an int key: the decoder reads it as a map[string]any until the int
// key, then goes back over the keys, skipping the values already decoded.
// One value of every msgpack form makes skip cover every type byte.
func TestMsgpackStringKeysThenOtherKey(t *testing.T) {
	values := []string{
		"05", "ff", "a3616263", "9201a178", "81a16b01", "c0", "c2", "c3",
		"c4020102", "c50001ff", "c600000001ff", "c701052a", "c80001052a", "c900000001052a",
		"ca3f800000", "cb3ff0000000000000", "ccff", "cdffff", "ceffffffff", "cf8000000000000001",
		"d080", "d18000", "d280000000", "d38000000000000000",
		"d4052a", "d5050102", "d6ff00000001", "d7ff0000000400000001", "d805000102030405060708090a0b0c0d0e0f",
		"d90161", "da000161", "db0000000161", "dc000101", "dd0000000101", "de0001a16101", "df00000001a16101",
		"83a161c0a1629201c0a16381a178c3", // a map holding an array and a map
	}
	n := len(values) + 3 // + a duplicate before the int key, the int key, a duplicate after it
	raw := []byte{0xde, 0, byte(n)}
	want := make([]any, len(values))
	for i, h := range values {
		v, _ := hex.DecodeString(h)
		dv, err := mpDecodeValue(t, v)
		if err != nil {
			t.Fatalf("value %s: %v", h, err)
		}
		want[i] = dv
		raw = append(raw, mpKey(fmt.Sprintf("k%02d", i))...)
		raw = append(raw, v...)
	}
	raw = append(raw, mpKey("k01")...)
	raw = append(raw, 0x11)       // k01 again, before the int key: 17
	raw = append(raw, 0x07, 0x08) // 7: 8
	raw = append(raw, mpKey("k02")...)
	raw = append(raw, 0x12) // k02 again, after the int key: 18
	want[1], want[2] = int64(17), int64(18)

	got, err := mpDecodeValue(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := got.(Map)
	if !ok || len(m) != len(values)+1 {
		t.Fatalf("got %T with %d items, want a Map of %d", got, len(m), len(values)+1)
	}
	for i := range values {
		if m[i].Key != fmt.Sprintf("k%02d", i) || !reflect.DeepEqual(m[i].Value, want[i]) {
			t.Errorf("item %d: %#v: %#v, want k%02d: %#v", i, m[i].Key, m[i].Value, i, want[i])
		}
	}
	if last := m[len(values)]; last.Key != int64(7) || last.Value != int64(8) {
		t.Errorf("int key item: %#v", last)
	}
}

// TestMsgpackNestedMixedMapsLinear nests maps whose int key comes after a
// string key holding the next level. Decoding each level a second time on
// meeting its int key would take 2^60 steps; the test finishes only if the
// decoder never decodes a value twice.
func TestMsgpackNestedMixedMapsLinear(t *testing.T) {
	const levels = DefaultMaxDepth - 4
	raw := []byte{0x81, 0xa1, 'x'}
	for range levels {
		raw = append(raw, 0x82, 0xa1, 'a')
	}
	raw = append(raw, 0xc0)
	for range levels {
		raw = append(raw, 0x01, 0xc0)
	}
	es, err := msgpackCodec.decode(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	v := es[0].val
	for i := range levels {
		m, ok := v.(Map)
		if !ok || len(m) != 2 || m[0].Key != "a" || m[1].Key != int64(1) || m[1].Value != nil {
			t.Fatalf("level %d: %#v", i, v)
		}
		v = m[0].Value
	}
	if v != nil {
		t.Fatalf("innermost: %#v", v)
	}
	if re, err := msgpackCodec.encode(nil, es); err != nil || !bytes.Equal(re, raw) {
		t.Errorf("re-encoded differently (%v)", err)
	}
}

// TestDecodeDuplicateTopLevelKeys covers the duplicate detection of both
// codecs: a few keys (compared one by one), and sessions past the first
// linearKeys items where a hash index takes over.
func TestDecodeDuplicateTopLevelKeys(t *testing.T) {
	a, b := "key0", "key1"
	type kv struct {
		k string
		v int
	}
	cases := []struct {
		in   []kv
		want []kv
	}{
		{[]kv{{a, 1}, {b, 2}}, []kv{{a, 1}, {b, 2}}},
		{[]kv{{a, 1}, {b, 2}, {a, 3}, {b, 4}}, []kv{{a, 3}, {b, 4}}},
	}
	var many, manyWant []kv
	for i := range 40 {
		many = append(many, kv{fmt.Sprintf("k%d", i), i})
		manyWant = append(manyWant, kv{fmt.Sprintf("k%d", i), i})
	}
	many = append(many, kv{"k5", 100}, kv{"k39", 139}, kv{"k0", 200}, kv{"new", 1})
	manyWant[5].v, manyWant[39].v, manyWant[0].v = 100, 139, 200
	manyWant = append(manyWant, kv{"new", 1})
	cases = append(cases, struct{ in, want []kv }{many, manyWant})

	for ci, c := range cases {
		mp := []byte{0xde, 0, byte(len(c.in))}
		js := []byte("{")
		for i, e := range c.in {
			mp = mpAppendInt(append(mp, mpKey(e.k)...), int64(e.v))
			if i > 0 {
				js = append(js, ',')
			}
			js = fmt.Appendf(js, "%q:%d", e.k, e.v)
		}
		js = append(js, '}')
		for _, in := range []struct {
			c   codec
			src []byte
		}{{msgpackCodec, mp}, {jsonCodec, js}} {
			es, err := in.c.decode(nil, in.src)
			if err != nil {
				t.Fatalf("case %d %T: %v", ci, in.c, err)
			}
			if len(es) != len(c.want) {
				t.Fatalf("case %d %T: %d entries, want %d: %s", ci, in.c, len(es), len(c.want), fmtEntries(es))
			}
			for i, w := range c.want {
				if n, _ := es[i].val.(int64); es[i].Key != w.k || n != int64(w.v) {
					t.Errorf("case %d %T: entry %d = %s: %v, want %s: %d", ci, in.c, i, es[i].Key, es[i].val, w.k, w.v)
				}
			}
		}
	}
}

// TestDecodeIntoReusedSlice decodes into a slice holding another session's
// items, as the middleware does with a pooled session: none of them remain.
func TestDecodeIntoReusedSlice(t *testing.T) {
	stale := []entry{{Key: "old1", val: 1}, {Key: "old2", val: 2}, {Key: "old3", val: 3}, {Key: "a", val: 9}}
	for _, c := range []codec{msgpackCodec, jsonCodec} {
		src, err := c.encode(nil, []entry{{Key: "a", val: int64(1)}, {Key: "b", val: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		dst := slices.Clone(stale)
		es, err := c.decode(dst, src)
		if err != nil || len(es) != 2 || es[0].Key != "a" || es[0].val != int64(1) || es[1].Key != "b" || es[1].val != "x" {
			t.Errorf("%T: %s, %v", c, fmtEntries(es), err)
		}
		empty, _ := c.encode(nil, nil)
		if es, err := c.decode(dst, empty); err != nil || es == nil || len(es) != 0 {
			t.Errorf("%T: empty session into a used slice: %s (nil: %t), %v", c, fmtEntries(es), es == nil, err)
		}
	}
}

// TestValidString checks the ASCII fast path against utf8.ValidString, for
// short and long strings with the first non-ASCII byte at the start, in the
// middle and at the end.
func TestValidString(t *testing.T) {
	for _, n := range []int{0, 1, 31, 64, 65, 200} {
		ascii := strings.Repeat("a", n)
		for _, tail := range []string{"", "é", "\xff", "\x80", "\x7f", "\xe2\x82", "€x", "\xc0\x80"} {
			for _, s := range []string{ascii + tail, tail + ascii, ascii[:n/2] + tail + ascii[n/2:]} {
				if got, want := validString(s), utf8.ValidString(s); got != want {
					t.Errorf("validString(%q) = %t, want %t", s, got, want)
				}
			}
		}
	}
}
