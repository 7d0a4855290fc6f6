package ginsession

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/cookie"
	"github.com/ginsession/ginsession/internal/seal"
)

// Options configures the middleware. Every Flask-Session setting has a field;
// the comment of each names the Flask config key, which is also the
// environment variable OptionsFromEnv reads.
//
// The zero value of every field means "the default", and no default is less
// safe than Flask-Session 0.8's. Settings whose default is "on" are therefore
// expressed as opt-outs (NonPermanent, NoRefreshEachRequest,
// CookieNoHTTPOnly), so that an omitted field can never weaken security.
// DefaultOptions returns the defaults filled in.
type Options struct {
	// Type is SESSION_TYPE: null, memory, redis, memcached, filesystem,
	// mongodb, sqlalchemy (alias gorm), dynamodb, or any name passed to
	// Register.
	// Default "null", as in Flask-Session. Ignored when Store is set.
	Type string
	// Store, when set, is used instead of building one from Type, e.g.
	// redisstore.New(client, redisstore.Options{}). The middleware does not
	// close it. A store without backends.Toucher is refreshed by rewriting
	// the whole value on every request that reads a session (see Toucher).
	Store backends.Store

	// SecretKey is SECRET_KEY. Required when UseSigner is set.
	SecretKey string
	// SecretKeyFallbacks is SECRET_KEY_FALLBACKS: older keys accepted when
	// verifying a signed cookie (never used to sign), for key rotation.
	SecretKeyFallbacks []string
	// UseSigner is SESSION_USE_SIGNER: sign the session id in the cookie
	// with itsdangerous' HMAC-SHA1 scheme, as Flask-Session does.
	UseSigner bool

	// NonPermanent is SESSION_PERMANENT=false: sessions are browser-session
	// cookies (no Expires). Default: permanent.
	NonPermanent bool
	// Lifetime is PERMANENT_SESSION_LIFETIME (default 31 days): the cookie's
	// Expires for permanent sessions and the server-side expiry of every
	// session.
	Lifetime time.Duration
	// NoRefreshEachRequest is SESSION_REFRESH_EACH_REQUEST=false: an
	// unmodified session does not get its expiry extended.
	NoRefreshEachRequest bool

	// KeyPrefix is SESSION_KEY_PREFIX (default "session:"), prepended to the
	// sid to form the store key: printable ASCII without spaces, short
	// enough for the key to fit 250 bytes. Empty means the default.
	KeyPrefix string
	// IDLength is SESSION_ID_LENGTH: bytes of entropy in a session id
	// (default 32, giving 43 base64url characters; MinIDLength 16 to
	// MaxIDLength 96).
	IDLength int
	// SerializationFormat is SESSION_SERIALIZATION_FORMAT: "msgpack"
	// (default) or "json".
	SerializationFormat string

	// CookieName is SESSION_COOKIE_NAME (default "session").
	CookieName string
	// CookieDomain is SESSION_COOKIE_DOMAIN (default: none, host-only).
	CookieDomain string
	// CookiePath is SESSION_COOKIE_PATH (default APPLICATION_ROOT, else "/").
	CookiePath string
	// CookieNoHTTPOnly is SESSION_COOKIE_HTTPONLY=false. Default: HttpOnly.
	CookieNoHTTPOnly bool
	// CookieSecure is SESSION_COOKIE_SECURE (default false).
	CookieSecure bool
	// CookieSameSite is SESSION_COOKIE_SAMESITE. The zero value, and
	// http.SameSiteDefaultMode, mean Lax: safer than Flask's unset default
	// (no attribute). http.SameSiteNoneMode requires CookieSecure.
	CookieSameSite http.SameSite
	// CookiePartitioned is SESSION_COOKIE_PARTITIONED (CHIPS; default false).
	CookiePartitioned bool

	// Redis is SESSION_REDIS (default redis://127.0.0.1:6379).
	Redis string
	// Memcached is SESSION_MEMCACHED, comma-separated host:port
	// (default 127.0.0.1:11211).
	Memcached string
	// FileDir is SESSION_FILE_DIR (default ./flask_session).
	FileDir string
	// FileThreshold is SESSION_FILE_THRESHOLD (default 500; negative: no
	// limit). From the environment, 0 means no limit, as in Flask.
	FileThreshold int
	// FileMode is SESSION_FILE_MODE (default 0600); permission bits only.
	FileMode os.FileMode
	// MongoDB is SESSION_MONGODB (default mongodb://127.0.0.1:27017).
	MongoDB string
	// MongoDBDB is SESSION_MONGODB_DB (default flask_session).
	MongoDBDB string
	// MongoDBCollect is SESSION_MONGODB_COLLECT (default sessions).
	MongoDBCollect string
	// SQLAlchemy is SESSION_SQLALCHEMY or SQLALCHEMY_DATABASE_URI
	// (default sqlite:///flask_session.db).
	SQLAlchemy string
	// SQLAlchemyTable is SESSION_SQLALCHEMY_TABLE (default sessions).
	SQLAlchemyTable string
	// SQLAlchemySchema is SESSION_SQLALCHEMY_SCHEMA: the PostgreSQL schema,
	// or the MySQL/MariaDB database, the table lives in (default: the
	// connection's). It must exist.
	SQLAlchemySchema string
	// SQLAlchemySequence is SESSION_SQLALCHEMY_SEQUENCE: a sequence the id
	// of new rows is drawn from, as Flask-SQLAlchemy's Sequence column
	// (PostgreSQL; MariaDB when id does not auto-increment; ignored on
	// SQLite). Default: none.
	SQLAlchemySequence string
	// DynamoDB is SESSION_DYNAMODB: the DynamoDB endpoint URL, e.g.
	// http://localhost:8000 for DynamoDB Local (default: the AWS endpoint of
	// the region). Region and credentials come from the AWS default chain
	// (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_PROFILE, the instance role...).
	DynamoDB string
	// DynamoDBTable is SESSION_DYNAMODB_TABLE (default Sessions).
	DynamoDBTable string
	// CleanupNRequests is SESSION_CLEANUP_N_REQUESTS: on average once every
	// N requests, expired entries are removed in the background (stores
	// implementing backends.Cleaner). 0: off.
	CleanupNRequests int
	// MemoryMaxEntries is SESSION_MEMORY_MAX_ENTRIES, the memory store's
	// bound (0: unlimited).
	MemoryMaxEntries int

	// StoreTimeout is SESSION_STORE_TIMEOUT: the deadline of each store
	// call (default 3s).
	StoreTimeout time.Duration
	// OpenTimeout is SESSION_OPEN_TIMEOUT: the longest NewMiddleware waits
	// while opening the store named by Type (default 5s). A server that
	// does not answer within it does not fail NewMiddleware: the store
	// finishes its setup on first use (docs/backends.md, "Start-up").
	OpenTimeout time.Duration
	// MaxSize is SESSION_MAX_SIZE: the largest encoded session accepted, in
	// bytes (default 1 MiB). A larger session is not saved; the request
	// gets the ErrorHandler with an error matching ErrTooLarge. A stored
	// value longer than twice MaxSize is not decoded (a new session starts).
	MaxSize int
	// MaxRetries is SESSION_MAX_RETRIES: how many times a write that lost a
	// compare-and-swap race is reapplied on fresh data (default 10).
	MaxRetries int

	// IdleTimeout is SESSION_IDLE_TIMEOUT (ginsession's own; default 0,
	// off): a session not used for this long is gone. Every write and
	// every refresh sets the store's expiry to min(Lifetime, IdleTimeout),
	// and a session is refreshed on every use, even with
	// NoRefreshEachRequest. Enforced by the store's expiry (to the second),
	// so it costs nothing when unused. At most Lifetime and, when set,
	// AbsoluteLifetime.
	IdleTimeout time.Duration
	// AbsoluteLifetime is SESSION_ABSOLUTE_LIFETIME (ginsession's own;
	// default 0, off): a session older than this since its creation is
	// expired however active it is. The creation time is kept in the
	// session under the reserved key "_created" (Unix seconds, hidden from
	// Keys); an expired session is deleted on load and the request gets a
	// fresh one. Store expiries never reach past the deadline. Regenerate
	// keeps the creation time; Clear resets it.
	AbsoluteLifetime time.Duration

	// EncryptionKey is SESSION_ENCRYPTION_KEY (ginsession's own; default
	// none, off): a 32-byte AES-256 key. When set, every stored value is
	// encrypted with AES-256-GCM (after encoding, bound to its store key),
	// so that someone who can read the store learns nothing of the
	// sessions and cannot move a value to another id. Off by default
	// because it breaks byte compatibility with Flask-Session: a Flask app
	// sharing the store cannot read encrypted sessions (see
	// docs/security.md). A value that does not decrypt is treated as
	// missing: the request gets a fresh session.
	EncryptionKey []byte
	// EncryptionKeyFallbacks is SESSION_ENCRYPTION_KEY_FALLBACKS: older
	// 32-byte keys still accepted when reading. A value read with one of
	// them is rewritten with EncryptionKey in the same request (key
	// rotation on read).
	EncryptionKeyFallbacks [][]byte

	// ErrorHandler answers a request whose session could not be loaded or
	// saved. Default: log with Logger and answer 503 with a short body.
	ErrorHandler func(c *gin.Context, err error)
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
}

