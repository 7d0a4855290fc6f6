package wire

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

// TestEntryLifecycle: a decoded entry keeps its stored bytes until Set,
// decodes once, and a Set entry is encoded from its value.
func TestEntryLifecycle(t *testing.T) {
	src := []byte{0x82, 0xa1, 'a', 0xcd, 0x00, 0x05, 0xa1, 'b', 0x91, 0x01} // {"a": 5 as uint16, "b": [1]}
	es, err := MsgPack.Decode(nil, src, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	raw, f, ok := es[0].Stored()
	if !ok || f != MsgPack || raw != "\xcd\x00\x05" || es[0].Decoded() {
		t.Fatalf("stored = %x, %v, %t; decoded %t", raw, f, ok, es[0].Decoded())
	}
	if v, err := es[0].Value(); err != nil || v != int64(5) || !es[0].Decoded() {
		t.Fatalf("value = %v, %v; decoded %t", v, err, es[0].Decoded())
	}
	if _, _, ok := es[0].Stored(); !ok {
		t.Fatal("reading a value dropped its stored bytes")
	}
	out, _ := MsgPack.Encode(nil, es)
	if string(out) != string(src) {
		t.Fatalf("untouched rewrite %x, want %x", out, src)
	}
	es[0].Set(int64(5))
	if _, _, ok := es[0].Stored(); ok || !es[0].Decoded() {
		t.Fatal("Set kept the stored bytes")
	}
	out, _ = MsgPack.Encode(nil, es)
	if want := "\x82\xa1a\x05\xa1b\x91\x01"; string(out) != want {
		t.Fatalf("after Set %x, want %x", out, want)
	}
	// Into the other format: every entry is re-encoded.
	out, err = JSON.Encode(nil, es)
	if err != nil || string(out) != `{"a":5,"b":[1]}` {
		t.Fatalf("as JSON: %s, %v", out, err)
	}
	n := NewEntry("k", "v")
	if v, err := n.Value(); err != nil || v != "v" || !n.Decoded() {
		t.Fatalf("NewEntry value %v, %v", v, err)
	}
	if _, _, ok := n.Stored(); ok {
		t.Fatal("NewEntry has stored bytes")
	}
	// A corrupted entry reports it instead of a value.
	bad := Entry{Key: "x", raw: "\xc1", format: MsgPack}
	if _, err := bad.Value(); err == nil {
		t.Fatal("corrupt stored bytes decoded")
	}
	if _, err := MsgPack.Encode(nil, []Entry{{Key: "x", raw: "\xc1", format: JSON}}); err == nil {
		t.Fatal("a corrupt value in the other format encoded")
	}
}

func TestFormatNames(t *testing.T) {
	if MsgPack.String() != "msgpack" || JSON.String() != "json" || Format(9).String() != "Format(9)" {
		t.Error("format names")
	}
	if _, err := Format(0).Decode(nil, []byte{0x80}, Limits{}); err == nil {
		t.Error("the zero Format decoded")
	}
	if _, err := Format(0).Encode(nil, nil); err == nil {
		t.Error("the zero Format encoded")
	}
}

// TestDecodeDetails: errors and values not reached by the other tests.
func TestDecodeDetails(t *testing.T) {
	for _, bad := range []string{`{"a":"\u12G4"}`, `{"a":"\u12"}`} {
		if _, err := JSON.Decode(nil, []byte(bad), Limits{}); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	if es, err := JSON.decode(nil, []byte(`{"a":"\u00E9\u00e9"}`)); err != nil || es[0].val != "éé" {
		t.Errorf("upper- and lower-case \\u escapes: %s, %v", fmtEntries(es), err)
	}
	type bigUint uint64
	if v, err := MsgPack.Normalize(bigUint(math.MaxUint64)); err != nil || v != uint64(math.MaxUint64) {
		t.Errorf("named uint64: %#v, %v", v, err)
	}
	if v, err := MsgPack.Normalize(bigUint(7)); err != nil || v != int64(7) {
		t.Errorf("named small uint64: %#v, %v", v, err)
	}
	if _, ok := hashKey((*big.Int)(nil)); ok {
		t.Error("a nil *big.Int key hashed")
	}
	var e *UnsupportedTypeError
	if _, err := JSON.Normalize(Ext{Type: 1}); !errors.As(err, &e) {
		t.Errorf("Ext in JSON: %v", err)
	}
}

// TestStringValue: a stored string, in any msgpack width or as a JSON string
// without escapes, is read without decoding the entry or allocating; other
// values and escaped strings go through Value.
func TestStringValue(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	huge := make([]byte, 70000)
	for i := range huge {
		huge[i] = 'z'
	}
	type want struct {
		s    string
		ok   bool
		lazy bool // read from the stored bytes, entry left undecoded
	}
	msgpack := func(v []byte) []byte { return append([]byte{0x81, 0xa1, 'k'}, v...) }
	for _, c := range []struct {
		name string
		f    Format
		src  []byte
		want want
	}{
		{"fixstr", MsgPack, msgpack([]byte{0xa3, 'b', 'o', 'b'}), want{"bob", true, true}},
		{"empty fixstr", MsgPack, msgpack([]byte{0xa0}), want{"", true, true}},
		{"str8", MsgPack, msgpack(append([]byte{0xd9, 3}, "bob"...)), want{"bob", true, true}},
		{"str16", MsgPack, msgpack(append([]byte{0xda, 1, 44}, long...)), want{string(long), true, true}},
		{"str32", MsgPack, msgpack(append([]byte{0xdb, 0, 1, 0x11, 0x70}, huge...)), want{string(huge), true, true}},
		{"int", MsgPack, msgpack([]byte{0x05}), want{"", false, false}},
		{"bin", MsgPack, msgpack([]byte{0xc4, 1, 'x'}), want{"", false, false}},
		{"array of str", MsgPack, msgpack([]byte{0x91, 0xa1, 'x'}), want{"", false, false}},
		{"json plain", JSON, []byte(`{"k":"bob é"}`), want{"bob é", true, true}},
		{"json empty", JSON, []byte(`{"k":""}`), want{"", true, true}},
		{"json escaped", JSON, []byte(`{"k":"a\"b\u00e9"}`), want{"a\"bé", true, false}},
		{"json number", JSON, []byte(`{"k":12}`), want{"", false, false}},
		{"json list", JSON, []byte(`{"k":["x"]}`), want{"", false, false}},
	} {
		es, err := c.f.Decode(nil, c.src, Limits{})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		s, ok, err := es[0].StringValue()
		if err != nil || s != c.want.s || ok != c.want.ok {
			t.Errorf("%s: StringValue = %.20q, %v, %v; want %.20q, %v", c.name, s, ok, err, c.want.s, c.want.ok)
		}
		if lazy := !es[0].Decoded(); lazy != c.want.lazy {
			t.Errorf("%s: entry left undecoded = %v, want %v", c.name, lazy, c.want.lazy)
		}
		if c.want.lazy {
			if n := testing.AllocsPerRun(50, func() { es[0].StringValue() }); n != 0 {
				t.Errorf("%s: StringValue allocates %v times", c.name, n)
			}
		}
	}
	// A value set by the program is answered from it.
	e := NewEntry("k", "set")
	if s, ok, err := e.StringValue(); s != "set" || !ok || err != nil {
		t.Errorf("set entry: %q, %v, %v", s, ok, err)
	}
}
