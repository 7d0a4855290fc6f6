package wire

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"time"
)

// Normalize returns v as the types that decoding its encoding in format f
// gives back, so that what a request stores with Set is what Get returns,
// in this request and in the next one: int becomes int64, []string []any,
// a struct the map[string]any of its JSON form, a time.Time in JSON its
// RFC 3339 string, and so on. Values that cannot be encoded are reported
// (*UnsupportedTypeError, ErrTooDeep, or a string that is not UTF-8).
func (f Format) Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64:
		return x, nil
	case string:
		if !validString(x) {
			return nil, errInvalidUTF8
		}
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return x, nil
		}
	case time.Time:
		if f == MsgPack {
			return time.Unix(x.Unix(), int64(x.Nanosecond())).UTC(), nil
		}
	}
	enc, err := f.AppendValue(nil, v)
	if err != nil {
		return nil, err
	}
	return decodeValue(f, string(enc))
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

// normalize converts a value of a type the encoders' fast paths do not know
// into the generic types both encoders handle (nil, bool, int64, uint64,
// float64, string, []byte, time.Time, []any, map[string]any, Map, Ext,
// *big.Int). Slices and arrays become []any ([]byte for byte elements),
// maps with string keys map[string]any, structs (and types with their own
// JSON marshalling) go through encoding/json so json tags apply, pointers
// are followed.
func normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	return normalizeValue(rv, 0)
}

func normalizeValue(rv reflect.Value, depth int) (any, error) {
	if depth > DefaultMaxDepth {
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
			return nil, &UnsupportedTypeError{Type: t.String(), Reason: "cannot encode value of type " + t.String() + " (map keys must be strings)"}
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
	return nil, &UnsupportedTypeError{Type: t.String()}
}

// viaJSON converts v to a generic tree through encoding/json, so json tags
// and custom marshalers apply.
func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, &UnsupportedTypeError{Type: ute.Type.String()}
		}
		return nil, &UnsupportedTypeError{Type: fmt.Sprintf("%T", v), Reason: fmt.Sprintf("cannot encode value of type %T: %v", v, err)}
	}
	d := jsonDecoder{src: string(b), maxDepth: DefaultMaxDepth, budget: math.MaxInt}
	d.skipSpace()
	return d.value(1)
}

// ConvertInto stores the decoded value v into out (a pointer) by way of
// JSON: []byte becomes base64, time.Time RFC 3339, Map an object with
// stringified keys and Ext {"type":..,"data":..}.
func ConvertInto(v any, out any) error {
	b, err := jsAppend(nil, toJSONCompatible(v), 1)
	if err != nil {
		return fmt.Errorf("ginsession: cannot convert %T: %v", v, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ginsession: cannot convert session value into %T: %w", out, err)
	}
	return nil
}

// toJSONCompatible replaces the values JSON cannot hold as such: Ext becomes
// {"type","data"}; NaN and infinities stay (written as null).
func toJSONCompatible(v any) any {
	switch x := v.(type) {
	case Ext:
		return map[string]any{"type": int64(x.Type), "data": x.Data}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSONCompatible(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSONCompatible(e)
		}
		return out
	case Map:
		out := make(Map, len(x))
		for i, it := range x {
			k := it.Key
			if ext, ok := k.(Ext); ok {
				k = fmt.Sprintf("ext(%d,%x)", ext.Type, ext.Data)
			}
			out[i] = MapItem{Key: k, Value: toJSONCompatible(it.Value)}
		}
		return out
	}
	return v
}
