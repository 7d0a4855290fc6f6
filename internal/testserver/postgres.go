package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresHint says how to install PostgreSQL's server programs.
const PostgresHint = "install it with: apt-get install -y postgresql"

// postgresDirs is where Debian keeps initdb and postgres (not on PATH).
const postgresDirs = "/usr/lib/postgresql/*/bin"

// Postgres is a PostgreSQL server started by StartPostgres or
// SharedPostgres: superuser "postgres" without a password (trust), on
// 127.0.0.1, fsync off. It implements Controller. Kill and Pause act on the
// postmaster and every backend (PostgreSQL puts each backend in a process
// group of its own, so signalling the postmaster's group is not enough);
// Restart starts the postmaster again on the same port and data directory.
type Postgres struct {
	// Host is 127.0.0.1.
	Host string
	// Port is the TCP port.
	Port int
	// User is the superuser, "postgres".
	User string
	// DataDir is the cluster's data directory; the unix socket lives there too.
	DataDir string

	bin  string
	log  string
	cred *syscall.Credential

	mu   sync.Mutex
	proc *childProc
}

// StartPostgres starts a dedicated PostgreSQL server for this test and
// stops it with t.Cleanup. Use it for tests that kill or pause the server.
// The cluster is copied from one initdb per test binary.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := LookPath(t, "postgres", PostgresHint, postgresDirs)
	dir := ShortTempDir(t, "gspg")
	p, err := startPostgres(bin, dir)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(p.stop)
	return p
}

var sharedPG shared[*Postgres]

// SharedPostgres returns the PostgreSQL server shared by every test of this
// test binary, starting it on first use. It dies with the test binary.
// Tests sharing it isolate themselves with a database (NewDatabase) or a
// table of their own. Its Controller acts on every user of the server: only
// a test that has the server to itself may kill or pause it.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := LookPath(t, "postgres", PostgresHint, postgresDirs)
	return sharedPG.get(t, "postgres", "gspg", func(dir string) (*Postgres, error) {
		return startPostgres(bin, dir)
	})
}

// URL returns a postgresql:// URL for database db (SQLAlchemy's form, which
// pgx also reads), without TLS.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgresql://%s@%s/%s?sslmode=disable", p.User, net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), db)
}

// Addr is host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// NewDatabase creates a database with a fresh random name and returns the
// name. The database is not dropped: it goes with the server.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testserver: postgres on %s: create database: %v", p.Addr(), err)
	}
	return name
}

// exec runs one statement in database postgres over a fresh connection.
func (p *Postgres) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// pgTemplate is one initdb per test binary, copied for every server.
var (
	pgTemplateOnce sync.Once
	pgTemplateDir  string
	pgTemplateErr  error
)

func postgresTemplate(bin string, cred *syscall.Credential) (string, error) {
	pgTemplateOnce.Do(func() {
		dir, err := sharedDir("gspgtpl")
		if err != nil {
			pgTemplateErr = err
			return
		}
		data := filepath.Join(dir, "data")
		if err := makeOwnedDir(dir, data, cred); err != nil {
			pgTemplateErr = err
			return
		}
		initdb := filepath.Join(filepath.Dir(bin), "initdb")
		cmd := exec.Command(initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			pgTemplateErr = fmt.Errorf("initdb: %v\n%s", err, out)
			return
		}
		pgTemplateDir = data
	})
	return pgTemplateDir, pgTemplateErr
}

// postgresCredential is the postgres user when running as root (initdb and
// postgres refuse to run as root), nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// makeOwnedDir makes data (inside parent) a 0700 directory owned by cred's
// user, and lets that user through parent (a MkdirTemp directory is 0700).
func makeOwnedDir(parent, data string, cred *syscall.Credential) error {
	if err := os.Chmod(parent, 0o711); err != nil {
		return err
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		return err
	}
	if cred != nil {
		return os.Chown(data, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

func startPostgres(bin, dir string) (*Postgres, error) {
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	tpl, err := postgresTemplate(bin, cred)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	// cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
	if out, err := exec.Command("cp", "-a", tpl, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the initdb template: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Host: "127.0.0.1", Port: port, User: "postgres", DataDir: data, bin: bin, log: filepath.Join(dir, "postgres.log"), cred: cred}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Postgres) args() []string {
	return []string{
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-k", p.DataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB",
	}
}

// start runs the postmaster (as our child, so it dies with the test
// binary) and waits until it answers a query.
func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The lock file of a killed postmaster is stale: its pid is gone
	// (reaped by us), so PostgreSQL would start anyway, but a recycled pid
	// could fool it.
	_ = os.Remove(filepath.Join(p.DataDir, "postmaster.pid"))
	_ = os.Remove(filepath.Join(p.DataDir, fmt.Sprintf(".s.PGSQL.%d.lock", p.Port)))
	proc, err := startChild(p.log, p.cred, p.bin, p.args()...)
	if err != nil {
		return err
	}
	p.proc = proc
	return awaitSQL(proc.done, "postgres on "+p.Addr(), p.log, 30*time.Second,
		func(ctx context.Context) error { return p.exec(ctx, "SELECT 1") }, p.killLocked)
}

// stop shuts the server down cleanly (fast shutdown: the postmaster ends
// and reaps its backends), or kills it after 10 s.
func (p *Postgres) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	p.signalAll(syscall.SIGCONT)
	_ = p.proc.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.proc.done:
	case <-time.After(10 * time.Second):
		p.killLocked()
	}
	p.proc = nil
}

