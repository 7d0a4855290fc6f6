package envvar

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// parseBool reads Python's and Flask's spellings of a boolean, in any case
// and with surrounding spaces: true/false, 1/0, yes/no, on/off.
func parseBool(v string) (b, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

// parseDuration reads integer seconds (3600), fractional seconds (90.7,
// rounded to the nanosecond) or a Go duration (720h); ok is false for
// anything else and for values beyond time.Duration's range.
func parseDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if isDecimalFloat(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= float64(math.MaxInt64)/1e9 {
			return 0, false
		}
		return time.Duration(math.Round(f * 1e9)), true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// isDecimalFloat reports whether v looks like a plain decimal number
// ([+-]digits[.digits][e[+-]digits]), excluding ParseFloat's extra forms
// (inf, nan, hex, underscores).
func isDecimalFloat(v string) bool {
	if v == "" {
		return false
	}
	digits := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return digits
}

// parseFileMode implements the SESSION_FILE_MODE rule:
//
//   - a leading "0o"/"0O", or a leading "0" followed by more digits: octal;
//   - otherwise, a value containing an 8 or a 9: decimal (Flask's
//     os.chmod int, e.g. 384 = 0600, 493 = 0755);
//   - otherwise (digits 0-7 only) a value above 511 as a decimal: octal, as
//     chmod reads it (600, 644, 755), since as a decimal it would not be a
//     permission mode;
//   - anything else (e.g. 420, which is 0644 in decimal but also a valid
//     octal 0420) is ambiguous and rejected.
//
// The mode must be between 1 and 0777.
func parseFileMode(v string) (os.FileMode, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && !(i == 1 && (c == 'o' || c == 'O')) {
			return 0, false
		}
	}
	var n uint64
	var err error
	switch {
	case len(v) > 2 && v[0] == '0' && (v[1] == 'o' || v[1] == 'O'):
		n, err = strconv.ParseUint(v[2:], 8, 32)
	case len(v) > 1 && v[0] == '0':
		n, err = strconv.ParseUint(v[1:], 8, 32)
	case strings.ContainsAny(v, "89"):
		n, err = strconv.ParseUint(v, 10, 32)
	default:
		if d, derr := strconv.ParseUint(v, 10, 32); derr != nil || d <= 0o777 {
			return 0, false // ambiguous, or not a number
		}
		n, err = strconv.ParseUint(v, 8, 32)
	}
	if err != nil || n == 0 || n > 0o777 {
		return 0, false
	}
	return os.FileMode(n), true
}

// parseKeyList parses SECRET_KEY_FALLBACKS: a JSON or Python list literal of
// strings when the value starts with '[', otherwise comma-separated keys
// (spaces around each trimmed, empty items dropped).
func parseKeyList(v string) ([]string, bool) {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "[") {
		var keys []string
		if err := json.Unmarshal([]byte(t), &keys); err == nil {
			return dropEmpty(keys), true
		}
		return parsePyList(t)
	}
	var keys []string
	for _, k := range strings.Split(v, ",") {
		keys = append(keys, strings.TrimSpace(k))
	}
	return dropEmpty(keys), true
}

// dropEmpty removes the empty strings of keys, in place; nil when none is
// left.
func dropEmpty(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parsePyList parses a Python list literal of '...' or "..." strings with
// the common backslash escapes (\\, \', \", \n, \t, \r); other escapes are
// kept verbatim, as Python does. A trailing comma is allowed.
func parsePyList(s string) ([]string, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	in := s[1 : len(s)-1]
	var keys []string
	i := 0
	skip := func() {
		for i < len(in) && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i == len(in) {
			break
		}
		q := in[i]
		if q != '\'' && q != '"' {
			return nil, false
		}
		i++
		var b strings.Builder
		closed := false
		for i < len(in) {
			c := in[i]
			i++
			if c == q {
				closed = true
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if i == len(in) {
				return nil, false
			}
			e := in[i]
			i++
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		}
		if !closed {
			return nil, false
		}
		keys = append(keys, b.String())
		skip()
		if i == len(in) {
			break
		}
		if in[i] != ',' {
			return nil, false
		}
		i++
	}
	return dropEmpty(keys), true
}
