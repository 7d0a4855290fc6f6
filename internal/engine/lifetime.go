package engine

import (
	"time"

	"github.com/ginsession/ginsession/internal/wire"
)

// createdAt returns the session's creation time, and whether it has one.
func createdAt(entries []wire.Entry) (created any, t time.Time, ok bool) {
	i := indexOf(entries, CreatedKey)
	if i < 0 {
		return nil, time.Time{}, false
	}
	v, err := entries[i].Value()
	if err != nil {
		return nil, time.Time{}, false
	}
	if n, isInt := wire.AsInt(v); isInt {
		return v, time.Unix(n, 0), true
	}
	return v, time.Time{}, false
}

// ttl is the store expiry for a write or refresh now: the base expiry, cut
// at the absolute deadline, and never under a second (the deadline itself is
// checked on load).
func (r *Request) ttl() time.Duration {
	e := r.e
	ttl := e.baseTTL()
	if a := e.cfg.Absolute; a > 0 {
		if _, c, ok := createdAt(r.entries); ok {
			if left := c.Add(a).Sub(e.now()); left < ttl {
				ttl = left
			}
		}
	}
	return max(ttl, time.Second)
}

// cookieExpires is the Expires of a permanent session's cookie: now plus
// Lifetime, cut at the absolute deadline.
func (r *Request) cookieExpires() time.Time {
	e := r.e
	exp := e.now().Add(e.cfg.Lifetime)
	if a := e.cfg.Absolute; a > 0 {
		if _, c, ok := createdAt(r.entries); ok && c.Add(a).Before(exp) {
			exp = c.Add(a)
		}
	}
	return exp
}

// pastDeadline reports whether loaded entries belong to a session past its
// absolute lifetime, or whose creation time is not a number; such a session
// is deleted from the store (a failure is only logged: its store expiry ends
// at the deadline anyway). The caller holds r.mu.
func (r *Request) pastDeadline(sid, key string, entries []wire.Entry) bool {
	e := r.e
	created, at, ok := createdAt(entries)
	if created == nil {
		return false // written before the option was on: stamped by afterLoad
	}
	if ok && e.now().Before(at.Add(e.cfg.Absolute)) {
		return false
	}
	e.log.Info("ginsession: session reached its absolute lifetime; starting a new session",
		"sid", LogSID(sid), "created", created, "absolute_lifetime", e.cfg.Absolute)
	ctx, c := r.readCtx()
	defer r.done(c)
	if err := e.store.Delete(ctx, key); err != nil {
		e.log.Warn("ginsession: could not delete an expired session", "err", clean(err))
	}
	return true
}

// afterLoad applies the timeouts to a session just loaded: with an absolute
// lifetime, a session without a creation time (stored before the option was
// turned on, or by Flask) gets one now, saved by this request; and a refresh
// at load that reached past the deadline is redone by the commit with the
// exact expiry. The caller holds r.mu.
func (r *Request) afterLoad() {
	e := r.e
	a := e.cfg.Absolute
	if a <= 0 {
		return
	}
	_, c, ok := createdAt(r.entries)
	if !ok {
		r.stamp()
		return
	}
	if r.fresh && e.now().Add(e.loadRefresh()).After(c.Add(a)) {
		r.fresh = false
	}
}

// stamp gives the session its creation time, as a change of this request.
func (r *Request) stamp() {
	now := r.e.now().Unix()
	r.entries = set(r.entries, CreatedKey, now)
	r.changes = append(r.changes, change{kind: changeSet, key: CreatedKey, val: now})
}

// stampIfNeeded stamps a session about to be written that has no creation
// time (a new session, or one that was cleared).
func (r *Request) stampIfNeeded() {
	if r.e.cfg.Absolute > 0 && indexOf(r.entries, CreatedKey) < 0 {
		r.stamp()
	}
}
