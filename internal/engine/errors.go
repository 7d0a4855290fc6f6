package engine

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ginsession/ginsession/backends"
)

// The kinds of failure a request can end with, matched with errors.Is. The
// root package exports them.
var (
	// ErrUnavailable: the store failed or did not answer within the
	// request's budget. Retrying later may help (503 + Retry-After).
	ErrUnavailable = errors.New("ginsession: session store unavailable")
	// ErrNotEncodable: a value the handler stored cannot be encoded (a Go
	// type the formats cannot represent, nesting too deep). Retrying never
	// helps (500).
	ErrNotEncodable = errors.New("ginsession: session value cannot be encoded")
	// ErrTooLarge: the encoded session is over SESSION_MAX_SIZE or the
	// store's own limit (500).
	ErrTooLarge = backends.ErrTooLarge
	// ErrConflict: a write kept losing compare-and-swap races for
	// SESSION_MAX_RETRIES attempts (503).
	ErrConflict = backends.ErrConflict
	// ErrEnded: the session was used after its request ended (from a
	// goroutine holding c.Copy(), say). Reads still show that request's
	// data; changes cannot be saved any more.
	ErrEnded = errors.New("ginsession: session used after its request ended")
	// ErrPanicked: a panic went through a store call or an encoder of
	// this request; the session is not saved.
	ErrPanicked = errors.New("ginsession: a panic interrupted the session's commit")
)

// Error is a failure of one request's session: its kind (one of the
// sentinels above, or a sentinel of a store), what was being done, the key
// concerned if any, and the cause. Its message carries the "ginsession:"
// prefix once.
type Error struct {
	Kind   error  // matched by errors.Is
	Op     string // "load session", "save session", …
	Key    string // the session key concerned, when there is one
	Detail string // a description when there is no Err
	Err    error  // the cause, if any
}

// Error returns the message: "ginsession: " once, what was being done, the
// key, and the cause.
func (e *Error) Error() string {
	b := []byte("ginsession: ")
	b = append(b, e.Op...)
	if e.Key != "" {
		b = append(b, " at key "...)
		b = strconv.AppendQuote(b, e.Key)
	}
	b = append(b, ": "...)
	switch {
	case e.Detail != "":
		b = append(b, e.Detail...)
	case e.Err != nil:
		b = append(b, clean(e.Err)...)
	default:
		b = append(b, clean(e.Kind)...)
	}
	return string(b)
}

// Is matches the kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// storeError classifies a store failure: too large and conflicts keep their
// kind, everything else (network, timeouts, a closed store) is ErrUnavailable.
func storeError(op string, err error) error {
	var ge *Error
	if errors.As(err, &ge) {
		return err
	}
	kind := ErrUnavailable
	switch {
	case errors.Is(err, backends.ErrTooLarge):
		kind = ErrTooLarge
	case errors.Is(err, backends.ErrConflict):
		kind = ErrConflict
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// notEncodable wraps an encoder's error.
func notEncodable(err error) error {
	return &Error{Kind: ErrNotEncodable, Op: "encode session", Err: err}
}

func tooLargeDetail(n, max int) string {
	return fmt.Sprintf("encoded session is %d bytes, over the limit of %d", n, max)
}
