// Package dynamostore keeps ginsession sessions in an Amazon DynamoDB table,
// in the item format Flask-Session 0.8 uses, so a Gin service and a Flask
// service pointed at the same table share sessions. It registers
// SESSION_TYPE "dynamodb".
//
// Each session is one item of a table whose partition key is id (S):
//
//	{id: S "<prefix><sid>", val: B <encoded session>, expiration: N <Unix seconds>}
//
// id, val and expiration are exactly Flask-Session's attributes; nothing
// else is written, and writes set only val and expiration (UpdateItem, as
// Flask-Session's update_item does), so attributes added by other tools
// survive. Expiration is written as whole Unix seconds, rounded up; a
// fractional value written by Flask (Python's Decimal of a timestamp) is
// read as it is.
//
// Every operation is one request:
//
//	Load, LoadVersion     GetItem (strongly consistent by default)
//	Save                  UpdateItem SET val, expiration
//	SaveIf (nil version)  UpdateItem … IF attribute_not_exists(id) OR expiration <= now
//	SaveIf (a version)    UpdateItem … IF val = <the loaded bytes> AND expiration > now
//	Touch                 UpdateItem SET expiration IF the item exists and is live
//	Delete                DeleteItem
//	Cleanup, Keys         Scan (paginated); Cleanup then one conditional DeleteItem per expired item
//
// Versions are the loaded bytes themselves: a Flask writer rewrites val, so
// a separate version attribute would go stale, while a condition on val
// catches every writer.
//
// Expired items are misses even before DynamoDB's TTL sweeper deletes them
// (it may lag by up to 48 hours). LoadVersion does not write: it reports
// the session as refreshed while its stored expiry is within
// [Options.RefreshWindow] of a full refresh, so the core's refresh touch (an
// UpdateItem costing a write unit) happens about once per RefreshWindow ×
// lifetime for an active session instead of on every read. See
// docs/backends/dynamodb.md.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/errs"
	"github.com/ginsession/ginsession/internal/setup"
)

// Defaults used when the corresponding Options field is zero.
const (
	// DefaultTable is SESSION_DYNAMODB_TABLE's default, Flask-Session's.
	DefaultTable = "Sessions"
	// DefaultRefreshWindow is the default Options.RefreshWindow.
	DefaultRefreshWindow = 0.1
	// DefaultSetupTimeout bounds the table set-up New performs.
	DefaultSetupTimeout = 30 * time.Second
)

// MaxItemSize is DynamoDB's item size limit, 400 KB: the lengths of the
// attribute names plus their values.
const MaxItemSize = 400 * 1024

// numberSize is the most a Number attribute can take (38 significant
// digits: 1 byte per two, plus one).
const numberSize = 21

// ItemSize is the size DynamoDB counts for a session item with the given key
// and an n-byte value, with the expiration number counted at its largest.
// A value is accepted when ItemSize(key, len(value)) <= MaxItemSize.
func ItemSize(key string, n int) int {
	return len(attrID) + len(key) + len(attrVal) + n + len(attrExp) + numberSize
}

// MaxValueSize is the largest value the store accepts for every valid key
// (keys are at most 250 bytes). Shorter keys leave room for a little more.
const MaxValueSize = MaxItemSize - (len(attrID) + 250 + len(attrVal) + len(attrExp) + numberSize)

// Attribute names, Flask-Session's.
const (
	attrID  = "id"
	attrVal = "val"
	attrExp = "expiration"
)

// names maps the placeholders every expression uses.
func names() map[string]string {
	return map[string]string{"#i": attrID, "#v": attrVal, "#e": attrExp}
}

