package cookie

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"strings"
	"sync"
)

// signerSalt is the salt Flask-Session passes to itsdangerous' Signer
// (key_derivation="hmac"): the signing key is HMAC-SHA1(SECRET_KEY, salt).
const signerSalt = "flask-session"

// SigLen is the length of a signature: base64url without padding of a
// 20-byte HMAC-SHA1 digest.
const SigLen = 27 // base64.RawURLEncoding.EncodedLen(sha1.Size)

// Signer signs and verifies session ids the way Flask-Session 0.8 does with
// SESSION_USE_SIGNER (itsdangerous 2.x, HMAC-SHA1, key derivation "hmac",
// salt "flask-session"): the cookie value is sid + "." + sig where
// sig = base64url_nopad(HMAC-SHA1(HMAC-SHA1(secret, "flask-session"), sid)).
//
// Verification is strict: the signature must be exactly the 27 characters
// itsdangerous itself produces. Padding ("=") and non-zero unused bits in the
// last character, which Python's lenient base64 decoder tolerates, are
// rejected (see docs/configuration.md, "Strict signature parsing").
//
// A Signer is safe for concurrent use.
type Signer struct {
	// keys are the derived keys: the current one first, then the fallbacks
	// in the order given. Only keys[0] signs.
	keys [][]byte
	pool sync.Pool // of *sigState
}

// sigState is the per-call scratch space, pooled so that sign and unsign do
// not allocate beyond the returned string.
type sigState struct {
	macs []hash.Hash // one HMAC per derived key, same order as signer.keys
	buf  []byte      // the sid's bytes, fed to the HMAC
	sum  [sha1.Size]byte
	enc  [SigLen]byte
	got  [SigLen]byte
}

// NewSigner derives the signing keys from secret (SECRET_KEY) and fallbacks
// (SECRET_KEY_FALLBACKS). Empty fallbacks are ignored: an empty key would let
// anyone forge signatures. The secret itself is used as given; callers check
// that it is not empty (Options.Validate does).
func NewSigner(secret string, fallbacks []string) *Signer {
	s := &Signer{keys: [][]byte{deriveKey(secret)}}
	for _, f := range fallbacks {
		if f == "" {
			continue
		}
		s.keys = append(s.keys, deriveKey(f))
	}
	s.pool.New = func() any {
		st := &sigState{macs: make([]hash.Hash, len(s.keys)), buf: make([]byte, 0, 128)}
		for i, k := range s.keys {
			st.macs[i] = hmac.New(sha1.New, k)
		}
		return st
	}
	return s
}

// deriveKey is itsdangerous' "hmac" key derivation with Flask-Session's salt.
func deriveKey(secret string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(signerSalt))
	return m.Sum(nil)
}

// compute writes the encoded signature of st.buf under key i into st.enc.
func (st *sigState) compute(i int) {
	m := st.macs[i]
	m.Reset()
	m.Write(st.buf)
	base64.RawURLEncoding.Encode(st.enc[:], m.Sum(st.sum[:0]))
}

// Sign returns sid + "." + signature, signed with the current key.
func (s *Signer) Sign(sid string) string {
	st := s.pool.Get().(*sigState)
	st.buf = append(st.buf[:0], sid...)
	st.compute(0)
	var b strings.Builder
	b.Grow(len(sid) + 1 + SigLen)
	b.WriteString(sid)
	b.WriteByte('.')
	b.Write(st.enc[:])
	s.pool.Put(st)
	return b.String()
}

// Unsign verifies a cookie value made by Sign (or by Flask-Session) and
// returns the sid. Like itsdangerous, it splits at the last '.', so a legacy
// sid that contains dots still verifies. The signature is compared in
// constant time against the current key first, then each fallback. ok is
// false for a value without a '.', a signature that is not exactly the
// canonical 27 characters, or one that no key produced.
func (s *Signer) Unsign(value string) (sid string, ok bool) {
	dot := strings.LastIndexByte(value, '.')
	if dot < 0 || len(value)-dot-1 != SigLen {
		return "", false
	}
	sid, sig := value[:dot], value[dot+1:]
	st := s.pool.Get().(*sigState)
	st.buf = append(st.buf[:0], sid...)
	copy(st.got[:], sig)
	for i := range st.macs {
		st.compute(i)
		if hmac.Equal(st.enc[:], st.got[:]) {
			ok = true
			break
		}
	}
	s.pool.Put(st)
	if !ok {
		return "", false
	}
	return sid, true
}
