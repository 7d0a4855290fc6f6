package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// expiryPage is how many PTTLs Expiries sends in one pipeline.
const expiryPage = 500

// Expiries returns when the entries under keys expire: PTTL for each key,
// pipelined, expiryPage keys per round trip (a Cluster client sends each
// node its share of a page at once). A key without a TTL (written by
// someone else) reports the zero time, as a missing one does.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := s.check(ctx, "expiries"); err != nil {
		return nil, err
	}
	out := make([]time.Time, len(keys))
	for start := 0; start < len(keys); start += expiryPage {
		page := keys[start:min(start+expiryPage, len(keys))]
		ttls, err := run(s, ctx, func(ctx context.Context) ([]time.Duration, error) {
			cmds, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range page {
					p.PTTL(ctx, k)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			ttls := make([]time.Duration, len(cmds))
			for i, c := range cmds {
				ttls[i] = c.(*redis.DurationCmd).Val()
			}
			return ttls, nil
		})
		if err != nil {
			return nil, wrap("expiries", err)
		}
		now := time.Now()
		for i, ttl := range ttls {
			if ttl > 0 { // -1: no TTL, -2: missing
				out[start+i] = now.Add(ttl)
			}
		}
	}
	return out, nil
}

// isIndexKey reports whether a listed key is one of the store's user
// indexes rather than a session (when SESSION_KEY_PREFIX is empty, or a
// prefix of UserIndexPrefix, SCAN finds both).
func (s *Store) isIndexKey(k string) bool {
	return strings.HasPrefix(k, UserIndexPrefix+s.prefix)
}