// Options configure a Store. The zero value of every field means its default.
type Options struct {
	// Table is SESSION_DYNAMODB_TABLE (default "Sessions").
	Table string
	// KeyPrefix is SESSION_KEY_PREFIX. Keys lists, and Cleanup removes,
	// only items whose id starts with it; empty means every item of the
	// table.
	KeyPrefix string
	// NoCreateTable skips the set-up New does by default: create the table
	// when it is missing (on-demand capacity, partition key id of type S)
	// and enable TTL on expiration, as Flask-Session does. With it, New
	// sends nothing and needs no DescribeTable, CreateTable or
	// UpdateTimeToLive permission.
	NoCreateTable bool
	// EventuallyConsistentReads makes GetItem eventually consistent, which
	// halves its read cost but can hand a request the session as it was
	// before the previous request's write (a lost update is still
	// impossible: writes are conditional). Default: strongly consistent.
	EventuallyConsistentReads bool
	// RefreshWindow is the fraction of the refresh lifetime by which a
	// stored expiry may fall short of a full refresh before a read asks
	// the core to renew it (default 0.1: a session used continuously is
	// touched about once per tenth of its lifetime, and an idle one
	// expires between 0.9 and 1 lifetime after its last use). Negative:
	// renew on every read, as Flask-Session does.
	RefreshWindow float64
	// SetupTimeout bounds New's table set-up (default 30s).
	SetupTimeout time.Duration
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
}

// Store is a backends.Store on a DynamoDB table. It also implements
// backends.Toucher, backends.CompareAndSwapper, backends.Cleaner,
// backends.Lister and io.Closer. It is safe for concurrent use.
type Store struct {
	client     *dynamodb.Client
	table      string
	prefix     string
	consistent bool
	window     float64
	log        *slog.Logger
	ttl        atomic.Bool // the server accepted (or already had) TTL on expiration
	// prep runs the table set-up (unless NoCreateTable) before every call
	// until it has succeeded; nil when there is none.
	prep *setup.Once

	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Cleaner           = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)

// New returns a Store on opts.Table. Unless opts.NoCreateTable is set, it
// creates the table when missing (PAY_PER_REQUEST, partition key id of type
// S), waits until it is active, enables TTL on expiration, and checks that
// an existing table's key is id (S), waiting at most opts.SetupTimeout. A
// server that does not implement TTL (dynalite answers
// UnknownOperationException) is logged once; expired items are then only
// ignored on read and removed by Cleanup. The client stays the caller's.
func New(client *dynamodb.Client, opts Options) (*Store, error) {
	timeout := opts.SetupTimeout
	if timeout <= 0 {
		timeout = DefaultSetupTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return newStore(ctx, client, opts)
}

func newStore(ctx context.Context, client *dynamodb.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("ginsession: dynamodb: nil client")
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if err := CheckTableName(opts.Table); err != nil {
		return nil, fmt.Errorf("ginsession: dynamodb: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := opts.RefreshWindow
	switch {
	case w == 0:
		w = DefaultRefreshWindow
	case w < 0:
		w = -1 // every read
	case w >= 1 || math.IsNaN(w):
		return nil, fmt.Errorf("ginsession: dynamodb: RefreshWindow %v: want a fraction below 1 (0: default %v; negative: refresh on every read)", opts.RefreshWindow, DefaultRefreshWindow)
	}
	s := &Store{
		client:     client,
		table:      opts.Table,
		prefix:     opts.KeyPrefix,
		consistent: !opts.EventuallyConsistentReads,
		window:     w,
		log:        opts.Logger.With("store", "dynamodb", "table", opts.Table),
	}
	if !opts.NoCreateTable {
		// The start-up policy (docs/backends.md, "Start-up"): a server
		// that does not answer is not an error; the set-up then runs
		// before the first call instead, until it succeeds. A server that
		// answers with an error (a table with another key) fails New.
		s.prep = setup.New(s.prepare)
		if err := s.prep.Do(ctx); err != nil {
			if !setup.IsUnreachable(err) {
				return nil, err
			}
			s.log.Warn("ginsession: dynamodb: DynamoDB is not reachable at start; the table is checked (and created) on first use, and calls fail until it answers",
				"err", err)
		}
	}
	return s, nil
}

// prepare is setup, with the failures that are not an answer from DynamoDB
// marked unreachable, so that they are retried on first use: a request that
// failed without an API error (refused or timed-out connection) or a
// deadline that came first (also while a table is being created). A table
// with another key, or an API error such as AccessDenied, is an answer.
func (s *Store) prepare(ctx context.Context) error {
	err := s.setup(ctx)
	if err == nil {
		return nil
	}
	var api smithy.APIError
	var op *smithy.OperationError
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &op) && !errors.As(err, &api) {
		return setup.Unreachable(err)
	}
	return err
}

// CheckTableName reports whether name is a valid DynamoDB table name: 3 to
// 255 characters among a-z, A-Z, 0-9, '_', '-' and '.'.
func CheckTableName(name string) error {
	ok := len(name) >= 3 && len(name) <= 255
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return fmt.Errorf("table name %q: want 3 to 255 characters among a-z, A-Z, 0-9, _, - and .", name)
	}
	return nil
}

// setup creates the table and enables TTL when the table is missing, and
// checks the key schema of an existing one.
func (s *Store) setup(ctx context.Context) error {
	out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return s.create(ctx)
	case err != nil:
		return fmt.Errorf("ginsession: dynamodb: describe table %s: %w", s.table, err)
	}
	if err := checkSchema(out.Table); err != nil {
		return fmt.Errorf("ginsession: dynamodb: table %s: %w", s.table, err)
	}
	if out.Table.TableStatus == types.TableStatusCreating {
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	s.checkTTL(ctx) // an existing table is used as it is; only report on its TTL
	return nil
}

// checkTTL learns whether an existing table has TTL on expiration, and says
// what to do when it has not. A server or a role that cannot answer
// (dynalite; no dynamodb:DescribeTimeToLive permission) is noted at Debug.
func (s *Store) checkTTL(ctx context.Context) {
	out, err := s.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.table)})
	if err != nil {
		s.log.Debug("ginsession: dynamodb: cannot tell whether TTL is enabled; expired sessions are ignored on read either way", "error", err)
		return
	}
	d := out.TimeToLiveDescription
	if d != nil && aws.ToString(d.AttributeName) == attrExp &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		s.ttl.Store(true)
		return
	}
	s.log.Info("ginsession: dynamodb: TTL is not enabled on expiration: expired sessions stay in the table (ignored on read) until Cleanup; enable it with aws dynamodb update-time-to-live --time-to-live-specification Enabled=true,AttributeName=expiration")
}

