package ginsession

import (
	"errors"
	"strings"
	"testing"
)

// envErrorFor returns the EnvError about variable name in err, or nil.
func envErrorFor(err error, name string) *EnvError {
	for _, e := range leaves(err) {
		var ee *EnvError
		if errors.As(e, &ee) && ee.Var == name {
			return ee
		}
	}
	return nil
}

// TestEnvStoreSettings checks that the selected store's connection string
// and file mode are checked while reading the environment (no server is
// contacted), with a message naming the variable, without the password.
func TestEnvStoreSettings(t *testing.T) {
	for _, tc := range []struct {
		env      envMap
		bad      string // the variable reported
		mentions string // part of the message
	}{
		{envMap{"SESSION_TYPE": "redis", "SESSION_REDIS": "127.0.0.1:6379"}, "SESSION_REDIS", "not a URL"},
		{envMap{"SESSION_TYPE": "redis", "SESSION_REDIS": "redis://u:s3cret@h:6379/0?bogus=1"}, "SESSION_REDIS", "bogus"},
		{envMap{"SESSION_TYPE": "memcached", "SESSION_MEMCACHED": "127.0.0.1"}, "SESSION_MEMCACHED", "host:port"},
		{envMap{"SESSION_TYPE": "filesystem", "SESSION_FILE_MODE": "0400"}, "SESSION_FILE_MODE", "read and write"},
		{envMap{"SESSION_TYPE": "filesystem", "SESSION_FILE_MODE": "0644"}, "SESSION_FILE_MODE", "too loose"},
		{envMap{"SESSION_TYPE": "filesystem", "SESSION_FILE_MODE": "438"}, "SESSION_FILE_MODE", "too loose"}, // Flask's decimal 0666
		{envMap{"SESSION_TYPE": "mongodb", "SESSION_MONGODB": "127.0.0.1:27017"}, "SESSION_MONGODB", "scheme"},
		{envMap{"SESSION_TYPE": "sqlalchemy", "SESSION_SQLALCHEMY": "flask_session.db"}, "SESSION_SQLALCHEMY", "not a database URL"},
		{envMap{"SESSION_TYPE": "gorm", "SQLALCHEMY_DATABASE_URI": "postgresql://u:s3cret@h/db?sslmode=sometimes"}, "SQLALCHEMY_DATABASE_URI", "sslmode"},
	} {
		_, err := OptionsFromLookup(tc.env.lookup, "")
		ee := envErrorFor(err, tc.bad)
		if ee == nil {
			t.Errorf("%v: error %v; want an EnvError for %s", tc.env, err, tc.bad)
			continue
		}
		if msg := ee.Error(); !strings.Contains(msg, tc.mentions) || strings.Contains(msg, "s3cret") || strings.Count(msg, "ginsession:") != 1 {
			t.Errorf("%v: %q; want it to mention %q, once prefixed, without the password", tc.env, msg, tc.mentions)
		}
		if n := len(leaves(err)); n != 1 {
			t.Errorf("%v: %d errors; want 1:\n%v", tc.env, n, err)
		}
		t.Log(ee)
	}

	// Good values pass, and a type's settings are only checked when it is
	// the selected type (a Flask .env may hold settings of other types).
	for _, env := range []envMap{
		{"SESSION_TYPE": "redis", "SESSION_REDIS": "redis://127.0.0.1:6379/0"},
		{"SESSION_TYPE": "memcached", "SESSION_MEMCACHED": "127.0.0.1:11211, 10.0.0.2:11211"},
		{"SESSION_TYPE": "filesystem", "SESSION_FILE_MODE": "0640"},
		{"SESSION_TYPE": "mongodb", "SESSION_MONGODB": "mongodb://u:p@127.0.0.1:27017/?authSource=admin"},
		{"SESSION_TYPE": "sqlalchemy", "SESSION_SQLALCHEMY": "postgresql://u:p@h/db?sslmode=disable"},
		{"SESSION_TYPE": "null", "SESSION_REDIS": "127.0.0.1:6379", "SESSION_FILE_MODE": "0644", "SESSION_MONGODB": "x"},
	} {
		if _, err := OptionsFromLookup(env.lookup, ""); err != nil {
			t.Errorf("%v: %v", env, err)
		}
	}
}

