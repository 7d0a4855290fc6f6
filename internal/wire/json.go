package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// jsEncodeTop writes the session object: untouched JSON entries as stored.
func jsEncodeTop(dst []byte, entries []Entry) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i := range entries {
		e := &entries[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if e.format == JSON && e.rawKey != "" {
			dst = append(dst, e.rawKey...)
		} else if e.Foreign != nil {
			dst, err = jsAppendKey(dst, e.Foreign)
		} else {
			dst, err = jsAppendString(dst, e.Key)
		}
		if err == nil {
			dst = append(dst, ':')
			if e.format == JSON {
				dst = append(dst, e.raw...)
				continue
			}
			var v any
			if v, err = e.Value(); err == nil {
				dst, err = jsAppend(dst, v, 2)
			}
		}
		if err != nil {
			return dst, encodeError(e, err)
		}
	}
	return append(dst, '}'), nil
}

const hexDigits = "0123456789abcdef"

// jsAppendString writes s as msgspec does: only '"', '\\' and C0 controls are
// escaped; everything else, including <>&, DEL and U+2028/9, is raw UTF-8.
func jsAppendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return dst, errInvalidUTF8
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// jsAppendFloat writes f the way msgspec does: the shortest digits that
// round trip, in fixed notation for 1e-5 <= |f| < 1e16 (always with a
// fraction, "1.0", "0.00001"), otherwise in exponent notation without '+'
// or leading zeros ("1e16", "1e-6", "1.7976931348623157e308"). NaN and
// ±Inf are null.
func jsAppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	// b is [-]d[.ddd]e±XX
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		dst = append(dst, '-')
	}
	epos := 0
	for epos < len(b) && b[epos] != 'e' {
		epos++
	}
	mant := b[:epos]
	exp, _ := strconv.Atoi(string(b[epos+1:]))
	var digits [20]byte
	nd := 0
	for _, c := range mant {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	ds := digits[:nd]
	// msgspec's write_f64 (ryu.h) decides on the decimal point position
	// kk = exp+1 of the shortest digits: 0.000ddd for -5 < kk <= 0, plain
	// digits (with ".0" or a fraction) up to kk = 16, else d.ddde±x.
	if exp < -5 || exp >= 16 {
		dst = append(dst, ds[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, ds[1:]...)
		}
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := 0; i < -exp-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, ds...)
	}
	// integer part has exp+1 digits
	if nd <= exp+1 {
		dst = append(dst, ds...)
		for i := nd; i < exp+1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, ds[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, ds[exp+1:]...)
}

// jsAppendTime writes an RFC 3339 timestamp as msgspec does: "Z" for a zero
// offset, ±HH:MM otherwise, and a fraction only when there is one (6 digits,
// or 9 when the value has sub-microsecond precision).
func jsAppendTime(dst []byte, t time.Time) []byte {
	_, off := t.Zone()
	layout := "2006-01-02T15:04:05"
	if ns := t.Nanosecond(); ns != 0 {
		if ns%1000 == 0 {
			layout += ".000000"
		} else {
			layout += ".000000000"
		}
	}
	if off == 0 {
		layout += "Z"
	} else {
		layout += "-07:00"
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, layout)
	return append(dst, '"')
}

// jsAppendKey writes a non-string map key as a JSON object key.
func jsAppendKey(dst []byte, k any) ([]byte, error) {
	switch x := k.(type) {
	case string:
		return jsAppendString(dst, x)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"'), nil
	case bool:
		if x {
			return append(dst, `"true"`...), nil
		}
		return append(dst, `"false"`...), nil
	case time.Time:
		return jsAppendTime(dst, x), nil
	}
	if n, err := normalizeScalar(k); err == nil {
		switch x := n.(type) {
		case int64:
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, x, 10)
			return append(dst, '"'), nil
		case uint64:
			dst = append(dst, '"')
			dst = strconv.AppendUint(dst, x, 10)
			return append(dst, '"'), nil
		case float64:
			dst = append(dst, '"')
			dst = jsAppendFloat(dst, x)
			return append(dst, '"'), nil
		}
	}
	return dst, &UnsupportedTypeError{Type: fmt.Sprintf("%T", k), Reason: fmt.Sprintf("cannot encode map key of type %T in JSON", k)}
}

