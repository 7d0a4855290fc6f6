package ginsession

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"time"
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

// entry is one top-level session item, in insertion order.
type entry struct {
	key     string // the key, when foreign == nil
	foreign any    // a non-string top-level key (int64, uint64, []byte) read from another program; such an item is kept and re-encoded but unreachable by Get
	val     any
}

// codec turns a session into stored bytes and back.
type codec interface {
	// encode appends the encoding of the session (entries in order) to dst.
	encode(dst []byte, entries []entry) ([]byte, error)
	// decode parses a stored value into dst[:0], reusing its capacity (the
	// middleware passes a pooled session's slice). A msgpack nil / JSON
	// null top level returns (nil, errNoSession).
	decode(dst []entry, src []byte) ([]entry, error)
}

var (
	msgpackCodec codec = msgpackFormat{}
	jsonCodec    codec = jsonFormat{}
)

// errNoSession is returned by decode when the stored value is nil/null, which
// Flask-Session treats as "no session".
var errNoSession = errors.New("ginsession: stored value is nil")

// maxDepth is the deepest nesting of containers accepted when decoding and
// encoding; the top-level session map is level 1.
const maxDepth = 64

// codecFor returns the codec for "msgpack" or "json" ("" means msgpack).
func codecFor(format string) (codec, error) {
	switch format {
	case "", "msgpack":
		return msgpackCodec, nil
	case "json":
		return jsonCodec, nil
	}
	return nil, fmt.Errorf("ginsession: unknown serialization format %q (accepted: msgpack, json)", format)
}

// decodeAny decodes src with primary first, then the other format
// (Flask-Session falls back the same way); never pickle. When both fail the
// error of the primary format is returned.
func decodeAny(primary codec, dst []entry, src []byte) ([]entry, error) {
	entries, err := primary.decode(dst, src)
	if err == nil || errors.Is(err, errNoSession) {
		return entries, err
	}
	other := jsonCodec
	if _, isJSON := primary.(jsonFormat); isJSON {
		other = msgpackCodec
	}
	if entries2, err2 := other.decode(dst, src); err2 == nil || errors.Is(err2, errNoSession) {
		return entries2, err2
	}
	return nil, err
}

// unsupportedTypeError reports a value the encoders cannot represent.
type unsupportedTypeError struct {
	typ    string
	reason string
}

func (e *unsupportedTypeError) Error() string {
	if e.reason != "" {
		return e.reason
	}
	return "cannot encode value of type " + e.typ
}

func unsupported(v any) error {
	return &unsupportedTypeError{typ: fmt.Sprintf("%T", v)}
}

var errTooDeep = fmt.Errorf("nesting deeper than %d levels", maxDepth)

// encodeError wraps an error raised while encoding the value at a top-level key.
func encodeError(e *entry, err error) error {
	var where string
	if e.foreign != nil {
		where = fmt.Sprintf("at key %#v", e.foreign)
	} else {
		where = fmt.Sprintf("at key %q", e.key)
	}
	return fmt.Errorf("ginsession: %v %s", err, where)
}

// entrySet adds decoded top-level items to a session, replacing the value of
// an earlier item with the same string key (the position of the first one is
// kept, as in a Python dict). Duplicates are rare, so a 64-bit filter of the
// keys seen so far answers most lookups without comparing strings; past 32
// items an index map takes over.
type entrySet struct {
	seen  uint64
	index map[string]int
}

// keyBit is the filter bit of a key.
func keyBit(s string) uint64 {
	h := uint(len(s))
	if len(s) > 0 {
		h = h*31 + uint(s[0])
		h = h*31 + uint(s[len(s)/2])
		h = h*31 + uint(s[len(s)-1])
	}
	return 1 << (h & 63)
}

// add appends the item key: val to entries, or replaces the value of an
// earlier item with the same key.
func (x *entrySet) add(entries []entry, key string, val any) []entry {
	if x.index != nil {
		if i, dup := x.index[key]; dup {
			entries[i].val = val
			return entries
		}
		x.index[key] = len(entries)
		return append(entries, entry{key: key, val: val})
	}
	bit := keyBit(key)
	if x.seen&bit != 0 {
		for i := range entries {
			if entries[i].foreign == nil && entries[i].key == key {
				entries[i].val = val
				return entries
			}
		}
	}
	x.seen |= bit
	if len(entries) >= 32 {
		x.index = make(map[string]int, 2*len(entries))
		for i := range entries {
			if entries[i].foreign == nil {
				x.index[entries[i].key] = i
			}
		}
		x.index[key] = len(entries)
	}
	return append(entries, entry{key: key, val: val})
}

// addAny is add for a key of any type; a non-string key (read from another
// program) is kept as a foreign item.
func (x *entrySet) addAny(entries []entry, key any, val any) []entry {
	if s, ok := key.(string); ok {
		return x.add(entries, s, val)
	}
	return append(entries, entry{foreign: key, val: val})
}

// appendSortedKeys appends the keys of m to dst and sorts them.
func appendSortedKeys(dst []string, m map[string]any) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	timeType          = reflect.TypeFor[time.Time]()
	bigIntPtrType     = reflect.TypeFor[*big.Int]()
)

// normalize converts a value of a type the fast paths do not know into the
// generic types both encoders handle (nil, bool, int64, uint64, float64,
// string, []byte, time.Time, []any, map[string]any, Map, Ext, *big.Int).
// Slices and arrays become []any ([]byte for byte elements), maps with string
// keys map[string]any, structs (and types with their own JSON marshalling) go
// through encoding/json so json tags apply, pointers are followed.
func normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	return normalizeValue(rv, 0)
}

func normalizeValue(rv reflect.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if !rv.IsValid() {
		return nil, nil
	}
	t := rv.Type()
	switch t {
	case timeType:
		return rv.Interface(), nil
	case bigIntPtrType:
		if rv.IsNil() {
			return nil, nil
		}
		return rv.Interface(), nil
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType)) {
		return viaJSON(rv.Interface())
	}
	switch t.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= 1<<63-1 {
			return int64(u), nil
		}
		return u, nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return normalizeValue(rv.Elem(), depth+1)
	case reflect.Slice:
		if rv.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return append([]byte(nil), rv.Bytes()...), nil
		}
		fallthrough
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Array {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b, nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			x, err := normalizeValue(rv.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if rv.IsNil() {
			return nil, nil
		}
		if t.Key().Kind() != reflect.String {
			return nil, &unsupportedTypeError{typ: t.String(), reason: "cannot encode value of type " + t.String() + " (map keys must be strings)"}
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			x, err := normalizeValue(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = x
		}
		return out, nil
	case reflect.Struct:
		return viaJSON(rv.Interface())
	}
	return nil, &unsupportedTypeError{typ: t.String()}
}

// viaJSON converts v to a generic tree through encoding/json, so json tags
// and custom marshalers apply.
func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, &unsupportedTypeError{typ: ute.Type.String()}
		}
		return nil, &unsupportedTypeError{typ: fmt.Sprintf("%T", v), reason: fmt.Sprintf("cannot encode value of type %T: %v", v, err)}
	}
	d := jsonDecoder{src: b}
	d.skipSpace()
	out, err := d.value(1)
	if err != nil {
		return nil, err
	}
	return out, nil
}
