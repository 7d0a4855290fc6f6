package testserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisHint says how to install redis-server (redis-cli comes with it).
const RedisHint = "install it with: apt-get install -y redis-server"

// Redis is a redis-server started by StartRedis or SharedRedis. It
// implements Controller: Kill, Pause, Resume and Restart act on the real
// process, and Restart brings it back on the same port and unix socket.
type Redis struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Port is the TCP port.
	Port int
	// Socket is the path of the server's unix socket.
	Socket string
	// Dir holds the server's socket, log and pid files.
	Dir string

	bin  string
	args []string
	log  string

	mu   sync.Mutex
	proc *serverProc
}

// RedisCluster is a Redis Cluster started by SharedRedisCluster,
// StartRedisCluster (three masters, no replicas) or StartRedisClusterWith.
type RedisCluster struct {
	// Addrs are the initial masters' host:port addresses.
	Addrs []string
	// Nodes are every node, masters first, each a Controller of its own.
	Nodes []*Redis
	nodes []*Redis
	cfg   ClusterConfig
}

// StartRedis starts a dedicated redis-server for this test (no persistence,
// random port, unix socket in a short temp dir) and stops it with t.Cleanup.
// Use it for tests that kill or pause the server.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	dir := ShortTempDir(t, "gsredis")
	r, err := startRedis(bin, dir, nil)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(r.stop)
	return r
}

// StartRedisArgs is StartRedis with extra redis-server arguments, e.g.
// "--rename-command", "GETEX", "" to make a server that answers like one
// older than 6.2.
func StartRedisArgs(t testing.TB, args ...string) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	dir := ShortTempDir(t, "gsredis")
	r, err := startRedis(bin, dir, func(int) []string { return args })
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(r.stop)
	return r
}

var (
	sharedMu      sync.Mutex
	sharedRedis   *Redis
	sharedCluster *RedisCluster
	sharedDirs    []string
)

// SharedRedis returns the redis-server shared by every test of this test
// binary, starting it on first use. It lives until the binary exits (the
// kernel kills it then, see StopShared). Tests sharing it isolate themselves
// with key prefixes or a database number of their own. Its Controller acts
// on every user of the shared server: only a test that owns the whole binary
// for the duration (not parallel with other users) may kill or pause it.
func SharedRedis(t testing.TB) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedRedis != nil {
		return sharedRedis
	}
	dir, err := sharedDir("gsredis")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	r, err := startRedis(bin, dir, nil)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	sharedRedis = r
	return r
}

// SharedRedisCluster returns the three-master Redis Cluster shared by every
// test of this test binary, starting it on first use (a few seconds).
func SharedRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	cli := LookPath(t, "redis-cli", RedisHint)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCluster != nil {
		return sharedCluster
	}
	dir, err := sharedDir("gscluster")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	c, err := startRedisCluster(bin, cli, dir, ClusterConfig{})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	sharedCluster = c
	return c
}

// StartRedisCluster starts a dedicated three-master Redis Cluster for this
// test and stops it with t.Cleanup.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	cli := LookPath(t, "redis-cli", RedisHint)
	dir := ShortTempDir(t, "gscluster")
	c, err := startRedisCluster(bin, cli, dir, ClusterConfig{})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(c.stop)
	return c
}

// StopShared stops the shared servers and removes their directories. Call
// it from TestMain after m.Run when a package has one; without it the
// servers still die with the test binary (they are started with a parent
// death signal) and their temporary directories are swept by the next run.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedRedis != nil {
		sharedRedis.stop()
		sharedRedis = nil
	}
	if sharedCluster != nil {
		sharedCluster.stop()
		sharedCluster = nil
	}
	stopSharedDynalite() // before its directory goes
	for _, d := range sharedDirs {
		_ = os.RemoveAll(d)
	}
	sharedDirs = nil
}

// sharedDir makes a directory for a shared server, marked with this
// process's pid, after removing directories left by test binaries that are
// no longer running.
func sharedDir(prefix string) (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-shared-*"))
	for _, d := range old {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", prefix+"-shared-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return "", err
	}
	sharedDirs = append(sharedDirs, dir)
	return dir, nil
}

func startRedis(bin, dir string, extra func(port int) []string) (*Redis, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:   port,
		Socket: filepath.Join(dir, fmt.Sprintf("redis-%d.sock", port)),
		Dir:    dir,
		bin:    bin,
		log:    filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
	}
	r.args = []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", dir,
		"--unixsocket", r.Socket,
		"--unixsocketperm", "700",
		"--logfile", "",
	}
	if extra != nil {
		r.args = append(r.args, extra(port)...)
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

// start runs the server and waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := spawn(r.log, r.bin, r.args...)
	if err != nil {
		return err
	}
	r.proc = p
	deadline := time.Now().Add(15 * time.Second)
	for {
		reply, err := RedisCommand(r.Addr, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on %s exited during start:\n%s", r.Addr, Tail(r.log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("redis-server on %s not ready after 15s: %v, %q\n%s", r.Addr, err, reply, Tail(r.log, 2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *Redis) stop() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die of SIGKILL any slower, but be tidy
		p.kill()
	}
}

// Kill stops the server with SIGKILL and waits until it is gone.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Pause freezes the server with SIGSTOP: connections hang instead of failing.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGSTOP)
}

