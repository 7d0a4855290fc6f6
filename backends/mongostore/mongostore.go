// Package mongostore keeps ginsession sessions in a MongoDB collection, in
// the document format Flask-Session 0.8 uses, so a Gin service and a Flask
// service pointed at the same collection share sessions.
//
// Each session is one document:
//
//	{id: "<prefix><sid>", val: BinData(0, <encoded session>), expiration: ISODate(<UTC, ms>), v: ObjectId}
//
// id, val and expiration are exactly Flask-Session's fields. v is a version
// stamp written by this store on every write so that compare-and-swap can tell
// a rewritten document from an untouched one even when the bytes are equal;
// Flask-Session ignores it, and documents written by Flask-Session (which
// lack it) are handled by comparing val instead.
//
// The store creates, once, a unique index on id and a TTL index on
// expiration (expireAfterSeconds 0, the index Flask-Session creates).
// Servers that do not implement TTL indexes (FerretDB answers
// NotImplemented) are logged once and then rely on the expiry check every
// read makes and on [Store.Cleanup].
//
// Start-up follows ginsession's policy (docs/backends.md, "Start-up"): [New]
// and the factory try the setup (a ping, the indexes, asking the server
// whether it is FerretDB) within their deadline. A server that does not
// answer is logged at Warn and the setup is retried before the first call
// that needs it, one attempt at a time, until it succeeds; until then calls
// fail. A server that answers but refuses the setup (a conflicting index,
// duplicate ids) fails New with one clear error.
//
// The package registers SESSION_TYPE "mongodb", configured by SESSION_MONGODB
// (URI), SESSION_MONGODB_DB and SESSION_MONGODB_COLLECT.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/errs"
	"github.com/ginsession/ginsession/internal/setup"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultURI          = "mongodb://127.0.0.1:27017"
	DefaultDatabase     = "flask_session"
	DefaultCollection   = "sessions"
	DefaultSetupTimeout = 10 * time.Second
)

// MaxValueSize is the largest value the store accepts: MongoDB's 16 MiB
// document limit minus room for the other fields. Larger values give an
// error matching backends.ErrTooLarge and leave the stored value intact.
const MaxValueSize = 16<<20 - 64<<10

// codeNotImplemented is the server error code FerretDB answers for TTL indexes.
const codeNotImplemented = 238

// Options configure a Store. The zero value of every field means its default.
type Options struct {
	// Database is the database name (default "flask_session").
	Database string
	// Collection is the collection name (default "sessions").
	Collection string
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
	// SetupTimeout bounds the setup New tries (a ping and the index
	// creation; default 10s). A server that does not answer within it is
	// not an error: the setup is retried on first use.
	SetupTimeout time.Duration
}

// Store is a backends.Store on a MongoDB collection. It also implements
// backends.Toucher, backends.CompareAndSwapper, backends.Cleaner,
// backends.Lister and io.Closer. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	coll   *mongo.Collection
	log    *slog.Logger
	// ownsClient is set when the factory opened the client, so Close
	// disconnects it; a client passed to New belongs to the caller.
	ownsClient bool
	// ttlIndex reports whether the server accepted the TTL index.
	ttlIndex atomic.Bool
	// serialize is set on FerretDB, whose updates are read-then-write
	// without a transaction: writes of one key are then serialized in
	// this process (see keyLock).
	serialize atomic.Bool
	ns        string
	// setup pings, creates the indexes and detects FerretDB; every call
	// runs it first until it has succeeded.
	setup *setup.Once

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// usersIndexed: the user index collection has its index (users.go).
	usersIndexed atomic.Bool
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Cleaner           = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)

func init() {
	backends.Register("mongodb", open)
}

