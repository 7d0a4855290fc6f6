package ginsession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/wire"
)

// Regenerate racing with writes
//
// A request R that calls Regenerate copies the session it loaded to a new
// id and removes the old entry. Other requests W on the old id may be in
// flight at that moment. The guarantee, with a compare-and-swap store:
//
//   - every write W committed to the old entry before R retired it ends up
//     in the new entry: R retires the old entry with a conditional write
//     of a tombstone against the version it loaded; when W got in first,
//     R reloads, reapplies its own changes to what W left, rewrites the
//     new entry and tries again;
//   - a W of the same process that loaded the old entry before it was
//     retired and commits afterwards (for up to moveGrace) has its changes
//     carried to the new entry (forwarded); its response sets no cookie,
//     so that neither the old id (which would undo the browser's switch to
//     the new one) nor the new id (which would hand the new id to whoever
//     held the old one) is sent;
//   - a W of another process in that situation finds the old entry gone
//     and is handled like a write racing a logout: its changes are
//     dropped, logged, and its response expires the cookie;
//   - a request that loads the old id after the retirement gets a fresh
//     session, like any unknown id: the old id never leads to the new
//     session (session fixation);
//   - the old entry is deleted; nothing of it is left in the store.

// moveGrace is how long a retired id keeps forwarding the writes of
// requests of this process that loaded it before its retirement.
const moveGrace = time.Minute

// tombstoneTTL bounds the life of a tombstone whose deletion failed.
const tombstoneTTL = 10 * time.Second

// move records the retirement of an old store key in favour of a new one.
type move struct {
	to    string        // the new store key
	done  chan struct{} // closed once the old entry is retired, or the retirement failed
	ok    bool          // the retirement succeeded; set before done is closed
	until time.Time     // forget the move after this
}

// retire removes the old entry of a regenerated session s, now stored
// under newKey. The caller holds s.mu.
func (m *Middleware) retire(ctx context.Context, s *Session, newKey string, ttl time.Duration) error {
	oldKey := s.oldKey
	if m.cas == nil || s.oldVersion == nil {
		return m.store.Delete(ctx, oldKey)
	}
	mv := &move{to: newKey, done: make(chan struct{}), until: time.Now().Add(moveGrace)}
	m.qmu.Lock()
	if m.moves == nil {
		m.moves = map[string]*move{}
	}
	for k, old := range m.moves {
		if time.Now().After(old.until) {
			delete(m.moves, k)
		}
	}
	m.moves[oldKey] = mv
	m.movesN.Store(int32(len(m.moves)))
	m.qmu.Unlock()

	err := m.freeze(ctx, s, oldKey, newKey, ttl)
	if err == nil {
		err = m.store.Delete(ctx, oldKey)
	}
	mv.ok = err == nil
	close(mv.done)
	if err != nil {
		m.qmu.Lock()
		if m.moves[oldKey] == mv {
			delete(m.moves, oldKey)
			m.movesN.Store(int32(len(m.moves)))
		}
		m.qmu.Unlock()
	}
	return err
}

// freeze replaces the old entry by a tombstone, on condition that it still
// holds the version s loaded. When another request wrote it since, its
// value is reloaded, s's own changes are reapplied to it, the new entry is
// rewritten with the result, and freeze tries again. Nobody else writes
// the new entry meanwhile: its id is not out yet, and forwarded writes wait
// for the move to complete.
func (m *Middleware) freeze(ctx context.Context, s *Session, oldKey, newKey string, ttl time.Duration) error {
	version := s.oldVersion
	tomb := m.tombstone(oldKey)
	for attempt := 0; ; attempt++ {
		err := m.cas.SaveIf(ctx, oldKey, tomb, version, tombstoneTTL)
		if err == nil || !errors.Is(err, backends.ErrConflict) {
			return err
		}
		if attempt >= m.opts.MaxRetries {
			return fmt.Errorf("gave up after %d attempts: %w", attempt+1, err)
		}
		rec, err := m.cas.LoadVersion(ctx, oldKey, 0)
		if err != nil {
			return err
		}
		if !rec.Found {
			return nil // deleted meanwhile (a logout): nothing more to carry
		}
		entries, _, derr := m.decodeStored(nil, oldKey, rec.Data)
		if errors.Is(derr, errNoSession) {
			return nil // another Regenerate's tombstone
		}
		if derr != nil {
			m.log.Warn("ginsession: stored session cannot be decoded; regenerating from this request's data", "sid", logSID(s.sid), "err", derr)
			entries = nil
		}
		merged := &Session{entries: entries}
		merged.apply(s.changes)
		data, err := m.encodeEntries(newKey, merged.entries)
		if err != nil {
			return err
		}
		if err := m.store.Save(ctx, newKey, data, ttl); err != nil {
			return err
		}
		s.entries = merged.entries
		version = rec.Version
	}
}

// tombstone is the value that marks a retired entry until it is deleted:
// the serialization's nil, which both ginsession and Flask-Session read as
// "no session".
func (m *Middleware) tombstone(key string) []byte {
	data := []byte{0xc0} // msgpack nil
	if m.format == wire.JSON {
		data = []byte("null")
	}
	if m.sealer != nil {
		data = m.sealer.Seal(key, data)
	}
	return data
}

// movedTo returns the new key of a retired key, waiting for its retirement
// to complete. ok is false when key was not retired by this process (or
// long ago), or the retirement failed.
func (m *Middleware) movedTo(ctx context.Context, key string) (to string, ok bool) {
	if m.movesN.Load() == 0 {
		return "", false
	}
	m.qmu.Lock()
	mv := m.moves[key]
	m.qmu.Unlock()
	if mv == nil {
		return "", false
	}
	select {
	case <-mv.done:
		return mv.to, mv.ok
	case <-ctx.Done():
		return "", false
	}
}

// retired reports whether this process recently retired key: a response
// for that id must not set a cookie.
func (m *Middleware) retired(key string) bool {
	if m.movesN.Load() == 0 {
		return false
	}
	m.qmu.Lock()
	mv := m.moves[key]
	m.qmu.Unlock()
	return mv != nil && time.Now().Before(mv.until)
}
