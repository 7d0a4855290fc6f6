package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var cleanupCmd = &command{
	name:    "cleanup",
	summary: "remove expired sessions (Flask's session_cleanup; for cron)",
	run: func(ctx context.Context, c *cli, _ []string) error {
		e, err := c.open()
		if err != nil {
			return err
		}
		cl, ok := e.store.(backends.Cleaner)
		if !ok {
			fmt.Fprintf(c.stdout, "the %s store expires sessions by itself: nothing to clean up\n", e.backend())
			return nil
		}
		n, err := cl.Cleanup(ctx)
		if err != nil {
			return fmt.Errorf("cleanup of the %s store failed after removing %d expired sessions: %w", e.backend(), n, err)
		}
		if c.jsonOut {
			return c.writeJSON(map[string]any{"backend": e.backend(), "removed": n})
		}
		fmt.Fprintf(c.stdout, "removed %d expired sessions from the %s store\n", n, e.backend())
		return nil
	},
	flags: func(fs *flag.FlagSet, c *cli) { fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON") },
}

var lsCmd = &command{
	name:    "ls",
	summary: "list sessions: id, size, expiry, user (paged with --limit/--offset)",
	flags: func(fs *flag.FlagSet, c *cli) {
		fs.BoolVar(&c.jsonOut, "json", false, "print JSON")
		fs.BoolVar(&c.fullIDs, "full-ids", false, "print whole session ids (they are credentials: anyone holding one is logged in)")
		fs.IntVar(&c.limit, "limit", 50, "print at most `N` sessions (0: all)")
		fs.IntVar(&c.offset, "offset", 0, "skip the first `N` sessions (in key order)")
	},
	run: runLs,
}

var showCmd = &command{
	name:    "show",
	args:    "SID",
	nargs:   1,
	summary: "print one session, decoded, as JSON (values masked unless --reveal)",
	flags: func(fs *flag.FlagSet, c *cli) {
		fs.BoolVar(&c.fullIDs, "full-ids", false, "print the whole session id")
		fs.BoolVar(&c.reveal, "reveal", false, "show values, except those of keys that look secret (password, token, csrf...)")
		fs.BoolVar(&c.revealAll, "reveal-all", false, "show every value, secrets included")
	},
	run: runShow,
}

var rmCmd = &command{
	name:    "rm",
	args:    "SID",
	nargs:   1,
	summary: "delete one session (its user is logged out of that browser)",
	flags: func(fs *flag.FlagSet, c *cli) {
		fs.BoolVar(&c.fullIDs, "full-ids", false, "print the whole session id")
	},
	run: runRm,
}

var revokeCmd = &command{
	name:    "revoke",
	args:    "USER",
	nargs:   1,
	summary: "delete every session of a user (log out everywhere)",
	flags: func(fs *flag.FlagSet, c *cli) {
		fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	},
	run: func(ctx context.Context, c *cli, args []string) error {
		user := args[0]
		if user == "" {
			return usagef("revoke: the user id is empty")
		}
		e, err := c.open()
		if err != nil {
			return err
		}
		n, err := e.m.RevokeUser(ctx, user)
		if err != nil {
			if n > 0 {
				return fmt.Errorf("revoked %d sessions of %q, then failed: %w", n, user, err)
			}
			return err
		}
		if c.jsonOut {
			return c.writeJSON(map[string]any{"backend": e.backend(), "user": user, "revoked": n})
		}
		fmt.Fprintf(c.stdout, "revoked %d sessions of user %q\n", n, user)
		return nil
	},
}

var statsCmd = &command{
	name:    "stats",
	summary: "count the sessions and their bytes",
	flags:   func(fs *flag.FlagSet, c *cli) { fs.BoolVar(&c.jsonOut, "json", false, "print JSON") },
	run:     runStats,
}

// row is one listed session.
type row struct {
	ID   string `json:"id"`
	Size int    `json:"size"`
	// Expires is when the session expires; null when the store cannot
	// tell (it does not implement backends.ExpiryReporter, or the entry
	// has no expiry of its own).
	Expires *time.Time `json:"expires"`
	User    string     `json:"user,omitempty"`
	key     string
}

func runLs(ctx context.Context, c *cli, _ []string) error {
	e, err := c.open()
	if err != nil {
		return err
	}
	keys, err := c.listKeys(ctx, e)
	if err != nil {
		return err
	}
	total := len(keys)
	page := keys[min(c.offset, total):]
	if c.limit > 0 && len(page) > c.limit {
		page = page[:c.limit]
	}
	rows := make([]row, 0, len(page))
	err = c.scan(ctx, e, page, func(key string, data []byte) {
		r := row{ID: c.showID(e.sid(key)), Size: len(data), key: key}
		r.User = e.userOf(key, data)
		rows = append(rows, r)
	})
	if err != nil {
		return err
	}
	if err := c.addExpiries(ctx, e, rows); err != nil {
		return err
	}
	if c.jsonOut {
		return c.writeJSON(map[string]any{"backend": e.backend(), "total": total, "offset": c.offset, "sessions": rows})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tEXPIRES\tUSER")
	now := time.Now()
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.ID, r.Size, showExpiry(r.Expires, now), r.User)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) < total {
		fmt.Fprintf(c.stderr, "ginsession: showing %d of %d sessions from offset %d (--limit, --offset)\n", len(rows), total, c.offset)
	}
	return nil
}