// open is the registered factory: it connects to cfg.MongoDB and builds a
// Store that disconnects the client on Close.
func open(ctx context.Context, cfg backends.Config) (backends.Store, error) {
	uri := cfg.MongoDB
	if uri == "" {
		uri = DefaultURI
	}
	shown := redact(uri)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("ginsession: SESSION_MONGODB=%q: %v; want a MongoDB connection string like %q", shown, err, DefaultURI)
	}
	s, err := newStore(ctx, client, Options{
		Database:   cfg.MongoDBDB,
		Collection: cfg.MongoDBCollect,
		Logger:     cfg.Log(),
	})
	if err != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		return nil, errs.Wrap(fmt.Sprintf("SESSION_MONGODB=%q", shown), err)
	}
	s.ownsClient = true
	return s, nil
}

// userinfo matches the password part of a connection string.
var userinfo = regexp.MustCompile(`^([a-zA-Z0-9+.-]+://[^:@/]*):[^@/]*@`)

// redact hides the password of a connection string for error messages.
func redact(uri string) string {
	return userinfo.ReplaceAllString(uri, "${1}:xxxxx@")
}

// New returns a Store on opts.Database/opts.Collection of client and creates
// its indexes (a unique index on id, and a TTL index on expiration where the
// server supports one), waiting at most opts.SetupTimeout. When the server
// does not answer within it, New still returns the store and the setup is
// retried before the first call (see the package documentation). The client
// stays the caller's: Close does not disconnect it.
func New(client *mongo.Client, opts Options) (*Store, error) {
	timeout := opts.SetupTimeout
	if timeout <= 0 {
		timeout = DefaultSetupTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return newStore(ctx, client, opts)
}

func newStore(ctx context.Context, client *mongo.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("ginsession: mongodb: nil client")
	}
	if opts.Database == "" {
		opts.Database = DefaultDatabase
	}
	if opts.Collection == "" {
		opts.Collection = DefaultCollection
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{
		client: client,
		coll:   client.Database(opts.Database).Collection(opts.Collection),
		log:    opts.Logger.With("store", "mongodb", "database", opts.Database, "collection", opts.Collection),
	}
	s.ns = opts.Database + "." + opts.Collection
	s.setup = setup.New(s.prepare)
	if err := s.setup.Do(ctx); err != nil {
		if !setup.IsUnreachable(err) {
			return nil, err
		}
		s.log.Warn("ginsession: mongodb: the server is not reachable at start; the indexes are created on first use, and calls fail until it answers",
			"err", err)
	}
	return s, nil
}

// prepare is the store's setup: reach the server, create the indexes and
// find out whether the server is FerretDB. A server that does not answer
// the ping is reported as unreachable (retried on first use).
func (s *Store) prepare(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return setup.Unreachable(fmt.Errorf("ginsession: mongodb: server not reachable: %w", err))
	}
	if err := s.createIndexes(ctx); err != nil {
		return err
	}
	ferret, err := isFerretDB(ctx, s.client)
	if err != nil {
		return fmt.Errorf("ginsession: mongodb: buildInfo: %w", err)
	}
	if ferret {
		s.serialize.Store(true)
		s.log.Info("ginsession: mongodb: FerretDB does not update documents atomically; writes of one session are serialized within this process, but several processes sharing this server can still lose concurrent updates")
	}
	return nil
}

// isFerretDB reports whether the server is FerretDB (its buildInfo has a
// ferretdbVersion field).
func isFerretDB(ctx context.Context, client *mongo.Client) (bool, error) {
	raw, err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, err
	}
	_, err = raw.LookupErr("ferretdbVersion")
	return err == nil, nil
}

// keyLocks serializes writes of one key on servers that need it. They are
// shared by every Store of the process, keyed by namespace and key, and are
// channels so that waiting for one honours the caller's context.
var keyLocks [256]chan struct{}

func init() {
	for i := range keyLocks {
		keyLocks[i] = make(chan struct{}, 1)
	}
}

// lock takes the write lock of key when the server needs one. The returned
// func releases it.
func (s *Store) lock(ctx context.Context, key string) (func(), error) {
	if !s.serialize.Load() {
		return func() {}, nil
	}
	h := fnv.New32a()
	h.Write([]byte(s.ns))
	h.Write([]byte{0})
	h.Write([]byte(key))
	l := keyLocks[h.Sum32()%uint32(len(keyLocks))]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ginsession: mongodb: %w", ctx.Err())
	}
}

