package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/ginsession/ginsession/internal/engine"
	"github.com/ginsession/ginsession/internal/wire"
)

// Masking in show. A session holds credentials (CSRF tokens, OAuth access
// tokens, sometimes worse) and personal data, and the output of an admin
// command ends up in terminals, tickets and chat. So by default show prints
// the structure only: each key, with its value replaced by its type and
// size. --reveal prints values, except those under keys that look secret
// (sensitiveKey, at any depth), which stay masked; --reveal-all prints
// everything. Flask's and ginsession's own markers (_permanent, _created,
// _ginsession_user) are never masked: they are not secrets.
var sensitiveKey = regexp.MustCompile(`(?i)pass|pwd|secret|token|csrf|xsrf|auth|cred|key|otp|totp|nonce|cookie|session|private|signature|card|cvv|ssn|iban|pin$`)

var plainKeys = map[string]bool{engine.PermanentKey: true, engine.CreatedKey: true, engine.UserKey: true}

func runShow(ctx context.Context, c *cli, args []string) error {
	e, err := c.open()
	if err != nil {
		return err
	}
	key, data, err := c.resolve(ctx, e, args[0])
	if err != nil {
		return err
	}
	entries, format, err := e.decode(key, data)
	if errors.Is(err, wire.ErrNil) {
		return fmt.Errorf("session %s is a tombstone (it was just regenerated or logged out)", c.showID(e.sid(key)))
	}
	if err != nil {
		return fmt.Errorf("session %s cannot be decoded: %w", c.showID(e.sid(key)), err)
	}
	obj := object{}
	for i := range entries {
		en := &entries[i]
		name := en.Key
		if en.Foreign != nil {
			name = fmt.Sprint(en.Foreign)
		}
		v, err := en.Value()
		if err != nil {
			obj = append(obj, member{name, fmt.Sprintf("<undecodable: %v>", err)})
			continue
		}
		obj = append(obj, member{name, c.present(name, v, 0)})
	}
	mode := "masked"
	switch {
	case c.revealAll:
		mode = "revealed"
	case c.reveal:
		mode = "revealed except secret-looking keys"
	}
	out := object{
		{"id", c.showID(e.sid(key))},
		{"backend", e.backend()},
		{"format", format.String()},
		{"size", len(data)},
	}
	if u := e.userOf(key, data); u != "" {
		out = append(out, member{"user", u})
	}
	exp := []row{{key: key}}
	if err := c.addExpiries(ctx, e, exp); err != nil {
		return err
	}
	out = append(out, member{"expires", exp[0].Expires})
	out = append(out, member{"values", mode}, member{"data", obj})
	return c.writeJSON(out)
}

// present converts a decoded value for JSON output, masking as decided
// above. name is the key the value is stored under.
func (c *cli) present(name string, v any, depth int) any {
	if depth == 0 && plainKeys[name] {
		return toJSON(v, nil)
	}
	switch {
	case c.revealAll:
		return toJSON(v, nil)
	case c.reveal && !sensitiveKey.MatchString(name):
		return toJSON(v, func(k string) bool { return sensitiveKey.MatchString(k) })
	}
	return mask(v)
}

// mask describes a value without showing it.
func mask(v any) string {
	switch x := v.(type) {
	case nil:
		return "<masked: null>"
	case string:
		return fmt.Sprintf("<masked: string, %d bytes>", len(x))
	case []byte:
		return fmt.Sprintf("<masked: bytes, %d bytes>", len(x))
	case []any:
		return fmt.Sprintf("<masked: list, %d items>", len(x))
	case map[string]any:
		return fmt.Sprintf("<masked: map, %d items>", len(x))
	case wire.Map:
		return fmt.Sprintf("<masked: map, %d items>", len(x))
	case bool:
		return "<masked: bool>"
	case time.Time:
		return "<masked: time>"
	case int64, uint64, int, float64, float32:
		return "<masked: number>"
	}
	return fmt.Sprintf("<masked: %T>", v)
}

// toJSON converts a decoded session value to something encoding/json
// prints faithfully: bytes as {"$bytes": base64}, times as RFC 3339,
// msgpack extensions as {"$ext": type, "data": base64}, maps in their
// stored order. hide, when set, masks the values of map keys it matches.
func toJSON(v any, hide func(string) bool) any {
	switch x := v.(type) {
	case nil, bool, string, int64, uint64, int:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case float32:
		return toJSON(float64(x), hide)
	case []byte:
		return object{{"$bytes", base64.StdEncoding.EncodeToString(x)}}
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = toJSON(el, hide)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			if hide != nil && hide(k) {
				out[k] = mask(el)
				continue
			}
			out[k] = toJSON(el, hide)
		}
		return out
	case wire.Map:
		out := make(object, 0, len(x))
		for _, it := range x {
			k := fmt.Sprint(it.Key)
			if b, ok := it.Key.([]byte); ok {
				k = string(b)
			}
			if hide != nil && hide(k) {
				out = append(out, member{k, mask(it.Value)})
				continue
			}
			out = append(out, member{k, toJSON(it.Value, hide)})
		}
		return out
	case wire.Ext:
		return object{{"$ext", x.Type}, {"data", base64.StdEncoding.EncodeToString(x.Data)}}
	}
	return fmt.Sprint(v)
}

// object is a JSON object that keeps its members' order.
type object []member

type member struct {
	k string
	v any
}

// MarshalJSON implements json.Marshaler.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(m.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// userOf returns the user a session is tied to (Session.SetUser), if any.
func (e *env) userOf(key string, data []byte) string {
	return e.m.UserOfStored(key, data)
}
