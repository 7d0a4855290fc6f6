package ginsession

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/health"
)

// Stats are the middleware's store counters since it was made, and the
// store's state now, for an operator's metrics (see docs/operations.md).
// The counters only grow.
type Stats struct {
	// Loads, Writes, Touches and Deletes count store calls, failed or not:
	// reads of a session (with or without a version); writes (plain or
	// compare-and-swap); expiry refreshes; deletions.
	Loads, Writes, Touches, Deletes uint64
	// UserIndex counts calls to the store's index of sessions by user
	// (SetUser's link at login, the unlink after Regenerate or logout, the
	// lookups of RevokeUser and UserSessions), failed or not; their
	// failures count in Unavailable, Timeouts... like any store call's.
	UserIndex uint64
	// Unavailable counts store calls that failed because the store did not
	// answer or answered an error (connection refused, server error…).
	Unavailable uint64
	// Timeouts counts store calls that reached SESSION_STORE_TIMEOUT.
	Timeouts uint64
	// TooLarge counts writes the store refused for their size.
	TooLarge uint64
	// Canceled counts store calls abandoned because the client went away.
	Canceled uint64
	// Conflicts counts compare-and-swap writes that lost a race with a
	// concurrent request on the same session; each is reloaded and retried
	// unless the request gives up (SESSION_MAX_RETRIES).
	Conflicts uint64
	// Retries counts conflicts after which the write was tried again
	// (Conflicts minus requests that gave up on a conflict).
	Retries uint64
	// FailedRequests counts requests answered by the ErrorHandler;
	// FailedByKind splits them by error: "unavailable", "timeout",
	// "conflict", "too_large", "canceled", "closed", "other".
	FailedRequests uint64
	FailedByKind   map[string]uint64
	// Outages counts the times the store started failing (each logged
	// once at ERROR, then summarised every 10 s, then an INFO on recovery).
	Outages uint64
	// Down reports an outage in progress, which began at DownSince.
	Down      bool
	DownSince time.Time
}

// Stats returns the store counters and state. It is cheap (a few atomic
// loads) and safe to call concurrently, e.g. from a metrics scrape.
func (m *Middleware) Stats() Stats { return Stats(m.health.Stats()) }

// instrument makes the outage tracker and returns the store wrapped for
// the engine: every call counted and observed, the same optional
// interfaces. Store(), Close() and cleanups keep the store itself.
func (m *Middleware) instrument() backends.Store {
	m.health = health.New(health.Config{Logger: m.log})
	return m.health.Wrap(m.store)
}

// requestKind sorts the error a request failed with for Stats.
func requestKind(err error) health.Kind {
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		if k := health.Classify(err); k != health.None {
			return k // timeout, canceled, closed or unavailable, from the cause
		}
		return health.Unavailable
	case errors.Is(err, ErrConflict):
		return health.Conflict
	case errors.Is(err, ErrTooLarge):
		return health.TooLarge
	}
	return health.Other
}

// failLevel is the level of the default ErrorHandler's per-request line
// for a store that failed or a write that kept conflicting: DEBUG for a
// store outage, which the tracker reports once (start, summaries,
// recovery); ERROR for a conflict that outlived its retries.
func failLevel(err error) slog.Level {
	if errors.Is(err, ErrStoreUnavailable) {
		return slog.LevelDebug
	}
	return slog.LevelError
}