// createIndexes creates the unique index on id (required: conditional
// inserts rely on it) and the TTL index on expiration (optional).
func (s *Store) createIndexes(ctx context.Context) error {
	iv := s.coll.Indexes()
	_, err := iv.CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "id", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("id_1"),
	})
	if se := mongo.ServerError(nil); errors.As(err, &se) {
		return fmt.Errorf("ginsession: mongodb: create a unique index on %s.id (an existing index named id_1 with other options, or documents sharing an id, prevent it): %w",
			s.coll.Name(), err)
	}
	if err != nil {
		return fmt.Errorf("ginsession: mongodb: create a unique index on %s.id: %w", s.coll.Name(), err)
	}
	_, err = iv.CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expiration", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0).SetName("expiration_1"),
	})
	var se mongo.ServerError
	switch {
	case err == nil:
		s.ttlIndex.Store(true)
	case errors.As(err, &se) && se.HasErrorCode(codeNotImplemented):
		s.log.Info("ginsession: mongodb: the server does not implement TTL indexes; expired sessions are ignored on read and removed by Cleanup (set SESSION_CLEANUP_N_REQUESTS)",
			"error", err)
	case errors.As(err, &se):
		s.log.Warn("ginsession: mongodb: could not create the TTL index on expiration; expired sessions are ignored on read and removed by Cleanup",
			"error", err)
	default:
		return fmt.Errorf("ginsession: mongodb: create TTL index on %s.expiration: %w", s.coll.Name(), err)
	}
	return nil
}

// HasTTLIndex reports whether the server accepted the TTL index on
// expiration, so that it removes expired documents by itself. When false,
// call Cleanup from time to time (the core does when
// SESSION_CLEANUP_N_REQUESTS is set).
func (s *Store) HasTTLIndex() bool { return s.ttlIndex.Load() }

// Collection returns the collection the store uses.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// version is the token LoadVersion hands out.
type version struct {
	stamp    bson.ObjectID
	hasStamp bool
	val      bson.RawValue // the loaded val exactly as stored
}

// stored is the projection every read decodes.
type stored struct {
	Val bson.RawValue  `bson:"val"`
	V   *bson.ObjectID `bson:"v,omitempty"`
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ginsession: mongodb: %w", backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: mongodb: %w", err)
	}
	return errs.Prefixed("ginsession: mongodb", s.setup.Do(ctx))
}

func wrap(op string, err error) error {
	return fmt.Errorf("ginsession: mongodb: %s: %w", op, err)
}

func now() bson.DateTime { return bson.NewDateTimeFromTime(time.Now()) }

func expiry(ttl time.Duration) bson.DateTime {
	return bson.NewDateTimeFromTime(time.Now().Add(ttl))
}

// live matches the live document of key.
func live(key string, at bson.DateTime) bson.D {
	return bson.D{{Key: "id", Value: key}, {Key: "expiration", Value: bson.D{{Key: "$gt", Value: at}}}}
}

func binary(data []byte) bson.Binary {
	if data == nil {
		data = []byte{}
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: data}
}

func tooLarge(data []byte) error {
	if len(data) > MaxValueSize {
		return fmt.Errorf("ginsession: mongodb: value of %d bytes exceeds %d: %w", len(data), MaxValueSize, backends.ErrTooLarge)
	}
	return nil
}

// valBytes copies the binary payload out of a stored val.
func valBytes(key string, v bson.RawValue) ([]byte, error) {
	if v.Type != bson.TypeBinary {
		return nil, fmt.Errorf("ginsession: mongodb: document %q: val is BSON %s, want binary", key, v.Type)
	}
	_, data, ok := v.BinaryOK()
	if !ok {
		return nil, fmt.Errorf("ginsession: mongodb: document %q: malformed val", key)
	}
	return append([]byte{}, data...), nil
}

var projection = bson.D{{Key: "_id", Value: 0}, {Key: "val", Value: 1}, {Key: "v", Value: 1}}

