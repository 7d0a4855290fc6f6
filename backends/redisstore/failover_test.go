package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// storeRound is a SessionLoad round through the store, the way the
// middleware uses it: LoadVersion (with refresh), then SaveIf.
func storeRound(st *redisstore.Store, keys []string) testserver.Round {
	return func(ctx context.Context, i int, next int64) testserver.RoundResult {
		var r testserver.RoundResult
		rec, err := st.LoadVersion(ctx, keys[i], time.Hour)
		if err != nil {
			r.Err = err
			return r
		}
		r.Read, r.Found = true, rec.Found
		var ver any
		if rec.Found {
			if r.Value, err = strconv.ParseInt(string(rec.Data), 10, 64); err != nil {
				r.Err = err
				return r
			}
			ver = rec.Version
		}
		if r.Err = st.SaveIf(ctx, keys[i], []byte(strconv.FormatInt(next, 10)), ver, time.Hour); r.Err == nil {
			r.Wrote = true
		}
		return r
	}
}

func finalRead(st *redisstore.Store, keys []string) func(context.Context, int) (int64, bool, error) {
	return func(ctx context.Context, i int) (int64, bool, error) {
		data, found, err := st.Load(ctx, keys[i])
		if err != nil || !found {
			return 0, found, err
		}
		v, err := strconv.ParseInt(string(data), 10, 64)
		return v, true, err
	}
}

// replicaValue reads key on a replica (READONLY first, for a Cluster).
func replicaValue(addr, key string, cluster bool) (int64, bool) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	pipe := c.Pipeline()
	if cluster {
		pipe.ReadOnly(ctx)
	}
	get := pipe.Get(ctx, key)
	_, _ = pipe.Exec(ctx)
	v, err := get.Int64()
	return v, err == nil
}