// addExpiries fills in the rows' expiries, in one call for the page, when
// the store can tell them (backends.ExpiryReporter).
func (c *cli) addExpiries(ctx context.Context, e *env, rows []row) error {
	er, ok := e.store.(backends.ExpiryReporter)
	if !ok || len(rows) == 0 {
		return nil
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.key
	}
	at, err := er.Expiries(ctx, keys)
	if err != nil {
		return err
	}
	if len(at) != len(rows) {
		return fmt.Errorf("the %s store reported %d expiries for %d sessions", e.backend(), len(at), len(rows))
	}
	for i := range rows {
		if !at[i].IsZero() {
			t := at[i].UTC().Truncate(time.Millisecond)
			rows[i].Expires = &t
		}
	}
	return nil
}

// showExpiry prints an expiry as ls shows it: UTC to the second and how
// long from now, or "-" when unknown.
func showExpiry(at *time.Time, now time.Time) string {
	if at == nil {
		return "-"
	}
	left := at.Sub(now).Round(time.Second)
	if left < 0 {
		return at.Format(time.RFC3339) + " (expired)"
	}
	return at.Format(time.RFC3339) + " (in " + left.String() + ")"
}

func runStats(ctx context.Context, c *cli, _ []string) error {
	e, err := c.open()
	if err != nil {
		return err
	}
	keys, err := c.listKeys(ctx, e)
	if err != nil {
		return err
	}
	var count, bytes int
	err = c.scan(ctx, e, keys, func(_ string, data []byte) {
		count++
		bytes += len(data)
	})
	if err != nil {
		return err
	}
	if c.jsonOut {
		return c.writeJSON(map[string]any{"backend": e.backend(), "sessions": count, "bytes": bytes})
	}
	fmt.Fprintf(c.stdout, "backend:  %s\nsessions: %d\nbytes:    %d\n", e.backend(), count, bytes)
	return nil
}

func runRm(ctx context.Context, c *cli, args []string) error {
	e, err := c.open()
	if err != nil {
		return err
	}
	key, _, err := c.resolve(ctx, e, args[0])
	if err != nil {
		return err
	}
	if err := e.store.Delete(ctx, key); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted session %s\n", c.showID(e.sid(key)))
	return nil
}

// listKeys lists the store's session keys, sorted.
func (c *cli) listKeys(ctx context.Context, e *env) ([]string, error) {
	l, err := e.lister()
	if err != nil {
		return nil, err
	}
	p := c.progress("listing the sessions")
	keys, err := l.Keys(ctx)
	p.stop()
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return keys, nil
}

// scan loads each key in turn and hands the bytes of those still there to
// fn, reporting progress on stderr when it takes longer than a second.
func (c *cli) scan(ctx context.Context, e *env, keys []string, fn func(key string, data []byte)) error {
	p := c.progress("reading sessions")
	defer p.stop()
	p.setTotal(len(keys))
	for i, key := range keys {
		data, found, err := e.load(ctx, key)
		if err != nil {
			return err
		}
		if found {
			fn(key, data)
		}
		p.set(i + 1)
	}
	return nil
}

