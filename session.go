package ginsession

import (
	"bytes"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/wire"
)

// Reserved keys, shared with Flask.
const (
	permanentKey = "_permanent"
	flashesKey   = "_flashes"
)

// Session is one request's view of a server-side session. Get one with
// Default(c) inside a handler that runs behind the middleware.
//
// Nothing is loaded until the first method call that needs the data, so a
// handler that never touches the session costs no store round trip.
//
// A Session is safe for concurrent use by goroutines of one request (its
// methods take a mutex), but the maps and slices Get hands out are not: do
// not mutate them from several goroutines. A Session must not be used after
// its request has finished.
type Session struct {
	mu sync.Mutex
	m  *Middleware
	c  *gin.Context
	w  respWriter // wraps c.Writer to commit before the first byte

	answering bool // the ErrorHandler is writing the response
	answered  bool // the ErrorHandler wrote the response: discard the handler's

	loaded  bool
	err     error // load failure: the request is answered by the ErrorHandler
	sid     string
	key     string // the store key of sid, once computed (storeKey)
	isNew   bool
	entries []entry
	raw     []byte // stored bytes as loaded, for stores without Toucher
	version any    // CAS version token from the store
	fresh   bool   // the store already refreshed the expiry at load

	modified  bool
	changes   []change
	handedOut []handout // mutable values given out by Get, with their encodings then

	regenerated bool
	oldKey      string // entry to delete after a Regenerate
	oldVersion  any    // CAS version of oldKey as loaded, to retire it conditionally

	pending pendingCommit // this request's place in a commit queue (swap)

	committed  bool
	lateChange bool // a change after the commit
	dropped    bool // a concurrent request deleted the session before this one's write
}

// changeKind is what a recorded change did.
type changeKind uint8

const (
	changeSet changeKind = iota
	changeDelete
	changeClear
	changeFlash
)

// change is one write of this request, replayed on fresh data when a
// compare-and-swap write lost a race.
type change struct {
	kind changeKind
	key  string
	val  any
}

// handout is a mutable value handed out by Get, with its encoding at that time.
type handout struct {
	key  string
	enc  []byte
	seen bool
}

// FlashMessage is one message stored by Flash, in Flask's layout.
type FlashMessage struct {
	Category string // "message" unless Flash was given one
	Message  string
}

// release resets the session and returns it to the pool, keeping the
// capacity of its slices.
func (s *Session) release() {
	entries, changes, handed := s.entries[:0], s.changes[:0], s.handedOut[:0]
	clear(s.entries[:cap(s.entries)])
	clear(s.changes[:cap(s.changes)])
	clear(s.handedOut[:cap(s.handedOut)])
	*s = Session{entries: entries, changes: changes, handedOut: handed}
	sessionPool.Put(s)
}

// storeKey returns the store key of the session's current id.
func (s *Session) storeKey() string {
	if s.key == "" {
		s.key = s.m.key(s.sid)
	}
	return s.key
}

// ensure loads the session on first use. The caller holds s.mu.
func (s *Session) ensure() {
	if !s.loaded {
		s.loaded = true
		s.m.load(s)
	}
}

func (s *Session) index(key string) int {
	for i := range s.entries {
		if s.entries[i].Foreign == nil && s.entries[i].Key == key {
			return i
		}
	}
	return -1
}

func (s *Session) record(c change) {
	s.modified = true
	s.changes = append(s.changes, c)
	if s.committed {
		s.lateChange = true
	}
}

// ID returns the session id (without signature). A new session gets its id
// on first use.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	return s.sid
}

// IsNew reports whether the session was created by this request (no valid
// cookie, or the store did not know the id).
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	return s.isNew
}

// Err reports why the session could not be loaded (the store was down, for
// example). When it is non-nil the session behaves as empty, nothing is
// saved, and the request is answered by the ErrorHandler.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	return s.err
}

// Get returns the value stored under key and whether it exists. Maps and
// slices are returned as stored, so they may be changed in place; such
// changes are detected and saved.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	i := s.index(key)
	if i < 0 {
		return nil, false
	}
	v := valueOf(&s.entries[i])
	if isMutable(v) {
		s.handOut(key, v)
	}
	return v, true
}