// TestEnvCookieDomainPort: a cookie domain with a port (or a scheme) is
// refused while reading the environment, and by Validate.
func TestEnvCookieDomainPort(t *testing.T) {
	for _, d := range []string{"example.com:8080", "https://example.com", "[::1]:80", "example.com/app"} {
		_, err := OptionsFromLookup(envMap{"SESSION_COOKIE_DOMAIN": d}.lookup, "")
		if err == nil || !strings.Contains(err.Error(), "SESSION_COOKIE_DOMAIN") || !strings.Contains(err.Error(), "port") {
			t.Errorf("SESSION_COOKIE_DOMAIN=%q: %v; want an error about the port", d, err)
		}
	}
	for _, d := range []string{"", "example.com", ".example.com", "localhost"} {
		if _, err := OptionsFromLookup(envMap{"SESSION_COOKIE_DOMAIN": d}.lookup, ""); err != nil {
			t.Errorf("SESSION_COOKIE_DOMAIN=%q: %v", d, err)
		}
	}
}

// TestEnvEveryBadVariableAtOnce mixes parse errors, store settings and
// cross-variable rules: each bad variable is reported, in one error.
func TestEnvEveryBadVariableAtOnce(t *testing.T) {
	env := envMap{
		"SESSION_TYPE":          "redis",
		"SESSION_REDIS":         "127.0.0.1:6379",
		"SESSION_COOKIE_DOMAIN": "example.com:8080",
		"SESSION_USE_SIGNER":    "true", // without SECRET_KEY
		"SESSION_ID_LENGTH":     "8",
		"SESSION_PERMANENT":     "maybe",
	}
	_, err := OptionsFromLookup(env.lookup, "")
	checkPrefixed(t, err)
	for _, name := range []string{"SESSION_REDIS", "SESSION_COOKIE_DOMAIN", "SESSION_USE_SIGNER", "SESSION_ID_LENGTH", "SESSION_PERMANENT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if n := len(leaves(err)); n != 5 {
		t.Errorf("%d errors; want 5:\n%v", n, err)
	}
}

// TestEnvPrefixedCrossVariableErrors: with a prefix, Validate's messages
// name the variables the user actually has.
func TestEnvPrefixedCrossVariableErrors(t *testing.T) {
	for _, prefix := range []string{"MYAPP_", "FLASK_", "A$1_"} {
		env := envMap{
			prefix + "SESSION_USE_SIGNER":      "true",
			prefix + "SESSION_COOKIE_SAMESITE": "None",
			prefix + "SESSION_TYPE":            "redis",
			prefix + "SESSION_REDIS":           "localhost:6379",
		}
		_, err := OptionsFromLookup(env.lookup, prefix)
		if err == nil {
			t.Fatalf("%s: no error", prefix)
		}
		msg := err.Error()
		for _, want := range []string{
			"(" + prefix + "SESSION_USE_SIGNER) needs SecretKey (" + prefix + "SECRET_KEY)",
			"(" + prefix + "SESSION_COOKIE_SAMESITE) None needs CookieSecure (" + prefix + "SESSION_COOKIE_SECURE=true)",
			prefix + `SESSION_REDIS="localhost:6379"`,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error does not contain %q:\n%s", prefix, want, msg)
			}
		}
		if strings.Contains(msg, " (SESSION_") || strings.Contains(msg, " (SECRET_KEY") {
			t.Errorf("%s: an unprefixed variable is named:\n%s", prefix, msg)
		}
	}
	// Without a prefix, the messages are Validate's own.
	_, err := OptionsFromLookup(envMap{"SESSION_USE_SIGNER": "true"}.lookup, "")
	if err == nil || err.Error() != (Options{UseSigner: true, Type: "null"}).Validate().Error() {
		t.Errorf("unprefixed: %v", err)
	}
}

