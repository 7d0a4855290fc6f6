package dynamostore

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.ExpiryReporter = (*Store)(nil)

// batchGetMax is the most keys DynamoDB's BatchGetItem takes in one call.
const batchGetMax = 100

// Expiries returns when the items under keys expire: BatchGetItem of up to
// 100 distinct keys per call, projected on id and expiration (unprocessed
// keys are asked again). A missing or expired item, and one without a
// numeric expiration, reports the zero time.
func (s *Store) Expiries(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := s.check(ctx, "expiries"); err != nil {
		return nil, err
	}
	found := make(map[string]time.Time, len(keys))
	// DynamoDB refuses a batch that names a key twice.
	var distinct []string
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	now := time.Now()
	for start := 0; start < len(distinct); start += batchGetMax {
		batch := distinct[start:min(start+batchGetMax, len(distinct))]
		ks := make([]map[string]types.AttributeValue, len(batch))
		for i, k := range batch {
			ks[i] = key(k)
		}
		req := map[string]types.KeysAndAttributes{s.table: {
			Keys:                     ks,
			ConsistentRead:           aws.Bool(s.consistent),
			ProjectionExpression:     aws.String("#i, #e"),
			ExpressionAttributeNames: map[string]string{"#i": attrID, "#e": attrExp},
		}}
		for len(req) > 0 {
			out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, wrap("expiries", err)
			}
			for _, it := range out.Responses[s.table] {
				id, ok := it[attrID].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				if at, ok := expirationOf(it); ok && at.After(now) {
					found[id.Value] = at
				}
			}
			req = out.UnprocessedKeys
			if len(req) > 0 {
				// DynamoDB throttled part of the batch: back off a little.
				select {
				case <-ctx.Done():
					return nil, wrap("expiries", ctx.Err())
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
	res := make([]time.Time, len(keys))
	for i, k := range keys {
		res[i] = found[k]
	}
	return res, nil
}

// expirationOf reads an item's expiration (Unix seconds, a Number).
func expirationOf(it map[string]types.AttributeValue) (time.Time, bool) {
	n, ok := it[attrExp].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
