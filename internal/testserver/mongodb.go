package testserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoDBURIEnv names the environment variable that points the MongoDB tests
// at an extra, externally managed server (a real mongod), in addition to the
// FerretDB they start themselves.
const MongoDBURIEnv = "GINSESSION_TEST_MONGODB_URI"

// ExternalMongoDBURI returns GINSESSION_TEST_MONGODB_URI, or "" when unset.
func ExternalMongoDBURI() string { return strings.TrimSpace(os.Getenv(MongoDBURIEnv)) }

const ferretDBVersion = "v1.24.0"

// ferretDBHint is the install hint given when FerretDB cannot be built.
const ferretDBHint = "the FerretDB test server (" + ferretDBVersion + ", SQLite handler) is built from " +
	"internal/testserver/ferretdb with `go build`, which needs the Go toolchain and, the first time, " +
	"access to the Go module proxy (GOPROXY); or point " + MongoDBURIEnv + " at a MongoDB server"

// Mongo is a MongoDB wire-protocol server started by FerretDB or
// SharedFerretDB: FerretDB v1.24 on its SQLite handler, listening on
// 127.0.0.1. It implements Controller; Restart keeps the data.
type Mongo struct {
	// URI is the connection string, mongodb://127.0.0.1:PORT/.
	URI string
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Dir holds the SQLite databases and the log; it survives Kill and Restart.
	Dir string

	bin  string
	log  string
	mu   sync.Mutex
	proc *serverProc
}

// FerretDB starts a FerretDB server of its own for this test, with its data
// in a fresh temporary directory, and stops it with t.Cleanup. Use it for
// tests that kill or pause the server.
func FerretDB(t testing.TB) *Mongo {
	t.Helper()
	bin := ferretDBBinary(t)
	m, err := startFerretDB(bin, ShortTempDir(t, "gsferret"))
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(m.stop)
	return m
}

var sharedFerret *Mongo // guarded by sharedMu

// SharedFerretDB returns the FerretDB server shared by every test of this
// test binary, starting it on first use; tests keep apart with a database,
// collection or key prefix of their own. It dies with the test binary
// (parent death signal). Its Controller acts on every user, so each call
// first heals it: a paused server is resumed and a killed one restarted.
func SharedFerretDB(t testing.TB) *Mongo {
	t.Helper()
	bin := ferretDBBinary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if m := sharedFerret; m != nil {
		m.heal(t)
		return m
	}
	dir, err := sharedDir("gsferret")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	m, err := startFerretDB(bin, dir)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	sharedFerret = m
	return m
}

func startFerretDB(bin, dir string) (*Mongo, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &Mongo{bin: bin, Dir: dir, log: filepath.Join(dir, "ferretdb.log")}
	m.Addr = "127.0.0.1:" + strconv.Itoa(port)
	m.URI = "mongodb://" + m.Addr + "/"
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}

// start runs the server and waits until it answers ping.
func (m *Mongo) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := spawn(m.log, m.bin, "-listen", m.Addr, "-dir", filepath.Join(m.Dir, "data"))
	if err != nil {
		return err
	}
	m.proc = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := MongoPing(m.URI, 500*time.Millisecond)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("FerretDB on %s exited during start:\n%s", m.Addr, Tail(m.log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("FerretDB on %s not ready after 30s: %v\n%s", m.Addr, err, Tail(m.log, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *Mongo) current() *serverProc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// stop kills the process (a paused one too) and waits until it is gone.
func (m *Mongo) stop() {
	if p := m.current(); p != nil {
		p.kill()
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// heal resumes a paused server and restarts a dead one.
func (m *Mongo) heal(t testing.TB) {
	t.Helper()
	p := m.current()
	if p != nil {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			return
		}
	}
	m.Restart(t)
}

// MongoPing connects to uri and runs the ping command once, within timeout.
func MongoPing(uri string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).SetConnectTimeout(timeout).SetMaxPoolSize(1))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	return c.Ping(ctx, nil)
}

// Kill stops the server with SIGKILL and waits until it is gone.
func (m *Mongo) Kill(t testing.TB) {
	t.Helper()
	m.stop()
}

// Pause freezes the server with SIGSTOP: connections hang instead of
// failing. It returns once the kernel reports the process stopped.
func (m *Mongo) Pause(t testing.TB) {
	t.Helper()
	m.signal(t, syscall.SIGSTOP)
	WaitStopped(t, m.current().cmd.Process.Pid, "FerretDB on "+m.Addr)
}

// Resume undoes Pause with SIGCONT.
func (m *Mongo) Resume(t testing.TB) {
	t.Helper()
	m.signal(t, syscall.SIGCONT)
}

func (m *Mongo) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	p := m.current()
	if p == nil {
		t.Fatalf("testserver: FerretDB on %s is not running", m.Addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testserver: signal FerretDB on %s: %v", m.Addr, err)
	}
}

// Restart starts the server again on the same address with the same data
// directory (killing it first if it still runs) and waits until it answers.
func (m *Mongo) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	var err error
	for range 50 { // the port may linger for a moment
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testserver: restart FerretDB on %s: %v", m.Addr, err)
}

var _ Controller = (*Mongo)(nil)

var ferretBuild struct {
	once sync.Once
	bin  string
	err  error
	out  string
}

// ferretDBBinary returns the path of the FerretDB test server binary,
// building it on first use into the user cache directory, keyed by a hash
// of the tools module's go.mod, go.sum and main.go. A file lock keeps
// concurrent test binaries from building it twice. If it cannot be built
// the test is skipped (failed under CI) with a hint.
func ferretDBBinary(t testing.TB) string {
	t.Helper()
	ferretBuild.once.Do(func() {
		ferretBuild.bin, ferretBuild.out, ferretBuild.err = buildFerretDB()
	})
	if ferretBuild.err != nil {
		out := strings.TrimSpace(ferretBuild.out)
		if len(out) > 1500 {
			out = "..." + out[len(out)-1500:]
		}
		if out != "" {
			out = ":\n" + out + "\n"
		}
		Unavailable(t, fmt.Sprintf("cannot build the FerretDB test server: %v%s", ferretBuild.err, out), ferretDBHint)
	}
	return ferretBuild.bin
}

// FerretDBSourceDir is the directory of the tools module that builds the
// FerretDB test server.
func FerretDBSourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "ferretdb")
}

// FerretDBCacheDir returns where the FerretDB binary built from the current
// sources is (or will be) cached.
func FerretDBCacheDir() (string, error) {
	src := FerretDBSourceDir()
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "ginsession-testserver",
		"ferretdb-"+ferretDBVersion+"-"+hex.EncodeToString(h.Sum(nil))[:16]), nil
}

func buildFerretDB() (bin, output string, err error) {
	dir, err := FerretDBCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("locate the tools module %s: %w", FerretDBSourceDir(), err)
	}
	bin = filepath.Join(dir, "ferretdb")
	if isExecutable(bin) {
		return bin, "", nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if g := filepath.Join(runtime.GOROOT(), "bin", "go"); isExecutable(g) {
			goTool = g
		} else {
			return "", "", errors.New("the go command is not on PATH")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if isExecutable(bin) { // built by another test binary while we waited
		return bin, "", nil
	}
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-mod=readonly", "-trimpath", "-o", tmp, ".")
	cmd.Dir = FerretDBSourceDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", string(out), fmt.Errorf("go build in %s: %w", cmd.Dir, err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", "", err
	}
	return bin, string(out), nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock on path, waiting for other holders.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
