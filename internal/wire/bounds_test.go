package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// intKeyMap returns a session {"cart": {0: 1, 1: 1, ..., n-1: 1}} (a Python
// dict keyed by product id), nested when nested is true, else the int keys
// are the session's own top-level keys.
func intKeyMap(n int, nested bool) []byte {
	var b []byte
	if nested {
		b = append(b, 0x81, 0xa4, 'c', 'a', 'r', 't')
	}
	b = append(b, 0xdf)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = mpAppendInt(b, int64(i)+1<<16) // ce xxxxxxxx: 5 bytes
		b = append(b, 0x01)
	}
	return b
}

// decodeProbes decodes src fully (every value) and returns the key probes
// made and the bytes allocated.
func decodeProbes(t *testing.T, f Format, src []byte) (probes int, alloc uint64) {
	t.Helper()
	probeHook = func(n int) { probes += n }
	defer func() { probeHook = nil }()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	es, err := f.Decode(nil, src, Limits{})
	if err == nil {
		err = forceValues(es)
	}
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return probes, after.TotalAlloc - before.TotalAlloc
}

// TestIntKeyMapLinear: the 80,000-int-key map (~480 KB) of issue 14 took
// 15-48 s when each key was compared with every earlier one. Duplicate
// detection is hashed now: the key probes and the bytes allocated grow
// linearly (10k -> 80k keys: x8, asserted below x12), never quadratically
// (x64).
func TestIntKeyMapLinear(t *testing.T) {
	for _, nested := range []bool{true, false} {
		t.Run(fmt.Sprintf("nested=%t", nested), func(t *testing.T) {
			small, big := intKeyMap(10_000, nested), intKeyMap(80_000, nested)
			if len(big) < 470_000 {
				t.Fatalf("input is %d bytes, want ~480 KB", len(big))
			}
			ps, as := decodeProbes(t, MsgPack, small)
			pb, ab := decodeProbes(t, MsgPack, big)
			t.Logf("10k keys: %d probes, %d B; 80k keys: %d probes, %d B", ps, as, pb, ab)
			if pb > 12*ps || pb > 3*80_000 {
				t.Errorf("key probes grow faster than linearly: %d for 10k keys, %d for 80k", ps, pb)
			}
			if ab > 12*as {
				t.Errorf("allocation grows faster than linearly: %d B for 10k keys, %d B for 80k", as, ab)
			}
		})
	}
}

// TestDuplicateKeysHashed: duplicates are found past the linear phase, for
// every key type, and keep the first position with the last value.
func TestDuplicateKeysHashed(t *testing.T) {
	keys := []any{"s", int64(-3), uint64(1 << 63), []byte("b"), true, 1.5, Ext{Type: 3, Data: []byte{1}}}
	var src []byte
	src = append(src, 0x81, 0xa1, 'm', 0xde, 0, byte(2*(linearKeys+len(keys))))
	for i := range linearKeys {
		src = mpAppendInt(src, int64(1000+i))
		src = append(src, 0x00)
	}
	for round := range 2 {
		for _, k := range keys {
			var err error
			if src, err = mpAppend(src, k, 3); err != nil {
				t.Fatal(err)
			}
			src = mpAppendInt(src, int64(round))
		}
	}
	// The padding entries again, as duplicates of the first linearKeys.
	for i := range linearKeys - len(keys) {
		src = mpAppendInt(src, int64(1000+i))
		src = append(src, 0x07)
	}
	src[5] = byte(linearKeys + 2*len(keys) + linearKeys - len(keys))
	es, err := MsgPack.decode(nil, src)
	if err != nil {
		t.Fatal(err)
	}
	m := es[0].val.(Map)
	if len(m) != linearKeys+len(keys) {
		t.Fatalf("%d items, want %d: %v", len(m), linearKeys+len(keys), m)
	}
	for i, it := range m {
		want := int64(1)
		if i < linearKeys {
			want = 0
			if i < linearKeys-len(keys) {
				want = 7
			}
		}
		if it.Value != want {
			t.Errorf("item %d (%#v) = %v, want %d", i, it.Key, it.Value, want)
		}
	}
}