// isMutable reports whether v can be changed in place by the caller.
func isMutable(v any) bool {
	switch v.(type) {
	case nil, bool, string, int64, uint64, float64, int, time.Time:
		return false
	}
	return true
}

func (s *Session) handOut(key string, v any) {
	for i := range s.handedOut {
		if s.handedOut[i].key == key {
			return
		}
	}
	enc, err := s.m.format.AppendValue(nil, v)
	if err != nil {
		enc = nil // unencodable now: any change is caught at commit
	}
	s.handedOut = append(s.handedOut, handout{key: key, enc: enc})
}

// Set stores value under key. Values are encoded at the end of the request:
// strings, numbers, booleans, nil, []byte, time.Time, slices, maps with
// string keys, and structs (through their json tags) are accepted.
func (s *Session) Set(key string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	s.set(key, value)
	s.record(change{kind: changeSet, key: key, val: value})
}

func (s *Session) set(key string, value any) {
	if i := s.index(key); i >= 0 {
		s.entries[i].Set(value)
		return
	}
	s.entries = append(s.entries, wire.NewEntry(key, value))
}

// Delete removes key. Deleting a missing key changes nothing.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	if s.del(key) {
		s.record(change{kind: changeDelete, key: key})
	}
}

func (s *Session) del(key string) bool {
	i := s.index(key)
	if i < 0 {
		return false
	}
	s.entries = append(s.entries[:i], s.entries[i+1:]...)
	return true
}

// Pop removes key and returns its value.
func (s *Session) Pop(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	i := s.index(key)
	if i < 0 {
		return nil, false
	}
	v := valueOf(&s.entries[i])
	s.del(key)
	s.record(change{kind: changeDelete, key: key})
	return v, true
}

// Has reports whether key exists.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	return s.index(key) >= 0
}

// Keys returns the keys in insertion order, without Flask's internal
// "_permanent" marker (nor "_created", the creation time kept when
// Options.AbsoluteLifetime is set).
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	keys := make([]string, 0, len(s.entries))
	for _, e := range s.entries {
		if e.Foreign == nil && !s.internal(e.Key) {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// Len returns the number of keys, as Keys would list them.
func (s *Session) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	n := 0
	for _, e := range s.entries {
		if e.Foreign == nil && !s.internal(e.Key) {
			n++
		}
	}
	return n
}

// Clear removes every key, including the permanent marker, as Flask's
// session.clear() does. An empty session is deleted from the store at the
// end of the request and its cookie expired.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	s.entries = s.entries[:0]
	s.handedOut = s.handedOut[:0]
	s.record(change{kind: changeClear})
}

// Destroy empties the session and, at the end of the request, deletes it
// from the store and expires the cookie (logout).
func (s *Session) Destroy() {
	s.Clear()
}

// Permanent reports whether the session outlives the browser session (its
// cookie has an Expires), i.e. Flask's session.permanent.
func (s *Session) Permanent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	if i := s.index(permanentKey); i >= 0 {
		b, _ := valueOf(&s.entries[i]).(bool)
		return b
	}
	return false
}

// SetPermanent sets Flask's session.permanent.
func (s *Session) SetPermanent(permanent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	s.set(permanentKey, permanent)
	s.record(change{kind: changeSet, key: permanentKey, val: permanent})
}

// Regenerate gives the session a new id, keeps its data and deletes the old
// entry at the end of the request. Call it on login to prevent session
// fixation. It returns the load error, if any.
func (s *Session) Regenerate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	if s.err != nil {
		return s.err
	}
	if s.isNew && s.empty() {
		return nil // nothing to protect yet, as in Flask-Session
	}
	if !s.isNew && s.oldKey == "" {
		s.oldKey, s.oldVersion = s.storeKey(), s.version
	}
	s.sid, s.key = cookie.NewID(s.m.opts.IDLength), ""
	s.isNew = true
	s.version = nil
	s.regenerated = true
	s.modified = true
	if s.committed {
		s.lateChange = true
	}
	return nil
}

