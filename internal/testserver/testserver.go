// Package testserver starts real server programs for tests: each listens on
// 127.0.0.1 on a random free port, keeps its files in a temporary directory
// and is stopped by t.Cleanup.
//
// When a program is missing, the test is skipped with a message saying how
// to install it — except when the CI environment variable is set, where the
// test fails instead, so a CI run can never pass by skipping a backend.
package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the CI environment variable is set to a non-empty
// value other than "false" or "0".
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Unavailable skips the test with the reason and hint, or fails it under CI.
func Unavailable(t testing.TB, reason, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s; %s", reason, hint)
	if InCI() {
		t.Fatalf("CI is set, so this is a failure, not a skip: %s", msg)
	}
	t.Skip(msg)
}

// LookPath finds program on PATH or in extra directories (globs allowed).
// If it is missing it calls Unavailable with the install hint.
func LookPath(t testing.TB, program, hint string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, pattern := range extraDirs {
		matches, _ := filepath.Glob(filepath.Join(pattern, program))
		for i := len(matches) - 1; i >= 0; i-- { // newest version last in lexical order
			if st, err := os.Stat(matches[i]); err == nil && !st.IsDir() {
				return matches[i]
			}
		}
	}
	Unavailable(t, program+" is not installed", hint)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ShortTempDir returns a fresh directory under /tmp with a short path (unix
// socket paths are limited to 108 bytes, which t.TempDir can exceed). It is
// removed by t.Cleanup.
func ShortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() {
		for i := 0; i < 5; i++ {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// WaitFor polls ready every 20ms until it returns nil or timeout passes; it
// fails the test with the last error and the given log file's tail.
func WaitFor(t testing.TB, what string, timeout time.Duration, logFile string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = ready(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testserver: %s not ready after %v: %v\n%s", what, timeout, err, Tail(logFile, 2000))
}

// DialReady returns a ready func that succeeds once addr accepts TCP.
func DialReady(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// Tail returns up to n trailing bytes of a file, for failure messages.
func Tail(path string, n int) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Process is a server program started in the foreground by Start.
type Process struct {
	Cmd  *exec.Cmd // the running program
	Log  string    // the file its output goes to
	done chan struct{}
}

// Start runs a program with its output in logFile; t.Cleanup kills it.
func Start(t testing.TB, logFile, program string, args ...string) *Process {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("testserver: start %s: %v", program, err)
	}
	p := &Process{Cmd: cmd, Log: logFile, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

// Kill stops the process with SIGKILL and waits for it to exit.
func (p *Process) Kill() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	_ = p.Cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Signal sends sig (for example syscall.SIGSTOP / SIGCONT) to the process.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Controller lets fault tests take a running server away and bring it back
// on the same address with the same data directory.
type Controller interface {
	// Kill stops the server abruptly (SIGKILL) and waits until it is gone.
	Kill(t testing.TB)
	// Pause freezes the server (SIGSTOP): connections hang instead of failing.
	Pause(t testing.TB)
	// Resume undoes Pause (SIGCONT).
	Resume(t testing.TB)
	// Restart starts the server again after Kill, on the same address, and
	// waits until it answers.
	Restart(t testing.TB)
}

// WaitStopped returns once the kernel reports process pid stopped (after a
// SIGSTOP, which is delivered asynchronously: a busy server may still answer
// a request or two before it takes effect). It fails the test after 2s.
func WaitStopped(t testing.TB, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		state, _, ok := procStat(pid)
		if !ok {
			return // no procfs: trust the signal
		}
		if state == 'T' || state == 'Z' || state == 'X' { // stopped, or gone
			return
		}
	}
	t.Fatalf("testserver: %s (pid %d) did not stop after SIGSTOP", what, pid)
}

// awaitSQL polls ping (a "SELECT 1" with a 1s deadline) until it succeeds,
// the process exits, or timeout passes; kill is called on a timeout. The
// error names the server and carries the tail of its log.
func awaitSQL(done <-chan struct{}, what, logFile string, timeout time.Duration, ping func(context.Context) error, kill func()) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited during start: %v\n%s", what, err, Tail(logFile, 2000))
		default:
		}
		if time.Now().After(deadline) {
			kill()
			return fmt.Errorf("%s not ready after %v: %v\n%s", what, timeout, err, Tail(logFile, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shared is a server started once per test binary, on first use; a failed
// start is remembered and reported to every later caller.
type shared[T any] struct {
	mu      sync.Mutex
	started bool
	v       T
	err     error
}

// get returns the server, starting it with start in a fresh shared
// directory the first time.
func (s *shared[T]) get(t testing.TB, what, dirPrefix string, start func(dir string) (T, error)) T {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		dir, err := sharedDir(dirPrefix)
		if err == nil {
			s.v, err = start(dir)
		}
		s.err = err
	}
	if s.err != nil {
		t.Fatalf("testserver: shared %s: %v", what, s.err)
	}
	return s.v
}
