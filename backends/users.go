package backends

import (
	"context"
	"time"
)

// UserIndexer is implemented by stores that keep an index from a user id to
// the keys of that user's sessions, beside the sessions (never inside the
// bytes Flask reads), so that a user's sessions can be found, and revoked,
// in time proportional to their number rather than to all sessions.
//
// The index is advisory: it may hold keys whose session has since expired,
// been deleted, or been tied to another user (a link whose removal failed,
// a Flask writer that rewrote the session). The core checks each session
// it finds through the index before acting on it. What it must never do is
// miss a live session: a link lives at least as long as the ttl given to
// LinkUser.
type UserIndexer interface {
	// LinkUser records that key belongs to user, for at least ttl (the
	// store may keep it longer). Linking an already linked key extends
	// the link.
	LinkUser(ctx context.Context, user, key string, ttl time.Duration) error
	// UnlinkUser removes key from user's index. Unlinking a key that is
	// not linked is not an error.
	UnlinkUser(ctx context.Context, user, key string) error
	// UserKeys returns the keys linked to user whose links have not
	// expired, in any order.
	UserKeys(ctx context.Context, user string) ([]string, error)
}
