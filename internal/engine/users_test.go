package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// indexSpy is the memory store's own user index, counting the engine's
// calls and failing them on demand.
type indexSpy struct {
	backends.UserIndexer
	links, unlinks                atomic.Int32
	lastTTL                       atomic.Int64
	failLink, failUnlink, failKey atomic.Bool
}

func (s *indexSpy) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	s.links.Add(1)
	s.lastTTL.Store(int64(ttl))
	if s.failLink.Load() {
		return errDown
	}
	return s.UserIndexer.LinkUser(ctx, user, key, ttl)
}

func (s *indexSpy) UnlinkUser(ctx context.Context, user, key string) error {
	s.unlinks.Add(1)
	if s.failUnlink.Load() {
		return errDown
	}
	return s.UserIndexer.UnlinkUser(ctx, user, key)
}

func (s *indexSpy) UserKeys(ctx context.Context, user string) ([]string, error) {
	if s.failKey.Load() {
		return nil, errDown
	}
	return s.UserIndexer.UserKeys(ctx, user)
}

// userHarness is a harness whose engine keeps its user index through an
// indexSpy (Config.Users) over the memory store, logging to a buffer.
type userHarness struct {
	*harness
	spy *indexSpy
	mu  sync.Mutex
	log strings.Builder
}

func newUserHarness(t *testing.T, mutate func(*Config)) *userHarness {
	u := &userHarness{}
	u.harness = newHarness(t, false, func(c *Config) {
		u.spy = &indexSpy{UserIndexer: c.Store.(backends.UserIndexer)}
		c.Users = u.spy
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&u.mu, &u.log}, nil))
		if mutate != nil {
			mutate(c)
		}
	})
	return u
}

func (u *userHarness) logged() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.log.String()
}