// Bounds checked by Validate.
const (
	// MinIDLength is the smallest SESSION_ID_LENGTH accepted: 16 bytes,
	// 128 bits of entropy, the usual floor for unguessable tokens.
	MinIDLength = 16
	// MaxIDLength is the largest SESSION_ID_LENGTH accepted: 96 bytes,
	// 128 base64url characters, so that the store key (KeyPrefix + sid)
	// still fits memcached's 250-byte key limit with a prefix of up to
	// 122 bytes.
	MaxIDLength = 96
	// maxKeyLen is memcached's key limit, which every store key must fit.
	maxKeyLen = 250
)

// DefaultOptions returns Options with every field set to its default:
// Flask-Session 0.8's for its settings (SESSION_TYPE "null", 31-day
// lifetime, "session:" prefix, 32-byte ids, msgpack, cookie "session" on
// "/", and so on), SameSite=Lax for the cookie (safer than Flask's unset
// default), and ginsession's own StoreTimeout 3s, OpenTimeout 5s, MaxSize 1 MiB and
// MaxRetries 10. Store, SecretKey, ErrorHandler and Logger stay empty; the
// middleware supplies its default error handler and slog.Default().
func DefaultOptions() Options {
	return Options{
		Type:                "null",
		Lifetime:            31 * 24 * time.Hour,
		KeyPrefix:           "session:",
		IDLength:            32,
		SerializationFormat: "msgpack",
		CookieName:          "session",
		CookiePath:          "/",
		CookieSameSite:      http.SameSiteLaxMode, // Flask: unset; ours is safer
		// Each backend's settings default to its package's constants: one
		// place holds each default, whether the store is built from Options
		// or by the backend's own New.
		Redis:           redisstore.DefaultURL,
		Memcached:       memcachedstore.DefaultServers,
		FileDir:         filestore.DefaultDir,
		FileThreshold:   filestore.DefaultThreshold,
		FileMode:        filestore.DefaultMode,
		MongoDB:         mongostore.DefaultURI,
		MongoDBDB:       mongostore.DefaultDatabase,
		MongoDBCollect:  mongostore.DefaultCollection,
		SQLAlchemy:      gormstore.DefaultURL,
		SQLAlchemyTable: gormstore.DefaultTable,
		DynamoDBTable:   dynamostore.DefaultTable,
		StoreTimeout:    3 * time.Second, // the rest are ginsession's own
		OpenTimeout:     5 * time.Second,
		MaxSize:         1 << 20,
		MaxRetries:      10,
	}
}