// progress prints a line on stderr every second once an operation has taken
// longer than c.progressAfter.
type progress struct {
	mu    sync.Mutex
	what  string
	n     int
	total int
	done  chan struct{}
	wg    sync.WaitGroup
	w     io.Writer
	after time.Duration
	start time.Time
}

func (c *cli) progress(what string) *progress {
	p := &progress{what: what, done: make(chan struct{}), w: c.stderr, after: c.progressAfter, start: time.Now()}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTimer(c.progressAfter)
		defer t.Stop()
		start := p.start
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			p.mu.Lock()
			line := fmt.Sprintf("ginsession: %s… %s", p.what, time.Since(start).Round(time.Second))
			if p.total > 0 {
				line = fmt.Sprintf("ginsession: %s… %d of %d (%s)", p.what, p.n, p.total, time.Since(start).Round(time.Second))
			}
			p.mu.Unlock()
			fmt.Fprintln(c.stderr, line)
			t.Reset(time.Second)
		}
	}()
	return p
}

func (p *progress) setTotal(n int) { p.mu.Lock(); p.total = n; p.mu.Unlock() }
func (p *progress) set(n int)      { p.mu.Lock(); p.n = n; p.mu.Unlock() }

// stop ends the progress line; an operation that took longer than the
// threshold ends with a last line saying so.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
	if took := time.Since(p.start); took >= p.after {
		if p.total > 0 || p.n > 0 {
			fmt.Fprintf(p.w, "ginsession: %s: done, %d of %d (%s)\n", p.what, p.n, p.total, took.Round(time.Millisecond))
		} else {
			fmt.Fprintf(p.w, "ginsession: %s: done (%s)\n", p.what, took.Round(time.Millisecond))
		}
	}
}

// showID is a sid as printed: shortened unless --full-ids.
func (c *cli) showID(sid string) string {
	if c.fullIDs || len(sid) <= 12 {
		return sid
	}
	return sid[:12] + "…"
}

// minPrefix is the shortest id prefix resolve accepts.
const minPrefix = 8

// resolve finds the store key an argument names: a full sid, a cookie
// value (sid.signature), a store key, or a unique prefix of a sid (as ls
// prints it, "…" included) when the store can list.
func (c *cli) resolve(ctx context.Context, e *env, arg string) (string, []byte, error) {
	sid := strings.TrimSuffix(arg, "…")
	if p := e.opts.KeyPrefix; p != "" && strings.HasPrefix(sid, p) {
		sid = sid[len(p):]
	}
	if i := strings.IndexByte(sid, '.'); i >= 0 {
		sid = sid[:i] // a signed cookie value: the id is before the dot
	}
	if sid == "" || strings.Trim(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" || len(sid) > 256 {
		return "", nil, usagef("%q is not a session id (want base64url characters: a full id, a cookie value or a prefix as ls prints it)", c.showID(arg))
	}
	key := e.key(sid)
	data, found, err := e.load(ctx, key)
	if err != nil {
		return "", nil, err
	}
	if found {
		return key, data, nil
	}
	l, canList := e.store.(backends.Lister)
	if !canList || len(sid) < minPrefix {
		return "", nil, fmt.Errorf("no session %s in the %s store", c.showID(sid), e.backend())
	}
	keys, err := c.listKeys(ctx, e)
	_ = l
	if err != nil {
		return "", nil, err
	}
	var match []string
	for _, k := range keys {
		if strings.HasPrefix(k, key) {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return "", nil, fmt.Errorf("no session %s in the %s store", c.showID(sid), e.backend())
	case 1:
		data, found, err := e.load(ctx, match[0])
		if err != nil {
			return "", nil, err
		}
		if !found {
			return "", nil, fmt.Errorf("session %s expired or was deleted meanwhile", c.showID(e.sid(match[0])))
		}
		return match[0], data, nil
	}
	return "", nil, fmt.Errorf("%q matches %d sessions: give more characters of the id", sid, len(match))
}

func (c *cli) writeJSON(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = c.stdout.Write(out.Bytes())
	return err
}

// marshal is json.Marshal without HTML escaping ("<masked: ...>" stays
// readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// quietLogger logs the store's warnings to stderr, without debug chatter.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
