// Package memstore keeps sessions in the memory of the current process,
// registered as SESSION_TYPE=memory.
//
// It suits tests, development and single-instance deployments: sessions are
// lost on restart and not shared between processes. Expiry is enforced on
// every read; a janitor goroutine also removes expired entries periodically
// so that abandoned sessions do not hold memory. Close stops it.
package memstore

import (
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ginsession/ginsession/backends"
)

func init() {
	backends.Register("memory", func(_ context.Context, cfg backends.Config) (backends.Store, error) {
		if cfg.MemoryMaxEntries < 0 {
			return nil, fmt.Errorf("ginsession: memory: MemoryMaxEntries is %d; want 0 (unlimited) or a positive number", cfg.MemoryMaxEntries)
		}
		return New(Options{MaxEntries: cfg.MemoryMaxEntries}), nil
	})
}

// DefaultJanitorInterval is how often the janitor removes expired entries
// when Options.JanitorInterval is zero.
const DefaultJanitorInterval = time.Minute

// Options configure a memory store. The zero value is an unbounded store
// with a janitor running every minute.
type Options struct {
	// MaxEntries bounds the number of entries; 0 (or negative) means
	// unlimited. When the store is full, inserting a new key first evicts
	// the entry that expires soonest — an already expired entry if there
	// is one, otherwise the live session closest to its end. Replacing an
	// existing key never evicts.
	MaxEntries int

	// JanitorInterval is how often expired entries are removed in the
	// background. 0 means DefaultJanitorInterval; negative disables the
	// janitor (expired entries are still never returned, and Cleanup
	// removes them on demand).
	JanitorInterval time.Duration

	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Store is an in-process session store. It implements backends.Store,
// backends.Toucher, backends.CompareAndSwapper, backends.Cleaner,
// backends.Lister and io.Closer, and is safe for concurrent use.
//
// Values are copied on the way in and on the way out. Versions for
// compare-and-swap come from one counter per store, so a version is never
// reused for a key, even after the key is deleted and saved again.
//
// A Store that becomes unreachable without being closed stops its janitor
// when it is garbage collected.
type Store struct {
	s *state
}

// state is what the janitor goroutine references, so that an abandoned
// Store can be collected and its janitor stopped.
type state struct {
	mu      sync.RWMutex
	entries map[string]*entry
	byExp   expHeap
	seq     uint64
	closed  bool

	max int
	now func() time.Time

	users map[string]map[string]link // user index (users.go), under mu

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type entry struct {
	key     string
	data    []byte
	expires time.Time
	version uint64
	index   int // position in byExp
}

// Errors carry the memory store's prefix and still match the shared ones.
var (
	errConflict = &storeError{"ginsession: memory: session changed concurrently", backends.ErrConflict}
	errClosed   = &storeError{"ginsession: memory: store is closed", backends.ErrClosed}
)

type storeError struct {
	msg string
	err error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.err }

// New returns a memory store and starts its janitor (unless disabled).
func New(opts Options) *Store {
	st := &state{
		entries: make(map[string]*entry),
		max:     max(opts.MaxEntries, 0),
		now:     opts.Now,
	}
	if st.now == nil {
		st.now = time.Now
	}
	s := &Store{s: st}
	interval := opts.JanitorInterval
	if interval == 0 {
		interval = DefaultJanitorInterval
	}
	if interval > 0 {
		st.stop = make(chan struct{})
		st.done = make(chan struct{})
		go st.janitor(interval)
		runtime.AddCleanup(s, func(st *state) { st.close() }, st)
	}
	return s
}

func (st *state) janitor(interval time.Duration) {
	defer close(st.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			st.mu.Lock()
			if !st.closed {
				now := st.now()
				st.removeExpired(now)
				st.pruneLinks(now)
			}
			st.mu.Unlock()
		}
	}
}

// close marks the store closed, drops its entries and stops the janitor,
// waiting for it to exit. It is idempotent.
func (st *state) close() {
	st.closeOnce.Do(func() {
		st.mu.Lock()
		st.closed = true
		st.entries = nil
		st.byExp = nil
		st.users = nil
		st.mu.Unlock()
		if st.stop != nil {
			close(st.stop)
			<-st.done
		}
	})
}

// Close stops the janitor and releases every entry. Calls after Close
// return an error matching backends.ErrClosed. Close is idempotent and
// always returns nil.
func (s *Store) Close() error {
	s.s.close()
	return nil
}

// Len returns the number of entries held, including expired ones the
// janitor has not removed yet.
func (s *Store) Len() int {
	s.s.mu.RLock()
	defer s.s.mu.RUnlock()
	return len(s.s.entries)
}

func check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: memory: %w", err)
	}
	return nil
}

// live returns the entry for key if it exists and has not expired.
// The caller holds st.mu (read or write).
func (st *state) live(key string, now time.Time) *entry {
	e := st.entries[key]
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// lock checks ctx and takes the store's lock; when err is nil the caller
// holds st.mu and unlocks it. A closed store gives errClosed.
func (s *Store) lock(ctx context.Context) (st *state, err error) {
	if err := check(ctx); err != nil {
		return nil, err
	}
	st = s.s
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil, errClosed
	}
	return st, nil
}