// Load returns the value of key if its document exists and has not expired.
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	var doc stored
	err := s.coll.FindOne(ctx, live(key, now()), options.FindOne().SetProjection(projection)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("load", err)
	}
	data, err := valBytes(key, doc.Val)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// Save stores data under key with an expiry ttl from now (upsert).
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := tooLarge(data); err != nil {
		return err
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "id", Value: key},
		{Key: "val", Value: binary(data)},
		{Key: "expiration", Value: expiry(ttl)},
		{Key: "v", Value: bson.NewObjectID()},
	}}}
	opts := options.UpdateOne().SetUpsert(true)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	// Two upserts of a new id can race: the loser's insert hits the unique
	// index. The document exists then, so the retry updates it.
	for range 3 {
		_, err = s.coll.UpdateOne(ctx, bson.D{{Key: "id", Value: key}}, update, opts)
		if err == nil || !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return s.writeErr("save", err)
	}
	return nil
}

// writeErr maps the server's size errors to ErrTooLarge.
func (s *Store) writeErr(op string, err error) error {
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(10334) || se.HasErrorCode(17419) || se.HasErrorCode(17420)) {
		return fmt.Errorf("ginsession: mongodb: %s: %w (%w)", op, backends.ErrTooLarge, err)
	}
	return wrap(op, err)
}

// Delete removes key's document.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "id", Value: key}}); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// Touch sets the expiry of key's live document to ttl from now; it changes
// only expiration, never val, and never creates a document.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "expiration", Value: expiry(ttl)}}}}
	if _, err := s.coll.UpdateOne(ctx, live(key, now()), update); err != nil {
		return wrap("touch", err)
	}
	return nil
}

// LoadVersion loads key with a version token for SaveIf. With refresh > 0 it
// sets the expiry to refresh from now in the same round trip
// (findAndModify) and reports Refreshed.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	if err := s.check(ctx); err != nil {
		return backends.Record{}, err
	}
	var doc stored
	var err error
	if refresh > 0 {
		// FerretDB writes back the whole document it read: hold the key.
		unlock, lerr := s.lock(ctx, key)
		if lerr != nil {
			return backends.Record{}, lerr
		}
		defer unlock()
		update := bson.D{{Key: "$set", Value: bson.D{{Key: "expiration", Value: expiry(refresh)}}}}
		// No projection: FerretDB does not implement one for findAndModify.
		err = s.coll.FindOneAndUpdate(ctx, live(key, now()), update).Decode(&doc)
	} else {
		err = s.coll.FindOne(ctx, live(key, now()), options.FindOne().SetProjection(projection)).Decode(&doc)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return backends.Record{}, nil
	}
	if err != nil {
		return backends.Record{}, wrap("load", err)
	}
	data, err := valBytes(key, doc.Val)
	if err != nil {
		return backends.Record{}, err
	}
	v := &version{val: bson.RawValue{Type: doc.Val.Type, Value: append([]byte{}, doc.Val.Value...)}}
	if doc.V != nil {
		v.stamp, v.hasStamp = *doc.V, true
	}
	return backends.Record{Data: data, Found: true, Version: v, Refreshed: refresh > 0}, nil
}

