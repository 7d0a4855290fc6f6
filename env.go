package ginsession

import (
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/envvar"
)

// EnvError reports an environment variable whose value OptionsFromEnv or
// OptionsFromLookup cannot use. The error of those functions wraps one
// EnvError per bad variable (use errors.As, or errors.Join's Unwrap() []error
// to see them all).
type EnvError struct {
	// Var is the variable's full name, prefix included (e.g. MYAPP_SESSION_TYPE).
	Var string
	// Value is the value found, or "(hidden)" for SECRET_KEY and
	// SECRET_KEY_FALLBACKS, whose values are never repeated.
	Value string
	// Want says which values are accepted.
	Want string

	hidden bool // Value is a placeholder: print it without quotes
}

// Error returns `ginsession: VAR="value": want ...`.
func (e *EnvError) Error() string {
	v := strconv.Quote(e.Value)
	if e.hidden {
		v = e.Value
	}
	return "ginsession: " + e.Var + "=" + v + ": want " + e.Want
}

// OptionsFromEnv reads Options from the process environment, using the
// names of Flask's config keys (SESSION_TYPE, SECRET_KEY, ...), so that a
// Flask-Session app's environment configures the Gin app unchanged. It is
// OptionsFromLookup(os.LookupEnv, "").
func OptionsFromEnv() (Options, error) {
	return OptionsFromLookup(os.LookupEnv, "")
}

