package wire

import (
	"math"
	"math/big"
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
		{uint64(math.MaxInt64), math.MaxInt64}, {uint(math.MaxInt64), math.MaxInt64}, {float64(42), 42},
		{float64(math.MinInt64), math.MinInt64}, {-0x1p63 + 1024, math.MinInt64 + 1024}, {0x1p63 - 1024, math.MaxInt64 - 1023}, {float32(-7), -7}, {big.NewInt(9), 9},
	}
	for _, c := range ok {
		if got, k := AsInt(c.v); !k || got != c.want {
			t.Errorf("AsInt(%T %v) = %d, %v", c.v, c.v, got, k)
		}
	}
	for _, v := range []any{uint64(math.MaxUint64), uint64(1 << 63), uint(1 << 63), 0x1p63, -0x1p63 - 2048, float32(0x1p63), 1.5, math.NaN(), math.Inf(1), 1e19, "1", nil, true} {
		if got, k := AsInt(v); k {
			t.Errorf("AsInt(%T %v) = %d, true", v, v, got)
		}
	}
}

func TestAsFloat(t *testing.T) {
	for _, c := range []struct {
		v    any
		want float64
	}{{1.5, 1.5}, {float32(0.5), 0.5}, {int64(3), 3}, {int8(-1), -1}, {uint64(math.MaxUint64), math.MaxUint64}, {uint16(7), 7}} {
		if got, ok := AsFloat(c.v); !ok || got != c.want {
			t.Errorf("AsFloat(%T %v) = %v, %v", c.v, c.v, got, ok)
		}
	}
	if got, ok := AsFloat(new(big.Int).Lsh(big.NewInt(3), 70)); !ok || got != 3*0x1p70 {
		t.Errorf("AsFloat(3<<70) = %v, %v", got, ok)
	}
	for _, v := range []any{"1.5", (*big.Int)(nil), nil, true} {
		if got, ok := AsFloat(v); ok {
			t.Errorf("AsFloat(%T %v) = %v, true", v, v, got)
		}
	}
}

func TestAsStringBool(t *testing.T) {
	if s, ok := AsString("x"); !ok || s != "x" {
		t.Error("asString")
	}
	if _, ok := AsString([]byte("x")); ok {
		t.Error("asString accepted []byte")
	}
	if b, ok := AsBool(true); !ok || !b {
		t.Error("asBool")
	}
	if _, ok := AsBool(int64(1)); ok {
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
		got, ok := AsTime(v)
		if !ok || !got.Equal(want) {
			t.Errorf("AsTime(%v) = %v, %v", v, got, ok)
		}
	}
	if got, ok := AsTime("2024-01-02T03:04:05"); !ok || !got.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("naive: %v, %v", got, ok)
	}
	if got, ok := AsTime(&want); !ok || !got.Equal(want) {
		t.Errorf("AsTime(*time.Time) = %v, %v", got, ok)
	}
	for _, v := range []any{"2024-01-02", "yesterday", int64(0), nil, (*time.Time)(nil)} {
		if _, ok := AsTime(v); ok {
			t.Errorf("AsTime(%v) succeeded", v)
		}
	}
}
