package filestore

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// Expiries returns when the entries under keys expire, read from each
// entry file's header (the value is not read), under the entry's lock. A
// missing, expired, foreign or damaged entry reports the zero time.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := s.check(ctx, "expiries"); err != nil {
		return nil, err
	}
	out := make([]time.Time, len(keys))
	for i, key := range keys {
		if err := ctx.Err(); err != nil {
			return nil, wrap("expiries", err)
		}
		at, err := s.expiryOf(ctx, key)
		if err != nil {
			return nil, wrap("expiries", err)
		}
		out[i] = at
	}
	return out, nil
}

func (s *Store) expiryOf(ctx context.Context, key string) (time.Time, error) {
	e := s.entryFor(key)
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return time.Time{}, err
	}
	defer unlock()
	h, stored, err := readHeaderFile(e.path, true)
	var fe *formatError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.As(err, &fe):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, err
	case stored != key || h.expiry <= s.now().UnixNano():
		return time.Time{}, nil
	}
	return time.Unix(0, h.expiry), nil
}