// withDefaults returns o with every zero field replaced by its value in
// DefaultOptions, which is thus the one place holding each default; fields
// whose default is their zero value (booleans, CookieDomain, Store,
// SecretKey...) are left alone. CookieSameSite http.SameSiteDefaultMode
// counts as zero (it becomes Lax).
func (o Options) withDefaults() Options {
	if o.CookieSameSite == http.SameSiteDefaultMode {
		o.CookieSameSite = 0
	}
	v, d := reflect.ValueOf(&o).Elem(), reflect.ValueOf(DefaultOptions())
	for i := range v.NumField() {
		if f := v.Field(i); f.IsZero() {
			f.Set(d.Field(i))
		}
	}
	return o
}

// backendConfig maps o (after withDefaults) to the configuration a
// registered store factory receives. Type is lower-cased; "gorm" is passed
// as is (the registry knows it as an alias of "sqlalchemy").
func (o Options) backendConfig() backends.Config {
	return backends.Config{
		Type:               strings.ToLower(strings.TrimSpace(o.Type)),
		KeyPrefix:          o.KeyPrefix,
		Redis:              o.Redis,
		Memcached:          o.Memcached,
		FileDir:            o.FileDir,
		FileThreshold:      o.FileThreshold,
		FileMode:           o.FileMode,
		MongoDB:            o.MongoDB,
		MongoDBDB:          o.MongoDBDB,
		MongoDBCollect:     o.MongoDBCollect,
		SQLAlchemy:         o.SQLAlchemy,
		SQLAlchemyTable:    o.SQLAlchemyTable,
		SQLAlchemySchema:   o.SQLAlchemySchema,
		SQLAlchemySequence: o.SQLAlchemySequence,
		DynamoDB:           o.DynamoDB,
		DynamoDBTable:      o.DynamoDBTable,
		CleanupNRequests:   o.CleanupNRequests,
		MemoryMaxEntries:   o.MemoryMaxEntries,
		Logger:             o.Logger,
	}
}

