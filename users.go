package ginsession

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ginsession/ginsession/internal/engine"
)

// ErrUnsupported is matched (errors.Is) by the error of an operation the
// store cannot do: RevokeUser and UserSessions on a store without a user
// index (memcached, which cannot enumerate anything).
var ErrUnsupported = errors.New("ginsession: not supported by this session store")

// unsupportedError names the store and what it cannot do.
type unsupportedError struct{ what, store string }

func (e *unsupportedError) Error() string {
	return "ginsession: the " + e.store + " store " + e.what
}

func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

// SetUser ties the session to a user id, so that Middleware.RevokeUser can
// log that user out of every browser and Middleware.UserSessions can list
// their sessions. Call it at login, together with Regenerate; "" unties
// the session. The id is kept in the session under the reserved key
// "_ginsession_user" (hidden from Keys; Flask ignores it), and stores
// implementing backends.UserIndexer index it beside the sessions. A user id
// longer than 512 bytes is refused: the request ends in the ErrorHandler
// with an error matching ErrNotEncodable.
func (s *Session) SetUser(id string) { s.req().SetUser(id) }

// User returns the user id set by SetUser, or "".
func (s *Session) User() string { return s.req().User() }

// RevokeUser deletes every session of the user id (log out everywhere:
// after a password change, a stolen laptop, a ban) and reports how many it
// deleted. It takes time proportional to that user's sessions, not to all
// sessions: it reads the user's index, checks that each session found still
// belongs to the user (a session that changed hands or disappeared is only
// dropped from the index) and deletes it. A request on one of those
// sessions that is in flight and commits afterwards finds its session gone
// and writes nothing (stores with compare-and-swap; see docs/operations.md).
//
// The error matches ErrUnsupported when the store keeps no user index
// (memcached), and ErrStoreUnavailable when the store fails; the count then
// says how many were deleted before the failure.
func (m *Middleware) RevokeUser(ctx context.Context, id string) (int, error) {
	n, err := m.engine.RevokeUser(ctx, id)
	return n, m.userError(err)
}

// UserSessions returns the ids of the user's live sessions, sorted (for a
// "your devices" page). Like RevokeUser, it reads the index and checks each
// session.
func (m *Middleware) UserSessions(ctx context.Context, id string) ([]string, error) {
	keys, err := m.engine.UserSessions(ctx, id)
	if err != nil {
		return nil, m.userError(err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = strings.TrimPrefix(k, m.opts.KeyPrefix)
	}
	sort.Strings(ids)
	return ids, nil
}

func (m *Middleware) userError(err error) error {
	if errors.Is(err, engine.ErrNoIndex) {
		return &unsupportedError{what: "keeps no index of sessions by user (it cannot enumerate its keys); RevokeUser and UserSessions are not available", store: m.storeName()}
	}
	return err
}

// storeName names the store for messages: the SESSION_TYPE, or the Go type
// of a store given in Options.Store.
func (m *Middleware) storeName() string {
	if m.opts.Store == nil && m.opts.Type != "" {
		return m.opts.Type
	}
	return fmt.Sprintf("%T", m.store)
}

// UserOfStored returns the user id of a stored session value, or "" (for
// admin tools such as cmd/ginsession).
func (m *Middleware) UserOfStored(key string, data []byte) string {
	return m.engine.UserOfStored(key, data)
}
