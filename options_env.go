package ginsession

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ginsession/ginsession/internal/seal"
)

// EnvError reports an environment variable whose value OptionsFromEnv or
// OptionsFromLookup cannot use. The error of those functions wraps one
// EnvError per bad variable (use errors.As, or errors.Join's Unwrap() []error
// to see them all).
type EnvError struct {
	// Var is the variable's full name, prefix included (e.g. MYAPP_SESSION_TYPE).
	Var string
	// Value is the value found, or "(hidden)" for SECRET_KEY and
	// SECRET_KEY_FALLBACKS, whose values are never repeated.
	Value string
	// Want says which values are accepted.
	Want string

	hidden bool // Value is a placeholder: print it without quotes
}

// Error returns `ginsession: VAR="value": want ...`.
func (e *EnvError) Error() string {
	v := strconv.Quote(e.Value)
	if e.hidden {
		v = e.Value
	}
	return "ginsession: " + e.Var + "=" + v + ": want " + e.Want
}

// hiddenValue replaces the value of a secret variable in errors.
const hiddenValue = "(hidden)"

// OptionsFromEnv reads Options from the process environment, using the
// names of Flask's config keys (SESSION_TYPE, SECRET_KEY, ...), so that a
// Flask-Session app's environment configures the Gin app unchanged. It is
// OptionsFromLookup(os.LookupEnv, "").
func OptionsFromEnv() (Options, error) {
	return OptionsFromLookup(os.LookupEnv, "")
}

