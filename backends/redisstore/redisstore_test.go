package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.StopShared()
	os.Exit(code)
}

// nextDB hands out database numbers 1..15 of the shared server to tests
// that need a database of their own (0 is shared, isolated by prefixes).
var nextDB atomic.Int32

func ownDB(t *testing.T) int {
	n := int(nextDB.Add(1))
	if n > 15 {
		t.Fatal("out of redis databases: use a key prefix")
	}
	return n
}

// singleClient returns a client on the shared redis-server, closed at the
// end of t.
func singleClient(t *testing.T, db int, ctxTimeout bool) *redis.Client {
	t.Helper()
	srv := testserver.SharedRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: db, ContextTimeoutEnabled: ctxTimeout})
	t.Cleanup(func() { c.Close() })
	return c
}

func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	cl := testserver.SharedRedisCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func prefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "rstest:" + hex.EncodeToString(b[:]) + ":"
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformanceSingle(t *testing.T) {
	t.Parallel()
	c := singleClient(t, 0, true)
	storetest.Run(t, func(t *testing.T) backends.Store { return redisstore.New(c, redisstore.Options{}) },
		storetest.Options{Granularity: time.Second, ContentVersions: true})
}

// TestConformanceGuarded runs the suite with a client that ignores context
// deadlines, where the store runs each call in a goroutine.
func TestConformanceGuarded(t *testing.T) {
	t.Parallel()
	c := singleClient(t, 0, false)
	storetest.Run(t, func(t *testing.T) backends.Store { return redisstore.New(c, redisstore.Options{}) },
		storetest.Options{Granularity: time.Second, ContentVersions: true})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	storetest.Run(t, func(t *testing.T) backends.Store { return redisstore.New(c, redisstore.Options{}) },
		storetest.Options{Granularity: time.Second, ContentVersions: true})
}

// TestConformanceFactory runs the suite on stores built from SESSION_REDIS
// by the registered factory, over the unix socket.
func TestConformanceFactory(t *testing.T) {
	t.Parallel()
	srv := testserver.SharedRedis(t)
	storetest.Run(t, func(t *testing.T) backends.Store {
		st, err := backends.Open(t.Context(), backends.Config{Type: "redis", Redis: "unix://" + srv.Socket + "?pool_size=4"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.(interface{ Close() error }).Close() })
		return st
	}, storetest.Options{Granularity: time.Second, ContentVersions: true})
}

