package ginsession

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/memcachedstore"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/redisstore"
)

// checkStoreEnv checks, without connecting, the variables of the store
// SESSION_TYPE selects, so that OptionsFromLookup reports a bad connection
// string or file mode together with every other bad variable, instead of
// NewMiddleware failing on it later. Only variables that are set are
// checked (the defaults are valid), and only those of the selected type:
// a Flask .env may hold settings of other types, which Flask ignores too.
func (r *envReader) checkStoreEnv(o *Options) {
	switch strings.ToLower(strings.TrimSpace(o.Type)) {
	case "redis":
		if v, ok := r.get("SESSION_REDIS"); ok {
			if _, err := redisstore.ParseURL(o.Redis); err != nil {
				r.fail("SESSION_REDIS", redactURL(v), "a redis URL: redis://[user:password@]host[:port][/db], rediss:// (TLS), unix://…, redis+cluster://… or redis+sentinel://… (see docs/backends/redis.md)"+because(errors.Unwrap(err), v), false)
			}
		}
	case "memcached":
		if v, ok := r.get("SESSION_MEMCACHED"); ok {
			if _, err := memcachedstore.ParseServers(o.Memcached); err != nil {
				r.fail("SESSION_MEMCACHED", redactURL(v), "comma-separated host:port servers such as 127.0.0.1:11211,10.0.0.2:11211"+because(err, v), false)
			}
		}
	case "filesystem":
		if v, ok := r.get("SESSION_FILE_MODE"); ok && o.FileMode != 0 {
			if err := filestore.CheckMode(o.FileMode); err != nil {
				r.fail("SESSION_FILE_MODE", v, "a mode that lets the owner read and write and gives others nothing: 0600 (default), or 0640/0660 for a shared group"+because(err, v), false)
			}
		}
	case "mongodb":
		if v, ok := r.get("SESSION_MONGODB"); ok {
			if err := mongostore.CheckURI(o.MongoDB); err != nil {
				r.fail("SESSION_MONGODB", redactURL(v), "a MongoDB connection string such as mongodb://127.0.0.1:27017 or mongodb+srv://…"+because(err, v), false)
			}
		}
	case "sqlalchemy", "gorm":
		name := "SESSION_SQLALCHEMY"
		v, ok := r.get(name)
		if !ok {
			name = "SQLALCHEMY_DATABASE_URI"
			v, ok = r.get(name)
		}
		if ok {
			if err := gormstore.CheckURL(o.SQLAlchemy); err != nil {
				r.fail(name, redactURL(v), "a database URL: sqlite:///file.db, postgresql://user:password@host/db or mysql://user:password@host/db"+because(err, v), false)
			}
		}
	}
}

// because renders a checker's reason as a parenthesised suffix, without a
// "ginsession: " prefix of its own and without the password of raw, the
// value checked, wherever the reason quotes it.
func because(err error, raw string) string {
	if err == nil {
		return ""
	}
	msg := strings.TrimPrefix(err.Error(), "ginsession: ")
	if cred := userinfo(raw); cred != "" {
		msg = strings.ReplaceAll(msg, cred, "xxxxx")
		// The reason may quote the value escaped ("\x7fpw@"): hide every
		// token that ends at an '@' too.
		msg = credentialToken.ReplaceAllString(msg, "xxxxx@")
	}
	if strings.ContainsFunc(msg, unicode.IsControl) { // a reason quoting the raw value: one line
		q := strconv.Quote(msg)
		msg = q[1 : len(q)-1]
	}
	return " (" + msg + ")"
}

// credentialToken is a run of characters up to an '@': what a message
// quoting a connection string shows of its credentials.
var credentialToken = regexp.MustCompile(`[^\s"'(]*@`)

// userinfo returns what stands in raw's credentials position: between
// "://" (or the start when there is no scheme) and the last '@', or ""
// when there is none.
func userinfo(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(raw, "@")
	if at <= start {
		return ""
	}
	return strings.TrimSpace(raw[start:at]) // the checks quote trimmed values
}

// redactURL hides the credentials of a connection string shown in an
// error: everything between the scheme (if any) and the last '@', user
// names included — a "token@host" or "redis://secret@host" carries its
// secret where a user name would be.
func redactURL(raw string) string {
	if cred := userinfo(raw); cred != "" {
		return strings.Replace(raw, cred+"@", "xxxxx@", 1)
	}
	return raw
}

// envNameRE matches a variable name where Validate's messages give it, in
// parentheses after the field name: "UseSigner (SESSION_USE_SIGNER)".
var envNameRE = regexp.MustCompile(`\((SESSION_[A-Z_]+|SECRET_KEY(?:_FALLBACKS)?|PERMANENT_SESSION_LIFETIME|APPLICATION_ROOT|SQLALCHEMY_DATABASE_URI)\b`)

// prefixEnvNames rewrites the messages of Validate's errors (an
// errors.Join) so that they name the variables as the user set them, with
// OptionsFromLookup's prefix: "UseSigner (MYAPP_SESSION_USE_SIGNER) needs
// SecretKey (MYAPP_SECRET_KEY)". Validate's errors wrap nothing, so
// rebuilding them loses nothing.
func prefixEnvNames(err error, prefix string) error {
	if err == nil || prefix == "" {
		return err
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = errors.New(envNameRE.ReplaceAllString(e.Error(), "("+strings.ReplaceAll(prefix, "$", "$$")+"${1}"))
	}
	return errors.Join(out...)
}
