package testserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MemcachedHint tells how to install memcached when it is missing.
const MemcachedHint = "install it with: apt-get install -y memcached"

// MemcachedOptions tune StartMemcached. The zero value starts memcached
// with its defaults (1 MiB item size, 64 MB of memory).
type MemcachedOptions struct {
	// ItemSize is passed as -I (maximum item size, for example "512k" or
	// "2m"); empty keeps memcached's default of 1 MiB.
	ItemSize string
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// Memcached is one memcached server started by StartMemcached or
// SharedMemcached, listening on 127.0.0.1. It implements Controller;
// Restart brings it back on the same port (memcached keeps nothing on disk,
// so it comes back empty).
type Memcached struct {
	// Addr is host:port, ready for memcache.New.
	Addr string

	program string
	args    []string
	logFile string

	mu   sync.Mutex
	proc *serverProc
}

// StartMemcached starts a dedicated `memcached -l 127.0.0.1 -p PORT` for
// this test (with -u root when the test runs as root, which memcached
// otherwise refuses), waits until the server answers `stats` with its own
// pid, and stops it with t.Cleanup. Use it for tests that kill or pause
// the server. A missing memcached skips the test with an install hint, or
// fails it when CI is set.
func StartMemcached(t testing.TB, opts MemcachedOptions) *Memcached {
	t.Helper()
	program := LookPath(t, "memcached", MemcachedHint, "/usr/bin", "/usr/local/bin", "/usr/sbin")
	m, err := startMemcached(program, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(m.stop)
	return m
}

// StartMemcacheds starts n dedicated memcached servers for this test (for
// clients that spread keys over several servers).
func StartMemcacheds(t testing.TB, n int, opts MemcachedOptions) MemcachedGroup {
	t.Helper()
	g := make(MemcachedGroup, n)
	for i := range g {
		g[i] = StartMemcached(t, opts)
	}
	return g
}

var (
	sharedMemcachedMu sync.Mutex
	sharedMemcached   MemcachedGroup
)

// SharedMemcached returns two memcached servers (default options) shared
// by every test of this test binary, starting them on first use. They live
// until the binary exits (they are started with a parent death signal).
// Tests sharing them isolate themselves with key prefixes of their own. The
// group's Controller acts on every user of the shared servers: only a test
// that owns the whole binary for the duration (not parallel with other
// users) may kill or pause them.
func SharedMemcached(t testing.TB) MemcachedGroup {
	t.Helper()
	program := LookPath(t, "memcached", MemcachedHint, "/usr/bin", "/usr/local/bin", "/usr/sbin")
	sharedMemcachedMu.Lock()
	defer sharedMemcachedMu.Unlock()
	if sharedMemcached != nil {
		return sharedMemcached
	}
	sharedMu.Lock() // sharedDir's bookkeeping belongs to redis.go's lock
	dir, err := sharedDir("gsmemcached")
	sharedMu.Unlock()
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	var g MemcachedGroup
	for range 2 {
		m, err := startMemcached(program, dir, MemcachedOptions{})
		if err != nil {
			g.stop()
			t.Fatalf("testserver: %v", err)
		}
		g = append(g, m)
	}
	sharedMemcached = g
	return g
}

// StopSharedMemcached stops the shared memcached servers, if started; call
// it from TestMain after m.Run when a package has one. Without it they
// still die with the test binary.
func StopSharedMemcached() {
	sharedMemcachedMu.Lock()
	defer sharedMemcachedMu.Unlock()
	sharedMemcached.stop()
	sharedMemcached = nil
}

func startMemcached(program, dir string, opts MemcachedOptions) (*Memcached, error) {
	var lastErr error
	// A port that was free a moment ago can be taken before memcached binds
	// it; try a few ports before giving up.
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		if opts.ItemSize != "" {
			args = append(args, "-I", opts.ItemSize)
		}
		args = append(args, opts.ExtraArgs...)
		m := &Memcached{
			Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			program: program,
			args:    args,
			logFile: filepath.Join(dir, fmt.Sprintf("memcached-%d-%d.log", port, attempt)),
		}
		if lastErr = m.start(10 * time.Second); lastErr == nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("memcached did not start: %w", lastErr)
}

// start runs the program and waits until this very process answers.
func (m *Memcached) start(timeout time.Duration) error {
	p, err := spawn(m.logFile, m.program, m.args...)
	if err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("memcached on %s exited while starting: %s", m.Addr, Tail(m.logFile, 2000))
		default:
		}
		if err = memcachedPID(m.Addr, pid); err == nil {
			m.mu.Lock()
			m.proc = p
			m.mu.Unlock()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("memcached on %s not ready after %v: %v\n%s", m.Addr, timeout, err, Tail(m.logFile, 2000))
}

// memcachedPID checks that the server on addr answers `stats` and is the
// process with the given pid (and not some other test's memcached that
// took the port first).
func memcachedPID(addr string, pid int) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	got := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "END" {
			break
		}
		if v, ok := strings.CutPrefix(line, "STAT pid "); ok {
			got, _ = strconv.Atoi(v)
		}
	}
	if got != pid {
		return fmt.Errorf("%s is served by pid %d, not by the memcached just started (pid %d)", addr, got, pid)
	}
	return nil
}

