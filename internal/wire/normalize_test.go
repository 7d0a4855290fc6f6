package wire

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConvertInto(t *testing.T) {
	type item struct {
		SKU   string  `json:"sku"`
		Qty   int     `json:"qty"`
		Price float64 `json:"price"`
	}
	type cart struct {
		Items   []item            `json:"items"`
		Owner   string            `json:"owner"`
		Raw     []byte            `json:"raw"`
		When    time.Time         `json:"when"`
		Counts  map[string]int    `json:"counts"`
		Ext     map[string]any    `json:"ext"`
		Missing *int              `json:"missing"`
		Big     uint64            `json:"big"`
		Tags    map[string]string `json:"tags"`
	}
	when := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	// A value as the msgpack decoder returns it.
	src := []byte{}
	src, err := msgpackCodec.encode(src, []entry{{Key: "cart", val: map[string]any{
		"items":  []any{map[string]any{"sku": "A-1", "qty": 2, "price": 1.5}},
		"owner":  "alice",
		"raw":    []byte{1, 2, 3},
		"when":   when,
		"counts": Map{{Key: int64(1), Value: int64(10)}, {Key: []byte("k"), Value: int64(20)}},
		"ext":    Ext{Type: 5, Data: []byte{42}},
		"big":    uint64(math.MaxUint64),
		"tags":   map[string]any{"a": "b"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	es, err := msgpackCodec.decode(nil, src)
	if err != nil {
		t.Fatal(err)
	}
	var c cart
	if err := ConvertInto(es[0].val, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Items) != 1 || c.Items[0] != (item{"A-1", 2, 1.5}) || c.Owner != "alice" || string(c.Raw) != "\x01\x02\x03" ||
		!c.When.Equal(when) || c.Counts["1"] != 10 || c.Counts["aw=="] != 20 || c.Big != math.MaxUint64 || c.Tags["a"] != "b" {
		t.Errorf("converted: %+v", c)
	}
	if c.Ext["type"] != float64(5) || c.Ext["data"] != "Kg==" {
		t.Errorf("ext: %#v", c.Ext)
	}

	var n int
	if err := ConvertInto(int64(42), &n); err != nil || n != 42 {
		t.Errorf("int: %d, %v", n, err)
	}
	var s []string
	if err := ConvertInto([]any{"a", "b"}, &s); err != nil || strings.Join(s, ",") != "a,b" {
		t.Errorf("slice: %v, %v", s, err)
	}
	err = ConvertInto("not a number", &n)
	if err == nil || !strings.HasPrefix(err.Error(), "ginsession: ") {
		t.Errorf("mismatch error: %v", err)
	}
	if err := ConvertInto(make(chan int), &n); err == nil || !strings.HasPrefix(err.Error(), "ginsession: ") {
		t.Errorf("chan error: %v", err)
	}
}

// TestNormalizeMatchesDecoding: Normalize gives what decoding the value's
// encoding gives (the fast paths included), so Get returns the same type
// in the request that Set a value and in the next one; and it is
// idempotent.
func TestNormalizeMatchesDecoding(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		Y string `json:"y,omitempty"`
	}
	when := time.Date(2024, 3, 26, 12, 34, 56, 789, time.FixedZone("", 3600))
	values := []any{
		nil, true, 1, int8(-3), int32(70000), int64(-1 << 40), uint8(200), uint64(math.MaxUint64), uint(7),
		1.5, float32(0.1), math.NaN(), math.Inf(-1), "héllo", []byte{1, 2}, [3]byte{1, 2, 3},
		[]string{"a", "b"}, []int{1, 2}, map[string]int{"a": 1}, map[string]any{"n": []any{1, "x"}},
		point{X: 1}, &point{X: 2, Y: "z"}, when, &when, Map{{Key: int64(1), Value: "one"}}, Ext{Type: 4, Data: []byte{9}},
	}
	for _, f := range []Format{MsgPack, JSON} {
		for _, v := range values {
			got, err := f.Normalize(v)
			enc, encErr := f.AppendValue(nil, v)
			if (err == nil) != (encErr == nil) {
				t.Errorf("%v %T: Normalize error %v, encode error %v", f, v, err, encErr)
				continue
			}
			if err != nil {
				continue // Ext in JSON
			}
			want, err := decodeValue(f, string(enc))
			if err != nil {
				t.Fatalf("%v %T: %v", f, v, err)
			}
			if !sameValue(got, want) {
				t.Errorf("%v %T: Normalize = %#v, decoding gives %#v", f, v, got, want)
			}
			again, err := f.Normalize(got)
			if err != nil || !sameValue(again, got) {
				t.Errorf("%v %T: not idempotent: %#v, %v", f, v, again, err)
			}
		}
		if _, err := f.Normalize(string([]byte{0xff})); err == nil {
			t.Errorf("%v: invalid UTF-8 normalized", f)
		}
		if _, err := f.Normalize(make(chan int)); err == nil {
			t.Errorf("%v: chan normalized", f)
		}
	}
}

// sameValue is valuesEqual with NaN equal to itself and times compared by
// instant and location.
func sameValue(a, b any) bool {
	if x, ok := a.(time.Time); ok {
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == y.Location()
	}
	return valuesEqual(a, b, cmpOpts{})
}
