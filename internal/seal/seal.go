// Package seal encrypts stored session values at rest (AES-256-GCM, bound to
// the store key), for SESSION_ENCRYPTION_KEY.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeyLen is the size of an encryption key: AES-256.
const KeyLen = 32

// KeyWant describes the accepted forms of SESSION_ENCRYPTION_KEY.
const KeyWant = "32 bytes (AES-256) as base64 (standard or URL alphabet, padding optional) or as 64 hex digits, e.g. the output of `openssl rand -base64 32`"

// Magic starts every encrypted value: "GSE" (ginsession encrypted)
// and the format version. No msgpack or JSON session starts with it.
const Magic = "GSE\x01"

// Format of an encrypted value (version 1):
//
//	"GSE\x01" || nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes)
//
// The additional authenticated data is the store key (KeyPrefix + sid), so
// a value copied to another key does not decrypt. The overhead is 32 bytes.
const Overhead = len(Magic) + 12 + 16

// ErrNotSealed and ErrUnsealable describe values that cannot be decrypted.
var (
	ErrNotSealed  = errors.New("stored value is not encrypted, but SESSION_ENCRYPTION_KEY is set")
	ErrUnsealable = errors.New("stored value does not decrypt with SESSION_ENCRYPTION_KEY or a fallback (wrong key or tampered)")
)

// Sealer encrypts and decrypts stored values with AES-256-GCM. The first
// AEAD is the current key; the others are fallbacks, used only to open.
// Nonces are 96 random bits per value (cipher.NewGCMWithRandomNonce): keep
// well under 2^32 writes per key, i.e. rotate the key every few billion
// session writes. A Sealer is safe for concurrent use.
type Sealer struct {
	aeads []cipher.AEAD
}

// New builds a sealer from the current key and its fallbacks, each of
// KeyLen bytes.
func New(key []byte, fallbacks [][]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{key}, fallbacks...) {
		if len(k) != KeyLen {
			return nil, fmt.Errorf("encryption key %d is %d bytes, want %d", i, len(k), KeyLen)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// Seal encrypts plaintext for the store key with the current key.
func (s *Sealer) Seal(key string, plaintext []byte) []byte {
	out := make([]byte, len(Magic), len(plaintext)+Overhead)
	copy(out, Magic)
	return s.aeads[0].Seal(out, nil, plaintext, []byte(key))
}

// Open decrypts a value sealed for the store key. old reports that a
// fallback key opened it, so the value should be rewritten with the
// current key.
func (s *Sealer) Open(key string, sealed []byte) (plaintext []byte, old bool, err error) {
	if len(sealed) < Overhead || string(sealed[:len(Magic)]) != Magic {
		return nil, false, ErrNotSealed
	}
	body := sealed[len(Magic):]
	for i, aead := range s.aeads {
		if p, err := aead.Open(nil, nil, body, []byte(key)); err == nil {
			return p, i > 0, nil
		}
	}
	return nil, false, ErrUnsealable
}

// ParseKey decodes SESSION_ENCRYPTION_KEY: 64 hex digits, or
// base64 in the standard or URL alphabet with or without padding, of
// exactly 32 bytes. Surrounding spaces are ignored.
func ParseKey(v string) ([]byte, bool) {
	v = strings.TrimSpace(v)
	if len(v) == 2*KeyLen {
		if k, err := hex.DecodeString(v); err == nil {
			return k, true
		}
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.Strict().DecodeString(v); err == nil && len(k) == KeyLen {
			return k, true
		}
	}
	return nil, false
}
