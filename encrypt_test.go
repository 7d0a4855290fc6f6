package ginsession

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeyLen) }

// secondApp is another middleware over a's store, as another instance (or
// a redeploy with new keys) would be.
func secondApp(t *testing.T, a *testApp, opts Options) *testApp {
	t.Helper()
	opts.Store = a.mw.opts.Store
	mw, err := NewMiddleware(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	sessionRoutes(r)
	return &testApp{t: t, engine: r, mw: mw, mem: a.mem, count: a.count}
}

func TestEncryptionRoundTrip(t *testing.T) {
	for _, format := range []string{"msgpack", "json"} {
		t.Run(format, func(t *testing.T) {
			a := newTestApp(t, Options{EncryptionKey: testKey(1), SerializationFormat: format}, false, sessionRoutes)
			ck := cookieOf(a.do("GET", "/set?v=top-secret-value", ""), "session")
			data, ok := a.stored(sidOf(ck))
			if !ok || !bytes.HasPrefix(data, []byte(seal.Magic)) {
				t.Fatalf("stored value is not sealed: %q", data)
			}
			if bytes.Contains(data, []byte("top-secret")) || bytes.Contains(data, []byte("_permanent")) {
				t.Fatal("plaintext visible in the store")
			}
			if body := a.do("GET", "/get", ck).Body.String(); body != "top-secret-value" {
				t.Fatalf("round trip: %q", body)
			}
			// In-place change detection still works (it compares plaintext).
			a.do("GET", "/append", ck)
			sifs := a.count.sifs.Load()
			a.do("GET", "/append", ck)
			if a.count.sifs.Load() == sifs {
				t.Fatal("in-place change not saved under encryption")
			}
			if body := a.do("GET", "/getlist", ck).Body.String(); body != "[changed-in-place]" {
				t.Fatalf("%q", body)
			}
			// An unchanged session is still only touched.
			sifs, saves := a.count.sifs.Load(), a.count.saves.Load()
			a.do("GET", "/get", ck)
			if a.count.sifs.Load() != sifs || a.count.saves.Load() != saves {
				t.Fatal("an unchanged encrypted session was rewritten")
			}
		})
	}
}

// TestEncryptionBadValuesGiveFreshSession: tampered, wrong-key, plaintext,
// truncated and moved values are all treated as missing: 200, a fresh sid,
// the bad entry left alone and never a 500.
func TestEncryptionBadValuesGiveFreshSession(t *testing.T) {
	a := newTestApp(t, Options{EncryptionKey: testKey(1)}, false, sessionRoutes)
	ck := cookieOf(a.do("GET", "/set?v=orig", ""), "session")
	sealed, _ := a.stored(sidOf(ck))
	plain, _ := msgpackCodec.Encode(nil, []entry{kv("x", "plain")})
	wrong, _ := seal.New(testKey(9), nil)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	other := cookie.NewID(32)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"tampered ciphertext", flip(len(sealed) / 2)},
		{"tampered tag", flip(len(sealed) - 1)},
		{"tampered nonce", flip(len(seal.Magic))},
		{"tampered magic", flip(0)},
		{"truncated", sealed[:len(sealed)-1]},
		{"magic only", []byte(seal.Magic)},
		{"plaintext", plain},
		{"wrong key", wrong.Seal(a.mw.key(other), plain)},
		{"sealed for another key", sealed}, // copied from ck's entry to another sid
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.mem.Save(t.Context(), a.mw.key(other), tc.data, 3600e9)
			w := a.do("GET", "/get", "session="+other)
			if w.Code != 200 || w.Body.String() != "<nil>" {
				t.Fatalf("got %d %q, want 200 and an empty session", w.Code, w.Body.String())
			}
			w = a.do("GET", "/set?v=new", "session="+other)
			if nck := cookieOf(w, "session"); nck == "" || strings.Contains(nck, other) {
				t.Fatalf("want a fresh sid, got %q", nck)
			}
		})
	}
	if body := a.do("GET", "/get", ck).Body.String(); body != "orig" {
		t.Fatalf("genuine session damaged: %q", body)
	}
}

func TestEncryptionKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	a := newTestApp(t, Options{EncryptionKey: oldKey}, false, sessionRoutes)
	ck := cookieOf(a.do("GET", "/set?v=rotate-me", ""), "session")
	sid := sidOf(ck)

	// Deploy with a new key and the old one as a fallback.
	b := secondApp(t, a, Options{EncryptionKey: newKey, EncryptionKeyFallbacks: [][]byte{oldKey}})
	sifs := a.count.sifs.Load()
	if body := b.do("GET", "/get", ck).Body.String(); body != "rotate-me" {
		t.Fatalf("value under the fallback key not readable: %q", body)
	}
	if a.count.sifs.Load() != sifs+1 {
		t.Fatalf("read with the old key must rewrite once, got %d writes", a.count.sifs.Load()-sifs)
	}
	data, _ := a.stored(sid)
	onlyNew, _ := seal.New(newKey, nil)
	if _, _, err := onlyNew.Open(a.mw.key(sid), data); err != nil {
		t.Fatalf("not rewritten with the current key: %v", err)
	}
	// Now current: no more rewrites.
	sifs = a.count.sifs.Load()
	b.do("GET", "/get", ck)
	if a.count.sifs.Load() != sifs {
		t.Fatal("a value under the current key was rewritten")
	}
	// Once the fallback is dropped, the old key's values are gone but the
	// rotated one still reads.
	c := secondApp(t, a, Options{EncryptionKey: newKey})
	if body := c.do("GET", "/get", ck).Body.String(); body != "rotate-me" {
		t.Fatalf("rotated value unreadable without the fallback: %q", body)
	}
	d := secondApp(t, a, Options{EncryptionKey: testKey(3)})
	if body := d.do("GET", "/get", ck).Body.String(); body != "<nil>" {
		t.Fatalf("wrong key read a session: %q", body)
	}
}

func TestSealerNonceUniqueness(t *testing.T) {
	s, err := seal.New(testKey(7), nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("same plaintext every time")
	seen := map[string]bool{}
	const nonceLen = 12
	for range 10000 {
		v := s.Seal("session:k", plain)
		if len(v) != len(plain)+seal.Overhead {
			t.Fatalf("length %d, want %d", len(v), len(plain)+seal.Overhead)
		}
		nonce := string(v[len(seal.Magic) : len(seal.Magic)+nonceLen])
		if seen[nonce] {
			t.Fatal("nonce reused")
		}
		seen[nonce] = true
		if p, old, err := s.Open("session:k", v); err != nil || old || !bytes.Equal(p, plain) {
			t.Fatalf("open: %q %v %v", p, old, err)
		}
	}
}

func TestEncryptionKeyParsing(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	for _, in := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)), " " + hex.EncodeToString(raw) + "\n",
	} {
		if k, ok := seal.ParseKey(in); !ok || !bytes.Equal(k, raw) {
			t.Errorf("seal.ParseKey(%q) = %x %v", in, k, ok)
		}
	}
	for _, in := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16]), base64.StdEncoding.EncodeToString(append(raw, 1)),
		hex.EncodeToString(raw)[:63] + "g", "a passphrase is not a key, however long it is!!"} {
		if k, ok := seal.ParseKey(in); ok {
			t.Errorf("seal.ParseKey(%q) accepted %x", in, k)
		}
	}

	k1, k2 := base64.StdEncoding.EncodeToString(testKey(1)), hex.EncodeToString(testKey(2))
	o, err := OptionsFromLookup(envMap{"SESSION_ENCRYPTION_KEY": k1, "SESSION_ENCRYPTION_KEY_FALLBACKS": k2 + ", " + k1}.lookup, "")
	if err != nil || !bytes.Equal(o.EncryptionKey, testKey(1)) || len(o.EncryptionKeyFallbacks) != 2 || !bytes.Equal(o.EncryptionKeyFallbacks[0], testKey(2)) {
		t.Fatalf("env: %x %x %v", o.EncryptionKey, o.EncryptionKeyFallbacks, err)
	}
	for _, env := range []envMap{
		{"SESSION_ENCRYPTION_KEY": "not-a-key-but-a-secret"},
		{"SESSION_ENCRYPTION_KEY": k1, "SESSION_ENCRYPTION_KEY_FALLBACKS": k2 + ",oops-secret"},
		{"SESSION_ENCRYPTION_KEY_FALLBACKS": k2},
	} {
		_, err := OptionsFromLookup(env.lookup, "")
		if err == nil {
			t.Errorf("%v accepted", env)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), k2) {
			t.Errorf("key material echoed: %v", err)
		}
	}
	for _, o := range []Options{
		{Type: "memory", EncryptionKey: []byte("sixteen byte key")},
		{Type: "memory", EncryptionKey: testKey(1), EncryptionKeyFallbacks: [][]byte{[]byte("x")}},
		{Type: "memory", EncryptionKeyFallbacks: [][]byte{testKey(1)}},
	} {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "Encryption") {
			t.Errorf("Validate accepted %x / %x: %v", o.EncryptionKey, o.EncryptionKeyFallbacks, err)
		}
	}
}