func TestFactory(t *testing.T) {
	t.Parallel()
	srv := testserver.SharedRedis(t)
	db := ownDB(t)
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", KeyPrefix: "fac:", Redis: "redis://" + srv.Addr + "/" + itoa(db) + "?dial_timeout=2s&read_timeout=1&pool_size=3"})
	if err != nil {
		t.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	opts := rs.Client().(*redis.Client).Options()
	if opts.DB != db || opts.PoolSize != 3 || opts.ReadTimeout != time.Second || !opts.ContextTimeoutEnabled {
		t.Errorf("client options: DB %d, PoolSize %d, ReadTimeout %v, ContextTimeoutEnabled %v", opts.DB, opts.PoolSize, opts.ReadTimeout, opts.ContextTimeoutEnabled)
	}
	if err := st.Save(ctx(t), "fac:a", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx(t), "other:b", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The value landed in the database the URL names.
	raw := singleClient(t, db, true)
	if v, err := raw.Get(ctx(t), "fac:a").Result(); err != nil || v != "x" {
		t.Fatalf("GET in db %d = %q, %v", db, v, err)
	}
	keys, err := rs.Keys(ctx(t))
	if err != nil || !slices.Equal(keys, []string{"fac:a"}) {
		t.Fatalf("Keys = %q, %v; want only the SESSION_KEY_PREFIX ones", keys, err)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	// The factory's client is closed with the store.
	if err := rs.Client().Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("client after Close: %v; want redis.ErrClosed", err)
	}

	// A bad value names the variable, without the password.
	_, err = backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis://u:s3cret@h:1/?pool_size=many"})
	if err == nil || !strings.Contains(err.Error(), "SESSION_REDIS") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad SESSION_REDIS: %v", err)
	}
}

// TestCallerClientNotClosed: a client passed to New stays the caller's.
func TestCallerClientNotClosed(t *testing.T) {
	t.Parallel()
	c := singleClient(t, 0, true)
	st := redisstore.New(c, redisstore.Options{})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("caller's client after Close: %v", err)
	}
	if _, _, err := st.Load(ctx(t), "x"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	master := testserver.StartRedis(t)
	sentinel := testserver.StartRedisSentinel(t, master)
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis+sentinel://" + sentinel + "/mymaster/2"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*redisstore.Store).Close()
	if err := st.Save(ctx(t), "sent:k", []byte("via sentinel"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := testserver.RedisCommand(master.Socket, "EVAL", "redis.call('SELECT', 2) return redis.call('GET', 'sent:k')", "0")
	if err != nil || got != "via sentinel" {
		t.Fatalf("master db 2 holds %q, %v", got, err)
	}
}

func TestClusterFactory(t *testing.T) {
	t.Parallel()
	cl := testserver.SharedRedisCluster(t)
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis+cluster://" + strings.Join(cl.Addrs[:2], ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*redisstore.Store).Close()
	p := prefix(t)
	// Keys spread over the three masters.
	for i := range 30 {
		if err := st.Save(ctx(t), p+itoa(i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := st.(backends.Lister).Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, p) {
			n++
		}
	}
	if n != 30 {
		t.Fatalf("Keys over the cluster found %d of 30", n)
	}
}

// TestExpiryWholeSeconds: TTLs are truncated to whole seconds, at least one,
// as Flask-Session does.
func TestExpiryWholeSeconds(t *testing.T) {
	t.Parallel()
	c := singleClient(t, 0, true)
	st := redisstore.New(c, redisstore.Options{})
	p := prefix(t)
	for _, tc := range []struct {
		ttl  time.Duration
		want time.Duration
	}{
		{90*time.Second + 700*time.Millisecond, 90 * time.Second},
		{time.Second, time.Second},
		{300 * time.Millisecond, time.Second},
		{31 * 24 * time.Hour, 31 * 24 * time.Hour},
	} {
		key := p + tc.ttl.String()
		if err := st.Save(ctx(t), key, []byte("v"), tc.ttl); err != nil {
			t.Fatal(err)
		}
		if got := c.PTTL(ctx(t), key).Val(); !about(got, tc.want) {
			t.Errorf("Save with %v: PTTL %v; want %v", tc.ttl, got, tc.want)
		}
		if err := st.Touch(ctx(t), key, tc.ttl+time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, want := c.PTTL(ctx(t), key).Val(), (tc.ttl + time.Hour).Truncate(time.Second); !about(got, want) {
			t.Errorf("Touch with %v: PTTL %v; want %v", tc.ttl+time.Hour, got, want)
		}
		if _, err := st.LoadVersion(ctx(t), key, tc.ttl); err != nil {
			t.Fatal(err)
		}
		if got := c.PTTL(ctx(t), key).Val(); !about(got, tc.want) {
			t.Errorf("LoadVersion with refresh %v: PTTL %v; want %v", tc.ttl, got, tc.want)
		}
	}
	// Touch never creates.
	if err := st.Touch(ctx(t), p+"missing", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx(t), p+"missing").Val(); n != 0 {
		t.Fatal("Touch created a key")
	}
}

// about reports whether a remaining PTTL is what a whole-second EX of want
// leaves after at most the half second this test may take: sub-second parts
// would show as a PTTL above want, or more than half a second below it.
func about(pttl, want time.Duration) bool { return pttl <= want && pttl > want-500*time.Millisecond }

// TestHostileKeys: glob characters, braces and CRLF-free oddities in keys
// are plain bytes to the store, and Keys' prefix is matched literally.
func TestHostileKeys(t *testing.T) {
	t.Parallel()
	c := singleClient(t, ownDB(t), true)
	p := `h*[a-z]?\{x}:`
	st := redisstore.New(c, redisstore.Options{KeyPrefix: p})
	decoy := redisstore.New(c, redisstore.Options{})
	for _, k := range []string{p + "1", p + "*", p + `\`, p + "{tag}x", "h-decoy:[a]", `hX[a-z]?\{x}:z`} {
		if err := decoy.Save(ctx(t), k, []byte(k), time.Minute); err != nil {
			t.Fatalf("Save(%q): %v", k, err)
		}
		if v, found, err := decoy.Load(ctx(t), k); err != nil || !found || string(v) != k {
			t.Fatalf("Load(%q) = %q, %v, %v", k, v, found, err)
		}
	}
	keys, err := st.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{p + "*", p + "1", p + `\`, p + "{tag}x"}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("Keys = %q; want %q", keys, want)
	}
}

// TestVersionFromElsewhere: a version token this store did not make is a
// conflict, never a blind write.
func TestVersionFromElsewhere(t *testing.T) {
	t.Parallel()
	st := redisstore.New(singleClient(t, 0, true), redisstore.Options{})
	key := prefix(t) + "v"
	if err := st.Save(ctx(t), key, []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	err := st.SaveIf(ctx(t), key, []byte("b"), uint64(1), time.Minute)
	if !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("SaveIf with a foreign version: %v", err)
	}
}

// TestNoScript: after SCRIPT FLUSH, SaveIf falls back from EVALSHA to EVAL.
func TestNoScript(t *testing.T) {
	t.Parallel()
	srv := testserver.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer c.Close()
	st := redisstore.New(c, redisstore.Options{})
	for i := range 3 {
		if err := c.ScriptFlush(ctx(t)).Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx(t), "k", []byte("a"), time.Minute); err != nil {
			t.Fatal(err)
		}
		rec, err := st.LoadVersion(ctx(t), "k", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveIf(ctx(t), "k", []byte("b"), rec.Version, time.Minute); err != nil {
			t.Fatalf("round %d: SaveIf after SCRIPT FLUSH: %v", i, err)
		}
		if v, _ := c.Get(ctx(t), "k").Result(); v != "b" {
			t.Fatalf("value %q", v)
		}
	}
}

// TestTooLarge: a value over the server's proto-max-bulk-len is an error
// matching ErrTooLarge and the previous value stays.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	srv := testserver.StartRedis(t)
	if _, err := testserver.RedisCommand(srv.Addr, "CONFIG", "SET", "proto-max-bulk-len", "1mb"); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer c.Close()
	st := redisstore.New(c, redisstore.Options{})
	if err := st.Save(ctx(t), "big", []byte("small"), time.Minute); err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte{'x'}, 1<<20+1)
	// Redis answers a bulk over proto-max-bulk-len with an error and closes
	// the connection, so the client sees either that error (ErrTooLarge) or
	// a connection reset while it is still writing.
	refused := func(what string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Fatalf("%s of %d bytes over proto-max-bulk-len succeeded", what, len(huge))
		case errors.Is(err, backends.ErrTooLarge):
		default:
			t.Logf("%s of %d bytes: %v (connection reset before the error reply)", what, len(huge), err)
		}
	}
	refused("Save", st.Save(ctx(t), "big", huge, time.Minute))
	rec, err := st.LoadVersion(ctx(t), "big", 0)
	if err != nil || string(rec.Data) != "small" {
		t.Fatalf("after the refused Save: %q, %v", rec.Data, err)
	}
	refused("SaveIf", st.SaveIf(ctx(t), "big", huge, rec.Version, time.Minute))
	if v, found, err := st.Load(ctx(t), "big"); err != nil || !found || string(v) != "small" {
		t.Fatalf("after the refused SaveIf: %q, %v, %v", v, found, err)
	}
	// The mapping itself, on the error Redis sends.
	var tooLarge bool
	for range 20 {
		if err := st.Save(ctx(t), "big", huge, time.Minute); errors.Is(err, backends.ErrTooLarge) {
			tooLarge = true
			break
		}
	}
	if !tooLarge {
		t.Error("no Save over proto-max-bulk-len reported ErrTooLarge in 20 tries")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
