package redisstore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

func benchStore(b *testing.B) (*redisstore.Store, string) {
	srv := testserverShared(b)
	_ = srv
	c := benchClient(b)
	st := redisstore.New(c, redisstore.Options{})
	key := "bench:" + b.Name()
	if err := st.Save(b.Context(), key, make([]byte, 100), time.Hour); err != nil {
		b.Fatal(err)
	}
	return st, key
}

// BenchmarkLoadVersionRefresh is the read of every request: GETEX.
func BenchmarkLoadVersionRefresh(b *testing.B) {
	st, key := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.LoadVersion(b.Context(), key, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveIf is a conditional write of a 100-byte value: EVALSHA.
func BenchmarkSaveIf(b *testing.B) {
	st, key := benchStore(b)
	data := make([]byte, 100)
	rec, err := st.LoadVersion(b.Context(), key, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.SaveIf(b.Context(), key, data, rec.Version, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTouch is EXPIRE.
func BenchmarkTouch(b *testing.B) {
	st, key := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Touch(b.Context(), key, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func testserverShared(b *testing.B) *testserver.Redis { return testserver.SharedRedis(b) }

func benchClient(b *testing.B) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: testserver.SharedRedis(b).Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkReplicated measures what wait_replicas costs a write: Save
// (SET) and SaveIf (EVALSHA) on a master with one replica, without and
// with WAIT 1.
func BenchmarkReplicated(b *testing.B) {
	master := testserver.StartRedis(b)
	testserver.StartRedisReplica(b, master)
	for _, wait := range []int{0, 1} {
		c := redis.NewClient(&redis.Options{Addr: master.Addr, ContextTimeoutEnabled: true})
		b.Cleanup(func() { c.Close() })
		st := redisstore.New(c, redisstore.Options{WaitReplicas: wait})
		name := "wait_replicas=" + strconv.Itoa(wait)
		data := make([]byte, 100)
		b.Run("Save/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := st.Save(b.Context(), "bench:repl", data, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("SaveIf/"+name, func(b *testing.B) {
			rec, err := st.LoadVersion(b.Context(), "bench:repl", 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := st.SaveIf(b.Context(), "bench:repl", data, rec.Version, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
