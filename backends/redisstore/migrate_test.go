package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends/redisstore"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestClusterSlotMigration moves the slot every worker's session lives in
// from one master to another under load (CLUSTER SETSLOT … MIGRATING /
// IMPORTING, MIGRATE, SETSLOT … NODE), as resharding does: the clients see
// ASK during the move and MOVED after it, and no round may fail — a
// redirect is followed, never reported.
func TestClusterSlotMigration(t *testing.T) {
	cl := testserver.StartRedisCluster(t)
	o, err := redisstore.ParseURL("redis+cluster://" + strings.Join(cl.Addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	client := o.NewClient().(*redis.ClusterClient)
	defer client.Close()
	st := redisstore.New(client, o.Store)

	const workers = 16
	keys := make([]string, workers)
	for i := range keys {
		keys[i] = "{migrate}:" + strconv.Itoa(i) // one slot for all
	}
	bg := context.Background()
	slot, err := client.ClusterKeySlot(bg, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	src, err := client.MasterForKey(bg, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	srcAddr := src.Options().Addr
	dstAddr := cl.Addrs[0]
	if dstAddr == srcAddr {
		dstAddr = cl.Addrs[1]
	}
	node := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	srcC, dstC := node(srcAddr), node(dstAddr)
	srcID, err := srcC.ClusterMyID(bg).Result()
	if err != nil {
		t.Fatal(err)
	}
	dstID, err := dstC.ClusterMyID(bg).Result()
	if err != nil {
		t.Fatal(err)
	}
	s := strconv.FormatInt(slot, 10)

	l := testserver.StartSessionLoad(t, workers, 3*time.Second, storeRound(st, keys))
	l.WaitRounds(t, 20, 30*time.Second)
	moving := l.Mark()

	must := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(bg, args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", args, c.Options().Addr, err)
		}
	}
	must(dstC, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID)
	must(srcC, "CLUSTER", "SETSLOT", s, "MIGRATING", dstID)
	host, port, _ := strings.Cut(dstAddr, ":")
	for {
		ks, err := srcC.ClusterGetKeysInSlot(bg, int(slot), 4).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range ks {
			args = append(args, k)
		}
		must(srcC, args...)
		time.Sleep(20 * time.Millisecond) // let the workers meet ASK
	}
	// The order redis-cli uses: the new owner, the old one, the others.
	must(dstC, "CLUSTER", "SETSLOT", s, "NODE", dstID)
	must(srcC, "CLUSTER", "SETSLOT", s, "NODE", dstID)
	for _, a := range cl.Addrs {
		if a != srcAddr && a != dstAddr {
			must(node(a), "CLUSTER", "SETSLOT", s, "NODE", dstID)
		}
	}
	moved := l.Mark()
	l.WaitRounds(t, 20, 30*time.Second)
	if owner, err := dstC.ClusterCountKeysInSlot(bg, int(slot)).Result(); err != nil || owner != workers {
		t.Fatalf("the new owner holds %d keys of slot %d, want %d (%v)", owner, slot, workers, err)
	}
	for _, ev := range []int{moving, moved} {
		if n, err := l.Failures(ev); n > 0 {
			t.Errorf("%d rounds failed around the migration (event %d), e.g. %v", n, ev, err)
		}
	}
	if problems := l.Final(ctx(t), finalRead(st, keys)); len(problems) > 0 {
		t.Errorf("lost:\n%s", strings.Join(problems, "\n"))
	}
	ok, _ := l.Totals()
	t.Logf("slot %d moved from %s to %s under load: %d rounds, none failed", slot, srcAddr, dstAddr, ok)
}