// checkSchema requires a partition key named id of type S and no sort key.
func checkSchema(t *types.TableDescription) error {
	if t == nil {
		return errors.New("no description")
	}
	hashOK := false
	for _, k := range t.KeySchema {
		switch {
		case k.KeyType == types.KeyTypeHash && aws.ToString(k.AttributeName) == attrID:
			hashOK = true
		case k.KeyType == types.KeyTypeRange:
			return fmt.Errorf("has a sort key %q; sessions need a table keyed by %q (S) alone", aws.ToString(k.AttributeName), attrID)
		}
	}
	if !hashOK {
		return fmt.Errorf("its partition key is not %q; sessions need a table keyed by %q (S)", attrID, attrID)
	}
	for _, a := range t.AttributeDefinitions {
		if aws.ToString(a.AttributeName) == attrID && a.AttributeType != types.ScalarAttributeTypeS {
			return fmt.Errorf("its key %q has type %s; want S", attrID, a.AttributeType)
		}
	}
	return nil
}

func (s *Store) create(ctx context.Context) error {
	_, err := s.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(s.table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrID), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrID), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: another process created it just now
		return fmt.Errorf("ginsession: dynamodb: create table %s: %w", s.table, err)
	}
	if err := s.wait(ctx); err != nil {
		return err
	}
	s.log.Info("ginsession: dynamodb: created the session table (on-demand capacity, key id)")
	_, err = s.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExp),
			Enabled:       aws.Bool(true),
		},
	})
	var api smithy.APIError
	switch {
	case err == nil:
		s.ttl.Store(true)
	case errors.As(err, &api) && strings.Contains(api.ErrorMessage(), "already enabled"):
		s.ttl.Store(true) // a concurrent creator enabled it
	case errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException":
		s.log.Info("ginsession: dynamodb: the server does not implement TTL (UpdateTimeToLive); expired sessions are ignored on read and removed by Cleanup (set SESSION_CLEANUP_N_REQUESTS)")
	case errors.As(err, &api):
		s.log.Warn("ginsession: dynamodb: could not enable TTL on expiration; expired sessions are ignored on read and removed by Cleanup", "error", err)
	default:
		return fmt.Errorf("ginsession: dynamodb: enable TTL on %s.expiration: %w", s.table, err)
	}
	return nil
}