// allocated returns the bytes allocated by f (and by anything else running
// meanwhile: the tests that use it do not run in parallel).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// lengthBomb returns size bytes: containers nested depth deep, each
// claiming (in a 32-bit length prefix) as many items as the bytes left,
// the innermost filled with zero bytes (one-byte items), or with one str
// when str is set. It is cut short: the outer claims are never met.
func lengthBomb(size, depth int, isMap, str bool) []byte {
	b := []byte{0x81, 0xa1, 'k'}
	for i := range depth {
		left := size - len(b) - 5*(depth-i)
		if isMap {
			b = append(b, 0xdf)
			b = binary.BigEndian.AppendUint32(b, uint32(left/2))
			b = append(b, 0xa1, 'k')
		} else {
			b = append(b, 0xdd)
			b = binary.BigEndian.AppendUint32(b, uint32(left))
		}
	}
	if str {
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(size-len(b)-4))
	}
	return append(b, make([]byte, size-len(b))...)
}

// TestLengthPrefixBombs: 1 MiB values whose nested length prefixes claim
// the remaining bytes made the decoder allocate 1-2.5 GiB. Both the
// checking pass of Decode and the value decoder (reached directly here, as
// if the check had been skipped) stay under 64 MiB: nothing is reserved
// from a length prefix beyond maxPrealloc items. (The value decoder is
// given the str-filled bomb: the zero-filled one holds a million real
// items, whose decoding is proportional to the input, not a bomb.)
func TestLengthPrefixBombs(t *testing.T) {
	const limit = 64 << 20
	for _, isMap := range []bool{false, true} {
		src := lengthBomb(1<<20, DefaultMaxDepth-2, isMap, false)
		var err error
		n := allocated(func() { _, err = MsgPack.Decode(nil, src, Limits{}) })
		if err == nil {
			t.Errorf("map=%t: bomb decoded", isMap)
		}
		if n > limit {
			t.Errorf("map=%t: Decode allocated %d MiB", isMap, n>>20)
		}
		src = lengthBomb(1<<20, DefaultMaxDepth-2, isMap, true)
		n2 := allocated(func() { _, err = decodeValue(MsgPack, string(src[3:])) })
		if err == nil {
			t.Errorf("map=%t: bomb value decoded", isMap)
		}
		if n2 > limit {
			t.Errorf("map=%t: value decoding allocated %d MiB", isMap, n2>>20)
		}
		t.Logf("map=%t: Decode %d KiB, value decoder %d KiB (%v)", isMap, n>>10, n2>>10, err)
	}
}

// TestDepthLimitMapsAndArrays: maps count toward the depth limit as arrays
// do, in the checking pass and in the value decoder, in both formats.
func TestDepthLimitMapsAndArrays(t *testing.T) {
	nest := func(depth int, isMap bool) []byte {
		b := []byte{0x81, 0xa1, 'k'}
		for range depth {
			if isMap {
				b = append(b, 0x81, 0xa1, 'k')
			} else {
				b = append(b, 0x91)
			}
		}
		return append(b, 0x01)
	}
	jsNest := func(depth int, isMap bool) []byte {
		open, end := "[", "]"
		if isMap {
			open, end = `{"k":`, "}"
		}
		return []byte(`{"k":` + strings.Repeat(open, depth) + "1" + strings.Repeat(end, depth) + "}")
	}
	for _, isMap := range []bool{false, true} {
		// Level 1 is the session; its values are level 2.
		for f, build := range map[Format]func(int, bool) []byte{MsgPack: nest, JSON: jsNest} {
			ok := build(DefaultMaxDepth-1, isMap)
			deep := build(DefaultMaxDepth, isMap)
			if _, err := f.decode(nil, ok); err != nil {
				t.Errorf("%v map=%t: %d levels rejected: %v", f, isMap, DefaultMaxDepth, err)
			}
			if _, err := f.Decode(nil, deep, Limits{}); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v map=%t: %d levels: Decode error %v, want ErrTooDeep", f, isMap, DefaultMaxDepth+1, err)
			}
			raw := string(deep[len(deep)-len(deep)+strings.Index(string(deep), "k")+1:])
			if f == JSON {
				raw = strings.TrimSuffix(string(deep[len(`{"k":`):]), "}")
			}
			if _, err := decodeValue(f, raw); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v map=%t: value decoder error %v, want ErrTooDeep", f, isMap, err)
			}
			if _, err := f.Decode(nil, ok, Limits{MaxDepth: 3}); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v map=%t: MaxDepth 3: %v", f, isMap, err)
			}
			// A MaxDepth above the default cannot let through what the
			// values' decoding would then refuse: Decode's promise that
			// Value does not fail after it holds.
			if _, err := f.Decode(nil, deep, Limits{MaxDepth: 2 * DefaultMaxDepth}); !errors.Is(err, ErrTooDeep) {
				t.Errorf("%v map=%t: MaxDepth above the default: Decode error %v, want ErrTooDeep", f, isMap, err)
			}
		}
	}
}

