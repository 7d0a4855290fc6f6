package engine

import (
	"context"
	"errors"
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
//     so that neither the old id nor the new one is sent to its client;
//   - a W of another process in that situation finds the old entry gone
//     and is handled like a write racing a logout: its changes are
//     dropped, logged, and its response expires the cookie;
//   - a request that loads the old id after the retirement gets a fresh
//     session, like any unknown id: the old id never leads to the new
//     session (session fixation);
//   - once the new entry exists, R never fails because of the old one: a
//     failure to remove it is logged and retried in the background.

// moveGrace is how long a retired id keeps forwarding the writes of
// requests of this process that loaded it before its retirement.
const moveGrace = time.Minute

// tombstoneTTL bounds the life of a tombstone whose deletion failed.
const tombstoneTTL = 10 * time.Second

// retryDeletes is how many times a failed removal of a retired entry is
// retried in the background, with growing pauses from retryPause.
const (
	retryDeletes = 6
	retryPause   = 500 * time.Millisecond
)

// move records the retirement of an old store key in favour of a new one.
type move struct {
	to    string        // the new store key
	done  chan struct{} // closed once the old entry is retired, or the retirement failed
	ok    bool          // the retirement succeeded; set before done is closed
	until time.Time     // forget the move after this
}

// retire removes the entry r moved away from, now that the session is
// stored under newKey. Regenerate's old entry is frozen first (see above);
// Destroy's is deleted. Only Destroy's failure is returned: a session
// regenerated is never lost because its old entry could not be removed.
// The caller holds r.mu.
func (r *Request) retire(newKey string, ttl time.Duration) error {
	e, prev := r.e, r.prev
	ctx, c := r.writeCtx()
	defer r.done(c)
	if prev.writes == dropOld {
		if err := e.store.Delete(ctx, prev.key); err != nil {
			return storeError("delete the session's previous id", err)
		}
		return nil
	}
	if e.cas == nil || prev.version == nil {
		if err := e.store.Delete(ctx, prev.key); err != nil {
			e.deleteLater(prev.key, err)
		}
		return nil
	}
	mv := &move{to: newKey, done: make(chan struct{}), until: time.Now().Add(moveGrace)}
	e.qmu.Lock()
	if e.moves == nil {
		e.moves = map[string]*move{}
	}
	for k, old := range e.moves {
		if time.Now().After(old.until) {
			delete(e.moves, k)
		}
	}
	e.moves[prev.key] = mv
	e.movesN.Store(int32(len(e.moves)))
	e.qmu.Unlock()

	err := ErrPanicked
	defer func() { // panics included: forwarded writers never wait forever
		mv.ok = err == nil
		close(mv.done)
		if err != nil {
			e.qmu.Lock()
			if e.moves[prev.key] == mv {
				delete(e.moves, prev.key)
				e.movesN.Store(int32(len(e.moves)))
			}
			e.qmu.Unlock()
		}
	}()
	if err = r.freeze(ctx, newKey, ttl); err == nil {
		err = e.store.Delete(ctx, prev.key)
	}
	if err != nil {
		e.deleteLater(prev.key, err)
	}
	return nil
}

// freeze replaces the old entry by a tombstone, on condition that it still
// holds the version r loaded. When another request wrote it since, its
// value is reloaded, r's own changes are reapplied to it, the new entry is
// rewritten with the result, and freeze tries again.
func (r *Request) freeze(ctx context.Context, newKey string, ttl time.Duration) error {
	e, oldKey, version := r.e, r.prev.key, r.prev.version
	tomb := e.tombstone(oldKey)
	for attempt := 0; ; attempt++ {
		err := e.cas.SaveIf(ctx, oldKey, tomb, version, tombstoneTTL)
		if err == nil || !errors.Is(err, backends.ErrConflict) {
			return err
		}
		if attempt >= e.cfg.MaxRetries {
			return err
		}
		rec, err := e.cas.LoadVersion(ctx, oldKey, 0)
		if err != nil {
			return err
		}
		if !rec.Found {
			return nil // deleted meanwhile (a logout): nothing more to carry
		}
		entries, _, derr := e.decode(oldKey, rec.Data)
		if errors.Is(derr, wire.ErrNil) {
			return nil // another Regenerate's tombstone
		}
		if derr != nil {
			e.log.Warn("ginsession: stored session cannot be decoded; regenerating from this request's data", "sid", LogSID(r.sid), "err", clean(derr))
			entries = nil
		}
		entries = apply(entries, r.changes)
		data, err := e.encode(newKey, entries)
		if err != nil {
			return err
		}
		if err := e.store.Save(ctx, newKey, data, ttl); err != nil {
			return err
		}
		r.entries = entries
		version = rec.Version
	}
}

// deleteLater retries the removal of a retired entry in the background.
func (e *Engine) deleteLater(key string, cause error) {
	e.log.Warn("ginsession: could not remove a regenerated session's previous id; retrying in the background", "err", clean(cause))
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		pause := retryPause
		for range retryDeletes {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-e.stop:
				t.Stop()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
			err := e.store.Delete(ctx, key)
			cancel()
			if err == nil {
				return
			}
			cause, pause = err, 2*pause
		}
		e.log.Error("ginsession: gave up removing a regenerated session's previous id; it expires with its store TTL", "err", clean(cause))
	}()
}

// movedTo returns the new key of a retired key, waiting for its retirement
// to complete. ok is false when key was not retired by this process (or
// long ago), or the retirement failed.
func (e *Engine) movedTo(ctx context.Context, key string) (to string, ok bool) {
	if e.movesN.Load() == 0 {
		return "", false
	}
	e.qmu.Lock()
	mv := e.moves[key]
	e.qmu.Unlock()
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
func (e *Engine) retired(key string) bool {
	if e.movesN.Load() == 0 {
		return false
	}
	e.qmu.Lock()
	mv := e.moves[key]
	e.qmu.Unlock()
	return mv != nil && time.Now().Before(mv.until)
}
