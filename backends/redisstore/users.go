package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// UserIndexPrefix starts the key of every user index: a sorted set per
// user, "ginsession-users:" + SESSION_KEY_PREFIX + user id, whose members
// are session keys scored by the Unix time (ms) their link expires. The set
// itself expires with its longest link. SESSION_KEY_PREFIX must not be a
// prefix of it, or listing sessions would list the indexes too.
const UserIndexPrefix = "ginsession-users:"

// linkScript adds or extends one link, prunes expired links and keeps the
// set alive as long as its longest link, in one round trip. It uses the
// server's clock, so that application servers with skewed clocks agree.
var linkScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local untilms = now + ttl
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < untilms then
  redis.call('ZADD', KEYS[1], untilms, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// keysScript lists the live links of a user by the server's clock.
var keysScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

func (s *Store) userIndex(user string) string { return UserIndexPrefix + s.prefix + user }

// LinkUser records that key belongs to user for at least ttl: one round
// trip (a script: ZADD, ZREMRANGEBYSCORE of expired links, PEXPIRE).
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	if err := s.check(ctx, "link user"); err != nil {
		return err
	}
	ms := max(ttl.Milliseconds(), 1)
	_, err := s.call(ctx, func(ctx context.Context) (any, error) {
		return linkScript.Run(ctx, s.client, []string{s.userIndex(user)}, key, ms).Result()
	})
	if err != nil {
		return wrap("link user", err)
	}
	return nil
}

// UnlinkUser removes key from user's index (ZREM).
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	if err := s.check(ctx, "unlink user"); err != nil {
		return err
	}
	_, err := s.call(ctx, func(ctx context.Context) (any, error) {
		return s.client.ZRem(ctx, s.userIndex(user), key).Result()
	})
	if err != nil {
		return wrap("unlink user", err)
	}
	return nil
}

// UserKeys returns the keys linked to user whose links have not expired.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := s.check(ctx, "user keys"); err != nil {
		return nil, err
	}
	v, err := s.call(ctx, func(ctx context.Context) (any, error) {
		return keysScript.Run(ctx, s.client, []string{s.userIndex(user)}).StringSlice()
	})
	if err != nil {
		return nil, wrap("user keys", err)
	}
	return v.([]string), nil
}

// call runs fn, in a goroutine the caller stops waiting for when ctx ends
// if the client ignores context deadlines.
func (s *Store) call(ctx context.Context, fn func(context.Context) (any, error)) (any, error) {
	if s.guard && ctx.Done() != nil {
		return guarded(ctx, fn)
	}
	return fn(ctx)
}
