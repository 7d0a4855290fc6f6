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
	out := make([]time.Time, len(keys))
	st, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer st.mu.RUnlock()
	now := st.now()
	for i, k := range keys {
		if e := st.live(k, now); e != nil {
			out[i] = e.expires
		}
	}
	return out, nil
}