// normalizeScalar turns any Go integer or float into int64, uint64 or float64.
func normalizeScalar(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint:
		return uint64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return nil, errors.New("not a number")
}

// jsAppend appends the JSON encoding of v; depth is the nesting level of v.
func jsAppend(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return jsAppendString(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case float64:
		return jsAppendFloat(dst, x), nil
	case float32:
		return jsAppendFloat(dst, float64(x)), nil
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"'), nil
	case time.Time:
		return jsAppendTime(dst, x), nil
	case *time.Time:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return jsAppendTime(dst, *x), nil
	case *big.Int:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return x.Append(dst, 10), nil
	case []any:
		if depth > DefaultMaxDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = jsAppend(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if depth > DefaultMaxDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '{')
		var err error
		var stack [16]string
		for i, k := range appendSortedKeys(stack[:0], x) {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = jsAppendString(dst, k); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
			if dst, err = jsAppend(dst, x[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case Map:
		if depth > DefaultMaxDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '{')
		var err error
		for i, it := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = jsAppendKey(dst, it.Key); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
			if dst, err = jsAppend(dst, it.Value, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case []string:
		dst = append(dst, '[')
		var err error
		for i, s := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = jsAppendString(dst, s); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case []int:
		dst = append(dst, '[')
		for i, n := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(n), 10)
		}
		return append(dst, ']'), nil
	case Ext:
		return dst, &UnsupportedTypeError{Type: "wire.Ext", Reason: "cannot encode value of type Ext in JSON (msgpack extension)"}
	}
	if depth > DefaultMaxDepth {
		return dst, errTooDeep
	}
	n, err := normalize(v)
	if err != nil {
		return dst, err
	}
	return jsAppend(dst, n, depth)
}

// jsonDecoder is a small order-preserving JSON parser producing the generic
// value types. Strings without escapes are substrings of src.
type jsonDecoder struct {
	src      string
	pos      int
	maxDepth int
	budget   int // elements left to read (Limits.MaxElements)
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("ginsession: json: "+format, args...)
}

func (d *jsonDecoder) tooDeep() error {
	return fmt.Errorf("ginsession: json: %w: more than %d levels at offset %d", ErrTooDeep, d.maxDepth, d.pos)
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) unexpected() error {
	if d.pos >= len(d.src) {
		return d.errorf("unexpected end of input at offset %d", d.pos)
	}
	return d.errorf("invalid character %q at offset %d", d.src[d.pos], d.pos)
}

// next skips space and consumes c if it comes next.
func (d *jsonDecoder) next(c byte) bool {
	d.skipSpace()
	if d.pos < len(d.src) && d.src[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// jsDecodeTop checks src in one pass and returns its top-level entries,
// each keeping its stored bytes.
func jsDecodeTop(dst []Entry, src string, lim Limits) ([]Entry, error) {
	d := jsonDecoder{src: src, maxDepth: lim.depth(), budget: lim.elements(len(src))}
	if !utf8.ValidString(src) {
		return nil, d.errorf("input is not valid UTF-8")
	}
	d.skipSpace()
	if d.pos >= len(src) {
		return nil, d.errorf("empty input")
	}
	entries := dst[:0]
	if entries == nil {
		entries = []Entry{}
	}
	var set entrySet
	switch src[d.pos] {
	case 'n':
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos != len(src) {
			return nil, d.errorf("trailing data after null at offset %d", d.pos)
		}
		return nil, ErrNil
	case '{':
		d.pos++
		if d.next('}') {
			break
		}
		for {
			d.skipSpace()
			if d.pos >= len(src) || src[d.pos] != '"' {
				return nil, d.unexpected()
			}
			d.budget--
			keyAt := d.pos
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if k == "_permanent" {
				k = "_permanent"
			}
			rawKey := src[keyAt:d.pos]
			if err := d.colon(); err != nil {
				return nil, err
			}
			raw, err := d.scanRaw(2)
			if err != nil {
				return nil, err
			}
			entries = set.add(entries, Entry{Key: k, rawKey: rawKey, raw: raw, format: JSON})
			if d.next(',') {
				continue
			}
			if d.next('}') {
				break
			}
			return nil, d.unexpected()
		}
	case '[':
		// Python's dict(list_of_pairs): [[key, value], ...].
		d.pos++
		if d.next(']') {
			break
		}
		for i := 0; ; i++ {
			if !d.next('[') {
				return nil, d.errorf("top-level array element %d is not a [key, value] pair", i)
			}
			d.skipSpace()
			if d.pos < len(src) {
				switch src[d.pos] {
				case 'n', '[', '{':
					return nil, d.errorf("top-level array element %d has an unhashable key", i)
				}
			}
			d.budget--
			k, err := d.value(3)
			if err != nil {
				return nil, err
			}
			if !d.next(',') {
				return nil, d.errorf("top-level array element %d is not a [key, value] pair", i)
			}
			raw, err := d.scanRaw(3)
			if err != nil {
				return nil, err
			}
			if !d.next(']') {
				return nil, d.errorf("top-level array element %d is not a [key, value] pair", i)
			}
			e := Entry{raw: raw, format: JSON}
			if s, ok := k.(string); ok {
				e.Key = s
			} else {
				e.Foreign = k
			}
			entries = set.add(entries, e)
			if d.next(',') {
				continue
			}
			if d.next(']') {
				break
			}
			return nil, d.unexpected()
		}
	default:
		return nil, d.errorf("top-level value is not an object (offset %d)", d.pos)
	}
	d.skipSpace()
	if d.pos != len(src) {
		return nil, d.errorf("trailing data after session object at offset %d", d.pos)
	}
	if probeHook != nil {
		probeHook(set.probes)
	}
	return entries, nil
}

// scanRaw checks one value and returns its text, without surrounding space.
func (d *jsonDecoder) scanRaw(depth int) (string, error) {
	d.skipSpace()
	start := d.pos
	if err := d.scan(depth); err != nil {
		return "", err
	}
	return d.src[start:d.pos], nil
}

func (d *jsonDecoder) colon() error {
	if !d.next(':') {
		return d.unexpected()
	}
	return nil
}

func (d *jsonDecoder) literal(lit string) error {
	if len(d.src)-d.pos < len(lit) || d.src[d.pos:d.pos+len(lit)] != lit {
		return d.errorf("invalid literal at offset %d", d.pos)
	}
	d.pos += len(lit)
	return nil
}

// scan moves past one value at nesting level depth (leading space
// allowed), checking everything value checks, without allocating.
func (d *jsonDecoder) scan(depth int) error {
	d.budget--
	if d.budget < 0 {
		return fmt.Errorf("ginsession: json: %w at offset %d", ErrBudget, d.pos)
	}
	d.skipSpace()
	if d.pos >= len(d.src) {
		return d.unexpected()
	}
	switch c := d.src[d.pos]; c {
	case '"':
		return d.scanString()
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case '[':
		if depth > d.maxDepth {
			return d.tooDeep()
		}
		d.pos++
		if d.next(']') {
			return nil
		}
		for {
			if err := d.scan(depth + 1); err != nil {
				return err
			}
			if d.next(',') {
				continue
			}
			if d.next(']') {
				return nil
			}
			return d.unexpected()
		}
	case '{':
		if depth > d.maxDepth {
			return d.tooDeep()
		}
		d.pos++
		if d.next('}') {
			return nil
		}
		for {
			d.skipSpace()
			if d.pos >= len(d.src) || d.src[d.pos] != '"' {
				return d.unexpected()
			}
			d.budget--
			if err := d.scanString(); err != nil {
				return err
			}
			if err := d.colon(); err != nil {
				return err
			}
			if err := d.scan(depth + 1); err != nil {
				return err
			}
			if d.next(',') {
				continue
			}
			if d.next('}') {
				return nil
			}
			return d.unexpected()
		}
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, _, err := d.numberText()
			return err
		}
	}
	return d.unexpected()
}

// value parses one value at nesting level depth (leading space allowed).
func (d *jsonDecoder) value(depth int) (any, error) {
	d.skipSpace()
	if d.pos >= len(d.src) {
		return nil, d.unexpected()
	}
	switch c := d.src[d.pos]; c {
	case '"':
		return d.str()
	case 'n':
		return nil, d.literal("null")
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case '[':
		if depth > d.maxDepth {
			return nil, d.tooDeep()
		}
		d.pos++
		out := []any{}
		if d.next(']') {
			return out, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			if d.next(',') {
				continue
			}
			if d.next(']') {
				return out, nil
			}
			return nil, d.unexpected()
		}
	case '{':
		if depth > d.maxDepth {
			return nil, d.tooDeep()
		}
		d.pos++
		out := map[string]any{}
		if d.next('}') {
			return out, nil
		}
		for {
			d.skipSpace()
			if d.pos >= len(d.src) || d.src[d.pos] != '"' {
				return nil, d.unexpected()
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if err := d.colon(); err != nil {
				return nil, err
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
			if d.next(',') {
				continue
			}
			if d.next('}') {
				return out, nil
			}
			return nil, d.unexpected()
		}
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
	}
	return nil, d.unexpected()
}

// maxIntDigits is the longest integer literal accepted (CPython's limit
// for int(str)).
const maxIntDigits = 4300

// numberText moves past a JSON number and returns its text and whether it
// is a float (has a fraction or an exponent).
func (d *jsonDecoder) numberText() (string, bool, error) {
	start := d.pos
	s := d.src
	i := d.pos
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		d.pos = i
		return "", false, d.unexpected()
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		d.pos = i
		return "", false, d.unexpected()
	}
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return "", false, d.unexpected()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return "", false, d.unexpected()
		}
	}
	d.pos = i
	lit := s[start:i]
	if !isFloat && len(lit) > maxIntDigits {
		return "", false, d.errorf("integer literal too long at offset %d", start)
	}
	return lit, isFloat, nil
}

// number parses a JSON number: integer literals become int64, uint64 or
// *big.Int; literals with a fraction or exponent become float64.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	lit, isFloat, err := d.numberText()
	if err != nil {
		return nil, err
	}
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, d.errorf("invalid number %q at offset %d", lit, start)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n, nil
	}
	if u, err := strconv.ParseUint(lit, 10, 64); err == nil {
		return u, nil
	}
	b, ok := new(big.Int).SetString(lit, 10)
	if !ok {
		return nil, d.errorf("invalid number %q at offset %d", lit, start)
	}
	return b, nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func (d *jsonDecoder) hex4(at int) (rune, bool) {
	if len(d.src)-at < 4 {
		return 0, false
	}
	var r rune
	for i := at; i < at+4; i++ {
		h := hexVal(d.src[i])
		if h < 0 {
			return 0, false
		}
		r = r<<4 | h
	}
	return r, true
}

