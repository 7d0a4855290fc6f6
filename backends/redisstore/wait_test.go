package redisstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestWaitReplicas: with wait_replicas, a write returns only once the
// replica has it (read there at once, no polling), for Save, SaveIf and
// Delete; asking for more replicas than exist fails with ErrNotReplicated
// after wait_timeout, the write applied on the master.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	master := testserver.StartRedis(t)
	replica := testserver.StartRedisReplica(t, master)
	onReplica := func(key string) (string, bool) {
		v, err := testserver.RedisCommand(replica.Addr, "GET", key)
		return v, err == nil && v != ""
	}
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis://" + master.Addr + "?wait_replicas=1&wait_timeout=5s"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*redisstore.Store).Close()
	cas := st.(backends.CompareAndSwapper)
	for i := range 50 {
		key := "wait:" + itoa(i)
		if err := st.Save(ctx(t), key, []byte("a"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok := onReplica(key); !ok || v != "a" {
			t.Fatalf("Save returned before the replica had the value: %q", v)
		}
		rec, err := cas.LoadVersion(ctx(t), key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := cas.SaveIf(ctx(t), key, []byte("b"), rec.Version, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := onReplica(key); v != "b" {
			t.Fatalf("SaveIf returned before the replica had the value: %q", v)
		}
		if err := cas.SaveIf(ctx(t), key+":new", []byte("c"), nil, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := onReplica(key + ":new"); v != "c" {
			t.Fatalf("SaveIf (create) returned before the replica had the value: %q", v)
		}
		if err := st.Delete(ctx(t), key); err != nil {
			t.Fatal(err)
		}
		if v, ok := onReplica(key); ok {
			t.Fatalf("Delete returned before the replica deleted: %q", v)
		}
	}
	// A conflict writes nothing and does not wait.
	if err := cas.SaveIf(ctx(t), "wait:0:new", []byte("d"), nil, time.Minute); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("SaveIf NX on an existing key: %v", err)
	}

	two, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis://" + master.Addr + "?wait_replicas=2&wait_timeout=50ms"})
	if err != nil {
		t.Fatal(err)
	}
	defer two.(*redisstore.Store).Close()
	err = two.Save(ctx(t), "wait:two", []byte("x"), time.Minute)
	if !errors.Is(err, redisstore.ErrNotReplicated) || !strings.Contains(err.Error(), "1 of 2") || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("Save with too few replicas: %v", err)
	}
	if v, _ := testserver.RedisCommand(master.Addr, "GET", "wait:two"); v != "x" {
		t.Fatalf("the write was not applied on the master: %q", v)
	}
}

// TestWaitReplicasCluster: on a Cluster the write and its WAIT go to the
// key's master on one connection.
func TestWaitReplicasCluster(t *testing.T) {
	cl := testserver.StartRedisClusterWith(t, testserver.ClusterConfig{Replicas: 1})
	st, err := backends.Open(ctx(t), backends.Config{Type: "redis", Redis: "redis+cluster://" + strings.Join(cl.Addrs, ",") + "?wait_replicas=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*redisstore.Store).Close()
	client := st.(*redisstore.Store).Client().(*redis.ClusterClient)
	replicas := map[string]string{}
	for i := range 30 {
		key := "cwait:" + itoa(i)
		if err := st.Save(ctx(t), key, []byte(itoa(i+1000)), time.Minute); err != nil {
			t.Fatal(err)
		}
		m, err := client.MasterForKey(ctx(t), key)
		if err != nil {
			t.Fatal(err)
		}
		addr := m.Options().Addr
		if replicas[addr] == "" {
			replicas[addr] = cl.ReplicaOf(t, addr)
		}
		if v, ok := replicaValue(replicas[addr], key, true); !ok || v != int64(i+1000) {
			t.Fatalf("Save returned before the replica had the value: %d %v", v, ok)
		}
	}
	if len(replicas) < 2 {
		t.Fatalf("keys on %d masters only", len(replicas))
	}
}
