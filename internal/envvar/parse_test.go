package envvar

import (
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParseFileModeRule(t *testing.T) {
	for in, want := range map[string]os.FileMode{
		"0600": 0o600, "600": 0o600, "0o600": 0o600, "384": 0o600,
		"0644": 0o644, "644": 0o644, "420": 0, "0o644": 0o644,
		"0755": 0o755, "755": 0o755, "493": 0o755,
		"777": 0o777, "511": 0, "488": 0o750, "0777": 0o777, "1": 0, "07": 0o7, "00": 0, "9": 9, "89": 89,
		"0o1000": 0, "": 0, " 0600 ": 0o600, "06o0": 0,
	} {
		got, ok := parseFileMode(in)
		if want == 0 {
			if ok {
				t.Errorf("parseFileMode(%q) = %#o, want rejection", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseFileMode(%q) = %#o, %v; want %#o", in, got, ok, want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, " TRUE ": true, "1": true, "Yes": true, "on": true,
		"false": false, "False": false, "0": false, "no": false, "OFF ": false} {
		if got, ok := parseBool(in); !ok || got != want {
			t.Errorf("parseBool(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "maybe", "t", "2", "y", "truefalse"} {
		if _, ok := parseBool(in); ok {
			t.Errorf("parseBool(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3600": time.Hour, " 90.7 ": 90*time.Second + 700*time.Millisecond, "1e-9": 1, "0.0005": 500 * time.Microsecond,
		"720h": 720 * time.Hour, "1h30m": 90 * time.Minute, "-5": -5 * time.Second, "0": 0, "+2": 2 * time.Second,
		"9223372036": 9223372036 * time.Second,
	} {
		if got, ok := parseDuration(in); !ok || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "inf", "NaN", "0x10", "1_000", "1e300", "9223372037", "9223372036854775807", "h", "1..2x"} {
		if got, ok := parseDuration(in); ok {
			t.Errorf("parseDuration(%q) = %v; want rejection", in, got)
		}
	}
	if _, ok := parseDuration("-9223372037"); ok {
		t.Error("a negative duration beyond the range was accepted")
	}
	if !isDecimalFloat("-1.5e+3") || isDecimalFloat("") || isDecimalFloat(".") || isDecimalFloat("1_0") {
		t.Error("isDecimalFloat misjudges plain decimals")
	}
}

func TestParseKeyList(t *testing.T) {
	for in, want := range map[string][]string{
		"a, b ,,c":             {"a", "b", "c"},
		`["a,1", "b\"2"]`:      {"a,1", `b"2`},
		`['old', "older",]`:    {"old", "older"},
		`[]`:                   nil,
		`['it\'s', 'x\qy']`:    {"it's", `x\qy`},
		`[ 'a\n' , "\t" ]`:     {"a\n", "\t"},
		" , ":                  nil,
		`["", "k"]`:            {"k"},
		"[not a list":          nil, // rejected, see below
		"no brackets, at all ": {"no brackets", "at all"},
	} {
		got, ok := parseKeyList(in)
		if in == "[not a list" {
			if ok {
				t.Errorf("parseKeyList(%q) = %q; want rejection", in, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("parseKeyList(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`['a'`, `['a' 'b']`, `[a]`, `['a\`, `["x"]x`, `['a',,]`} {
		if got, ok := parseKeyList(in); ok {
			t.Errorf("parseKeyList(%q) = %q; want rejection", in, got)
		}
	}
}