// scanString moves past a string starting at the opening quote, checking it.
func (d *jsonDecoder) scanString() error {
	_, err := d.strInto(nil, false)
	return err
}

// str parses a string starting at the opening quote.
func (d *jsonDecoder) str() (string, error) {
	return d.strInto(nil, true)
}

// strInto parses a string starting at the opening quote; when build is
// false it only checks it.
func (d *jsonDecoder) strInto(buf []byte, build bool) (string, error) {
	start := d.pos
	d.pos++
	i := d.pos
	for i < len(d.src) {
		c := d.src[i]
		if c == '"' {
			s := d.src[d.pos:i]
			d.pos = i + 1
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", d.errorf("control character in string at offset %d", i)
		}
		i++
	}
	if build {
		buf = append(buf, d.src[d.pos:i]...)
	}
	for i < len(d.src) {
		c := d.src[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf("control character in string at offset %d", i)
		case c != '\\':
			if build {
				buf = append(buf, c)
			}
			i++
			continue
		}
		if i+1 >= len(d.src) {
			break
		}
		e := d.src[i+1]
		i += 2
		var r rune
		switch e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var ok bool
			r, ok = d.hex4(i)
			if !ok {
				return "", d.errorf("invalid \\u escape at offset %d", i-2)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 <= len(d.src) && d.src[i] == '\\' && d.src[i+1] == 'u' {
					r2, ok2 = d.hex4(i + 2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					return "", d.errorf("lone surrogate \\u%04x in string at offset %d", r, i-6)
				}
			}
		default:
			return "", d.errorf("invalid escape at offset %d", i-2)
		}
		if build {
			buf = utf8.AppendRune(buf, r)
		}
	}
	d.pos = len(d.src)
	return "", d.errorf("unterminated string starting at offset %d", start)
}