// OptionsFromLookup reads Options through lookup, prepending prefix to every
// variable name ("MYAPP_" reads MYAPP_SESSION_TYPE, MYAPP_SECRET_KEY...).
//
// It starts from DefaultOptions. A variable that is unset, or set to the
// empty string, keeps the default; the exception is SESSION_COOKIE_DOMAIN,
// where the empty string means a host-only cookie. The variables are those
// of docs/configuration.md:
//
//   - strings: SESSION_TYPE, SECRET_KEY, SESSION_KEY_PREFIX,
//     SESSION_COOKIE_NAME, SESSION_COOKIE_DOMAIN, SESSION_COOKIE_PATH
//     (default APPLICATION_ROOT, then "/"), SESSION_REDIS,
//     SESSION_MEMCACHED, SESSION_FILE_DIR, SESSION_MONGODB,
//     SESSION_MONGODB_DB, SESSION_MONGODB_COLLECT, SESSION_SQLALCHEMY
//     (default SQLALCHEMY_DATABASE_URI), SESSION_SQLALCHEMY_TABLE,
//     SESSION_SQLALCHEMY_SCHEMA, SESSION_SQLALCHEMY_SEQUENCE,
//     SESSION_DYNAMODB (an http or https endpoint URL),
//     SESSION_DYNAMODB_TABLE (a DynamoDB table name);
//   - Flask-Session settings without a Go meaning, which are errors when
//     set, saying what to use instead: SESSION_SQLALCHEMY_BIND_KEY,
//     SESSION_CACHELIB and SESSION_TYPE=cachelib;
//   - SECRET_KEY_FALLBACKS: comma-separated, or a JSON or Python list
//     literal such as ["old1", "old2"] (for keys that contain commas);
//   - booleans (true/false, 1/0, yes/no, on/off, any case):
//     SESSION_PERMANENT, SESSION_USE_SIGNER, SESSION_REFRESH_EACH_REQUEST,
//     SESSION_COOKIE_HTTPONLY, SESSION_COOKIE_SECURE,
//     SESSION_COOKIE_PARTITIONED;
//   - durations (integer or fractional seconds such as 3600 or 90.7, or a
//     Go duration such as 720h): PERMANENT_SESSION_LIFETIME,
//     SESSION_STORE_TIMEOUT, SESSION_OPEN_TIMEOUT; the same forms, 0 meaning off:
//     SESSION_IDLE_TIMEOUT, SESSION_ABSOLUTE_LIFETIME;
//   - SESSION_ENCRYPTION_KEY: 32 bytes as base64 (standard or URL
//     alphabet, padded or not) or as 64 hex digits;
//     SESSION_ENCRYPTION_KEY_FALLBACKS: comma-separated keys in the same
//     forms (never repeated in errors);
//   - integers: SESSION_ID_LENGTH (16 to 96), SESSION_FILE_THRESHOLD (0 or
//     negative: no limit, as in Flask), SESSION_CLEANUP_N_REQUESTS,
//     SESSION_MAX_SIZE, SESSION_MAX_RETRIES, SESSION_MEMORY_MAX_ENTRIES;
//   - SESSION_SERIALIZATION_FORMAT: msgpack or json;
//   - SESSION_COOKIE_SAMESITE: Strict, Lax or None, any case;
//   - SESSION_FILE_MODE: octal with a leading 0 or 0o (0600, 0o600), a
//     chmod-style 3-digit octal above 511 (600, 644, 755), or Flask's
//     decimal int containing an 8 or a 9 (384 = 0600); other values are
//     ambiguous and rejected (see docs/configuration.md).
//
// Every unusable variable is reported, each as an *EnvError naming the
// variable, its value (never for SECRET_KEY or SECRET_KEY_FALLBACKS) and the
// accepted forms, and the resulting Options are then checked with Validate;
// all problems are returned together (errors.Join). On error the returned
// Options hold what could be read and must not be used.
func OptionsFromLookup(lookup func(string) (string, bool), prefix string) (Options, error) {
	o := DefaultOptions()
	r := envReader{lookup: lookup, prefix: prefix}

	if v, ok := r.get("SESSION_TYPE"); ok {
		o.Type = strings.TrimSpace(v)
	}
	if v, ok := r.get("SECRET_KEY"); ok {
		o.SecretKey = v
	}
	if v, ok := r.get("SECRET_KEY_FALLBACKS"); ok {
		if keys, good := parseKeyList(v); good {
			o.SecretKeyFallbacks = keys
		} else {
			r.fail("SECRET_KEY_FALLBACKS", hiddenValue, "comma-separated keys, or a list literal such as [\"old1\", \"old2\"]", true)
		}
	}
	r.boolean("SESSION_USE_SIGNER", &o.UseSigner, false)
	r.boolean("SESSION_PERMANENT", &o.NonPermanent, true)
	r.duration("PERMANENT_SESSION_LIFETIME", &o.Lifetime, time.Second)
	r.boolean("SESSION_REFRESH_EACH_REQUEST", &o.NoRefreshEachRequest, true)

	if v, ok := r.get("SESSION_KEY_PREFIX"); ok {
		o.KeyPrefix = strings.TrimSpace(v)
	}
	if n, ok := r.integer("SESSION_ID_LENGTH", "an integer from 16 to 96 (bytes of entropy; default 32)"); ok {
		if n < MinIDLength || n > MaxIDLength {
			r.fail("SESSION_ID_LENGTH", r.raw, "an integer from 16 to 96 (bytes of entropy; default 32)", false)
		} else {
			o.IDLength = n
		}
	}
	if v, ok := r.get("SESSION_SERIALIZATION_FORMAT"); ok {
		switch f := strings.ToLower(strings.TrimSpace(v)); f {
		case "msgpack", "json":
			o.SerializationFormat = f
		default:
			r.fail("SESSION_SERIALIZATION_FORMAT", v, "msgpack or json", false)
		}
	}

	if v, ok := r.get("SESSION_COOKIE_NAME"); ok {
		o.CookieName = strings.TrimSpace(v)
	}
	if v, ok := r.lookup(r.prefix + "SESSION_COOKIE_DOMAIN"); ok {
		o.CookieDomain = strings.TrimSpace(v) // "" is meaningful: host-only
	}
	if v, ok := r.get("SESSION_COOKIE_PATH"); ok {
		o.CookiePath = strings.TrimSpace(v)
	} else if v, ok := r.get("APPLICATION_ROOT"); ok {
		o.CookiePath = strings.TrimSpace(v)
	}
	r.boolean("SESSION_COOKIE_HTTPONLY", &o.CookieNoHTTPOnly, true)
	r.boolean("SESSION_COOKIE_SECURE", &o.CookieSecure, false)
	if v, ok := r.get("SESSION_COOKIE_SAMESITE"); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "strict":
			o.CookieSameSite = http.SameSiteStrictMode
		case "lax":
			o.CookieSameSite = http.SameSiteLaxMode
		case "none":
			o.CookieSameSite = http.SameSiteNoneMode
		default:
			r.fail("SESSION_COOKIE_SAMESITE", v, "Strict, Lax or None (any case; None needs SESSION_COOKIE_SECURE=true)", false)
		}
	}
	r.boolean("SESSION_COOKIE_PARTITIONED", &o.CookiePartitioned, false)

	r.str("SESSION_REDIS", &o.Redis)
	r.str("SESSION_MEMCACHED", &o.Memcached)
	r.str("SESSION_FILE_DIR", &o.FileDir)
	if n, ok := r.integer("SESSION_FILE_THRESHOLD", "an integer: the most files kept (0 or negative: no limit)"); ok {
		if n <= 0 {
			n = -1 // Flask/cachelib: 0 means no threshold
		}
		o.FileThreshold = n
	}
	if v, ok := r.get("SESSION_FILE_MODE"); ok {
		if m, good := parseFileMode(v); good {
			o.FileMode = os.FileMode(m)
		} else {
			r.fail("SESSION_FILE_MODE", v, "a permission mode: octal with a leading 0 or 0o (0600, 0o600), 3-digit chmod octal above 511 (600, 644), or Flask's decimal with an 8 or 9 in it (384 = 0600); nonzero, at most 0777", false)
		}
	}
	r.str("SESSION_MONGODB", &o.MongoDB)
	r.str("SESSION_MONGODB_DB", &o.MongoDBDB)
	r.str("SESSION_MONGODB_COLLECT", &o.MongoDBCollect)
	if !r.str("SESSION_SQLALCHEMY", &o.SQLAlchemy) {
		r.str("SQLALCHEMY_DATABASE_URI", &o.SQLAlchemy)
	}
	r.str("SESSION_SQLALCHEMY_TABLE", &o.SQLAlchemyTable)
	r.flask08(&o)
	r.nonNegative("SESSION_CLEANUP_N_REQUESTS", &o.CleanupNRequests, "an integer >= 0: clean up about once every N requests (0: off)")
	r.nonNegative("SESSION_MEMORY_MAX_ENTRIES", &o.MemoryMaxEntries, "an integer >= 0: the memory store's bound (0: unlimited)")

	r.duration("SESSION_STORE_TIMEOUT", &o.StoreTimeout, time.Millisecond)
	r.duration("SESSION_OPEN_TIMEOUT", &o.OpenTimeout, time.Millisecond)
	r.positive("SESSION_MAX_SIZE", &o.MaxSize, "a positive integer: the largest encoded session in bytes (default 1048576)")
	r.positive("SESSION_MAX_RETRIES", &o.MaxRetries, "a positive integer: retries after a concurrent write (default 10)")

	r.optionalDuration("SESSION_IDLE_TIMEOUT", &o.IdleTimeout)
	r.optionalDuration("SESSION_ABSOLUTE_LIFETIME", &o.AbsoluteLifetime)
	if v, ok := r.get("SESSION_ENCRYPTION_KEY"); ok {
		if k, good := seal.ParseKey(v); good {
			o.EncryptionKey = k
		} else {
			r.fail("SESSION_ENCRYPTION_KEY", hiddenValue, seal.KeyWant, true)
		}
	}
	if v, ok := r.get("SESSION_ENCRYPTION_KEY_FALLBACKS"); ok {
		items, good := parseKeyList(v)
		var keys [][]byte
		for _, item := range items {
			k, ok := seal.ParseKey(item)
			good = good && ok
			keys = append(keys, k)
		}
		if good {
			o.EncryptionKeyFallbacks = keys
		} else {
			r.fail("SESSION_ENCRYPTION_KEY_FALLBACKS", hiddenValue, "comma-separated keys, each "+seal.KeyWant, true)
		}
	}

	r.checkStoreEnv(&o)
	return o, errors.Join(errors.Join(r.errs...), prefixEnvNames(o.Validate(), prefix))
}

