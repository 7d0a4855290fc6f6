package ginsession

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/backends"
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
