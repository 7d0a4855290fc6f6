package ginsession

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/internal/engine"
	"github.com/ginsession/ginsession/internal/wire"
)

// Session is one request's view of a server-side session. Get it with
// Default(c) inside a handler that runs behind the middleware.
//
// Nothing is loaded until the first method call that needs the data, so a
// handler that never touches the session costs no store round trip.
//
// A Session is safe for concurrent use by the goroutines of its request,
// c.Copy() included (its methods take a lock), but the maps and slices Get
// hands out are not: do not mutate them from several goroutines. A Session
// belongs to one request and is never reused: after the request has ended
// it still shows that request's data, but changes are refused (logged) and
// Save reports ErrEnded.
type Session struct {
	m      *Middleware
	c      *gin.Context
	http   *http.Request // the request as the middleware received it
	header http.Header   // the response's headers
	w      respWriter    // wraps c.Writer to commit before the first byte
	ctx    sessionCtx    // c.Request's new context, which carries this Session
	resp   respState     // touched only by the request's own goroutine

	// The engine's state of the request is only allocated on first use, so
	// that a route that never touches the session allocates little.
	r     atomic.Pointer[engine.Request]
	sent  atomic.Bool // the response's headers are gone
	ended atomic.Bool // the request is over
}

// req returns the engine's request, creating it on first use. It may run on
// any goroutine of the request (a c.Copy()), also after the request ended.
func (s *Session) req() *engine.Request {
	if r := s.r.Load(); r != nil {
		return r
	}
	r := new(engine.Request)
	r.Init(s.m.engine, s.http, s.header)
	if !s.r.CompareAndSwap(nil, r) {
		return s.r.Load()
	}
	// markSent and end store their flag before they look for r: one of
	// the two sides sees the other.
	if s.sent.Load() {
		r.MarkSent()
	}
	if s.ended.Load() {
		r.End()
	}
	return r
}

// markSent records that the response's headers are gone.
func (s *Session) markSent() {
	s.sent.Store(true)
	if r := s.r.Load(); r != nil {
		r.MarkSent()
	}
}

// end marks the request as over.
func (s *Session) end() {
	s.ended.Store(true)
	if r := s.r.Load(); r != nil {
		r.End()
	}
}

// FlashMessage is one message stored by Flash, in Flask's layout.
type FlashMessage = engine.FlashMessage

// ID returns the session id (without signature). A new session gets its id
// on first use.
func (s *Session) ID() string { return s.req().ID() }

// IsNew reports whether the session was created by this request (no valid
// cookie, or the store did not know the id).
func (s *Session) IsNew() bool { return s.req().IsNew() }

// Err reports why the session could not be loaded (the store was down, for
// example; errors.Is(err, ErrStoreUnavailable)). When it is non-nil the
// session behaves as empty, nothing is saved, and the request is answered
// by the ErrorHandler.
func (s *Session) Err() error { return s.req().Err() }

// Get returns the value stored under key and whether it exists. Maps and
// slices are returned as stored, so they may be changed in place; such
// changes are detected and saved.
func (s *Session) Get(key string) (any, bool) { return s.req().Get(key) }

// Set stores value under key. Strings, numbers, booleans, nil, []byte,
// time.Time, slices, maps and structs (through their json tags) are
// accepted; the value is normalised at once to what the next request will
// read (an int becomes int64, a []string []any, a struct a map), so Get
// returns the same thing in this request and the next. Strings that are
// not UTF-8 are repaired with U+FFFD, as Werkzeug decodes requests. A value
// that cannot be encoded is not stored, and the request ends in the
// ErrorHandler with an error matching ErrNotEncodable that names the key.
func (s *Session) Set(key string, value any) { s.req().Set(key, value) }

// Delete removes key. Deleting a missing key changes nothing.
func (s *Session) Delete(key string) { s.req().Delete(key) }

// Pop removes key and returns its value.
func (s *Session) Pop(key string) (any, bool) { return s.req().Pop(key) }

// Has reports whether key exists.
func (s *Session) Has(key string) bool { return s.req().Has(key) }

// Keys returns the keys in insertion order, without Flask's internal
// "_permanent" marker (nor "_created", the creation time kept when
// Options.AbsoluteLifetime is set). No value is decoded.
func (s *Session) Keys() []string { return s.req().Keys() }

// Len returns the number of keys, as Keys would list them.
func (s *Session) Len() int { return s.req().Len() }

// Clear removes every key, including the permanent marker, as Flask's
// session.clear() does. An empty session is deleted from the store at the
// end of the request and its cookie expired.
func (s *Session) Clear() { s.req().Clear() }

// Destroy logs out: it empties the session and kills its id. At the end of
// the request the stored session is deleted and the cookie expired; anything
// the handler stores afterwards (a flash message, say) goes to a new id.
func (s *Session) Destroy() { s.req().Destroy() }

// Permanent reports whether the session outlives the browser session (its
// cookie has an Expires), i.e. Flask's session.permanent.
func (s *Session) Permanent() bool { return s.req().Permanent() }

// SetPermanent sets Flask's session.permanent.
func (s *Session) SetPermanent(permanent bool) { s.req().SetPermanent(permanent) }

// Regenerate gives the session a new id, keeps its data and deletes the old
// entry at the end of the request. Call it on login to prevent session
// fixation. It returns the load error, if any. Once the new entry is
// stored, a failure to remove the old one is logged and retried, never
// reported.
func (s *Session) Regenerate() error { return s.req().Regenerate() }

// Flash appends a message to Flask's "_flashes" list, with category
// "message" unless one is given.
func (s *Session) Flash(message string, category ...string) {
	cat := "message"
	if len(category) > 0 && category[0] != "" {
		cat = category[0]
	}
	s.req().Flash(cat, message)
}

// Flashes removes and returns the flashed messages, like Flask's
// get_flashed_messages: every message is removed, and when categories are
// given only those in them are returned.
func (s *Session) Flashes(categories ...string) []FlashMessage { return s.req().Flashes(categories...) }

// Save commits the session now: use it in streaming handlers before the
// first byte is written, and before a websocket upgrade (then pass
// c.Writer.Header() to the upgrader so that its response carries the
// Set-Cookie). The middleware otherwise commits just before the first byte,
// or after the handler. After a failure the changes stay pending and are
// tried once more when the response is written or the handler returns; a
// second failure goes to the ErrorHandler. Save after the request ended
// reports ErrEnded.
func (s *Session) Save() error { return s.req().Save() }

// GetString returns the string stored under key.
func (s *Session) GetString(key string) (string, bool) { return s.req().GetString(key) }

// GetInt returns the integer stored under key, whatever msgpack width it was
// stored with. A float with an integral value counts.
func (s *Session) GetInt(key string) (int64, bool) {
	v, ok := s.Get(key)
	if !ok {
		return 0, false
	}
	return wire.AsInt(v)
}

// GetBool returns the boolean stored under key.
func (s *Session) GetBool(key string) (bool, bool) {
	v, ok := s.Get(key)
	if !ok {
		return false, false
	}
	return wire.AsBool(v)
}

// GetFloat returns the number stored under key as a float64.
func (s *Session) GetFloat(key string) (float64, bool) {
	v, ok := s.Get(key)
	if !ok {
		return 0, false
	}
	return wire.AsFloat(v)
}

// GetTime returns the time stored under key: a msgpack timestamp, or an
// ISO 8601 string as Flask stores naive datetimes (taken as UTC).
func (s *Session) GetTime(key string) (time.Time, bool) {
	v, ok := s.Get(key)
	if !ok {
		return time.Time{}, false
	}
	return wire.AsTime(v)
}

// GetAs decodes the value stored under key into a T (typically a struct,
// through its json tags). ok is false when the key is missing; err reports a
// value that does not fit T.
func GetAs[T any](s *Session, key string) (v T, ok bool, err error) {
	raw, ok := s.Get(key)
	if !ok {
		return v, false, nil
	}
	if t, isT := raw.(T); isT {
		return t, true, nil
	}
	if err := wire.ConvertInto(raw, &v); err != nil {
		return v, true, err
	}
	return v, true, nil
}
