package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// The user index is one item per user in the sessions table, beside the
// sessions and outside SESSION_KEY_PREFIX (so listing and cleanup by prefix
// never see it, and Flask never reads it):
//
//	{id: "ginsession-users:" + prefix + sha256hex(user),
//	 "l:" + session key: <link expiry, Unix ms (N)>, ...,
//	 expiration: <the latest link's expiry, Unix s (N)>}
//
// Each link is a top-level attribute, so a link or an unlink is one
// UpdateItem; the item's expiration follows its latest link, so DynamoDB's
// TTL removes an index whose links all expired. Expired links are removed
// when the user's index is read. An item holds at most 400 KB: some
// thousands of sessions per user.
const UserIndexPrefix = "ginsession-users:"

const linkAttr = "l:"

func (s *Store) userItem(user string) string {
	sum := sha256.Sum256([]byte(user))
	return UserIndexPrefix + s.prefix + hex.EncodeToString(sum[:])
}

// LinkUser records that key belongs to user for ttl from now: one
// UpdateItem.
func (s *Store) LinkUser(ctx context.Context, user, k string, ttl time.Duration) error {
	if err := s.check(ctx, "link user"); err != nil {
		return err
	}
	now := time.Now()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(s.userItem(user)),
		UpdateExpression:          aws.String("SET #l = :until, #e = :exp"),
		ExpressionAttributeNames:  map[string]string{"#l": linkAttr + k, "#e": attrExp},
		ExpressionAttributeValues: map[string]types.AttributeValue{":until": num(strconv.FormatInt(now.Add(ttl).UnixMilli(), 10)), ":exp": num(expiryNumber(now, ttl))},
	})
	if err != nil {
		return wrap("link user", err)
	}
	return nil
}

// UnlinkUser removes key from user's index: one UpdateItem.
func (s *Store) UnlinkUser(ctx context.Context, user, k string) error {
	if err := s.check(ctx, "unlink user"); err != nil {
		return err
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(s.userItem(user)),
		UpdateExpression:         aws.String("REMOVE #l"),
		ConditionExpression:      aws.String("attribute_exists(#i)"),
		ExpressionAttributeNames: map[string]string{"#l": linkAttr + k, "#i": attrID},
	})
	if err != nil && !conditionFailed(err) {
		return wrap("unlink user", err)
	}
	return nil
}

// UserKeys returns the keys linked to user whose links have not expired
// (a consistent GetItem), removing expired links it sees.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := s.check(ctx, "user keys"); err != nil {
		return nil, err
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(s.userItem(user)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, wrap("user keys", err)
	}
	now := time.Now().UnixMilli()
	var keys []string
	for name, v := range out.Item {
		k, ok := strings.CutPrefix(name, linkAttr)
		n, isNum := v.(*types.AttributeValueMemberN)
		if !ok || !isNum {
			continue
		}
		until, err := strconv.ParseInt(n.Value, 10, 64)
		if err == nil && until > now {
			keys = append(keys, k)
			continue
		}
		// Expired: remove it, unless it was renewed meanwhile.
		_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       key(s.userItem(user)),
			UpdateExpression:          aws.String("REMOVE #l"),
			ConditionExpression:       aws.String("#l = :v"),
			ExpressionAttributeNames:  map[string]string{"#l": name},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(n.Value)},
		})
		if err != nil && !conditionFailed(err) {
			s.log.Warn("ginsession: dynamodb: could not prune an expired user link", "err", err)
		}
	}
	return keys, nil
}
