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
