package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Defaults of the demo user, for local use only.
const (
	DefaultUser     = "demo"
	DefaultPassword = "demo"
)

// Config configures the tutorial app (the session itself is configured by
// ginsession.Options).
type Config struct {
	// User is the demo user's name (DEMO_USER, default "demo").
	User string
	// PasswordHash is the bcrypt hash of the demo user's password
	// (DEMO_PASSWORD_BCRYPT, or DEMO_PASSWORD hashed at start; default:
	// the hash of "demo").
	PasswordHash []byte
	// Logger receives the app's logs (default slog.Default()). Passwords,
	// hashes, session ids and CSRF tokens are never logged.
	Logger *slog.Logger
}

// ConfigFromEnv reads the demo user from the environment through lookup
// (os.LookupEnv in main):
//
//   - DEMO_USER: the user name (default "demo");
//   - DEMO_PASSWORD_BCRYPT: a bcrypt hash of the password, e.g. from
//     htpasswd -nbBC 12 "" secret | cut -d: -f2; it wins over DEMO_PASSWORD;
//   - DEMO_PASSWORD: the password in clear, hashed with bcrypt at start
//     (default "demo", with a warning logged).
//
// Neither the password nor its hash is ever printed.
func ConfigFromEnv(lookup func(string) (string, bool), logger *slog.Logger) (Config, error) {
	return configFromEnv(lookup, logger, bcrypt.DefaultCost)
}

func configFromEnv(lookup func(string) (string, bool), logger *slog.Logger, cost int) (Config, error) {
	if logger == nil {
		logger = slog.Default()
	}
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return "", false
		}
		return v, true
	}
	cfg := Config{User: DefaultUser, Logger: logger}
	if v, ok := get("DEMO_USER"); ok {
		cfg.User = strings.TrimSpace(v)
	}
	if cfg.User == "" {
		return cfg, errors.New("app: DEMO_USER is blank: want a user name")
	}
	hash, hashSet := get("DEMO_PASSWORD_BCRYPT")
	_, pwSet := get("DEMO_PASSWORD")
	switch {
	case hashSet:
		hash = strings.TrimSpace(hash)
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return cfg, fmt.Errorf("app: DEMO_PASSWORD_BCRYPT is not a bcrypt hash (want $2a$/$2b$/$2y$...): %w", err)
		}
		if pwSet {
			logger.Warn("app: both DEMO_PASSWORD_BCRYPT and DEMO_PASSWORD are set; using DEMO_PASSWORD_BCRYPT")
		}
		cfg.PasswordHash = []byte(hash)
	default:
		pw, ok := get("DEMO_PASSWORD")
		if !ok {
			pw = DefaultPassword
			logger.Warn("app: DEMO_PASSWORD is not set: the demo user has the default password, for local use only", "user", cfg.User)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			return cfg, fmt.Errorf("app: hash DEMO_PASSWORD: %w", err)
		}
		cfg.PasswordHash = h
	}
	return cfg, nil
}