// SaveIf writes data under key only if the document still holds the version
// LoadVersion returned (same stamp and same val, still live); a nil version
// writes only if no live document exists. Otherwise it writes nothing and
// returns an error matching backends.ErrConflict.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, ver any, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := tooLarge(data); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	at := now()
	set := bson.D{
		{Key: "id", Value: key},
		{Key: "val", Value: binary(data)},
		{Key: "expiration", Value: expiry(ttl)},
		{Key: "v", Value: bson.NewObjectID()},
	}
	update := bson.D{{Key: "$set", Value: set}}

	if ver == nil {
		// Replace an expired document, or insert; a live one makes the
		// upsert's insert hit the unique index on id.
		filter := bson.D{
			{Key: "id", Value: key},
			{Key: "expiration", Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: at}}}}},
		}
		_, err := s.coll.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("ginsession: mongodb: %q already exists: %w", key, backends.ErrConflict)
		}
		if err != nil {
			return s.writeErr("save", err)
		}
		return nil
	}

	v, ok := ver.(*version)
	if !ok || v == nil {
		return fmt.Errorf("ginsession: mongodb: version %T is not from this store: %w", ver, backends.ErrConflict)
	}
	filter := live(key, at)
	if v.hasStamp {
		filter = append(filter, bson.E{Key: "v", Value: v.stamp})
	} else {
		filter = append(filter, bson.E{Key: "v", Value: bson.D{{Key: "$exists", Value: false}}})
	}
	// val catches writers that keep v, such as Flask-Session on pymongo 4
	// ($set of id, val, expiration). Filter and update must fit in one
	// statement; when they would not, the stamp alone guards the write.
	switch {
	case len(v.val.Value)+len(data) <= MaxValueSize:
		filter = append(filter, bson.E{Key: "val", Value: v.val})
	case !v.hasStamp:
		return fmt.Errorf("ginsession: mongodb: conditional write of %d bytes over a %d-byte value without a version stamp: %w",
			len(data), len(v.val.Value), backends.ErrTooLarge)
	}
	res, err := s.coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return s.writeErr("save", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("ginsession: mongodb: %q changed since it was loaded: %w", key, backends.ErrConflict)
	}
	return nil
}

// Cleanup deletes every document whose expiration has passed and reports
// how many it deleted. With a TTL index the server does this by itself
// about once a minute; without one (FerretDB) this is the only removal.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	expired := bson.D{{Key: "expiration", Value: bson.D{{Key: "$lte", Value: now()}}}}
	if s.serialize.Load() {
		return s.cleanupEach(ctx, expired)
	}
	res, err := s.coll.DeleteMany(ctx, expired)
	if err != nil {
		return 0, wrap("cleanup", err)
	}
	return int(res.DeletedCount), nil
}

// cleanupEach deletes expired documents one key at a time, each under its
// write lock: FerretDB deletes by _id what its query found, so a bulk delete
// could remove a document a concurrent Save had just renewed.
func (s *Store) cleanupEach(ctx context.Context, expired bson.D) (int, error) {
	cur, err := s.coll.Find(ctx, expired, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "id", Value: 1}}))
	if err != nil {
		return 0, wrap("cleanup", err)
	}
	var ids []string
	for cur.Next(ctx) {
		if id, ok := cur.Current.Lookup("id").StringValueOK(); ok {
			ids = append(ids, id)
		}
	}
	err = cur.Err()
	_ = cur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, wrap("cleanup", err)
	}
	removed := 0
	for _, id := range ids {
		unlock, err := s.lock(ctx, id)
		if err != nil {
			return removed, err
		}
		filter := bson.D{{Key: "id", Value: id}, {Key: "expiration", Value: bson.D{{Key: "$lte", Value: now()}}}}
		res, err := s.coll.DeleteOne(ctx, filter)
		unlock()
		if err != nil {
			return removed, wrap("cleanup", err)
		}
		removed += int(res.DeletedCount)
	}
	return removed, nil
}

// Keys returns the ids (prefix included) of every live document.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "expiration", Value: bson.D{{Key: "$gt", Value: now()}}}}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "id", Value: 1}}))
	if err != nil {
		return nil, wrap("keys", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	keys := []string{}
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("id").StringValueOK()
		if ok {
			keys = append(keys, id)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, wrap("keys", err)
	}
	return keys, nil
}

// Close marks the store closed; later calls fail with backends.ErrClosed.
// It disconnects the client only when the registered factory created it.
// Calling Close again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.ownsClient {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.client.Disconnect(ctx); err != nil {
				s.closeErr = wrap("close", err)
			}
		}
	})
	return s.closeErr
}

// CheckURI reports whether uri is a MongoDB connection string the driver
// accepts (SESSION_MONGODB), without connecting. The error is the driver's
// reason, with any password replaced.
func CheckURI(uri string) error {
	if err := options.Client().ApplyURI(uri).Validate(); err != nil {
		msg := err.Error()
		if u, perr := url.Parse(uri); perr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
		return errors.New(msg)
	}
	return nil
}
