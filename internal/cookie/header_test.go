package cookie

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/internal/race"
)

func TestRead(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  string
		ok    bool
	}{
		{nil, "", false},
		{[]string{""}, "", false},
		{[]string{"session=abc"}, "abc", true},
		{[]string{"a=1; session=abc; b=2"}, "abc", true},
		{[]string{"a=1;session=abc"}, "abc", true},
		{[]string{"  session=abc  ;"}, "abc", true},
		{[]string{"session="}, "", true},
		{[]string{"session"}, "", false},
		{[]string{"sessionx=1; xsession=2; sessio=3"}, "", false},
		{[]string{"session:abc"}, "", false},
		{[]string{"Session=abc"}, "", false},
		{[]string{`session="abc"`}, "abc", true},
		{[]string{`session="`}, `"`, true},
		{[]string{`session=""`}, "", true},
		{[]string{`session="abc`}, `"abc`, true},
		{[]string{`session=abc"`}, `abc"`, true},
		{[]string{"a=1", "session=second"}, "second", true},
		{[]string{"session=first; session=second"}, "first", true},
		{[]string{"x=1;;session=v"}, "v", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, l := range c.lines {
			r.Header.Add("Cookie", l)
		}
		got, ok := Read(r, "session")
		if got != c.want || ok != c.ok {
			t.Errorf("Read(%q) = %q, %v; want %q, %v", c.lines, got, ok, c.want, c.ok)
		}
	}
}

func TestAddVary(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{nil, []string{"Cookie"}},
		{[]string{"Accept-Encoding"}, []string{"Accept-Encoding, Cookie"}},
		{[]string{"Origin", "Accept"}, []string{"Origin", "Accept, Cookie"}},
		{[]string{"cookie"}, []string{"cookie"}},
		{[]string{"Accept, Cookie"}, []string{"Accept, Cookie"}},
		{[]string{"Cookie", "Accept"}, []string{"Cookie", "Accept"}},
		{[]string{"Cookies"}, []string{"Cookies, Cookie"}},
	} {
		h := http.Header{}
		if c.in != nil {
			h["Vary"] = slices.Clone(c.in)
		}
		AddVary(h)
		if !slices.Equal(h["Vary"], c.want) {
			t.Errorf("AddVary(%q) = %q, want %q", c.in, h["Vary"], c.want)
		}
	}
}

