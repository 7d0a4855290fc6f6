package memstore

import (
	"context"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// LinkUser records that key belongs to user until ttl from now (a later
// expiry already recorded is kept).
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := s.s
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return errClosed
	}
	if st.users == nil {
		st.users = map[string]map[string]time.Time{}
	}
	links := st.users[user]
	if links == nil {
		links = map[string]time.Time{}
		st.users[user] = links
	}
	now := st.now()
	for k, until := range links { // prune expired links as we go
		if !until.After(now) {
			delete(links, k)
		}
	}
	if until := now.Add(ttl); until.After(links[key]) {
		links[key] = until
	}
	return nil
}

// UnlinkUser removes key from user's index.
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := s.s
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return errClosed
	}
	if links := st.users[user]; links != nil {
		delete(links, key)
		if len(links) == 0 {
			delete(st.users, user)
		}
	}
	return nil
}

// UserKeys returns the keys linked to user whose links have not expired.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := s.s
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed {
		return nil, errClosed
	}
	now := st.now()
	var keys []string
	for k, until := range st.users[user] {
		if until.After(now) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
