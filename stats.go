package ginsession

import (
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

// instrument routes the store calls through the outage tracker: the store
// and its optional interfaces are wrapped; Store() and Close() keep the
// store itself.
func (m *Middleware) instrument() {
	m.health = health.New(health.Config{Logger: m.log})
	m.userStore = m.store
	m.store = m.health.Wrap(m.store)
	m.cas, _ = m.store.(backends.CompareAndSwapper)
	m.toucher, _ = m.store.(backends.Toucher)
}

// failLevel is the level of the default ErrorHandler's per-request line:
// DEBUG for a store outage, which the tracker reports once (start,
// summaries, recovery); ERROR for the rest (a session too large, a value
// that cannot be encoded), which are the application's to fix.
func failLevel(err error) slog.Level {
	if health.Classify(err).Outage() {
		return slog.LevelDebug
	}
	return slog.LevelError
}
