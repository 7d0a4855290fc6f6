package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/wire"
)

// The user index
//
// Session.SetUser ties a session to a user id, kept in the session under
// UserKey (Flask ignores it). Stores implementing backends.UserIndexer
// also keep, beside the sessions, an index from each user to the keys of
// their sessions; the engine maintains it on commit:
//
//   - before a session with a user is written or refreshed, its key is
//     linked to the user (a link lasts linkTTL, twice the lifetime, and a
//     process re-links a key it linked less than a lifetime ago only when
//     the user changed, so the index costs one round trip per session and
//     process and lifetime, not one per request); a failed link fails the
//     commit, because a session missing from the index would survive
//     "log out everywhere";
//   - after a commit that moved the session away from the (user, key) it
//     was loaded with (Regenerate, Destroy, Clear, SetUser of another
//     user), the old link is removed; a failure is only logged, because a
//     stale link is harmless: RevokeUser and UserSessions check every
//     session they find through the index.

// UserKey holds the user id set by SetUser. Keys and Len hide it, but it
// makes a session non-empty.
const UserKey = "_ginsession_user"

// MaxUserLen bounds a user id, in bytes.
const MaxUserLen = 512

// userIndex is the engine's side of the index: the store's indexer and the
// links this process made recently.
type userIndex struct {
	ix       backends.UserIndexer
	lifetime time.Duration

	mu     sync.Mutex
	linked map[string]linkRec // by store key
}

type linkRec struct {
	user string
	at   time.Time
}

// maxLinked bounds the memory of recent links; past it the memory restarts
// (which only costs re-links).
const maxLinked = 1 << 16

func newUserIndex(store backends.Store, ix backends.UserIndexer, lifetime time.Duration) *userIndex {
	if ix == nil {
		ix, _ = store.(backends.UserIndexer)
	}
	if ix == nil {
		return nil
	}
	return &userIndex{ix: ix, lifetime: lifetime, linked: map[string]linkRec{}}
}

// linkTTL is how long a link lasts: twice the longest session expiry, so
// that a link made less than a lifetime ago outlives the session however
// often it is refreshed meanwhile.
func (u *userIndex) linkTTL() time.Duration { return 2 * u.lifetime }

func (u *userIndex) recent(user, key string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	rec, ok := u.linked[key]
	return ok && rec.user == user && now.Sub(rec.at) < u.lifetime
}

func (u *userIndex) note(user, key string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.linked) >= maxLinked {
		u.linked = map[string]linkRec{}
	}
	u.linked[key] = linkRec{user: user, at: at}
}

func (u *userIndex) forget(key string) {
	u.mu.Lock()
	delete(u.linked, key)
	u.mu.Unlock()
}

