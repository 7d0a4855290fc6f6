package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// fuzzSeeds returns the stored values of the golden vectors (both formats)
// and the hand-built reading inputs.
func fuzzSeeds(f *testing.F) [][]byte {
	b, err := os.ReadFile("../../testdata/flask-session-0.8.0.json")
	if err != nil {
		f.Fatal(err)
	}
	var vf vecFile
	if err := json.Unmarshal(b, &vf); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, v := range vf.Serialization.Vectors {
		if v.StoredHex != nil && len(*v.StoredHex) < 4096 {
			s, _ := hex.DecodeString(*v.StoredHex)
			seeds = append(seeds, s)
		}
	}
	for _, v := range vf.Reading.Vectors {
		s, _ := hex.DecodeString(v.InputHex)
		seeds = append(seeds, s)
	}
	for _, h := range []string{"80", "c0", "de0001a16101", "81a16bd7ff1d6f345465937d25", "81a16b8201a36f6e65ffa1ad",
		"81a16bdd7fffffff", "81a16bc70cff00000000ffffffffff2795e4", "9192a16b01",
		"81a16b83a161c0a162d7ff0000000400000001018180"} {
		s, _ := hex.DecodeString(h)
		seeds = append(seeds, s)
	}
	seeds = append(seeds, []byte(`{}`), []byte(`null`), []byte(`[["k",1]]`), []byte(`{"a":[1,2.5e-3,"\u00e9\ud83d\ude00",null,{"b":true}]}`))
	return seeds
}

// checkStable: a value that Decode accepts has every value decodable
// (Decode checked all of it), decodes the same into a used slice, and must
// encode; encode→decode must be a fixed point (same bytes when encoded
// again), and an untouched rewrite in the input's own format must decode to
// the same values as the input.
func checkStable(t *testing.T, c codec, src []byte) {
	entries, err := c.Decode(nil, src, Limits{})
	if err == nil {
		if ferr := forceValues(entries); ferr != nil {
			t.Fatalf("Decode accepted %x but a value does not decode: %v", src, ferr)
		}
	}
	used := []entry{{Key: "stale", val: int64(1)}, {Foreign: int64(2), val: "x"}}
	reused, err2 := c.decode(used, src)
	if (err == nil) != (err2 == nil) || len(reused) != len(entries) {
		t.Fatalf("decode into a used slice differs: %s, %v; into nil: %s, %v", fmtEntries(reused), err2, fmtEntries(entries), err)
	}
	if err == nil {
		a, errA := c.encode(nil, entries)
		b, errB := c.encode(nil, reused)
		if !bytes.Equal(a, b) || fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("decode into a used slice differs: %s; into nil: %s", fmtEntries(reused), fmtEntries(entries))
		}
	}
	if err != nil {
		return
	}
	checkStringValue(t, c, src)
	kept, err := c.encode(nil, entries)
	if err != nil {
		t.Fatalf("untouched rewrite fails: %v (%s)", err, fmtEntries(entries))
	}
	if again, err := c.decode(nil, kept); err != nil || len(again) != len(entries) {
		t.Fatalf("untouched rewrite does not decode alike: %v\n%x", err, kept)
	}
	enc, err := c.encode(nil, fresh(entries))
	if err != nil {
		// Only a JSON Ext key or value and an oversize integer in msgpack
		// cannot be re-encoded; decoding never produces either for its own format.
		t.Fatalf("decoded value does not encode: %v (%s)", err, fmtEntries(entries))
	}
	again, err := c.decode(nil, enc)
	if err != nil {
		t.Fatalf("re-encoded value does not decode: %v\n%x", err, enc)
	}
	enc2, err := c.encode(nil, fresh(again))
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encode→decode not stable: %v\n%x\n%x", err, enc, enc2)
	}
}

func FuzzDecodeMsgpack(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkStable(t, msgpackCodec, src)
		_, _ = decodeAny(msgpackCodec, nil, src)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkStable(t, jsonCodec, src)
		_, _ = decodeAny(jsonCodec, nil, src)
	})
}

// allocPerByte and allocSlack bound what decoding n bytes may allocate:
// allocPerByte*n + allocSlack bytes (every value decoded). The worst inputs
// measured are arrays of one-byte empty maps and top-level maps of one-byte
// keys and values (about 100 bytes per input byte); the bound is generous.
const (
	allocPerByte = 256
	allocSlack   = 64 << 10
)

// FuzzDecodeBounded: decoding any input of n bytes, in either format,
// never panics and allocates O(n).
func FuzzDecodeBounded(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(lengthBomb(4096, 8, false, false))
	f.Add(lengthBomb(4096, 8, true, false))
	f.Add(append([]byte{0xdd, 0, 0, 0x0f, 0xff}, bytes.Repeat([]byte{0x80}, 4095)...))
	f.Add(append([]byte{0xdd, 0, 0, 0x05, 0x55}, bytes.Repeat([]byte{0x81, 0, 0}, 1365)...))
	f.Add([]byte("[" + strings.Repeat("{},", 1000) + "{}]"))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, format := range []Format{MsgPack, JSON} {
			var err error
			n := allocated(func() {
				var es []Entry
				if es, err = format.Decode(nil, src, Limits{}); err == nil {
					err = forceValues(es)
				}
			})
			if max := uint64(allocPerByte*len(src) + allocSlack); n > max {
				t.Fatalf("%v: decoding %d bytes allocated %d (over %d): %x", format, len(src), n, max, src)
			}
		}
	})
}

// checkStringValue: on freshly decoded entries, StringValue (which reads a
// stored string without decoding the entry) answers what Value answers.
func checkStringValue(t *testing.T, c codec, src []byte) {
	t.Helper()
	lazy, err := c.Decode(nil, src, Limits{})
	if err != nil {
		t.Fatalf("Decode fails where decode succeeded: %v", err)
	}
	for i := range lazy {
		fast, fastOK, fastErr := lazy[i].StringValue()
		v, err := lazy[i].Value()
		want, wantOK := v.(string)
		if fastErr != nil || err != nil || fast != want || fastOK != wantOK {
			t.Fatalf("entry %d: StringValue = %q, %v, %v; Value = %#v, %v", i, fast, fastOK, fastErr, v, err)
		}
	}
}