// TestEnvSecretKeyFallbacksSpaces pins the documented rule: the
// comma-separated form trims spaces around each key, the list forms keep
// every key byte for byte (as SECRET_KEY itself is kept).
func TestEnvSecretKeyFallbacksSpaces(t *testing.T) {
	for v, want := range map[string][]string{
		" old1 , old2 ":         {"old1", "old2"},
		`[" old1 ", "old2\t"]`:  {" old1 ", "old2\t"},
		`[' old1 ', "old,2 "]`:  {" old1 ", "old,2 "},
		"  [\" spaced \"]  ":    {" spaced "},
		"single key with space": {"single key with space"},
	} {
		o, err := OptionsFromLookup(envMap{"SECRET_KEY_FALLBACKS": v}.lookup, "")
		if err != nil || len(o.SecretKeyFallbacks) != len(want) {
			t.Errorf("SECRET_KEY_FALLBACKS=%q: %q, %v; want %q", v, o.SecretKeyFallbacks, err, want)
			continue
		}
		for i := range want {
			if o.SecretKeyFallbacks[i] != want[i] {
				t.Errorf("SECRET_KEY_FALLBACKS=%q: %q; want %q", v, o.SecretKeyFallbacks, want)
			}
		}
	}
	// SECRET_KEY itself is never trimmed.
	if o, _ := OptionsFromLookup(envMap{"SECRET_KEY": " k "}.lookup, ""); o.SecretKey != " k " {
		t.Errorf("SECRET_KEY = %q; want it byte for byte", o.SecretKey)
	}
}

// FuzzOptionsStoreEnv feeds arbitrary connection strings and file modes to
// the store checks of every type: no panic, one prefix per message, and a
// password in a URL is never echoed.
func FuzzOptionsStoreEnv(f *testing.F) {
	for _, seed := range []string{
		"127.0.0.1:6379", "redis://u:pw-SECRET@h:6379/0", "mongodb://u:pw-SECRET@h:99999/",
		"postgresql://u:pw-SECRET@h/db?sslmode=x", "mysql://u:pw-SECRET@h:x:y/db", "sqlite:///x.db?_foo=1",
		"0644", "438", "a,,b", "[::1]:11211", "redis+sentinel://u:pw-SECRET@h1:1,h2:2/m/3", "://@@",
	} {
		for _, typ := range []string{"redis", "memcached", "filesystem", "mongodb", "sqlalchemy"} {
			f.Add(typ, seed, "P_")
		}
	}
	f.Fuzz(func(t *testing.T, typ, value, prefix string) {
		for _, c := range prefix { // prefixes are variable-name characters
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '$') {
				return
			}
		}
		// The variable the type reads; the other types' are unset.
		name := map[string]string{"redis": "SESSION_REDIS", "memcached": "SESSION_MEMCACHED", "filesystem": "SESSION_FILE_MODE",
			"mongodb": "SESSION_MONGODB", "sqlalchemy": "SESSION_SQLALCHEMY", "gorm": "SQLALCHEMY_DATABASE_URI"}[strings.ToLower(strings.TrimSpace(typ))]
		if name == "" {
			name = "SESSION_REDIS"
		}
		env := envMap{prefix + "SESSION_TYPE": typ, prefix + name: value}
		_, err := OptionsFromLookup(env.lookup, prefix)
		checkPrefixed(t, err)
		// A file mode is not a connection string: its parse error quotes it.
		if err != nil && name != "SESSION_FILE_MODE" && strings.Contains(value, "pw-SECRET@") && strings.Contains(err.Error(), "pw-SECRET") {
			t.Fatalf("password echoed: %v", err)
		}
	})
}
