package dynamostore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestMain stops the shared dynalite and removes its directory at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	testserver.StopShared()
	os.Exit(code)
}

// target is one server the tests run against: the dynalite they start, and
// the DynamoDB named by GINSESSION_TEST_DYNAMODB_ENDPOINT or
// GINSESSION_TEST_DYNAMODB_TABLE when set.
type target struct {
	name string
	// client returns a client counting its requests into c.
	client func(t *testing.T, c *counter) *dynamodb.Client
	// table returns the table a test uses: a fresh one on dynalite, the
	// configured one on an external server.
	table func(t *testing.T) string
	// fresh reports whether table returns a table of this test's own.
	fresh bool
}

func targets() []target {
	ts := []target{{
		name: "dynalite",
		client: func(t *testing.T, c *counter) *dynamodb.Client {
			return localClient(t, testserver.SharedDynalite(t).Endpoint, c)
		},
		table: func(*testing.T) string { return randomName("gs_") },
		fresh: true,
	}}
	if endpoint, table, ok := testserver.ExternalDynamoDB(); ok {
		if table == "" {
			table = "ginsession_test"
		}
		ts = append(ts, target{
			name: "external",
			client: func(t *testing.T, c *counter) *dynamodb.Client {
				cl, err := dynamostore.NewClient(context.Background(), endpoint)
				if err != nil {
					t.Fatal(err)
				}
				return dynamodb.New(cl.Options(), func(o *dynamodb.Options) { o.HTTPClient = c.wrap(o.HTTPClient) })
			},
			table: func(*testing.T) string { return table },
		})
	}
	return ts
}

// forEach runs fn as a subtest per target.
func forEach(t *testing.T, fn func(t *testing.T, tg target)) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) { fn(t, tg) })
	}
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// localClient is a client for a local DynamoDB-wire server: any region and
// static credentials.
func localClient(t testing.TB, endpoint string, c *counter) *dynamodb.Client {
	t.Helper()
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   c.wrap(nil),
	})
}

// counter records the DynamoDB operation of every HTTP request a client
// sends (retries included): the store's real round trips.
type counter struct {
	mu  sync.Mutex
	ops []string
}

type countingClient struct {
	c    *counter
	next aws.HTTPClient
}

func (cc countingClient) Do(r *http.Request) (*http.Response, error) {
	if cc.c != nil {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		cc.c.mu.Lock()
		cc.c.ops = append(cc.c.ops, op)
		cc.c.mu.Unlock()
	}
	return cc.next.Do(r)
}

func (c *counter) wrap(next aws.HTTPClient) aws.HTTPClient {
	if next == nil {
		next = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return countingClient{c: c, next: next}
}

// take returns and forgets the recorded operations.
func (c *counter) take() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops
}

// fixture is a store on a table, the raw client and the request counter.
type fixture struct {
	store  *dynamostore.Store
	client *dynamodb.Client
	count  *counter
	table  string
	prefix string
	logs   *logBuffer
}

func newFixture(t *testing.T, tg target, opts dynamostore.Options) fixture {
	t.Helper()
	f := fixture{count: &counter{}, logs: &logBuffer{}, prefix: randomName("t:") + ":"}
	f.client = tg.client(t, f.count)
	f.table = tg.table(t)
	opts.Table = f.table
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = f.prefix
	}
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	s, err := dynamostore.New(f.client, opts)
	if err != nil {
		t.Fatalf("dynamostore.New: %v", err)
	}
	f.store = s
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if tg.fresh {
			_, _ = f.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(f.table)})
			return
		}
		deleteUnder(ctx, f.client, f.table, f.prefix)
	})
	f.count.take()
	return f
}

// deleteUnder removes every item of table whose id starts with prefix.
func deleteUnder(ctx context.Context, c *dynamodb.Client, table, prefix string) {
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("begins_with(id, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: prefix}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, it := range page.Items {
			_, _ = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"id": it["id"]}})
		}
	}
}

// rawItem returns the whole stored item of key (strongly consistent).
func (f fixture) rawItem(t *testing.T, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.client.GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName: aws.String(f.table), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	return out.Item
}

// flaskWrite writes key the way Flask-Session 0.8 does: update_item with
// "SET val = :value, expiration = :exp", the expiration a Decimal of a
// fractional timestamp.
func (f fixture) flaskWrite(t *testing.T, key string, val []byte, exp time.Time) {
	t.Helper()
	_, err := f.client.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{
		TableName:        aws.String(f.table),
		Key:              map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
		UpdateExpression: aws.String("SET val = :value, expiration = :exp"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":value": &types.AttributeValueMemberB{Value: val},
			":exp":   &types.AttributeValueMemberN{Value: flaskTimestamp(exp)},
		},
	})
	if err != nil {
		t.Fatalf("Flask-style update_item: %v", err)
	}
}

// flaskTimestamp is what boto3 sends for Decimal(datetime.timestamp()):
// the exact decimal expansion of the float64 timestamp (up to about 32
// significant digits, e.g. 1764234567.1234567165374755859375).
func flaskTimestamp(t time.Time) string {
	f := float64(t.UnixMicro()) / 1e6
	s := new(big.Float).SetPrec(200).SetFloat64(f).Text('f', 40)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// logBuffer is a concurrency-safe io.Writer for a test logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
