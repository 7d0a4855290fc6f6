package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
	"unicode/utf8"
)

var errTooDeep = fmt.Errorf("%w: more than %d levels", ErrTooDeep, DefaultMaxDepth)

// mpEncodeTop writes the session map: untouched msgpack entries as stored.
func mpEncodeTop(dst []byte, entries []Entry) ([]byte, error) {
	dst = mpAppendMapHeader(dst, len(entries))
	var err error
	for i := range entries {
		e := &entries[i]
		if e.format == MsgPack && e.rawKey != "" {
			dst = append(dst, e.rawKey...)
			dst = append(dst, e.raw...)
			continue
		}
		if e.Foreign != nil {
			dst, err = mpAppend(dst, e.Foreign, 2)
		} else {
			dst, err = mpAppendString(dst, e.Key)
		}
		if err == nil {
			if e.format == MsgPack {
				dst = append(dst, e.raw...)
				continue
			}
			var v any
			if v, err = e.Value(); err == nil {
				dst, err = mpAppend(dst, v, 2)
			}
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
		if depth > DefaultMaxDepth {
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
		if depth > DefaultMaxDepth {
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
		if depth > DefaultMaxDepth {
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
	if depth > DefaultMaxDepth {
		return dst, errTooDeep
	}
	n, err := normalize(v)
	if err != nil {
		return dst, err
	}
	return mpAppend(dst, n, depth)
}

// mpDecoder reads msgpack from src, a string: decoded strings are substrings
// of it (Decode makes one copy of its input; nothing is allocated per
// string).
type mpDecoder struct {
	src      string
	pos      int
	maxDepth int
	budget   int // elements left to read (Limits.MaxElements)
	probes   int // key comparisons of nested ordered maps
}

func (d *mpDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("ginsession: msgpack: "+format, args...)
}

func (d *mpDecoder) truncated() error {
	return d.errorf("unexpected end of input at offset %d", len(d.src))
}

func (d *mpDecoder) tooDeep(at int) error {
	return fmt.Errorf("ginsession: msgpack: %w: more than %d levels at offset %d", ErrTooDeep, d.maxDepth, at)
}

// need checks that n more bytes are available.
func (d *mpDecoder) need(n uint64) error {
	if n > uint64(len(d.src)-d.pos) {
		return d.errorf("declared length %d at offset %d exceeds the %d remaining bytes", n, d.pos, len(d.src)-d.pos)
	}
	return nil
}

// readN returns the next n bytes.
func (d *mpDecoder) readN(n int) (string, error) {
	if len(d.src)-d.pos < n {
		d.pos = len(d.src)
		return "", d.truncated()
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

func be16(b string) uint64 { return uint64(b[0])<<8 | uint64(b[1]) }
func be32(b string) uint64 { return be16(b)<<16 | be16(b[2:]) }
func be64(b string) uint64 { return be32(b)<<32 | be32(b[4:]) }

// readUint reads a big-endian unsigned integer of size (1, 2, 4 or 8) bytes.
func (d *mpDecoder) readUint(size int) (uint64, error) {
	b, err := d.readN(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return be16(b), nil
	case 4:
		return be32(b), nil
	}
	return be64(b), nil
}

// str returns the next n bytes as a string after checking UTF-8.
func (d *mpDecoder) str(n uint64) (string, error) {
	if err := d.need(n); err != nil {
		return "", err
	}
	s := d.src[d.pos : d.pos+int(n)]
	if !validString(s) {
		return "", d.errorf("invalid UTF-8 in str at offset %d", d.pos)
	}
	d.pos += int(n)
	return s, nil
}

// mpStr returns the string that raw, the whole encoding of one value,
// holds when it is a msgpack str whose length matches; it does not check
// UTF-8 (Decode did).
func mpStr(raw string) (string, bool) {
	c := raw[0]
	var n, at int
	switch {
	case c&0xe0 == 0xa0:
		n, at = int(c&0x1f), 1
	case c == 0xd9 && len(raw) >= 2:
		n, at = int(raw[1]), 2
	case c == 0xda && len(raw) >= 3:
		n, at = int(be16(raw[1:])), 3
	case c == 0xdb && len(raw) >= 5:
		n, at = int(be32(raw[1:])), 5
	default:
		return "", false
	}
	if len(raw)-at != n {
		return "", false
	}
	return raw[at:], true
}

// strLen returns the length of the str whose header byte is c, or ok=false.
func (d *mpDecoder) strLen(c byte) (uint64, bool, error) {
	switch {
	case c&0xe0 == 0xa0:
		return uint64(c & 0x1f), true, nil
	case c == 0xd9 || c == 0xda || c == 0xdb:
		n, err := d.readUint(1 << (c - 0xd9))
		return n, true, err
	}
	return 0, false, nil
}

// containerLen reads the length of the array (map when isMap) whose header
// byte c was read.
func (d *mpDecoder) containerLen(c byte, isMap bool) (uint64, error) {
	if c&0xe0 == 0x80 { // fixmap 8x, fixarray 9x
		return uint64(c & 0x0f), nil
	}
	if isMap {
		return d.readUint(2 << (c - 0xde))
	}
	return d.readUint(2 << (c - 0xdc))
}

func isMapHeader(c byte) bool   { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }
func isArrayHeader(c byte) bool { return c&0xf0 == 0x90 || c == 0xdc || c == 0xdd }

// mpDecodeTop checks src in one pass and returns its top-level entries,
// each keeping its stored bytes.
func mpDecodeTop(dst []Entry, src string, lim Limits) ([]Entry, error) {
	d := mpDecoder{src: src, maxDepth: lim.depth(), budget: lim.elements(len(src))}
	if len(src) == 0 {
		return nil, d.errorf("empty input")
	}
	c := src[0]
	d.pos = 1
	pairs := false
	switch {
	case c == 0xc0:
		if len(src) != 1 {
			return nil, d.errorf("trailing bytes after nil at offset 1")
		}
		return nil, ErrNil
	case isMapHeader(c):
	case isArrayHeader(c):
		pairs = true // Python's dict(list_of_pairs)
	default:
		return nil, d.errorf("top-level value at offset 0 is not a map (type byte 0x%02x)", c)
	}
	n, err := d.containerLen(c, !pairs)
	if err != nil {
		return nil, err
	}
	minSize := uint64(2) // a key and a value
	if pairs {
		minSize = 3
	}
	if err := d.need(n * minSize); err != nil {
		return nil, err
	}
	entries := dst[:0]
	if entries == nil {
		entries = make([]Entry, 0, min(n, 64))
	}
	var set entrySet
	for i := uint64(0); i < n; i++ {
		at := d.pos
		depth := 2
		if pairs {
			depth = 3
			c, err := d.read1()
			if err != nil {
				return nil, err
			}
			if !isArrayHeader(c) {
				return nil, d.errorf("top-level array element at offset %d is not a [key, value] pair", at)
			}
			m, err := d.containerLen(c, false)
			if err != nil {
				return nil, err
			}
			if m != 2 {
				return nil, d.errorf("top-level array element at offset %d has %d items, want a [key, value] pair", at, m)
			}
		}
		e := Entry{format: MsgPack}
		keyAt := d.pos
		if e.Key, e.Foreign, err = d.topKey(depth); err != nil {
			return nil, err
		}
		valAt := d.pos
		if err := d.scan(depth); err != nil {
			return nil, err
		}
		e.rawKey, e.raw = src[keyAt:valAt], src[valAt:d.pos]
		entries = set.add(entries, e)
	}
	if d.pos != len(src) {
		return nil, d.errorf("trailing bytes after session map at offset %d", d.pos)
	}
	if probeHook != nil {
		probeHook(set.probes)
	}
	return entries, nil
}

// topKey reads a top-level key: a string, or a scalar kept as foreign.
func (d *mpDecoder) topKey(depth int) (string, any, error) {
	d.budget--
	at := d.pos
	c, err := d.read1()
	if err != nil {
		return "", nil, err
	}
	if n, ok, err := d.strLen(c); ok {
		if err != nil {
			return "", nil, err
		}
		s, err := d.str(n)
		if s == "_permanent" {
			s = "_permanent" // no reference to the input for the commonest key
		}
		return s, nil, err
	}
	d.pos = at
	k, err := d.key(depth)
	return "", k, err
}

// checkKey rejects a map key of a type Python cannot hash (nil, list, dict).
func (d *mpDecoder) checkKey(at int) error {
	if at >= len(d.src) {
		return d.truncated()
	}
	if c := d.src[at]; c == 0xc0 || isArrayHeader(c) || isMapHeader(c) {
		return d.errorf("unsupported map key type at offset %d (type byte 0x%02x)", at, c)
	}
	return nil
}

// key reads a non-string map key.
func (d *mpDecoder) key(depth int) (any, error) {
	if err := d.checkKey(d.pos); err != nil {
		return nil, err
	}
	return d.value(depth)
}

// scan moves past one value at nesting level depth, checking everything
// value checks, without allocating.
func (d *mpDecoder) scan(depth int) error {
	d.budget--
	if d.budget < 0 {
		return fmt.Errorf("ginsession: msgpack: %w at offset %d", ErrBudget, d.pos)
	}
	at := d.pos
	c, err := d.read1()
	if err != nil {
		return err
	}
	var n uint64
	switch {
	case c <= 0x7f || c >= 0xe0:
		return nil
	case c&0xe0 == 0xa0:
		_, err = d.str(uint64(c & 0x1f))
		return err
	case isArrayHeader(c):
		if n, err = d.containerLen(c, false); err != nil {
			return err
		}
		if depth > d.maxDepth {
			return d.tooDeep(at)
		}
		if err := d.need(n); err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := d.scan(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case isMapHeader(c):
		if n, err = d.containerLen(c, true); err != nil {
			return err
		}
		if depth > d.maxDepth {
			return d.tooDeep(at)
		}
		if err := d.need(2 * n); err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := d.checkKey(d.pos); err != nil {
				return err
			}
			if err := d.scan(depth + 1); err != nil {
				return err
			}
			if err := d.scan(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	switch c {
	case 0xc0, 0xc2, 0xc3:
		return nil
	case 0xc4, 0xc5, 0xc6:
		if n, err = d.readUint(1 << (c - 0xc4)); err == nil {
			err = d.need(n)
		}
	case 0xc7, 0xc8, 0xc9:
		if n, err = d.readUint(1 << (c - 0xc7)); err == nil {
			_, _, err = d.extCheck(n, at)
		}
		return err
	case 0xca, 0xce, 0xd2:
		n = 4
	case 0xcb, 0xcf, 0xd3:
		n = 8
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		_, _, err = d.extCheck(1<<(c-0xd4), at)
		return err
	case 0xd9, 0xda, 0xdb:
		if n, err = d.readUint(1 << (c - 0xd9)); err == nil {
			_, err = d.str(n)
		}
		return err
	default: // 0xc1
		return d.errorf("invalid type byte 0x%02x at offset %d", c, at)
	}
	if err == nil {
		err = d.need(n)
	}
	if err != nil {
		d.pos = len(d.src)
		return err
	}
	d.pos += int(n)
	return nil
}

// maxPrealloc caps the capacity reserved from a length prefix; past it,
// containers grow by append.
const maxPrealloc = 1024

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
		return d.str(uint64(c & 0x1f))
	case isArrayHeader(c):
		n, err := d.containerLen(c, false)
		if err != nil {
			return nil, err
		}
		return d.array(n, depth, at)
	case isMapHeader(c):
		n, err := d.containerLen(c, true)
		if err != nil {
			return nil, err
		}
		return d.mapValue(n, depth, at)
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := d.readUint(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		b, err := d.readN64(n)
		if err != nil {
			return nil, err
		}
		return []byte(b), nil
	case 0xc7, 0xc8, 0xc9:
		n, err := d.readUint(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(n, at)
	case 0xca:
		u, err := d.readUint(4)
		return float64(math.Float32frombits(uint32(u))), err
	case 0xcb:
		u, err := d.readUint(8)
		return math.Float64frombits(u), err
	case 0xcc, 0xcd, 0xce:
		u, err := d.readUint(1 << (c - 0xcc))
		return int64(u), err
	case 0xcf:
		u, err := d.readUint(8)
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case 0xd0:
		u, err := d.readUint(1)
		return int64(int8(u)), err
	case 0xd1:
		u, err := d.readUint(2)
		return int64(int16(u)), err
	case 0xd2:
		u, err := d.readUint(4)
		return int64(int32(u)), err
	case 0xd3:
		u, err := d.readUint(8)
		return int64(u), err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1<<(c-0xd4), at)
	case 0xd9, 0xda, 0xdb:
		n, err := d.readUint(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return d.str(n)
	}
	return nil, d.errorf("invalid type byte 0x%02x at offset %d", c, at)
}

// readN64 returns the next n bytes, n from a length prefix.
func (d *mpDecoder) readN64(n uint64) (string, error) {
	if err := d.need(n); err != nil {
		return "", err
	}
	b := d.src[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *mpDecoder) array(n uint64, depth int, at int) (any, error) {
	if depth > d.maxDepth {
		return nil, d.tooDeep(at)
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	out := make([]any, 0, min(n, maxPrealloc))
	for i := uint64(0); i < n; i++ {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *mpDecoder) mapValue(n uint64, depth int, at int) (any, error) {
	if depth > d.maxDepth {
		return nil, d.tooDeep(at)
	}
	if err := d.need(n * 2); err != nil {
		return nil, err
	}
	// Nearly every map has string keys only: read it straight into a
	// map[string]any (a later duplicate wins, as in a Python dict). At the
	// first other key, it becomes an ordered Map.
	first := d.pos
	var m map[string]any
	for i := uint64(0); i < n; i++ {
		c, err := d.read1()
		if err != nil {
			return nil, err
		}
		sn, isStr, err := d.strLen(c)
		if err != nil {
			return nil, err
		}
		if !isStr {
			return d.orderedMap(m, first, i, n, depth)
		}
		sk, err := d.str(sn)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = make(map[string]any, min(n, maxPrealloc/4))
		}
		m[sk] = v
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// orderedMap finishes reading a map of n items whose item i has a key that
// is not a string, into a Map in order; a later duplicate replaces the value
// of the first (found by hashing: linear time). The i items before it, from
// offset first, are in m: their keys are read again for the order, their
// values skipped (never decoded twice, so nested maps cost linear time).
func (d *mpDecoder) orderedMap(m map[string]any, first int, i, n uint64, depth int) (any, error) {
	out := make(Map, 0, min(n, maxPrealloc))
	var set mapSet
	d.pos = first
	for j := uint64(0); j < n; j++ {
		var k, v any
		var err error
		if j < i {
			c, _ := d.read1()
			sn, _, _ := d.strLen(c)
			sk, err := d.str(sn)
			if err != nil {
				return nil, err
			}
			if err := d.skip(depth + 1); err != nil {
				return nil, err
			}
			k, v = sk, m[sk]
		} else {
			at := d.pos
			c, err := d.read1()
			if err != nil {
				return nil, err
			}
			if sn, isStr, err := d.strLen(c); isStr {
				if err != nil {
					return nil, err
				}
				if k, err = d.str(sn); err != nil {
					return nil, err
				}
			} else {
				d.pos = at
				if k, err = d.key(depth + 1); err != nil {
					return nil, err
				}
			}
			if v, err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		if err != nil {
			return nil, err
		}
		out = set.add(out, k, v)
	}
	d.probes += set.probes
	return out, nil
}

// skip moves past one value already read once.
func (d *mpDecoder) skip(depth int) error {
	budget := d.budget
	d.budget = math.MaxInt
	err := d.scan(depth)
	d.budget = budget
	return err
}

// extCheck reads an extension's type byte and n-byte payload, and checks
// a timestamp (type -1).
func (d *mpDecoder) extCheck(n uint64, at int) (int8, string, error) {
	t, err := d.read1()
	if err != nil {
		return 0, "", err
	}
	data, err := d.readN64(n)
	if err != nil {
		return 0, "", err
	}
	if int8(t) != -1 {
		return int8(t), data, nil
	}
	var ns uint64
	switch n {
	case 4:
	case 8:
		ns = be64(data) >> 34
	case 12:
		ns = be32(data)
	default:
		return 0, "", d.errorf("timestamp extension at offset %d has invalid length %d", at, n)
	}
	if ns >= 1e9 {
		return 0, "", d.errorf("timestamp at offset %d has nanoseconds %d out of range", at, ns)
	}
	return -1, data, nil
}

func (d *mpDecoder) ext(n uint64, at int) (any, error) {
	t, data, err := d.extCheck(n, at)
	if err != nil {
		return nil, err
	}
	if t != -1 {
		return Ext{Type: t, Data: []byte(data)}, nil
	}
	switch n {
	case 4:
		return time.Unix(int64(be32(data)), 0).UTC(), nil
	case 8:
		v := be64(data)
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)).UTC(), nil
	}
	return time.Unix(int64(be64(data[4:])), int64(be32(data))).UTC(), nil
}
