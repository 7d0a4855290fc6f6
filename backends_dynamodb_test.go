package ginsession

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The dynamodb harness runs on the dynalite shared by this test binary, in
// one table; its Controller kills, pauses and restarts that server (tables
// survive a restart), and the next open heals it. With
// GINSESSION_TEST_DYNAMODB_ENDPOINT (or GINSESSION_TEST_DYNAMODB_TABLE and
// AWS credentials) set, the suites also run against that DynamoDB
// ("dynamodb/external", no Controller).
func init() {
	registerHarness(harness{
		name: "dynamodb",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			srv := testserver.SharedDynalite(t)
			return openDynamo(t, dynaliteClient(srv.Endpoint, nil), "gs_harness"), srv
		},
		conformance: storetest.Options{Granularity: time.Second, MaxValueSize: dynamostore.MaxValueSize, ContentVersions: true},
	})
	if endpoint, table, ok := testserver.ExternalDynamoDB(); ok {
		if table == "" {
			table = "ginsession_test"
		}
		registerHarness(harness{
			name: "dynamodb/external",
			open: func(t *testing.T) (backends.Store, testserver.Controller) {
				c, err := dynamostore.NewClient(context.Background(), endpoint)
				if err != nil {
					t.Fatal(err)
				}
				return openDynamo(t, c, table), nil
			},
			conformance: storetest.Options{Granularity: time.Second, MaxValueSize: dynamostore.MaxValueSize, ContentVersions: true},
		})
	}
}

// dynaliteClient is a client for a local server (any region, static
// credentials) whose requests are counted into count when it is not nil.
func dynaliteClient(endpoint string, count *opCounter) *dynamodb.Client {
	var hc aws.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if count != nil {
		hc = countingHTTP{count, hc}
	}
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   hc,
	})
}

