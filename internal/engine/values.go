package engine

import (
	"encoding/json"
	"errors"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/ginsession/ginsession/internal/wire"
)

// normalize returns value as the next request will decode it (so that Get
// returns the same types in this request and the next), repairing strings
// that are not UTF-8 the way Werkzeug decodes a request (each ill-formed
// sequence becomes U+FFFD), logged once per request. The caller holds r.mu.
func (r *Request) normalize(key string, value any) (any, error) {
	switch x := value.(type) {
	case nil, bool, int64, float64:
		if f, isFloat := x.(float64); !isFloat || f-f == 0 { // finite
			return value, nil // already what decoding gives: no new box
		}
	case string:
		if utf8.ValidString(x) {
			return value, nil
		}
	}
	v, err := r.e.cfg.Format.Normalize(value)
	if err == nil || !errors.Is(err, wire.ErrInvalidUTF8) {
		return v, err
	}
	if v, err = r.e.cfg.Format.Normalize(repair(value)); err != nil {
		return nil, err
	}
	r.noteRepair(key)
	return v, nil
}

// repairString repairs one string, noting it.
func (r *Request) repairString(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, false
	}
	r.noteRepair(FlashesKey)
	return repairUTF8(s), true
}

func (r *Request) noteRepair(key string) {
	if !r.repaird {
		r.repaird = true
		r.e.log.Warn("ginsession: a session value held invalid UTF-8; it was repaired with U+FFFD as Werkzeug does", "key", key)
	}
}

// repair returns v with every string repaired as repairUTF8 does: strings
// (of any string type), slices, arrays, string-keyed maps and pointers
// directly, so that each maximal ill-formed sequence becomes one U+FFFD
// wherever the string is; any other value (a struct) through its JSON form,
// where encoding/json replaces each invalid byte, as Normalize does for a
// struct on its own.
func repair(v any) any { return repairAt(v, 0) }

// repairAt is repair of a value nested depth levels down. Past the
// deepest level Normalize accepts (wire.DefaultMaxDepth levels, the top
// one being depth 0) it returns v as it is, for Normalize to reject: a
// value that contains itself is refused, not followed forever.
func repairAt(v any, depth int) any {
	if depth >= wire.DefaultMaxDepth {
		return v
	}
	switch x := v.(type) {
	case string:
		return repairUTF8(x)
	case []string:
		if x == nil {
			return nil // null, not empty (as Normalize gives a typed nil)
		}
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = repairUTF8(s)
		}
		return out
	case []any:
		if x == nil {
			return nil // null, not empty (as Normalize gives a typed nil)
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = repairAt(e, depth+1)
		}
		return out
	case map[string]any:
		if x == nil {
			return nil // null, not empty (as Normalize gives a typed nil)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[repairUTF8(k)] = repairAt(e, depth+1)
		}
		return out
	case map[string]string:
		if x == nil {
			return nil // null, not empty (as Normalize gives a typed nil)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[repairUTF8(k)] = repairUTF8(e)
		}
		return out
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Invalid, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return v // no string inside: kept as it is (an integer must not become a float)
	case reflect.String: // a named string type
		return repairUTF8(rv.String())
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return repairAt(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return v // bytes need no repair
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil // null, not empty (as Normalize gives a typed nil)
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = repairAt(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break // not encodable: the caller's Normalize reports it
		}
		if rv.IsNil() {
			return nil
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[repairUTF8(it.Key().String())] = repairAt(it.Value().Interface(), depth+1)
		}
		return out
	}
	if _, isTime := v.(time.Time); isTime {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v // the caller's Normalize reports it
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// repairUTF8 replaces each maximal ill-formed subsequence of s with U+FFFD,
// as Python's bytes.decode("utf-8", "replace") does (Unicode's "maximal
// subpart" practice), which Werkzeug uses to decode query strings and forms.
func repairUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || n > 1 {
			out = append(out, s[i:i+n]...)
			i += n
			continue
		}
		out = append(out, "\uFFFD"...)
		i += illFormedLen(s[i:])
	}
	return string(out)
}

// illFormedLen is the length of the maximal subpart of an ill-formed
// sequence at the start of s: a lead byte followed by the continuation
// bytes that are still valid for it, or one byte.
func illFormedLen(s string) int {
	c := s[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(s); n++ {
		if s[n] < lo || s[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