// wait polls DescribeTable until the table is active.
func (s *Store) wait(ctx context.Context) error {
	limit := 5 * time.Minute
	if d, ok := ctx.Deadline(); ok {
		limit = time.Until(d)
	}
	w := dynamodb.NewTableExistsWaiter(s.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, limit); err != nil {
		return fmt.Errorf("ginsession: dynamodb: wait for table %s: %w", s.table, err)
	}
	return nil
}

// ExpiresOnServer reports whether DynamoDB deletes expired items by itself:
// New enabled TTL on expiration, or found it enabled on an existing table.
// When false (TTL off, a server without TTL such as dynalite, a role that
// may not describe it, or NoCreateTable), expired items stay until Cleanup;
// the core calls it when SESSION_CLEANUP_N_REQUESTS is set.
func (s *Store) ExpiresOnServer() bool { return s.ttl.Load() }

// Client returns the DynamoDB client the store uses.
func (s *Store) Client() *dynamodb.Client { return s.client }

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Close marks the store closed; later calls fail with backends.ErrClosed.
// A DynamoDB client holds nothing to release.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closed.Store(true) })
	return nil
}

func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("ginsession: dynamodb: %s: %w", op, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: dynamodb: %s: %w", op, err)
	}
	if s.prep != nil {
		return errs.Prefixed("ginsession: dynamodb: "+op, s.prep.Do(ctx))
	}
	return nil
}

// wrap prefixes a client error. Keys are left out: they hold session ids.
func wrap(op string, err error) error {
	return fmt.Errorf("ginsession: dynamodb: %s: %w", op, err)
}

func tooLarge(key string, data []byte) error {
	if n := ItemSize(key, len(data)); n > MaxItemSize {
		return fmt.Errorf("ginsession: dynamodb: an item of %d bytes (value %d) exceeds DynamoDB's %d-byte limit: %w", n, len(data), MaxItemSize, backends.ErrTooLarge)
	}
	return nil
}

// now is the current time as a Number with millisecond precision.
func nowNumber(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

// expiryNumber is the expiration written for ttl from t: whole Unix
// seconds, rounded up, so an entry lives at least ttl.
func expiryNumber(t time.Time, ttl time.Duration) string {
	at := t.Add(ttl)
	sec := at.Unix()
	if at.Nanosecond() > 0 {
		sec++
	}
	return strconv.FormatInt(sec, 10)
}

func key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: k}}
}

func num(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func bin(b []byte) types.AttributeValue {
	if b == nil {
		b = []byte{}
	}
	return &types.AttributeValueMemberB{Value: b}
}

// item is a loaded session item.
type item struct {
	val    []byte
	exp    float64 // Unix seconds
	hasExp bool
}

// get reads key's item: found is false for a missing or expired item.
func (s *Store) get(ctx context.Context, k string, at time.Time) (it item, found bool, err error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(k),
		ConsistentRead:           aws.Bool(s.consistent),
		ProjectionExpression:     aws.String("#v, #e"),
		ExpressionAttributeNames: map[string]string{"#v": attrVal, "#e": attrExp},
	})
	if err != nil {
		return item{}, false, wrap("load", err)
	}
	if out.Item == nil {
		return item{}, false, nil
	}
	it, err = decode(out.Item)
	if err != nil {
		return item{}, false, err
	}
	if it.hasExp && it.exp <= float64(at.UnixMilli())/1000 {
		return item{}, false, nil
	}
	return it, true, nil
}