// envReader reads variables and collects EnvErrors.
type envReader struct {
	lookup func(string) (string, bool)
	prefix string
	errs   []error
	raw    string // the value last read by integer, for range errors
}

// get returns the variable's value; the empty string counts as unset.
func (r *envReader) get(name string) (string, bool) {
	v, ok := r.lookup(r.prefix + name)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

func (r *envReader) fail(name, value, want string, hidden bool) {
	r.errs = append(r.errs, &EnvError{Var: r.prefix + name, Value: value, Want: want, hidden: hidden})
}

// str sets *dst to the trimmed value if the variable is set and reports
// whether it was.
func (r *envReader) str(name string, dst *string) bool {
	v, ok := r.get(name)
	if ok {
		*dst = strings.TrimSpace(v)
	}
	return ok
}

// boolean parses Python/Flask spellings; invert stores the negation (for
// the opt-out fields NonPermanent, NoRefreshEachRequest, CookieNoHTTPOnly).
func (r *envReader) boolean(name string, dst *bool, invert bool) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	b, good := parseBool(v)
	if !good {
		r.fail(name, v, "true or false (also 1/0, yes/no, on/off)", false)
		return
	}
	*dst = b != invert
}

func parseBool(v string) (b, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

// integer parses a decimal int; want describes the accepted values.
func (r *envReader) integer(name, want string) (int, bool) {
	v, ok := r.get(name)
	if !ok {
		return 0, false
	}
	r.raw = v
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.fail(name, v, want, false)
		return 0, false
	}
	return n, true
}

func (r *envReader) nonNegative(name string, dst *int, want string) {
	if n, ok := r.integer(name, want); ok {
		if n < 0 {
			r.fail(name, r.raw, want, false)
			return
		}
		*dst = n
	}
}

func (r *envReader) positive(name string, dst *int, want string) {
	if n, ok := r.integer(name, want); ok {
		if n <= 0 {
			r.fail(name, r.raw, want, false)
			return
		}
		*dst = n
	}
}

// duration parses integer seconds, fractional seconds or a Go duration; the
// result must be positive and at least least (a shorter one cannot work).
func (r *envReader) duration(name string, dst *time.Duration, least time.Duration) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	d, good := parseDuration(v)
	if !good || d <= 0 {
		r.fail(name, v, "a positive number of seconds (3600, 90.7) or a Go duration (720h, 1h30m)", false)
		return
	}
	if d < least {
		r.fail(name, v, "a positive duration of at least "+least.String()+" (a shorter one cannot work)", false)
		return
	}
	*dst = d
}

// optionalDuration is duration for settings that are off by default: 0
// (in any spelling parseDuration accepts) means off.
func (r *envReader) optionalDuration(name string, dst *time.Duration) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	d, good := parseDuration(v)
	if !good || d < 0 {
		r.fail(name, v, "a number of seconds (3600, 90.7) or a Go duration (30m, 8h); 0 for off", false)
		return
	}
	*dst = d
}

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
func parseFileMode(v string) (uint32, bool) {
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
	return uint32(n), true
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
