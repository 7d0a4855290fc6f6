// Package health counts a session store's calls and errors and turns a run
// of failures into an outage an operator can read in the log: one ERROR
// when the store starts failing (with the error), a summary at most every
// SummaryEvery while it stays down (calls and requests failed, first and
// last error), and one INFO when it answers again — the first successful
// call after Settle without a failure — with the outage's duration.
// Per-request detail is left to DEBUG.
//
// The tracker sees the store through wrappers (Store, CAS, Toucher,
// UserIndexer) that forward every call and observe its result, and through RequestFailed,
// called for each request answered by the ErrorHandler. It imports
// neither the root package nor gin.
package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// DefaultSummaryEvery is the least time between two summaries of an
// ongoing outage.
const DefaultSummaryEvery = 10 * time.Second

// DefaultSettle is how long the store must go without a failed call
// before a successful one ends an outage. Without it, a store that fails
// only some calls (one dead master of a Redis Cluster fails a third of the
// sessions) would start and end an outage on every other call.
const DefaultSettle = time.Second

// Kind sorts a store error.
type Kind int

// The kinds of store errors, from Classify.
const (
	// None: no error.
	None Kind = iota
	// Unavailable: the store failed (network, refused connection, server
	// error): part of an outage.
	Unavailable
	// Timeout: the call reached its deadline (SESSION_STORE_TIMEOUT): part
	// of an outage.
	Timeout
	// Conflict: a compare-and-swap write lost a race (the store answered).
	Conflict
	// TooLarge: the store refused the value's size (the store answered).
	TooLarge
	// Canceled: the caller gave up (the client went away); not the store's
	// fault.
	Canceled
	// Closed: the store was closed.
	Closed
	// Other: a request failed for a reason that is not the store's (a value
	// that cannot be encoded, a panic…); only RequestFailed takes it.
	Other
)