// decode checks an item's attributes. A val that is not binary, or an
// expiration that is not a number, is an error: the table is not holding
// sessions the way Flask-Session writes them.
func decode(m map[string]types.AttributeValue) (item, error) {
	var it item
	switch v := m[attrVal].(type) {
	case *types.AttributeValueMemberB:
		it.val = append([]byte{}, v.Value...)
	case nil:
		return item{}, errors.New("ginsession: dynamodb: session item has no val attribute")
	default:
		return item{}, fmt.Errorf("ginsession: dynamodb: session item's val is %T; want binary (B)", v)
	}
	switch e := m[attrExp].(type) {
	case *types.AttributeValueMemberN:
		f, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			return item{}, fmt.Errorf("ginsession: dynamodb: session item's expiration %q: %w", e.Value, err)
		}
		it.exp, it.hasExp = f, true
	case nil: // no expiry: DynamoDB's TTL ignores it, so do we
	default:
		return item{}, fmt.Errorf("ginsession: dynamodb: session item's expiration is %T; want a number (N)", e)
	}
	return it, nil
}

// Load returns the value of key if its item exists and has not expired.
func (s *Store) Load(ctx context.Context, k string) ([]byte, bool, error) {
	if err := s.check(ctx, "load"); err != nil {
		return nil, false, err
	}
	it, found, err := s.get(ctx, k, time.Now())
	if err != nil || !found {
		return nil, false, err
	}
	return it.val, true, nil
}

// Save stores data under key with an expiry ttl from now (UpdateItem SET
// val, expiration: Flask-Session's write).
func (s *Store) Save(ctx context.Context, k string, data []byte, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	if err := tooLarge(k, data); err != nil {
		return err
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(k),
		UpdateExpression:         aws.String("SET #v = :v, #e = :e"),
		ExpressionAttributeNames: map[string]string{"#v": attrVal, "#e": attrExp},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": bin(data),
			":e": num(expiryNumber(time.Now(), ttl)),
		},
	})
	if err != nil {
		return wrap("save", err)
	}
	return nil
}

// Delete removes key's item.
func (s *Store) Delete(ctx context.Context, k string) error {
	if err := s.check(ctx, "delete"); err != nil {
		return err
	}
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(k)}); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// conditionFailed reports a failed ConditionExpression.
func conditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// Touch sets the expiry of key's live item to ttl from now: an UpdateItem of
// expiration alone, conditional on the item existing and being live, so a
// missing or expired key stays missing.
func (s *Store) Touch(ctx context.Context, k string, ttl time.Duration) error {
	if err := s.check(ctx, "touch"); err != nil {
		return err
	}
	now := time.Now()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(k),
		UpdateExpression:         aws.String("SET #e = :e"),
		ConditionExpression:      aws.String("attribute_exists(#i) AND (attribute_not_exists(#e) OR #e > :now)"),
		ExpressionAttributeNames: map[string]string{"#i": attrID, "#e": attrExp},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e":   num(expiryNumber(now, ttl)),
			":now": num(nowNumber(now)),
		},
	})
	if err != nil && !conditionFailed(err) {
		return wrap("touch", err)
	}
	return nil
}

// version is the token LoadVersion hands out: the loaded bytes.
type version struct{ val []byte }

// LoadVersion loads key with a version token for SaveIf. It never writes.
// With refresh > 0 it reports Refreshed when the stored expiry is already
// within the refresh window of refresh from now (so the core skips its
// touch); otherwise the core touches the item at the end of the request.
func (s *Store) LoadVersion(ctx context.Context, k string, refresh time.Duration) (backends.Record, error) {
	if err := s.check(ctx, "load"); err != nil {
		return backends.Record{}, err
	}
	now := time.Now()
	it, found, err := s.get(ctx, k, now)
	if err != nil || !found {
		return backends.Record{}, err
	}
	rec := backends.Record{
		Data:    it.val,
		Found:   true,
		Version: &version{val: append([]byte{}, it.val...)},
	}
	if refresh > 0 && it.hasExp {
		rec.Refreshed = !s.due(it.exp, now, refresh)
	}
	return rec, nil
}

// due reports whether an item expiring at exp (Unix seconds) needs its
// expiry renewed to refresh from now: when it falls short of a full
// refresh by more than the window, or reaches more than a second past it
// (the lifetime was shortened: apply it).
func (s *Store) due(exp float64, now time.Time, refresh time.Duration) bool {
	if s.window < 0 {
		return true
	}
	left := time.Duration((exp - float64(now.UnixMilli())/1000) * float64(time.Second))
	short := time.Duration(float64(refresh) * s.window)
	return left < refresh-short || left > refresh+time.Second
}

