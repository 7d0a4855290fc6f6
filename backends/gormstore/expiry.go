package gormstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// expiry scans an expiry column whatever the driver hands back. Drivers
// that know the column is a timestamp return a time.Time (PostgreSQL,
// MySQL with parseTime, mattn/go-sqlite3 for a DATETIME column); others
// return the stored text or a number.
//
// Text is read leniently: every form Flask-Session reads (SQLAlchemy's
// "YYYY-MM-DD HH:MM:SS.ffffff", without fraction, with milliseconds, with a
// "+00:00" offset) and the forms it fails on with HTTP 500 ("T" separator,
// "Z" suffix, a Unix time). Naive text is UTC. What cannot be read makes
// the row dead (valid=false) rather than an error: one odd row must not
// turn every request carrying its cookie into a 503.
type expiry struct {
	t     time.Time
	valid bool
	// bad holds unreadable text, for a log line.
	bad string
}

// Scan implements sql.Scanner.
func (e *expiry) Scan(src any) error {
	*e = expiry{}
	switch v := src.(type) {
	case nil:
	case time.Time:
		// mattn/go-sqlite3 answers the zero time for text it cannot parse.
		e.t, e.valid = v, !v.IsZero()
	case string:
		e.t, e.valid = parseExpiry(v)
		if !e.valid {
			e.bad = v
		}
	case []byte:
		e.t, e.valid = parseExpiry(string(v))
		if !e.valid {
			e.bad = string(v)
		}
	case int64:
		e.t, e.valid = unixTime(float64(v)), true
	case float64:
		e.t, e.valid = unixTime(v), true
	default:
		e.bad = fmt.Sprintf("%T", src)
	}
	return nil
}

// unixTime reads a number as Unix seconds, or milliseconds when it is too
// large to be seconds (as mattn/go-sqlite3 does).
func unixTime(f float64) time.Time {
	if f > 1e12 || f < -1e12 {
		f /= 1000
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}

var expiryLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseExpiry reads stored expiry text; naive values are UTC. Fractions of
// any length are decimal fractions: ".123" is 123 ms (SQLAlchemy's C
// parser would read 123 µs; the difference is below a millisecond of a
// lifetime).
func parseExpiry(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "-:") {
		return unixTime(f), true
	}
	for _, layout := range expiryLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
