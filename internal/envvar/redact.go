package envvar

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

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
// "://" (or the start when there is no scheme before it) and the last '@',
// or "" when there is none. A "://" after the last '@' is no scheme:
// "pw@://" still has its credentials at the start.
func userinfo(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return ""
	}
	start := 0
	if i := strings.Index(raw[:at], "://"); i >= 0 {
		start = i + len("://")
	}
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

// PrefixNames rewrites the messages of ginsession's Options.Validate (an
// errors.Join) so that they name the variables as the user set them, with
// OptionsFromLookup's prefix: "UseSigner (MYAPP_SESSION_USE_SIGNER) needs
// SecretKey (MYAPP_SECRET_KEY)". Validate's errors wrap nothing, so
// rebuilding them loses nothing.
func PrefixNames(err error, prefix string) error {
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
