package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// Options tune the suite to a store's limits. The zero value suits a store
// with one-second expiry, no item-size limit and real persistence.
type Options struct {
	// Granularity is the store's expiry resolution (Redis and memcached:
	// 1s). Expiry subtests save with TTLs of a few multiples of it and sleep
	// a few multiples of it. Zero means one second.
	Granularity time.Duration

	// MaxValueSize, when positive, declares that the store has an item-size
	// limit and is guaranteed to hold values of up to MaxValueSize bytes
	// (memcached: a little under 1 MiB). The suite then round-trips a value
	// of exactly that size and accepts an error matching
	// [backends.ErrTooLarge] for a 1 MiB value. When zero, a 1 MiB value
	// must round-trip.
	MaxValueSize int

	// NoPersistence declares a store that keeps nothing (the null store).
	// The suite then checks only that Save, Load, Delete and the optional
	// methods never fail, that Load never finds anything, and the
	// cancelled-context and use-after-Close behaviour.
	NoPersistence bool

	// ContentVersions declares that a CompareAndSwapper's versions compare
	// the stored bytes (Redis, SQL and MongoDB keep Flask's exact value and
	// no version field). A key deleted and re-created with identical bytes
	// then matches a version from before the delete. No update is lost by
	// that: the write is based on exactly the current data. The suite skips
	// only that ABA check.
	ContentVersions bool
}

// Run runs the conformance suite against the stores newStore returns.
//
// newStore must return a fresh store; the suite prefixes every key with a
// random per-run prefix anyway, so stores may share a server. Each subtest
// gets its own store and closes it at the end if it implements io.Closer;
// a store's Close may therefore be called more than once (once by the
// suite, once by any cleanup newStore registers) and must not panic.
//
// Run blocks until every subtest, including the parallel ones, is done.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store, opts Options) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest.Run: newStore is nil")
	}
	g := opts.Granularity
	if g <= 0 {
		g = time.Second
	}
	s := &suite{newStore: newStore, opts: opts, g: g, prefix: randomPrefix(t)}

	var tests []subtest
	if opts.NoPersistence {
		tests = s.nullTests()
	} else {
		tests = s.tests()
	}
	tests = append(tests,
		subtest{"ContextCanceled", s.testContextCanceled},
		subtest{"Closed", s.testClosed},
	)
	t.Run("storetest", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t)
			})
		}
	})
}

type subtest struct {
	name string
	fn   func(t *testing.T)
}

type suite struct {
	newStore func(t *testing.T) backends.Store
	opts     Options
	g        time.Duration
	prefix   string
}

func (s *suite) tests() []subtest {
	return []subtest{
		{"RoundTrip", s.testRoundTrip},
		{"LoadMissing", s.testLoadMissing},
		{"Overwrite", s.testOverwrite},
		{"Delete", s.testDelete},
		{"DeleteMissing", s.testDeleteMissing},
		{"BinarySafe", s.testBinarySafe},
		{"LargeValue", s.testLargeValue},
		{"Keys", s.testKeys},
		{"Expiries", s.testExpiries},
		{"LongTTL", s.testLongTTL},
		{"ConcurrentSaves", s.testConcurrentSaves},
		{"Touch", s.testTouch},
		{"CompareAndSwap", s.testCAS},
		{"CompareAndSwapConcurrent", s.testCASConcurrent},
		{"Timed", s.testTimed},
	}
}

// testTimed runs the subtests that sleep past an expiry all at once, each
// in its own goroutine: subtests started with t.Run without t.Parallel do
// not count against -parallel, so the whole group costs one sleep however
// few parallel slots there are.
func (s *suite) testTimed(t *testing.T) {
	timed := []subtest{
		{"Expiry", s.testExpiry},
		{"ShortTTL", s.testShortTTL},
		{"OverwriteResetsExpiry", s.testOverwriteResetsExpiry},
		{"TouchExtendsExpiry", s.testTouchExtends},
		{"CompareAndSwapExpiry", s.testCASExpiry},
		{"LoadVersionRefresh", s.testLoadVersionRefresh},
		{"Cleanup", s.testCleanup},
		{"Lister", s.testLister},
		{"ExpiriesAfterExpiry", s.testExpiriesExpired},
	}
	var wg sync.WaitGroup
	for _, tc := range timed {
		wg.Go(func() { t.Run(tc.name, tc.fn) })
	}
	wg.Wait()
}

// ttl is the short TTL the expiry subtests use.
func (s *suite) ttl() time.Duration { return 2 * s.g }

// long is a TTL that must not run out while a subtest runs.
func (s *suite) long() time.Duration { return max(60*s.g, time.Minute) }

// waitPast sleeps until an entry saved with ttl before the call must have
// expired: the TTL, one granularity for rounding up, one for a server clock
// that ticks once per granularity, and half of one as margin.
func (s *suite) waitPast(ttl time.Duration) {
	time.Sleep(ttl + 2*s.g + s.g/2)
}

func randomPrefix(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: random prefix: %v", err)
	}
	return "storetest:" + hex.EncodeToString(b[:]) + ":"
}

// key returns the suite's key for name; names are unique across subtests.
func (s *suite) key(name string) string { return s.prefix + name }

