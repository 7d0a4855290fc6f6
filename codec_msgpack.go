package ginsession

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
	"unicode/utf8"
)

// msgpackFormat is the default codec, byte-compatible with msgspec as used by
// Flask-Session 0.8.
type msgpackFormat struct{}

func (msgpackFormat) encode(dst []byte, entries []entry) ([]byte, error) {
	dst = mpAppendMapHeader(dst, len(entries))
	var err error
	for i := range entries {
		e := &entries[i]
		if e.foreign != nil {
			dst, err = mpAppend(dst, e.foreign, 2)
		} else {
			dst, err = mpAppendString(dst, e.key)
		}
		if err == nil {
			dst, err = mpAppend(dst, e.val, 2)
		}
		if err != nil {
			return dst, encodeError(e, err)
		}
	}
	return dst, nil
}

func mpAppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xde, byte(n>>8), byte(n))
	}
	return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func mpAppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

var errInvalidUTF8 = errors.New("string is not valid UTF-8 (store binary data as []byte)")

// validString is utf8.ValidString with a fast path for the short ASCII
// strings sessions are mostly made of (longer ones go to utf8.ValidString,
// which checks 8 bytes at a time).
func validString(s string) bool {
	if len(s) > 64 {
		return utf8.ValidString(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

func mpAppendString(dst []byte, s string) ([]byte, error) {
	if !validString(s) {
		return dst, errInvalidUTF8
	}
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return dst, errors.New("string longer than 4 GiB")
	}
	return append(dst, s...), nil
}

func mpAppendBytes(dst []byte, b []byte) ([]byte, error) {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, 0xc5, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return dst, errors.New("[]byte longer than 4 GiB")
	}
	return append(dst, b...), nil
}

func mpAppendUint(dst []byte, u uint64) []byte {
	switch {
	case u < 128:
		return append(dst, byte(u))
	case u <= math.MaxUint8:
		return append(dst, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return append(dst, 0xcd, byte(u>>8), byte(u))
	case u <= math.MaxUint32:
		return append(dst, 0xce, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	dst = append(dst, 0xcf)
	return binary.BigEndian.AppendUint64(dst, u)
}

func mpAppendInt(dst []byte, i int64) []byte {
	if i >= 0 {
		return mpAppendUint(dst, uint64(i))
	}
	switch {
	case i >= -32:
		return append(dst, byte(i))
	case i >= math.MinInt8:
		return append(dst, 0xd0, byte(i))
	case i >= math.MinInt16:
		return append(dst, 0xd1, byte(i>>8), byte(i))
	case i >= math.MinInt32:
		return append(dst, 0xd2, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	}
	dst = append(dst, 0xd3)
	return binary.BigEndian.AppendUint64(dst, uint64(i))
}

// mpAppendFloat writes f as float64; every NaN is written as Python's
// canonical quiet NaN (7ff8000000000000), Go's math.NaN() included.
func mpAppendFloat(dst []byte, f float64) []byte {
	dst = append(dst, 0xcb)
	if f != f {
		return binary.BigEndian.AppendUint64(dst, 0x7ff8000000000000)
	}
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

// mpAppendTime writes the timestamp extension -1 in the smallest of its forms.
func mpAppendTime(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	nsec := uint64(t.Nanosecond())
	if sec >= 0 && sec>>34 == 0 {
		if nsec == 0 && sec <= math.MaxUint32 {
			dst = append(dst, 0xd6, 0xff)
			return binary.BigEndian.AppendUint32(dst, uint32(sec))
		}
		dst = append(dst, 0xd7, 0xff)
		return binary.BigEndian.AppendUint64(dst, nsec<<34|uint64(sec))
	}
	dst = append(dst, 0xc7, 12, 0xff)
	dst = binary.BigEndian.AppendUint32(dst, uint32(nsec))
	return binary.BigEndian.AppendUint64(dst, uint64(sec))
}

func mpAppendExt(dst []byte, x Ext) ([]byte, error) {
	n := len(x.Data)
	switch n {
	case 1:
		dst = append(dst, 0xd4)
	case 2:
		dst = append(dst, 0xd5)
	case 4:
		dst = append(dst, 0xd6)
	case 8:
		dst = append(dst, 0xd7)
	case 16:
		dst = append(dst, 0xd8)
	default:
		switch {
		case n <= math.MaxUint8:
			dst = append(dst, 0xc7, byte(n))
		case n <= math.MaxUint16:
			dst = append(dst, 0xc8, byte(n>>8), byte(n))
		case uint64(n) <= math.MaxUint32:
			dst = append(dst, 0xc9, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		default:
			return dst, errors.New("ext data longer than 4 GiB")
		}
	}
	dst = append(dst, byte(x.Type))
	return append(dst, x.Data...), nil
}

var errBigInt = errors.New("integer out of range for msgpack (more than 64 bits)")

// mpAppend appends the msgpack encoding of v; depth is the nesting level of v.
func mpAppend(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xc0), nil
	case bool:
		if x {
			return append(dst, 0xc3), nil
		}
		return append(dst, 0xc2), nil
	case string:
		return mpAppendString(dst, x)
	case int:
		return mpAppendInt(dst, int64(x)), nil
	case int64:
		return mpAppendInt(dst, x), nil
	case int32:
		return mpAppendInt(dst, int64(x)), nil
	case int16:
		return mpAppendInt(dst, int64(x)), nil
	case int8:
		return mpAppendInt(dst, int64(x)), nil
	case uint:
		return mpAppendUint(dst, uint64(x)), nil
	case uint64:
		return mpAppendUint(dst, x), nil
	case uint32:
		return mpAppendUint(dst, uint64(x)), nil
	case uint16:
		return mpAppendUint(dst, uint64(x)), nil
	case uint8:
		return mpAppendUint(dst, uint64(x)), nil
	case float64:
		return mpAppendFloat(dst, x), nil
	case float32:
		return mpAppendFloat(dst, float64(x)), nil
	case []byte:
		return mpAppendBytes(dst, x)
	case time.Time:
		return mpAppendTime(dst, x), nil
	case []any:
		if depth > maxDepth {
			return dst, errTooDeep
		}
		dst = mpAppendArrayHeader(dst, len(x))
		var err error
		for _, e := range x {
			if dst, err = mpAppend(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case map[string]any:
		if depth > maxDepth {
			return dst, errTooDeep
		}
		dst = mpAppendMapHeader(dst, len(x))
		if len(x) == 1 {
			for k, e := range x {
				var err error
				if dst, err = mpAppendString(dst, k); err != nil {
					return dst, err
				}
				return mpAppend(dst, e, depth+1)
			}
		}
		var err error
		var stack [16]string
		for _, k := range appendSortedKeys(stack[:0], x) {
			if dst, err = mpAppendString(dst, k); err != nil {
				return dst, err
			}
			if dst, err = mpAppend(dst, x[k], depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case Map:
		if depth > maxDepth {
			return dst, errTooDeep
		}
		dst = mpAppendMapHeader(dst, len(x))
		var err error
		for _, it := range x {
			if dst, err = mpAppend(dst, it.Key, depth+1); err != nil {
				return dst, err
			}
			if dst, err = mpAppend(dst, it.Value, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []string:
		dst = mpAppendArrayHeader(dst, len(x))
		var err error
		for _, s := range x {
			if dst, err = mpAppendString(dst, s); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []int:
		dst = mpAppendArrayHeader(dst, len(x))
		for _, i := range x {
			dst = mpAppendInt(dst, int64(i))
		}
		return dst, nil
	case Ext:
		return mpAppendExt(dst, x)
	case *big.Int:
		if x == nil {
			return append(dst, 0xc0), nil
		}
		if x.IsInt64() {
			return mpAppendInt(dst, x.Int64()), nil
		}
		if x.IsUint64() {
			return mpAppendUint(dst, x.Uint64()), nil
		}
		return dst, errBigInt
	case *time.Time:
		if x == nil {
			return append(dst, 0xc0), nil
		}
		return mpAppendTime(dst, *x), nil
	}
	if depth > maxDepth {
		return dst, errTooDeep
	}
	n, err := normalize(v)
	if err != nil {
		return dst, err
	}
	return mpAppend(dst, n, depth)
}

// mpDecoder reads msgpack from src. Decoded strings are substrings of one
// copy of src (one allocation per decode instead of one per string); they
// keep that copy alive, which for a session value of a few KB is the cheaper
// trade.
type mpDecoder struct {
	src     []byte
	str     string // src as a string, made on first use: decoded strings share it
	pos     int
	entries []entry // the caller's slice to decode into
}

// newEntries returns the slice the n top-level items are decoded into: the
// caller's when it has room, else a new one.
func (d *mpDecoder) newEntries(n uint64) []entry {
	if d.entries != nil && uint64(cap(d.entries)) >= n {
		return d.entries[:0]
	}
	return make([]entry, 0, n)
}

func (d *mpDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("ginsession: msgpack: "+format, args...)
}

func (d *mpDecoder) truncated() error {
	return d.errorf("unexpected end of input at offset %d", len(d.src))
}

// need checks that n more bytes are available.
func (d *mpDecoder) need(n uint64) error {
	if n > uint64(len(d.src)-d.pos) {
		return d.errorf("declared length %d at offset %d exceeds the %d remaining bytes", n, d.pos, len(d.src)-d.pos)
	}
	return nil
}

func (d *mpDecoder) readN(n int) ([]byte, error) {
	if len(d.src)-d.pos < n {
		d.pos = len(d.src)
		return nil, d.truncated()
	}
	b := d.src[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *mpDecoder) read1() (byte, error) {
	if d.pos >= len(d.src) {
		return 0, d.truncated()
	}
	c := d.src[d.pos]
	d.pos++
	return c, nil
}

// readLen reads a big-endian length of size bytes.
func (d *mpDecoder) readLen(size int) (uint64, error) {
	b, err := d.readN(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	}
	return uint64(binary.BigEndian.Uint32(b)), nil
}

func (d *mpDecoder) decodeString(n uint64) (string, error) {
	if err := d.need(n); err != nil {
		return "", err
	}
	b := d.src[d.pos : d.pos+int(n)]
	if !validString(string(b)) {
		return "", d.errorf("invalid UTF-8 in str at offset %d", d.pos)
	}
	start := d.pos
	d.pos += int(n)
	switch string(b) {
	case "_permanent":
		return "_permanent", nil
	case "":
		return "", nil
	}
	if d.str == "" {
		d.str = string(d.src)
	}
	return d.str[start:d.pos], nil
}

// strLen returns the length of the str whose header byte is c, or ok=false.
func (d *mpDecoder) strLen(c byte) (uint64, bool, error) {
	switch {
	case c&0xe0 == 0xa0:
		return uint64(c & 0x1f), true, nil
	case c == 0xd9:
		n, err := d.readLen(1)
		return n, true, err
	case c == 0xda:
		n, err := d.readLen(2)
		return n, true, err
	case c == 0xdb:
		n, err := d.readLen(4)
		return n, true, err
	}
	return 0, false, nil
}

func (msgpackFormat) decode(dst []entry, src []byte) ([]entry, error) {
	d := mpDecoder{src: src, entries: dst[:0]}
	if len(src) == 0 {
		return nil, d.errorf("empty input")
	}
	c := src[0]
	var entries []entry
	var err error
	switch {
	case c == 0xc0:
		if len(src) != 1 {
			return nil, d.errorf("trailing bytes after nil at offset 1")
		}
		return nil, errNoSession
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		entries, err = d.topMap()
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		entries, err = d.topPairs()
	default:
		return nil, d.errorf("top-level value at offset 0 is not a map (type byte 0x%02x)", c)
	}
	if err != nil {
		return nil, err
	}
	if d.pos != len(src) {
		return nil, d.errorf("trailing bytes after session map at offset %d", d.pos)
	}
	return entries, nil
}

func (d *mpDecoder) mapLen(c byte) (uint64, error) {
	switch {
	case c&0xf0 == 0x80:
		return uint64(c & 0x0f), nil
	case c == 0xde:
		return d.readLen(2)
	}
	return d.readLen(4)
}

func (d *mpDecoder) arrayLen(c byte) (uint64, error) {
	switch {
	case c&0xf0 == 0x90:
		return uint64(c & 0x0f), nil
	case c == 0xdc:
		return d.readLen(2)
	}
	return d.readLen(4)
}

func (d *mpDecoder) topMap() ([]entry, error) {
	c := d.src[0]
	d.pos = 1
	n, err := d.mapLen(c)
	if err != nil {
		return nil, err
	}
	if err := d.need(n * 2); err != nil {
		return nil, err
	}
	entries := d.newEntries(n)
	var set entrySet
	for i := uint64(0); i < n; i++ {
		skey, key, isStr, err := d.key(2)
		if err != nil {
			return nil, err
		}
		val, err := d.value(2)
		if err != nil {
			return nil, err
		}
		if isStr {
			entries = set.add(entries, skey, val)
		} else {
			entries = append(entries, entry{foreign: key, val: val})
		}
	}
	return entries, nil
}

// topPairs reads a top-level array of [key, value] arrays (Python's
// dict(list_of_pairs)).
func (d *mpDecoder) topPairs() ([]entry, error) {
	c := d.src[0]
	d.pos = 1
	n, err := d.arrayLen(c)
	if err != nil {
		return nil, err
	}
	if err := d.need(n * 3); err != nil {
		return nil, err
	}
	entries := d.newEntries(n)
	var set entrySet
	for i := uint64(0); i < n; i++ {
		at := d.pos
		c, err := d.read1()
		if err != nil {
			return nil, err
		}
		if !(c&0xf0 == 0x90 || c == 0xdc || c == 0xdd) {
			return nil, d.errorf("top-level array element at offset %d is not a [key, value] pair", at)
		}
		m, err := d.arrayLen(c)
		if err != nil {
			return nil, err
		}
		if m != 2 {
			return nil, d.errorf("top-level array element at offset %d has %d items, want a [key, value] pair", at, m)
		}
		skey, key, isStr, err := d.key(3)
		if err != nil {
			return nil, err
		}
		val, err := d.value(3)
		if err != nil {
			return nil, err
		}
		if isStr {
			entries = set.add(entries, skey, val)
		} else {
			entries = append(entries, entry{foreign: key, val: val})
		}
	}
	return entries, nil
}

// key reads a map key: a string (returned unboxed, isStr true), or a scalar
// (int, bytes, ...) kept as is in k.
func (d *mpDecoder) key(depth int) (s string, k any, isStr bool, err error) {
	at := d.pos
	c, err := d.read1()
	if err != nil {
		return "", nil, false, err
	}
	if n, ok, err := d.strLen(c); ok {
		if err != nil {
			return "", nil, false, err
		}
		s, err := d.decodeString(n)
		return s, nil, true, err
	}
	d.pos = at
	v, err := d.value(depth)
	if err != nil {
		return "", nil, false, err
	}
	switch v.(type) {
	case nil, []any, map[string]any, Map:
		return "", nil, false, d.errorf("unsupported map key type %T at offset %d", v, at)
	}
	return "", v, false, nil
}

// value reads one value at nesting level depth.
func (d *mpDecoder) value(depth int) (any, error) {
	at := d.pos
	c, err := d.read1()
	if err != nil {
		return nil, err
	}
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xe0 == 0xa0:
		return d.decodeString(uint64(c & 0x1f))
	case c&0xf0 == 0x90:
		return d.array(uint64(c&0x0f), depth, at)
	case c&0xf0 == 0x80:
		return d.mapValue(uint64(c&0x0f), depth, at)
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := d.readLen(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		if err := d.need(n); err != nil {
			return nil, err
		}
		b := make([]byte, n)
		copy(b, d.src[d.pos:])
		d.pos += int(n)
		return b, nil
	case 0xc7, 0xc8, 0xc9:
		n, err := d.readLen(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(n, at)
	case 0xca:
		b, err := d.readN(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 0xcb:
		b, err := d.readN(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case 0xcc:
		b, err := d.readN(1)
		if err != nil {
			return nil, err
		}
		return int64(b[0]), nil
	case 0xcd:
		b, err := d.readN(2)
		if err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint16(b)), nil
	case 0xce:
		b, err := d.readN(4)
		if err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint32(b)), nil
	case 0xcf:
		b, err := d.readN(8)
		if err != nil {
			return nil, err
		}
		u := binary.BigEndian.Uint64(b)
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case 0xd0:
		b, err := d.readN(1)
		if err != nil {
			return nil, err
		}
		return int64(int8(b[0])), nil
	case 0xd1:
		b, err := d.readN(2)
		if err != nil {
			return nil, err
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 0xd2:
		b, err := d.readN(4)
		if err != nil {
			return nil, err
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 0xd3:
		b, err := d.readN(8)
		if err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1<<(c-0xd4), at)
	case 0xd9, 0xda, 0xdb:
		n, err := d.readLen(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return d.decodeString(n)
	case 0xdc, 0xdd:
		n, err := d.readLen(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.array(n, depth, at)
	case 0xde, 0xdf:
		n, err := d.readLen(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return d.mapValue(n, depth, at)
	}
	return nil, d.errorf("invalid type byte 0x%02x at offset %d", c, at)
}

func (d *mpDecoder) array(n uint64, depth int, at int) (any, error) {
	if depth > maxDepth {
		return nil, d.errorf("nesting deeper than %d levels at offset %d", maxDepth, at)
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (d *mpDecoder) mapValue(n uint64, depth int, at int) (any, error) {
	if depth > maxDepth {
		return nil, d.errorf("nesting deeper than %d levels at offset %d", maxDepth, at)
	}
	if err := d.need(n * 2); err != nil {
		return nil, err
	}
	// Nearly every map has string keys only: read it straight into a
	// map[string]any (a later duplicate wins, as in a Python dict). At the
	// first other key, it becomes an ordered Map.
	first := d.pos
	m := make(map[string]any, n)
	for i := uint64(0); i < n; i++ {
		sk, _, isStr, err := d.key(depth + 1)
		if err != nil {
			return nil, err
		}
		if !isStr {
			return d.orderedMap(m, first, i, n, depth)
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[sk] = v
	}
	return m, nil
}

// orderedMap finishes reading a map of n items whose item read (index i) has
// a key that is not a string, into a Map in order; a later duplicate
// replaces the value of the first. The i items before it, from offset first,
// are in m: their keys are read again for the order, their values skipped
// (never decoded twice, so nested maps cost linear time).
func (d *mpDecoder) orderedMap(m map[string]any, first int, i, n uint64, depth int) (any, error) {
	out := make(Map, 0, n)
	d.pos = first
	for j := uint64(0); j < n; j++ {
		sk, k, isStr, err := d.key(depth + 1)
		if err != nil {
			return nil, err
		}
		var v any
		if j < i {
			if err := d.skip(); err != nil {
				return nil, err
			}
			k, v = sk, m[sk]
		} else {
			if v, err = d.value(depth + 1); err != nil {
				return nil, err
			}
			if isStr {
				k = sk
			}
		}
		dup := false
		for x := range out {
			if mapKeyEqual(out[x].Key, k) {
				out[x].Value = v
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, MapItem{Key: k, Value: v})
		}
	}
	return out, nil
}

// skip moves past one value without decoding it.
func (d *mpDecoder) skip() error {
	for left := uint64(1); left > 0; left-- {
		c, err := d.read1()
		if err != nil {
			return err
		}
		var size uint64 // bytes to move past
		switch {
		case c <= 0x7f || c >= 0xe0:
		case c&0xe0 == 0xa0:
			size = uint64(c & 0x1f)
		case c&0xf0 == 0x90:
			left += uint64(c & 0x0f)
		case c&0xf0 == 0x80:
			left += 2 * uint64(c&0x0f)
		case c == 0xc4 || c == 0xc5 || c == 0xc6:
			size, err = d.readLen(1 << (c - 0xc4))
		case c == 0xc7 || c == 0xc8 || c == 0xc9:
			size, err = d.readLen(1 << (c - 0xc7))
			size++ // the type byte
		case c == 0xca || c == 0xce || c == 0xd2:
			size = 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			size = 8
		case c == 0xcc || c == 0xd0:
			size = 1
		case c == 0xcd || c == 0xd1:
			size = 2
		case c >= 0xd4 && c <= 0xd8:
			size = 1 + 1<<(c-0xd4)
		case c == 0xd9 || c == 0xda || c == 0xdb:
			size, err = d.readLen(1 << (c - 0xd9))
		case c == 0xdc || c == 0xdd:
			var k uint64
			k, err = d.readLen(2 << (c - 0xdc))
			left += k
		case c == 0xde || c == 0xdf:
			var k uint64
			k, err = d.readLen(2 << (c - 0xde))
			left += 2 * k
		}
		// nil, false and true (0xc0, 0xc2, 0xc3) have no payload; 0xc1
		// cannot occur here: value read these bytes before.
		if err == nil {
			err = d.need(size)
		}
		if err != nil {
			return err
		}
		d.pos += int(size)
	}
	return nil
}

// mapKeyEqual compares two scalar map keys.
func mapKeyEqual(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case Ext:
		y, ok := b.(Ext)
		return ok && x.Type == y.Type && string(x.Data) == string(y.Data)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	}
	return a == b
}

func (d *mpDecoder) ext(n uint64, at int) (any, error) {
	t, err := d.read1()
	if err != nil {
		return nil, err
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	data := d.src[d.pos : d.pos+int(n)]
	d.pos += int(n)
	if int8(t) != -1 {
		return Ext{Type: int8(t), Data: append([]byte(nil), data...)}, nil
	}
	switch n {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(data)), 0).UTC(), nil
	case 8:
		v := binary.BigEndian.Uint64(data)
		ns := v >> 34
		if ns >= 1e9 {
			return nil, d.errorf("timestamp at offset %d has nanoseconds %d out of range", at, ns)
		}
		return time.Unix(int64(v&(1<<34-1)), int64(ns)).UTC(), nil
	case 12:
		ns := binary.BigEndian.Uint32(data)
		if ns >= 1e9 {
			return nil, d.errorf("timestamp at offset %d has nanoseconds %d out of range", at, ns)
		}
		return time.Unix(int64(binary.BigEndian.Uint64(data[4:])), int64(ns)).UTC(), nil
	}
	return nil, d.errorf("timestamp extension at offset %d has invalid length %d", at, n)
}
