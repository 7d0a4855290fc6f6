package ginsession

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
)

// flaskStored is one serialization vector's stored value: what Flask-Session
// 0.8.0 wrote for a session, in its format.
type flaskStored struct {
	ID        string  `json:"id"`
	Format    string  `json:"format"`
	StoredHex *string `json:"stored_hex"`
}

func loadFlaskStored(t *testing.T) []flaskStored {
	t.Helper()
	raw, err := os.ReadFile("testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Serialization struct {
			Vectors []flaskStored `json:"vectors"`
		} `json:"serialization"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Serialization.Vectors
}

// appendedKey is the key the Gin request adds, and its value (true).
const appendedKey = "gin_added"

// flaskPlusOneKey returns Flask's stored bytes with appendedKey: true
// appended, written by hand from the format: the msgpack map header counts
// one more item (fixmap 0x8N, then map16 0xde, map32 0xdf), the JSON object
// gets one more member.
func flaskPlusOneKey(t *testing.T, format string, stored []byte) []byte {
	t.Helper()
	if format == "json" {
		if len(stored) < 2 || stored[0] != '{' || stored[len(stored)-1] != '}' {
			t.Fatalf("not a JSON object: %q", stored)
		}
		out := append([]byte(nil), stored[:len(stored)-1]...)
		if len(stored) > 2 {
			out = append(out, ',')
		}
		return append(out, `"`+appendedKey+`":true}`...)
	}
	var n int
	var body []byte
	switch c := stored[0]; {
	case c&0xf0 == 0x80:
		n, body = int(c&0x0f), stored[1:]
	case c == 0xde:
		n, body = int(stored[1])<<8|int(stored[2]), stored[3:]
	case c == 0xdf:
		n, body = int(stored[1])<<24|int(stored[2])<<16|int(stored[3])<<8|int(stored[4]), stored[5:]
	default:
		t.Fatalf("not a msgpack map: %x", stored[:1])
	}
	n++
	var out []byte
	switch {
	case n < 16:
		out = []byte{0x80 | byte(n)}
	case n <= 0xffff:
		out = []byte{0xde, byte(n >> 8), byte(n)}
	default:
		out = []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	out = append(out, body...)
	out = append(out, 0xa0|byte(len(appendedKey)))
	out = append(out, appendedKey...)
	return append(out, 0xc3) // true
}

// TestVectorsRewriteKeepsFlaskBytes is the acceptance test of byte-faithful
// rewrites: for every serialization vector with stored bytes, a session
// Flask-Session stored is loaded through the middleware (memory store), the
// request sets one new key, and what is stored is exactly Flask's bytes with
// that key appended. Nested key order, float spelling, int widths and
// timestamps written by msgspec all survive.
func TestVectorsRewriteKeepsFlaskBytes(t *testing.T) {
	compared := 0
	for _, v := range loadFlaskStored(t) {
		if v.StoredHex == nil {
			continue // Flask stored nothing (an empty session, or an encoding error)
		}
		compared++
		t.Run(v.ID, func(t *testing.T) {
			stored, err := hex.DecodeString(*v.StoredHex)
			if err != nil {
				t.Fatal(err)
			}
			a := newTestApp(t, Options{SerializationFormat: v.Format}, false, func(r *gin.Engine) {
				r.GET("/add", func(c *gin.Context) {
					Default(c).Set(appendedKey, true)
					okHandler(c)
				})
			})
			sid := cookie.NewID(32)
			if err := a.mem.Save(t.Context(), a.mw.key(sid), stored, 3600e9); err != nil {
				t.Fatal(err)
			}
			if w := a.do("GET", "/add", "session="+sid); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			got, ok := a.stored(sid)
			if !ok {
				t.Fatal("session not stored under its id (the stored value was not loaded)")
			}
			if want := flaskPlusOneKey(t, v.Format, stored); !bytes.Equal(got, want) {
				t.Fatalf("stored bytes differ from Flask's plus one key\n got %x\nwant %x", got, want)
			}
		})
	}
	if compared == 0 {
		t.Fatal("no serialization vector with stored bytes")
	}
}

// TestReadOnlyRequestDecodesOnlyWhatItReads loads a 10-key session and reads
// one key: only that value is decoded (the others keep their stored bytes),
// and Keys decodes none, nor does GetString (it reads a stored string from
// its bytes).
func TestReadOnlyRequestDecodesOnlyWhatItReads(t *testing.T) {
	for _, format := range []string{"msgpack", "json"} {
		t.Run(format, func(t *testing.T) {
			var decoded []string
			var keysDecoded, stringDecoded int
			a := newTestApp(t, Options{SerializationFormat: format}, false, func(r *gin.Engine) {
				r.GET("/seed", func(c *gin.Context) {
					s := Default(c)
					s.Set("user", "alice")
					for i, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
						s.Set(k, map[string]any{"n": i, "list": []any{"x", i}})
					}
				})
				r.GET("/keys", func(c *gin.Context) {
					s := Default(c)
					_ = s.Keys()
					keysDecoded += len(s.req().DecodedKeys())
				})
				r.GET("/read", func(c *gin.Context) {
					s := Default(c)
					if u, _ := s.Get("user"); u != "alice" {
						t.Errorf("user = %v", u)
					}
					decoded = append(decoded, s.req().DecodedKeys()...)
				})
				r.GET("/readstring", func(c *gin.Context) {
					s := Default(c)
					if u, _ := s.GetString("user"); u != "alice" {
						t.Errorf("GetString(user) = %q", u)
					}
					if n, ok := s.GetString("a"); ok || n != "" {
						t.Errorf("GetString of a map = %q, %v", n, ok)
					}
					stringDecoded += len(s.req().DecodedKeys())
				})
			})
			cookie := cookieOf(a.do("GET", "/seed", ""), "session")
			a.do("GET", "/keys", cookie)
			a.do("GET", "/read", cookie)
			a.do("GET", "/readstring", cookie)
			if keysDecoded != 0 {
				t.Errorf("Keys decoded %d values", keysDecoded)
			}
			if stringDecoded != 1 { // "a", a map, is decoded to find it is not a string
				t.Errorf("GetString decoded %d values, want 1", stringDecoded)
			}
			if len(decoded) != 1 || decoded[0] != "user" {
				t.Errorf("decoded %v, want only [user]", decoded)
			}
		})
	}
}

// TestStoredValueOverTwiceMaxSizeNotDecoded: a stored value longer than
// twice SESSION_MAX_SIZE (plus the encryption overhead) is not decoded: the
// request gets a new session (and a warning is logged); one within the
// bound loads.
func TestStoredValueOverTwiceMaxSizeNotDecoded(t *testing.T) {
	const maxSize = 1024
	a := newTestApp(t, Options{MaxSize: maxSize}, false, func(r *gin.Engine) {
		r.GET("/new", func(c *gin.Context) {
			if Default(c).IsNew() {
				c.String(200, "new")
			} else {
				c.String(200, "loaded")
			}
		})
	})
	for _, c := range []struct {
		size int
		want string
	}{{2*maxSize + seal.Overhead, "loaded"}, {2*maxSize + seal.Overhead + 1, "new"}} {
		// {"pad": "<string>"}: 1 + 4 + 3 (str16 header) bytes of framing.
		pad := c.size - 8
		value := append([]byte{0x81, 0xa3, 'p', 'a', 'd', 0xda, byte(pad >> 8), byte(pad)}, bytes.Repeat([]byte{'x'}, pad)...)
		sid := cookie.NewID(32)
		if err := a.mem.Save(t.Context(), a.mw.key(sid), value, 3600e9); err != nil {
			t.Fatal(err)
		}
		if got := a.do("GET", "/new", "session="+sid).Body.String(); got != c.want {
			t.Errorf("%d-byte stored value (MaxSize %d): %s, want %s", c.size, maxSize, got, c.want)
		}
	}
}
