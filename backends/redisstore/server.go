package redisstore

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MinServerVersion is the oldest Redis the store is built for: 6.2, the
// first with GETEX (a read and its refresh in one round trip). Older
// servers (from 2.6.12: SET with NX and EX, Lua scripting) still work, with
// one EXPIRE more per read. Scripting must be allowed either way: every
// write of a loaded session is an EVALSHA (EVAL the first time).
const MinServerVersion = "6.2"

// ErrUnsupportedServer is matched (errors.Is) by the error of a call the
// server refused as an unknown or forbidden command: a Redis too old for
// the command, one where it was renamed away (rename-command), or an ACL
// that denies it. The store needs GET, GETEX (Redis 6.2; GET and EXPIRE
// on older servers), SET, DEL, EXPIRE, EVALSHA and EVAL, and SCAN for
// Keys.
var ErrUnsupportedServer = errors.New("ginsession: redis: the server refuses a command the store needs")

// UnsupportedError reports a command the server refused.
type UnsupportedError struct {
	// Op is the store call that failed ("load", "save", ...).
	Op string
	// Command is the refused command, upper case (e.g. "EVALSHA"), or
	// empty when the reply does not name it.
	Command string
	// Reply is the server's error reply.
	Reply string
}

// Error says what was refused and what the store needs.
func (e *UnsupportedError) Error() string {
	cmd := e.Command
	if cmd == "" {
		cmd = "a command"
	}
	need := "Redis " + MinServerVersion + " or later"
	switch cmd {
	case "EVALSHA", "EVAL":
		need += " with scripting allowed (EVALSHA and EVAL: the compare-and-swap of every write is a Lua script)"
	case "GETEX":
		need = "GETEX allowed (Redis " + MinServerVersion + " or later; on an older server, which has no GETEX, the store uses GET and EXPIRE by itself)"
	default:
		need += ", with GET, GETEX, SET, DEL, EXPIRE, EVALSHA, EVAL and SCAN allowed"
	}
	return "ginsession: redis: " + e.Op + ": the server refuses " + cmd + " (" + e.Reply + "): ginsession needs " + need + "; see docs/backends/redis.md"
}

// Is makes errors.Is(err, ErrUnsupportedServer) hold.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupportedServer }

// refused returns an *UnsupportedError when err is the server's answer to
// a command it does not know or does not allow, and nil otherwise.
func refused(op string, err error) *UnsupportedError {
	var re redis.Error
	if !errors.As(err, &re) {
		return nil
	}
	msg := re.Error()
	if !strings.HasPrefix(msg, "ERR unknown command") && !strings.HasPrefix(msg, "NOPERM") {
		return nil
	}
	// Redis quotes the first arguments after this (the key holds a session
	// id, then the value): keep them out of errors and logs.
	msg, _, _ = strings.Cut(msg, ", with args")
	// "ERR unknown command 'evalsha', with args beginning with: ..." and
	// "NOPERM User default has no permissions to run the 'evalsha' command"
	// name the command between the first pair of quotes.
	cmd := ""
	if i := strings.IndexAny(msg, "'`"); i >= 0 {
		if j := strings.IndexAny(msg[i+1:], "'`"); j >= 0 {
			cmd = strings.ToUpper(msg[i+1 : i+1+j])
		}
	}
	return &UnsupportedError{Op: op, Command: cmd, Reply: msg}
}