// Kill stops the postmaster and every backend with SIGKILL and waits until
// they are gone.
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killLocked()
}

func (p *Postgres) killLocked() {
	if p.proc == nil {
		return
	}
	pm := p.proc.cmd.Process.Pid
	// Freeze the postmaster first so it cannot fork while we look.
	_ = syscall.Kill(pm, syscall.SIGSTOP)
	kids := childrenOf(pm)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	_ = syscall.Kill(pm, syscall.SIGKILL)
	select {
	case <-p.proc.done:
	case <-time.After(10 * time.Second):
	}
	waitGone(kids, 10*time.Second)
}

// Pause freezes the postmaster and every backend with SIGSTOP: queries and
// new connections hang instead of failing.
func (p *Postgres) Pause(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		t.Fatalf("testserver: postgres on %s is not running", p.Addr())
	}
	pm := p.proc.cmd.Process.Pid
	_ = syscall.Kill(pm, syscall.SIGSTOP) // first, so no new backend escapes
	WaitStopped(t, pm, "postgres on "+p.Addr())
	kids := childrenOf(pm) // complete now: a stopped postmaster forks no more
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGSTOP)
	}
	for _, k := range kids {
		WaitStopped(t, k, "a postgres backend")
	}
}

// Resume undoes Pause with SIGCONT.
func (p *Postgres) Resume(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		t.Fatalf("testserver: postgres on %s is not running", p.Addr())
	}
	p.signalAll(syscall.SIGCONT)
}

// signalAll signals the backends, then the postmaster.
func (p *Postgres) signalAll(sig syscall.Signal) {
	if p.proc == nil {
		return
	}
	pm := p.proc.cmd.Process.Pid
	for _, k := range childrenOf(pm) {
		_ = syscall.Kill(k, sig)
	}
	_ = syscall.Kill(pm, sig)
}

// Restart starts the server again after Kill on the same port and data
// directory (crash recovery runs; committed data survives) and waits until
// it answers.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	if p.proc != nil {
		select {
		case <-p.proc.done:
		default:
			p.killLocked() // Restart without Kill: make it a restart anyway
		}
	}
	p.mu.Unlock()
	var err error
	for i := 0; i < 20; i++ { // the port may linger for a moment
		if err = p.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("testserver: restart postgres on %s: %v", p.Addr(), err)
}

var _ Controller = (*Postgres)(nil)

// childProc is a server started by startChild.
type childProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

type childReq struct {
	cmd *exec.Cmd
	err chan error
}

var (
	childOnce sync.Once
	childCh   chan childReq
)

// startChild starts program as our child with its output in logFile, as
// cred's user when cred is set, with a parent-death signal (SIGKILL), so
// that a server never outlives the test binary. Linux delivers that signal
// when the thread that forked exits, so every fork happens on one locked
// thread that lives as long as the process.
func startChild(logFile string, cred *syscall.Credential, program string, args ...string) (*childProc, error) {
	childOnce.Do(func() {
		childCh = make(chan childReq)
		go func() {
			runtime.LockOSThread() // never unlocked
			for req := range childCh {
				req.err <- req.cmd.Start()
			}
		}()
	})
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	req := childReq{cmd: cmd, err: make(chan error, 1)}
	childCh <- req
	if err := <-req.err; err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", program, err)
	}
	p := &childProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, ok := procStat(child)
		if ok && ppid == pid && state != 'Z' {
			kids = append(kids, child)
		}
	}
	return kids
}

// procStat reads a process's state and parent pid from /proc/pid/stat.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may contain spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil || len(f[0]) == 0 {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}

// waitGone waits until every pid is gone or a zombie (a dead process whose
// parent, here init, has not reaped it yet).
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			state, _, ok := procStat(pid)
			if !ok || state == 'Z' || state == 'X' {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