// SaveIf writes data under key only if the item still holds the bytes
// LoadVersion returned and is live; a nil version writes only if no live
// item exists. Otherwise it writes nothing and returns an error matching
// backends.ErrConflict.
func (s *Store) SaveIf(ctx context.Context, k string, data []byte, ver any, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	if err := tooLarge(k, data); err != nil {
		return err
	}
	now := time.Now()
	in := &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              key(k),
		UpdateExpression: aws.String("SET #v = :v, #e = :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v":   bin(data),
			":e":   num(expiryNumber(now, ttl)),
			":now": num(nowNumber(now)),
		},
	}
	if ver == nil {
		in.ConditionExpression = aws.String("attribute_not_exists(#i) OR #e <= :now")
		in.ExpressionAttributeNames = names()
	} else {
		v, ok := ver.(*version)
		if !ok || v == nil {
			return fmt.Errorf("ginsession: dynamodb: version %T is not from this store: %w", ver, backends.ErrConflict)
		}
		in.ConditionExpression = aws.String("#v = :old AND (attribute_not_exists(#e) OR #e > :now)")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVal, "#e": attrExp}
		in.ExpressionAttributeValues[":old"] = bin(v.val)
	}
	_, err := s.client.UpdateItem(ctx, in)
	switch {
	case err == nil:
		return nil
	case conditionFailed(err) && ver == nil:
		return fmt.Errorf("ginsession: dynamodb: session already exists: %w", backends.ErrConflict)
	case conditionFailed(err):
		return fmt.Errorf("ginsession: dynamodb: session changed since it was loaded: %w", backends.ErrConflict)
	}
	return wrap("save", err)
}

// scan calls fn with the id of every item matching filter (prefix
// included), page by page.
func (s *Store) scan(ctx context.Context, op, filter string, now time.Time, fn func(id string) error) error {
	values := map[string]types.AttributeValue{":now": num(nowNumber(now))}
	namesUsed := map[string]string{"#i": attrID, "#e": attrExp}
	if s.prefix != "" {
		filter = "begins_with(#i, :p) AND (" + filter + ")"
		values[":p"] = &types.AttributeValueMemberS{Value: s.prefix}
	}
	p := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          aws.String(filter),
		ProjectionExpression:      aws.String("#i"),
		ExpressionAttributeNames:  namesUsed,
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(s.consistent),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrap(op, err)
		}
		for _, it := range page.Items {
			if id, ok := it[attrID].(*types.AttributeValueMemberS); ok {
				if err := fn(id.Value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Cleanup deletes every expired item (whose id starts with
// Options.KeyPrefix) and reports how many it deleted: a paginated Scan for
// expired items, then one DeleteItem per item, conditional on it still
// being expired, so a session renewed meanwhile stays. With TTL enabled
// DynamoDB does this by itself (within about 48 hours, at no write cost);
// Cleanup is for servers without TTL and for prompt removal.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.check(ctx, "cleanup"); err != nil {
		return 0, err
	}
	removed := 0
	err := s.scan(ctx, "cleanup", "#e <= :now", time.Now(), func(id string) error {
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       key(id),
			ConditionExpression:       aws.String("#e <= :now"),
			ExpressionAttributeNames:  map[string]string{"#e": attrExp},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(nowNumber(time.Now()))},
		})
		switch {
		case err == nil:
			removed++
		case conditionFailed(err): // renewed meanwhile
		default:
			return wrap("cleanup", err)
		}
		return nil
	})
	if err != nil {
		return removed, err
	}
	return removed, nil
}

// Keys returns the ids (prefix included) of every live item whose id starts
// with Options.KeyPrefix (a paginated Scan), the sessions only: not the user
// index items, which the prefix also matches when it is empty.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := s.check(ctx, "keys"); err != nil {
		return nil, err
	}
	keys := []string{}
	index := UserIndexPrefix + s.prefix
	err := s.scan(ctx, "keys", "attribute_not_exists(#e) OR #e > :now", time.Now(), func(id string) error {
		if !strings.HasPrefix(id, index) { // a user index (users.go), not a session
			keys = append(keys, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