// TestLimits: MaxInput refuses a long input before any work, MaxElements
// bounds the values read.
func TestLimits(t *testing.T) {
	src := []byte{0x82, 0xa1, 'a', 0x93, 1, 2, 3, 0xa1, 'b', 0xc0} // {"a": [1,2,3], "b": nil}
	if _, err := MsgPack.Decode(nil, src, Limits{MaxInput: len(src)}); err != nil {
		t.Errorf("at MaxInput: %v", err)
	}
	if _, err := MsgPack.Decode(nil, src, Limits{MaxInput: len(src) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxInput: %v", err)
	}
	if _, _, err := DecodeAny(JSON, nil, src, Limits{MaxInput: 4}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeAny over MaxInput: %v", err)
	}
	// 2 keys + 1 array + 3 ints + 1 nil = 7 elements.
	if _, err := MsgPack.Decode(nil, src, Limits{MaxElements: 7}); err != nil {
		t.Errorf("7 elements with a budget of 7: %v", err)
	}
	if _, err := MsgPack.Decode(nil, src, Limits{MaxElements: 6}); !errors.Is(err, ErrBudget) {
		t.Errorf("7 elements with a budget of 6: %v", err)
	}
	js := []byte(`{"a":[1,2,3],"b":null}`)
	if _, err := JSON.Decode(nil, js, Limits{MaxElements: 7}); err != nil {
		t.Errorf("JSON, 7 elements with a budget of 7: %v", err)
	}
	if _, err := JSON.Decode(nil, js, Limits{MaxElements: 6}); !errors.Is(err, ErrBudget) {
		t.Errorf("JSON, 7 elements with a budget of 6: %v", err)
	}
}

// TestTopLevelForeignDuplicates: non-string top-level keys are deduplicated
// too (first position, last value), and never confused with string keys.
func TestTopLevelForeignDuplicates(t *testing.T) {
	// {1: "a", "1": "s", 1: "b", b"k": 1, b"k": 2}
	src := []byte{0x85, 0x01, 0xa1, 'a', 0xa1, '1', 0xa1, 's', 0x01, 0xa1, 'b', 0xc4, 1, 'k', 0x01, 0xc4, 1, 'k', 0x02}
	es, err := MsgPack.decode(nil, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Foreign != int64(1) || es[0].val != "b" || es[1].Key != "1" || es[1].val != "s" ||
		string(es[2].Foreign.([]byte)) != "k" || es[2].val != int64(2) {
		t.Errorf("got %s", fmtEntries(es))
	}
	if out, err := MsgPack.Encode(nil, es); err != nil || string(out) != "\x83\x01\xa1b\xa11\xa1s\xc4\x01k\x02" {
		t.Errorf("rewrite %x, %v", out, err)
	}
}
