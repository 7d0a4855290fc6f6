// Package wire holds the two storage formats of a session, byte-compatible
// with what Flask-Session 0.8 stores through msgspec: msgpack (the default)
// and compact JSON.
//
// A stored session is a map of top-level entries. [Format.Decode] checks the
// whole input once (structure, UTF-8, timestamps, depth, an element budget:
// linear time, no allocation per element) and keeps, for each entry, its key
// and the stored bytes of its value; the value itself is decoded on first use
// ([Entry.Value]). [Format.Encode] copies the stored bytes of every entry the
// program did not replace, so a session written by Flask and rewritten here
// differs from Flask's bytes only in what this program changed.
//
// Decoded values use a small set of Go types: nil, bool, int64, uint64 (above
// MaxInt64), float64, string, []byte, time.Time (UTC; msgpack timestamps),
// []any, map[string]any (maps with string keys), [Map] (maps with other
// keys, in order), [Ext] (unknown msgpack extensions) and, in JSON only,
// *big.Int for integers beyond 64 bits.
package wire

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Map is an ordered map whose keys are not all strings: nested maps with int or
// bytes keys written by another program (Python) are decoded into it so they
// survive a rewrite. A Map set by the application is encoded in its own order.
type Map []MapItem

// MapItem is one key/value pair of a Map.
type MapItem struct {
	Key   any // int64, uint64, string or []byte as decoded
	Value any
}

// Ext is a msgpack extension value ginsession does not interpret; it is kept
// and written back unchanged.
type Ext struct {
	// Type is the application-defined extension type code.
	Type int8
	// Data is the raw extension payload.
	Data []byte
}

// Format is a storage format: MsgPack or JSON. The zero Format is none.
type Format uint8

// The formats of SESSION_SERIALIZATION_FORMAT.
const (
	MsgPack Format = 1 // msgspec.msgpack
	JSON    Format = 2 // msgspec.json
)