// Classify returns the kind of err.
func Classify(err error) Kind {
	switch {
	case err == nil:
		return None
	case errors.Is(err, backends.ErrConflict):
		return Conflict
	case errors.Is(err, backends.ErrTooLarge):
		return TooLarge
	case errors.Is(err, backends.ErrClosed):
		return Closed
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unavailable
}

// Outage reports whether an error of this kind means the store is not
// answering.
func (k Kind) Outage() bool { return k == Unavailable || k == Timeout }

// Config configures a Tracker. The zero value is usable.
type Config struct {
	// Logger receives the outage lines; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SummaryEvery is the least time between two summaries of an ongoing
	// outage; zero means DefaultSummaryEvery.
	SummaryEvery time.Duration
	// Settle is how long the store must go without a failed call before a
	// successful one ends an outage; zero means DefaultSettle.
	Settle time.Duration
}

// Stats are the counters since the tracker was made, and the state of the
// store now.
type Stats struct {
	// Loads, Writes, Touches and Deletes count store calls, failed or not:
	// Load and LoadVersion; Save and SaveIf; Touch; Delete.
	Loads, Writes, Touches, Deletes uint64
	// UserIndex counts calls to the store's user index, failed or not:
	// LinkUser, UnlinkUser and UserKeys.
	UserIndex uint64
	// Unavailable counts calls that failed because the store did not
	// answer or answered an error (connection refused, server error…).
	Unavailable uint64
	// Timeouts counts calls that reached their deadline.
	Timeouts uint64
	// TooLarge counts writes the store refused for their size.
	TooLarge uint64
	// Canceled counts calls abandoned because the request's client went away.
	Canceled uint64
	// Conflicts counts compare-and-swap writes that lost a race with
	// another request; each is reloaded and retried unless the request
	// gives up.
	Conflicts uint64
	// Retries counts conflicts after which the write was tried again
	// (Conflicts minus the requests that gave up on a conflict).
	Retries uint64
	// FailedRequests counts requests answered by the ErrorHandler, and
	// FailedByKind splits them by the kind of their error.
	FailedRequests uint64
	FailedByKind   map[string]uint64
	// Outages counts the times the store started failing.
	Outages uint64
	// Down reports an outage in progress, which began at DownSince.
	Down      bool
	DownSince time.Time
}

// Tracker counts calls and follows outages. It is safe for concurrent use.
type Tracker struct {
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration
	settle time.Duration

	loads, writes, touches, deletes          atomic.Uint64
	userIndex                                atomic.Uint64
	unavailable, timeouts, tooLarge, aborted atomic.Uint64
	conflicts, failed, outages               atomic.Uint64
	failedKind                               [Other + 1]atomic.Uint64

	isDown atomic.Bool // down, readable without mu: the common path takes no lock

	mu          sync.Mutex
	down        bool
	since       time.Time
	lastFail    time.Time
	lastSummary time.Time
	first, last error
	callsFailed uint64 // during this outage
	reqsFailed  uint64 // during this outage
}

// New returns a tracker.
func New(cfg Config) *Tracker {
	t := &Tracker{log: cfg.Logger, now: cfg.Now, every: cfg.SummaryEvery, settle: cfg.Settle}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.every <= 0 {
		t.every = DefaultSummaryEvery
	}
	if t.settle <= 0 {
		t.settle = DefaultSettle
	}
	return t
}

// Observe records the result of one store call.
func (t *Tracker) Observe(err error) {
	k := Classify(err)
	switch k {
	case Unavailable:
		t.unavailable.Add(1)
	case Timeout:
		t.timeouts.Add(1)
	case TooLarge:
		t.tooLarge.Add(1)
	case Conflict:
		t.conflicts.Add(1)
	case Canceled:
		t.aborted.Add(1)
	}
	switch {
	case k.Outage():
		t.failing(err)
	case k == None || k == Conflict || k == TooLarge:
		// The store answered.
		t.answering()
	}
}

func (t *Tracker) failing(err error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastFail = now
	if !t.down {
		t.down, t.since, t.lastSummary = true, now, now
		t.isDown.Store(true)
		t.first, t.last = err, err
		t.callsFailed, t.reqsFailed = 1, 0
		t.outages.Add(1)
		t.log.Error("ginsession: session store failing; requests that need it are answered by the ErrorHandler until it recovers", "err", err)
		return
	}
	t.last = err
	t.callsFailed++
	if now.Sub(t.lastSummary) >= t.every {
		t.lastSummary = now
		t.log.Error("ginsession: session store still failing",
			"for", now.Sub(t.since).Round(time.Millisecond), "failed_calls", t.callsFailed, "failed_requests", t.reqsFailed,
			"first_err", t.first, "last_err", t.last)
	}
}

func (t *Tracker) answering() {
	if !t.isDown.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.down {
		return
	}
	now := t.now()
	if now.Sub(t.lastFail) < t.settle {
		return // still failing now and then: the outage goes on
	}
	t.down = false
	t.isDown.Store(false)
	t.log.Info("ginsession: session store recovered",
		"outage", now.Sub(t.since).Round(time.Millisecond), "last_failure", t.lastFail, "failed_calls", t.callsFailed, "failed_requests", t.reqsFailed,
		"first_err", t.first, "last_err", t.last)
	t.first, t.last = nil, nil
}

// RequestFailed records a request answered by the ErrorHandler with an
// error of kind k (the caller knows its own errors; Classify sorts those
// that wrap a store's).
func (t *Tracker) RequestFailed(k Kind) {
	if k < 0 || k > Other {
		k = Other
	}
	t.failed.Add(1)
	t.failedKind[k].Add(1)
	if k.Outage() {
		t.mu.Lock()
		if t.down {
			t.reqsFailed++
		}
		t.mu.Unlock()
	}
}

var kindNames = [...]string{None: "none", Unavailable: "unavailable", Timeout: "timeout", Conflict: "conflict", TooLarge: "too_large", Canceled: "canceled", Closed: "closed", Other: "other"}

// String returns the kind's name as Stats.FailedByKind uses it.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Stats returns the counters and the store's state.
func (t *Tracker) Stats() Stats {
	s := Stats{
		Loads: t.loads.Load(), Writes: t.writes.Load(), Touches: t.touches.Load(), Deletes: t.deletes.Load(),
		UserIndex:   t.userIndex.Load(),
		Unavailable: t.unavailable.Load(), Timeouts: t.timeouts.Load(), TooLarge: t.tooLarge.Load(), Canceled: t.aborted.Load(),
		Conflicts: t.conflicts.Load(), FailedRequests: t.failed.Load(), Outages: t.outages.Load(),
		FailedByKind: map[string]uint64{},
	}
	for k := range t.failedKind {
		if n := t.failedKind[k].Load(); n > 0 {
			s.FailedByKind[Kind(k).String()] = n
		}
	}
	if gaveUp := s.FailedByKind[Conflict.String()]; s.Conflicts > gaveUp {
		s.Retries = s.Conflicts - gaveUp
	}
	t.mu.Lock()
	s.Down, s.DownSince = t.down, t.since
	t.mu.Unlock()
	if !s.Down {
		s.DownSince = time.Time{}
	}
	return s
}

// Wrap returns st with every call counted and observed. The result
// implements backends.CompareAndSwapper, backends.Toucher and
// backends.UserIndexer exactly when st does, so that a caller discovering
// them by type assertion sees the same capabilities; no other optional
// interface is forwarded (keep st itself for Cleanup, Keys and Close).
func (t *Tracker) Wrap(st backends.Store) backends.Store {
	if st == nil {
		return nil
	}
	b := store{t: t, st: st}
	c, isCAS := st.(backends.CompareAndSwapper)
	tc, isToucher := st.(backends.Toucher)
	ix, isIndexer := st.(backends.UserIndexer)
	cw, tw, uw := cas{t: t, c: c}, toucher{t: t, tc: tc}, users{t: t, ix: ix}
	switch {
	case isCAS && isToucher && isIndexer:
		return &casToucherUsersStore{b, cw, tw, uw}
	case isCAS && isToucher:
		return &casToucherStore{b, cw, tw}
	case isCAS && isIndexer:
		return &casUsersStore{b, cw, uw}
	case isToucher && isIndexer:
		return &toucherUsersStore{b, tw, uw}
	case isCAS:
		return &casStore{b, cw}
	case isToucher:
		return &toucherStore{b, tw}
	case isIndexer:
		return &usersStore{b, uw}
	}
	return &b
}

type casToucherUsersStore struct {
	store
	cas
	toucher
	users
}

type casToucherStore struct {
	store
	cas
	toucher
}

type casUsersStore struct {
	store
	cas
	users
}

type toucherUsersStore struct {
	store
	toucher
	users
}

type casStore struct {
	store
	cas
}

type toucherStore struct {
	store
	toucher
}

type usersStore struct {
	store
	users
}

type store struct {
	t  *Tracker
	st backends.Store
}

func (s *store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	s.t.loads.Add(1)
	data, found, err := s.st.Load(ctx, key)
	s.t.Observe(err)
	return data, found, err
}

func (s *store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	s.t.writes.Add(1)
	err := s.st.Save(ctx, key, data, ttl)
	s.t.Observe(err)
	return err
}

func (s *store) Delete(ctx context.Context, key string) error {
	s.t.deletes.Add(1)
	err := s.st.Delete(ctx, key)
	s.t.Observe(err)
	return err
}

type cas struct {
	t *Tracker
	c backends.CompareAndSwapper
}

func (c *cas) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	c.t.loads.Add(1)
	rec, err := c.c.LoadVersion(ctx, key, refresh)
	c.t.Observe(err)
	return rec, err
}

func (c *cas) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	c.t.writes.Add(1)
	err := c.c.SaveIf(ctx, key, data, version, ttl)
	c.t.Observe(err)
	return err
}

type toucher struct {
	t  *Tracker
	tc backends.Toucher
}

func (tc *toucher) Touch(ctx context.Context, key string, ttl time.Duration) error {
	tc.t.touches.Add(1)
	err := tc.tc.Touch(ctx, key, ttl)
	tc.t.Observe(err)
	return err
}

type users struct {
	t  *Tracker
	ix backends.UserIndexer
}

func (u *users) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	u.t.userIndex.Add(1)
	err := u.ix.LinkUser(ctx, user, key, ttl)
	u.t.Observe(err)
	return err
}

func (u *users) UnlinkUser(ctx context.Context, user, key string) error {
	u.t.userIndex.Add(1)
	err := u.ix.UnlinkUser(ctx, user, key)
	u.t.Observe(err)
	return err
}

func (u *users) UserKeys(ctx context.Context, user string) ([]string, error) {
	u.t.userIndex.Add(1)
	keys, err := u.ix.UserKeys(ctx, user)
	u.t.Observe(err)
	return keys, err
}