// OptionsFromLookup reads Options through lookup, prepending prefix to every
// variable name ("MYAPP_" reads MYAPP_SESSION_TYPE, MYAPP_SECRET_KEY...).
//
// It starts from DefaultOptions. A variable that is unset, or set to the
// empty string, keeps the default; the exception is SESSION_COOKIE_DOMAIN,
// where the empty string means a host-only cookie. The variables are those
// of docs/configuration.md:
//
//   - strings: SESSION_TYPE, SECRET_KEY, SESSION_KEY_PREFIX,
//     SESSION_COOKIE_NAME, SESSION_COOKIE_DOMAIN, SESSION_COOKIE_PATH
//     (default APPLICATION_ROOT, then "/"), SESSION_REDIS,
//     SESSION_MEMCACHED, SESSION_FILE_DIR, SESSION_MONGODB,
//     SESSION_MONGODB_DB, SESSION_MONGODB_COLLECT, SESSION_SQLALCHEMY
//     (default SQLALCHEMY_DATABASE_URI), SESSION_SQLALCHEMY_TABLE,
//     SESSION_SQLALCHEMY_SCHEMA, SESSION_SQLALCHEMY_SEQUENCE,
//     SESSION_DYNAMODB (an http or https endpoint URL),
//     SESSION_DYNAMODB_TABLE (a DynamoDB table name);
//   - Flask-Session settings without a Go meaning, which are errors when
//     set, saying what to use instead: SESSION_SQLALCHEMY_BIND_KEY,
//     SESSION_CACHELIB and SESSION_TYPE=cachelib;
//   - SECRET_KEY_FALLBACKS: comma-separated, or a JSON or Python list
//     literal such as ["old1", "old2"] (for keys that contain commas);
//   - booleans (true/false, 1/0, yes/no, on/off, any case):
//     SESSION_PERMANENT, SESSION_USE_SIGNER, SESSION_REFRESH_EACH_REQUEST,
//     SESSION_COOKIE_HTTPONLY, SESSION_COOKIE_SECURE,
//     SESSION_COOKIE_PARTITIONED;
//   - durations (integer or fractional seconds such as 3600 or 90.7, or a
//     Go duration such as 720h): PERMANENT_SESSION_LIFETIME,
//     SESSION_STORE_TIMEOUT, SESSION_OPEN_TIMEOUT; the same forms, 0 meaning off:
//     SESSION_IDLE_TIMEOUT, SESSION_ABSOLUTE_LIFETIME;
//   - SESSION_ENCRYPTION_KEY: 32 bytes as base64 (standard or URL
//     alphabet, padded or not) or as 64 hex digits;
//     SESSION_ENCRYPTION_KEY_FALLBACKS: comma-separated keys in the same
//     forms (never repeated in errors);
//   - integers: SESSION_ID_LENGTH (16 to 96), SESSION_FILE_THRESHOLD (0 or
//     negative: no limit, as in Flask), SESSION_CLEANUP_N_REQUESTS,
//     SESSION_MAX_SIZE, SESSION_MAX_RETRIES, SESSION_MEMORY_MAX_ENTRIES;
//   - SESSION_SERIALIZATION_FORMAT: msgpack or json;
//   - SESSION_COOKIE_SAMESITE: Strict, Lax or None, any case;
//   - SESSION_FILE_MODE: octal with a leading 0 or 0o (0600, 0o600), a
//     chmod-style 3-digit octal above 511 (600, 644, 755), or Flask's
//     decimal int containing an 8 or a 9 (384 = 0600); other values are
//     ambiguous and rejected (see docs/configuration.md).
//
// Every unusable variable is reported, each as an *EnvError naming the
// variable, its value (never for SECRET_KEY or SECRET_KEY_FALLBACKS) and the
// accepted forms, and the resulting Options are then checked with Validate;
// all problems are returned together (errors.Join). On error the returned
// Options hold what could be read and must not be used.
func OptionsFromLookup(lookup func(string) (string, bool), prefix string) (Options, error) {
	o := DefaultOptions()
	r := envvar.Reader{Lookup: lookup, Prefix: prefix}
	r.Read(
		envvar.Checked("SESSION_TYPE", &o.Type, func(t string) bool { return !strings.EqualFold(t, "cachelib") }, "a store ginsession has: cachelib's Python caches have no Go equivalent; use filesystem (as cachelib's FileSystemCache), redis, memcached or memory"),
		envvar.Verbatim("SECRET_KEY", &o.SecretKey),
		envvar.Keys("SECRET_KEY_FALLBACKS", &o.SecretKeyFallbacks),
		envvar.Bool("SESSION_USE_SIGNER", &o.UseSigner),
		envvar.NotBool("SESSION_PERMANENT", &o.NonPermanent),
		envvar.Duration("PERMANENT_SESSION_LIFETIME", &o.Lifetime, time.Second),
		envvar.NotBool("SESSION_REFRESH_EACH_REQUEST", &o.NoRefreshEachRequest),
		envvar.String("SESSION_KEY_PREFIX", &o.KeyPrefix),
		envvar.Int("SESSION_ID_LENGTH", &o.IDLength, MinIDLength, MaxIDLength, "an integer from 16 to 96 (bytes of entropy; default 32)"),
		envvar.Choice("SESSION_SERIALIZATION_FORMAT", &o.SerializationFormat, map[string]string{"msgpack": "msgpack", "json": "json"}, "msgpack or json"),
		envvar.String("SESSION_COOKIE_NAME", &o.CookieName),
		envvar.String("SESSION_COOKIE_DOMAIN", &o.CookieDomain).KeepEmpty(), // host-only
		envvar.String("SESSION_COOKIE_PATH", &o.CookiePath).Or("APPLICATION_ROOT"),
		envvar.NotBool("SESSION_COOKIE_HTTPONLY", &o.CookieNoHTTPOnly),
		envvar.Bool("SESSION_COOKIE_SECURE", &o.CookieSecure),
		envvar.Choice("SESSION_COOKIE_SAMESITE", &o.CookieSameSite, map[string]http.SameSite{"strict": http.SameSiteStrictMode, "lax": http.SameSiteLaxMode, "none": http.SameSiteNoneMode}, "Strict, Lax or None (any case; None needs SESSION_COOKIE_SECURE=true)"),
		envvar.Bool("SESSION_COOKIE_PARTITIONED", &o.CookiePartitioned),
		envvar.String("SESSION_REDIS", &o.Redis),
		envvar.String("SESSION_MEMCACHED", &o.Memcached),
		envvar.String("SESSION_FILE_DIR", &o.FileDir),
		envvar.Int("SESSION_FILE_THRESHOLD", &o.FileThreshold, math.MinInt, math.MaxInt, "an integer: the most files kept (0 or negative: no limit)"),
		envvar.FileMode("SESSION_FILE_MODE", &o.FileMode),
		envvar.String("SESSION_MONGODB", &o.MongoDB),
		envvar.String("SESSION_MONGODB_DB", &o.MongoDBDB),
		envvar.String("SESSION_MONGODB_COLLECT", &o.MongoDBCollect),
		envvar.String("SESSION_SQLALCHEMY", &o.SQLAlchemy).Or("SQLALCHEMY_DATABASE_URI"),
		envvar.String("SESSION_SQLALCHEMY_TABLE", &o.SQLAlchemyTable),
		envvar.Checked("SESSION_DYNAMODB", &o.DynamoDB, func(s string) bool { return dynamostore.CheckEndpoint(s) == nil }, "an http or https endpoint URL such as http://localhost:8000 (DynamoDB Local), or nothing for the AWS endpoint of AWS_REGION"),
		envvar.Checked("SESSION_DYNAMODB_TABLE", &o.DynamoDBTable, func(s string) bool { return dynamostore.CheckTableName(s) == nil }, "a DynamoDB table name: 3 to 255 characters among a-z, A-Z, 0-9, _, - and . (default Sessions)"),
		envvar.String("SESSION_SQLALCHEMY_SCHEMA", &o.SQLAlchemySchema),
		envvar.String("SESSION_SQLALCHEMY_SEQUENCE", &o.SQLAlchemySequence),
		envvar.Unsupported("SESSION_SQLALCHEMY_BIND_KEY", "nothing: Flask-SQLAlchemy binds do not exist in Go; unset it and put the URL of the database that bind names in SESSION_SQLALCHEMY"),
		envvar.Unsupported("SESSION_CACHELIB", "nothing: a cachelib cache is a Python object; unset it and choose the store with SESSION_TYPE (filesystem for cachelib's FileSystemCache, redis, memcached, memory)"),
		envvar.Int("SESSION_CLEANUP_N_REQUESTS", &o.CleanupNRequests, 0, math.MaxInt, "an integer >= 0: clean up about once every N requests (0: off)"),
		envvar.Int("SESSION_MEMORY_MAX_ENTRIES", &o.MemoryMaxEntries, 0, math.MaxInt, "an integer >= 0: the memory store's bound (0: unlimited)"),
		envvar.Duration("SESSION_STORE_TIMEOUT", &o.StoreTimeout, time.Millisecond),
		envvar.Duration("SESSION_OPEN_TIMEOUT", &o.OpenTimeout, time.Millisecond),
		envvar.Int("SESSION_MAX_SIZE", &o.MaxSize, 1, math.MaxInt, "a positive integer: the largest encoded session in bytes (default 1048576)"),
		envvar.Int("SESSION_MAX_RETRIES", &o.MaxRetries, 1, math.MaxInt, "a positive integer: retries after a concurrent write (default 10)"),
		envvar.OptionalDuration("SESSION_IDLE_TIMEOUT", &o.IdleTimeout),
		envvar.OptionalDuration("SESSION_ABSOLUTE_LIFETIME", &o.AbsoluteLifetime),
		envvar.SealKey("SESSION_ENCRYPTION_KEY", &o.EncryptionKey),
		envvar.SealKeys("SESSION_ENCRYPTION_KEY_FALLBACKS", &o.EncryptionKeyFallbacks),
	)
	if o.FileThreshold <= 0 {
		o.FileThreshold = -1 // Flask/cachelib: 0 means no threshold
	}
	// The setting of the store SESSION_TYPE selects is checked without
	// connecting, so that a bad connection string is reported with every
	// other bad variable rather than by NewMiddleware later. Only a set
	// variable is checked (the defaults are valid), and only the selected
	// type's: a Flask .env may hold settings of other types, which Flask
	// ignores too.
	switch strings.ToLower(o.Type) {
	case "redis":
		r.Read(envvar.StoreCheck("SESSION_REDIS", func(s string) error { _, err := redisstore.ParseURL(s); return errors.Unwrap(err) }, "a redis URL: redis://[user:password@]host[:port][/db], rediss:// (TLS), unix://…, redis+cluster://… or redis+sentinel://… (see docs/backends/redis.md)"))
	case "memcached":
		r.Read(envvar.StoreCheck("SESSION_MEMCACHED", func(s string) error { _, err := memcachedstore.ParseServers(s); return err }, "comma-separated host:port servers such as 127.0.0.1:11211,10.0.0.2:11211"))
	case "filesystem":
		r.Read(envvar.StoreCheck("SESSION_FILE_MODE", func(string) error { return filestore.CheckMode(o.FileMode) }, "a mode that lets the owner read and write and gives others nothing: 0600 (default), or 0640/0660 for a shared group"))
	case "mongodb":
		r.Read(envvar.StoreCheck("SESSION_MONGODB", mongostore.CheckURI, "a MongoDB connection string such as mongodb://127.0.0.1:27017 or mongodb+srv://…"))
	case "sqlalchemy", "gorm":
		r.Read(envvar.StoreCheck("SESSION_SQLALCHEMY", gormstore.CheckURL, "a database URL: sqlite:///file.db, postgresql://user:password@host/db or mysql://user:password@host/db").Or("SQLALCHEMY_DATABASE_URI"))
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = &EnvError{Var: p.Var, Value: p.Value, Want: p.Want, hidden: p.Hidden}
	}
	return o, errors.Join(errors.Join(errs...), envvar.PrefixNames(o.Validate(), prefix))
}
