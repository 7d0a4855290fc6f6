package memstore

import (
	"context"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// link is one entry of the user index: key belongs to the user until
// until; at is when it was last linked.
type link struct {
	until, at time.Time
}

// linkGrace is how long a link to a key without a live session is kept.
// The engine links a session to its user just before it saves the session,
// so a fresh link may precede its entry; past the grace, a link whose
// session is gone (expired, deleted) is pruned, on read and by Cleanup and
// the janitor, instead of waiting for the link's own, longer, expiry.
const linkGrace = time.Minute

// LinkUser records that key belongs to user until ttl from now (a later
// expiry already recorded is kept).
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if st.users == nil {
		st.users = map[string]map[string]link{}
	}
	links := st.users[user]
	if links == nil {
		links = map[string]link{}
		st.users[user] = links
	}
	now := st.now()
	st.pruneUser(user, links, now) // prune as we go (it may drop the user)
	l := links[key]
	if until := now.Add(ttl); until.After(l.until) {
		l.until = until
	}
	l.at = now
	links[key] = l
	st.users[user] = links
	return nil
}

// UnlinkUser removes key from user's index.
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if links := st.users[user]; links != nil {
		delete(links, key)
		if len(links) == 0 {
			delete(st.users, user)
		}
	}
	return nil
}

// UserKeys returns the keys linked to user whose links have not expired,
// pruning the links to sessions that are gone.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	st, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	links := st.users[user]
	st.pruneUser(user, links, st.now())
	keys := make([]string, 0, len(links))
	for k := range links {
		keys = append(keys, k)
	}
	return keys, nil
}

// pruneUser removes user's expired links and, past linkGrace, the links to
// keys without a live entry. The caller holds st.mu for writing.
func (st *state) pruneUser(user string, links map[string]link, now time.Time) {
	for k, l := range links {
		if !l.until.After(now) || now.Sub(l.at) >= linkGrace && st.live(k, now) == nil {
			delete(links, k)
		}
	}
	if len(links) == 0 {
		delete(st.users, user)
	}
}

// pruneLinks prunes every user's links (Cleanup, janitor). The caller
// holds st.mu for writing.
func (st *state) pruneLinks(now time.Time) {
	for user, links := range st.users {
		st.pruneUser(user, links, now)
	}
}
