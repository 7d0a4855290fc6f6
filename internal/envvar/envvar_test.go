package envvar

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func TestReaderRows(t *testing.T) {
	var (
		s, domain, path, kept, checked string
		b, nb, unset                   bool
		n                              int
		d, od                          time.Duration
		keys                           []string
		choice                         = "default"
	)
	e := env{
		"P_S": " trimmed ", "P_DOMAIN": "", "P_ROOT": " /app ", "P_KEPT": "", "P_CHECKED": " bad ",
		"P_B": "yes", "P_NB": "off", "P_N": "0x1", "P_D": "0.0001", "P_OD": "0",
		"P_KEYS": "[oops", "P_CHOICE": " JSON ", "P_GONE": "1", "P_UNSET": "",
	}
	r := Reader{Lookup: e.lookup, Prefix: "P_"}
	r.Read(
		String("S", &s),
		String("DOMAIN", &domain).KeepEmpty(),
		String("PATH", &path).Or("ROOT"),
		String("KEPT", &kept),
		Checked("CHECKED", &checked, func(v string) bool { return v == "good" }, "good"),
		Bool("B", &b),
		NotBool("NB", &nb),
		Bool("UNSET", &unset),
		Int("N", &n, 0, math.MaxInt, "a count"),
		Duration("D", &d, time.Millisecond),
		OptionalDuration("OD", &od),
		Keys("KEYS", &keys),
		Choice("CHOICE", &choice, map[string]string{"json": "j"}, "json"),
		Unsupported("GONE", "nothing"),
	)
	kept = kept + "|"
	if s != "trimmed" || domain != "" || path != "/app" || kept != "|" || checked != "bad" || !b || !nb || unset || n != 0 || d != 0 || od != 0 || keys != nil || choice != "j" {
		t.Errorf("rows stored s=%q domain=%q path=%q kept=%q checked=%q b=%v nb=%v unset=%v n=%d d=%v od=%v keys=%q choice=%q",
			s, domain, path, kept, checked, b, nb, unset, n, d, od, keys, choice)
	}
	want := []Problem{
		{Var: "P_CHECKED", Value: "bad", Want: "good"},
		{Var: "P_N", Value: "0x1", Want: "a count"},
		{Var: "P_D", Value: "0.0001", Want: "a positive duration of at least 1ms (a shorter one cannot work)"},
		{Var: "P_KEYS", Value: Hidden, Want: `comma-separated keys, or a list literal such as ["old1", "old2"]`, Hidden: true},
		{Var: "P_GONE", Value: "1", Want: "nothing"},
	}
	if !reflect.DeepEqual(r.Problems, want) {
		t.Errorf("problems:\n%+v\nwant\n%+v", r.Problems, want)
	}
}

func TestReaderKeepEmptyDistinguishesUnset(t *testing.T) {
	domain := "default"
	r := Reader{Lookup: env{}.lookup}
	r.Read(String("DOMAIN", &domain).KeepEmpty())
	if domain != "default" {
		t.Errorf("an unset KeepEmpty variable stored %q", domain)
	}
}

func TestReaderOrPrefersTheFirst(t *testing.T) {
	var path string
	var lookups []string
	r := Reader{Lookup: func(k string) (string, bool) {
		lookups = append(lookups, k)
		return env{"PATH": "/a", "ROOT": "/b"}.lookup(k)
	}}
	r.Read(String("PATH", &path).Or("ROOT"))
	if path != "/a" || len(lookups) != 1 {
		t.Errorf("path %q after lookups %q; want /a after one lookup", path, lookups)
	}
}

func TestStoreCheckHidesCredentials(t *testing.T) {
	r := Reader{Lookup: env{"URL": " redis://user:pw-SECRET@h:x "}.lookup}
	var got string
	r.Read(StoreCheck("URL", func(v string) error {
		got = v
		return fmt.Errorf("ginsession: bad port in %q", v)
	}, "a URL"))
	if got != "redis://user:pw-SECRET@h:x" {
		t.Errorf("check got %q; want the trimmed value", got)
	}
	if len(r.Problems) != 1 {
		t.Fatalf("problems %+v", r.Problems)
	}
	p := r.Problems[0]
	if strings.Contains(p.Value+p.Want, "pw-SECRET") || strings.Count(p.Want, "ginsession:") != 0 ||
		p.Want != `a URL (bad port in "xxxxx@h:x")` || p.Value != " redis://xxxxx@h:x " {
		t.Errorf("problem %+v", p)
	}
}

func TestBecause(t *testing.T) {
	if because(nil, "x") != "" {
		t.Error("no reason gives a suffix")
	}
	// A reason quoting the value escaped still hides the credentials, and
	// a control character is escaped to keep the message on one line.
	got := because(errors.New("ginsession: bad \"\\x7fpw@h\"\n"), "redis://\x7fpw@h")
	if strings.Contains(got, "pw") || strings.Contains(got, "\n") {
		t.Errorf("because = %q", got)
	}
	for raw, want := range map[string]string{
		"redis://u:p@h": "redis://xxxxx@h", "tok@h": "xxxxx@h", "h:1": "h:1", "x://@h": "x://@h", "a@b@c": "xxxxx@c",
		"pw@://": "xxxxx@://", "pw@x://h": "xxxxx@x://h", "r://u:p@h://": "r://xxxxx@h://",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q; want %q", raw, got, want)
		}
	}
}

func TestPrefixNames(t *testing.T) {
	err := errors.Join(errors.New("ginsession: UseSigner (SESSION_USE_SIGNER) needs SecretKey (SECRET_KEY)"),
		errors.New("ginsession: Lifetime (PERMANENT_SESSION_LIFETIME) = 1ms"))
	got := PrefixNames(err, "A$1_").Error()
	want := "ginsession: UseSigner (A$1_SESSION_USE_SIGNER) needs SecretKey (A$1_SECRET_KEY)\nginsession: Lifetime (A$1_PERMANENT_SESSION_LIFETIME) = 1ms"
	if got != want {
		t.Errorf("PrefixNames = %q\nwant %q", got, want)
	}
	if PrefixNames(nil, "P_") != nil || PrefixNames(err, "") != err {
		t.Error("nothing to rewrite, but PrefixNames rewrote")
	}
	if got := PrefixNames(errors.New("ginsession: X (SESSION_X)"), "P_").Error(); got != "ginsession: X (P_SESSION_X)" {
		t.Errorf("a single error: %q", got)
	}
}