func TestSpecSet(t *testing.T) {
	exp := time.Date(2026, 4, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	for _, c := range []struct {
		spec  Spec
		value string
		exp   time.Time
		want  string
	}{
		{Spec{Name: "session", Path: "/"}, "v", time.Time{}, "session=v; Path=/; SameSite=Lax"},
		{Spec{Name: "session", Path: "/", HTTPOnly: true}, "v", exp,
			"session=v; Expires=Wed, 01 Apr 2026 11:00:00 GMT; HttpOnly; Path=/; SameSite=Lax"},
		{Spec{Name: "s", Domain: "example.org", Path: "/app", Secure: true, HTTPOnly: true, SameSite: http.SameSiteStrictMode, Partitioned: true}, "v", time.Time{},
			"s=v; Domain=example.org; Secure; HttpOnly; Path=/app; SameSite=Strict; Partitioned"},
		{Spec{Name: "s", Path: "/", SameSite: http.SameSiteNoneMode, Secure: true}, "v", time.Time{},
			"s=v; Secure; Path=/; SameSite=None"},
	} {
		h := http.Header{}
		c.spec.Set(h, c.value, c.exp, nil)
		if got := h.Values("Set-Cookie"); len(got) != 1 || got[0] != c.want {
			t.Errorf("Set = %q, want %q", got, c.want)
		}
	}
	s := Spec{Name: "session", Path: "/"}
	h := http.Header{}
	s.Delete(h, nil)
	if got := h.Get("Set-Cookie"); got != "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax" {
		t.Errorf("Delete = %q", got)
	}
}

func TestSpecSetReplacesOnlyItsCookie(t *testing.T) {
	s := Spec{Name: "session", Path: "/"}
	h := http.Header{}
	h.Add("Set-Cookie", "other=1")
	h.Add("Set-Cookie", "session=old1; Path=/")
	h.Add("Set-Cookie", "sessionx=2")
	h.Add("Set-Cookie", "session=old2; Path=/")
	h.Add("Set-Cookie", "session")
	h.Add("Set-Cookie", "sess=3")
	s.Set(h, "new", time.Time{}, make([]string, 0, 1)) // the header has values: spare is not used
	want := []string{"other=1", "sessionx=2", "session", "sess=3", "session=new; Path=/; SameSite=Lax"}
	if got := h.Values("Set-Cookie"); !slices.Equal(got, want) {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
	s.Delete(h, nil)
	got := h.Values("Set-Cookie")
	if len(got) != 5 || !strings.Contains(got[4], "Max-Age=0") {
		t.Errorf("after Delete: %q", got)
	}
}

// A response without Set-Cookie gets its value slice from spare, with one
// allocation (the cookie's text); a second Set replaces the value in place.
func TestSpecSetSpare(t *testing.T) {
	s := Spec{Name: "session", Path: "/"}
	var spare [1]string
	h := http.Header{}
	exp := time.Date(2026, 4, 1, 11, 0, 0, 0, time.UTC)
	allocs := testing.AllocsPerRun(100, func() {
		delete(h, "Set-Cookie")
		s.Set(h, "v1", exp, spare[:])
	})
	if allocs != 1 {
		t.Errorf("Set with spare: %v allocations, want 1 (the cookie text)", allocs)
	}
	if got := h["Set-Cookie"]; len(got) != 1 || &got[0] != &spare[0] || !strings.HasPrefix(got[0], "session=v1;") {
		t.Fatalf("Set-Cookie = %q, not held in spare", got)
	}
	s.Set(h, "v2", exp, spare[:])
	if got := h.Values("Set-Cookie"); len(got) != 1 || !strings.HasPrefix(got[0], "session=v2;") {
		t.Errorf("second Set: %q, want one cookie session=v2", got)
	}
	h.Add("Set-Cookie", "other=1") // a handler's own cookie after ours grows the slice away from spare
	s.Delete(h, spare[:])
	if got := h.Values("Set-Cookie"); len(got) != 2 || got[0] != "other=1" || !strings.Contains(got[1], "Max-Age=0") {
		t.Errorf("after Delete: %q", got)
	}
}

func TestNewIDLong(t *testing.T) {
	for _, n := range []int{1, 127, 128, 129, 200} {
		id := NewID(n)
		if !ValidID(id, n) {
			t.Errorf("NewID(%d) = %q is not valid", n, id)
		}
	}
}

func TestSignerSignAllocatesOnceForAnyLength(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("allocation counts need a non-race build (sync.Pool drops items under -race)")
	}
	s := NewSigner("k", nil)
	for n := 1; n <= 120; n++ {
		sid := strings.Repeat("a", n)
		s.Sign(sid)
		if a := testing.AllocsPerRun(20, func() { s.Sign(sid) }); a > 1 {
			t.Fatalf("sign of a %d-byte sid allocates %v times, want 1", n, a)
		}
	}
}

// The cached Expires text is the one of the time asked for, to the second,
// whatever the order of the times and their sub-second parts.
func TestHTTPDateCache(t *testing.T) {
	base := time.Date(2026, 4, 1, 11, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, 999 * time.Millisecond, time.Second, 0, -time.Second, 24 * time.Hour, 1500 * time.Millisecond} {
		at := base.Add(d).In(time.FixedZone("X", 3600))
		got := string(appendHTTPDate(nil, at))
		if want := at.UTC().Format(http.TimeFormat); got != want {
			t.Errorf("appendHTTPDate(%v) = %q, want %q", at, got, want)
		}
	}
	at := base.Add(time.Minute)
	appendHTTPDate(nil, at)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = appendHTTPDate(buf[:0], at) }); n != 0 {
		t.Errorf("a second already formatted allocates %v times", n)
	}
}

// The cached Expires text is shared by every request: goroutines formatting
// different seconds at once (either side of a second boundary, and before
// 1970, where a second's sub-second part counts down from the next) each get
// their own second's text.
func TestHTTPDateCacheConcurrent(t *testing.T) {
	base := time.Date(2026, 4, 1, 11, 0, 59, 0, time.UTC)
	times := []time.Time{
		base.Add(-time.Nanosecond), base, base.Add(999999999), base.Add(time.Second),
		time.Unix(-1, 1), time.Unix(-1, 999999999), time.Unix(0, 0), time.Unix(-2, 0),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [64]byte
			for i := range 2000 {
				at := times[(g+i)%len(times)]
				if got, want := string(appendHTTPDate(buf[:0], at)), at.UTC().Format(http.TimeFormat); got != want {
					t.Errorf("appendHTTPDate(%v) = %q, want %q", at, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
