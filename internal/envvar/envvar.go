// Package envvar reads ginsession's settings from environment variables:
// a table of variables (one Var a row, built by String, Bool, Duration...),
// each read through a lookup function under a prefix, its value parsed in
// Flask's spellings (booleans, seconds, file modes, key lists), and one
// Problem collected per unusable value, so that every bad variable is
// reported at once. It knows nothing of ginsession.Options: the root
// package holds the table (OptionsFromLookup) and turns each Problem into
// an EnvError.
package envvar

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ginsession/ginsession/internal/seal"
)

// Hidden stands for the value of a secret variable in a Problem.
const Hidden = "(hidden)"

// Problem is one variable whose value cannot be used.
type Problem struct {
	Var    string // the variable's full name, prefix included
	Value  string // the value found, or Hidden for a secret
	Want   string // the accepted values
	Hidden bool   // Value is the placeholder Hidden
}

// Reader reads variables through Lookup, prefixing every name with Prefix,
// and collects the Problems of the values it cannot use.
type Reader struct {
	Lookup   func(string) (string, bool)
	Prefix   string
	Problems []Problem
}

// Get returns the variable's value; the empty string counts as unset.
func (r *Reader) Get(name string) (string, bool) {
	v, ok := r.Lookup(r.Prefix + name)
	return v, ok && v != ""
}

// Fail records that the variable's value is unusable; want says what is.
func (r *Reader) Fail(name, value, want string) {
	r.Problems = append(r.Problems, Problem{Var: r.Prefix + name, Value: value, Want: want})
}

// FailHidden is Fail for a secret variable: its value is never repeated.
func (r *Reader) FailHidden(name, want string) {
	r.Problems = append(r.Problems, Problem{Var: r.Prefix + name, Value: Hidden, Want: want, Hidden: true})
}

// Var is one row of a table of variables: a name and what to do with its
// value. A variable that is unset, or set to the empty string, is skipped
// (see KeepEmpty and Or).
type Var struct {
	name, orElse string
	keepEmpty    bool
	set          func(r *Reader, name, v string)
}

// Or names a variable read instead when this one is unset or empty
// (APPLICATION_ROOT for SESSION_COOKIE_PATH, say).
func (x Var) Or(fallback string) Var {
	x.orElse = fallback
	return x
}

// KeepEmpty makes the empty string a value rather than "unset"
// (SESSION_COOKIE_DOMAIN= means a host-only cookie).
func (x Var) KeepEmpty() Var {
	x.keepEmpty = true
	return x
}

// Read reads the variables in order.
func (r *Reader) Read(vars ...Var) {
	for _, x := range vars {
		name := x.name
		v, ok := r.Lookup(r.Prefix + name)
		ok = ok && (v != "" || x.keepEmpty)
		if !ok && x.orElse != "" {
			name = x.orElse
			v, ok = r.Get(name)
		}
		if ok {
			x.set(r, name, v)
		}
	}
}

// String stores the value with surrounding spaces trimmed.
func String(name string, dst *string) Var {
	return Var{name: name, set: func(_ *Reader, _, v string) { *dst = strings.TrimSpace(v) }}
}

// Verbatim stores the value as it is (a secret may start or end with a
// space).
func Verbatim(name string, dst *string) Var {
	return Var{name: name, set: func(_ *Reader, _, v string) { *dst = v }}
}

// Checked is String with a check: a value valid rejects is stored all the
// same (the error is reported) and shown trimmed in the Problem.
func Checked(name string, dst *string, valid func(string) bool, want string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		*dst = strings.TrimSpace(v)
		if !valid(*dst) {
			r.Fail(name, *dst, want)
		}
	}}
}

// Unsupported reports any value: a setting with no meaning here; want
// says what to do instead.
func Unsupported(name, want string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) { r.Fail(name, v, want) }}
}

