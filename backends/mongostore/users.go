package mongostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// The user index is a collection of its own beside the sessions,
// SESSION_MONGODB_COLLECT + "_users", never a field of the session
// documents (Flask-Session rewrites those and would drop it). One document
// per link:
//
//	{_id: "<sha256 hex of the user id>:<session key>", user: "<sha256 hex>",
//	 key: "<session key>", expiration: <UTC date>}
//
// with an index on user. Expired links are pruned when their user is
// linked (no TTL index is needed, so FerretDB works too).

func (s *Store) users() *mongo.Collection {
	return s.coll.Database().Collection(s.coll.Name() + "_users")
}

func mongoUserHash(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:])
}

// LinkUser records that key belongs to user for ttl from now: prune the
// user's expired links, then upsert the link (two commands; the index on
// user is created on the first link of each Store).
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	h, now := mongoUserHash(user), time.Now()
	c := s.users()
	if !s.usersIndexed.Load() {
		if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "user", Value: 1}}}); err != nil {
			return wrap("link user: create index", err)
		}
		s.usersIndexed.Store(true)
	}
	unlock, err := s.lock(ctx, "\x00users:"+h)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.busyRetry(ctx, func() error {
		_, err := c.DeleteMany(ctx, bson.D{{Key: "user", Value: h}, {Key: "expiration", Value: bson.D{{Key: "$lte", Value: now}}}})
		return err
	})
	if err != nil {
		return wrap("link user", err)
	}
	err = s.busyRetry(ctx, func() error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: h + ":" + key}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "user", Value: h}, {Key: "key", Value: key}, {Key: "expiration", Value: now.Add(ttl)}}}},
			options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return wrap("link user", err)
	}
	return nil
}

// busyRetry runs fn again, while ctx allows, when FerretDB's SQLite backend
// answers "database is locked" (a writer of another collection of the same
// database held it); MongoDB never answers that.
func (s *Store) busyRetry(ctx context.Context, fn func() error) error {
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := fn()
		if err == nil || !s.serialize.Load() || !strings.Contains(err.Error(), "database is locked") {
			return err
		}
		t := time.NewTimer(pause + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// UnlinkUser removes key from user's index.
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	h := mongoUserHash(user)
	unlock, err := s.lock(ctx, "\x00users:"+h)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.busyRetry(ctx, func() error {
		_, err := s.users().DeleteOne(ctx, bson.D{{Key: "_id", Value: h + ":" + key}})
		return err
	})
	if err != nil {
		return wrap("unlink user", err)
	}
	return nil
}

// UserKeys returns the keys linked to user whose links have not expired.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	cur, err := s.users().Find(ctx, bson.D{
		{Key: "user", Value: mongoUserHash(user)},
		{Key: "expiration", Value: bson.D{{Key: "$gt", Value: time.Now()}}},
	}, options.Find().SetProjection(bson.D{{Key: "key", Value: 1}}))
	if err != nil {
		return nil, wrap("user keys", err)
	}
	var docs []struct {
		Key string `bson:"key"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("user keys", err)
	}
	keys := make([]string, len(docs))
	for i, d := range docs {
		keys[i] = d.Key
	}
	return keys, nil
}
