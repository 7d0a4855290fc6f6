package memstore

import (
	"context"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// Expiries returns when the entries under keys expire (the zero time for a
// missing or expired key), in the order of keys.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := check(ctx); err != nil {
		return nil, err
	}
	st := s.s
	out := make([]time.Time, len(keys))
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed {
		return nil, errClosed
	}
	now := st.now()
	for i, k := range keys {
		if e := st.live(k, now); e != nil {
			out[i] = e.expires
		}
	}
	return out, nil
}