// Flash appends a message to Flask's "_flashes" list, with category
// "message" unless one is given.
func (s *Session) Flash(message string, category ...string) {
	cat := "message"
	if len(category) > 0 && category[0] != "" {
		cat = category[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	s.flash(cat, message)
	s.record(change{kind: changeFlash, key: cat, val: message})
}

func (s *Session) flash(cat, message string) {
	pair := []any{cat, message}
	if i := s.index(flashesKey); i >= 0 {
		if list, ok := valueOf(&s.entries[i]).([]any); ok {
			s.entries[i].Set(append(list, pair))
			return
		}
	}
	s.set(flashesKey, []any{pair})
}

// Flashes removes and returns the flashed messages, like Flask's
// get_flashed_messages: every message is removed, and when categories are
// given only those in them are returned.
func (s *Session) Flashes(categories ...string) []FlashMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensure()
	i := s.index(flashesKey)
	if i < 0 {
		return nil
	}
	list, _ := valueOf(&s.entries[i]).([]any)
	s.del(flashesKey)
	s.record(change{kind: changeDelete, key: flashesKey})
	out := make([]FlashMessage, 0, len(list))
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		cat, _ := pair[0].(string)
		msg, _ := pair[1].(string)
		if len(categories) > 0 && !contains(categories, cat) {
			continue
		}
		out = append(out, FlashMessage{Category: cat, Message: msg})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Save commits the session now: use it in streaming handlers before the
// first byte is written (the middleware otherwise commits just before the
// first byte, or after the handler). It reports a store failure; the
// commit then stays pending and is tried once more when the response is
// written or the handler returns, where a second failure goes to the
// ErrorHandler (if the response has not started) or to the log.
func (s *Session) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.commit(s, true)
}

// GetString returns the string stored under key.
func (s *Session) GetString(key string) (string, bool) {
	v, ok := s.Get(key)
	if !ok {
		return "", false
	}
	return asString(v)
}

// GetInt returns the integer stored under key, whatever msgpack width it was
// stored with. A float with an integral value counts.
func (s *Session) GetInt(key string) (int64, bool) {
	v, ok := s.Get(key)
	if !ok {
		return 0, false
	}
	return asInt(v)
}

// GetBool returns the boolean stored under key.
func (s *Session) GetBool(key string) (bool, bool) {
	v, ok := s.Get(key)
	if !ok {
		return false, false
	}
	return asBool(v)
}

// GetFloat returns the number stored under key as a float64.
func (s *Session) GetFloat(key string) (float64, bool) {
	v, ok := s.Get(key)
	if !ok {
		return 0, false
	}
	return asFloat(v)
}

// GetTime returns the time stored under key: a msgpack timestamp, or an
// ISO 8601 string as Flask stores naive datetimes (taken as UTC).
func (s *Session) GetTime(key string) (time.Time, bool) {
	v, ok := s.Get(key)
	if !ok {
		return time.Time{}, false
	}
	return asTime(v)
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

// detectInPlace compares the mutable values handed out by Get with their
// encodings at that time and records a Set for each one that changed.
func (s *Session) detectInPlace() {
	for i := range s.handedOut {
		h := &s.handedOut[i]
		j := s.index(h.key)
		if j < 0 {
			continue
		}
		v := valueOf(&s.entries[j])
		enc, err := s.m.format.AppendValue(nil, v)
		if err == nil && h.enc != nil && bytes.Equal(enc, h.enc) {
			continue
		}
		h.enc = enc
		s.entries[j].Set(v) // changed in place: its stored bytes are stale
		s.record(change{kind: changeSet, key: h.key, val: v})
	}
}

// empty reports Flask's emptiness: no key but the permanent marker (and the
// creation time of AbsoluteLifetime).
func (s *Session) empty() bool {
	for _, e := range s.entries {
		if e.Foreign != nil || !s.internal(e.Key) {
			return false
		}
	}
	return true
}

// apply replays recorded changes on s.entries.
func (s *Session) apply(changes []change) {
	for _, c := range changes {
		switch c.kind {
		case changeSet:
			s.set(c.key, c.val)
		case changeDelete:
			s.del(c.key)
		case changeClear:
			s.entries = s.entries[:0]
		case changeFlash:
			s.flash(c.key, c.val.(string))
		}
	}
}
