package cookie

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ginsession/ginsession/internal/race"
)

// signingVectors is the `signing` section of testdata/flask-session-0.8.0.json.
type signingVectors struct {
	Valid []struct {
		SecretKeyHex string `json:"secret_key_hex"`
		Sid          string `json:"sid"`
		Note         string `json:"note"`
		CookieValue  string `json:"cookie_value"`
		Signature    string `json:"signature"`
	} `json:"valid"`
	TamperBase struct {
		SecretKeyHex    string `json:"secret_key_hex"`
		Sid             string `json:"sid"`
		GoodCookieValue string `json:"good_cookie_value"`
	} `json:"tamper_base"`
	Tampered      []signingProbe `json:"tampered"`
	LenientProbes []signingProbe `json:"lenient_probes"`
}

type signingProbe struct {
	Label      string `json:"label"`
	CookieSent string `json:"cookie_sent"`
	Accepted   bool   `json:"accepted"`
}

func loadSigningVectors(t testing.TB) signingVectors {
	t.Helper()
	b, err := os.ReadFile("../../testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatalf("golden vectors: %v (copy /work/shared/vectors/flask-session-0.8.0.json to testdata/)", err)
	}
	var doc struct {
		Signing signingVectors `json:"signing"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Signing.Valid) == 0 || len(doc.Signing.Tampered) == 0 || len(doc.Signing.LenientProbes) == 0 {
		t.Fatal("signing section is incomplete")
	}
	return doc.Signing
}

func hexSecret(t testing.TB, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignerValidVectors(t *testing.T) {
	vec := loadSigningVectors(t)
	for _, v := range vec.Valid {
		t.Run(v.Note, func(t *testing.T) {
			s := NewSigner(hexSecret(t, v.SecretKeyHex), nil)
			if got := s.Sign(v.Sid); got != v.CookieValue {
				t.Errorf("sign(%q) = %q, want %q", v.Sid, got, v.CookieValue)
			}
			if !strings.HasSuffix(v.CookieValue, "."+v.Signature) {
				t.Fatalf("vector inconsistent: %q does not end in .%s", v.CookieValue, v.Signature)
			}
			sid, ok := s.Unsign(v.CookieValue)
			if !ok || sid != v.Sid {
				t.Errorf("unsign(%q) = %q, %v; want %q, true", v.CookieValue, sid, ok, v.Sid)
			}
		})
	}
}

func TestSignerTamperedVectors(t *testing.T) {
	vec := loadSigningVectors(t)
	s := NewSigner(hexSecret(t, vec.TamperBase.SecretKeyHex), nil)
	if got := s.Sign(vec.TamperBase.Sid); got != vec.TamperBase.GoodCookieValue {
		t.Fatalf("sign(tamper_base) = %q, want %q", got, vec.TamperBase.GoodCookieValue)
	}
	if sid, ok := s.Unsign(vec.TamperBase.GoodCookieValue); !ok || sid != vec.TamperBase.Sid {
		t.Fatalf("genuine cookie rejected")
	}
	for _, p := range vec.Tampered {
		t.Run(p.Label, func(t *testing.T) {
			if p.Accepted {
				t.Fatalf("vector says Flask accepted a tampered cookie")
			}
			if sid, ok := s.Unsign(p.CookieSent); ok {
				t.Errorf("unsign(%q) accepted sid %q", p.CookieSent, sid)
			}
		})
	}
}

// TestSignerLenientProbes pins the deliberate deviation: itsdangerous
// accepts a padded signature and non-zero unused bits in the last
// character; ginsession accepts only the canonical signature.
func TestSignerLenientProbes(t *testing.T) {
	vec := loadSigningVectors(t)
	s := NewSigner(hexSecret(t, vec.TamperBase.SecretKeyHex), nil)
	want := map[string]bool{ // label -> ginsession accepts
		"signature_last_char_unused_bits_changed": false, // Flask: accepted
		"signature_with_padding":                  false, // Flask: accepted
		"signature_with_invalid_char_inserted":    false, // Flask: rejected
	}
	for _, p := range vec.LenientProbes {
		t.Run(p.Label, func(t *testing.T) {
			w, known := want[p.Label]
			if !known {
				t.Fatalf("new lenient probe %q: decide whether to accept it", p.Label)
			}
			_, ok := s.Unsign(p.CookieSent)
			if ok != w {
				t.Errorf("unsign(%q) ok=%v, want %v (Flask: %v)", p.CookieSent, ok, w, p.Accepted)
			}
		})
	}
}

func TestSignerFallbacks(t *testing.T) {
	old := NewSigner("old-key", nil)
	cookie := old.Sign("abc")

	if _, ok := NewSigner("new-key", nil).Unsign(cookie); ok {
		t.Error("cookie signed with an old key verified without fallbacks")
	}
	if _, ok := NewSigner("new-key", []string{"other"}).Unsign(cookie); ok {
		t.Error("cookie verified with unrelated fallbacks")
	}
	s := NewSigner("new-key", []string{"", "older", "old-key"})
	if sid, ok := s.Unsign(cookie); !ok || sid != "abc" {
		t.Errorf("fallback: unsign = %q, %v; want abc, true", sid, ok)
	}
	// sign always uses the current key.
	if got, want := s.Sign("abc"), NewSigner("new-key", nil).Sign("abc"); got != want {
		t.Errorf("sign with fallbacks = %q, want current-key signature %q", got, want)
	}
	if got := s.Sign("abc"); got == cookie {
		t.Error("sign used a fallback key")
	}
	// A fallback never becomes the signing key, even when equal to nothing else.
	if _, ok := NewSigner("old-key", nil).Unsign(s.Sign("abc")); ok {
		t.Error("new-key signature verified under old-key")
	}
}

func TestSignerEmptyFallbacksIgnored(t *testing.T) {
	s := NewSigner("k", []string{"", ""})
	if len(s.keys) != 1 {
		t.Fatalf("derived %d keys, want 1 (empty fallbacks ignored)", len(s.keys))
	}
	forged := NewSigner("", nil).Sign("abc")
	if _, ok := s.Unsign(forged); ok {
		t.Error("signature under the empty key accepted")
	}
}

func TestSignerRejectsMalformed(t *testing.T) {
	s := NewSigner("test-secret", nil)
	good := s.Sign("sid")
	for _, v := range []string{
		"", ".", "sid", "sid.", good + "=", good + "==", good[:len(good)-1],
		strings.Replace(good, ".", ",", 1), good + "x", "." + good[4:],
		good[:len(good)-27] + strings.ToUpper(good[len(good)-27:]),
	} {
		if v == good {
			continue
		}
		if _, ok := s.Unsign(v); ok {
			t.Errorf("unsign(%q) accepted", v)
		}
	}
	// The sid part may be empty or contain dots, as with itsdangerous.
	for _, sid := range []string{"", "a.b.c", "x"} {
		if got, ok := s.Unsign(s.Sign(sid)); !ok || got != sid {
			t.Errorf("round trip %q: got %q, %v", sid, got, ok)
		}
	}
}

func TestSignerConcurrent(t *testing.T) {
	s := NewSigner("k", []string{"f1", "f2"})
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			ok := true
			for i := 0; i < 200; i++ {
				sid := NewID(32)
				got, good := s.Unsign(s.Sign(sid))
				ok = ok && good && got == sid
			}
			done <- ok
		}()
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("concurrent sign/unsign failed")
		}
	}
}

func TestSignerAllocs(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("allocation counts need a non-race build (sync.Pool drops items under -race)")
	}
	s := NewSigner("k", []string{"f1"})
	sid := NewID(32)
	cookie := s.Sign(sid)
	s.Unsign(cookie) // warm the pool
	if n := testing.AllocsPerRun(100, func() { s.Unsign(cookie) }); n > 0 {
		t.Errorf("unsign allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.Sign(sid) }); n > 1 {
		t.Errorf("sign allocates %v times per call, want 1", n)
	}
}

func BenchmarkSignerUnsign(b *testing.B) {
	s := NewSigner("test-secret", nil)
	cookie := s.Sign(NewID(32))
	b.ReportAllocs()
	for b.Loop() {
		s.Unsign(cookie)
	}
}

func BenchmarkSignerSign(b *testing.B) {
	s := NewSigner("test-secret", nil)
	sid := NewID(32)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(sid)
	}
}

func FuzzUnsign(f *testing.F) {
	vec := loadSigningVectors(f)
	f.Add(vec.TamperBase.GoodCookieValue)
	for _, p := range append(vec.Tampered, vec.LenientProbes...) {
		f.Add(p.CookieSent)
	}
	f.Add("")
	f.Add(".")
	s := NewSigner(hexSecret(f, vec.TamperBase.SecretKeyHex), []string{"fallback"})
	f.Fuzz(func(t *testing.T, v string) {
		sid, ok := s.Unsign(v)
		if !ok {
			if sid != "" {
				t.Fatalf("rejected value returned sid %q", sid)
			}
			return
		}
		// Anything accepted is exactly what sign produces (canonical).
		if got := s.Sign(sid); got != v {
			t.Fatalf("accepted non-canonical %q; canonical is %q", v, got)
		}
	})
}