// open returns a fresh store that is closed when t ends.
func (s *suite) open(t *testing.T) backends.Store {
	t.Helper()
	st := s.openUnclosed(t)
	if c, ok := st.(io.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return st
}

func (s *suite) openUnclosed(t *testing.T) backends.Store {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("newStore returned nil")
	}
	return st
}

// ctx is the context of one store call: bounded so a hung store fails the
// test instead of stalling it.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func save(t *testing.T, st backends.Store, key string, data []byte, ttl time.Duration) {
	t.Helper()
	if err := st.Save(ctx(t), key, data, ttl); err != nil {
		t.Fatalf("Save(%q, %d bytes, %v): %v", key, len(data), ttl, err)
	}
}

func load(t *testing.T, st backends.Store, key string) ([]byte, bool) {
	t.Helper()
	data, found, err := st.Load(ctx(t), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if !found && len(data) != 0 {
		t.Errorf("Load(%q) = %d bytes with found=false; want no data", key, len(data))
	}
	return data, found
}

// mustHave fails unless key holds exactly want.
func mustHave(t *testing.T, st backends.Store, key string, want []byte) {
	t.Helper()
	got, found := load(t, st, key)
	if !found {
		t.Fatalf("Load(%q): not found; want %s", key, show(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Load(%q) = %s; want %s", key, show(got), show(want))
	}
}

// mustMiss fails unless key is missing.
func mustMiss(t *testing.T, st backends.Store, key string) {
	t.Helper()
	if got, found := load(t, st, key); found {
		t.Fatalf("Load(%q) = %s, found; want not found", key, show(got))
	}
}

func show(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%d bytes %q...", len(b), b[:64])
	}
	return fmt.Sprintf("%q", b)
}

func randomBytes(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (s *suite) testRoundTrip(t *testing.T) {
	st := s.open(t)
	key := s.key("roundtrip")
	want := []byte(`{"user":"alice","cart":["apple"]}`)
	in := bytes.Clone(want)
	save(t, st, key, in, s.long())
	// The store must not keep the caller's slice.
	for i := range in {
		in[i] = 'X'
	}
	got, found := load(t, st, key)
	if !found || !bytes.Equal(got, want) {
		t.Fatalf("after mutating the saved slice, Load = %s, found=%v; want %s", show(got), found, show(want))
	}
	// The returned slice belongs to the caller.
	for i := range got {
		got[i] = 'Y'
	}
	mustHave(t, st, key, want)
}

func (s *suite) testLoadMissing(t *testing.T) {
	st := s.open(t)
	data, found, err := st.Load(ctx(t), s.key("never-saved"))
	if err != nil || found || len(data) != 0 {
		t.Fatalf("Load of a missing key = (%s, %v, %v); want (nil, false, nil)", show(data), found, err)
	}
}

func (s *suite) testOverwrite(t *testing.T) {
	st := s.open(t)
	key := s.key("overwrite")
	for _, v := range []string{"a first, rather long value", "short", "", "a third value, longer again"} {
		save(t, st, key, []byte(v), s.long())
		mustHave(t, st, key, []byte(v))
	}
}

func (s *suite) testDelete(t *testing.T) {
	st := s.open(t)
	key, other := s.key("delete/a"), s.key("delete/b")
	save(t, st, key, []byte("gone soon"), s.long())
	save(t, st, other, []byte("stays"), s.long())
	mustHave(t, st, key, []byte("gone soon"))
	if err := st.Delete(ctx(t), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustMiss(t, st, key)
	mustHave(t, st, other, []byte("stays"))
	// Deleting again is deleting a missing key.
	if err := st.Delete(ctx(t), key); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// A deleted key can be saved again.
	save(t, st, key, []byte("back"), s.long())
	mustHave(t, st, key, []byte("back"))
}

func (s *suite) testDeleteMissing(t *testing.T) {
	st := s.open(t)
	if err := st.Delete(ctx(t), s.key("delete-missing")); err != nil {
		t.Fatalf("Delete of a missing key: %v; want nil", err)
	}
	mustMiss(t, st, s.key("delete-missing"))
}

func binaryValues() map[string][]byte {
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	return map[string][]byte{
		"all-bytes":    all,
		"nul":          {0},
		"nuls":         {0, 0, 0, 'a', 0},
		"invalid-utf8": {0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc},
		"empty":        {},
		"crlf":         []byte("END\r\nVALUE x 0 1\r\n\r\n+OK\r\n$-1\r\n"),
		"msgpack":      {0x82, 0xaa, '_', 'p', 'e', 'r', 'm', 'a', 'n', 'e', 'n', 't', 0xc3, 0xa1, 'n', 0xcd, 0x01, 0x00},
		"high-bit":     bytes.Repeat([]byte{0x80, 0xff}, 100),
	}
}

func (s *suite) testBinarySafe(t *testing.T) {
	st := s.open(t)
	for name, want := range binaryValues() {
		t.Run(name, func(t *testing.T) {
			key := s.key("binary/" + name)
			save(t, st, key, bytes.Clone(want), s.long())
			got, found := load(t, st, key)
			if !found {
				t.Fatalf("Load: not found after saving %s", show(want))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Load = %s; want %s", show(got), show(want))
			}
		})
	}
}

func (s *suite) testLargeValue(t *testing.T) {
	st := s.open(t)
	const size = 1 << 20
	want := randomBytes(size, 1)
	key := s.key("large/1MiB")
	err := st.Save(ctx(t), key, bytes.Clone(want), s.long())
	switch {
	case err == nil:
		mustHave(t, st, key, want)
	case s.opts.MaxValueSize > 0 && s.opts.MaxValueSize < size && errors.Is(err, backends.ErrTooLarge):
		t.Logf("1 MiB value refused with %v (MaxValueSize %d)", err, s.opts.MaxValueSize)
		mustMiss(t, st, key)
	case s.opts.MaxValueSize > 0 && s.opts.MaxValueSize < size:
		t.Fatalf("Save of 1 MiB (over MaxValueSize %d): %v; want nil or an error matching backends.ErrTooLarge", s.opts.MaxValueSize, err)
	default:
		t.Fatalf("Save of a 1 MiB value: %v; want nil (set Options.MaxValueSize if the store has an item-size limit)", err)
	}
	if n := s.opts.MaxValueSize; n > 0 && n < size {
		want := randomBytes(n, 2)
		key := s.key("large/max")
		if err := st.Save(ctx(t), key, bytes.Clone(want), s.long()); err != nil {
			t.Fatalf("Save of MaxValueSize (%d) bytes: %v", n, err)
		}
		mustHave(t, st, key, want)
	}
}

// testKeys checks 250-byte keys and every printable ASCII character, and
// that keys differing only in case or in their last byte stay distinct.
func (s *suite) testKeys(t *testing.T) {
	st := s.open(t)
	var punct strings.Builder
	for c := byte('!'); c <= '~'; c++ {
		punct.WriteByte(c)
	}
	long := func(last byte) string {
		k := s.key("long/")
		k += strings.Repeat("abcdefghij", (250-len(k))/10+1)
		return k[:249] + string(last)
	}
	keys := []string{
		s.key("printable/" + punct.String()),
		s.key("printable/../../etc/passwd"),
		s.key("printable/..\\..\\x"),
		s.key("case/Session"),
		s.key("case/session"),
		s.key("case/SESSION"),
		s.key("sep/a/b"),
		s.key("sep/a\\b"),
		s.key("sep/a_b"),
		s.key("sep/a%2Fb"),
		s.key("sep/a:b"),
		long('A'),
		long('a'),
		long('B'),
	}
	for i, k := range keys {
		if len(k) > 250 {
			t.Fatalf("suite bug: key %d is %d bytes", i, len(k))
		}
		save(t, st, k, fmt.Appendf(nil, "value %d", i), s.long())
	}
	for i, k := range keys {
		mustHave(t, st, k, fmt.Appendf(nil, "value %d", i))
	}
	if len(keys[len(keys)-1]) != 250 {
		t.Fatalf("suite bug: long key is %d bytes", len(keys[len(keys)-1]))
	}
	for i, k := range keys {
		if err := st.Delete(ctx(t), k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		mustMiss(t, st, k)
		for _, other := range keys[i+1:] {
			if _, found := load(t, st, other); !found {
				t.Fatalf("deleting %q also removed %q", k, other)
			}
		}
	}
}

// testLongTTL saves with lifetimes beyond memcached's 30-day relative limit,
// which must be sent as absolute times.
func (s *suite) testLongTTL(t *testing.T) {
	st := s.open(t)
	for _, ttl := range []time.Duration{31 * 24 * time.Hour, 366 * 24 * time.Hour} {
		key := s.key(fmt.Sprintf("longttl/%v", ttl))
		save(t, st, key, []byte("long lived"), ttl)
		mustHave(t, st, key, []byte("long lived"))
		if tc, ok := st.(backends.Toucher); ok {
			if err := tc.Touch(ctx(t), key, ttl); err != nil {
				t.Fatalf("Touch(%v): %v", ttl, err)
			}
			mustHave(t, st, key, []byte("long lived"))
		}
		if cas, ok := st.(backends.CompareAndSwapper); ok {
			rec, err := cas.LoadVersion(ctx(t), key, ttl)
			if err != nil || !rec.Found {
				t.Fatalf("LoadVersion(refresh %v) = found %v, %v", ttl, rec.Found, err)
			}
			if err := cas.SaveIf(ctx(t), key, []byte("still long lived"), rec.Version, ttl); err != nil {
				t.Fatalf("SaveIf(ttl %v): %v", ttl, err)
			}
			mustHave(t, st, key, []byte("still long lived"))
		}
	}
}

func (s *suite) testConcurrentSaves(t *testing.T) {
	st := s.open(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	same := s.key("concurrent/same")
	for i := range n {
		wg.Go(func() {
			c := ctx(t)
			if err := st.Save(c, s.key(fmt.Sprintf("concurrent/%d", i)), fmt.Appendf(nil, "value %d", i), s.long()); err != nil {
				errs <- fmt.Errorf("Save of key %d: %w", i, err)
			}
			if err := st.Save(c, same, bytes.Repeat(fmt.Appendf(nil, "<%02d>", i), 100), s.long()); err != nil {
				errs <- fmt.Errorf("Save of the shared key by %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := range n {
		mustHave(t, st, s.key(fmt.Sprintf("concurrent/%d", i)), fmt.Appendf(nil, "value %d", i))
	}
	got, found := load(t, st, same)
	if !found {
		t.Fatal("shared key missing after 50 concurrent Saves")
	}
	ok := false
	for i := range n {
		if bytes.Equal(got, bytes.Repeat(fmt.Appendf(nil, "<%02d>", i), 100)) {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("shared key holds %s, which no Save wrote (torn write?)", show(got))
	}
}

func (s *suite) testExpiry(t *testing.T) {
	st := s.open(t)
	key := s.key("expiry")
	save(t, st, key, []byte("short lived"), s.ttl())
	mustHave(t, st, key, []byte("short lived"))
	s.waitPast(s.ttl())
	mustMiss(t, st, key)

	// An expired entry is a missing one for every other call too.
	if tc, ok := st.(backends.Toucher); ok {
		if err := tc.Touch(ctx(t), key, s.long()); err != nil {
			t.Fatalf("Touch of an expired key: %v", err)
		}
		mustMiss(t, st, key)
	}
	if cas, ok := st.(backends.CompareAndSwapper); ok {
		rec, err := cas.LoadVersion(ctx(t), key, s.long())
		if err != nil {
			t.Fatalf("LoadVersion of an expired key: %v", err)
		}
		if rec.Found || rec.Data != nil || rec.Refreshed {
			t.Fatalf("LoadVersion of an expired key = %+v; want not found", rec)
		}
		mustMiss(t, st, key)
		if err := cas.SaveIf(ctx(t), key, []byte("new"), nil, s.long()); err != nil {
			t.Fatalf("SaveIf(nil version) of an expired key: %v; an expired key is missing", err)
		}
		mustHave(t, st, key, []byte("new"))
	}
	if err := st.Delete(ctx(t), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

// testShortTTL saves with TTLs below the granularity: they must be accepted
// (not rounded to "never expires" or to an invalid zero) and expire.
func (s *suite) testShortTTL(t *testing.T) {
	st := s.open(t)
	ttls := []time.Duration{time.Millisecond, s.g / 2, s.g + s.g/2}
	for _, ttl := range ttls {
		save(t, st, s.key(fmt.Sprintf("shortttl/%d", ttl)), []byte("brief"), ttl)
	}
	s.waitPast(ttls[len(ttls)-1])
	for _, ttl := range ttls {
		if _, found := load(t, st, s.key(fmt.Sprintf("shortttl/%d", ttl))); found {
			t.Errorf("entry saved with ttl %v still found after %v", ttl, ttls[len(ttls)-1]+2*s.g+s.g/2)
		}
	}
}

func (s *suite) testOverwriteResetsExpiry(t *testing.T) {
	st := s.open(t)
	key := s.key("overwrite-expiry")
	save(t, st, key, []byte("v1"), s.ttl())
	save(t, st, key, []byte("v2"), s.long())
	s.waitPast(s.ttl())
	mustHave(t, st, key, []byte("v2"))
}

// noToucher is the skip message of the touch subtests: what a store
// without backends.Toucher costs its users.
const noToucher = "store does not implement backends.Toucher: the core will refresh every unmodified session it reads by rewriting the whole value with Save (a full write per request, which can also put back a value a concurrent request changed); implement Touch if the server can extend an expiry alone"

func (s *suite) testTouch(t *testing.T) {
	st := s.open(t)
	tc, ok := st.(backends.Toucher)
	if !ok {
		t.Skip(noToucher)
	}
	missing := s.key("touch/missing")
	if err := tc.Touch(ctx(t), missing, s.long()); err != nil {
		t.Fatalf("Touch of a missing key: %v; want nil", err)
	}
	mustMiss(t, st, missing)

	key := s.key("touch/present")
	save(t, st, key, []byte("touch me"), s.long())
	if err := tc.Touch(ctx(t), key, s.long()); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	mustHave(t, st, key, []byte("touch me"))
}

func (s *suite) testTouchExtends(t *testing.T) {
	st := s.open(t)
	tc, ok := st.(backends.Toucher)
	if !ok {
		t.Skip(noToucher)
	}
	extended, shortened := s.key("touch/extended"), s.key("touch/shortened")
	save(t, st, extended, []byte("extended"), s.ttl())
	save(t, st, shortened, []byte("shortened"), s.long())
	if err := tc.Touch(ctx(t), extended, s.long()); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	// Touch sets the expiry; it does not only ever lengthen it.
	if err := tc.Touch(ctx(t), shortened, s.ttl()); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	s.waitPast(s.ttl())
	mustHave(t, st, extended, []byte("extended"))
	mustMiss(t, st, shortened)
}

func casOf(t *testing.T, st backends.Store) backends.CompareAndSwapper {
	t.Helper()
	cas, ok := st.(backends.CompareAndSwapper)
	if !ok {
		t.Skip("store does not implement backends.CompareAndSwapper")
	}
	return cas
}

func loadVersion(t *testing.T, cas backends.CompareAndSwapper, key string, refresh time.Duration) backends.Record {
	t.Helper()
	rec, err := cas.LoadVersion(ctx(t), key, refresh)
	if err != nil {
		t.Fatalf("LoadVersion(%q, %v): %v", key, refresh, err)
	}
	if !rec.Found && (rec.Data != nil || rec.Refreshed) {
		t.Fatalf("LoadVersion(%q) = %+v: Data must be nil and Refreshed false when not found", key, rec)
	}
	return rec
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: SaveIf succeeded; want an error matching backends.ErrConflict", what)
	}
	if !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("%s: SaveIf = %v; want an error matching backends.ErrConflict", what, err)
	}
}

func (s *suite) testCAS(t *testing.T) {
	st := s.open(t)
	cas := casOf(t, st)
	key := s.key("cas")

	rec := loadVersion(t, cas, key, 0)
	if rec.Found {
		t.Fatalf("LoadVersion of a missing key: found %s", show(rec.Data))
	}
	// nil version on a missing key creates it.
	if err := cas.SaveIf(ctx(t), key, []byte("v1"), nil, s.long()); err != nil {
		t.Fatalf("SaveIf(nil version) on a missing key: %v", err)
	}
	mustHave(t, st, key, []byte("v1"))
	// nil version on an existing key is a conflict and writes nothing.
	wantConflict(t, cas.SaveIf(ctx(t), key, []byte("clobbered"), nil, s.long()), "nil version on an existing key")
	mustHave(t, st, key, []byte("v1"))

	r1 := loadVersion(t, cas, key, 0)
	if !r1.Found || !bytes.Equal(r1.Data, []byte("v1")) {
		t.Fatalf("LoadVersion = %+v; want v1", r1)
	}
	// Record.Data belongs to the caller.
	r1.Data[0] = 'X'
	mustHave(t, st, key, []byte("v1"))

	in := []byte("v2")
	if err := cas.SaveIf(ctx(t), key, in, r1.Version, s.long()); err != nil {
		t.Fatalf("SaveIf with the current version: %v", err)
	}
	in[0] = 'X' // SaveIf must not keep the caller's slice
	mustHave(t, st, key, []byte("v2"))
	// The version was consumed: reusing it is a conflict.
	wantConflict(t, cas.SaveIf(ctx(t), key, []byte("stale"), r1.Version, s.long()), "stale version")
	mustHave(t, st, key, []byte("v2"))

	// A plain Save in between invalidates a version.
	r2 := loadVersion(t, cas, key, 0)
	save(t, st, key, []byte("v3 by Save"), s.long())
	wantConflict(t, cas.SaveIf(ctx(t), key, []byte("lost"), r2.Version, s.long()), "version older than a plain Save")
	mustHave(t, st, key, []byte("v3 by Save"))

	// A Delete in between invalidates a version, and SaveIf does not recreate the key.
	r3 := loadVersion(t, cas, key, 0)
	if err := st.Delete(ctx(t), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantConflict(t, cas.SaveIf(ctx(t), key, []byte("resurrected"), r3.Version, s.long()), "version of a deleted key")
	mustMiss(t, st, key)
	// Nor is the old version valid for a key recreated with the same bytes,
	// unless versions are the content itself.
	save(t, st, key, []byte("v3 by Save"), s.long())
	if !s.opts.ContentVersions {
		wantConflict(t, cas.SaveIf(ctx(t), key, []byte("aba"), r3.Version, s.long()), "version from before a delete and re-create")
		mustHave(t, st, key, []byte("v3 by Save"))
	}

	// The version of a freshly loaded entry works again, and empty values are values.
	r4 := loadVersion(t, cas, key, 0)
	if err := cas.SaveIf(ctx(t), key, []byte{}, r4.Version, s.long()); err != nil {
		t.Fatalf("SaveIf of an empty value: %v", err)
	}
	r5 := loadVersion(t, cas, key, 0)
	if !r5.Found || len(r5.Data) != 0 {
		t.Fatalf("LoadVersion after saving an empty value = %+v; want found and empty", r5)
	}
}

// testCASConcurrent runs 50 read-modify-write loops on one key; each appends
// its own marker and retries on conflict. No marker may be lost.
func (s *suite) testCASConcurrent(t *testing.T) {
	st := s.open(t)
	cas := casOf(t, st)
	key := s.key("cas/concurrent")
	const n = 50
	const maxAttempts = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			marker := fmt.Appendf(nil, "<%02d>", i)
			c := ctx(t)
			for attempt := 0; attempt < maxAttempts; attempt++ {
				rec, err := cas.LoadVersion(c, key, 0)
				if err != nil {
					errs <- fmt.Errorf("writer %d: LoadVersion: %w", i, err)
					return
				}
				next := append(slices.Clip(rec.Data), marker...)
				err = cas.SaveIf(c, key, next, rec.Version, s.long())
				if err == nil {
					return
				}
				if !errors.Is(err, backends.ErrConflict) {
					errs <- fmt.Errorf("writer %d: SaveIf: %w", i, err)
					return
				}
			}
			errs <- fmt.Errorf("writer %d: still conflicting after %d attempts", i, maxAttempts)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, found := load(t, st, key)
	if !found {
		t.Fatal("key missing after the concurrent writers")
	}
	for i := range n {
		if c := bytes.Count(got, fmt.Appendf(nil, "<%02d>", i)); c != 1 {
			t.Errorf("marker of writer %d appears %d times; want 1", i, c)
		}
	}
	if len(got) != 4*n {
		t.Errorf("final value is %d bytes; want %d: %s", len(got), 4*n, show(got))
	}
}

// testCASExpiry checks that SaveIf sets the expiry it is given.
func (s *suite) testCASExpiry(t *testing.T) {
	st := s.open(t)
	cas := casOf(t, st)
	created, replaced, kept := s.key("cas-expiry/created"), s.key("cas-expiry/replaced"), s.key("cas-expiry/kept")
	if err := cas.SaveIf(ctx(t), created, []byte("x"), nil, s.ttl()); err != nil {
		t.Fatalf("SaveIf(nil version): %v", err)
	}
	save(t, st, replaced, []byte("long"), s.long())
	rec := loadVersion(t, cas, replaced, 0)
	if err := cas.SaveIf(ctx(t), replaced, []byte("short"), rec.Version, s.ttl()); err != nil {
		t.Fatalf("SaveIf: %v", err)
	}
	save(t, st, kept, []byte("short"), s.ttl())
	rec = loadVersion(t, cas, kept, 0)
	if err := cas.SaveIf(ctx(t), kept, []byte("long"), rec.Version, s.long()); err != nil {
		t.Fatalf("SaveIf: %v", err)
	}
	mustHave(t, st, created, []byte("x"))
	mustHave(t, st, replaced, []byte("short"))
	s.waitPast(s.ttl())
	mustMiss(t, st, created)
	mustMiss(t, st, replaced)
	mustHave(t, st, kept, []byte("long"))
}

// testLoadVersionRefresh checks that Record.Refreshed tells the truth: when
// set, the expiry really was extended; when not, it was left alone.
func (s *suite) testLoadVersionRefresh(t *testing.T) {
	st := s.open(t)
	cas := casOf(t, st)
	refreshed, untouched := s.key("refresh/yes"), s.key("refresh/zero")
	save(t, st, refreshed, []byte("r"), s.ttl())
	save(t, st, untouched, []byte("u"), s.ttl())

	rec := loadVersion(t, cas, refreshed, s.long())
	if !rec.Found || !bytes.Equal(rec.Data, []byte("r")) {
		t.Fatalf("LoadVersion(refresh) = %+v; want r", rec)
	}
	rec0 := loadVersion(t, cas, untouched, 0)
	if !rec0.Found || !bytes.Equal(rec0.Data, []byte("u")) {
		t.Fatalf("LoadVersion(0) = %+v; want u", rec0)
	}
	if rec0.Refreshed {
		t.Errorf("LoadVersion with refresh 0 reported Refreshed")
	}
	// Refreshing must not invalidate the version it hands back.
	probe := s.key("refresh/probe")
	save(t, st, probe, []byte("p"), s.long())
	pr := loadVersion(t, cas, probe, s.long())
	if err := cas.SaveIf(ctx(t), probe, []byte("p2"), pr.Version, s.long()); err != nil {
		t.Fatalf("SaveIf with the version from a refreshing LoadVersion: %v", err)
	}

	s.waitPast(s.ttl())
	_, found := load(t, st, refreshed)
	switch {
	case rec.Refreshed && !found:
		t.Errorf("LoadVersion reported Refreshed, but the entry expired with its old ttl")
	case !rec.Refreshed && found:
		t.Errorf("LoadVersion did not report Refreshed, but the expiry was changed")
	case !rec.Refreshed:
		t.Logf("store does not refresh in LoadVersion")
	}
	mustMiss(t, st, untouched)
}

func (s *suite) testCleanup(t *testing.T) {
	st := s.open(t)
	cl, ok := st.(backends.Cleaner)
	if !ok {
		t.Skip("store does not implement backends.Cleaner")
	}
	expired, live := s.key("cleanup/expired"), s.key("cleanup/live")
	save(t, st, expired, []byte("old"), s.ttl())
	save(t, st, live, []byte("new"), s.long())
	s.waitPast(s.ttl())
	n, err := cl.Cleanup(ctx(t))
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	// Other runs may share the server, so n may count their entries too.
	if n < 1 {
		t.Errorf("Cleanup removed %d entries; want at least the expired one", n)
	}
	mustMiss(t, st, expired)
	mustHave(t, st, live, []byte("new"))
	if _, err := cl.Cleanup(ctx(t)); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
	mustHave(t, st, live, []byte("new"))
}

func (s *suite) listed(t *testing.T, l backends.Lister, under string) []string {
	t.Helper()
	keys, err := l.Keys(ctx(t))
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	var ours []string
	for _, k := range keys {
		if strings.HasPrefix(k, under) {
			ours = append(ours, k)
		}
	}
	slices.Sort(ours)
	return ours
}

func (s *suite) testLister(t *testing.T) {
	st := s.open(t)
	l, ok := st.(backends.Lister)
	if !ok {
		t.Skip("store does not implement backends.Lister")
	}
	under := s.key("list/")
	if got := s.listed(t, l, under); len(got) != 0 {
		t.Fatalf("Keys before any Save lists %q", got)
	}
	long := under + strings.Repeat("L", 250-len(under))
	a, b, gone, expiring := under+"a", under+"b", under+"gone", under+"expiring"
	for _, k := range []string{a, b, gone, long} {
		save(t, st, k, []byte(k), s.long())
	}
	save(t, st, expiring, []byte("x"), s.ttl())
	if err := st.Delete(ctx(t), gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	want := []string{a, b, expiring, long}
	slices.Sort(want)
	if got := s.listed(t, l, under); !slices.Equal(got, want) {
		t.Fatalf("Keys = %q; want %q", got, want)
	}
	s.waitPast(s.ttl())
	want = slices.DeleteFunc(want, func(k string) bool { return k == expiring })
	if got := s.listed(t, l, under); !slices.Equal(got, want) {
		t.Fatalf("Keys after expiry = %q; want %q (live keys only)", got, want)
	}
}

// call is one store operation, for the subtests that try every method.
type call struct {
	name string
	fn   func(ctx context.Context) error
}

func (s *suite) calls(st backends.Store, key string) []call {
	calls := []call{
		{"Load", func(c context.Context) error { _, _, err := st.Load(c, key); return err }},
		{"Save", func(c context.Context) error { return st.Save(c, key, []byte("v"), s.long()) }},
		{"Delete", func(c context.Context) error { return st.Delete(c, key) }},
	}
	if tc, ok := st.(backends.Toucher); ok {
		calls = append(calls, call{"Touch", func(c context.Context) error { return tc.Touch(c, key, s.long()) }})
	}
	if cas, ok := st.(backends.CompareAndSwapper); ok {
		calls = append(calls,
			call{"LoadVersion", func(c context.Context) error { _, err := cas.LoadVersion(c, key, s.long()); return err }},
			call{"SaveIf", func(c context.Context) error { return cas.SaveIf(c, key+"/new", []byte("v"), nil, s.long()) }},
		)
	}
	if cl, ok := st.(backends.Cleaner); ok {
		calls = append(calls, call{"Cleanup", func(c context.Context) error { _, err := cl.Cleanup(c); return err }})
	}
	if l, ok := st.(backends.Lister); ok {
		calls = append(calls, call{"Keys", func(c context.Context) error { _, err := l.Keys(c); return err }})
	}
	if er, ok := st.(backends.ExpiryReporter); ok {
		calls = append(calls, call{"Expiries", func(c context.Context) error { _, err := er.Expiries(c, []string{key}); return err }})
	}
	return calls
}

// do runs fn with a hang detector.
func do(t *testing.T, name string, fn func() error) (error, bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err, true
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not return within 30s", name)
		return nil, false
	}
}

func (s *suite) testContextCanceled(t *testing.T) {
	st := s.open(t)
	key := s.key("canceled")
	if !s.opts.NoPersistence {
		save(t, st, key, []byte("present"), s.long())
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range s.calls(st, key) {
		for ctxName, cx := range map[string]context.Context{"cancelled": canceled, "past deadline": expired} {
			err, returned := do(t, c.name, func() error { return c.fn(cx) })
			if returned && err == nil {
				t.Errorf("%s with a %s context returned nil; want an error", c.name, ctxName)
			}
		}
	}
}

func (s *suite) testClosed(t *testing.T) {
	st := s.openUnclosed(t)
	closer, ok := st.(io.Closer)
	if !ok {
		t.Skip("store does not implement io.Closer")
	}
	key := s.key("closed")
	save(t, st, key, []byte("v"), s.long())
	if err := closer.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range s.calls(st, key) {
		err, returned := do(t, c.name, func() error { return c.fn(ctx(t)) })
		if returned && !errors.Is(err, backends.ErrClosed) {
			t.Errorf("%s after Close = %v; want an error matching backends.ErrClosed", c.name, err)
		}
	}
	// A second Close must not panic; its error is not checked.
	_, _ = do(t, "second Close", closer.Close)
}

func (s *suite) nullTests() []subtest {
	return []subtest{
		{"NothingPersists", s.testNothingPersists},
		{"OptionalNoops", s.testNullOptional},
	}
}

func (s *suite) testNothingPersists(t *testing.T) {
	st := s.open(t)
	values := binaryValues()
	values["1MiB"] = randomBytes(1<<20, 3)
	for name, v := range values {
		key := s.key("null/" + name)
		save(t, st, key, v, s.long())
		mustMiss(t, st, key)
		if err := st.Delete(ctx(t), key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
		mustMiss(t, st, key)
	}
	if err := st.Delete(ctx(t), s.key("null/never-saved")); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func (s *suite) testNullOptional(t *testing.T) {
	st := s.open(t)
	key := s.key("null/optional")
	save(t, st, key, []byte("v"), s.long())
	if tc, ok := st.(backends.Toucher); ok {
		if err := tc.Touch(ctx(t), key, s.long()); err != nil {
			t.Errorf("Touch: %v", err)
		}
	}
	if cas, ok := st.(backends.CompareAndSwapper); ok {
		rec := loadVersion(t, cas, key, s.long())
		if rec.Found {
			t.Errorf("LoadVersion found %s in a store that keeps nothing", show(rec.Data))
		}
		if err := cas.SaveIf(ctx(t), key, []byte("v"), rec.Version, s.long()); err != nil {
			t.Errorf("SaveIf: %v", err)
		}
		if rec := loadVersion(t, cas, key, 0); rec.Found {
			t.Errorf("LoadVersion after SaveIf found %s", show(rec.Data))
		}
	}
	if cl, ok := st.(backends.Cleaner); ok {
		if _, err := cl.Cleanup(ctx(t)); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	}
	if l, ok := st.(backends.Lister); ok {
		if got := s.listed(t, l, s.prefix); len(got) != 0 {
			t.Errorf("Keys lists %q in a store that keeps nothing", got)
		}
	}
	if er, ok := st.(backends.ExpiryReporter); ok {
		exp, err := er.Expiries(ctx(t), []string{key})
		if err != nil {
			t.Errorf("Expiries: %v", err)
		} else if len(exp) != 1 || !exp[0].IsZero() {
			t.Errorf("Expiries = %v in a store that keeps nothing; want one zero time", exp)
		}
	}
	mustMiss(t, st, key)
}

// expiries calls Expiries and checks the length of its result.
func expiries(t *testing.T, er backends.ExpiryReporter, keys []string) []time.Time {
	t.Helper()
	got, err := er.Expiries(ctx(t), keys)
	if err != nil {
		t.Fatalf("Expiries(%d keys): %v", len(keys), err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Expiries(%d keys) returned %d times; want one per key", len(keys), len(got))
	}
	return got
}

// checkExpiry fails unless at is the expiry of an entry written with ttl
// between before and after, to within the store's granularity (and a
// little for clocks: the server's and this process's may tick apart).
func (s *suite) checkExpiry(t *testing.T, what string, at, before, after time.Time, ttl time.Duration) {
	t.Helper()
	slack := s.g + 100*time.Millisecond
	lo, hi := before.Add(ttl-slack), after.Add(ttl+slack)
	if at.IsZero() {
		t.Errorf("Expiries: %s: zero time; want about %v from now", what, ttl)
		return
	}
	if at.Before(lo) || at.After(hi) {
		t.Errorf("Expiries: %s expires at %v (in %v); want between %v and %v (a TTL of %v, within %v)",
			what, at.Format(time.RFC3339Nano), time.Until(at).Round(time.Millisecond), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano), ttl, slack)
	}
}

func (s *suite) testExpiries(t *testing.T) {
	st := s.open(t)
	er, ok := st.(backends.ExpiryReporter)
	if !ok {
		t.Skip("store does not implement backends.ExpiryReporter (admin tools show no expiry)")
	}
	if got := expiries(t, er, nil); len(got) != 0 {
		t.Fatalf("Expiries(nil) = %v; want none", got)
	}
	short, long, gone, missing := s.key("exp/short"), s.key("exp/long"), s.key("exp/gone"), s.key("exp/missing")
	shortTTL, longTTL := 30*s.g, 2*s.long()
	before := time.Now()
	save(t, st, short, []byte("short"), shortTTL)
	save(t, st, long, []byte("long"), longTTL)
	save(t, st, gone, []byte("gone"), longTTL)
	after := time.Now()
	if err := st.Delete(ctx(t), gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	got := expiries(t, er, []string{missing, short, gone, long, short})
	if !got[0].IsZero() {
		t.Errorf("Expiries: a key never saved expires at %v; want the zero time", got[0])
	}
	s.checkExpiry(t, "an entry saved with a TTL of "+shortTTL.String(), got[1], before, after, shortTTL)
	if !got[2].IsZero() {
		t.Errorf("Expiries: a deleted key expires at %v; want the zero time", got[2])
	}
	s.checkExpiry(t, "an entry saved with a TTL of "+longTTL.String(), got[3], before, after, longTTL)
	if !got[4].Equal(got[1]) {
		t.Errorf("Expiries: a key asked twice gave %v and %v", got[1], got[4])
	}

	// The expiry follows a rewrite, a Touch and a refreshing LoadVersion.
	before = time.Now()
	save(t, st, long, []byte("long again"), shortTTL)
	after = time.Now()
	s.checkExpiry(t, "an entry saved again with a shorter TTL", expiries(t, er, []string{long})[0], before, after, shortTTL)
	if tc, ok := st.(backends.Toucher); ok {
		before = time.Now()
		if err := tc.Touch(ctx(t), short, longTTL); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		after = time.Now()
		s.checkExpiry(t, "a touched entry", expiries(t, er, []string{short})[0], before, after, longTTL)
	}
	if cas, ok := st.(backends.CompareAndSwapper); ok {
		before = time.Now()
		rec := loadVersion(t, cas, long, longTTL)
		after = time.Now()
		if rec.Refreshed {
			s.checkExpiry(t, "an entry refreshed by LoadVersion", expiries(t, er, []string{long})[0], before, after, longTTL)
		}
	}

	// Many keys at once: stores batch them (DynamoDB reads 100 per call).
	keys := make([]string, 250)
	before = time.Now()
	for i := range keys {
		keys[i] = s.key(fmt.Sprintf("exp/many/%03d", i))
		if i%2 == 0 {
			save(t, st, keys[i], []byte("v"), longTTL)
		}
	}
	after = time.Now()
	for i, at := range expiries(t, er, keys) {
		if i%2 == 0 {
			s.checkExpiry(t, keys[i], at, before, after, longTTL)
		} else if !at.IsZero() {
			t.Errorf("Expiries: %s was never saved but expires at %v", keys[i], at)
		}
	}
}

func (s *suite) testExpiriesExpired(t *testing.T) {
	st := s.open(t)
	er, ok := st.(backends.ExpiryReporter)
	if !ok {
		t.Skip("store does not implement backends.ExpiryReporter")
	}
	expiring, live := s.key("exp/expiring"), s.key("exp/live")
	save(t, st, expiring, []byte("x"), s.ttl())
	save(t, st, live, []byte("y"), s.long())
	s.waitPast(s.ttl())
	got := expiries(t, er, []string{expiring, live})
	if !got[0].IsZero() {
		t.Errorf("Expiries: an expired entry is reported as expiring at %v; want the zero time", got[0])
	}
	if got[1].IsZero() {
		t.Errorf("Expiries: a live entry is reported with the zero time")
	}
}
