package cookie

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestSIDFormat(t *testing.T) {
	for _, n := range []int{16, 17, 18, 32, 33, 64, 96} {
		sid := NewID(n)
		if want := base64.RawURLEncoding.EncodedLen(n); len(sid) != want {
			t.Errorf("NewID(%d) has %d characters, want %d", n, len(sid), want)
		}
		if !ValidID(sid, n) {
			t.Errorf("ValidID(NewID(%d)=%q) = false", n, sid)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(sid)
		if err != nil || len(b) != n {
			t.Errorf("NewID(%d) = %q does not decode strictly to %d bytes: %v", n, sid, n, err)
		}
	}
	if got := len(NewID(32)); got != 43 {
		t.Errorf("default sid has %d characters, want 43", got)
	}
}

func TestSIDUnique(t *testing.T) {
	seen := make(map[string]bool, 10000)
	for i := 0; i < 10000; i++ {
		sid := NewID(32)
		if seen[sid] {
			t.Fatalf("duplicate sid %q after %d", sid, i)
		}
		seen[sid] = true
	}
}

func TestValidSID(t *testing.T) {
	good := "5pHU-_vYko2TupI-GszO-0zoH8meYn8C9N_kFcghmsk" // from the golden vectors
	if !ValidID(good, 32) {
		t.Fatalf("ValidID(%q, 32) = false", good)
	}
	if !ValidID("Gt7spoPBa6lGES0T0Lb1Nw", 16) {
		t.Error("16-byte vector sid rejected")
	}
	if !ValidID("DHHlzwZYU3K7RQ9dqMV2WWwqnjOuGLu5vIRPOrqCRONpU0Ksbo6O7zCGu2WPlbDx6nVlSg_xC5eh5py-ao3vLQ", 64) {
		t.Error("64-byte vector sid rejected")
	}
	bad := map[string]string{
		"empty":             "",
		"short":             good[:42],
		"long":              good + "A",
		"wrong n":           "Gt7spoPBa6lGES0T0Lb1Nw",
		"dot":               good[:20] + "." + good[21:],
		"padding":           good[:42] + "=",
		"slash":             good[:10] + "/" + good[11:],
		"plus":              good[:10] + "+" + good[11:],
		"NUL":               good[:10] + "\x00" + good[11:],
		"non-ASCII":         good[:40] + "é", // 2 bytes: same length
		"space":             good[:10] + " " + good[11:],
		"non-canonical":     good[:42] + "l", // 'k'=36 is canonical; 'l'=37 sets an unused bit
		"non-canonical 2":   good[:42] + "n",
		"signed":            good + ".sig",
		"legacy uuid":       "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		"dotted legacy sid": "legacy.sid.with.dots",
	}
	for name, s := range bad {
		if ValidID(s, 32) {
			t.Errorf("%s: ValidID(%q, 32) = true", name, s)
		}
	}
	// n%3 == 1: the last character carries 2 bits, 4 unused.
	sid := NewID(16)
	if !strings.ContainsAny(sid[21:], "AQgw") {
		t.Errorf("16-byte sid %q ends in a non-canonical character", sid)
	}
	if ValidID(sid[:21]+"B", 16) {
		t.Error("non-canonical 16-byte sid accepted")
	}
	if ValidID(good, 0) || ValidID("", 0) || ValidID(good, -1) {
		t.Error("n <= 0 accepted")
	}
}

func TestValidSIDMatchesStrictDecoder(t *testing.T) {
	// Every canonical/non-canonical last character, checked against
	// encoding/base64's strict decoder.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, n := range []int{16, 17, 18} {
		base := NewID(n)
		for i := 0; i < len(alphabet); i++ {
			s := base[:len(base)-1] + alphabet[i:i+1]
			_, err := base64.RawURLEncoding.Strict().DecodeString(s)
			if got, want := ValidID(s, n), err == nil; got != want {
				t.Errorf("n=%d %q: validSID=%v, strict decoder ok=%v", n, s, got, want)
			}
		}
	}
}

func BenchmarkNewSID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewID(32)
	}
}

func BenchmarkValidSID(b *testing.B) {
	sid := NewID(32)
	for b.Loop() {
		ValidID(sid, 32)
	}
}
