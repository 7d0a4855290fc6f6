package ginsession

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

// jsonFormat is the SESSION_SERIALIZATION_FORMAT=json codec, byte-compatible
// with msgspec.json as used by Flask-Session 0.8.
type jsonFormat struct{}

func (jsonFormat) encode(dst []byte, entries []entry) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i := range entries {
		e := &entries[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if e.foreign != nil {
			dst, err = jsAppendKey(dst, e.foreign)
		} else {
			dst, err = jsAppendString(dst, e.key)
		}
		if err == nil {
			dst = append(dst, ':')
			dst, err = jsAppend(dst, e.val, 2)
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

// jsAppendFloat writes f the way msgspec does: the shortest text that round
// trips, in fixed notation for 1e-4 <= |f| < 1e16 (always with a fraction,
// "1.0"), otherwise in exponent notation without '+' or leading zeros
// ("1e16", "1e-7", "1.7976931348623157e308"). NaN and ±Inf are null.
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
	if exp < -4 || exp >= 16 {
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
	return dst, &unsupportedTypeError{typ: fmt.Sprintf("%T", k), reason: fmt.Sprintf("cannot encode map key of type %T in JSON", k)}
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
		if depth > maxDepth {
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
		if depth > maxDepth {
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
		if depth > maxDepth {
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
		return dst, &unsupportedTypeError{typ: "ginsession.Ext", reason: "cannot encode value of type ginsession.Ext in JSON (msgpack extension)"}
	}
	if depth > maxDepth {
		return dst, errTooDeep
	}
	n, err := normalize(v)
	if err != nil {
		return dst, err
	}
	return jsAppend(dst, n, depth)
}

// jsonDecoder is a small order-preserving JSON parser producing the generic
// value types.
type jsonDecoder struct {
	src    []byte
	srcStr string // src as a string, made on first use: unescaped strings share it
	pos    int
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("ginsession: json: "+format, args...)
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

func (jsonFormat) decode(dst []entry, src []byte) ([]entry, error) {
	d := jsonDecoder{src: src}
	if !utf8.Valid(src) {
		return nil, d.errorf("input is not valid UTF-8")
	}
	d.skipSpace()
	if d.pos >= len(src) {
		return nil, d.errorf("empty input")
	}
	entries := dst[:0]
	switch src[d.pos] {
	case 'n':
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos != len(src) {
			return nil, d.errorf("trailing data after null at offset %d", d.pos)
		}
		return nil, errNoSession
	case '{':
		d.pos++
		var set entrySet
		d.skipSpace()
		if d.pos < len(src) && src[d.pos] == '}' {
			d.pos++
			if entries == nil {
				entries = []entry{}
			}
			break
		}
		for {
			d.skipSpace()
			if d.pos >= len(src) || src[d.pos] != '"' {
				return nil, d.unexpected()
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if err := d.colon(); err != nil {
				return nil, err
			}
			v, err := d.value(2)
			if err != nil {
				return nil, err
			}
			entries = set.add(entries, k, v)
			d.skipSpace()
			if d.pos < len(src) && src[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.pos < len(src) && src[d.pos] == '}' {
				d.pos++
				break
			}
			return nil, d.unexpected()
		}
	case '[':
		v, err := d.value(1)
		if err != nil {
			return nil, err
		}
		var set entrySet
		for i, p := range v.([]any) {
			pair, ok := p.([]any)
			if !ok || len(pair) != 2 {
				return nil, d.errorf("top-level array element %d is not a [key, value] pair", i)
			}
			switch pair[0].(type) {
			case nil, []any, map[string]any:
				return nil, d.errorf("top-level array element %d has an unhashable key", i)
			}
			entries = set.addAny(entries, pair[0], pair[1])
		}
		if entries == nil {
			entries = []entry{}
		}
	default:
		return nil, d.errorf("top-level value is not an object (offset %d)", d.pos)
	}
	d.skipSpace()
	if d.pos != len(src) {
		return nil, d.errorf("trailing data after session object at offset %d", d.pos)
	}
	return entries, nil
}

func (d *jsonDecoder) colon() error {
	d.skipSpace()
	if d.pos >= len(d.src) || d.src[d.pos] != ':' {
		return d.unexpected()
	}
	d.pos++
	return nil
}

func (d *jsonDecoder) literal(lit string) error {
	if len(d.src)-d.pos < len(lit) || string(d.src[d.pos:d.pos+len(lit)]) != lit {
		return d.errorf("invalid literal at offset %d", d.pos)
	}
	d.pos += len(lit)
	return nil
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
		if depth > maxDepth {
			return nil, d.errorf("nesting deeper than %d levels at offset %d", maxDepth, d.pos)
		}
		d.pos++
		out := []any{}
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == ']' {
			d.pos++
			return out, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			d.skipSpace()
			if d.pos < len(d.src) && d.src[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.pos < len(d.src) && d.src[d.pos] == ']' {
				d.pos++
				return out, nil
			}
			return nil, d.unexpected()
		}
	case '{':
		if depth > maxDepth {
			return nil, d.errorf("nesting deeper than %d levels at offset %d", maxDepth, d.pos)
		}
		d.pos++
		out := map[string]any{}
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == '}' {
			d.pos++
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
			d.skipSpace()
			if d.pos < len(d.src) && d.src[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.pos < len(d.src) && d.src[d.pos] == '}' {
				d.pos++
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

// number parses a JSON number: integer literals become int64, uint64 or
// *big.Int; literals with a fraction or exponent become float64.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	s := d.src
	i := d.pos
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		d.pos = i
		return nil, d.unexpected()
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		d.pos = i
		return nil, d.unexpected()
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
			return nil, d.unexpected()
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
			return nil, d.unexpected()
		}
	}
	d.pos = i
	lit := string(s[start:i])
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
	if len(lit) > 4300 {
		return nil, d.errorf("integer literal too long at offset %d", start)
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
	for _, c := range d.src[at : at+4] {
		h := hexVal(c)
		if h < 0 {
			return 0, false
		}
		r = r<<4 | h
	}
	return r, true
}

// str parses a string starting at the opening quote.
func (d *jsonDecoder) str() (string, error) {
	start := d.pos
	d.pos++
	i := d.pos
	for i < len(d.src) {
		c := d.src[i]
		if c == '"' {
			if d.srcStr == "" {
				d.srcStr = string(d.src)
			}
			s := d.srcStr[d.pos:i]
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
	buf := append([]byte(nil), d.src[d.pos:i]...)
	for i < len(d.src) {
		c := d.src[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf("control character in string at offset %d", i)
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.src) {
			break
		}
		e := d.src[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4(i)
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
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.errorf("invalid escape at offset %d", i-2)
		}
	}
	d.pos = len(d.src)
	return "", d.errorf("unterminated string starting at offset %d", start)
}
