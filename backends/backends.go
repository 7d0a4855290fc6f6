// Package backends defines the byte-level contract between ginsession's core
// and the places sessions are kept, the optional capabilities a store may
// offer, the errors they share and the registry of SESSION_TYPE names.
//
// A Store moves opaque bytes. Encoding, signing, cookies and the expiry
// policy live in the core, once; a backend only keeps bytes under a key for
// a while. Keys arrive already prefixed (SESSION_KEY_PREFIX + sid) and have
// been validated by the core: they are printable ASCII without spaces and at
// most 250 bytes long.
//
// The core discovers optional capabilities by type assertion, the way
// database/sql discovers optional driver interfaces:
//
//   - [Toucher]: refresh the expiry without resending the value. Implement
//     it: without it, the core refreshes an unmodified session (every
//     request that reads one, with SESSION_REFRESH_EACH_REQUEST on, the
//     default) by rewriting the whole value with Save;
//   - [CompareAndSwapper]: versioned load and conditional write, so
//     concurrent requests on one session never lose each other's changes;
//   - [Cleaner]: remove expired entries on demand;
//   - [Lister]: enumerate stored keys (admin tools, tests);
//   - [ExpiryReporter]: tell when entries expire (admin tools);
//   - [io.Closer]: release connections, stop janitors.
//
// Every method takes a context.Context; the core gives each call a deadline.
// Every store must pass the conformance suite in package storetest.
package backends

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store is the contract every backend implements.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type Store interface {
	// Load returns the bytes stored under key. A key that is missing or
	// expired gives found=false and err=nil: err is only for real failures
	// (network, disk, a corrupt envelope of the store's own). The returned
	// slice belongs to the caller.
	Load(ctx context.Context, key string) (data []byte, found bool, err error)

	// Save stores data under key (insert or replace) so that it expires
	// after ttl. ttl is always positive. Save must not retain data after it
	// returns.
	Save(ctx context.Context, key string, data []byte, ttl time.Duration) error

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Toucher is implemented by stores that can reset an entry's expiry without
// rewriting its value (Redis EXPIRE, memcached touch, an UPDATE of the expiry
// column). Touching a missing key is not an error and does not create it.
//
// Every built-in store implements it. A store without it still works, but
// the core then refreshes an unmodified session by calling Save with the
// whole value it loaded: one full write per request that reads a session
// (with SESSION_REFRESH_EACH_REQUEST on, the default), which can also put
// back a value that a concurrent request changed in between.
type Toucher interface {
	Touch(ctx context.Context, key string, ttl time.Duration) error
}

// Record is the result of [CompareAndSwapper.LoadVersion].
type Record struct {
	// Data is the stored value; nil when Found is false.
	Data []byte
	// Found reports whether a live entry exists.
	Found bool
	// Version is an opaque token that only the store which produced it
	// interprets. It is passed back to SaveIf unchanged. When Found is
	// false it may be nil.
	Version any
	// Refreshed reports that the store already reset the expiry to the
	// refresh duration given to LoadVersion, in the same round trip.
	Refreshed bool
}

// CompareAndSwapper is implemented by stores that can write conditionally.
// The core uses it for every write of a session it loaded, so that two
// requests changing one session at the same time never lose an update: the
// loser gets [ErrConflict], reloads, reapplies its own changes and retries.
type CompareAndSwapper interface {
	// LoadVersion is Load plus a version token. When refresh is positive
	// and the store can reset the entry's expiry to refresh in the same
	// round trip, it does so and sets Record.Refreshed; otherwise it leaves
	// the expiry alone and the core touches later if needed.
	LoadVersion(ctx context.Context, key string, refresh time.Duration) (Record, error)

	// SaveIf stores data under key with the given ttl only if the entry
	// still holds the version returned by LoadVersion. A nil version means
	// "only if the key does not exist". If the condition fails, SaveIf
	// writes nothing and returns an error that matches ErrConflict.
	SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error
}

// Cleaner is implemented by stores whose server does not expire entries by
// itself (SQL, filesystem, a MongoDB without TTL indexes). Cleanup removes
// every expired entry and reports how many it removed.
type Cleaner interface {
	Cleanup(ctx context.Context) (removed int, err error)
}

// Lister is implemented by stores that can enumerate their live keys, for
// admin tools and tests. The keys include the prefix. Keys lists sessions
// only, never the store's own bookkeeping (a [UserIndexer]'s index entries
// kept beside the sessions), whatever the prefix.
type Lister interface {
	Keys(ctx context.Context) ([]string, error)
}

// ExpiryReporter is implemented by stores that can tell when their entries
// expire, for admin tools (the expiry column of "ginsession ls"). Like
// [Lister], the core never needs it to serve requests.
//
// Expiries answers for a whole page of keys at once, so that a listing
// costs a round trip (or a few) per page rather than one per key: a Redis
// pipeline of PTTLs, one SELECT ... IN, one MongoDB find, DynamoDB batch
// reads. Stores split a long slice into batches their server accepts.
type ExpiryReporter interface {
	// Expiries returns when the entries under keys expire, in the order of
	// keys: the result has len(keys) elements and element i is the expiry
	// of keys[i], or the zero time when that key is missing or has
	// expired, or when its entry carries no expiry the store can read (a
	// Redis key without a TTL, written by someone else). A reported expiry
	// is the one the last Save, SaveIf, Touch or refreshing LoadVersion
	// set, to within the store's expiry resolution. A failure of the
	// store is an error; an entry the store cannot interpret is reported
	// as the zero time.
	Expiries(ctx context.Context, keys []string) ([]time.Time, error)
}

// Shared errors. Stores wrap them (errors.Is works) with their own context.
var (
	// ErrConflict is returned by SaveIf when the entry changed since it was loaded.
	ErrConflict = errors.New("ginsession: session changed concurrently")
	// ErrTooLarge is returned when a value exceeds what the store can hold.
	ErrTooLarge = errors.New("ginsession: session too large for the store")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("ginsession: store is closed")
	// ErrUnknownType is returned by Open for an unregistered SESSION_TYPE.
	ErrUnknownType = errors.New("ginsession: unknown SESSION_TYPE")
)

// Config carries the settings a registered factory may need to build its
// store from configuration (OptionsFromEnv). Field names follow the Flask
// config keys they come from. The zero value of a field means "the
// backend's default", as documented on each field.
type Config struct {
	// Type is the SESSION_TYPE the store is built for.
	Type string
	// KeyPrefix is SESSION_KEY_PREFIX; stores receive prefixed keys already
	// and need it only for listing or cleanup.
	KeyPrefix string

	// Redis is SESSION_REDIS, a redis URL (default redis://127.0.0.1:6379).
	Redis string
	// Memcached is SESSION_MEMCACHED, comma-separated host:port (default 127.0.0.1:11211).
	Memcached string
	// FileDir is SESSION_FILE_DIR (default ./flask_session).
	FileDir string
	// FileThreshold is SESSION_FILE_THRESHOLD (default 500; negative means unlimited).
	FileThreshold int
	// FileMode is SESSION_FILE_MODE (default 0600).
	FileMode os.FileMode
	// MongoDB is SESSION_MONGODB, a MongoDB URI (default mongodb://127.0.0.1:27017).
	MongoDB string
	// MongoDBDB is SESSION_MONGODB_DB (default flask_session).
	MongoDBDB string
	// MongoDBCollect is SESSION_MONGODB_COLLECT (default sessions).
	MongoDBCollect string
	// SQLAlchemy is SESSION_SQLALCHEMY or SQLALCHEMY_DATABASE_URI, a database
	// URL (default sqlite:///flask_session.db).
	SQLAlchemy string
	// SQLAlchemyTable is SESSION_SQLALCHEMY_TABLE (default sessions).
	SQLAlchemyTable string
	// SQLAlchemySchema is SESSION_SQLALCHEMY_SCHEMA: the PostgreSQL schema
	// or MySQL database of the table (default: the connection's).
	SQLAlchemySchema string
	// SQLAlchemySequence is SESSION_SQLALCHEMY_SEQUENCE: a sequence new
	// rows' ids come from (default: none, the id column's own default).
	SQLAlchemySequence string
	// DynamoDB is SESSION_DYNAMODB, an endpoint URL (default: the AWS
	// default endpoint of the configured region).
	DynamoDB string
	// DynamoDBTable is SESSION_DYNAMODB_TABLE (default Sessions).
	DynamoDBTable string
	// CleanupNRequests is SESSION_CLEANUP_N_REQUESTS (0: off).
	CleanupNRequests int
	// MemoryMaxEntries bounds the memory store (0: unlimited).
	MemoryMaxEntries int

	// Logger receives the store's diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Log returns c.Logger, or slog.Default() when it is nil.
func (c Config) Log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Factory builds a store from configuration. ctx bounds any connection the
// factory makes while starting.
type Factory func(ctx context.Context, cfg Config) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a store available under a SESSION_TYPE name. It panics if
// name is empty, factory is nil or name is already registered, like
// database/sql.Register. Names are case-insensitive.
func Register(name string, factory Factory) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || factory == nil {
		panic("ginsession: Register needs a name and a factory")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("ginsession: Register called twice for type " + name)
	}
	registry[name] = factory
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[strings.ToLower(strings.TrimSpace(name))]
	return f, ok
}

// Types returns the registered SESSION_TYPE names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open builds the store registered for cfg.Type. An unknown type gives an
// error wrapping ErrUnknownType that lists the known ones.
func Open(ctx context.Context, cfg Config) (Store, error) {
	f, ok := Lookup(cfg.Type)
	if !ok {
		return nil, &UnknownTypeError{Type: cfg.Type, Known: Types()}
	}
	return f(ctx, cfg)
}

// UnknownTypeError reports a SESSION_TYPE nobody registered.
type UnknownTypeError struct {
	Type  string   // the SESSION_TYPE asked for
	Known []string // the registered names, sorted
}

// Error implements error.
func (e *UnknownTypeError) Error() string {
	return "ginsession: unknown SESSION_TYPE " + `"` + e.Type + `"` + " (known: " + strings.Join(e.Known, ", ") + ")"
}

// Unwrap makes errors.Is(err, ErrUnknownType) hold.
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownType }
