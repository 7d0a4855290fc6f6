package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterConfig shapes a Redis Cluster started by StartRedisClusterWith.
// Zero fields take the defaults.
type ClusterConfig struct {
	// Masters is the number of masters (default 3, the least Redis accepts).
	Masters int
	// Replicas is the number of replicas of each master (default 0).
	Replicas int
	// NodeTimeout is cluster-node-timeout: how long a node may be
	// unreachable before it is failed and its replica promoted (default 5s).
	NodeTimeout time.Duration
}

// StartRedisClusterWith starts a dedicated Redis Cluster shaped by cfg for
// this test, every replica linked to its master, and stops it with
// t.Cleanup. Nodes lists masters first; each node can be killed and
// restarted (it keeps its nodes.conf, so it rejoins the cluster).
func StartRedisClusterWith(t testing.TB, cfg ClusterConfig) *RedisCluster {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	cli := LookPath(t, "redis-cli", RedisHint)
	dir := ShortTempDir(t, "gscluster")
	c, err := startRedisCluster(bin, cli, dir, cfg)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(c.stop)
	return c
}

// running reports whether the server process is alive.
func (r *Redis) running() bool {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// nodeRole returns the role ("master" or "slave") INFO replication reports.
func nodeRole(addr string) (string, error) {
	info, err := RedisCommand(addr, "INFO", "replication")
	if err != nil {
		return "", err
	}
	return infoField(info, "role"), nil
}

// infoField returns the value of "name:value" in an INFO reply.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// waitReplicasLinked waits until every replica reports its master link up.
func (c *RedisCluster) waitReplicasLinked(deadline time.Time) error {
	for _, n := range c.Nodes[len(c.Addrs):] {
		for {
			info, err := RedisCommand(n.Addr, "INFO", "replication")
			if err == nil && infoField(info, "master_link_status") == "up" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("redis cluster replica %s not linked to its master: %v\n%s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id     string
	addr   string // host:port
	flags  string
	master string // the master's id, "-" for a master
	slots  int    // number of slot ranges
}

func clusterNodes(addr string) ([]clusterNode, error) {
	text, err := RedisCommand(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		nodes = append(nodes, clusterNode{id: f[0], addr: a, flags: f[2], master: f[3], slots: len(f) - 8})
	}
	return nodes, nil
}

func hasFlag(flags, flag string) bool {
	for _, f := range strings.Split(flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}

// ReplicaOf returns the address of a replica of the master at addr, as
// the first node reports it; it fails the test if there is none.
func (c *RedisCluster) ReplicaOf(t testing.TB, addr string) string {
	t.Helper()
	nodes, err := clusterNodes(c.Nodes[0].Addr)
	if err != nil {
		t.Fatalf("testserver: CLUSTER NODES: %v", err)
	}
	for _, m := range nodes {
		if m.addr != addr {
			continue
		}
		for _, r := range nodes {
			if r.master == m.id {
				return r.addr
			}
		}
	}
	t.Fatalf("testserver: no replica of %s in the cluster", addr)
	return ""
}

// WaitFailover waits until the cluster reports the failover of dead, a
// killed master, done: every live node says cluster_state:ok, flags dead
// as failed and gives its slots to another master. It returns that new
// master's address and fails the test after 60s.
func (c *RedisCluster) WaitFailover(t testing.TB, dead *Redis) string {
	t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		promoted, ok := "", true
		for _, n := range c.Nodes {
			if n == dead || !n.running() {
				continue
			}
			info, err := RedisCommand(n.Addr, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok, last = false, fmt.Sprintf("%s: %v %q", n.Addr, err, infoField(info, "cluster_state"))
				break
			}
			nodes, err := clusterNodes(n.Addr)
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			for _, x := range nodes {
				if x.addr == dead.Addr {
					if !hasFlag(x.flags, "fail") || x.slots > 0 {
						ok, last = false, fmt.Sprintf("%s sees %s as %s with %d slot ranges", n.Addr, dead.Addr, x.flags, x.slots)
					}
				}
			}
			if !ok {
				break
			}
			if promoted == "" {
				promoted = c.promotedBy(nodes, dead)
			}
		}
		if ok && promoted != "" {
			return promoted
		}
	}
	t.Fatalf("testserver: redis cluster did not fail over %s in 60s: %s", dead.Addr, last)
	return ""
}

// promotedBy returns the address of the master that holds the slots dead
// held when the cluster started, judged from a CLUSTER NODES listing: the
// master among the dead one's replicas' addresses, or "".
func (c *RedisCluster) promotedBy(nodes []clusterNode, dead *Redis) string {
	i := -1
	for k, a := range c.Addrs {
		if a == dead.Addr {
			i = k
		}
	}
	if i < 0 {
		return "?" // dead was not an initial master
	}
	for _, x := range nodes {
		if x.addr != dead.Addr && hasFlag(x.flags, "master") && !hasFlag(x.flags, "fail") && x.slots > 0 && !c.initialMaster(x.addr) {
			return x.addr
		}
	}
	return ""
}

func (c *RedisCluster) initialMaster(addr string) bool {
	for _, a := range c.Addrs {
		if a == addr {
			return true
		}
	}
	return false
}

// WaitHealthy waits until every node runs, says cluster_state:ok, flags no
// node as failed, the cluster has its number of masters with slots and
// every replica's link to its master is up. It fails the test after 60s.
func (c *RedisCluster) WaitHealthy(t testing.TB) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if last = c.unhealthy(); last == "" {
			return
		}
	}
	t.Fatalf("testserver: redis cluster not healthy after 60s: %s", last)
}

func (c *RedisCluster) unhealthy() string {
	for _, n := range c.Nodes {
		info, err := RedisCommand(n.Addr, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return fmt.Sprintf("%s: %v %q", n.Addr, err, infoField(info, "cluster_state"))
		}
		nodes, err := clusterNodes(n.Addr)
		if err != nil {
			return err.Error()
		}
		masters := 0
		for _, x := range nodes {
			if hasFlag(x.flags, "fail") || hasFlag(x.flags, "fail?") {
				return fmt.Sprintf("%s sees %s as %s", n.Addr, x.addr, x.flags)
			}
			if hasFlag(x.flags, "master") && x.slots > 0 {
				masters++
			}
		}
		if masters != c.cfg.Masters {
			return fmt.Sprintf("%s sees %d masters with slots", n.Addr, masters)
		}
		rep, err := RedisCommand(n.Addr, "INFO", "replication")
		if err != nil {
			return err.Error()
		}
		if infoField(rep, "role") == "slave" && infoField(rep, "master_link_status") != "up" {
			return fmt.Sprintf("replica %s: master link %s", n.Addr, infoField(rep, "master_link_status"))
		}
	}
	return ""
}

// RedisSentinels is a Sentinel deployment started by StartRedisSentinels:
// a master, one replica and three sentinels (quorum 2) watching it under
// the name MasterName.
type RedisSentinels struct {
	// Master and Replica are the data nodes as started; after a failover
	// their roles are swapped.
	Master, Replica *Redis
	// Sentinels are the sentinels' host:port addresses.
	Sentinels []string
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
}

// StartRedisSentinels starts a master, a replica of it and three sentinels
// with down-after-milliseconds downAfter (default 1s), waits until the
// replica is linked and every sentinel knows the replica and the two other
// sentinels, and stops everything with t.Cleanup.
func StartRedisSentinels(t testing.TB, downAfter time.Duration) *RedisSentinels {
	t.Helper()
	if downAfter == 0 {
		downAfter = time.Second
	}
	bin := LookPath(t, "redis-server", RedisHint)
	dir := ShortTempDir(t, "gssentinels")
	master, err := startRedis(bin, dir, nil)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(master.stop)
	replica, err := startRedis(bin, dir, func(int) []string {
		return []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}
	})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(replica.stop)
	g := &RedisSentinels{Master: master, Replica: replica, MasterName: "mymaster"}
	WaitFor(t, "redis replica "+replica.Addr, 15*time.Second, replica.log, func() error {
		info, err := RedisCommand(replica.Addr, "INFO", "replication")
		if err == nil && infoField(info, "master_link_status") != "up" {
			err = fmt.Errorf("master link %q", infoField(info, "master_link_status"))
		}
		return err
	})
	for i := 0; i < 3; i++ {
		port := FreePort(t)
		sdir := filepath.Join(dir, "sentinel-"+strconv.Itoa(i))
		if err := os.Mkdir(sdir, 0o700); err != nil {
			t.Fatalf("testserver: %v", err)
		}
		conf := filepath.Join(sdir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[3]s %[5]d\n"+
			"sentinel failover-timeout %[3]s 10000\n"+
			"sentinel parallel-syncs %[3]s 1\n",
			port, sdir, g.MasterName, master.Port, downAfter.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("testserver: %v", err)
		}
		logFile := filepath.Join(sdir, "sentinel.log")
		p, err := spawn(logFile, bin, conf, "--sentinel")
		if err != nil {
			t.Fatalf("testserver: %v", err)
		}
		t.Cleanup(p.kill)
		g.Sentinels = append(g.Sentinels, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	for _, addr := range g.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		WaitFor(t, "redis sentinel on "+addr, 30*time.Second, "", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			m, err := sc.Master(ctx, g.MasterName).Result()
			if err != nil {
				return err
			}
			if m["num-other-sentinels"] != "2" || m["num-slaves"] != "1" {
				return fmt.Errorf("knows %s other sentinels and %s replicas", m["num-other-sentinels"], m["num-slaves"])
			}
			return nil
		})
		sc.Close()
	}
	return g
}

// MasterAddr returns the master's address as every sentinel reports it, or
// an error if they disagree or cannot be asked.
func (g *RedisSentinels) MasterAddr() (string, error) {
	var addr string
	for _, s := range g.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		hp, err := sc.GetMasterAddrByName(ctx, g.MasterName).Result()
		cancel()
		sc.Close()
		if err != nil {
			return "", fmt.Errorf("sentinel %s: %w", s, err)
		}
		if len(hp) != 2 {
			return "", fmt.Errorf("sentinel %s: master address %q", s, hp)
		}
		a := net.JoinHostPort(hp[0], hp[1])
		if addr != "" && a != addr {
			return "", fmt.Errorf("sentinels disagree: %s and %s", addr, a)
		}
		addr = a
	}
	return addr, nil
}