// Resume undoes Pause with SIGCONT.
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGCONT)
}

func (r *Redis) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p == nil {
		t.Fatalf("testserver: redis-server on %s is not running", r.Addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testserver: signal redis-server on %s: %v", r.Addr, err)
	}
	if sig == syscall.SIGSTOP {
		WaitStopped(t, p.cmd.Process.Pid, "redis-server on "+r.Addr)
	}
}

// Restart starts the server again after Kill, on the same port and socket,
// and waits until it answers. The data is gone (no persistence).
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		default:
			p.kill() // Restart without Kill: make it a restart anyway
		}
	}
	_ = os.Remove(r.Socket)
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testserver: restart redis-server on %s: %v", r.Addr, err)
}

var _ Controller = (*Redis)(nil)

func startRedisCluster(bin, cli, dir string, cfg ClusterConfig) (*RedisCluster, error) {
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = 5 * time.Second
	}
	total := cfg.Masters * (1 + cfg.Replicas)
	c := &RedisCluster{cfg: cfg}
	for i := 0; i < total; i++ {
		bus, err := freePort()
		if err != nil {
			c.stop()
			return nil, err
		}
		n, err := startRedis(bin, dir, func(port int) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
				"--cluster-port", strconv.Itoa(bus),
				"--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10),
				// Any replica may be promoted, however long it was cut off.
				"--cluster-replica-validity-factor", "0",
			}
		})
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	var all []string
	for _, n := range c.nodes {
		all = append(all, n.Addr)
	}
	args := append([]string{"--cluster", "create"}, all...)
	args = append(args, "--cluster-replicas", strconv.Itoa(cfg.Replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.nodes {
		for {
			info, err := RedisCommand(n.Addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r", total)) {
				break
			}
			if time.Now().After(deadline) {
				c.stop()
				return nil, fmt.Errorf("redis cluster node %s not ready after 30s: %v\n%s\n%s", n.Addr, err, info, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// redis-cli makes the first Masters nodes masters; order Nodes so.
	for _, n := range c.nodes {
		if role, err := nodeRole(n.Addr); err == nil && role == "master" {
			c.Addrs = append(c.Addrs, n.Addr)
			c.Nodes = append(c.Nodes, n)
		}
	}
	for _, n := range c.nodes {
		if role, err := nodeRole(n.Addr); err == nil && role != "master" {
			c.Nodes = append(c.Nodes, n)
		}
	}
	if len(c.Addrs) != cfg.Masters || len(c.Nodes) != total {
		c.stop()
		return nil, fmt.Errorf("redis cluster: %d masters of %d nodes after create, want %d of %d\n%s", len(c.Addrs), len(c.Nodes), cfg.Masters, total, out)
	}
	if err := c.waitReplicasLinked(deadline); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *RedisCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// serverProc is a child process that receives SIGKILL when the test binary
// dies, so a shared server never outlives its tests.
type serverProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *serverProc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawn starts program with Pdeathsig=SIGKILL. Linux delivers the parent
// death signal when the thread that forked the child exits, so every child
// is forked from one goroutine locked to its own thread for the life of the
// binary.
func spawn(logFile, program string, args ...string) (*serverProc, error) {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for req := range spawnCh {
				req.err <- req.cmd.Start()
			}
		}()
	})
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- req
	if err := <-req.err; err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", program, err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RedisCommand sends one command to the server at addr (host:port, or a
// unix socket path starting with "/") over a fresh connection and returns
// its reply: a status or bulk string, or an integer in decimal. An error
// reply is returned as an error. It is for readiness checks and test
// fixtures, not for speed.
func RedisCommand(addr string, args ...string) (string, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unsupported reply %q", line)
	}
}

// StartRedisSentinel starts a Redis Sentinel that monitors master under the
// name mymaster (quorum 1) and stops it with t.Cleanup. It returns the
// sentinel's host:port.
func StartRedisSentinel(t testing.TB, master *Redis) string {
	t.Helper()
	bin := LookPath(t, "redis-server", RedisHint)
	dir := ShortTempDir(t, "gssentinel")
	port := FreePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n", port, dir, master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	logFile := filepath.Join(dir, "sentinel.log")
	p, err := spawn(logFile, bin, conf, "--sentinel")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(p.kill)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	WaitFor(t, "redis sentinel on "+addr, 15*time.Second, logFile, func() error {
		reply, err := RedisCommand(addr, "PING")
		if err == nil && reply != "PONG" {
			err = fmt.Errorf("PING answered %q", reply)
		}
		return err
	})
	return addr
}
