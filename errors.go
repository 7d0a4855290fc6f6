package ginsession

import (
	"strings"

	"github.com/ginsession/ginsession/internal/engine"
)

// Errors a request can end with, matched with errors.Is. The ErrorHandler
// receives them; the default one answers 503 with Retry-After for
// ErrStoreUnavailable and ErrConflict (retrying helps), and 500 naming the
// cause for the others (retrying never helps).
var (
	// ErrStoreUnavailable: the store failed or did not answer within
	// SESSION_STORE_TIMEOUT (one budget per request, queueing and retries
	// included).
	ErrStoreUnavailable = engine.ErrUnavailable
	// ErrTooLarge: the encoded session exceeds Options.MaxSize or the
	// store's own limit. Nothing is written and the previous value stays
	// intact.
	ErrTooLarge = engine.ErrTooLarge
	// ErrNotEncodable: a value given to Set cannot be encoded (a channel, a
	// function, nesting too deep...). The error names the key.
	ErrNotEncodable = engine.ErrNotEncodable
	// ErrConflict: a write kept losing compare-and-swap races for
	// Options.MaxRetries attempts.
	ErrConflict = engine.ErrConflict
	// ErrEnded: Save was called after the session's request ended (from a
	// goroutine holding c.Copy(), say).
	ErrEnded = engine.ErrEnded
	// ErrPanicked: a panic (in a store driver, an encoder) interrupted the
	// session's commit; it was logged with its stack and nothing was saved.
	ErrPanicked = engine.ErrPanicked
)

// cleanMessage is err's message without the "ginsession: " prefixes of
// inner errors, for a message that adds its own.
func cleanMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "ginsession: ", "")
}
