package ginsession_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/ginsession/ginsession"
)

// A Flask-Session app's environment configures the Gin app unchanged.
func ExampleOptionsFromEnv() {
	for k, v := range map[string]string{
		"SESSION_TYPE":               "memory",
		"SECRET_KEY":                 "change-me",
		"SESSION_USE_SIGNER":         "True",
		"PERMANENT_SESSION_LIFETIME": "3600",
		"SESSION_COOKIE_SAMESITE":    "strict",
		"SESSION_FILE_MODE":          "384", // Flask's decimal for 0600
	} {
		os.Setenv(k, v)
		defer os.Unsetenv(k)
	}

	opts, err := ginsession.OptionsFromEnv()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(opts.Type, opts.UseSigner, opts.Lifetime, opts.CookieSameSite == http.SameSiteStrictMode, opts.CookieName)
	fmt.Printf("%#o\n", opts.FileMode)

	// A bad value names the variable, the value and what is accepted.
	os.Setenv("SESSION_PERMANENT", "maybe")
	defer os.Unsetenv("SESSION_PERMANENT")
	_, err = ginsession.OptionsFromEnv()
	var envErr *ginsession.EnvError
	fmt.Println(errors.As(err, &envErr), envErr.Var)
	fmt.Println(err)
	// Output:
	// memory true 1h0m0s true session
	// 0600
	// true SESSION_PERMANENT
	// ginsession: SESSION_PERMANENT="maybe": want true or false (also 1/0, yes/no, on/off)
}