func openDynamo(t *testing.T, c *dynamodb.Client, table string) *dynamostore.Store {
	t.Helper()
	s, err := dynamostore.New(c, dynamostore.Options{Table: table, Logger: quietLogger})
	if err != nil {
		t.Fatalf("dynamostore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// opCounter records the DynamoDB operation of every HTTP request.
type opCounter struct {
	mu  sync.Mutex
	ops []string
}

type countingHTTP struct {
	c    *opCounter
	next aws.HTTPClient
}

func (h countingHTTP) Do(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	h.c.mu.Lock()
	h.c.ops = append(h.c.ops, op[strings.LastIndexByte(op, '.')+1:])
	h.c.mu.Unlock()
	return h.next.Do(r)
}

func (c *opCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops
}

// TestDynamoDBRoundTrips counts the DynamoDB requests one request sends
// through the real middleware with default options
// (SESSION_REFRESH_EACH_REQUEST on): a read 1 (GetItem; no touch while the
// stored expiry is within the refresh window), a write 1 after the load, a
// new session 1, a clear 1 after the load; a read whose stored expiry fell
// more than the window behind adds one touch. 100 reads of a fresh session
// write nothing, and the item's expiry stays where Flask-Session would
// judge the session live: within the window of now + lifetime.
func TestDynamoDBRoundTrips(t *testing.T) {
	srv := testserver.SharedDynalite(t)
	count := &opCounter{}
	store := openDynamo(t, dynaliteClient(srv.Endpoint, count), "gs_rt_"+strings.ToLower(rand.Text()[:8]))
	count.take() // the table set-up
	const life = time.Hour
	mw, err := NewMiddleware(Options{Store: store, Lifetime: life})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(mw.Handler())
	r.GET("/read", func(c *gin.Context) { u, _ := Default(c).GetString("user"); c.String(200, u) })
	r.GET("/write", func(c *gin.Context) { s := Default(c); n, _ := s.GetInt("n"); s.Set("n", n+1); c.String(200, "ok") })
	r.GET("/new", func(c *gin.Context) { s := Default(c); s.Set("user", "alice"); s.Set("n", 1); c.String(200, "ok") })
	r.GET("/clear", func(c *gin.Context) { Default(c).Clear(); c.String(200, "ok") })
	do := func(path, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return w
	}
	newSession := func() (cookie, key string) {
		w := do("/new", "")
		for _, c := range w.Result().Cookies() {
			if c.Name == "session" {
				return "session=" + c.Value, "session:" + c.Value
			}
		}
		t.Fatal("no cookie")
		return "", ""
	}
	cookie, key := newSession()
	if ops := count.take(); !slices.Equal(ops, []string{"UpdateItem"}) {
		t.Errorf("/new: %v; want [UpdateItem]", ops)
	}
	for _, tc := range []struct {
		path, cookie string
		want         []string
	}{
		{"/read", cookie, []string{"GetItem"}},
		{"/write", cookie, []string{"GetItem", "UpdateItem"}},
		{"/read", "", nil},
		{"/read", "session=" + strings.Repeat("A", 43), []string{"GetItem"}},
	} {
		do(tc.path, tc.cookie)
		if ops := count.take(); !slices.Equal(ops, tc.want) {
			t.Errorf("%s (cookie %v): %v; want %v", tc.path, tc.cookie != "", ops, tc.want)
		}
	}

	expiration := func() float64 {
		out, err := store.Client().GetItem(context.Background(), &dynamodb.GetItemInput{
			TableName: aws.String(store.Table()), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}}, ConsistentRead: aws.Bool(true),
		})
		if err != nil || out.Item == nil {
			t.Fatalf("GetItem: %v", err)
		}
		f, _ := strconv.ParseFloat(out.Item["expiration"].(*types.AttributeValueMemberN).Value, 64)
		count.take()
		return f
	}
	for range 100 {
		do("/read", cookie)
	}
	ops := count.take()
	if len(ops) != 100 || slices.Contains(ops, "UpdateItem") {
		t.Errorf("100 reads of a fresh session sent %d requests, %d writes; want 100 GetItem, no writes", len(ops), len(ops)-100)
	}
	now := float64(time.Now().Unix())
	if exp := expiration(); exp < now+0.9*life.Seconds() || exp > now+life.Seconds()+1 {
		t.Errorf("expiration %v is not within [now + 0.9 lifetime, now + lifetime] = [%v, %v]", exp, now+0.9*life.Seconds(), now+life.Seconds()+1)
	}

	// Fallen 15% behind: the read touches, once, and the expiry is full again.
	rec, err := store.LoadVersion(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), key, rec.Data, life*85/100); err != nil {
		t.Fatal(err)
	}
	count.take()
	do("/read", cookie)
	if ops := count.take(); !slices.Equal(ops, []string{"GetItem", "UpdateItem"}) {
		t.Errorf("read of a session due for refresh: %v; want [GetItem UpdateItem]", ops)
	}
	now = float64(time.Now().Unix())
	if exp := expiration(); exp < now+life.Seconds()-2 || exp > now+life.Seconds()+1 {
		t.Errorf("after the refresh, expiration %v; want now + lifetime (%v)", exp, now+life.Seconds())
	}
	do("/read", cookie)
	if ops := count.take(); !slices.Equal(ops, []string{"GetItem"}) {
		t.Errorf("read after the refresh: %v; want [GetItem]", ops)
	}

	do("/clear", cookie)
	if ops := count.take(); !slices.Equal(ops, []string{"GetItem", "DeleteItem"}) {
		t.Errorf("/clear: %v; want [GetItem DeleteItem]", ops)
	}
}

// TestDynamoDBFromEnv: SESSION_TYPE=dynamodb with SESSION_DYNAMODB and
// SESSION_DYNAMODB_TABLE works with no import but the root package, with
// region and credentials from the AWS environment; no region is an error
// saying how to give one.
func TestDynamoDBFromEnv(t *testing.T) {
	srv := testserver.SharedDynalite(t)
	table := "gs_env_" + strings.ToLower(rand.Text()[:8])
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env := map[string]string{"SESSION_TYPE": "dynamodb", "SESSION_DYNAMODB": srv.Endpoint, "SESSION_DYNAMODB_TABLE": table}
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	opts, err := OptionsFromLookup(lookup(env), "")
	if err != nil {
		t.Fatal(err)
	}
	mw, err := NewMiddleware(opts)
	if err != nil {
		t.Fatalf("NewMiddleware: %v", err)
	}
	t.Cleanup(func() { mw.Close() })
	r := gin.New()
	r.Use(mw.Handler())
	r.GET("/", func(c *gin.Context) { Default(c).Set("user", "alice"); c.String(200, "ok") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("request: %d %v", w.Code, w.Header())
	}
	c := dynaliteClient(srv.Endpoint, nil)
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "session:" + w.Result().Cookies()[0].Value}},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("the session is not in table %s: %v", table, err)
	}

	// No region anywhere: the error says how to give one.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := NewMiddleware(opts); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("no region: %v; want an error naming AWS_REGION", err)
	}
}

