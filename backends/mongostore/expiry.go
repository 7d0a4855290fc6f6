package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// expiryBatch is how many keys one find of Expiries asks for.
const expiryBatch = 1000

// Expiries returns when the documents under keys expire: one find
// ({id: {$in: ...}, expiration: {$gt: now}}, projected on id and
// expiration) per expiryBatch keys. A missing or expired document reports
// the zero time.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]time.Time, len(keys))
	at := now()
	for start := 0; start < len(keys); start += expiryBatch {
		batch := keys[start:min(start+expiryBatch, len(keys))]
		filter := bson.D{
			{Key: "id", Value: bson.D{{Key: "$in", Value: batch}}},
			{Key: "expiration", Value: bson.D{{Key: "$gt", Value: at}}},
		}
		proj := options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "id", Value: 1}, {Key: "expiration", Value: 1}})
		found, err := s.findExpiries(ctx, filter, proj)
		if err != nil {
			return nil, wrap("expiries", err)
		}
		for i, k := range batch {
			out[start+i] = found[k]
		}
	}
	return out, nil
}

func (s *Store) findExpiries(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) (map[string]time.Time, error) {
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	found := map[string]time.Time{}
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("id").StringValueOK()
		if !ok {
			continue
		}
		if ms, ok := cur.Current.Lookup("expiration").DateTimeOK(); ok {
			found[id] = time.UnixMilli(ms)
		}
	}
	return found, cur.Err()
}
