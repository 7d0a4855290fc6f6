package ginsession

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/seal"
)

// Defaults, Flask-Session 0.8's unless noted.
const (
	defaultType                = "null"
	defaultLifetime            = 31 * 24 * time.Hour
	defaultKeyPrefix           = "session:"
	defaultIDLength            = 32
	defaultSerializationFormat = "msgpack"
	defaultCookieName          = "session"
	defaultCookiePath          = "/"
	defaultCookieSameSite      = http.SameSiteLaxMode // Flask: unset; ours is safer
	// Each backend's settings default to its package's constants: one
	// place holds each default, whether the store is built from Options
	// or by the backend's own New.
	defaultRedis           = redisstore.DefaultURL
	defaultMemcached       = memcachedstore.DefaultServers
	defaultFileDir         = filestore.DefaultDir
	defaultFileThreshold   = filestore.DefaultThreshold
	defaultFileMode        = filestore.DefaultMode
	defaultMongoDB         = mongostore.DefaultURI
	defaultMongoDBDB       = mongostore.DefaultDatabase
	defaultMongoDBCollect  = mongostore.DefaultCollection
	defaultSQLAlchemy      = gormstore.DefaultURL
	defaultSQLAlchemyTable = gormstore.DefaultTable
	defaultDynamoDBTable   = dynamostore.DefaultTable
	defaultStoreTimeout    = 3 * time.Second // ours
	defaultOpenTimeout     = 5 * time.Second // ours
	defaultMaxSize         = 1 << 20         // ours
	defaultMaxRetries      = 10              // ours
)

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
		Type:                defaultType,
		Lifetime:            defaultLifetime,
		KeyPrefix:           defaultKeyPrefix,
		IDLength:            defaultIDLength,
		SerializationFormat: defaultSerializationFormat,
		CookieName:          defaultCookieName,
		CookiePath:          defaultCookiePath,
		CookieSameSite:      defaultCookieSameSite,
		Redis:               defaultRedis,
		Memcached:           defaultMemcached,
		FileDir:             defaultFileDir,
		FileThreshold:       defaultFileThreshold,
		FileMode:            defaultFileMode,
		MongoDB:             defaultMongoDB,
		MongoDBDB:           defaultMongoDBDB,
		MongoDBCollect:      defaultMongoDBCollect,
		SQLAlchemy:          defaultSQLAlchemy,
		SQLAlchemyTable:     defaultSQLAlchemyTable,
		DynamoDBTable:       defaultDynamoDBTable,
		StoreTimeout:        defaultStoreTimeout,
		OpenTimeout:         defaultOpenTimeout,
		MaxSize:             defaultMaxSize,
		MaxRetries:          defaultMaxRetries,
	}
}

