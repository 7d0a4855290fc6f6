package mongostore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// target is one server the tests run against: the FerretDB they start, and
// the server at GINSESSION_TEST_MONGODB_URI when it is set.
type target struct {
	name string
	uri  func(t *testing.T) string
}

func targets() []target {
	ts := []target{{"ferretdb", func(t *testing.T) string { return testserver.SharedFerretDB(t).URI }}}
	if uri := testserver.ExternalMongoDBURI(); uri != "" {
		ts = append(ts, target{"external", func(*testing.T) string { return uri }})
	}
	return ts
}

// forEach runs fn as a subtest per target.
func forEach(t *testing.T, fn func(t *testing.T, uri string)) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) { fn(t, tg.uri(t)) })
	}
}

// Every store in these tests gets a database of its own: FerretDB on SQLite
// keeps one file per database (so writers of different tests do not queue
// for one file's lock) and scans a whole collection for every query but one
// by _id (so small collections keep it fast).

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatalf("mongo.Connect(%s): %v", uri, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// fixture is a store on a database of its own, plus the raw collection.
type fixture struct {
	store *mongostore.Store
	coll  *mongo.Collection
	logs  *logBuffer
}

func newFixture(t *testing.T, uri string) fixture {
	t.Helper()
	client := connect(t, uri)
	logs := &logBuffer{}
	s := newStore(t, client, slog.New(slog.NewTextHandler(logs, nil)))
	return fixture{store: s, coll: s.Collection(), logs: logs}
}

// newStore returns a store on a fresh database (collection "sessions"),
// dropped by t.Cleanup.
func newStore(t *testing.T, client *mongo.Client, logger *slog.Logger) *mongostore.Store {
	t.Helper()
	s, err := mongostore.New(client, mongostore.Options{Database: randomName("gs_"), Logger: logger})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Collection().Database().Drop(ctx)
	})
	return s
}

// quiet discards the store's diagnostics.
var quiet = slog.New(slog.DiscardHandler)

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

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	forEach(t, func(t *testing.T, uri string) {
		client := connect(t, uri)
		storetest.Run(t, func(t *testing.T) backends.Store {
			return newStore(t, client, quiet)
		}, storetest.Options{
			// Expiry is checked on every read against millisecond
			// dates, but FerretDB on SQLite can take a few hundred
			// milliseconds per call on a loaded machine.
			Granularity: time.Second,
		})
	})
}

// flaskVector is the mongodb section of the Flask-Session 0.8.0 vectors.
type flaskVector struct {
	SID          string `json:"sid"`
	SaveCommands []struct {
		Command struct {
			Updates []struct {
				Q json.RawMessage `json:"q"`
				U json.RawMessage `json:"u"`
			} `json:"updates"`
		} `json:"command"`
	} `json:"save_commands"`
	DocumentPython struct {
		Val struct {
			Bytes string `json:"$bytes"`
		} `json:"val"`
	} `json:"document_python"`
	DocumentExtendedJSON json.RawMessage `json:"document_extended_json"`
	DocumentRawBSONHex   string          `json:"document_raw_bson_hex"`
}

