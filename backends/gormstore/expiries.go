package gormstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// expiryBatch is how many keys one SELECT of Expiries asks for.
const expiryBatch = 500

// Expiries returns when the rows under keys expire: one SELECT ... WHERE
// session_id IN (...) per expiryBatch keys. A missing or expired row, and
// one whose expiry cannot be read, reports the zero time.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	const op = "expiries"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	out := make([]time.Time, len(keys))
	now := time.Now()
	for start := 0; start < len(keys); start += expiryBatch {
		batch := keys[start:min(start+expiryBatch, len(keys))]
		ask := make([]string, 0, len(batch))
		for _, k := range batch {
			if storable(k) {
				ask = append(ask, k)
			}
		}
		if len(ask) == 0 {
			continue
		}
		found := make(map[string]time.Time, len(ask))
		err := s.retry(ctx, func() error {
			clear(found)
			rows, err := s.db.WithContext(ctx).Raw("SELECT session_id, expiry FROM ? WHERE session_id IN ?", s.table, ask).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					key sql.NullString
					exp expiry
				)
				if err := rows.Scan(&key, &exp); err != nil {
					return err
				}
				// Exact matches only: a case-insensitive collation (a
				// table Flask made on MySQL) may return other keys.
				if key.Valid && exp.valid && exp.t.After(now) {
					found[key.String] = exp.t
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			return rows.Close()
		})
		if err != nil {
			return nil, s.wrap(op, err)
		}
		for i, k := range batch {
			out[start+i] = found[k]
		}
	}
	return out, nil
}
