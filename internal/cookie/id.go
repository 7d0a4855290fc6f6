// Package cookie holds what a session cookie is made of: session ids, the
// itsdangerous signer Flask-Session uses, reading the cookie from a request
// and building the Set-Cookie and Vary headers.
package cookie

import (
	"crypto/rand"
	"encoding/base64"
	"unsafe"
)

// NewID returns a new session id: n bytes from crypto/rand, base64url
// without padding (43 characters for the default 32 bytes), the format
// Flask-Session 0.8 uses (secrets.token_urlsafe(n)).
func NewID(n int) string {
	m := base64.RawURLEncoding.EncodedLen(n)
	b := make([]byte, m+n) // the id, then the random bytes it encodes: one allocation
	rand.Read(b[m:])       // never returns an error; crashes the program if the OS fails
	base64.RawURLEncoding.Encode(b[:m], b[m:])
	clear(b[m:])
	return unsafe.String(&b[0], m) // b is never written again
}

// ValidID reports whether s could have been made by NewID(n): exactly
// the encoded length of n bytes, only base64url characters [A-Za-z0-9_-]
// (no padding, no '.'), and canonical, meaning the unused low bits of the
// last character are zero, so exactly one string maps to each id.
func ValidID(s string, n int) bool {
	if n <= 0 || len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b64urlValue[s[i]] < 0 {
			return false
		}
	}
	// The last character carries 2 real bits (n%3 == 1) or 4 (n%3 == 2);
	// the rest must be zero.
	last := b64urlValue[s[len(s)-1]]
	switch n % 3 {
	case 1:
		return last&0x0f == 0
	case 2:
		return last&0x03 == 0
	}
	return true
}

// b64urlValue maps a byte to its base64url value, or -1.
var b64urlValue = func() (t [256]int8) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()