// userOf returns the user id stored in entries ("" when none).
func userOf(entries []wire.Entry) string {
	i := indexOf(entries, UserKey)
	if i < 0 {
		return ""
	}
	v, err := entries[i].Value()
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

// userState is what a Request remembers for the index: the (user, key)
// pair the store's index holds for this session.
type userState struct {
	user string
	key  string
}

// noteLoadedUser records the user of the session just loaded.
func (r *Request) noteLoadedUser() {
	if r.e.users != nil {
		r.users = userState{user: userOf(r.entries), key: r.storeKey()}
	}
}

// commitIndexed is commitOpen with the index kept right around it.
func (r *Request) commitIndexed() error {
	u := r.e.users
	if u == nil {
		return r.commitOpen()
	}
	r.detectInPlace()
	if r.plan() != actDelete {
		if err := r.linkUser(u); err != nil {
			return err
		}
	}
	if err := r.commitOpen(); err != nil {
		return err
	}
	r.unlinkStale(u)
	return nil
}

// linkUser links the session's key to its user, unless this process did
// so recently.
func (r *Request) linkUser(u *userIndex) error {
	user := userOf(r.entries)
	if user == "" || r.empty() {
		return nil
	}
	key, now := r.storeKey(), time.Now()
	if u.recent(user, key, now) {
		return nil
	}
	ctx, c := r.writeCtx()
	err := u.ix.LinkUser(ctx, user, key, u.linkTTL())
	r.done(c)
	if err != nil {
		return storeError("index the session by user", err)
	}
	u.note(user, key, now)
	return nil
}

// unlinkStale removes the link of the (user, key) the session was loaded
// with (or last committed as) when the session is no longer that user's
// under that key.
func (r *Request) unlinkStale(u *userIndex) {
	cur := userState{user: userOf(r.entries), key: r.storeKey()}
	if r.empty() {
		cur = userState{}
	}
	old := r.users
	r.users = cur
	if old.user == "" || old == cur {
		return
	}
	u.forget(old.key)
	ctx, c := r.writeCtx()
	err := u.ix.UnlinkUser(ctx, old.user, old.key)
	r.done(c)
	if err != nil {
		r.e.log.Warn("ginsession: could not remove a session from its user's index; the stale entry is ignored and expires by itself",
			"sid", LogSID(r.e.sid(old.key)), "err", clean(err))
	}
}

// SetUser ties the session to a user id ("" unties it).
func (r *Request) SetUser(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.beginChange("SetUser") {
		return
	}
	if len(user) > MaxUserLen {
		if r.setErr == nil {
			r.setErr = &Error{Kind: ErrNotEncodable, Op: "set session user", Key: UserKey, Detail: fmt.Sprintf("a user id of %d bytes is longer than %d", len(user), MaxUserLen)}
		}
		return
	}
	if user == "" {
		if r.index(UserKey) >= 0 {
			r.entries = del(r.entries, UserKey)
			r.record(change{kind: changeDelete, key: UserKey})
		}
		return
	}
	if userOf(r.entries) == user {
		return
	}
	r.entries = set(r.entries, UserKey, user)
	r.record(change{kind: changeSet, key: UserKey, val: user})
}

// User returns the user id set by SetUser, or "".
func (r *Request) User() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin()
	return userOf(r.entries)
}

// ErrNoIndex is returned by UserKeys for a store without a user index.
var ErrNoIndex = errors.New("ginsession: the store keeps no index of sessions by user")

// UserSessions returns the store keys of user's live sessions, checking
// each key the index gives (a stale link is removed, never trusted).
func (e *Engine) UserSessions(ctx context.Context, user string) ([]string, error) {
	return e.userSessions(ctx, user, false)
}

// RevokeUser deletes every session of user and returns how many it deleted.
func (e *Engine) RevokeUser(ctx context.Context, user string) (int, error) {
	keys, err := e.userSessions(ctx, user, true)
	return len(keys), err
}

func (e *Engine) userSessions(ctx context.Context, user string, remove bool) ([]string, error) {
	u := e.users
	if u == nil {
		return nil, ErrNoIndex
	}
	if user == "" {
		return nil, nil
	}
	keys, err := u.ix.UserKeys(ctx, user)
	if err != nil {
		return nil, storeError("list the user's sessions", err)
	}
	var out []string
	for _, key := range keys {
		data, found, err := e.store.Load(ctx, key)
		if err != nil {
			return out, storeError("load session", err)
		}
		mine := false
		if found {
			entries, _, derr := e.decode(key, data)
			mine = derr == nil && userOf(entries) == user
		}
		if mine && remove {
			if err := e.store.Delete(ctx, key); err != nil {
				return out, storeError("delete session", err)
			}
		}
		if !mine || remove {
			u.forget(key)
			if err := u.ix.UnlinkUser(ctx, user, key); err != nil && !mine {
				e.log.Warn("ginsession: could not remove a stale entry of a user's index", "err", clean(err))
			}
		}
		if mine {
			out = append(out, key)
		}
	}
	return out, nil
}

// UserOfStored returns the user id of a stored session value ("" when it
// has none or cannot be decoded), for admin tools.
func (e *Engine) UserOfStored(key string, data []byte) string {
	entries, _, err := e.decode(key, data)
	if err != nil {
		return ""
	}
	return userOf(entries)
}

// sid is the session id of a store key.
func (e *Engine) sid(key string) string {
	if len(key) >= len(e.cfg.KeyPrefix) {
		return key[len(e.cfg.KeyPrefix):]
	}
	return key
}