// indexed returns the keys the store's index holds for user.
func (h *harness) indexed(user string) []string {
	h.t.Helper()
	keys, err := h.mem.UserKeys(context.Background(), user)
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func (h *harness) ok(res result) result {
	h.t.Helper()
	if res.err != nil {
		h.t.Fatal(res.err)
	}
	return res
}

// The index follows a session through its life: linked once (for twice the
// lifetime) when a user is set, not again while this process linked it
// recently, moved on SetUser of another user and on Regenerate, removed on
// SetUser(""), Clear and Destroy. The user is the session's first entry
// here (a non-permanent session).
func TestUserIndexFollowsTheSession(t *testing.T) {
	h := newUserHarness(t, func(c *Config) { c.Permanent = false })
	res := h.ok(h.do("", func(r *Request) { r.SetUser("alice") }))
	sid := res.sid
	key := h.e.Key(sid)
	if got := h.indexed("alice"); !slices.Equal(got, []string{key}) {
		t.Fatalf("alice's index = %v, want [%s]", got, key)
	}
	if n, ttl := h.spy.links.Load(), time.Duration(h.spy.lastTTL.Load()); n != 1 || ttl != 2*h.e.cfg.Lifetime {
		t.Fatalf("%d links with ttl %v, want 1 for twice the lifetime (%v)", n, ttl, 2*h.e.cfg.Lifetime)
	}
	if stored, _ := h.stored(sid); stored[UserKey] != "alice" {
		t.Fatalf("stored = %v", stored)
	}

	// Requests that write, refresh or only read do not link again.
	for i := range 3 {
		h.ok(h.do(sid, func(r *Request) { r.Set("n", int64(i)) }))
	}
	h.ok(h.do(sid, func(r *Request) {
		if u := r.User(); u != "alice" {
			t.Errorf("User = %q", u)
		}
		if slices.Contains(r.Keys(), UserKey) || r.Len() != 1 {
			t.Errorf("Keys = %v, Len = %d: the user id is not hidden", r.Keys(), r.Len())
		}
	}))
	saves := h.store.saveIfs.Load()
	h.ok(h.do(sid, func(r *Request) { r.SetUser("alice") })) // the same user: nothing to write
	if n := h.spy.links.Load(); n != 1 {
		t.Fatalf("%d links after five more requests, want 1", n)
	}
	if got := h.store.saveIfs.Load(); got != saves {
		t.Errorf("SetUser of the session's own user wrote it (%d writes, were %d)", got, saves)
	}
	if n := h.spy.unlinks.Load(); n != 0 {
		t.Fatalf("%d unlinks while the session stayed alice's", n)
	}

	// Another user: linked to bob, unlinked from alice.
	h.ok(h.do(sid, func(r *Request) { r.SetUser("bob") }))
	if a, b := h.indexed("alice"), h.indexed("bob"); len(a) != 0 || !slices.Equal(b, []string{key}) {
		t.Fatalf("after SetUser(bob): alice %v, bob %v", a, b)
	}
	if n := h.spy.links.Load(); n != 2 {
		t.Fatalf("%d links, want 2", n)
	}

	// Regenerate moves the link to the new id.
	res = h.ok(h.do(sid, func(r *Request) {
		if err := r.Regenerate(); err != nil {
			t.Fatal(err)
		}
	}))
	sid, key = res.sid, h.e.Key(res.sid)
	if b := h.indexed("bob"); !slices.Equal(b, []string{key}) {
		t.Fatalf("after Regenerate: bob %v, want [%s]", b, key)
	}

	// SetUser("") unties the session, which lives on.
	h.ok(h.do(sid, func(r *Request) { r.SetUser("") }))
	if b := h.indexed("bob"); len(b) != 0 {
		t.Fatalf("after SetUser(\"\"): bob %v", b)
	}
	h.ok(h.do(sid, func(r *Request) {
		if u := r.User(); u != "" {
			t.Errorf("User = %q after SetUser(\"\")", u)
		}
		if v, ok := r.Get("n"); !ok || v != int64(2) {
			t.Errorf("n = %v, %v: the session did not live on", v, ok)
		}
	}))
	unlinks := h.spy.unlinks.Load()
	h.ok(h.do(sid, func(r *Request) { r.SetUser("") })) // no user: nothing to do
	if n := h.spy.unlinks.Load(); n != unlinks {
		t.Errorf("SetUser(\"\") on a session without user unlinked (%d, were %d)", n, unlinks)
	}

	// Clear and Destroy remove the link with the session.
	for _, end := range []func(r *Request){(*Request).Clear, (*Request).Destroy} {
		sid := h.ok(h.do(sid, func(r *Request) { r.SetUser("carol") })).sid
		if c := h.indexed("carol"); len(c) != 1 {
			t.Fatalf("carol %v", c)
		}
		links := h.spy.links.Load()
		h.ok(h.do(sid, end))
		if c := h.indexed("carol"); len(c) != 0 {
			t.Fatalf("carol %v after the session ended", c)
		}
		if n := h.spy.links.Load(); n != links {
			t.Errorf("the session was linked again on its way out")
		}
		if _, found := h.stored(sid); found {
			t.Fatal("the session is still stored")
		}
	}
}

// Without Config.Users the engine uses the store's own index; a store
// without one stores the user in the session but has no index to ask.
func TestUserIndexOfTheStore(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.ok(h.do("", func(r *Request) { r.SetUser("alice") })).sid
	got, err := h.e.UserSessions(context.Background(), "alice")
	if err != nil || !slices.Equal(got, []string{h.e.Key(sid)}) {
		t.Fatalf("UserSessions = %v, %v", got, err)
	}

	p := newHarness(t, true, nil)
	sid = p.ok(p.do("", func(r *Request) { r.SetUser("alice") })).sid
	p.ok(p.do(sid, func(r *Request) {
		if u := r.User(); u != "alice" {
			t.Errorf("User = %q on a store without index", u)
		}
	}))
	if _, err := p.e.UserSessions(context.Background(), "alice"); !errors.Is(err, ErrNoIndex) {
		t.Errorf("UserSessions without index: %v", err)
	}
	if n, err := p.e.RevokeUser(context.Background(), "alice"); n != 0 || !errors.Is(err, ErrNoIndex) {
		t.Errorf("RevokeUser without index: %d, %v", n, err)
	}
}

// UserSessions and RevokeUser check every session the index gives: a stale
// link (a session gone, or now another user's) is removed and never acted
// on; the user's own sessions are listed, or deleted and unlinked.
func TestUserSessionsCheckEachLink(t *testing.T) {
	h := newUserHarness(t, nil)
	ctx := context.Background()
	a1 := h.ok(h.do("", func(r *Request) { r.SetUser("alice") })).sid
	a2 := h.ok(h.do("", func(r *Request) { r.SetUser("alice"); r.Set("x", "y") })).sid
	erin := h.ok(h.do("", func(r *Request) { r.SetUser("erin") })).sid
	mine := []string{h.e.Key(a1), h.e.Key(a2)}
	sort.Strings(mine)

	if got, err := h.e.UserSessions(ctx, ""); got != nil || err != nil {
		t.Fatalf("UserSessions(\"\") = %v, %v", got, err)
	}
	// Stale links: to erin's session and to a session that never was.
	for _, key := range []string{h.e.Key(erin), h.e.Key("gone")} {
		if err := h.mem.LinkUser(ctx, "alice", key, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.e.UserSessions(ctx, "alice")
	sort.Strings(got)
	if err != nil || !slices.Equal(got, mine) {
		t.Fatalf("UserSessions(alice) = %v, %v; want %v", got, err, mine)
	}
	if got := h.indexed("alice"); !slices.Equal(got, mine) {
		t.Fatalf("alice's index = %v: the stale links are not removed", got)
	}
	if strings.Contains(h.logged(), "WARN") {
		t.Fatalf("logged: %s", h.logged())
	}

	// A stale link whose removal fails is logged, and still not trusted.
	h.mem.LinkUser(ctx, "alice", h.e.Key(erin), time.Hour)
	h.spy.failUnlink.Store(true)
	got, err = h.e.UserSessions(ctx, "alice")
	if err != nil || len(got) != 2 {
		t.Fatalf("UserSessions(alice) with a failing unlink = %v, %v", got, err)
	}
	if n := strings.Count(h.logged(), "could not remove a stale entry"); n != 1 {
		t.Fatalf("a failed removal of a stale link logged %d times: %s", n, h.logged())
	}
	h.spy.failUnlink.Store(false)
	if got := h.indexed("alice"); len(got) != 3 {
		t.Fatalf("alice's index = %v: the stale link whose removal failed is gone", got)
	}
	h.e.UserSessions(ctx, "alice") // removes it
	if got := h.indexed("alice"); !slices.Equal(got, mine) {
		t.Fatalf("alice's index = %v, want %v", got, mine)
	}

	h.spy.failKey.Store(true)
	if _, err := h.e.UserSessions(ctx, "alice"); !errors.Is(err, errDown) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("UserSessions with the index down: %v", err)
	}
	h.spy.failKey.Store(false)

	// RevokeUser: a failing delete is reported; then all of alice's
	// sessions go (an unlink failure after a delete is harmless: not
	// logged), erin's stays.
	h.store.failDeletes.Store(1)
	if _, err := h.e.RevokeUser(ctx, "alice"); !errors.Is(err, errDown) {
		t.Fatalf("RevokeUser with a failing delete: %v", err)
	}
	h.store.failDeletes.Store(0)
	before := h.logged()
	h.spy.failUnlink.Store(true)
	if n, err := h.e.RevokeUser(ctx, "alice"); n != 2 || err != nil {
		t.Fatalf("RevokeUser(alice) = %d, %v; want 2", n, err)
	}
	h.spy.failUnlink.Store(false)
	if h.logged() != before {
		t.Errorf("an unlink failure after revoking logged: %s", h.logged()[len(before):])
	}
	for _, sid := range []string{a1, a2} {
		if _, found := h.stored(sid); found {
			t.Errorf("revoked session %s still stored", sid)
		}
	}
	if got, err := h.e.UserSessions(ctx, "erin"); err != nil || !slices.Equal(got, []string{h.e.Key(erin)}) {
		t.Fatalf("erin's sessions after revoking alice: %v, %v", got, err)
	}
	if u := h.e.UserOfStored(h.e.Key(erin), h.raw(erin)); u != "erin" {
		t.Errorf("UserOfStored = %q", u)
	}
	if u := h.e.UserOfStored(h.e.Key(erin), []byte("\xc1 not a session")); u != "" {
		t.Errorf("UserOfStored of garbage = %q", u)
	}
}

// A session that cannot be linked is not written (it would survive "log out
// everywhere"); a stale link that cannot be removed is only logged.
func TestUserIndexFailures(t *testing.T) {
	h := newUserHarness(t, nil)
	h.spy.failLink.Store(true)
	res := h.do("", func(r *Request) { r.SetUser("alice"); r.Set("a", "1") })
	if !errors.Is(res.err, errDown) || !errors.Is(res.err, ErrUnavailable) {
		t.Fatalf("commit with the index down: %v", res.err)
	}
	if _, found := h.stored(res.sid); found {
		t.Fatal("a session that could not be indexed was stored")
	}
	h.spy.failLink.Store(false)

	sid := h.ok(h.do("", func(r *Request) { r.SetUser("alice") })).sid
	h.spy.failUnlink.Store(true)
	h.ok(h.do(sid, func(r *Request) { r.SetUser("bob") }))
	h.spy.failUnlink.Store(false)
	if !strings.Contains(h.logged(), "could not remove a session from its user's index") ||
		!strings.Contains(h.logged(), "sid="+LogSID(sid)) {
		t.Fatalf("a failed unlink is not logged with the session's id: %s", h.logged())
	}
	if b := h.indexed("bob"); !slices.Equal(b, []string{h.e.Key(sid)}) {
		t.Fatalf("bob %v", b)
	}
}

// A user id longer than MaxUserLen fails the commit with the first such
// error; one of MaxUserLen bytes is kept.
func TestSetUserLength(t *testing.T) {
	h := newUserHarness(t, nil)
	long := strings.Repeat("u", MaxUserLen)
	sid := h.ok(h.do("", func(r *Request) { r.SetUser(long) })).sid
	if got := h.indexed(long); len(got) != 1 {
		t.Fatalf("a user id of MaxUserLen bytes: index %v", got)
	}
	res := h.do(sid, func(r *Request) {
		r.SetUser(long + "1")
		r.SetUser(long + "22")
	})
	var e *Error
	if !errors.As(res.err, &e) || !errors.Is(res.err, ErrNotEncodable) || !strings.Contains(e.Detail, "513 bytes") {
		t.Fatalf("commit after SetUser of %d bytes: %v", MaxUserLen+1, res.err)
	}
	h.ok(h.do(sid, func(r *Request) {
		if u := r.User(); u != long {
			t.Errorf("User = %.10q…, want the earlier one", u)
		}
	}))
}

// The memory of recent links is bounded: at maxLinked entries it starts
// again (which only costs re-links).
func TestRecentLinksBounded(t *testing.T) {
	u := &userIndex{lifetime: time.Hour, linked: map[string]linkRec{}}
	now := time.Now()
	for i := range maxLinked - 1 {
		u.linked[strconv.Itoa(i)] = linkRec{user: "u", at: now}
	}
	u.note("u", "last", now)
	if len(u.linked) != maxLinked || !u.recent("u", "last", now) {
		t.Fatalf("%d links remembered, want %d", len(u.linked), maxLinked)
	}
	u.note("u", "over", now)
	if len(u.linked) != 1 || !u.recent("u", "over", now) || u.recent("u", "last", now) {
		t.Fatalf("%d links remembered past the bound, want 1", len(u.linked))
	}
	if u.recent("v", "over", now) || u.recent("u", "over", now.Add(time.Hour)) || !u.recent("u", "over", now.Add(time.Hour-1)) {
		t.Fatal("recent: another user, or a link a lifetime old, counts as recent")
	}
}
