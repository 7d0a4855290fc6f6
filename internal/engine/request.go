package engine

import (
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/wire"
)

// state is where a Request is in its life.
type state uint8

const (
	stIdle   state = iota // not used yet: nothing loaded, nothing to commit
	stOpen                // loaded (or new), with changes not yet committed
	stSaved               // committed; nothing changed since
	stFailed              // the load failed: every commit reports r.err
	stBroken              // a panic went through a store call or an encoder: never committed
	stEnded               // the request is over: reads only
)

// Request is one request's session. Its methods are safe for concurrent use
// by the goroutines of the request (they take its mutex), and it is never
// reused for another request.
type Request struct {
	mu     sync.Mutex
	e      *Engine
	http   *http.Request
	header http.Header // the response's headers, for Set-Cookie and Vary
	spent  time.Duration

	sid     string
	key     string // store key of sid, once computed
	entries []wire.Entry
	raw     []byte // the stored bytes as loaded, for stores without Toucher
	version any    // compare-and-swap version from the store
	err     error  // the load failure (stFailed)
	setErr  error  // the first value Set could not encode

	out     cookieOut // the Set-Cookie the commit decided, applied by the request's goroutine
	cookies [1]string // backs the response's Set-Cookie values: no allocation for them

	changes []change
	handed  []handout
	prev    *previous // the id this request moved away from (Regenerate, Destroy)
	users   userState // the user index's view of this session (users.go)

	call0 callCtx // the first store call's context: no allocation for it
	calls int32   // store calls started (budget.go)

	st      state
	sent    bool // the response's headers are gone: no cookie can be set
	isNew   bool
	fresh   bool // the store refreshed the expiry while loading
	reseal  bool // loaded with a fallback encryption key: rewrite it
	repaird bool // a Set repaired invalid UTF-8 (logged once)
	lateUse bool // first used after the request ended (logged once)
	vary    bool // Vary: Cookie is due
}

// change is one write of this request, replayed on fresh data when a
// compare-and-swap write lost a race, or merged into another request's batch.
type change struct {
	kind changeKind
	key  string
	val  any
}

type changeKind uint8

const (
	changeSet changeKind = iota
	changeDelete
	changeClear
	changeFlash // key is the category, val the message
)

// handout is a mutable stored value handed out by Get, with its canonical
// encoding then; the commit compares to find changes made in place.
type handout struct {
	key string
	enc []byte
}

// previous is the id a Regenerate or Destroy moved the session away from.
type previous struct {
	key     string
	version any       // its compare-and-swap version as loaded
	writes  oldWrites // what becomes of concurrent writes to it
}

// cookieOut is a Set-Cookie decided by a commit and not yet put in the
// response's headers. Only the request's own goroutine touches the headers
// (Gin writes them there too), so a Save from another goroutine leaves its
// cookie here until the response starts or the handler returns.
type cookieOut struct {
	op      cookieOp
	value   string
	expires time.Time
}

type cookieOp uint8

const (
	cookieKeep   cookieOp = iota // send nothing
	cookieSet                    // set value (with expires for a permanent session)
	cookieDelete                 // expire the cookie
)

// FlashMessage is one message stored by Flash, in Flask's layout.
type FlashMessage struct {
	Category string
	Message  string
}

// Init prepares r for one request. header is the response's header map.
func (r *Request) Init(e *Engine, req *http.Request, header http.Header) {
	r.e, r.http, r.header = e, req, header
}

// End marks the request as over. Later reads still show its data; changes
// are refused and logged, and Save reports ErrEnded.
func (r *Request) End() {
	r.mu.Lock()
	r.st = stEnded
	r.mu.Unlock()
}

// begin runs at the start of every method that reads, with r.mu held: it
// loads the session on first use.
func (r *Request) begin() {
	switch {
	case r.st == stIdle:
		r.load()
	case r.st == stEnded && r.sid == "" && !r.lateUse:
		r.lateUse = true
		r.e.log.Error("ginsession: session first used after its request ended; it reads as empty (use it before the handler returns, or read what you need before starting the goroutine)")
	}
}

// beginChange is begin for a method that changes the session; it reports
// false (and logs) when the change cannot be saved any more.
func (r *Request) beginChange(what string) bool {
	switch r.st {
	case stIdle:
		r.load()
	case stEnded:
		r.e.log.Error("ginsession: session changed after its request ended; the change is not saved (use the session before the handler returns)",
			"op", what, "sid", LogSID(r.sid))
		return false
	}
	return r.st != stFailed && r.st != stBroken
}

// record notes a change; a saved session becomes open again.
func (r *Request) record(c change) {
	r.changes = append(r.changes, c)
	if r.st == stSaved {
		r.st = stOpen
	}
}