// Validate checks o, with defaults applied to its zero fields, and reports
// every problem at once: the result is nil or an errors.Join of one error
// per problem, each starting with "ginsession:" and saying what is
// accepted. It checks that:
//
//   - UseSigner has a SecretKey;
//   - IDLength is between MinIDLength (16 bytes, 128 bits) and MaxIDLength
//     (96 bytes), and KeyPrefix + sid fits memcached's 250-byte key limit;
//   - KeyPrefix is printable ASCII without spaces;
//   - SerializationFormat is "msgpack" or "json";
//   - Lifetime, StoreTimeout, OpenTimeout, MaxSize, MaxRetries, CleanupNRequests and
//     MemoryMaxEntries are not negative, and FileMode has only permission
//     bits;
//   - IdleTimeout and AbsoluteLifetime are not negative, IdleTimeout is at
//     most Lifetime and, when both are set, at most AbsoluteLifetime, and
//     AbsoluteLifetime is at least a second;
//   - EncryptionKey and every EncryptionKeyFallbacks item are 32 bytes,
//     and fallbacks come with a current key;
//   - CookieSameSite None and CookiePartitioned come with CookieSecure
//     (browsers reject such cookies otherwise);
//   - CookieName is a valid cookie name (an RFC 6265 token), CookiePath
//     starts with "/", and neither CookiePath nor CookieDomain contains ';'
//     or control characters, and CookieDomain is a host name without a
//     scheme, port or path;
//   - Type is registered (see backends.Types), unless Store is set.
func (o Options) Validate() error {
	v := o.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("ginsession: "+format, args...)) }
	failIf := func(bad bool, format string, args ...any) {
		if bad {
			add(format, args...)
		}
	}
	sidLen := base64.RawURLEncoding.EncodedLen(v.IDLength)
	idOK := v.IDLength >= MinIDLength && v.IDLength <= MaxIDLength
	prefixOK := strings.IndexFunc(v.KeyPrefix, func(r rune) bool { return r <= ' ' || r >= 0x7f }) < 0

	failIf(v.UseSigner && v.SecretKey == "", "UseSigner (SESSION_USE_SIGNER) needs SecretKey (SECRET_KEY): want a non-empty secret, e.g. 32 random bytes")
	failIf(!idOK, "IDLength (SESSION_ID_LENGTH) = %d: want %d to %d bytes (at least 128 bits of entropy; at most what fits memcached's 250-byte key)",
		v.IDLength, MinIDLength, MaxIDLength)
	failIf(!prefixOK, "KeyPrefix (SESSION_KEY_PREFIX) = %q: want printable ASCII without spaces or control characters", v.KeyPrefix)
	failIf(prefixOK && idOK && len(v.KeyPrefix)+sidLen > maxKeyLen, "KeyPrefix (SESSION_KEY_PREFIX) = %q is too long: the store key would be %d bytes; want prefix + %d-character sid <= %d bytes (at most %d bytes of prefix)",
		v.KeyPrefix, len(v.KeyPrefix)+sidLen, sidLen, maxKeyLen, maxKeyLen-sidLen)
	failIf(v.SerializationFormat != "msgpack" && v.SerializationFormat != "json", "SerializationFormat (SESSION_SERIALIZATION_FORMAT) = %q: want \"msgpack\" or \"json\"", v.SerializationFormat)
	failIf(v.Lifetime < 0, "Lifetime (PERMANENT_SESSION_LIFETIME) = %v: want a positive duration (0 means the default, 31 days)", v.Lifetime)
	failIf(v.Lifetime >= 0 && v.Lifetime < time.Second, "Lifetime (PERMANENT_SESSION_LIFETIME) = %v: want at least 1s (stores and cookies count expiry in whole seconds)", v.Lifetime)
	failIf(v.StoreTimeout < 0, "StoreTimeout (SESSION_STORE_TIMEOUT) = %v: want a positive duration (0 means the default, 3s)", v.StoreTimeout)
	failIf(v.StoreTimeout >= 0 && v.StoreTimeout < time.Millisecond, "StoreTimeout (SESSION_STORE_TIMEOUT) = %v: want at least 1ms (no store answers sooner; every request would fail)", v.StoreTimeout)
	failIf(v.OpenTimeout < 0, "OpenTimeout (SESSION_OPEN_TIMEOUT) = %v: want a positive duration (0 means the default, 5s)", v.OpenTimeout)
	failIf(v.MaxSize < 0, "MaxSize (SESSION_MAX_SIZE) = %d: want a positive number of bytes (0 means the default, 1 MiB)", v.MaxSize)
	failIf(v.MaxRetries < 0, "MaxRetries (SESSION_MAX_RETRIES) = %d: want a positive count (0 means the default, 10)", v.MaxRetries)
	failIf(v.IdleTimeout < 0, "IdleTimeout (SESSION_IDLE_TIMEOUT) = %v: want a positive duration, or 0 for no idle timeout", v.IdleTimeout)
	failIf(v.IdleTimeout > 0 && v.Lifetime > 0 && v.IdleTimeout > v.Lifetime, "IdleTimeout (SESSION_IDLE_TIMEOUT) = %v is longer than Lifetime (PERMANENT_SESSION_LIFETIME) = %v, so it would never apply: want at most the lifetime", v.IdleTimeout, v.Lifetime)
	switch {
	case v.AbsoluteLifetime < 0:
		add("AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v: want a positive duration, or 0 for no absolute lifetime", v.AbsoluteLifetime)
	case v.AbsoluteLifetime > 0 && v.AbsoluteLifetime < time.Second:
		add("AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v: want at least 1s (creation times are kept in whole seconds)", v.AbsoluteLifetime)
	case v.AbsoluteLifetime > 0 && v.IdleTimeout > v.AbsoluteLifetime:
		add("IdleTimeout (SESSION_IDLE_TIMEOUT) = %v is longer than AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v, so it would never apply: want an idle timeout shorter than the absolute lifetime", v.IdleTimeout, v.AbsoluteLifetime)
	}
	failIf(len(v.EncryptionKey) != 0 && len(v.EncryptionKey) != seal.KeyLen, "EncryptionKey (SESSION_ENCRYPTION_KEY) is %d bytes: want exactly %d bytes (AES-256), e.g. base64 of 32 random bytes", len(v.EncryptionKey), seal.KeyLen)
	for i, k := range v.EncryptionKeyFallbacks {
		failIf(len(k) != seal.KeyLen, "EncryptionKeyFallbacks (SESSION_ENCRYPTION_KEY_FALLBACKS) item %d is %d bytes: want exactly %d bytes (AES-256)", i, len(k), seal.KeyLen)
	}
	failIf(len(v.EncryptionKeyFallbacks) > 0 && len(v.EncryptionKey) == 0, "EncryptionKeyFallbacks (SESSION_ENCRYPTION_KEY_FALLBACKS) needs EncryptionKey (SESSION_ENCRYPTION_KEY): fallbacks only decrypt; want a current key too")
	failIf(v.CleanupNRequests < 0, "CleanupNRequests (SESSION_CLEANUP_N_REQUESTS) = %d: want 0 (off) or a positive number of requests", v.CleanupNRequests)
	failIf(v.MemoryMaxEntries < 0, "MemoryMaxEntries (SESSION_MEMORY_MAX_ENTRIES) = %d: want 0 (unlimited) or a positive count", v.MemoryMaxEntries)
	failIf(v.FileMode&^0o777 != 0, "FileMode (SESSION_FILE_MODE) = %#o: want permission bits only, 0 to 0777 (default 0600)", uint32(v.FileMode))
	switch v.CookieSameSite {
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		failIf(!v.CookieSecure, "CookieSameSite (SESSION_COOKIE_SAMESITE) None needs CookieSecure (SESSION_COOKIE_SECURE=true): browsers reject SameSite=None cookies without Secure; want Secure, or SameSite Lax or Strict")
	default:
		add("CookieSameSite (SESSION_COOKIE_SAMESITE) = %d: want http.SameSiteLaxMode, http.SameSiteStrictMode or http.SameSiteNoneMode", int(v.CookieSameSite))
	}
	failIf(v.CookiePartitioned && !v.CookieSecure, "CookiePartitioned (SESSION_COOKIE_PARTITIONED) needs CookieSecure (SESSION_COOKIE_SECURE=true): browsers reject Partitioned cookies without Secure")
	failIf(strings.HasPrefix(v.CookieName, "__Host-") && (!v.CookieSecure || v.CookieDomain != "" || v.CookiePath != "/"), "CookieName (SESSION_COOKIE_NAME) = %q: browsers accept a __Host- cookie only with Secure (SESSION_COOKIE_SECURE=true), no Domain (SESSION_COOKIE_DOMAIN) and Path \"/\" (SESSION_COOKIE_PATH); have Secure=%v, Domain=%q, Path=%q", v.CookieName, v.CookieSecure, v.CookieDomain, v.CookiePath)
	failIf(strings.HasPrefix(v.CookieName, "__Secure-") && !v.CookieSecure, "CookieName (SESSION_COOKIE_NAME) = %q: browsers accept a __Secure- cookie only with Secure (SESSION_COOKIE_SECURE=true)", v.CookieName)
	failIf(!cookie.ValidName(v.CookieName), "CookieName (SESSION_COOKIE_NAME) = %q: want a cookie name: printable ASCII without spaces or any of ()<>@,;:\\\"/[]?={}", v.CookieName)
	failIf(!strings.HasPrefix(v.CookiePath, "/") || cookie.HasAttrBreak(v.CookiePath), "CookiePath (SESSION_COOKIE_PATH) = %q: want a path starting with \"/\", without ';' or control characters", v.CookiePath)
	domainBroken := cookie.HasAttrBreak(v.CookieDomain) || strings.ContainsAny(v.CookieDomain, " \"")
	failIf(domainBroken, "CookieDomain (SESSION_COOKIE_DOMAIN) = %q: want a host name such as example.com, or empty for a host-only cookie", v.CookieDomain)
	failIf(!domainBroken && strings.ContainsAny(v.CookieDomain, ":/"), "CookieDomain (SESSION_COOKIE_DOMAIN) = %q: want a host name such as example.com, without a scheme, port or path (a cookie's domain covers every port), or empty for a host-only cookie", v.CookieDomain)
	if _, ok := backends.Lookup(v.Type); !ok && v.Store == nil {
		known := strings.Join(backends.Types(), ", ")
		if known == "" {
			known = "(none registered)"
		}
		add("Type (SESSION_TYPE) = %q is not registered: want one of %s (or set Store)", v.Type, known)
	}
	return errors.Join(errs...)
}