// WaitFailover waits until every sentinel names a master other than old
// and that server says it is a master. It returns the new master's
// address and fails the test after 60s.
func (g *RedisSentinels) WaitFailover(t testing.TB, old string) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		addr, err := g.MasterAddr()
		if err == nil && addr == old {
			err = fmt.Errorf("sentinels still name %s", old)
		}
		if err == nil {
			var role string
			if role, err = nodeRole(addr); err == nil && role != "master" {
				err = fmt.Errorf("%s says it is a %s", addr, role)
			}
		}
		if err == nil {
			return addr
		}
		last = err
	}
	t.Fatalf("testserver: redis sentinels did not fail over from %s in 60s: %v", old, last)
	return ""
}

// WaitReplica waits until the server r is a replica with its master link
// up (a restarted old master, reconfigured by the sentinels). Sentinels do
// that once it has reported the master role for 8 s and they next read its
// INFO (every 10 s): about 16 s. A sentinel starved of CPU for 2 s enters
// TILT mode and takes no action for 30 s, so this waits up to 90 s before
// failing the test.
func (g *RedisSentinels) WaitReplica(t testing.TB, r *Redis) {
	t.Helper()
	WaitFor(t, "redis "+r.Addr+" as a replica", 90*time.Second, r.log, func() error {
		info, err := RedisCommand(r.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if infoField(info, "role") != "slave" || infoField(info, "master_link_status") != "up" {
			return fmt.Errorf("role %s, master link %s", infoField(info, "role"), infoField(info, "master_link_status"))
		}
		return nil
	})
}

// StartRedisReplica starts a dedicated redis-server replicating master,
// waits until its link is up, and stops it with t.Cleanup.
func StartRedisReplica(t testing.TB, master *Redis) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	dir := ShortTempDir(t, "gsreplica")
	r, err := startRedis(bin, dir, func(int) []string {
		return []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}
	})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(r.stop)
	WaitFor(t, "redis replica "+r.Addr, 15*time.Second, r.log, func() error {
		info, err := RedisCommand(r.Addr, "INFO", "replication")
		if err == nil && infoField(info, "master_link_status") != "up" {
			err = fmt.Errorf("master link %q", infoField(info, "master_link_status"))
		}
		return err
	})
	return r
}
