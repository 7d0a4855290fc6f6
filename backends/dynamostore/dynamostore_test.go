package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/backends/storetest"
)

func TestConformance(t *testing.T) {
	forEach(t, func(t *testing.T, tg target) {
		// One table for the run: each subtest's store is New on it (a
		// DescribeTable), as every process of a deployment would be.
		f := newFixture(t, tg, dynamostore.Options{})
		storetest.Run(t, func(t *testing.T) backends.Store {
			s, err := dynamostore.New(f.client, dynamostore.Options{Table: f.table, KeyPrefix: "storetest:"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, storetest.Options{
			Granularity:     time.Second,
			MaxValueSize:    dynamostore.MaxValueSize,
			ContentVersions: true, // versions are the stored bytes (val)
		})
	})
}

// TestTableSetup: New creates a missing table as Flask-Session does (key id
// of type S, on-demand), tries to enable TTL (dynalite does not implement
// it: logged, ExpiresOnServer false), uses an existing table as it is,
// refuses a table keyed otherwise, and with NoCreateTable sends nothing.
func TestTableSetup(t *testing.T) {
	tg := targets()[0] // needs fresh tables
	f := newFixture(t, tg, dynamostore.Options{})
	out, err := f.client.DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String(f.table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if len(d.KeySchema) != 1 || aws.ToString(d.KeySchema[0].AttributeName) != "id" || d.KeySchema[0].KeyType != types.KeyTypeHash {
		t.Errorf("key schema %+v; want id HASH", d.KeySchema)
	}
	if len(d.AttributeDefinitions) != 1 || d.AttributeDefinitions[0].AttributeType != types.ScalarAttributeTypeS {
		t.Errorf("attributes %+v; want id S", d.AttributeDefinitions)
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing %+v; want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	if f.store.ExpiresOnServer() {
		t.Error("ExpiresOnServer on dynalite, which has no TTL")
	}
	if !strings.Contains(f.logs.String(), "does not implement TTL") {
		t.Errorf("no TTL note logged: %s", f.logs)
	}

	// An existing table: described (its TTL too, which dynalite cannot
	// tell), nothing created or changed.
	f.count.take()
	s2, err := dynamostore.New(f.client, dynamostore.Options{Table: f.table})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ExpiresOnServer() {
		t.Error("ExpiresOnServer on an existing dynalite table")
	}
	if ops := f.count.take(); !slices.Equal(ops, []string{"DescribeTable", "DescribeTimeToLive"}) {
		t.Errorf("New on an existing table sent %v; want DescribeTable, DescribeTimeToLive", ops)
	}

	// A table keyed otherwise is refused at start.
	bad := randomName("gs_bad_")
	_, err = f.client.CreateTable(ctx(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(bad),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = f.client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(bad)})
	})
	if _, err := dynamostore.New(f.client, dynamostore.Options{Table: bad}); err == nil || !strings.Contains(err.Error(), `partition key is not "id"`) {
		t.Errorf("New on a table keyed by pk: %v; want an error about the key", err)
	}

	// NoCreateTable: nothing sent.
	f.count.take()
	if _, err := dynamostore.New(f.client, dynamostore.Options{Table: randomName("gs_none_"), NoCreateTable: true}); err != nil {
		t.Fatal(err)
	}
	if ops := f.count.take(); len(ops) != 0 {
		t.Errorf("New with NoCreateTable sent %v", ops)
	}
	for _, name := range []string{"ab", "has space", strings.Repeat("x", 256)} {
		if _, err := dynamostore.New(f.client, dynamostore.Options{Table: name}); err == nil {
			t.Errorf("table name %q accepted", name)
		}
	}
	if _, err := dynamostore.New(f.client, dynamostore.Options{Table: f.table, RefreshWindow: 1}); err == nil {
		t.Error("RefreshWindow 1 accepted")
	}
}

type serializationVector struct {
	ID     string `json:"id"`
	Config struct {
		Lifetime int `json:"lifetime_seconds"`
	} `json:"config"`
	Stored    bool   `json:"stored"`
	RedisKey  string `json:"redis_key"`
	StoredHex string `json:"stored_hex"`
}

func serializationVectors(t *testing.T) []serializationVector {
	t.Helper()
	b, err := os.ReadFile("../../testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Serialization struct {
			Vectors []serializationVector `json:"vectors"`
		} `json:"serialization"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Serialization.Vectors
}

// TestFlaskItems: for every value Flask-Session 0.8 stored in the recorded
// vectors, an item written by the store has exactly Flask's shape — id (S)
// the prefixed key, val (B) the recorded bytes, expiration (N) the Unix time
// lifetime from now — and nothing else; an item written the way Flask's
// update_item writes it (fractional Decimal expiration) loads byte for byte,
// and a Flask write between our load and our write is a conflict.
func TestFlaskItems(t *testing.T) {
	forEach(t, func(t *testing.T, tg target) {
		f := newFixture(t, tg, dynamostore.Options{})
		n := 0
		for _, v := range serializationVectors(t) {
			if !v.Stored {
				continue
			}
			n++
			want, err := hex.DecodeString(v.StoredHex)
			if err != nil {
				t.Fatal(err)
			}
			key := f.prefix + v.RedisKey
			life := time.Duration(v.Config.Lifetime) * time.Second
			before := time.Now()
			if err := f.store.Save(ctx(t), key, want, life); err != nil {
				t.Fatalf("%s: Save: %v", v.ID, err)
			}
			item := f.rawItem(t, key)
			if len(item) != 3 {
				t.Fatalf("%s: item has %d attributes %v; want id, val, expiration", v.ID, len(item), keysOf(item))
			}
			if id, ok := item["id"].(*types.AttributeValueMemberS); !ok || id.Value != key {
				t.Fatalf("%s: id %#v; want S %q", v.ID, item["id"], key)
			}
			if val, ok := item["val"].(*types.AttributeValueMemberB); !ok || !bytes.Equal(val.Value, want) {
				t.Fatalf("%s: val %#v; want B %x", v.ID, item["val"], want)
			}
			exp, ok := item["expiration"].(*types.AttributeValueMemberN)
			if !ok {
				t.Fatalf("%s: expiration %#v; want N", v.ID, item["expiration"])
			}
			sec, err := strconv.ParseInt(exp.Value, 10, 64)
			if err != nil {
				t.Fatalf("%s: expiration %q is not whole Unix seconds", v.ID, exp.Value)
			}
			if lo, hi := before.Add(life).Unix(), time.Now().Add(life).Unix()+1; sec < lo || sec > hi {
				t.Fatalf("%s: expiration %d; want %d..%d (now + %v)", v.ID, sec, lo, hi, life)
			}

			// The Flask side.
			fk := f.prefix + "flask:" + v.RedisKey
			f.flaskWrite(t, fk, want, time.Now().Add(life))
			data, found, err := f.store.Load(ctx(t), fk)
			if err != nil || !found || !bytes.Equal(data, want) {
				t.Fatalf("%s: Load of Flask's item = %x, %v, %v", v.ID, data, found, err)
			}
			rec, err := f.store.LoadVersion(ctx(t), fk, life)
			if err != nil || !rec.Found || !bytes.Equal(rec.Data, want) {
				t.Fatalf("%s: LoadVersion of Flask's item = %+v, %v", v.ID, rec, err)
			}
			if n%10 == 0 { // a Flask writer in between is never overwritten
				f.flaskWrite(t, fk, append(bytes.Clone(want), 0xc0), time.Now().Add(life))
				if err := f.store.SaveIf(ctx(t), fk, []byte("gin"), rec.Version, life); !errors.Is(err, backends.ErrConflict) {
					t.Fatalf("%s: SaveIf over a Flask write: %v; want ErrConflict", v.ID, err)
				}
				if it := f.rawItem(t, fk); !bytes.Equal(it["val"].(*types.AttributeValueMemberB).Value, append(bytes.Clone(want), 0xc0)) {
					t.Fatalf("%s: the Flask write was overwritten", v.ID)
				}
			} else if err := f.store.SaveIf(ctx(t), fk, want, rec.Version, life); err != nil {
				t.Fatalf("%s: SaveIf on Flask's item: %v", v.ID, err)
			}
		}
		if n < 80 {
			t.Fatalf("only %d stored vectors", n)
		}

		// Expired per its expiration, before any TTL sweep: a miss.
		old := f.prefix + "flask:expired"
		f.flaskWrite(t, old, []byte{0x80}, time.Now().Add(-time.Second))
		if _, found, err := f.store.Load(ctx(t), old); found || err != nil {
			t.Fatalf("Load of an expired Flask item: found %v, %v", found, err)
		}
		if err := f.store.SaveIf(ctx(t), old, []byte{0x81}, nil, time.Hour); err != nil {
			t.Fatalf("SaveIf(nil) over an expired item: %v", err)
		}
	})
}

func keysOf(m map[string]types.AttributeValue) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestForeignItems: items this store did not write the Flask way are
// reported, never misread: a val that is not binary or an expiration that
// is not a number is an error; an item without expiration never expires;
// attributes other tools add survive our writes.
func TestForeignItems(t *testing.T) {
	f := newFixture(t, targets()[0], dynamostore.Options{})
	put := func(key string, item map[string]types.AttributeValue) {
		item["id"] = &types.AttributeValueMemberS{Value: key}
		if _, err := f.client.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(f.prefix+"s", map[string]types.AttributeValue{"val": &types.AttributeValueMemberS{Value: "x"}, "expiration": &types.AttributeValueMemberN{Value: "9999999999"}})
	put(f.prefix+"e", map[string]types.AttributeValue{"val": &types.AttributeValueMemberB{Value: []byte("x")}, "expiration": &types.AttributeValueMemberS{Value: "soon"}})
	put(f.prefix+"n", map[string]types.AttributeValue{"val": &types.AttributeValueMemberB{Value: []byte("forever")}, "owner": &types.AttributeValueMemberS{Value: "ops"}})
	for _, k := range []string{"s", "e"} {
		if _, _, err := f.store.Load(ctx(t), f.prefix+k); err == nil {
			t.Errorf("Load of a malformed item %q succeeded", k)
		}
	}
	if data, found, err := f.store.Load(ctx(t), f.prefix+"n"); err != nil || !found || string(data) != "forever" {
		t.Fatalf("item without expiration: %q, %v, %v", data, found, err)
	}
	if err := f.store.Save(ctx(t), f.prefix+"n", []byte("v2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if it := f.rawItem(t, f.prefix+"n"); it["owner"] == nil {
		t.Errorf("Save dropped a foreign attribute: %v", keysOf(it))
	}
}

// TestTooLarge: a value that fills a 400 KB item is accepted by the server;
// one byte more is refused before anything is sent, with ErrTooLarge, and
// the stored item is kept.
func TestTooLarge(t *testing.T) {
	forEach(t, func(t *testing.T, tg target) {
		f := newFixture(t, tg, dynamostore.Options{})
		key := f.prefix + "big"
		fit := dynamostore.MaxItemSize - dynamostore.ItemSize(key, 0)
		if fit < dynamostore.MaxValueSize {
			t.Fatalf("a %d-byte key leaves %d bytes, under MaxValueSize %d", len(key), fit, dynamostore.MaxValueSize)
		}
		want := bytes.Repeat([]byte{0xa5}, fit)
		if err := f.store.Save(ctx(t), key, want, time.Hour); err != nil {
			t.Fatalf("Save of %d bytes (the largest accepted): %v", fit, err)
		}
		rec, err := f.store.LoadVersion(ctx(t), key, 0)
		if err != nil || !bytes.Equal(rec.Data, want) {
			t.Fatalf("LoadVersion: %d bytes, %v", len(rec.Data), err)
		}
		if err := f.store.SaveIf(ctx(t), key, want[:len(want)-1], rec.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf of a full item conditional on a full item: %v", err)
		}
		rec, _ = f.store.LoadVersion(ctx(t), key, 0)
		f.count.take()
		over := append(bytes.Clone(want), 1)
		for name, err := range map[string]error{
			"Save":        f.store.Save(ctx(t), key, over, time.Hour),
			"SaveIf":      f.store.SaveIf(ctx(t), key, over, rec.Version, time.Hour),
			"SaveIf(nil)": f.store.SaveIf(ctx(t), f.prefix+"new", over, nil, time.Hour),
		} {
			if !errors.Is(err, backends.ErrTooLarge) {
				t.Errorf("%s of %d bytes: %v; want ErrTooLarge", name, len(over), err)
			}
		}
		if ops := f.count.take(); len(ops) != 0 {
			t.Errorf("refused writes sent %v", ops)
		}
		if data, _, _ := f.store.Load(ctx(t), key); !bytes.Equal(data, want[:len(want)-1]) {
			t.Errorf("the stored item changed after a refused write (%d bytes)", len(data))
		}
	})
}

// TestRoundTrips: every store call is one request, and a reading
// LoadVersion never writes.
func TestRoundTrips(t *testing.T) {
	f := newFixture(t, targets()[0], dynamostore.Options{})
	st := f.store
	key := f.prefix + "rt"
	const life = time.Hour
	var ver any
	ops := []struct {
		name string
		want string
		fn   func() error
	}{
		{"SaveIf(nil)", "UpdateItem", func() error { return st.SaveIf(ctx(t), key, []byte("v0"), nil, life) }},
		{"LoadVersion(refresh)", "GetItem", func() error {
			r, err := st.LoadVersion(ctx(t), key, life)
			if err == nil && (!r.Found || !r.Refreshed) {
				err = errors.New("not found, or a fresh item not reported refreshed")
			}
			ver = r.Version
			return err
		}},
		{"SaveIf(version)", "UpdateItem", func() error { return st.SaveIf(ctx(t), key, []byte("v1"), ver, life) }},
		{"Touch", "UpdateItem", func() error { return st.Touch(ctx(t), key, life) }},
		{"Load", "GetItem", func() error { _, _, err := st.Load(ctx(t), key); return err }},
		{"Save", "UpdateItem", func() error { return st.Save(ctx(t), key, []byte("v2"), life) }},
		{"Delete", "DeleteItem", func() error { return st.Delete(ctx(t), key) }},
		{"Keys", "Scan", func() error { _, err := st.Keys(ctx(t)); return err }},
	}
	for _, op := range ops {
		f.count.take()
		if err := op.fn(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		if got := f.count.take(); !slices.Equal(got, []string{op.want}) {
			t.Errorf("%s sent %v; want [%s]", op.name, got, op.want)
		}
	}
}

// TestRefreshPolicy: LoadVersion reports a session refreshed (no touch
// needed) while its expiry is within the window of a full refresh, and asks
// for a touch once it falls further behind or reaches past the refresh (a
// shortened lifetime); a negative window asks on every read.
func TestRefreshPolicy(t *testing.T) {
	f := newFixture(t, targets()[0], dynamostore.Options{})
	every := newFixture(t, targets()[0], dynamostore.Options{RefreshWindow: -1})
	const refresh = 1000 * time.Second
	for _, tc := range []struct {
		ttl       time.Duration
		refreshed bool
	}{
		{refresh, true},
		{refresh - 50*time.Second, true},   // 5% behind: within the 10% window
		{refresh - 150*time.Second, false}, // 15% behind: due
		{2 * refresh, false},               // lifetime shortened since: apply it
	} {
		key := f.prefix + tc.ttl.String()
		if err := f.store.Save(ctx(t), key, []byte("x"), tc.ttl); err != nil {
			t.Fatal(err)
		}
		rec, err := f.store.LoadVersion(ctx(t), key, refresh)
		if err != nil || !rec.Found || rec.Refreshed != tc.refreshed {
			t.Errorf("stored for %v, LoadVersion(refresh %v): found %v refreshed %v, %v; want refreshed %v", tc.ttl, refresh, rec.Found, rec.Refreshed, err, tc.refreshed)
		}
		if err := every.store.Save(ctx(t), key, []byte("x"), tc.ttl); err != nil {
			t.Fatal(err)
		}
		if rec, _ := every.store.LoadVersion(ctx(t), key, refresh); rec.Refreshed {
			t.Errorf("RefreshWindow -1: stored for %v, reported refreshed", tc.ttl)
		}
	}
}

// TestPrefixScope: Keys lists, and Cleanup removes, only items under the
// store's KeyPrefix, so apps sharing a table with other prefixes are left
// alone; both follow Scan's pages (DynamoDB returns at most 1 MB per page,
// and the expired items here take about 1.4 MB).
func TestPrefixScope(t *testing.T) {
	f := newFixture(t, targets()[0], dynamostore.Options{})
	other := randomName("other:") + ":"
	o, err := dynamostore.New(f.client, dynamostore.Options{Table: f.table, KeyPrefix: other, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const expired, live = 700, 30
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < expired; i += 8 {
				if err := f.store.Save(ctx(t), f.prefix+"old"+strconv.Itoa(i), bytes.Repeat([]byte{1}, 2000), time.Millisecond); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range live {
		for _, p := range []string{f.prefix, other} {
			if err := f.store.Save(ctx(t), p+"live"+strconv.Itoa(i), []byte("x"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Save(ctx(t), other+"old"+strconv.Itoa(i), []byte("x"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the expiry, in whole seconds
	keys, err := f.store.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != live {
		t.Errorf("Keys lists %d items; want the %d live ones under its prefix", len(keys), live)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, f.prefix+"live") {
			t.Errorf("Keys lists %q", k)
		}
	}
	f.count.take()
	n, err := f.store.Cleanup(ctx(t))
	if err != nil || n != expired {
		t.Errorf("Cleanup removed %d, %v; want the %d expired items under its prefix", n, err, expired)
	}
	if scans := slices.DeleteFunc(f.count.take(), func(op string) bool { return op != "Scan" }); len(scans) < 2 {
		t.Errorf("Cleanup scanned %d pages; the test means to cover several", len(scans))
	}
	if it := f.rawItem(t, other+"old0"); it == nil {
		t.Error("Cleanup removed an item under another prefix")
	}
	if n, err := o.Cleanup(ctx(t)); err != nil || n != live {
		t.Errorf("the other store's Cleanup removed %d, %v; want %d", n, err, live)
	}
}