// Choice stores choices[value], the value lower-cased and trimmed.
func Choice[T any](name string, dst *T, choices map[string]T, want string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if c, ok := choices[strings.ToLower(strings.TrimSpace(v))]; ok {
			*dst = c
		} else {
			r.Fail(name, v, want)
		}
	}}
}

const boolWant = "true or false (also 1/0, yes/no, on/off)"

// Bool stores a boolean in Python's spellings (see parseBool).
func Bool(name string, dst *bool) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if b, ok := parseBool(v); ok {
			*dst = b
		} else {
			r.Fail(name, v, boolWant)
		}
	}}
}

// NotBool stores the negation of a boolean, for settings expressed as
// opt-outs (SESSION_PERMANENT=false sets NonPermanent).
func NotBool(name string, dst *bool) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if b, ok := parseBool(v); ok {
			*dst = !b
		} else {
			r.Fail(name, v, boolWant)
		}
	}}
}

// Int stores a decimal integer from least to most; want describes them.
func Int(name string, dst *int, least, most int, want string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= least && n <= most {
			*dst = n
		} else {
			r.Fail(name, v, want)
		}
	}}
}

// Duration stores a positive duration (see parseDuration) of at least
// least: a shorter one cannot work.
func Duration(name string, dst *time.Duration, least time.Duration) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		switch d, ok := parseDuration(v); {
		case !ok || d <= 0:
			r.Fail(name, v, "a positive number of seconds (3600, 90.7) or a Go duration (720h, 1h30m)")
		case d < least:
			r.Fail(name, v, "a positive duration of at least "+least.String()+" (a shorter one cannot work)")
		default:
			*dst = d
		}
	}}
}

// OptionalDuration is Duration for a setting that is off by default: 0, in
// any spelling, means off.
func OptionalDuration(name string, dst *time.Duration) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if d, ok := parseDuration(v); ok && d >= 0 {
			*dst = d
		} else {
			r.Fail(name, v, "a number of seconds (3600, 90.7) or a Go duration (30m, 8h); 0 for off")
		}
	}}
}

// FileMode stores a permission mode (see parseFileMode).
func FileMode(name string, dst *os.FileMode) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if m, ok := parseFileMode(v); ok {
			*dst = m
		} else {
			r.Fail(name, v, "a permission mode: octal with a leading 0 or 0o (0600, 0o600), 3-digit chmod octal above 511 (600, 644), or Flask's decimal with an 8 or 9 in it (384 = 0600); nonzero, at most 0777")
		}
	}}
}

// Keys stores a secret list of keys (see parseKeyList).
func Keys(name string, dst *[]string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if keys, ok := parseKeyList(v); ok {
			*dst = keys
		} else {
			r.FailHidden(name, "comma-separated keys, or a list literal such as [\"old1\", \"old2\"]")
		}
	}}
}

// SealKey stores a secret encryption key in one of seal.ParseKey's forms.
func SealKey(name string, dst *[]byte) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if k, ok := seal.ParseKey(v); ok {
			*dst = k
		} else {
			r.FailHidden(name, seal.KeyWant)
		}
	}}
}

// SealKeys stores comma-separated secret encryption keys, each in one of
// seal.ParseKey's forms.
func SealKeys(name string, dst *[][]byte) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		items, good := parseKeyList(v)
		var keys [][]byte
		for _, item := range items {
			k, ok := seal.ParseKey(item)
			good = good && ok
			keys = append(keys, k)
		}
		if good {
			*dst = keys
		} else {
			r.FailHidden(name, "comma-separated keys, each "+seal.KeyWant)
		}
	}}
}

// StoreCheck checks, without connecting, a store's setting that another
// row has stored: check gets the trimmed value (a connection string, a
// file mode). The Problem shows the value without its credentials, and
// check's reason (see because).
func StoreCheck(name string, check func(string) error, want string) Var {
	return Var{name: name, set: func(r *Reader, name, v string) {
		if err := check(strings.TrimSpace(v)); err != nil {
			r.Fail(name, redactURL(v), want+because(err, v))
		}
	}}
}