// withDefaults returns o with every zero field replaced by its default.
// CookieSameSite http.SameSiteDefaultMode counts as zero (it becomes Lax).
// Fields whose zero value is meaningful (booleans, CookieDomain,
// CleanupNRequests, MemoryMaxEntries, Store, SecretKey...) are left alone.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setS := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setS(&o.Type, d.Type)
	setS(&o.KeyPrefix, d.KeyPrefix)
	setS(&o.SerializationFormat, d.SerializationFormat)
	setS(&o.CookieName, d.CookieName)
	setS(&o.CookiePath, d.CookiePath)
	setS(&o.Redis, d.Redis)
	setS(&o.Memcached, d.Memcached)
	setS(&o.FileDir, d.FileDir)
	setS(&o.MongoDB, d.MongoDB)
	setS(&o.MongoDBDB, d.MongoDBDB)
	setS(&o.MongoDBCollect, d.MongoDBCollect)
	setS(&o.SQLAlchemy, d.SQLAlchemy)
	setS(&o.SQLAlchemyTable, d.SQLAlchemyTable)
	setS(&o.DynamoDBTable, d.DynamoDBTable)
	if o.Lifetime == 0 {
		o.Lifetime = d.Lifetime
	}
	if o.IDLength == 0 {
		o.IDLength = d.IDLength
	}
	if o.CookieSameSite == 0 || o.CookieSameSite == http.SameSiteDefaultMode {
		o.CookieSameSite = d.CookieSameSite
	}
	if o.FileThreshold == 0 {
		o.FileThreshold = d.FileThreshold
	}
	if o.FileMode == 0 {
		o.FileMode = d.FileMode
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = d.StoreTimeout
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = d.OpenTimeout
	}
	if o.MaxSize == 0 {
		o.MaxSize = d.MaxSize
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = d.MaxRetries
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
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ginsession: "+format, args...))
	}

	if v.UseSigner && v.SecretKey == "" {
		add("UseSigner (SESSION_USE_SIGNER) needs SecretKey (SECRET_KEY): want a non-empty secret, e.g. 32 random bytes")
	}
	if v.IDLength < MinIDLength || v.IDLength > MaxIDLength {
		add("IDLength (SESSION_ID_LENGTH) = %d: want %d to %d bytes (at least 128 bits of entropy; at most what fits memcached's 250-byte key)",
			v.IDLength, MinIDLength, MaxIDLength)
	}
	if bad := strings.IndexFunc(v.KeyPrefix, func(r rune) bool { return r <= ' ' || r >= 0x7f }); bad >= 0 {
		add("KeyPrefix (SESSION_KEY_PREFIX) = %q: want printable ASCII without spaces or control characters", v.KeyPrefix)
	} else if v.IDLength >= MinIDLength && v.IDLength <= MaxIDLength {
		if n := len(v.KeyPrefix) + base64.RawURLEncoding.EncodedLen(v.IDLength); n > maxKeyLen {
			add("KeyPrefix (SESSION_KEY_PREFIX) = %q is too long: the store key would be %d bytes; want prefix + %d-character sid <= %d bytes (at most %d bytes of prefix)",
				v.KeyPrefix, n, base64.RawURLEncoding.EncodedLen(v.IDLength), maxKeyLen, maxKeyLen-base64.RawURLEncoding.EncodedLen(v.IDLength))
		}
	}
	switch v.SerializationFormat {
	case "msgpack", "json":
	default:
		add("SerializationFormat (SESSION_SERIALIZATION_FORMAT) = %q: want \"msgpack\" or \"json\"", v.SerializationFormat)
	}
	if v.Lifetime < 0 {
		add("Lifetime (PERMANENT_SESSION_LIFETIME) = %v: want a positive duration (0 means the default, 31 days)", v.Lifetime)
	} else if v.Lifetime < time.Second {
		add("Lifetime (PERMANENT_SESSION_LIFETIME) = %v: want at least 1s (stores and cookies count expiry in whole seconds)", v.Lifetime)
	}
	if v.StoreTimeout < 0 {
		add("StoreTimeout (SESSION_STORE_TIMEOUT) = %v: want a positive duration (0 means the default, 3s)", v.StoreTimeout)
	} else if v.StoreTimeout < time.Millisecond {
		add("StoreTimeout (SESSION_STORE_TIMEOUT) = %v: want at least 1ms (no store answers sooner; every request would fail)", v.StoreTimeout)
	}
	if v.OpenTimeout < 0 {
		add("OpenTimeout (SESSION_OPEN_TIMEOUT) = %v: want a positive duration (0 means the default, 5s)", v.OpenTimeout)
	}
	if v.MaxSize < 0 {
		add("MaxSize (SESSION_MAX_SIZE) = %d: want a positive number of bytes (0 means the default, 1 MiB)", v.MaxSize)
	}
	if v.MaxRetries < 0 {
		add("MaxRetries (SESSION_MAX_RETRIES) = %d: want a positive count (0 means the default, 10)", v.MaxRetries)
	}
	if v.IdleTimeout < 0 {
		add("IdleTimeout (SESSION_IDLE_TIMEOUT) = %v: want a positive duration, or 0 for no idle timeout", v.IdleTimeout)
	} else if v.IdleTimeout > 0 && v.Lifetime > 0 && v.IdleTimeout > v.Lifetime {
		add("IdleTimeout (SESSION_IDLE_TIMEOUT) = %v is longer than Lifetime (PERMANENT_SESSION_LIFETIME) = %v, so it would never apply: want at most the lifetime", v.IdleTimeout, v.Lifetime)
	}
	if v.AbsoluteLifetime < 0 {
		add("AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v: want a positive duration, or 0 for no absolute lifetime", v.AbsoluteLifetime)
	} else if v.AbsoluteLifetime > 0 && v.AbsoluteLifetime < time.Second {
		add("AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v: want at least 1s (creation times are kept in whole seconds)", v.AbsoluteLifetime)
	} else if v.AbsoluteLifetime > 0 && v.IdleTimeout > v.AbsoluteLifetime {
		add("IdleTimeout (SESSION_IDLE_TIMEOUT) = %v is longer than AbsoluteLifetime (SESSION_ABSOLUTE_LIFETIME) = %v, so it would never apply: want an idle timeout shorter than the absolute lifetime", v.IdleTimeout, v.AbsoluteLifetime)
	}
	if n := len(v.EncryptionKey); n != 0 && n != seal.KeyLen {
		add("EncryptionKey (SESSION_ENCRYPTION_KEY) is %d bytes: want exactly %d bytes (AES-256), e.g. base64 of 32 random bytes", n, seal.KeyLen)
	}
	for i, k := range v.EncryptionKeyFallbacks {
		if len(k) != seal.KeyLen {
			add("EncryptionKeyFallbacks (SESSION_ENCRYPTION_KEY_FALLBACKS) item %d is %d bytes: want exactly %d bytes (AES-256)", i, len(k), seal.KeyLen)
		}
	}
	if len(v.EncryptionKeyFallbacks) > 0 && len(v.EncryptionKey) == 0 {
		add("EncryptionKeyFallbacks (SESSION_ENCRYPTION_KEY_FALLBACKS) needs EncryptionKey (SESSION_ENCRYPTION_KEY): fallbacks only decrypt; want a current key too")
	}
	if v.CleanupNRequests < 0 {
		add("CleanupNRequests (SESSION_CLEANUP_N_REQUESTS) = %d: want 0 (off) or a positive number of requests", v.CleanupNRequests)
	}
	if v.MemoryMaxEntries < 0 {
		add("MemoryMaxEntries (SESSION_MEMORY_MAX_ENTRIES) = %d: want 0 (unlimited) or a positive count", v.MemoryMaxEntries)
	}
	if v.FileMode&^0o777 != 0 {
		add("FileMode (SESSION_FILE_MODE) = %#o: want permission bits only, 0 to 0777 (default 0600)", uint32(v.FileMode))
	}
	switch v.CookieSameSite {
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !v.CookieSecure {
			add("CookieSameSite (SESSION_COOKIE_SAMESITE) None needs CookieSecure (SESSION_COOKIE_SECURE=true): browsers reject SameSite=None cookies without Secure; want Secure, or SameSite Lax or Strict")
		}
	default:
		add("CookieSameSite (SESSION_COOKIE_SAMESITE) = %d: want http.SameSiteLaxMode, http.SameSiteStrictMode or http.SameSiteNoneMode", int(v.CookieSameSite))
	}
	if v.CookiePartitioned && !v.CookieSecure {
		add("CookiePartitioned (SESSION_COOKIE_PARTITIONED) needs CookieSecure (SESSION_COOKIE_SECURE=true): browsers reject Partitioned cookies without Secure")
	}
	switch {
	case strings.HasPrefix(v.CookieName, "__Host-"):
		if !v.CookieSecure || v.CookieDomain != "" || v.CookiePath != "/" {
			add("CookieName (SESSION_COOKIE_NAME) = %q: browsers accept a __Host- cookie only with Secure (SESSION_COOKIE_SECURE=true), no Domain (SESSION_COOKIE_DOMAIN) and Path \"/\" (SESSION_COOKIE_PATH); have Secure=%v, Domain=%q, Path=%q", v.CookieName, v.CookieSecure, v.CookieDomain, v.CookiePath)
		}
	case strings.HasPrefix(v.CookieName, "__Secure-"):
		if !v.CookieSecure {
			add("CookieName (SESSION_COOKIE_NAME) = %q: browsers accept a __Secure- cookie only with Secure (SESSION_COOKIE_SECURE=true)", v.CookieName)
		}
	}
	if !validCookieName(v.CookieName) {
		add("CookieName (SESSION_COOKIE_NAME) = %q: want a cookie name: printable ASCII without spaces or any of ()<>@,;:\\\"/[]?={}", v.CookieName)
	}
	if !strings.HasPrefix(v.CookiePath, "/") || hasCookieAttrBreak(v.CookiePath) {
		add("CookiePath (SESSION_COOKIE_PATH) = %q: want a path starting with \"/\", without ';' or control characters", v.CookiePath)
	}
	if hasCookieAttrBreak(v.CookieDomain) || strings.ContainsAny(v.CookieDomain, " \"") {
		add("CookieDomain (SESSION_COOKIE_DOMAIN) = %q: want a host name such as example.com, or empty for a host-only cookie", v.CookieDomain)
	} else if strings.ContainsAny(v.CookieDomain, ":/") {
		add("CookieDomain (SESSION_COOKIE_DOMAIN) = %q: want a host name such as example.com, without a scheme, port or path (a cookie's domain covers every port), or empty for a host-only cookie", v.CookieDomain)
	}
	if v.Store == nil {
		if _, ok := backends.Lookup(v.Type); !ok {
			known := strings.Join(backends.Types(), ", ")
			if known == "" {
				known = "(none registered)"
			}
			add("Type (SESSION_TYPE) = %q is not registered: want one of %s (or set Store)", v.Type, known)
		}
	}
	return errors.Join(errs...)
}

// validCookieName reports whether name is an RFC 6265 cookie-name (an RFC
// 2616 token), as net/http requires.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// hasCookieAttrBreak reports whether s contains a byte that would end or
// corrupt a Set-Cookie attribute: ';' or a control character.
func hasCookieAttrBreak(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ';' || c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}