func (m *Memcached) current() *serverProc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// stop kills the process (a paused one too) and waits until it is gone.
func (m *Memcached) stop() {
	if p := m.current(); p != nil {
		p.kill()
	}
}

// Kill stops the server with SIGKILL and waits until it is gone.
func (m *Memcached) Kill(t testing.TB) {
	t.Helper()
	m.stop()
}

// Pause freezes the server with SIGSTOP: connections hang instead of failing.
func (m *Memcached) Pause(t testing.TB) {
	t.Helper()
	p := m.current().cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testserver: pause memcached %s: %v", m.Addr, err)
	}
	WaitStopped(t, p.Pid, "memcached on "+m.Addr)
}

// Resume undoes Pause with SIGCONT.
func (m *Memcached) Resume(t testing.TB) {
	t.Helper()
	if err := m.current().cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("testserver: resume memcached %s: %v", m.Addr, err)
	}
}

// Restart starts the server again after Kill, on the same port, and waits
// until it answers. The restarted server is empty. Restarting a server
// that is still running kills it first. The new process lives as long as
// the old one would have (until the test's cleanup for StartMemcached,
// until the binary exits for SharedMemcached).
func (m *Memcached) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// memcached sets SO_REUSEADDR, so the port is free again at once;
		// retry briefly anyway.
		err := m.start(10 * time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testserver: restart memcached: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MemcachedGroup is several memcached servers controlled together: Kill,
// Pause, Resume and Restart act on every server of the group.
type MemcachedGroup []*Memcached

// Addrs returns the servers' host:port addresses, in order.
func (g MemcachedGroup) Addrs() []string {
	addrs := make([]string, len(g))
	for i, m := range g {
		addrs[i] = m.Addr
	}
	return addrs
}

// Kill kills every server of the group.
func (g MemcachedGroup) Kill(t testing.TB) {
	t.Helper()
	for _, m := range g {
		m.Kill(t)
	}
}

// Pause freezes every server of the group.
func (g MemcachedGroup) Pause(t testing.TB) {
	t.Helper()
	for _, m := range g {
		m.Pause(t)
	}
}

// Resume unfreezes every server of the group.
func (g MemcachedGroup) Resume(t testing.TB) {
	t.Helper()
	for _, m := range g {
		m.Resume(t)
	}
}

// Restart restarts every server of the group on its own port.
func (g MemcachedGroup) Restart(t testing.TB) {
	t.Helper()
	for _, m := range g {
		m.Restart(t)
	}
}

func (g MemcachedGroup) stop() {
	for _, m := range g {
		m.stop()
	}
}

var (
	_ Controller = (*Memcached)(nil)
	_ Controller = MemcachedGroup(nil)
)
