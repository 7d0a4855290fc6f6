// Package setup runs the one-time preparation a store needs from its
// server — creating a table or an index, resolving server names, asking the
// server what it is — under ginsession's start-up policy: it is tried when
// the store is opened, within the open deadline, and when the server does
// not answer then, it is retried on first use instead of failing the
// application's start (docs/backends.md, "Start-up").
package setup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Once runs a setup function until it succeeds once. It is safe for
// concurrent use; the zero value is not usable (see New).
type Once struct {
	fn   func(ctx context.Context) error
	sem  chan struct{} // a mutex whose waiting honours the caller's context
	done atomic.Bool
}

// New returns a Once that runs fn.
func New(fn func(ctx context.Context) error) *Once {
	return &Once{fn: fn, sem: make(chan struct{}, 1)}
}

// Do runs the setup unless it has already succeeded, and returns its error.
// One attempt runs at a time: a caller that finds another attempt running
// waits for it within ctx, then tries again only if it failed. After the
// first success Do is one atomic load.
func (o *Once) Do(ctx context.Context) error {
	if o.done.Load() {
		return nil
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the store's setup: %w", context.Cause(ctx))
	}
	defer func() { <-o.sem }()
	if o.done.Load() {
		return nil
	}
	if err := o.fn(ctx); err != nil {
		return err
	}
	o.done.Store(true)
	return nil
}

// Done reports whether the setup has succeeded.
func (o *Once) Done() bool { return o.done.Load() }

// unreachableError marks an error as "the server did not answer".
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// Unreachable marks err as a failure to reach the server (a refused or
// timed-out connection), as opposed to an answer from the server that
// refuses the setup. It returns nil for nil.
func Unreachable(err error) error {
	if err == nil {
		return nil
	}
	return &unreachableError{err}
}

// IsUnreachable reports whether err, or an error it wraps, was marked by
// Unreachable.
func IsUnreachable(err error) bool {
	var u *unreachableError
	return errors.As(err, &u)
}