// dirty reports whether there is something to write: changes, a move to a
// new id, or a value to re-encrypt.
func (r *Request) dirty() bool {
	return len(r.changes) > 0 || r.prev != nil || r.reseal
}

// storeKey returns the store key of the current sid.
func (r *Request) storeKey() string {
	if r.key == "" {
		r.key = r.e.Key(r.sid)
	}
	return r.key
}

// load reads the session named by the request's cookie. The caller holds r.mu.
func (r *Request) load() {
	e := r.e
	r.st = stBroken // until load returns (a panic leaves it broken)
	defer func() {
		if r.st == stBroken {
			r.entries = nil
		}
	}()
	if sid, ok := e.CookieSID(r.http); ok {
		key := e.Key(sid)
		data, found, err := r.fetch(key)
		if err != nil {
			r.err = storeError("load session", err)
			r.st = stFailed
			return
		}
		if found {
			entries, reseal, derr := e.decode(key, data)
			if derr == nil && e.cfg.Absolute > 0 && r.pastDeadline(sid, key, entries) {
				derr = wire.ErrNil // deleted; a fresh session follows
			}
			if derr == nil {
				r.sid, r.key, r.entries, r.reseal = sid, key, entries, reseal
				if e.toucher == nil {
					r.raw = data
				}
				r.st = stOpen
				r.afterLoad()
				r.noteLoadedUser()
				return
			}
			if !errors.Is(derr, wire.ErrNil) {
				e.log.Warn("ginsession: stored session cannot be decoded; starting a new session", "sid", LogSID(sid), "err", clean(derr))
			}
		}
		r.version, r.fresh = nil, false
	}
	r.restart()
	r.st = stOpen
}

// restart makes the session a new, empty one with a new id: a first visit,
// or a session a concurrent request deleted (logout) under this one.
func (r *Request) restart() {
	r.isNew, r.version, r.fresh = true, nil, false
	r.sid, r.key = cookie.NewID(r.e.cfg.IDLength), ""
	r.entries, r.changes, r.handed, r.prev, r.reseal = nil, nil, nil, nil, false
	if r.e.cfg.Permanent {
		r.entries = append(r.entries, wire.NewEntry(PermanentKey, true))
	}
}

// fetch loads key with its version where the store has compare-and-swap.
func (r *Request) fetch(key string) (data []byte, found bool, err error) {
	ctx, c := r.readCtx()
	defer r.done(c)
	if r.e.cas != nil {
		rec, err := r.e.cas.LoadVersion(ctx, key, r.e.loadRefresh())
		r.version, r.fresh = rec.Version, rec.Refreshed
		return rec.Data, rec.Found, err
	}
	return r.e.store.Load(ctx, key)
}

func (r *Request) index(key string) int {
	return indexOf(r.entries, key)
}

func indexOf(entries []wire.Entry, key string) int {
	for i := range entries {
		if entries[i].Foreign == nil && entries[i].Key == key {
			return i
		}
	}
	return -1
}

// value returns the decoded value of entries[i]; a stored value that does not
// decode (it passed Decode's checks, so this does not happen) reads as
// missing, logged.
func (r *Request) value(i int) (any, bool) {
	v, err := r.entries[i].Value()
	if err != nil {
		r.undecodable(i, err)
		return nil, false
	}
	return v, true
}

func (r *Request) undecodable(i int, err error) {
	r.e.log.Error("ginsession: a stored value cannot be decoded", "key", r.entries[i].Key, "err", clean(err))
}

// internal reports whether key is one of the bookkeeping keys, which Keys
// and Len hide and which do not make a session non-empty.
func (r *Request) internal(key string) bool {
	return key == PermanentKey || key == CreatedKey && r.e.cfg.Absolute > 0
}

// empty reports Flask's emptiness: no key but the bookkeeping ones.
func (r *Request) empty() bool {
	for i := range r.entries {
		if r.entries[i].Foreign != nil || !r.internal(r.entries[i].Key) {
			return false
		}
	}
	return true
}

// ID returns the session id (without signature), giving a new session its
// id on first use.
func (r *Request) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return r.sid
}

// IsNew reports whether the session was created by this request.
func (r *Request) IsNew() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return r.isNew
}

// Err reports why the session could not be loaded, or ErrEnded for a
// session first used after its request ended.
func (r *Request) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return r.errLocked()
}

func (r *Request) errLocked() error {
	switch r.st {
	case stFailed:
		return r.err
	case stBroken:
		return ErrPanicked
	case stEnded:
		if r.entries == nil && r.sid == "" {
			return ErrEnded
		}
	}
	return nil
}

