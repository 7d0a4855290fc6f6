package ginsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends/memstore"
	"github.com/ginsession/ginsession/internal/cookie"
)

// Fixed so that the committed seed corpus can name the genuine session.
var (
	fuzzGenuineSID = "ERERERERERERERERERERERERERERERERERERERERERE" // 32 bytes of 0x11
	fuzzSecret     = "fuzz-current-secret"
	fuzzFallback   = "fuzz-old-secret"
)

// FuzzCookieSID sends arbitrary Cookie headers (one line per "\n") through
// the whole load path of the middleware, with the signer off and on. It
// must never panic or fail the request, must load the genuine session only
// when the header carries its (validly signed) id, and must never adopt an
// id from the header that the store does not know.
func FuzzCookieSID(f *testing.F) {
	signed := cookie.NewSigner(fuzzSecret, nil).Sign(fuzzGenuineSID)
	for _, s := range []string{
		"", "session=", "session", "session=" + fuzzGenuineSID, "session=" + signed, `session="` + fuzzGenuineSID + `"`,
		"session=../../etc/passwd", "session=" + fuzzGenuineSID[:42], "session=" + fuzzGenuineSID + "A",
		"session=" + fuzzGenuineSID[:20] + "\x00" + fuzzGenuineSID[21:], "session=" + strings.Repeat("+/", 21) + "A",
		"session=" + fuzzGenuineSID[:42] + "R", "session=" + fuzzGenuineSID + "." + strings.Repeat("A", 27),
		"session=" + signed[:len(signed)-1], "session=" + signed + signed[43:], "session=" + signed + "=",
		"session=" + cookie.NewSigner(fuzzFallback, nil).Sign(fuzzGenuineSID), "a=b; session=" + fuzzGenuineSID + "; c=d",
		"session=x; session=" + fuzzGenuineSID, "session=x\nsession=" + fuzzGenuineSID, "session=\xff\xfe" + fuzzGenuineSID,
		"sessionx=" + fuzzGenuineSID, " session = " + fuzzGenuineSID, ";;;session=" + signed + ";;",
	} {
		f.Add(s)
	}
	type app struct {
		h      http.Handler
		mw     *Middleware
		cookie string // the genuine session's cookie value
	}
	var apps []app
	for _, opts := range []Options{{}, {UseSigner: true, SecretKey: fuzzSecret, SecretKeyFallbacks: []string{fuzzFallback}}} {
		mem := memstore.New(memstore.Options{})
		f.Cleanup(func() { mem.Close() })
		opts.Store = mem
		mw, err := NewMiddleware(opts)
		if err != nil {
			f.Fatal(err)
		}
		data, _ := msgpackCodec.Encode(nil, []entry{kv("x", "genuine")})
		if err := mem.Save(context.Background(), mw.key(fuzzGenuineSID), data, time.Hour); err != nil {
			f.Fatal(err)
		}
		r := gin.New()
		r.Use(mw.Handler())
		r.GET("/", func(c *gin.Context) {
			s := Default(c)
			v, _ := s.GetString("x")
			c.String(http.StatusOK, "%s %s %v", s.ID(), v, s.IsNew())
		})
		cookie := fuzzGenuineSID
		if mw.signer != nil {
			cookie = mw.signer.Sign(fuzzGenuineSID)
		}
		apps = append(apps, app{r, mw, cookie})
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, a := range apps {
			req := httptest.NewRequest("GET", "/", nil)
			if header != "" {
				req.Header["Cookie"] = strings.Split(header, "\n")
			}
			sid, ok := a.mw.engine.CookieSID(req)
			if ok && (!cookie.ValidID(sid, 32) || !strings.Contains(header, sid)) {
				t.Fatalf("cookieSID accepted %q from %q", sid, header)
			}
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d for %q", w.Code, header)
			}
			fields := strings.Fields(w.Body.String())
			if len(fields) == 0 {
				t.Fatalf("empty body for %q", header)
			}
			gotSID := fields[0]
			if gotSID == fuzzGenuineSID {
				if !ok || !strings.Contains(header, fuzzGenuineSID) {
					t.Fatalf("genuine session loaded from %q", header)
				}
				if w.Body.String() != fuzzGenuineSID+" genuine false" {
					t.Fatalf("genuine session: %q", w.Body.String())
				}
				continue
			}
			if !strings.HasSuffix(w.Body.String(), " true") || !cookie.ValidID(gotSID, 32) {
				t.Fatalf("not a fresh session for %q: %q", header, w.Body.String())
			}
			if strings.Contains(header, gotSID) {
				t.Fatalf("adopted the id %q from %q", gotSID, header)
			}
			if ok && sid == fuzzGenuineSID {
				t.Fatalf("a valid genuine id in %q did not load the session", header)
			}
		}
	})
}
