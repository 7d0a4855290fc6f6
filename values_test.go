package ginsession

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestAsInt(t *testing.T) {
	ok := []struct {
		v    any
		want int64
	}{
		{int(-3), -3}, {int8(-8), -8}, {int16(-16), -16}, {int32(-32), -32}, {int64(math.MinInt64), math.MinInt64},
		{uint(3), 3}, {uint8(255), 255}, {uint16(65535), 65535}, {uint32(math.MaxUint32), math.MaxUint32},
		{uint64(math.MaxInt64), math.MaxInt64}, {float64(42), 42}, {float32(-7), -7}, {big.NewInt(9), 9},
	}
	for _, c := range ok {
		if got, k := asInt(c.v); !k || got != c.want {
			t.Errorf("asInt(%T %v) = %d, %v", c.v, c.v, got, k)
		}
	}
	for _, v := range []any{uint64(math.MaxUint64), 1.5, math.NaN(), math.Inf(1), 1e19, "1", nil, true} {
		if got, k := asInt(v); k {
			t.Errorf("asInt(%T %v) = %d, true", v, v, got)
		}
	}
}

func TestAsFloat(t *testing.T) {
	for _, c := range []struct {
		v    any
		want float64
	}{{1.5, 1.5}, {float32(0.5), 0.5}, {int64(3), 3}, {int8(-1), -1}, {uint64(math.MaxUint64), math.MaxUint64}, {uint16(7), 7}} {
		if got, ok := asFloat(c.v); !ok || got != c.want {
			t.Errorf("asFloat(%T %v) = %v, %v", c.v, c.v, got, ok)
		}
	}
	if _, ok := asFloat("1.5"); ok {
		t.Error("asFloat accepted a string")
	}
}

func TestAsStringBool(t *testing.T) {
	if s, ok := asString("x"); !ok || s != "x" {
		t.Error("asString")
	}
	if _, ok := asString([]byte("x")); ok {
		t.Error("asString accepted []byte")
	}
	if b, ok := asBool(true); !ok || !b {
		t.Error("asBool")
	}
	if _, ok := asBool(int64(1)); ok {
		t.Error("asBool accepted an int")
	}
}

func TestAsTime(t *testing.T) {
	want := time.Date(2024, 1, 2, 3, 4, 5, 678900000, time.UTC)
	for _, v := range []any{
		want,
		"2024-01-02T03:04:05.6789Z",
		"2024-01-02T03:04:05.678900",
		"2024-01-02T08:34:05.6789+05:30",
		"2024-01-02T03:04:05.678900+00:00",
	} {
		got, ok := asTime(v)
		if !ok || !got.Equal(want) {
			t.Errorf("asTime(%v) = %v, %v", v, got, ok)
		}
	}
	if got, ok := asTime("2024-01-02T03:04:05"); !ok || !got.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("naive: %v, %v", got, ok)
	}
	for _, v := range []any{"2024-01-02", "yesterday", int64(0), nil} {
		if _, ok := asTime(v); ok {
			t.Errorf("asTime(%v) succeeded", v)
		}
	}
}

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
	src, err := msgpackCodec.encode(src, []entry{{key: "cart", val: map[string]any{
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
	if err := convertInto(es[0].val, &c); err != nil {
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
	if err := convertInto(int64(42), &n); err != nil || n != 42 {
		t.Errorf("int: %d, %v", n, err)
	}
	var s []string
	if err := convertInto([]any{"a", "b"}, &s); err != nil || strings.Join(s, ",") != "a,b" {
		t.Errorf("slice: %v, %v", s, err)
	}
	err = convertInto("not a number", &n)
	if err == nil || !strings.HasPrefix(err.Error(), "ginsession: ") {
		t.Errorf("mismatch error: %v", err)
	}
	if err := convertInto(make(chan int), &n); err == nil || !strings.HasPrefix(err.Error(), "ginsession: ") {
		t.Errorf("chan error: %v", err)
	}
}