// Get returns the value stored under key. Maps and slices are the stored
// ones, so they may be changed in place; such changes are detected and saved.
func (r *Request) Get(key string) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	i := r.index(key)
	if i < 0 {
		return nil, false
	}
	v, ok := r.value(i)
	if ok && mutable(v) && r.st != stEnded {
		r.handOut(i, v)
	}
	return v, ok
}

// GetString returns the string stored under key (ok=false when it is
// missing or not a string). Unlike Get it does not box the string: a
// stored string is read from the stored bytes.
func (r *Request) GetString(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	i := r.index(key)
	if i < 0 {
		return "", false
	}
	s, ok, err := r.entries[i].StringValue()
	if err != nil {
		r.undecodable(i, err)
		return "", false
	}
	return s, ok
}

// mutable reports whether the caller can change v in place.
func mutable(v any) bool {
	switch v.(type) {
	case nil, bool, string, int64, uint64, float64, time.Time:
		return false
	}
	return true
}

// handOut remembers the canonical encoding of a mutable value given out, to
// detect changes made to it in place — before or after a Save.
func (r *Request) handOut(i int, v any) {
	key := r.entries[i].Key
	if r.entries[i].Foreign != nil || slices.ContainsFunc(r.handed, func(h handout) bool { return h.key == key }) {
		return
	}
	enc, err := r.e.cfg.Format.AppendValue(nil, v)
	if err != nil {
		enc = nil // compare as changed: the commit reports it
	}
	r.handed = append(r.handed, handout{key: key, enc: enc})
}

// detectInPlace records a Set for every handed-out value changed in place
// since it was handed out or last committed, and takes its new encoding
// as the reference for the next commit.
func (r *Request) detectInPlace() {
	for j := range r.handed {
		h := &r.handed[j]
		i := r.index(h.key)
		if i < 0 {
			continue
		}
		v, _ := r.entries[i].Value()
		enc, err := r.e.cfg.Format.AppendValue(nil, v)
		if err == nil && h.enc != nil && string(enc) == string(h.enc) {
			continue
		}
		h.enc = enc
		r.entries[i].Set(v)
		r.record(change{kind: changeSet, key: h.key, val: v})
	}
}

// Set stores value under key, normalised to what the next request will
// decode. A value that cannot be encoded is not stored: the commit then
// fails with ErrNotEncodable naming the key.
func (r *Request) Set(key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Set") {
		return
	}
	v, err := r.normalize(key, value)
	if err != nil {
		if r.setErr == nil {
			r.setErr = &Error{Kind: ErrNotEncodable, Op: "set session value", Key: key, Err: err}
		}
		r.e.log.Error("ginsession: session value cannot be encoded; the session will not be saved", "key", key, "err", clean(err))
		return
	}
	r.entries = set(r.entries, key, v)
	r.record(change{kind: changeSet, key: key, val: v})
}

func set(entries []wire.Entry, key string, v any) []wire.Entry {
	if i := indexOf(entries, key); i >= 0 {
		entries[i].Set(v)
		return entries
	}
	return append(entries, wire.NewEntry(key, v))
}

func del(entries []wire.Entry, key string) []wire.Entry {
	if i := indexOf(entries, key); i >= 0 {
		return slices.Delete(entries, i, i+1)
	}
	return entries
}

// Delete removes key. Deleting a missing key changes nothing.
func (r *Request) Delete(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Delete") {
		return
	}
	if r.index(key) >= 0 {
		r.entries = del(r.entries, key)
		r.record(change{kind: changeDelete, key: key})
	}
}

// Pop removes key and returns its value.
func (r *Request) Pop(key string) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Pop") {
		return nil, false
	}
	i := r.index(key)
	if i < 0 {
		return nil, false
	}
	v, ok := r.value(i)
	r.entries = del(r.entries, key)
	r.record(change{kind: changeDelete, key: key})
	return v, ok
}

// Has reports whether key exists.
func (r *Request) Has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return r.index(key) >= 0
}

// Keys returns the keys in insertion order, without the bookkeeping keys.
// No value is decoded.
func (r *Request) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	keys := make([]string, 0, len(r.entries))
	for i := range r.entries {
		if r.entries[i].Foreign == nil && !r.internal(r.entries[i].Key) && r.entries[i].Key != UserKey {
			keys = append(keys, r.entries[i].Key)
		}
	}
	return keys
}

// Len returns the number of keys Keys would list.
func (r *Request) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	n := 0
	for i := range r.entries {
		if r.entries[i].Foreign == nil && !r.internal(r.entries[i].Key) && r.entries[i].Key != UserKey {
			n++
		}
	}
	return n
}

// Clear removes every key, the permanent marker included, as Flask's
// session.clear() does.
func (r *Request) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Clear") {
		return
	}
	r.clear()
}

