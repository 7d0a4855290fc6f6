package ginsession

import (
	"time"
)

// createdKey is the reserved session key holding the creation time (Unix
// seconds) when Options.AbsoluteLifetime is set. Flask ignores it.
const createdKey = "_created"

// internal reports whether key is one of the core's bookkeeping keys, which
// Keys and Len hide and which do not make a session non-empty: Flask's
// "_permanent", and "_created" when AbsoluteLifetime is on.
func (s *Session) internal(key string) bool {
	return key == permanentKey || key == createdKey && s.m != nil && s.m.opts.AbsoluteLifetime > 0
}

// refreshes reports whether an unmodified session gets its expiry extended
// when it is used: SESSION_REFRESH_EACH_REQUEST, or any idle timeout (a
// session in use must not time out).
func (m *Middleware) refreshes() bool {
	return !m.opts.NoRefreshEachRequest || m.opts.IdleTimeout > 0
}

// baseTTL is the store expiry of a write or refresh before the absolute
// deadline is applied: min(Lifetime, IdleTimeout).
func (m *Middleware) baseTTL() time.Duration {
	ttl := m.opts.Lifetime
	if it := m.opts.IdleTimeout; it > 0 && it < ttl {
		ttl = it
	}
	return ttl
}

// loadRefresh is the expiry LoadVersion may set while loading (0: none).
// When the absolute lifetime is shorter than the refresh, a refresh at load
// could reach past a session's deadline, which is not known before the
// session is decoded: the commit then refreshes with the exact expiry.
func (m *Middleware) loadRefresh() time.Duration {
	if !m.refreshes() {
		return 0
	}
	ttl := m.baseTTL()
	if a := m.opts.AbsoluteLifetime; a > 0 && a < ttl {
		return 0
	}
	return ttl
}

// createdAt returns the session's creation time, and whether it has one.
func (s *Session) createdAt() (time.Time, bool) {
	if i := s.index(createdKey); i >= 0 {
		if n, ok := asInt(valueOf(&s.entries[i])); ok {
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// sessionTTL is the store expiry for a write or refresh of s now: the base
// expiry, cut at the absolute deadline, and never under a second (the
// deadline itself is checked on load).
func (m *Middleware) sessionTTL(s *Session) time.Duration {
	ttl := m.baseTTL()
	if a := m.opts.AbsoluteLifetime; a > 0 {
		if c, ok := s.createdAt(); ok {
			if left := c.Add(a).Sub(m.now()); left < ttl {
				ttl = left
			}
		}
	}
	return max(ttl, time.Second)
}

// cookieExpires is the Expires of a permanent session's cookie: now plus
// Lifetime, cut at the absolute deadline.
func (m *Middleware) cookieExpires(s *Session) time.Time {
	now := m.now()
	exp := now.Add(m.opts.Lifetime)
	if a := m.opts.AbsoluteLifetime; a > 0 {
		if c, ok := s.createdAt(); ok && c.Add(a).Before(exp) {
			exp = c.Add(a)
		}
	}
	return exp
}

// pastDeadline reports whether loaded entries belong to a session older
// than AbsoluteLifetime, or whose creation time is not a number; such a
// session is deleted from the store (a failure is only logged: its store
// expiry ends at the deadline anyway). The caller holds s.mu.
func (m *Middleware) pastDeadline(s *Session, sid, key string, entries []entry) bool {
	var created any
	for i := range entries {
		if entries[i].Foreign == nil && entries[i].Key == createdKey {
			created = valueOf(&entries[i])
			break
		}
	}
	if created == nil {
		return false // written before the option was on: stamped by afterLoad
	}
	n, ok := asInt(created)
	if ok && m.now().Before(time.Unix(n, 0).Add(m.opts.AbsoluteLifetime)) {
		return false
	}
	m.log.Info("ginsession: session reached its absolute lifetime; starting a new session",
		"sid", logSID(sid), "created", created, "absolute_lifetime", m.opts.AbsoluteLifetime)
	ctx, cancel := m.storeCtx(s, false)
	defer cancel()
	if err := m.store.Delete(ctx, key); err != nil {
		m.log.Warn("ginsession: could not delete an expired session", "err", err)
	}
	return true
}

// afterLoad applies the timeouts to a session just loaded. With an
// absolute lifetime, a session without a creation time (stored before the
// option was turned on, or by Flask) gets one now, saved by this request;
// and a refresh at load that reached past the deadline is redone by the
// commit with the exact expiry. The caller holds s.mu.
func (m *Middleware) afterLoad(s *Session) {
	a := m.opts.AbsoluteLifetime
	if a <= 0 {
		return
	}
	c, ok := s.createdAt()
	if !ok {
		now := m.now().Unix()
		s.set(createdKey, now)
		s.record(change{kind: changeSet, key: createdKey, val: now})
		return
	}
	if s.fresh && m.now().Add(m.loadRefresh()).After(c.Add(a)) {
		s.fresh = false
	}
}

// stampCreated gives a session about to be written its creation time if it
// has none (a new session, or one that was cleared). It is recorded as a
// change of this request without marking a late change. The caller holds
// s.mu.
func (m *Middleware) stampCreated(s *Session) {
	if m.opts.AbsoluteLifetime <= 0 || !s.modified || s.index(createdKey) >= 0 {
		return
	}
	now := m.now().Unix()
	s.set(createdKey, now)
	s.changes = append(s.changes, change{kind: changeSet, key: createdKey, val: now})
}
