package ginsession

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
)

// TestCookieAttributesOnSetRefreshAndDelete checks HttpOnly, Secure,
// SameSite and Partitioned on the cookie that creates a session, the one
// that refreshes it, and the one that deletes it: all three carry the same
// attributes (Flask drops some on deletion; browsers may then ignore it).
func TestCookieAttributesOnSetRefreshAndDelete(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        Options
		httpOnly    bool
		secure      bool
		sameSite    http.SameSite
		partitioned bool
	}{
		{"defaults", Options{}, true, false, http.SameSiteLaxMode, false},
		{"strict and secure", Options{CookieSameSite: http.SameSiteStrictMode, CookieSecure: true}, true, true, http.SameSiteStrictMode, false},
		{"none, secure, partitioned", Options{CookieSameSite: http.SameSiteNoneMode, CookieSecure: true, CookiePartitioned: true}, true, true, http.SameSiteNoneMode, true},
		{"HttpOnly off", Options{CookieNoHTTPOnly: true}, false, false, http.SameSiteLaxMode, false},
		{"explicit Lax, secure", Options{CookieSameSite: http.SameSiteLaxMode, CookieSecure: true}, true, true, http.SameSiteLaxMode, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, tc.opts, false, sessionRoutes)
			check := func(what string, w interface{ Header() http.Header }, deletion bool) string {
				t.Helper()
				raw := w.Header().Get("Set-Cookie")
				c, err := http.ParseSetCookie(raw)
				if err != nil {
					t.Fatalf("%s: %q: %v", what, raw, err)
				}
				if c.HttpOnly != tc.httpOnly || c.Secure != tc.secure || c.SameSite != tc.sameSite || c.Partitioned != tc.partitioned || c.Path != "/" {
					t.Errorf("%s cookie %q: HttpOnly=%v Secure=%v SameSite=%v Partitioned=%v Path=%q; want %v %v %v %v /",
						what, raw, c.HttpOnly, c.Secure, c.SameSite, c.Partitioned, c.Path, tc.httpOnly, tc.secure, tc.sameSite, tc.partitioned)
				}
				if deletion != (c.MaxAge < 0 && c.Value == "") {
					t.Errorf("%s cookie %q: deletion=%v", what, raw, c.MaxAge < 0)
				}
				return c.Name + "=" + c.Value
			}
			ck := check("set", a.do("GET", "/set?v=1", ""), false)
			if got := check("refresh", a.do("GET", "/get", ck), false); got != ck {
				t.Errorf("refresh changed the cookie: %q -> %q", ck, got)
			}
			check("delete", a.do("GET", "/clear", ck), true)
		})
	}
}

// TestSessionFixation: an attacker who plants an id in the victim's
// browser, whether made up or a real session of the attacker's own, never
// shares the victim's logged-in session.
func TestSessionFixation(t *testing.T) {
	routes := func(r *gin.Engine) {
		r.GET("/visit", func(c *gin.Context) { Default(c).Set("visited", true) })
		r.GET("/login", func(c *gin.Context) {
			s := Default(c)
			if err := s.Regenerate(); err != nil { // the documented login step
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			s.Set("user", "victim")
		})
		r.GET("/whoami", func(c *gin.Context) {
			u, _ := Default(c).GetString("user")
			c.String(http.StatusOK, u)
		})
	}
	for _, signed := range []bool{false, true} {
		opts := Options{}
		if signed {
			opts = Options{UseSigner: true, SecretKey: "k"}
		}
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			a := newTestApp(t, opts, false, routes)

			// A made-up id is never adopted: the victim gets a fresh one.
			planted := cookie.NewID(32)
			if a.mw.signer != nil {
				planted = a.mw.signer.Sign(planted) // even a validly signed one
			}
			w := a.do("GET", "/login", "session="+planted)
			got := cookieOf(w, "session")
			if got == "" || strings.Contains(got, strings.SplitN(planted, ".", 2)[0]) {
				t.Fatalf("planted id adopted: %q", got)
			}

			// The attacker's own real session, planted: login moves the
			// victim to a new id, and the planted one leads nowhere.
			attacker := cookieOf(a.do("GET", "/visit", ""), "session")
			w = a.do("GET", "/login", attacker)
			victim := cookieOf(w, "session")
			if victim == "" || victim == attacker {
				t.Fatalf("login kept the planted id: %q", victim)
			}
			if body := a.do("GET", "/whoami", victim).Body.String(); body != "victim" {
				t.Fatalf("victim not logged in: %q", body)
			}
			w = a.do("GET", "/whoami", attacker)
			if body := w.Body.String(); body != "" {
				t.Fatalf("the attacker's planted id reaches the victim's session: %q", body)
			}
			sid := strings.SplitN(strings.TrimPrefix(attacker, "session="), ".", 2)[0]
			if _, ok := a.stored(sid); ok {
				t.Fatal("the planted session's entry survived the login")
			}
		})
	}
}