// TestDynamoDBFlaskItemsThroughMiddleware is the acceptance test of the
// DynamoDB format: for every serialization vector Flask-Session stored, an
// item written the way Flask-Session 0.8's DynamoDB interface writes it
// (update_item SET val, expiration with a Decimal timestamp) is loaded by a
// request through the middleware that sets one key, and the item is then
// exactly {id: S, val: B <Flask's bytes plus that key>, expiration: N
// <now + lifetime>} and nothing else.
func TestDynamoDBFlaskItemsThroughMiddleware(t *testing.T) {
	srv := testserver.SharedDynalite(t)
	client := dynaliteClient(srv.Endpoint, nil)
	store := openDynamo(t, client, "gs_flask_"+strings.ToLower(rand.Text()[:8]))
	const life = time.Hour
	engines := map[string]*gin.Engine{}
	for _, format := range []string{"msgpack", "json"} {
		mw, err := NewMiddleware(Options{Store: store, SerializationFormat: format, Lifetime: life})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mw.Close() })
		r := gin.New()
		r.Use(mw.Handler())
		r.GET("/add", func(c *gin.Context) { Default(c).Set(appendedKey, true); c.String(200, "ok") })
		engines[format] = r
	}
	item := func(key string) map[string]types.AttributeValue {
		out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
			TableName: aws.String(store.Table()), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}}, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	compared := 0
	for _, v := range loadFlaskStored(t) {
		if v.StoredHex == nil {
			continue
		}
		compared++
		stored, err := hex.DecodeString(*v.StoredHex)
		if err != nil {
			t.Fatal(err)
		}
		sid := cookie.NewID(32)
		key := "session:" + sid
		// Flask-Session 0.8: Decimal(datetime.utcnow().timestamp()) + lifetime.
		exp := strconv.FormatFloat(float64(time.Now().Add(life).UnixMicro())/1e6, 'f', -1, 64)
		_, err = client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName:        aws.String(store.Table()),
			Key:              map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
			UpdateExpression: aws.String("SET val = :value, expiration = :exp"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":value": &types.AttributeValueMemberB{Value: stored},
				":exp":   &types.AttributeValueMemberN{Value: exp},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/add", nil)
		req.Header.Set("Cookie", "session="+sid)
		w := httptest.NewRecorder()
		before := time.Now()
		engines[v.Format].ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("%s: status %d", v.ID, w.Code)
		}
		it := item(key)
		if len(it) != 3 {
			t.Fatalf("%s: item has %d attributes; want id, val, expiration", v.ID, len(it))
		}
		if id, ok := it["id"].(*types.AttributeValueMemberS); !ok || id.Value != key {
			t.Fatalf("%s: id %#v", v.ID, it["id"])
		}
		val, ok := it["val"].(*types.AttributeValueMemberB)
		if want := flaskPlusOneKey(t, v.Format, stored); !ok || !bytes.Equal(val.Value, want) {
			t.Fatalf("%s: val is not Flask's bytes plus one key (the stored item was not loaded?)\n got %#v\nwant %x", v.ID, it["val"], want)
		}
		n, ok := it["expiration"].(*types.AttributeValueMemberN)
		sec, err := strconv.ParseInt(n.Value, 10, 64)
		if !ok || err != nil || sec < before.Add(life).Unix() || sec > time.Now().Add(life).Unix()+1 {
			t.Fatalf("%s: expiration %#v; want whole seconds, now + %v", v.ID, it["expiration"], life)
		}
	}
	if compared < 80 {
		t.Fatalf("only %d vectors with stored bytes", compared)
	}
}