func (r *Request) clear() {
	r.entries = r.entries[:0:0]
	r.handed = r.handed[:0]
	r.record(change{kind: changeClear})
}

// Destroy empties the session and kills its id: the stored entry is
// deleted and the cookie expired at the end of the request, and anything the
// handler stores afterwards goes to a new id.
func (r *Request) Destroy() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Destroy") {
		return
	}
	r.clear()
	r.moveTo(dropOld)
}

// oldWrites is what becomes of concurrent writes to an id the session
// moved away from.
type oldWrites uint8

const (
	dropOld    oldWrites = iota // Destroy: a logout drops them
	forwardOld                  // Regenerate: they are carried to the new id
)

// moveTo gives the session a new id; the old entry is removed by the commit.
func (r *Request) moveTo(old oldWrites) {
	if !r.isNew {
		if r.prev == nil {
			r.prev = &previous{key: r.storeKey(), version: r.version}
		}
		r.prev.writes = old
	}
	r.sid, r.key = cookie.NewID(r.e.cfg.IDLength), ""
	r.isNew, r.version, r.fresh = true, nil, false
	if r.st == stSaved {
		r.st = stOpen
	}
}

// Regenerate gives the session a new id, keeps its data and deletes the old
// entry at the end of the request.
func (r *Request) Regenerate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Regenerate") {
		if err := r.errLocked(); err != nil {
			return err
		}
		return ErrEnded
	}
	if r.isNew && r.empty() {
		return nil // nothing to protect yet, as in Flask-Session
	}
	r.moveTo(forwardOld)
	return nil
}

// Permanent reports Flask's session.permanent.
func (r *Request) Permanent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return r.permanent()
}

func (r *Request) permanent() bool {
	if i := r.index(PermanentKey); i >= 0 {
		v, _ := r.entries[i].Value()
		b, _ := v.(bool)
		return b
	}
	return false
}

// SetPermanent sets Flask's session.permanent.
func (r *Request) SetPermanent(permanent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("SetPermanent") {
		return
	}
	r.entries = set(r.entries, PermanentKey, permanent)
	r.record(change{kind: changeSet, key: PermanentKey, val: permanent})
}

// Flash appends [category, message] to Flask's "_flashes" list.
func (r *Request) Flash(category, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Flash") {
		return
	}
	category, _ = r.repairString(category)
	message, _ = r.repairString(message)
	r.entries = flash(r.entries, category, message)
	r.record(change{kind: changeFlash, key: category, val: message})
}

// flash appends a pair to a copy of the list, never to a backing array that
// another view of the session (a merged batch) may share.
func flash(entries []wire.Entry, category, message string) []wire.Entry {
	pair := []any{category, message}
	if i := indexOf(entries, FlashesKey); i >= 0 {
		if v, err := entries[i].Value(); err == nil {
			if list, ok := v.([]any); ok {
				entries[i].Set(append(slices.Clip(list), pair))
				return entries
			}
		}
	}
	return set(entries, FlashesKey, []any{pair})
}

// Flashes removes every flashed message and returns those in categories
// (all when none is given), like Flask's get_flashed_messages.
func (r *Request) Flashes(categories ...string) []FlashMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("Flashes") {
		return nil
	}
	i := r.index(FlashesKey)
	if i < 0 {
		return nil
	}
	v, _ := r.value(i)
	list, _ := v.([]any)
	r.entries = del(r.entries, FlashesKey)
	r.record(change{kind: changeDelete, key: FlashesKey})
	out := make([]FlashMessage, 0, len(list))
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		cat, _ := pair[0].(string)
		msg, _ := pair[1].(string)
		if len(categories) > 0 && !slices.Contains(categories, cat) {
			continue
		}
		out = append(out, FlashMessage{Category: cat, Message: msg})
	}
	return out
}

// apply replays changes on entries (a copy the caller owns).
func apply(entries []wire.Entry, changes []change) []wire.Entry {
	for _, c := range changes {
		switch c.kind {
		case changeSet:
			entries = set(entries, c.key, c.val)
		case changeDelete:
			entries = del(entries, c.key)
		case changeClear:
			entries = entries[:0]
		case changeFlash:
			entries = flash(entries, c.key, c.val.(string))
		}
	}
	return entries
}

// DecodedKeys lists the keys whose values have been decoded so far, for
// tests and diagnostics (a read-only request decodes only what it reads).
func (r *Request) DecodedKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for i := range r.entries {
		if r.entries[i].Decoded() {
			keys = append(keys, r.entries[i].Key)
		}
	}
	return keys
}

// Created returns the session's creation time (Config.Absolute), for tests
// and diagnostics.
func (r *Request) Created() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, t, ok := createdAt(r.entries)
	return t, ok
}
