package cookie

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Spec is what a session cookie is set with: SESSION_COOKIE_NAME, DOMAIN,
// PATH, HTTPONLY, SECURE, SAMESITE and PARTITIONED. A deletion cookie
// carries the same attributes as the cookie it deletes, so that browsers
// that refuse to delete a SameSite=None or Partitioned cookie with other
// attributes still delete it.
type Spec struct {
	Name        string
	Domain      string
	Path        string
	HTTPOnly    bool
	Secure      bool
	SameSite    http.SameSite // Lax unless Strict or None
	Partitioned bool
}

// Set adds the Set-Cookie header for value (the sid, signed or not),
// replacing one an earlier call added. A zero expires makes a browser-session
// cookie (no Expires), Flask's non-permanent session. Attributes come in
// Werkzeug's order. When the response has no Set-Cookie yet, spare (of
// capacity 1 or more, owned by the caller for this response alone) holds the
// header's values, saving an allocation; it may be nil.
func (s *Spec) Set(h http.Header, value string, expires time.Time, spare []string) {
	var buf [48]byte
	expiry := buf[:0]
	if !expires.IsZero() {
		expiry = append(expiry, "; Expires="...)
		expiry = appendHTTPDate(expiry, expires)
	}
	s.add(h, value, expiry, spare)
}

// httpDate is one second's text in http.TimeFormat.
type httpDate struct {
	sec  int64
	text string
}

// lastDate is the last Expires formatted: every permanent session's cookie
// of the same second carries the same one, so it is formatted once a second.
var lastDate atomic.Pointer[httpDate]

// appendHTTPDate appends t, in UTC, in http.TimeFormat (to the second).
func appendHTTPDate(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return append(b, d.text...)
	}
	d := &httpDate{sec: sec, text: t.UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return append(b, d.text...)
}

// Delete adds the Set-Cookie header that expires the cookie, replacing one an
// earlier call added; spare is as for Set.
func (s *Spec) Delete(h http.Header, spare []string) {
	s.add(h, "", deletionExpiry, spare)
}

var deletionExpiry = []byte("; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")

// add adds the cookie name=value with the given expiry attributes (empty
// for a browser-session cookie).
func (s *Spec) add(h http.Header, value string, expiry []byte, spare []string) {
	var buf [256]byte
	b := buf[:0]
	b = append(b, s.Name...)
	b = append(b, '=')
	b = append(b, value...)
	if s.Domain != "" {
		b = append(b, "; Domain="...)
		b = append(b, s.Domain...)
	}
	b = append(b, expiry...)
	if s.Secure {
		b = append(b, "; Secure"...)
	}
	if s.HTTPOnly {
		b = append(b, "; HttpOnly"...)
	}
	b = append(b, "; Path="...)
	b = append(b, s.Path...)
	switch s.SameSite {
	case http.SameSiteStrictMode:
		b = append(b, "; SameSite=Strict"...)
	case http.SameSiteNoneMode:
		b = append(b, "; SameSite=None"...)
	default:
		b = append(b, "; SameSite=Lax"...)
	}
	if s.Partitioned {
		b = append(b, "; Partitioned"...)
	}
	cookies := h["Set-Cookie"]
	if cookies == nil {
		cookies = spare[:0]
	}
	for i := 0; i < len(cookies); i++ { // an earlier Save set it: replace
		if len(cookies[i]) > len(s.Name) && cookies[i][len(s.Name)] == '=' && strings.HasPrefix(cookies[i], s.Name) {
			cookies = append(cookies[:i], cookies[i+1:]...)
			i--
		}
	}
	h["Set-Cookie"] = append(cookies, string(b))
}
