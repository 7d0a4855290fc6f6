// Command ginsession administers the session store of a ginsession (or
// Flask-Session) application: it removes expired sessions, lists, shows and
// deletes sessions, logs a user out everywhere and counts what is stored.
//
// It is configured like the application, by the environment variables
// OptionsFromEnv reads (SESSION_TYPE, SESSION_REDIS, SESSION_KEY_PREFIX,
// ...), optionally loaded from a file with --env-file. Run
// "ginsession help" for the subcommands; docs/operations.md has the details.
//
// Exit status: 0 success, 1 failure (the store failed, a session was not
// found), 2 bad usage or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the positional arguments
	summary string
	flags   func(fs *flag.FlagSet, c *cli)
	nargs   int // exact number of positional arguments
	run     func(ctx context.Context, c *cli, args []string) error
}

var commands []*command

func init() {
	commands = []*command{cleanupCmd, lsCmd, showCmd, rmCmd, revokeCmd, statsCmd}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// cli is the state of one invocation.
type cli struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)

	envFile   string
	jsonOut   bool
	fullIDs   bool
	limit     int
	offset    int
	reveal    bool
	revealAll bool
	timeout   time.Duration

	progressAfter time.Duration // a scan longer than this reports progress
	env           *env          // the opened store, once open
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	c := &cli{stdout: stdout, stderr: stderr, lookup: lookup, progressAfter: time.Second}
	// GINSESSION_PROGRESS_AFTER changes the one-second threshold of the
	// progress line (tests set it to 0).
	if v, ok := lookup("GINSESSION_PROGRESS_AFTER"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fmt.Fprintf(stderr, "ginsession: GINSESSION_PROGRESS_AFTER=%q: want a Go duration such as 1s\n", v)
			return exitUsage
		}
		c.progressAfter = d
	}
	err := c.dispatch(ctx, args)
	if c.env != nil {
		c.env.close()
	}
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "ginsession: %s\nRun 'ginsession help' for usage.\n", ue.msg)
		return exitUsage
	}
	fmt.Fprintf(stderr, "ginsession: %s\n", strings.ReplaceAll(err.Error(), "ginsession: ", ""))
	var ce *configError
	if errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailure
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	// Global flags before the subcommand: --env-file only.
	global := flag.NewFlagSet("ginsession", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&c.envFile, "env-file", "", "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.help(c.stdout)
			return nil
		}
		return usagef("%v", err)
	}
	args = global.Args()
	if len(args) == 0 {
		c.help(c.stderr)
		return usagef("no subcommand given")
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			cmd := lookupCommand(args[1])
			if cmd == nil {
				return usagef("unknown subcommand %q", args[1])
			}
			c.commandHelp(c.stdout, cmd)
			return nil
		}
		c.help(c.stdout)
		return nil
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		return usagef("unknown subcommand %q (known: %s)", name, commandNames())
	}
	fs := flag.NewFlagSet("ginsession "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.envFile, "env-file", c.envFile, "read KEY=VALUE settings from `FILE` (the process environment wins)")
	fs.DurationVar(&c.timeout, "timeout", 0, "give up after this `duration` (default: no limit)")
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	pos, err := parseInterspersed(fs, args[1:], cmd.nargs > 0)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.commandHelp(c.stdout, cmd)
			return nil
		}
		return usagef("%s: %v", cmd.name, err)
	}
	if len(pos) != cmd.nargs {
		if cmd.nargs == 0 {
			return usagef("%s takes no arguments (got %q)", cmd.name, strings.Join(pos, " "))
		}
		for _, p := range pos {
			if strings.HasPrefix(p, "-") {
				return usagef("usage: ginsession %s %s (%q is not a flag of %s; put an argument that starts with \"-\" after \"--\")", cmd.name, cmd.args, shortArg(p), cmd.name)
			}
		}
		return usagef("usage: ginsession %s %s", cmd.name, cmd.args)
	}
	if c.limit < 0 || c.offset < 0 {
		return usagef("%s: --limit and --offset must not be negative", cmd.name)
	}
	if c.timeout < 0 {
		return usagef("%s: --timeout must not be negative", cmd.name)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return cmd.run(ctx, c, pos)
}

// parseInterspersed parses flags anywhere among the positional arguments
// ("show SID --reveal" as well as "show --reveal SID"); "--" ends flags.
// Session ids are base64url and may start with "-": when the subcommand
// takes arguments, a word that starts with "-" but names no flag is an
// argument, not an unknown flag.
func parseInterspersed(fs *flag.FlagSet, args []string, positional bool) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil && positional && name != "h" && name != "help" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// shortArg shortens an argument that may be a session id, for messages.
func shortArg(a string) string {
	if len(a) > 14 {
		return a[:14] + "…"
	}
	return a
}

func lookupCommand(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, cmd := range commands {
		names[i] = cmd.name
	}
	return strings.Join(names, ", ")
}

func (c *cli) help(w io.Writer) {
	fmt.Fprint(w, `ginsession administers the session store of a ginsession or Flask-Session app.

Usage:
  ginsession [--env-file FILE] <subcommand> [flags] [arguments]

Subcommands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `  help     show this help, or "help SUBCOMMAND" for one subcommand's flags

The store is configured like the application, by the variables
OptionsFromEnv reads (SESSION_TYPE, SESSION_REDIS, SESSION_FILE_DIR,
SESSION_KEY_PREFIX, SESSION_SERIALIZATION_FORMAT, SESSION_ENCRYPTION_KEY...),
from the environment or from --env-file FILE (KEY=VALUE lines; a variable
set in the environment wins over the file).

Session ids are shortened unless --full-ids is given. SID arguments accept a
full id, a cookie value (id.signature), a store key (prefix + id) or a unique
prefix of at least 8 characters of an id, as ls prints it.

Exit status: 0 success, 1 failure, 2 bad usage or configuration.
`)
}

func (c *cli) commandHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: ginsession %s [flags] %s\n\n%s\n\nFlags:\n", cmd.name, cmd.args, cmd.summary)
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.String("env-file", "", "read KEY=VALUE settings from `FILE` (the process environment wins)")
	fs.Duration("timeout", 0, "give up after this `duration` (default: no limit)")
	if cmd.flags != nil {
		cmd.flags(fs, &cli{})
	}
	fs.SetOutput(w)
	fs.PrintDefaults()
}
