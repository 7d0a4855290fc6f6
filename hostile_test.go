package ginsession

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
)

// hostileOutcome is what a hostile request must get.
type hostileOutcome int

const (
	// fresh: 200, an empty session under a new id that appears nowhere in
	// the request, the genuine session untouched.
	fresh hostileOutcome = iota
	// loaded: 200 and the genuine session's value.
	loaded
	// refused: the ErrorHandler's 503, the stored value intact.
	refused
)

func (o hostileOutcome) String() string { return [...]string{"fresh", "loaded", "refused"}[o] }

// hostileEnv is one case's app with a genuine session in it.
type hostileEnv struct {
	a       *testApp
	sid     string // the genuine session's id
	cookie  string // its cookie value (signed when the signer is on)
	encoded []byte // the genuine session's stored value
}

// plant stores data under a valid, unknown sid and returns its cookie value.
func (e *hostileEnv) plant(t *testing.T, data []byte) string {
	sid := cookie.NewID(32)
	if err := e.a.mem.Save(t.Context(), e.a.mw.key(sid), data, time.Hour); err != nil {
		t.Fatal(err)
	}
	if e.a.mw.signer != nil {
		return e.a.mw.signer.Sign(sid)
	}
	return sid
}

func mustEncode(t *testing.T, c codec, entries ...entry) []byte {
	b, err := c.Encode(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nested returns msgpack for {"x": [[[...]]]} with depth arrays.
func nested(depth int) []byte {
	b := []byte{0x81, 0xa1, 'x'}
	b = append(b, bytes.Repeat([]byte{0x91}, depth-1)...)
	return append(b, 0x90)
}

// flipLast changes the last base64url character of s to another one that
// decodes to the same bytes when the unused bits are ignored.
func flipLast(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[v^1])
}

func TestHostileInput(t *testing.T) {
	signer := Options{UseSigner: true, SecretKey: "current-secret", SecretKeyFallbacks: []string{"old-secret"}}
	encrypted := Options{EncryptionKey: testKey(3)}
	over := Options{MaxSize: 200}
	jsonMode := Options{SerializationFormat: "json"}
	cases := []struct {
		name string
		opts Options
		// headers returns the request's Cookie header lines.
		headers func(t *testing.T, e *hostileEnv) []string
		want    hostileOutcome
		loads   int64 // store loads the request may make
		path    string
	}{
		// The cookie itself.
		{name: "no cookie", headers: func(*testing.T, *hostileEnv) []string { return nil }, want: fresh},
		{name: "empty value", headers: cookieLine("session="), want: fresh},
		{name: "name without value", headers: cookieLine("session"), want: fresh},
		{name: "8 KB value", headers: cookieLine("session=" + strings.Repeat("A", 8<<10)), want: fresh},
		{name: "genuine after 8 KB of other cookies", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"junk=" + strings.Repeat("j", 8<<10) + "; session=" + e.cookie}
		}, want: loaded, loads: 1},
		{name: "not UTF-8", headers: cookieLine("session=\xff\xfe\xfd" + strings.Repeat("\x80", 40)), want: fresh},
		{name: "control characters", headers: cookieLine("session=\x01\x02\x7f" + strings.Repeat("a", 40)), want: fresh},
		{name: "repeated header, forged first", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + cookie.NewID(32)[:40], "session=" + e.cookie}
		}, want: fresh},
		{name: "repeated header, genuine first", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie, "session=garbage"}
		}, want: loaded, loads: 1},
		{name: "repeated name, forged first", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=../x; session=" + e.cookie}
		}, want: fresh},
		{name: "repeated name, genuine first", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie + "; session=../x"}
		}, want: loaded, loads: 1},
		{name: "quoted value", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{`session="` + e.cookie + `"`}
		}, want: loaded, loads: 1},
		{name: "half-quoted value", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{`session="` + e.cookie}
		}, want: fresh},
		{name: "name is a prefix of another", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"sessionx=" + e.cookie + "; xsession=" + e.cookie}
		}, want: fresh},
		{name: "space before =", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session =" + e.cookie}
		}, want: fresh},

		// The session id.
		{name: "sid with ../", headers: cookieLine("session=../../../../etc/passwd"), want: fresh},
		{name: "sid of the right length with ../", headers: cookieLine("session=../" + cookie.NewID(32)[3:]), want: fresh},
		{name: "sid with NUL", headers: func(*testing.T, *hostileEnv) []string {
			s := cookie.NewID(32)
			return []string{"session=" + s[:20] + "\x00" + s[21:]}
		}, want: fresh},
		{name: "sid one character short", headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid[:42]} }, want: fresh},
		{name: "sid one character long", headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid + "A"} }, want: fresh},
		{name: "sid in standard base64 (+/)", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + strings.NewReplacer("-", "+", "_", "/").Replace(e.sid[:41]) + "+/"}
		}, want: fresh},
		{name: "sid with padding", headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid[:42] + "="} }, want: fresh},
		{name: "sid with non-canonical last character", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + flipLast(e.sid)}
		}, want: fresh},
		{name: "sid with a dot", headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid[:42] + "."} }, want: fresh},
		{name: "well-formed unknown sid is not adopted", headers: cookieLine("session=" + cookie.NewID(32)), want: fresh, loads: 1},

		// Signatures (SESSION_USE_SIGNER).
		{name: "signed: genuine", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.cookie} }, want: loaded, loads: 1},
		{name: "signed: unsigned sid", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid} }, want: fresh},
		{name: "signed: forged signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.sid + "." + strings.Repeat("A", cookie.SigLen)}
		}, want: fresh},
		{name: "signed: truncated signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie[:len(e.cookie)-1]}
		}, want: fresh},
		{name: "signed: doubled signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie + e.cookie[len(e.sid):]}
		}, want: fresh},
		{name: "signed: padded signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie + "="}
		}, want: fresh},
		{name: "signed: non-canonical signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + flipLast(e.cookie)}
		}, want: fresh},
		{name: "signed: empty signature", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.sid + "."} }, want: fresh},
		{name: "signed: signature of another sid", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			other := e.a.mw.signer.Sign(cookie.NewID(32))
			return []string{"session=" + e.sid + other[strings.LastIndexByte(other, '.'):]}
		}, want: fresh},
		{name: "signed: old key in SECRET_KEY_FALLBACKS", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + cookie.NewSigner("old-secret", nil).Sign(e.sid)}
		}, want: loaded, loads: 1},
		{name: "signed: old key not in SECRET_KEY_FALLBACKS", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + cookie.NewSigner("older-secret", nil).Sign(e.sid)}
		}, want: fresh},
		{name: "signed: signature with the raw secret (no key derivation)", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			m := hmac.New(sha1.New, []byte("current-secret"))
			m.Write([]byte(e.sid))
			return []string{"session=" + e.sid + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))}
		}, want: fresh},
		{name: "signed: well-formed unknown sid", opts: signer, headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.a.mw.signer.Sign(cookie.NewID(32))}
		}, want: fresh, loads: 1},

		// Stored values.
		{name: "stored garbage", headers: planted([]byte("\x00\x01garbage\xff")), want: fresh, loads: 1},
		{name: "stored empty value", headers: planted([]byte{}), want: fresh, loads: 1},
		{name: "stored truncated msgpack", headers: func(t *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.plant(t, e.encoded[:len(e.encoded)-1])}
		}, want: fresh, loads: 1},
		{name: "stored 100 levels deep", headers: planted(nested(100)), want: fresh, loads: 1},
		{name: "stored pickle", headers: planted([]byte("\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01x\x94\x8c\x06pickle\x94u.")), want: fresh, loads: 1},
		{name: "stored msgpack nil", headers: planted([]byte{0xc0}), want: fresh, loads: 1},
		{name: "stored msgpack array", headers: planted([]byte{0x92, 0x01, 0x02}), want: fresh, loads: 1},
		{name: "stored JSON under msgpack mode", headers: func(t *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.plant(t, []byte(`{"_permanent":true,"x":"genuine"}`))}
		}, want: loaded, loads: 1},
		{name: "stored msgpack under JSON mode", opts: jsonMode, headers: func(t *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.plant(t, mustEncode(t, msgpackCodec, kv("x", "genuine")))}
		}, want: loaded, loads: 1},
		{name: "stored JSON null under JSON mode", opts: jsonMode, headers: planted([]byte("null")), want: fresh, loads: 1},

		// Size and encryption.
		{name: "session over MaxSize", opts: over, path: "/big", headers: func(_ *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.cookie}
		}, want: refused, loads: 1},
		{name: "encrypted: genuine", opts: encrypted, headers: func(_ *testing.T, e *hostileEnv) []string { return []string{"session=" + e.cookie} }, want: loaded, loads: 1},
		{name: "encrypted: plaintext stored value", opts: encrypted, headers: func(t *testing.T, e *hostileEnv) []string {
			return []string{"session=" + e.plant(t, mustEncode(t, msgpackCodec, kv("x", "genuine")))}
		}, want: fresh, loads: 1},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var handled error
			opts := tc.opts
			opts.ErrorHandler = func(c *gin.Context, err error) {
				handled = err
				c.String(http.StatusServiceUnavailable, "unavailable")
			}
			a := newTestApp(t, opts, false, func(r *gin.Engine) {
				r.GET("/set", func(c *gin.Context) { Default(c).Set("x", "genuine") })
				r.GET("/probe", func(c *gin.Context) {
					s := Default(c)
					v, _ := s.Get("x")
					s.Set("seen", true)
					c.String(http.StatusOK, "%v", v)
				})
				r.GET("/big", func(c *gin.Context) {
					Default(c).Set("x", strings.Repeat("b", 400))
					c.String(http.StatusOK, "written")
				})
			})
			w := a.do("GET", "/set", "")
			e := &hostileEnv{a: a, cookie: strings.TrimPrefix(cookieOf(w, "session"), "session=")}
			e.sid, _, _ = strings.Cut(e.cookie, ".")
			e.encoded, _ = a.stored(e.sid)

			headers := tc.headers(t, e)
			path := tc.path
			if path == "" {
				path = "/probe"
			}
			req := httptest.NewRequest("GET", path, nil)
			for _, h := range headers {
				req.Header.Add("Cookie", h)
			}
			loadsBefore := a.count.lvs.Load() + a.count.loads.Load()
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				a.engine.ServeHTTP(rec, req)
			}()
			if n := a.count.lvs.Load() + a.count.loads.Load() - loadsBefore; n != tc.loads {
				t.Errorf("store loads = %d, want %d", n, tc.loads)
			}
			got := cookieOf(rec, "session")
			switch tc.want {
			case fresh:
				if rec.Code != http.StatusOK || rec.Body.String() != "<nil>" {
					t.Fatalf("got %d %q, want 200 and an empty session", rec.Code, rec.Body.String())
				}
				newSid, _, _ := strings.Cut(strings.TrimPrefix(got, "session="), ".")
				if newSid == "" || !cookie.ValidID(newSid, 32) {
					t.Fatalf("no fresh session cookie: %q", rec.Header().Get("Set-Cookie"))
				}
				for _, h := range headers {
					if strings.Contains(h, newSid) {
						t.Fatalf("the new id %q came from the request", newSid)
					}
				}
			case loaded:
				if rec.Code != http.StatusOK || rec.Body.String() != "genuine" {
					t.Fatalf("got %d %q, want the genuine session", rec.Code, rec.Body.String())
				}
			case refused:
				if rec.Code != http.StatusServiceUnavailable || !errors.Is(handled, ErrTooLarge) {
					t.Fatalf("got %d %q (handler got %v), want the ErrorHandler's 503 with ErrTooLarge", rec.Code, rec.Body.String(), handled)
				}
				if got != "" {
					t.Fatalf("a refused write set a cookie: %q", got)
				}
			}
			// The genuine session is intact whatever happened.
			if data, ok := a.stored(e.sid); !ok || !bytes.Equal(data, e.encoded) && tc.want != loaded {
				t.Fatalf("genuine session damaged: %q %v", data, ok)
			}
		})
	}
}

func cookieLine(h string) func(*testing.T, *hostileEnv) []string {
	return func(*testing.T, *hostileEnv) []string { return []string{h} }
}

func planted(data []byte) func(*testing.T, *hostileEnv) []string {
	return func(t *testing.T, e *hostileEnv) []string { return []string{"session=" + e.plant(t, data)} }
}