// ParseFormat returns the Format named "msgpack" or "json" ("" means msgpack).
func ParseFormat(name string) (Format, error) {
	switch name {
	case "", "msgpack":
		return MsgPack, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("ginsession: unknown serialization format %q (accepted: msgpack, json)", name)
}

// String returns "msgpack" or "json".
func (f Format) String() string {
	switch f {
	case MsgPack:
		return "msgpack"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Errors of this package, matched with errors.Is.
var (
	// ErrNil is returned by Decode when the stored value is msgpack nil or
	// JSON null, which Flask-Session treats as "no session".
	ErrNil = errors.New("ginsession: stored value is nil")
	// ErrTooDeep reports containers nested deeper than Limits.MaxDepth,
	// when decoding or encoding.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrTooLarge reports an input longer than Limits.MaxInput: it is not
	// decoded at all.
	ErrTooLarge = errors.New("stored value too large to decode")
	// ErrBudget reports an input with more elements than Limits.MaxElements.
	ErrBudget = errors.New("too many elements")
)

// UnsupportedTypeError reports a value the encoders cannot represent.
type UnsupportedTypeError struct {
	Type   string // the Go type
	Reason string // the whole message, when more specific than the type
}

func (e *UnsupportedTypeError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return "cannot encode value of type " + e.Type
}

func unsupported(v any) error {
	return &UnsupportedTypeError{Type: fmt.Sprintf("%T", v)}
}

// DefaultMaxDepth is the deepest nesting of containers accepted when
// Limits.MaxDepth is 0; the top-level session map is level 1.
const DefaultMaxDepth = 64

// Limits bound the work of Decode. The zero value means: any input length,
// DefaultMaxDepth, an element budget equal to the input length.
type Limits struct {
	// MaxInput is the longest input decoded, in bytes; a longer one fails
	// with ErrTooLarge before any work. 0: no limit.
	MaxInput int
	// MaxDepth is the deepest nesting accepted (top-level map = 1).
	// 0, or a value above DefaultMaxDepth: DefaultMaxDepth (values are
	// decoded later within DefaultMaxDepth, so a deeper input that Decode
	// accepted would fail then).
	MaxDepth int
	// MaxElements bounds the number of values (map keys included) in the
	// input. 0: the input length in bytes (every element takes at least
	// one byte, so only a lower setting can fail).
	MaxElements int
}

func (l Limits) depth() int {
	if l.MaxDepth > 0 && l.MaxDepth < DefaultMaxDepth {
		return l.MaxDepth
	}
	return DefaultMaxDepth
}

func (l Limits) elements(n int) int {
	if l.MaxElements > 0 {
		return l.MaxElements
	}
	return n
}

func (l Limits) check(src []byte) error {
	if l.MaxInput > 0 && len(src) > l.MaxInput {
		return fmt.Errorf("ginsession: %w: %d bytes, over the %d-byte bound", ErrTooLarge, len(src), l.MaxInput)
	}
	return nil
}

// Entry is one top-level item of a session, in insertion order. An Entry
// that Decode produced keeps the stored encoding of its value and decodes
// it on first use; one made by NewEntry or changed by Set holds a value only.
type Entry struct {
	// Key is the item's key when Foreign is nil.
	Key string
	// Foreign is a non-string top-level key (int64, uint64, []byte, ...)
	// read from another program; such an item is kept and written back but
	// is unreachable by a string key.
	Foreign any

	rawKey  string // stored encoding of the key ("" when unknown)
	raw     string // stored encoding of the value ("" when set by the program)
	val     any
	format  Format // format of raw and rawKey
	decoded bool   // val holds the decoded raw (without raw, val is the value)
}

// NewEntry returns an entry holding v under key. v should be a value
// Normalize returned, so that Value gives the type the next request decodes.
func NewEntry(key string, v any) Entry {
	return Entry{Key: key, val: v}
}

// Value returns the entry's value, decoding the stored bytes on first use.
// After a successful Decode it does not fail (Decode checked the bytes);
// the error is there for an entry whose bytes were corrupted since.
func (e *Entry) Value() (any, error) {
	if e.decoded || e.format == 0 {
		return e.val, nil
	}
	v, err := decodeValue(e.format, e.raw)
	if err != nil {
		return nil, err
	}
	e.val, e.decoded = v, true
	return v, nil
}

// StringValue returns the value when it is a string. A stored string that
// needs no decoding (any msgpack str; a JSON string without escapes) is
// read straight from the stored bytes, which Decode checked: no
// allocation, and the entry stays undecoded. ok is false for any other
// value.
func (e *Entry) StringValue() (s string, ok bool, err error) {
	if !e.decoded && e.raw != "" {
		switch e.format {
		case MsgPack:
			if s, ok := mpStr(e.raw); ok {
				return s, true, nil
			}
		case JSON:
			if n := len(e.raw); n >= 2 && e.raw[0] == '"' && e.raw[n-1] == '"' && strings.IndexByte(e.raw, '\\') < 0 && utf8.ValidString(e.raw) {
				return e.raw[1 : n-1], true, nil
			}
		}
	}
	v, err := e.Value()
	if err != nil {
		return "", false, err
	}
	s, ok = v.(string)
	return s, ok, nil
}

// Set replaces the entry's value: its stored bytes are dropped and Encode
// encodes v. Use it too when a value handed out by Value was changed in
// place.
func (e *Entry) Set(v any) {
	e.val, e.decoded = v, false
	e.raw, e.rawKey, e.format = "", "", 0
}

// Stored returns the stored encoding of the value and its format, or
// ok=false when the entry holds a value set by the program.
func (e *Entry) Stored() (raw string, f Format, ok bool) {
	return e.raw, e.format, e.format != 0
}

// Decoded reports whether the value has been decoded (or set).
func (e *Entry) Decoded() bool { return e.decoded || e.format == 0 }

// where names the entry in an error message.
func (e *Entry) where() string {
	if e.Foreign != nil {
		return fmt.Sprintf("at key %#v", e.Foreign)
	}
	return fmt.Sprintf("at key %q", e.Key)
}

// encodeError wraps an error raised while encoding the value of e.
func encodeError(e *Entry, err error) error {
	return fmt.Errorf("ginsession: %w %s", err, e.where())
}

// Decode parses a stored session into dst[:0] (reusing its capacity) and
// returns its entries. A msgpack nil / JSON null top level returns
// (nil, ErrNil). Duplicate keys keep the first position and the last value,
// as a Python dict does.
//
// Decode takes src over without copying it: the entries' keys, stored bytes
// and decoded strings point into it, so the caller must not modify src
// afterwards (a Store's Load result belongs to the caller: hand it over).
func (f Format) Decode(dst []Entry, src []byte, lim Limits) ([]Entry, error) {
	if err := lim.check(src); err != nil {
		return nil, err
	}
	// Read-only from here on: the strings made of src are never written.
	s := unsafe.String(unsafe.SliceData(src), len(src))
	switch f {
	case MsgPack:
		return mpDecodeTop(dst, s, lim)
	case JSON:
		return jsDecodeTop(dst, s, lim)
	}
	return nil, fmt.Errorf("ginsession: decode with %v", f)
}

// Encode appends the encoding of the session (entries in order) to dst.
// An entry whose stored bytes are in format f is copied as stored; the
// others are encoded from their values.
func (f Format) Encode(dst []byte, entries []Entry) ([]byte, error) {
	switch f {
	case MsgPack:
		return mpEncodeTop(dst, entries)
	case JSON:
		return jsEncodeTop(dst, entries)
	}
	return dst, fmt.Errorf("ginsession: encode with %v", f)
}

// AppendValue appends the encoding of one value in format f.
func (f Format) AppendValue(dst []byte, v any) ([]byte, error) {
	if f == JSON {
		return jsAppend(dst, v, 2)
	}
	return mpAppend(dst, v, 2)
}

// DecodeAny decodes src with primary first, then the other format
// (Flask-Session falls back the same way); never pickle. When both fail the
// error of the primary format is returned. It reports the format that
// decoded.
func DecodeAny(primary Format, dst []Entry, src []byte, lim Limits) ([]Entry, Format, error) {
	if err := lim.check(src); err != nil {
		return nil, 0, err
	}
	entries, err := primary.Decode(dst, src, lim)
	if err == nil || errors.Is(err, ErrNil) {
		return entries, primary, err
	}
	other := JSON
	if primary == JSON {
		other = MsgPack
	}
	if entries2, err2 := other.Decode(dst, src, lim); err2 == nil || errors.Is(err2, ErrNil) {
		return entries2, other, err2
	}
	return nil, 0, err
}

// decodeValue decodes one stored value (a top-level entry's, at level 2).
func decodeValue(f Format, raw string) (any, error) {
	switch f {
	case MsgPack:
		d := mpDecoder{src: raw, maxDepth: DefaultMaxDepth, budget: math.MaxInt}
		v, err := d.value(2)
		if err == nil && d.pos != len(raw) {
			err = d.errorf("trailing bytes in a stored value at offset %d", d.pos)
		}
		if probeHook != nil {
			probeHook(d.probes)
		}
		return v, err
	case JSON:
		d := jsonDecoder{src: raw, maxDepth: DefaultMaxDepth, budget: math.MaxInt}
		v, err := d.value(2)
		if err == nil && d.pos != len(raw) {
			err = d.errorf("trailing bytes in a stored value at offset %d", d.pos)
		}
		return v, err
	}
	return nil, fmt.Errorf("ginsession: decode a value of format %v", f)
}

// hkey is a hashable form of a map key, for duplicate detection in linear
// time. Keys equal as Python dict keys of the same type hash alike.
type hkey struct {
	kind uint8
	n    uint64
	m    int64
	s    string
}

// hashKey returns the hashable form of a decoded key; ok is false for a
// key never equal to another (NaN).
func hashKey(k any) (h hkey, ok bool) {
	switch x := k.(type) {
	case string:
		return hkey{kind: 1, s: x}, true
	case int64:
		return hkey{kind: 2, n: uint64(x)}, true
	case uint64:
		return hkey{kind: 3, n: x}, true
	case []byte:
		return hkey{kind: 4, s: string(x)}, true
	case bool:
		if x {
			return hkey{kind: 5, n: 1}, true
		}
		return hkey{kind: 5}, true
	case float64:
		if x != x {
			return hkey{}, false
		}
		if x == 0 {
			x = 0 // -0 == +0
		}
		return hkey{kind: 6, n: math.Float64bits(x)}, true
	case time.Time:
		return hkey{kind: 7, n: uint64(x.Unix()), m: int64(x.Nanosecond())}, true
	case Ext:
		return hkey{kind: 8, n: uint64(uint8(x.Type)), s: string(x.Data)}, true
	case *big.Int:
		if x == nil {
			return hkey{}, false
		}
		return hkey{kind: 9, s: x.String()}, true
	}
	return hkey{}, false
}

// linearKeys is how many keys are compared one by one before an index is
// built.
const linearKeys = 16

// entrySet adds decoded top-level items to a session, replacing the value of
// an earlier item with the same key (the position of the first one is kept,
// as in a Python dict). For the first linearKeys items a 64-bit filter of
// the string keys seen answers most lookups without comparing; past them a
// hash index takes over. probes counts key comparisons and index operations
// (the complexity tests read it).
type entrySet struct {
	seen   uint64 // filter bits of the string keys added
	index  map[hkey]int
	probes int
}

// keyBit is the filter bit of a string key.
func keyBit(s string) uint64 {
	h := uint(len(s))
	if len(s) > 0 {
		h = h*31 + uint(s[0])
		h = h*31 + uint(s[len(s)/2])
		h = h*31 + uint(s[len(s)-1])
	}
	return 1 << (h & 63)
}

func entryKey(e *Entry) (hkey, bool) {
	if e.Foreign == nil {
		return hkey{kind: 1, s: e.Key}, true
	}
	return hashKey(e.Foreign)
}

func (x *entrySet) add(entries []Entry, e Entry) []Entry {
	if x.index == nil {
		if e.Foreign == nil {
			bit := keyBit(e.Key)
			if x.seen&bit != 0 {
				for i := range entries {
					x.probes++
					if entries[i].Foreign == nil && entries[i].Key == e.Key {
						replaceValue(&entries[i], &e)
						return entries
					}
				}
			}
			x.seen |= bit
		} else if k, ok := hashKey(e.Foreign); ok {
			for i := range entries {
				x.probes++
				if entries[i].Foreign == nil {
					continue
				}
				if k2, ok2 := hashKey(entries[i].Foreign); ok2 && k2 == k {
					replaceValue(&entries[i], &e)
					return entries
				}
			}
		}
		if len(entries) < linearKeys {
			return append(entries, e)
		}
		x.index = make(map[hkey]int, 2*len(entries))
		for i := range entries {
			x.probes++
			if k2, ok2 := entryKey(&entries[i]); ok2 {
				x.index[k2] = i
			}
		}
	}
	k, ok := entryKey(&e)
	if !ok {
		return append(entries, e)
	}
	x.probes++
	if i, dup := x.index[k]; dup {
		replaceValue(&entries[i], &e)
		return entries
	}
	x.index[k] = len(entries)
	return append(entries, e)
}

// replaceValue gives dst (an earlier item with the same key) the value of src.
func replaceValue(dst, src *Entry) {
	dst.raw, dst.format, dst.val, dst.decoded = src.raw, src.format, src.val, src.decoded
}

// mapSet is entrySet for nested ordered maps.
type mapSet struct {
	keys   []hkey // the keys of out, while there are few
	index  map[hkey]int
	probes int
}

func (x *mapSet) add(out Map, k, v any) Map {
	h, ok := hashKey(k)
	if !ok {
		x.keys = append(x.keys, hkey{kind: 255}) // NaN: equal to nothing
		return append(out, MapItem{Key: k, Value: v})
	}
	if x.index == nil {
		for i := range x.keys {
			x.probes++
			if x.keys[i] == h {
				out[i].Value = v
				return out
			}
		}
		if len(x.keys) < linearKeys {
			x.keys = append(x.keys, h)
			return append(out, MapItem{Key: k, Value: v})
		}
		x.index = make(map[hkey]int, 2*len(x.keys))
		for i, kh := range x.keys {
			x.probes++
			if kh.kind != 255 {
				x.index[kh] = i
			}
		}
		x.keys = nil
	}
	x.probes++
	if i, dup := x.index[h]; dup {
		out[i].Value = v
		return out
	}
	x.index[h] = len(out)
	return append(out, MapItem{Key: k, Value: v})
}

// probeHook, when set (by tests), receives the key probes of each decode.
var probeHook func(n int)
