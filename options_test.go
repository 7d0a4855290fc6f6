package ginsession

import (
	"context"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
)

func init() {
	// The built-in stores register themselves when the root package imports
	// them; while a backend is missing, register a stub so that Validate's
	// type check can be tested here. Real registrations win (they run first).
	for _, name := range []string{"null", "memory", "redis"} {
		if _, ok := backends.Lookup(name); !ok {
			backends.Register(name, func(context.Context, backends.Config) (backends.Store, error) {
				return nil, errors.New("ginsession: test stub store")
			})
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	d := DefaultOptions()
	want := Options{
		Type:                "null",
		Lifetime:            31 * 24 * time.Hour,
		KeyPrefix:           "session:",
		IDLength:            32,
		SerializationFormat: "msgpack",
		CookieName:          "session",
		CookiePath:          "/",
		CookieSameSite:      http.SameSiteLaxMode,
		Redis:               "redis://127.0.0.1:6379",
		Memcached:           "127.0.0.1:11211",
		FileDir:             "./flask_session",
		FileThreshold:       500,
		FileMode:            0o600,
		MongoDB:             "mongodb://127.0.0.1:27017",
		MongoDBDB:           "flask_session",
		MongoDBCollect:      "sessions",
		SQLAlchemy:          "sqlite:///flask_session.db",
		SQLAlchemyTable:     "sessions",
		DynamoDBTable:       "Sessions",
		StoreTimeout:        3 * time.Second,
		OpenTimeout:         5 * time.Second,
		MaxSize:             1 << 20,
		MaxRetries:          10,
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("DefaultOptions() =\n%+v\nwant\n%+v", d, want)
	}
	// Flask's "on" defaults are expressed as opt-outs: all false.
	if d.NonPermanent || d.NoRefreshEachRequest || d.CookieNoHTTPOnly || d.UseSigner || d.CookieSecure || d.CookiePartitioned {
		t.Error("a boolean default is not Flask's")
	}
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultOptions().Validate() = %v", err)
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	if got, want := (Options{}).withDefaults(), DefaultOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("Options{}.withDefaults() =\n%+v\nwant\n%+v", got, want)
	}
	if got := (Options{CookieSameSite: http.SameSiteDefaultMode}).withDefaults().CookieSameSite; got != http.SameSiteLaxMode {
		t.Errorf("SameSiteDefaultMode became %v, want Lax", got)
	}
	// Set fields are kept.
	o := Options{
		Type: "redis", Lifetime: time.Hour, KeyPrefix: "app:", IDLength: 48,
		SerializationFormat: "json", CookieName: "sid", CookiePath: "/app",
		CookieSameSite: http.SameSiteStrictMode, FileThreshold: -1, FileMode: 0o640,
		StoreTimeout: time.Second, MaxSize: 10, MaxRetries: 2, CookieDomain: "example.com",
		CleanupNRequests: 7, MemoryMaxEntries: 9,
	}
	got := o.withDefaults()
	if got.Type != "redis" || got.Lifetime != time.Hour || got.KeyPrefix != "app:" || got.IDLength != 48 ||
		got.SerializationFormat != "json" || got.CookieName != "sid" || got.CookiePath != "/app" ||
		got.CookieSameSite != http.SameSiteStrictMode || got.FileThreshold != -1 || got.FileMode != 0o640 ||
		got.StoreTimeout != time.Second || got.MaxSize != 10 || got.MaxRetries != 2 ||
		got.CookieDomain != "example.com" || got.CleanupNRequests != 7 || got.MemoryMaxEntries != 9 {
		t.Errorf("withDefaults changed set fields: %+v", got)
	}
	if got.Redis != "redis://127.0.0.1:6379" || got.SQLAlchemyTable != "sessions" {
		t.Errorf("withDefaults left zero fields: %+v", got)
	}
}

func TestOptionsBackendConfig(t *testing.T) {
	o := DefaultOptions()
	o.Type = " GORM "
	o.KeyPrefix = "p:"
	o.Redis, o.Memcached, o.FileDir = "redis://r", "m:1,m:2", "/tmp/s"
	o.FileThreshold, o.FileMode = 7, 0o640
	o.MongoDB, o.MongoDBDB, o.MongoDBCollect = "mongodb://m", "db", "coll"
	o.SQLAlchemy, o.SQLAlchemyTable = "postgresql://x", "tbl"
	o.DynamoDB, o.DynamoDBTable = "http://d:8000", "dt"
	o.SQLAlchemySchema, o.SQLAlchemySequence = "sch", "seq"
	o.CleanupNRequests, o.MemoryMaxEntries = 5, 6
	cfg := o.backendConfig()
	want := backends.Config{
		Type: "gorm", KeyPrefix: "p:", Redis: "redis://r", Memcached: "m:1,m:2", FileDir: "/tmp/s",
		FileThreshold: 7, FileMode: 0o640, MongoDB: "mongodb://m", MongoDBDB: "db", MongoDBCollect: "coll",
		SQLAlchemy: "postgresql://x", SQLAlchemyTable: "tbl", DynamoDB: "http://d:8000", DynamoDBTable: "dt",
		SQLAlchemySchema: "sch", SQLAlchemySequence: "seq",
		CleanupNRequests: 5, MemoryMaxEntries: 6,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("backendConfig() =\n%+v\nwant\n%+v", cfg, want)
	}
}

// leaves returns the individual errors of a (possibly joined) error.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

func checkPrefixed(t testing.TB, err error) {
	t.Helper()
	for _, e := range leaves(err) {
		if !strings.HasPrefix(e.Error(), "ginsession: ") {
			t.Errorf("error not prefixed: %q", e.Error())
		}
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "ginsession: ") {
				t.Errorf("error line not prefixed: %q", line)
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Options)
		want string // substring of the single error; "" = valid
	}{
		{"zero value", func(o *Options) { *o = Options{} }, ""},
		{"signer without key", func(o *Options) { o.UseSigner = true }, "SECRET_KEY"},
		{"signer with key", func(o *Options) { o.UseSigner, o.SecretKey = true, "k" }, ""},
		{"id too short", func(o *Options) { o.IDLength = 15 }, "SESSION_ID_LENGTH) = 15: want 16 to 96"},
		{"id negative", func(o *Options) { o.IDLength = -1 }, "want 16 to 96"},
		{"id min", func(o *Options) { o.IDLength = 16 }, ""},
		{"id max", func(o *Options) { o.IDLength = 96 }, ""},
		{"id too long", func(o *Options) { o.IDLength = 97 }, "want 16 to 96"},
		{"format", func(o *Options) { o.SerializationFormat = "pickle" }, `"pickle": want "msgpack" or "json"`},
		{"format json", func(o *Options) { o.SerializationFormat = "json" }, ""},
		{"lifetime", func(o *Options) { o.Lifetime = -time.Second }, "PERMANENT_SESSION_LIFETIME"},
		{"timeout", func(o *Options) { o.StoreTimeout = -1 }, "SESSION_STORE_TIMEOUT"},
		{"open timeout", func(o *Options) { o.OpenTimeout = -1 }, "SESSION_OPEN_TIMEOUT"},
		{"max size", func(o *Options) { o.MaxSize = -1 }, "SESSION_MAX_SIZE"},
		{"max retries", func(o *Options) { o.MaxRetries = -1 }, "SESSION_MAX_RETRIES"},
		{"cleanup", func(o *Options) { o.CleanupNRequests = -1 }, "SESSION_CLEANUP_N_REQUESTS"},
		{"memory entries", func(o *Options) { o.MemoryMaxEntries = -1 }, "SESSION_MEMORY_MAX_ENTRIES"},
		{"file mode bits", func(o *Options) { o.FileMode = os.ModeDir | 0o600 }, "permission bits only"},
		{"samesite none insecure", func(o *Options) { o.CookieSameSite = http.SameSiteNoneMode }, "browsers reject"},
		{"samesite none secure", func(o *Options) { o.CookieSameSite, o.CookieSecure = http.SameSiteNoneMode, true }, ""},
		{"samesite bogus", func(o *Options) { o.CookieSameSite = 42 }, "SESSION_COOKIE_SAMESITE"},
		{"partitioned insecure", func(o *Options) { o.CookiePartitioned = true }, "Partitioned"},
		{"partitioned secure", func(o *Options) { o.CookiePartitioned, o.CookieSecure = true, true }, ""},
		{"cookie name empty is default", func(o *Options) { o.CookieName = "" }, ""},
		{"cookie name space", func(o *Options) { o.CookieName = "my session" }, "SESSION_COOKIE_NAME"},
		{"cookie name semicolon", func(o *Options) { o.CookieName = "a;b" }, "SESSION_COOKIE_NAME"},
		{"cookie name equals", func(o *Options) { o.CookieName = "a=b" }, "SESSION_COOKIE_NAME"},
		{"cookie name unicode", func(o *Options) { o.CookieName = "sé" }, "SESSION_COOKIE_NAME"},
		{"cookie name ok", func(o *Options) { o.CookieName, o.CookieSecure = "__Host-sess_1.x", true }, ""},
		{"__Host- without Secure", func(o *Options) { o.CookieName = "__Host-s" }, "__Host- cookie only with Secure"},
		{"__Host- with a Domain", func(o *Options) { o.CookieName, o.CookieSecure, o.CookieDomain = "__Host-s", true, "example.com" }, "no Domain"},
		{"__Host- with a Path", func(o *Options) { o.CookieName, o.CookieSecure, o.CookiePath = "__Host-s", true, "/app" }, `Path "/"`},
		{"__Secure- without Secure", func(o *Options) { o.CookieName = "__Secure-s" }, "__Secure- cookie only with Secure"},
		{"__Secure- with Secure", func(o *Options) { o.CookieName, o.CookieSecure, o.CookieDomain = "__Secure-s", true, "example.com" }, ""},
		{"lifetime under a second", func(o *Options) { o.Lifetime = 500 * time.Millisecond }, "at least 1s"},
		{"timeout under a millisecond", func(o *Options) { o.StoreTimeout = 500 * time.Microsecond }, "at least 1ms"},
		{"cookie path relative", func(o *Options) { o.CookiePath = "app" }, "SESSION_COOKIE_PATH"},
		{"cookie path semicolon", func(o *Options) { o.CookiePath = "/a;b" }, "SESSION_COOKIE_PATH"},
		{"cookie domain semicolon", func(o *Options) { o.CookieDomain = "a.com; x" }, "SESSION_COOKIE_DOMAIN"},
		{"prefix space", func(o *Options) { o.KeyPrefix = "my app:" }, "SESSION_KEY_PREFIX"},
		{"prefix control", func(o *Options) { o.KeyPrefix = "a\nb" }, "SESSION_KEY_PREFIX"},
		{"prefix unicode", func(o *Options) { o.KeyPrefix = "sé:" }, "SESSION_KEY_PREFIX"},
		{"prefix longest", func(o *Options) { o.KeyPrefix = strings.Repeat("p", 250-43) }, ""},
		{"prefix too long", func(o *Options) { o.KeyPrefix = strings.Repeat("p", 250-42) }, "too long"},
		{"prefix too long for id", func(o *Options) { o.KeyPrefix, o.IDLength = strings.Repeat("p", 123), 96 }, "at most 122 bytes"},
		{"type unknown", func(o *Options) { o.Type = "cachelib" }, `"cachelib" is not registered: want one of`},
		{"type case", func(o *Options) { o.Type = "Memory" }, ""},
		{"type unknown with store", func(o *Options) { o.Type, o.Store = "cachelib", stubStore{} }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := DefaultOptions()
			c.mod(&o)
			err := o.Validate()
			checkPrefixed(t, err)
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", c.want)
			}
			if n := len(leaves(err)); n != 1 {
				t.Errorf("got %d errors, want 1: %v", n, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestOptionsValidateCollectsAll(t *testing.T) {
	o := Options{
		Type:                "nope",
		UseSigner:           true,
		IDLength:            8,
		SerializationFormat: "xml",
		CookieSameSite:      http.SameSiteNoneMode,
		CookiePartitioned:   true,
		CookieName:          "bad name",
		MaxRetries:          -3,
	}
	err := o.Validate()
	checkPrefixed(t, err)
	if n := len(leaves(err)); n != 8 {
		t.Errorf("got %d errors, want 8:\n%v", n, err)
	}
	for _, want := range []string{"SECRET_KEY", "SESSION_ID_LENGTH", "SESSION_SERIALIZATION_FORMAT",
		"SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_PARTITIONED", "SESSION_COOKIE_NAME", "SESSION_MAX_RETRIES", "SESSION_TYPE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

type stubStore struct{}

func (stubStore) Load(context.Context, string) ([]byte, bool, error)        { return nil, false, nil }
func (stubStore) Save(context.Context, string, []byte, time.Duration) error { return nil }
func (stubStore) Delete(context.Context, string) error                      { return nil }

// envMap is a lookup function over a map.
type envMap map[string]string

func (m envMap) lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

func TestEnvEmptyGivesDefaults(t *testing.T) {
	o, err := OptionsFromLookup(envMap{}.lookup, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, DefaultOptions()) {
		t.Errorf("got %+v", o)
	}
	// Empty strings count as unset.
	all := envMap{}
	for _, name := range envVarNames {
		all[name] = ""
	}
	o, err = OptionsFromLookup(all.lookup, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, DefaultOptions()) {
		t.Errorf("empty variables changed options: %+v", o)
	}
}

// envVarNames lists every variable OptionsFromLookup reads.
var envVarNames = []string{
	"SESSION_TYPE", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_PERMANENT", "SESSION_USE_SIGNER",
	"SESSION_KEY_PREFIX", "SESSION_ID_LENGTH", "SESSION_SERIALIZATION_FORMAT", "PERMANENT_SESSION_LIFETIME",
	"SESSION_REFRESH_EACH_REQUEST", "SESSION_COOKIE_NAME", "SESSION_COOKIE_DOMAIN", "SESSION_COOKIE_PATH",
	"SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_PARTITIONED",
	"APPLICATION_ROOT", "SESSION_REDIS", "SESSION_MEMCACHED", "SESSION_FILE_DIR", "SESSION_FILE_THRESHOLD",
	"SESSION_FILE_MODE", "SESSION_MONGODB", "SESSION_MONGODB_DB", "SESSION_MONGODB_COLLECT", "SESSION_SQLALCHEMY",
	"SQLALCHEMY_DATABASE_URI", "SESSION_SQLALCHEMY_TABLE", "SESSION_CLEANUP_N_REQUESTS", "SESSION_STORE_TIMEOUT",
	"SESSION_MAX_SIZE", "SESSION_MAX_RETRIES", "SESSION_MEMORY_MAX_ENTRIES", "SESSION_OPEN_TIMEOUT",
}

func TestEnvEachVariable(t *testing.T) {
	cases := []struct {
		env   envMap
		check func(Options) bool
	}{
		{envMap{"SESSION_TYPE": "memory"}, func(o Options) bool { return o.Type == "memory" }},
		{envMap{"SESSION_TYPE": " Redis "}, func(o Options) bool { return o.Type == "Redis" }},
		{envMap{"SECRET_KEY": " s3cr3t "}, func(o Options) bool { return o.SecretKey == " s3cr3t " }},
		{envMap{"SECRET_KEY_FALLBACKS": "a, b ,,c"}, func(o Options) bool { return reflect.DeepEqual(o.SecretKeyFallbacks, []string{"a", "b", "c"}) }},
		{envMap{"SECRET_KEY_FALLBACKS": `["a,1", "b\"2"]`}, func(o Options) bool { return reflect.DeepEqual(o.SecretKeyFallbacks, []string{"a,1", `b"2`}) }},
		{envMap{"SECRET_KEY_FALLBACKS": `['old', "older",]`}, func(o Options) bool { return reflect.DeepEqual(o.SecretKeyFallbacks, []string{"old", "older"}) }},
		{envMap{"SECRET_KEY_FALLBACKS": `[]`}, func(o Options) bool { return o.SecretKeyFallbacks == nil }},
		{envMap{"SECRET_KEY_FALLBACKS": `['it\'s']`}, func(o Options) bool { return reflect.DeepEqual(o.SecretKeyFallbacks, []string{"it's"}) }},
		{envMap{"SESSION_PERMANENT": "False"}, func(o Options) bool { return o.NonPermanent }},
		{envMap{"SESSION_PERMANENT": "no"}, func(o Options) bool { return o.NonPermanent }},
		{envMap{"SESSION_PERMANENT": "TRUE"}, func(o Options) bool { return !o.NonPermanent }},
		{envMap{"SESSION_USE_SIGNER": "1", "SECRET_KEY": "k"}, func(o Options) bool { return o.UseSigner }},
		{envMap{"SESSION_USE_SIGNER": "off"}, func(o Options) bool { return !o.UseSigner }},
		{envMap{"SESSION_KEY_PREFIX": "myapp:sess:"}, func(o Options) bool { return o.KeyPrefix == "myapp:sess:" }},
		{envMap{"SESSION_ID_LENGTH": "16"}, func(o Options) bool { return o.IDLength == 16 }},
		{envMap{"SESSION_ID_LENGTH": " 64 "}, func(o Options) bool { return o.IDLength == 64 }},
		{envMap{"SESSION_SERIALIZATION_FORMAT": "json"}, func(o Options) bool { return o.SerializationFormat == "json" }},
		{envMap{"SESSION_SERIALIZATION_FORMAT": "MsgPack"}, func(o Options) bool { return o.SerializationFormat == "msgpack" }},
		{envMap{"PERMANENT_SESSION_LIFETIME": "3600"}, func(o Options) bool { return o.Lifetime == time.Hour }},
		{envMap{"PERMANENT_SESSION_LIFETIME": "90.7"}, func(o Options) bool { return o.Lifetime == 90700*time.Millisecond }},
		{envMap{"PERMANENT_SESSION_LIFETIME": "720h"}, func(o Options) bool { return o.Lifetime == 720*time.Hour }},
		{envMap{"PERMANENT_SESSION_LIFETIME": "1h30m"}, func(o Options) bool { return o.Lifetime == 90*time.Minute }},
		{envMap{"PERMANENT_SESSION_LIFETIME": "1e3"}, func(o Options) bool { return o.Lifetime == 1000*time.Second }},
		{envMap{"SESSION_REFRESH_EACH_REQUEST": "false"}, func(o Options) bool { return o.NoRefreshEachRequest }},
		{envMap{"SESSION_REFRESH_EACH_REQUEST": "yes"}, func(o Options) bool { return !o.NoRefreshEachRequest }},
		{envMap{"SESSION_COOKIE_NAME": "gsess"}, func(o Options) bool { return o.CookieName == "gsess" }},
		{envMap{"SESSION_COOKIE_DOMAIN": ".example.com"}, func(o Options) bool { return o.CookieDomain == ".example.com" }},
		{envMap{"SESSION_COOKIE_DOMAIN": ""}, func(o Options) bool { return o.CookieDomain == "" }},
		{envMap{"SESSION_COOKIE_PATH": "/app"}, func(o Options) bool { return o.CookiePath == "/app" }},
		{envMap{"APPLICATION_ROOT": "/root"}, func(o Options) bool { return o.CookiePath == "/root" }},
		{envMap{"APPLICATION_ROOT": "/root", "SESSION_COOKIE_PATH": "/app"}, func(o Options) bool { return o.CookiePath == "/app" }},
		{envMap{"APPLICATION_ROOT": "/root", "SESSION_COOKIE_PATH": ""}, func(o Options) bool { return o.CookiePath == "/root" }},
		{envMap{"SESSION_COOKIE_HTTPONLY": "false"}, func(o Options) bool { return o.CookieNoHTTPOnly }},
		{envMap{"SESSION_COOKIE_HTTPONLY": "On"}, func(o Options) bool { return !o.CookieNoHTTPOnly }},
		{envMap{"SESSION_COOKIE_SECURE": "true"}, func(o Options) bool { return o.CookieSecure }},
		{envMap{"SESSION_COOKIE_SAMESITE": "strict"}, func(o Options) bool { return o.CookieSameSite == http.SameSiteStrictMode }},
		{envMap{"SESSION_COOKIE_SAMESITE": "lax"}, func(o Options) bool { return o.CookieSameSite == http.SameSiteLaxMode }},
		{envMap{"SESSION_COOKIE_SAMESITE": "LAX"}, func(o Options) bool { return o.CookieSameSite == http.SameSiteLaxMode }},
		{envMap{"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": "1"}, func(o Options) bool { return o.CookieSameSite == http.SameSiteNoneMode }},
		{envMap{"SESSION_COOKIE_PARTITIONED": "true", "SESSION_COOKIE_SECURE": "true"}, func(o Options) bool { return o.CookiePartitioned }},
		{envMap{"SESSION_REDIS": "redis://cache:6380/2"}, func(o Options) bool { return o.Redis == "redis://cache:6380/2" }},
		{envMap{"SESSION_MEMCACHED": "a:1,b:2"}, func(o Options) bool { return o.Memcached == "a:1,b:2" }},
		{envMap{"SESSION_FILE_DIR": "/var/sessions"}, func(o Options) bool { return o.FileDir == "/var/sessions" }},
		{envMap{"SESSION_FILE_THRESHOLD": "1000"}, func(o Options) bool { return o.FileThreshold == 1000 }},
		{envMap{"SESSION_FILE_THRESHOLD": "0"}, func(o Options) bool { return o.FileThreshold == -1 }},
		{envMap{"SESSION_FILE_THRESHOLD": "-5"}, func(o Options) bool { return o.FileThreshold == -1 }},
		{envMap{"SESSION_FILE_MODE": "0600"}, func(o Options) bool { return o.FileMode == 0o600 }},
		{envMap{"SESSION_FILE_MODE": "0o640"}, func(o Options) bool { return o.FileMode == 0o640 }},
		{envMap{"SESSION_FILE_MODE": "0O700"}, func(o Options) bool { return o.FileMode == 0o700 }},
		{envMap{"SESSION_FILE_MODE": "600"}, func(o Options) bool { return o.FileMode == 0o600 }},
		{envMap{"SESSION_FILE_MODE": "755"}, func(o Options) bool { return o.FileMode == 0o755 }},
		{envMap{"SESSION_FILE_MODE": "384"}, func(o Options) bool { return o.FileMode == 0o600 }},
		{envMap{"SESSION_FILE_MODE": "493"}, func(o Options) bool { return o.FileMode == 0o755 }},
		{envMap{"SESSION_FILE_MODE": "448"}, func(o Options) bool { return o.FileMode == 0o700 }},
		{envMap{"SESSION_FILE_MODE": "0400"}, func(o Options) bool { return o.FileMode == 0o400 }},
		{envMap{"SESSION_MONGODB": "mongodb://db:27018"}, func(o Options) bool { return o.MongoDB == "mongodb://db:27018" }},
		{envMap{"SESSION_MONGODB_DB": "app"}, func(o Options) bool { return o.MongoDBDB == "app" }},
		{envMap{"SESSION_MONGODB_COLLECT": "sess"}, func(o Options) bool { return o.MongoDBCollect == "sess" }},
		{envMap{"SESSION_SQLALCHEMY": "postgresql://a/b"}, func(o Options) bool { return o.SQLAlchemy == "postgresql://a/b" }},
		{envMap{"SQLALCHEMY_DATABASE_URI": "mysql://c/d"}, func(o Options) bool { return o.SQLAlchemy == "mysql://c/d" }},
		{envMap{"SQLALCHEMY_DATABASE_URI": "mysql://c/d", "SESSION_SQLALCHEMY": "sqlite:///x.db"}, func(o Options) bool { return o.SQLAlchemy == "sqlite:///x.db" }},
		{envMap{"SESSION_SQLALCHEMY_TABLE": "web_sessions"}, func(o Options) bool { return o.SQLAlchemyTable == "web_sessions" }},
		{envMap{"SESSION_SQLALCHEMY_SCHEMA": "flask"}, func(o Options) bool { return o.SQLAlchemySchema == "flask" }},
		{envMap{"SESSION_SQLALCHEMY_SEQUENCE": "sessions_id_seq"}, func(o Options) bool { return o.SQLAlchemySequence == "sessions_id_seq" }},
		{envMap{"SESSION_DYNAMODB": "http://localhost:8000"}, func(o Options) bool { return o.DynamoDB == "http://localhost:8000" }},
		{envMap{"SESSION_DYNAMODB_TABLE": "WebSessions"}, func(o Options) bool { return o.DynamoDBTable == "WebSessions" }},
		{envMap{"SESSION_CLEANUP_N_REQUESTS": "100"}, func(o Options) bool { return o.CleanupNRequests == 100 }},
		{envMap{"SESSION_CLEANUP_N_REQUESTS": "0"}, func(o Options) bool { return o.CleanupNRequests == 0 }},
		{envMap{"SESSION_STORE_TIMEOUT": "500ms"}, func(o Options) bool { return o.StoreTimeout == 500*time.Millisecond }},
		{envMap{"SESSION_STORE_TIMEOUT": "2"}, func(o Options) bool { return o.StoreTimeout == 2*time.Second }},
		{envMap{"SESSION_STORE_TIMEOUT": "0.25"}, func(o Options) bool { return o.StoreTimeout == 250*time.Millisecond }},
		{envMap{"SESSION_OPEN_TIMEOUT": "1.5"}, func(o Options) bool { return o.OpenTimeout == 1500*time.Millisecond }},
		{envMap{"SESSION_MAX_SIZE": "65536"}, func(o Options) bool { return o.MaxSize == 65536 }},
		{envMap{"SESSION_MAX_RETRIES": "3"}, func(o Options) bool { return o.MaxRetries == 3 }},
		{envMap{"SESSION_MEMORY_MAX_ENTRIES": "10000"}, func(o Options) bool { return o.MemoryMaxEntries == 10000 }},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		var name string
		for k, v := range c.env {
			covered[k] = true
			name += k + "=" + v + " "
		}
		t.Run(name, func(t *testing.T) {
			o, err := OptionsFromLookup(c.env.lookup, "")
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !c.check(o) {
				t.Errorf("not applied: %+v", o)
			}
		})
	}
	for _, name := range envVarNames {
		if !covered[name] {
			t.Errorf("no test case sets %s", name)
		}
	}
}

func TestEnvBadValues(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{"SESSION_PERMANENT", "maybe", "true or false (also 1/0, yes/no, on/off)"},
		{"SESSION_USE_SIGNER", "y", "true or false"},
		{"SESSION_REFRESH_EACH_REQUEST", "2", "true or false"},
		{"SESSION_COOKIE_HTTPONLY", "nope", "true or false"},
		{"SESSION_COOKIE_SECURE", "enabled", "true or false"},
		{"SESSION_COOKIE_PARTITIONED", "t", "true or false"},
		{"SESSION_ID_LENGTH", "abc", "16 to 96"},
		{"SESSION_ID_LENGTH", "8", "16 to 96"},
		{"SESSION_ID_LENGTH", "97", "16 to 96"},
		{"SESSION_SERIALIZATION_FORMAT", "pickle", "msgpack or json"},
		{"PERMANENT_SESSION_LIFETIME", "forever", "seconds"},
		{"PERMANENT_SESSION_LIFETIME", "0", "positive"},
		{"PERMANENT_SESSION_LIFETIME", "-60", "positive"},
		{"PERMANENT_SESSION_LIFETIME", "inf", "positive"},
		{"PERMANENT_SESSION_LIFETIME", "NaN", "positive"},
		{"PERMANENT_SESSION_LIFETIME", "1e300", "positive"},
		{"PERMANENT_SESSION_LIFETIME", "99999999999999999", "positive"},
		{"SESSION_COOKIE_SAMESITE", "lenient", "Strict, Lax or None"},
		{"SESSION_FILE_THRESHOLD", "many", "integer"},
		{"SESSION_FILE_MODE", "rw-------", "octal"},
		{"SESSION_FILE_MODE", "420", "octal"}, // ambiguous
		{"SESSION_FILE_MODE", "0", "nonzero"},
		{"SESSION_FILE_MODE", "0800", "octal"},
		{"SESSION_FILE_MODE", "1000", "at most 0777"},
		{"SESSION_FILE_MODE", "778", "at most 0777"},
		{"SESSION_FILE_MODE", "0o", "octal"},
		{"SESSION_FILE_MODE", "-384", "octal"},
		{"SESSION_CLEANUP_N_REQUESTS", "-1", ">= 0"},
		{"SESSION_CLEANUP_N_REQUESTS", "often", ">= 0"},
		{"SESSION_MEMORY_MAX_ENTRIES", "-2", ">= 0"},
		{"SESSION_STORE_TIMEOUT", "soon", "Go duration"},
		{"SESSION_STORE_TIMEOUT", "0s", "positive"},
		{"SESSION_STORE_TIMEOUT", "500us", "at least 1ms"},
		{"SESSION_STORE_TIMEOUT", "0.0001", "at least 1ms"},
		{"PERMANENT_SESSION_LIFETIME", "0.5", "at least 1s"},
		{"PERMANENT_SESSION_LIFETIME", "999ms", "at least 1s"},
		{"SESSION_OPEN_TIMEOUT", "never", "Go duration"},
		{"SESSION_MAX_SIZE", "1MB", "positive integer"},
		{"SESSION_MAX_SIZE", "0", "positive integer"},
		{"SESSION_MAX_RETRIES", "-1", "positive integer"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			o, err := OptionsFromLookup(envMap{c.name: c.value}.lookup, "")
			checkPrefixed(t, err)
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is not an *EnvError", err)
			}
			if ee.Var != c.name || ee.Value != c.value || !strings.Contains(ee.Want, c.want) {
				t.Errorf("EnvError = %+v, want Var %s, Value %q, Want containing %q", *ee, c.name, c.value, c.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "ginsession: "+c.name+"=") || !strings.Contains(msg, "\""+c.value+"\"") {
				t.Errorf("message %q does not name the variable and quoted value", msg)
			}
			if len(leaves(err)) != 1 {
				t.Errorf("want one error, got %v", err)
			}
			// The bad value is not applied.
			if !reflect.DeepEqual(o, DefaultOptions()) {
				t.Errorf("bad value changed options: %+v", o)
			}
		})
	}
}

func TestEnvErrorMessage(t *testing.T) {
	_, err := OptionsFromLookup(envMap{"SESSION_PERMANENT": "maybe"}.lookup, "")
	want := `ginsession: SESSION_PERMANENT="maybe": want true or false (also 1/0, yes/no, on/off)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestEnvAllBadReportedAtOnce(t *testing.T) {
	env := envMap{
		"SESSION_PERMANENT":       "maybe",
		"SESSION_ID_LENGTH":       "x",
		"SESSION_FILE_MODE":       "rwx",
		"SESSION_COOKIE_SAMESITE": "none",      // valid, but needs Secure: Validate
		"SESSION_USE_SIGNER":      "true",      // no SECRET_KEY: Validate
		"SESSION_TYPE":            "couchbase", // not registered: Validate
	}
	_, err := OptionsFromLookup(env.lookup, "")
	checkPrefixed(t, err)
	var envErrs int
	for _, e := range leaves(err) {
		if _, ok := e.(*EnvError); ok {
			envErrs++
		}
	}
	if n := len(leaves(err)); envErrs != 3 || n != 6 {
		t.Errorf("got %d errors (%d EnvErrors), want 6 (3):\n%v", n, envErrs, err)
	}
}

func TestEnvPrefix(t *testing.T) {
	env := envMap{
		"MYAPP_SESSION_TYPE":            "memory",
		"MYAPP_SECRET_KEY":              "k",
		"MYAPP_SESSION_USE_SIGNER":      "true",
		"MYAPP_APPLICATION_ROOT":        "/app",
		"MYAPP_SQLALCHEMY_DATABASE_URI": "sqlite:///app.db",
		"SESSION_TYPE":                  "redis", // unprefixed: ignored
		"SESSION_COOKIE_NAME":           "ignored",
	}
	o, err := OptionsFromLookup(env.lookup, "MYAPP_")
	if err != nil {
		t.Fatal(err)
	}
	if o.Type != "memory" || o.SecretKey != "k" || !o.UseSigner || o.CookiePath != "/app" ||
		o.SQLAlchemy != "sqlite:///app.db" || o.CookieName != "session" {
		t.Errorf("prefixed options: %+v", o)
	}
	_, err = OptionsFromLookup(envMap{"MYAPP_SESSION_PERMANENT": "maybe"}.lookup, "MYAPP_")
	var ee *EnvError
	if !errors.As(err, &ee) || ee.Var != "MYAPP_SESSION_PERMANENT" ||
		!strings.HasPrefix(err.Error(), `ginsession: MYAPP_SESSION_PERMANENT="maybe"`) {
		t.Errorf("prefixed error = %v", err)
	}
}

func TestEnvSecretNeverEchoed(t *testing.T) {
	const secret = "hunter2-SUPER-SECRET"
	env := envMap{
		"SECRET_KEY":           secret,
		"SECRET_KEY_FALLBACKS": `["` + secret + `", unquoted]`, // malformed list
		"SESSION_USE_SIGNER":   "perhaps",
		"SESSION_ID_LENGTH":    "1",
	}
	o, err := OptionsFromLookup(env.lookup, "")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error echoes the secret: %v", err)
	}
	var ee *EnvError
	if !errors.As(err, &ee) {
		t.Fatal("no EnvError")
	}
	found := false
	for _, e := range leaves(err) {
		if ee, ok := e.(*EnvError); ok && ee.Var == "SECRET_KEY_FALLBACKS" {
			found = true
			if ee.Value != "(hidden)" {
				t.Errorf("Value = %q, want (hidden)", ee.Value)
			}
			if want := "ginsession: SECRET_KEY_FALLBACKS=(hidden): want "; !strings.HasPrefix(ee.Error(), want) {
				t.Errorf("message %q, want prefix %q", ee.Error(), want)
			}
		}
	}
	if !found {
		t.Error("malformed SECRET_KEY_FALLBACKS not reported")
	}
	if o.SecretKey != secret {
		t.Errorf("SecretKey not read")
	}
	// Validate's messages never include the secret either.
	bad := DefaultOptions()
	bad.SecretKey, bad.IDLength, bad.SecretKeyFallbacks = secret, 3, []string{secret}
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate error = %v", err)
	}
}

func TestEnvFromProcess(t *testing.T) {
	t.Setenv("SESSION_TYPE", "memory")
	t.Setenv("SESSION_COOKIE_SAMESITE", "strict")
	o, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if o.Type != "memory" || o.CookieSameSite != http.SameSiteStrictMode {
		t.Errorf("got %+v", o)
	}
}

func FuzzOptionsFromLookup(f *testing.F) {
	f.Add("SESSION_PERMANENT", "maybe", "SESSION_FILE_MODE", "0600")
	f.Add("PERMANENT_SESSION_LIFETIME", "90.7", "SECRET_KEY_FALLBACKS", `['a', "b"]`)
	f.Add("SESSION_ID_LENGTH", "-1", "SESSION_COOKIE_SAMESITE", "None")
	f.Add("SESSION_KEY_PREFIX", "a\nb", "SESSION_COOKIE_NAME", "x;y")
	f.Add("SESSION_STORE_TIMEOUT", "1e-9", "SESSION_FILE_THRESHOLD", "0")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		env := envMap{k1: v1, k2: v2, "SECRET_KEY": "fuzz-secret-value"}
		for _, name := range envVarNames {
			if name != "SECRET_KEY" {
				env[name] = v1
			}
		}
		for _, prefix := range []string{"", "P_"} {
			penv := envMap{}
			for k, v := range env {
				penv[prefix+k] = v
			}
			_, err := OptionsFromLookup(penv.lookup, prefix)
			checkPrefixed(t, err)
			if err != nil && strings.Contains(err.Error(), "fuzz-secret-value") {
				t.Fatalf("secret echoed: %v", err)
			}
		}
	})
}