// rlock is lock for reading: the caller releases it with st.mu.RUnlock.
func (s *Store) rlock(ctx context.Context) (st *state, err error) {
	if err := check(ctx); err != nil {
		return nil, err
	}
	st = s.s
	st.mu.RLock()
	if st.closed {
		st.mu.RUnlock()
		return nil, errClosed
	}
	return st, nil
}

// Load returns a copy of the value stored under key. Missing and expired
// keys give found=false.
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	now := s.s.now()
	st, err := s.rlock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer st.mu.RUnlock()
	e := st.live(key, now)
	if e == nil {
		return nil, false, nil
	}
	return slices.Clone(e.data), true, nil
}

// Save stores a copy of data under key, expiring after ttl.
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	buf := clone(data)
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	st.put(key, buf, st.now().Add(ttl))
	return nil
}

// clone copies data; an empty value stays a non-nil empty slice.
func clone(data []byte) []byte {
	return append(make([]byte, 0, len(data)), data...)
}

// put inserts or replaces key. The caller holds st.mu for writing.
func (st *state) put(key string, data []byte, expires time.Time) {
	st.seq++
	if e := st.entries[key]; e != nil {
		e.data, e.expires, e.version = data, expires, st.seq
		heap.Fix(&st.byExp, e.index)
		return
	}
	if st.max > 0 {
		for len(st.entries) >= st.max && len(st.byExp) > 0 {
			victim := heap.Pop(&st.byExp).(*entry)
			delete(st.entries, victim.key)
		}
	}
	e := &entry{key: key, data: data, expires: expires, version: st.seq}
	st.entries[key] = e
	heap.Push(&st.byExp, e)
}

// remove deletes e. The caller holds st.mu for writing.
func (st *state) remove(e *entry) {
	heap.Remove(&st.byExp, e.index)
	delete(st.entries, e.key)
}

// removeExpired removes every entry expired at now and returns how many.
// The caller holds st.mu for writing.
func (st *state) removeExpired(now time.Time) int {
	n := 0
	for len(st.byExp) > 0 && !now.Before(st.byExp[0].expires) {
		e := heap.Pop(&st.byExp).(*entry)
		delete(st.entries, e.key)
		n++
	}
	return n
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if e := st.entries[key]; e != nil {
		st.remove(e)
	}
	return nil
}

// Touch resets the expiry of a live entry to ttl from now. A missing or
// expired key is left missing.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	now := st.now()
	if e := st.live(key, now); e != nil {
		e.expires = now.Add(ttl)
		heap.Fix(&st.byExp, e.index)
	}
	return nil
}

// LoadVersion returns a copy of the value under key and its version, a
// uint64. When refresh is positive it also resets the expiry to refresh
// from now and sets Record.Refreshed; the version is unchanged by that.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	if refresh <= 0 {
		now := s.s.now()
		st, err := s.rlock(ctx)
		if err != nil {
			return backends.Record{}, err
		}
		defer st.mu.RUnlock()
		e := st.live(key, now)
		if e == nil {
			return backends.Record{}, nil
		}
		return backends.Record{Data: slices.Clone(e.data), Found: true, Version: e.version}, nil
	}
	st, err := s.lock(ctx)
	if err != nil {
		return backends.Record{}, err
	}
	defer st.mu.Unlock()
	now := st.now()
	e := st.live(key, now)
	if e == nil {
		return backends.Record{}, nil
	}
	e.expires = now.Add(refresh)
	heap.Fix(&st.byExp, e.index)
	return backends.Record{Data: slices.Clone(e.data), Found: true, Version: e.version, Refreshed: true}, nil
}

// SaveIf stores a copy of data under key only if the live entry still has
// version (a uint64 from LoadVersion), or, for a nil version, only if there
// is no live entry. Otherwise it returns an error matching
// backends.ErrConflict. A version of any other type is an error.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, version any, ttl time.Duration) error {
	var want uint64
	if version != nil {
		v, ok := version.(uint64)
		if !ok {
			return fmt.Errorf("ginsession: memory: SaveIf: version of type %T did not come from this store", version)
		}
		want = v
	}
	buf := clone(data)
	st, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	now := st.now()
	e := st.live(key, now)
	if version == nil && e != nil || version != nil && (e == nil || e.version != want) {
		return errConflict
	}
	st.put(key, buf, now.Add(ttl))
	return nil
}

// Cleanup removes every expired entry and reports how many it removed.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	st, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer st.mu.Unlock()
	now := st.now()
	n := st.removeExpired(now)
	st.pruneLinks(now) // links to the sessions just removed, and older ones
	return n, nil
}

// Keys returns the live keys, sorted.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := check(ctx); err != nil {
		return nil, err
	}
	st := s.s
	now := st.now()
	st.mu.RLock()
	if st.closed {
		st.mu.RUnlock()
		return nil, errClosed
	}
	keys := make([]string, 0, len(st.entries))
	for k, e := range st.entries {
		if now.Before(e.expires) {
			keys = append(keys, k)
		}
	}
	st.mu.RUnlock()
	slices.Sort(keys)
	return keys, nil
}

// expHeap orders entries by expiry, soonest first.
type expHeap []*entry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Cleaner           = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)