// TestClusterFailover: a 3+3 Cluster under load loses a master to kill -9.
// Once every live node reports cluster_state:ok with the replica promoted,
// every session answers again within a few rounds; no acknowledged write
// and no session is lost; restarting the old master (it rejoins as a
// replica) fails no request.
func TestClusterFailover(t *testing.T) {
	cl := testserver.StartRedisClusterWith(t, testserver.ClusterConfig{Replicas: 1, NodeTimeout: time.Second})
	o, err := redisstore.ParseURL("redis+cluster://" + strings.Join(cl.Addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	client := o.NewClient().(*redis.ClusterClient)
	defer client.Close()
	st := redisstore.New(client, o.Store)

	const workers = 24
	keys := make([]string, workers)
	p := prefix(t)
	for i := range keys {
		keys[i] = p + strconv.Itoa(i)
	}
	// The victim: the master holding the most workers' keys.
	byMaster := map[string][]int{}
	for i, k := range keys {
		m, err := client.MasterForKey(ctx(t), k)
		if err != nil {
			t.Fatal(err)
		}
		byMaster[m.Options().Addr] = append(byMaster[m.Options().Addr], i)
	}
	var victim *testserver.Redis
	for _, n := range cl.Nodes[:len(cl.Addrs)] {
		if victim == nil || len(byMaster[n.Addr]) > len(byMaster[victim.Addr]) {
			victim = n
		}
	}
	if len(byMaster[victim.Addr]) == 0 {
		t.Fatal("no worker's key lives on the victim")
	}
	replicaAddr := cl.ReplicaOf(t, victim.Addr)
	onVictim := map[int]bool{}
	for _, i := range byMaster[victim.Addr] {
		onVictim[i] = true
	}

	l := testserver.StartSessionLoad(t, workers, 3*time.Second, storeRound(st, keys))
	l.WaitRounds(t, 20, 30*time.Second)

	killed := time.Now()
	testserver.StopCheckKill(t, victim, l, func(i int) bool { return onVictim[i] }, func(i int, acked int64) bool {
		v, ok := replicaValue(replicaAddr, keys[i], true)
		return ok && v >= acked
	})
	kill := l.Mark()
	promoted := cl.WaitFailover(t, victim)
	reported := l.Mark()
	reportedAt := time.Since(killed)
	rounds, took := l.WaitRecovered(t, reported, 30*time.Second)
	failed, sample := l.Failures(kill)
	t.Logf("killed master %s (%d of %d sessions on it); %s promoted, cluster_state:ok on every live node %v after the kill; "+
		"every session answered again %v after that (at most %d rounds); %d rounds failed in between, e.g. %v",
		victim.Addr, len(onVictim), workers, promoted, reportedAt.Round(time.Millisecond), took.Round(time.Millisecond), rounds, failed, sample)
	// A round that started before the reload may still fail once; the
	// next ones are routed to the new master.
	if rounds > 3 {
		t.Errorf("a session needed %d rounds after the cluster reported the failover, want at most 3", rounds)
	}

	restart := l.Mark()
	victim.Restart(t)
	cl.WaitHealthy(t)
	l.WaitRounds(t, 20, 30*time.Second)
	if n, err := l.Failures(restart); n > 0 {
		t.Errorf("%d rounds failed while the old master rejoined, e.g. %v", n, err)
	}
	if problems := l.Final(ctx(t), finalRead(st, keys)); len(problems) > 0 {
		t.Errorf("lost:\n%s", strings.Join(problems, "\n"))
	}
	if ok, failed := l.Totals(); ok == 0 {
		t.Fatal("no successful round")
	} else {
		t.Logf("%d rounds succeeded, %d failed", ok, failed)
	}
}

// TestSentinelFailover: master + replica + 3 sentinels under load; the
// master is killed with kill -9. Once the sentinels report the promoted
// replica, every session answers again within a few rounds; nothing
// acknowledged is lost; the old master, restarted, becomes a replica
// without failing a request.
func TestSentinelFailover(t *testing.T) {
	g := testserver.StartRedisSentinels(t, time.Second)
	o, err := redisstore.ParseURL("redis+sentinel://" + strings.Join(g.Sentinels, ",") + "/" + g.MasterName + "?client_name=gs-failover")
	if err != nil {
		t.Fatal(err)
	}
	client := o.NewClient()
	defer client.Close()
	st := redisstore.New(client, o.Store)

	const workers = 24
	keys := make([]string, workers)
	p := prefix(t)
	for i := range keys {
		keys[i] = p + strconv.Itoa(i)
	}
	l := testserver.StartSessionLoad(t, workers, 3*time.Second, storeRound(st, keys))
	l.WaitRounds(t, 20, 30*time.Second)

	killed := time.Now()
	testserver.StopCheckKill(t, g.Master, l, func(int) bool { return true }, func(i int, acked int64) bool {
		v, ok := replicaValue(g.Replica.Addr, keys[i], false)
		return ok && v >= acked
	})
	kill := l.Mark()
	promoted := g.WaitFailover(t, g.Master.Addr)
	reportedAt := time.Since(killed)
	// go-redis's pool, having failed to dial the dead master, answers its
	// last dial error until a probe (once a second) dials the new master:
	// the second event is the client's first connection there.
	testserver.WaitFor(t, "the client's first connection to "+promoted, 30*time.Second, "", func() error {
		list, err := testserver.RedisCommand(promoted, "CLIENT", "LIST")
		if err == nil && !strings.Contains(list, "name=gs-failover ") {
			err = errors.New("not yet")
		}
		return err
	})
	reached := l.Mark()
	reachedAt := time.Since(killed)
	rounds, took := l.WaitRecovered(t, reached, 30*time.Second)
	failed, sample := l.Failures(kill)
	t.Logf("killed master %s; sentinels named %s %v after the kill; the client connected to it %v after the kill; every session answered again %v after that (at most %d rounds); "+
		"%d rounds failed in between, e.g. %v", g.Master.Addr, promoted, reportedAt.Round(time.Millisecond), reachedAt.Round(time.Millisecond),
		took.Round(time.Millisecond), rounds, failed, sample)
	if rounds > 3 {
		n, err := l.Failures(reached)
		t.Errorf("a session needed %d rounds after the client reached the new master, want at most 3 (%d failed, e.g. %v)", rounds, n, err)
	}

	restart := l.Mark()
	restarted := time.Now()
	g.Master.Restart(t)
	g.WaitReplica(t, g.Master)
	t.Logf("the old master, restarted, was a linked replica %v later", time.Since(restarted).Round(time.Millisecond))
	l.WaitRounds(t, 20, 30*time.Second)
	if n, err := l.Failures(restart); n > 0 {
		t.Errorf("%d rounds failed while the old master rejoined, e.g. %v", n, err)
	}
	if problems := l.Final(ctx(t), finalRead(st, keys)); len(problems) > 0 {
		t.Errorf("lost:\n%s", strings.Join(problems, "\n"))
	}
}