func loadVector(t *testing.T) flaskVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "flask-session-0.8.0.json"))
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	var all struct {
		MongoDB flaskVector `json:"mongodb"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("vectors: %v", err)
	}
	if all.MongoDB.SID == "" || all.MongoDB.DocumentRawBSONHex == "" {
		t.Fatal("vectors: mongodb section incomplete")
	}
	return all.MongoDB
}

// rawDoc returns the whole stored document of id.
func rawDoc(t *testing.T, coll *mongo.Collection, id string) bson.Raw {
	t.Helper()
	raw, err := coll.FindOne(tctx(t), bson.D{{Key: "id", Value: id}}).Raw()
	if err != nil {
		t.Fatalf("find %q: %v", id, err)
	}
	return raw
}

// TestFlaskDocumentShape checks that a document written by the store has the
// fields, BSON types and expiry precision of the one Flask-Session wrote in
// the vectors.
func TestFlaskDocumentShape(t *testing.T) {
	vec := loadVector(t)
	val, err := hex.DecodeString(vec.DocumentPython.Val.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var want bson.Raw
	if err := bson.UnmarshalExtJSON(vec.DocumentExtendedJSON, true, &want); err != nil {
		t.Fatalf("document_extended_json: %v", err)
	}
	var update bson.Raw
	if err := bson.UnmarshalExtJSON(vec.SaveCommands[0].Command.Updates[0].U, true, &update); err != nil {
		t.Fatalf("save_commands u: %v", err)
	}
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		key := "session:" + vec.SID
		const lifetime = 31 * 24 * time.Hour
		before := time.Now()
		if err := f.store.Save(tctx(t), key, val, lifetime); err != nil {
			t.Fatalf("Save: %v", err)
		}
		after := time.Now()
		got := rawDoc(t, f.coll, key)

		// Every field of Flask's document, with the same BSON type.
		wantElems, _ := want.Elements()
		for _, e := range wantElems {
			g, err := got.LookupErr(e.Key())
			if err != nil {
				t.Errorf("field %q missing from %s", e.Key(), got)
				continue
			}
			if g.Type != e.Value().Type {
				t.Errorf("field %q is BSON %s; Flask-Session writes %s", e.Key(), g.Type, e.Value().Type)
			}
		}
		// The same fields Flask-Session sets, and only our version stamp besides.
		gotElems, _ := got.Elements()
		for _, e := range gotElems {
			if _, err := want.LookupErr(e.Key()); err != nil && e.Key() != "v" {
				t.Errorf("unexpected field %q in %s", e.Key(), got)
			}
		}
		if v, err := got.LookupErr("v"); err == nil && v.Type != bson.TypeObjectID {
			t.Errorf("version stamp v is BSON %s; want ObjectId", v.Type)
		}
		updElems, _ := update.Elements()
		for _, e := range updElems {
			if g := got.Lookup(e.Key()); g.Type != e.Value().Type {
				t.Errorf("field %q is BSON %s; Flask-Session's update sets %s", e.Key(), g.Type, e.Value().Type)
			}
		}

		if got.Lookup("id").StringValue() != key {
			t.Errorf("id = %q; want %q", got.Lookup("id").StringValue(), key)
		}
		sub, data, ok := got.Lookup("val").BinaryOK()
		if !ok || sub != 0x00 || !bytes.Equal(data, val) {
			t.Errorf("val = subtype %#x %x; want subtype 0 %x", sub, data, val)
		}
		exp, ok := got.Lookup("expiration").DateTimeOK()
		if !ok {
			t.Fatalf("expiration is not a date: %s", got.Lookup("expiration"))
		}
		lo := before.Add(lifetime).UnixMilli()
		hi := after.Add(lifetime).UnixMilli()
		if exp < lo || exp > hi {
			t.Errorf("expiration = %d ms; want now+lifetime in [%d, %d]", exp, lo, hi)
		}
		mustLoad(t, f.store, key, val)
	})
}

func mustLoad(t *testing.T, s *mongostore.Store, key string, want []byte) {
	t.Helper()
	got, found, err := s.Load(tctx(t), key)
	if err != nil || !found || !bytes.Equal(got, want) {
		t.Fatalf("Load(%q) = %x, %v, %v; want %x", key, got, found, err, want)
	}
}

func mustMiss(t *testing.T, s *mongostore.Store, key string) {
	t.Helper()
	got, found, err := s.Load(tctx(t), key)
	if err != nil || found {
		t.Fatalf("Load(%q) = %x, %v, %v; want a miss", key, got, found, err)
	}
}

// flaskDoc returns the vector's raw BSON document with its expiration set
// to exp, in Flask-Session's field order and types.
func flaskDoc(t *testing.T, vec flaskVector, exp time.Time) bson.D {
	t.Helper()
	b, err := hex.DecodeString(vec.DocumentRawBSONHex)
	if err != nil {
		t.Fatal(err)
	}
	raw := bson.Raw(b)
	if err := raw.Validate(); err != nil {
		t.Fatalf("document_raw_bson_hex: %v", err)
	}
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for i := range doc {
		if doc[i].Key == "expiration" {
			doc[i].Value = bson.NewDateTimeFromTime(exp)
		}
		if doc[i].Key == "_id" {
			doc[i].Value = bson.NewObjectID()
		}
	}
	return doc
}

// TestFlaskDocumentRead inserts the document Flask-Session wrote (the raw
// BSON from the vectors, with a fresh expiration) and reads, touches and
// rewrites it through the store.
func TestFlaskDocumentRead(t *testing.T) {
	vec := loadVector(t)
	val, _ := hex.DecodeString(vec.DocumentPython.Val.Bytes)
	key := "session:" + vec.SID
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		if _, err := f.coll.InsertOne(ctx, flaskDoc(t, vec, time.Now().Add(time.Hour))); err != nil {
			t.Fatalf("insert Flask's document: %v", err)
		}
		mustLoad(t, f.store, key, val)
		keys, err := f.store.Keys(ctx)
		if err != nil || len(keys) != 1 || keys[0] != key {
			t.Fatalf("Keys = %q, %v; want [%q]", keys, err, key)
		}

		// Touch changes only expiration.
		before := rawDoc(t, f.coll, key)
		if err := f.store.Touch(ctx, key, 2*time.Hour); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		after := rawDoc(t, f.coll, key)
		if !bytes.Equal(before.Lookup("val").Value, after.Lookup("val").Value) {
			t.Errorf("Touch changed val")
		}
		if _, err := after.LookupErr("v"); err == nil {
			t.Errorf("Touch added a version stamp: %s", after)
		}
		if after.Lookup("expiration").DateTime() <= before.Lookup("expiration").DateTime() {
			t.Errorf("Touch did not extend expiration")
		}

		// Compare-and-swap works on a document without a version stamp.
		rec, err := f.store.LoadVersion(ctx, key, 0)
		if err != nil || !rec.Found || !bytes.Equal(rec.Data, val) {
			t.Fatalf("LoadVersion = %+v, %v", rec, err)
		}
		// Flask-Session (pymongo < 4) rewrites the whole document in between.
		other := append(bytes.Clone(val), 0xc0)
		if _, err := f.coll.ReplaceOne(ctx, bson.D{{Key: "id", Value: key}}, bson.D{
			{Key: "id", Value: key},
			{Key: "val", Value: bson.Binary{Data: other}},
			{Key: "expiration", Value: bson.NewDateTimeFromTime(time.Now().Add(time.Hour))},
		}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SaveIf(ctx, key, []byte("lost"), rec.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
			t.Fatalf("SaveIf after Flask's rewrite = %v; want ErrConflict", err)
		}
		mustLoad(t, f.store, key, other)
		rec, err = f.store.LoadVersion(ctx, key, time.Hour)
		if err != nil || !rec.Found || !rec.Refreshed {
			t.Fatalf("LoadVersion(refresh) = %+v, %v", rec, err)
		}
		if err := f.store.SaveIf(ctx, key, []byte("ours"), rec.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf on Flask's document: %v", err)
		}
		mustLoad(t, f.store, key, []byte("ours"))

		// Flask-Session on pymongo >= 4 uses $set and keeps our stamp:
		// the val in the filter still catches it.
		rec, err = f.store.LoadVersion(ctx, key, 0)
		if err != nil || !rec.Found {
			t.Fatalf("LoadVersion = %+v, %v", rec, err)
		}
		if _, err := f.coll.UpdateOne(ctx, bson.D{{Key: "id", Value: key}}, bson.D{{Key: "$set", Value: bson.D{
			{Key: "id", Value: key},
			{Key: "val", Value: bson.Binary{Data: []byte("flask")}},
			{Key: "expiration", Value: bson.NewDateTimeFromTime(time.Now().Add(time.Hour))},
		}}}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SaveIf(ctx, key, []byte("lost"), rec.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
			t.Fatalf("SaveIf after Flask's $set = %v; want ErrConflict", err)
		}
		mustLoad(t, f.store, key, []byte("flask"))
	})
}

// TestExpiredWithoutTTLIndex checks that expired documents are misses even
// when no TTL monitor removes them (FerretDB has none; mongod's runs once a
// minute), and that Cleanup removes them.
func TestExpiredWithoutTTLIndex(t *testing.T) {
	vec := loadVector(t)
	key := "session:" + vec.SID
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		if _, err := f.coll.InsertOne(ctx, flaskDoc(t, vec, time.Now().Add(-time.Second))); err != nil {
			t.Fatal(err)
		}
		live := "session:live"
		if err := f.store.Save(ctx, live, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
		mustMiss(t, f.store, key)
		if rec, err := f.store.LoadVersion(ctx, key, time.Hour); err != nil || rec.Found {
			t.Fatalf("LoadVersion of an expired document = %+v, %v; want a miss", rec, err)
		}
		if keys, err := f.store.Keys(ctx); err != nil || len(keys) != 1 || keys[0] != live {
			t.Fatalf("Keys = %q, %v; want only %q", keys, err, live)
		}
		// Touch must not revive it.
		if err := f.store.Touch(ctx, key, time.Hour); err != nil {
			t.Fatal(err)
		}
		mustMiss(t, f.store, key)

		n, err := f.store.Cleanup(ctx)
		// With a TTL index (mongod) the server may have removed it first.
		if err != nil || n > 1 || n == 0 && !f.store.HasTTLIndex() {
			t.Fatalf("Cleanup = %d, %v; want 1", n, err)
		}
		if c, _ := f.coll.CountDocuments(ctx, bson.D{{Key: "id", Value: key}}); c != 0 {
			t.Fatalf("expired document still stored after Cleanup")
		}
		mustLoad(t, f.store, live, []byte("x"))

		// An expired document counts as absent for a nil-version SaveIf.
		if _, err := f.coll.InsertOne(ctx, flaskDoc(t, vec, time.Now().Add(-time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SaveIf(ctx, key, []byte("fresh"), nil, time.Hour); err != nil {
			t.Fatalf("SaveIf(nil) over an expired document: %v", err)
		}
		mustLoad(t, f.store, key, []byte("fresh"))
		if c, _ := f.coll.CountDocuments(ctx, bson.D{{Key: "id", Value: key}}); c != 1 {
			t.Fatalf("%d documents with id %q; want 1", c, key)
		}
	})
}

// TestIndexes checks the unique index on id and the TTL index (or the one
// log line when the server cannot make one).
func TestIndexes(t *testing.T) {
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		cur, err := f.coll.Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var idx []bson.M
		if err := cur.All(ctx, &idx); err != nil {
			t.Fatal(err)
		}
		var unique, ttl bool
		for _, ix := range idx {
			switch ix["name"] {
			case "id_1":
				unique = ix["unique"] == true
			case "expiration_1":
				ttl = ix["expireAfterSeconds"] != nil
			}
		}
		if !unique {
			t.Errorf("no unique index id_1 in %v", idx)
		}
		if ttl != f.store.HasTTLIndex() {
			t.Errorf("TTL index present = %v, HasTTLIndex = %v", ttl, f.store.HasTTLIndex())
		}
		logged := strings.Count(f.logs.String(), "TTL")
		if f.store.HasTTLIndex() && logged != 0 || !f.store.HasTTLIndex() && logged != 1 {
			t.Errorf("TTL index %v, logged %d times:\n%s", f.store.HasTTLIndex(), logged, f.logs)
		}
		t.Logf("server TTL index: %v", f.store.HasTTLIndex())

		// No duplicates, even written behind the store's back.
		key := "session:dup"
		if err := f.store.Save(ctx, key, []byte("a"), time.Hour); err != nil {
			t.Fatal(err)
		}
		_, err = f.coll.InsertOne(ctx, bson.D{
			{Key: "id", Value: key},
			{Key: "val", Value: bson.Binary{Data: []byte("b")}},
			{Key: "expiration", Value: bson.NewDateTimeFromTime(time.Now().Add(time.Hour))},
		})
		if !mongo.IsDuplicateKeyError(err) {
			t.Fatalf("inserting a second document with the same id: %v; want a duplicate key error", err)
		}
		// New again on the same collection: indexes already there is fine.
		s2, err := mongostore.New(connect(t, uri), mongostore.Options{
			Database: f.coll.Database().Name(), Collection: f.coll.Name(), Logger: quiet,
		})
		if err != nil {
			t.Fatalf("second New on the same collection: %v", err)
		}
		mustLoad(t, s2, key, []byte("a"))
	})
}

// TestTouchOnlyExpiration checks that Touch leaves val and the version stamp
// alone and never creates a document.
func TestTouchOnlyExpiration(t *testing.T) {
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		key := "session:touch"
		if err := f.store.Save(ctx, key, []byte("value"), time.Minute); err != nil {
			t.Fatal(err)
		}
		rec, err := f.store.LoadVersion(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		before := rawDoc(t, f.coll, key)
		if err := f.store.Touch(ctx, key, time.Hour); err != nil {
			t.Fatal(err)
		}
		after := rawDoc(t, f.coll, key)
		for _, field := range []string{"_id", "id", "val", "v"} {
			if !bytes.Equal(before.Lookup(field).Value, after.Lookup(field).Value) {
				t.Errorf("Touch changed %s", field)
			}
		}
		if d := after.Lookup("expiration").DateTime() - before.Lookup("expiration").DateTime(); d < int64(50*time.Minute/time.Millisecond) {
			t.Errorf("Touch moved expiration by %d ms; want about an hour", d)
		}
		// A touch does not invalidate a loaded version.
		if err := f.store.SaveIf(ctx, key, []byte("next"), rec.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf after Touch: %v", err)
		}
		if err := f.store.Touch(ctx, "session:missing", time.Hour); err != nil {
			t.Fatal(err)
		}
		if c, _ := f.coll.CountDocuments(ctx, bson.D{{Key: "id", Value: "session:missing"}}); c != 0 {
			t.Fatalf("Touch created a document")
		}
	})
}

// TestHostileKeys checks that keys are only ever values, never operators or paths.
func TestHostileKeys(t *testing.T) {
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		keys := []string{`session:{"$gt":""}`, "$gt", "session:a.b", "session:$where", `session:\u0000`, "session:.*"}
		for i, k := range keys {
			if err := f.store.Save(ctx, k, []byte{byte(i)}, time.Hour); err != nil {
				t.Fatalf("Save(%q): %v", k, err)
			}
		}
		for i, k := range keys {
			mustLoad(t, f.store, k, []byte{byte(i)})
		}
		mustMiss(t, f.store, "session:a")
		if err := f.store.Delete(ctx, "session:.*"); err != nil {
			t.Fatal(err)
		}
		if c, _ := f.coll.CountDocuments(ctx, bson.D{}); c != int64(len(keys)-1) {
			t.Fatalf("%d documents after one Delete; want %d", c, len(keys)-1)
		}
	})
}

func TestTooLarge(t *testing.T) {
	forEach(t, func(t *testing.T, uri string) {
		f := newFixture(t, uri)
		ctx := tctx(t)
		key := "session:big"
		if err := f.store.Save(ctx, key, []byte("small"), time.Hour); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 17<<20)
		if err := f.store.Save(ctx, key, big, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
			t.Fatalf("Save of 17 MiB = %v; want ErrTooLarge", err)
		}
		rec, err := f.store.LoadVersion(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.SaveIf(ctx, key, big, rec.Version, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
			t.Fatalf("SaveIf of 17 MiB = %v; want ErrTooLarge", err)
		}
		mustLoad(t, f.store, key, []byte("small"))
	})
}

// TestFactory checks the registered "mongodb" type.
func TestFactory(t *testing.T) {
	ctx := tctx(t)
	_, err := backends.Open(ctx, backends.Config{Type: "mongodb", MongoDB: "postgres://nope"})
	if err == nil || !strings.Contains(err.Error(), "SESSION_MONGODB") {
		t.Fatalf("Open with a bad URI = %v; want an error naming SESSION_MONGODB", err)
	}
	t.Logf("bad URI: %v", err)
	// Nothing listens on port 1: the factory gives up on the setup within
	// its context and still returns the store (start-up policy: retried on
	// first use); calls fail, with messages that carry one prefix and no
	// password.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	down, err := backends.Open(short, backends.Config{Type: "mongodb", MongoDB: "mongodb://alice:s3cret@127.0.0.1:1/", Logger: quiet})
	if err != nil || time.Since(start) > 4*time.Second {
		t.Fatalf("Open with an unreachable server = %v after %v; want a store within the 2s deadline", err, time.Since(start))
	}
	defer down.(*mongostore.Store).Close()
	lctx, lcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer lcancel()
	_, _, err = down.Load(lctx, "session:x")
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("Load with an unreachable server = %v; want one error with one prefix and no password", err)
	}
	t.Logf("unreachable: %v", err)

	forEach(t, func(t *testing.T, uri string) {
		db, coll := randomName("gs_"), randomName("c_")
		st, err := backends.Open(ctx, backends.Config{Type: "MongoDB", MongoDB: uri, MongoDBDB: db, MongoDBCollect: coll, Logger: quiet})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s := st.(*mongostore.Store)
		t.Cleanup(func() { _ = s.Close() })
		if s.Collection().Database().Name() != db || s.Collection().Name() != coll {
			t.Fatalf("store on %s.%s; want %s.%s", s.Collection().Database().Name(), s.Collection().Name(), db, coll)
		}
		if err := s.Save(ctx, "session:f", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		mustLoad(t, s, "session:f", []byte("v"))
		_ = s.Collection().Database().Drop(ctx)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, _, err := s.Load(ctx, "session:f"); !errors.Is(err, backends.ErrClosed) {
			t.Fatalf("Load after Close = %v; want ErrClosed", err)
		}
	})
}

// TestServerDown kills and pauses a dedicated FerretDB: every call must fail
// within its context deadline, and the store must work again once the server
// is back.
func TestServerDown(t *testing.T) {
	srv := testserver.FerretDB(t)
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s, err := mongostore.New(client, mongostore.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	key := "session:down"
	if err := s.Save(tctx(t), key, []byte("kept"), time.Hour); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context) error{
		"Load":        func(ctx context.Context) error { _, _, err := s.Load(ctx, key); return err },
		"Save":        func(ctx context.Context) error { return s.Save(ctx, key, []byte("x"), time.Hour) },
		"Delete":      func(ctx context.Context) error { return s.Delete(ctx, "session:other") },
		"Touch":       func(ctx context.Context) error { return s.Touch(ctx, key, time.Hour) },
		"LoadVersion": func(ctx context.Context) error { _, err := s.LoadVersion(ctx, key, time.Hour); return err },
		"SaveIf":      func(ctx context.Context) error { return s.SaveIf(ctx, "session:new", []byte("x"), nil, time.Hour) },
		"Cleanup":     func(ctx context.Context) error { _, err := s.Cleanup(ctx); return err },
		"Keys":        func(ctx context.Context) error { _, err := s.Keys(ctx); return err },
	}
	const deadline = 500 * time.Millisecond
	check := func(state string) {
		for name, call := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			start := time.Now()
			err := call(ctx)
			took := time.Since(start)
			cancel()
			if err == nil {
				t.Errorf("%s with the server %s: no error", name, state)
			}
			if took > deadline+time.Second {
				t.Errorf("%s with the server %s took %v; deadline was %v", name, state, took, deadline)
			}
		}
	}

	srv.Pause(t)
	check("paused")
	srv.Resume(t)
	// A write that timed out may still be applied once the server
	// resumes, so write afresh before checking.
	waitBack(t, s, key)
	if err := s.Save(tctx(t), key, []byte("kept"), time.Hour); err != nil {
		t.Fatalf("Save after Resume: %v", err)
	}
	mustLoad(t, s, key, []byte("kept"))

	srv.Kill(t)
	check("killed")
	srv.Restart(t)
	waitBack(t, s, key)
	// The data directory survives a restart.
	mustLoad(t, s, key, []byte("kept"))
}

// TestStartWithServerDown opens a store while its server is down: New
// returns within SetupTimeout, calls fail until the server is started,
// and then the first call creates the indexes.
func TestStartWithServerDown(t *testing.T) {
	if testserver.ExternalMongoDBURI() != "" {
		t.Skip("needs a server this test can stop")
	}
	srv := testserver.FerretDB(t)
	srv.Kill(t)
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	logs := &logBuffer{}
	start := time.Now()
	s, err := mongostore.New(client, mongostore.Options{Database: randomName("gs_"), SetupTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("New with the server down = %v; want a store", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("New took %v with a SetupTimeout of 1s", took)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.Contains(logs.String(), "not reachable at start") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err = s.Save(ctx, "session:early", []byte("x"), time.Hour)
	cancel()
	if err == nil || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("Save with the server down = %v; want one error with one prefix", err)
	}
	t.Logf("server down: %v", err)

	srv.Restart(t)
	waitBack(t, s, "session:late")
	if err := s.SaveIf(tctx(t), "session:late", []byte("v"), nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, s, "session:late", []byte("v"))
	// The setup ran on first use: the unique index on id exists, so a
	// second create-only write of the key is a conflict.
	cur, err := s.Collection().Indexes().List(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(tctx(t), &idx); err != nil {
		t.Fatal(err)
	}
	names := map[any]bool{}
	for _, ix := range idx {
		names[ix["name"]] = true
	}
	if !names["id_1"] {
		t.Errorf("indexes after first use: %v; want id_1", idx)
	}
	if err := s.SaveIf(tctx(t), "session:late", []byte("w"), nil, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Errorf("second create of one key = %v; want ErrConflict", err)
	}
}

// waitBack polls Load until the store answers again: the driver notices a
// server is back within its heartbeat.
func waitBack(t *testing.T, s *mongostore.Store, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, _, err := s.Load(ctx, key)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("store still failing 30s after the server came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
