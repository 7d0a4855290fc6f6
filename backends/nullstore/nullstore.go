// Package nullstore is the store behind SESSION_TYPE=null, Flask-Session's
// default: it keeps nothing. Save is accepted and discarded, Load never
// finds anything and Delete always succeeds, so every request starts a new,
// empty session. It is useful only to run an app whose sessions do not
// matter; a warning is logged when one is created.
package nullstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// Warning is the message logged (at slog.LevelWarn) when a null store is created.
const Warning = "ginsession: SESSION_TYPE=null: sessions are not stored; every request starts a new session"

func init() {
	backends.Register("null", func(_ context.Context, cfg backends.Config) (backends.Store, error) {
		return New(cfg.Log()), nil
	})
}

// Store keeps nothing. It implements backends.Store and is safe for
// concurrent use; the zero value is ready to use (and logs nothing).
type Store struct{}

var _ backends.Store = (*Store)(nil)

// New returns a null store after logging Warning once to logger (nil means
// slog.Default()).
func New(logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn(Warning)
	return &Store{}
}

func check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: null: %w", err)
	}
	return nil
}

// Load never finds anything. It fails only if ctx is already done.
func (*Store) Load(ctx context.Context, _ string) ([]byte, bool, error) {
	return nil, false, check(ctx)
}

// Save discards data. It fails only if ctx is already done.
func (*Store) Save(ctx context.Context, _ string, _ []byte, _ time.Duration) error {
	return check(ctx)
}

// Delete does nothing. It fails only if ctx is already done.
func (*Store) Delete(ctx context.Context, _ string) error {
	return check(ctx)
}
