package testserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDBHint says how to install the MariaDB server.
const MariaDBHint = "install it with: apt-get install -y mariadb-server"

// MariaDB is a MariaDB server started by StartMariaDB or SharedMariaDB:
// user root without a password, on 127.0.0.1, with durability relaxed for
// speed. It implements Controller (mariadbd is a single process).
type MariaDB struct {
	// Host is 127.0.0.1.
	Host string
	// Port is the TCP port.
	Port int
	// User is "root" (no password).
	User string
	// Socket is the server's unix socket.
	Socket string
	// DataDir is the server's data directory.
	DataDir string

	bin  string
	log  string
	dir  string
	user string // --user, when running as root

	mu   sync.Mutex
	proc *childProc
}

// StartMariaDB starts a dedicated MariaDB server for this test and stops it
// with t.Cleanup. The data directory is copied from one
// mariadb-install-db per test binary.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	bin, install := mariadbPrograms(t)
	dir := ShortTempDir(t, "gsmdb")
	m, err := startMariaDB(bin, install, dir)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(m.stop)
	return m
}

var sharedMDB shared[*MariaDB]

// SharedMariaDB returns the MariaDB server shared by every test of this
// test binary, starting it on first use. It dies with the test binary.
// Tests isolate themselves with a database (NewDatabase) or table of their
// own. Its Controller acts on every user of the server.
func SharedMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	bin, install := mariadbPrograms(t)
	return sharedMDB.get(t, "mariadb", "gsmdb", func(dir string) (*MariaDB, error) {
		return startMariaDB(bin, install, dir)
	})
}

func mariadbPrograms(t testing.TB) (server, install string) {
	t.Helper()
	server = LookPath(t, "mariadbd", MariaDBHint, "/usr/sbin")
	install = LookPath(t, "mariadb-install-db", MariaDBHint)
	return server, install
}

// URL returns a mysql:// URL (SQLAlchemy's form) for database db.
func (m *MariaDB) URL(db string) string {
	return fmt.Sprintf("mysql://%s@%s/%s", m.User, m.Addr(), db)
}

// DSN returns a go-sql-driver/mysql DSN for database db, with parseTime and
// loc=UTC.
func (m *MariaDB) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = m.User, "tcp", m.Addr(), db
	cfg.ParseTime, cfg.Loc = true, time.UTC
	return cfg.FormatDSN()
}

// Addr is host:port.
func (m *MariaDB) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// NewDatabase creates a database with a fresh random name and returns the
// name. It is not dropped: it goes with the server.
func (m *MariaDB) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.exec(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("testserver: mariadb on %s: create database: %v", m.Addr(), err)
	}
	return name
}

func (m *MariaDB) exec(ctx context.Context, stmt string) error {
	cfg, err := mysql.ParseDSN(m.DSN(""))
	if err != nil {
		return err
	}
	cfg.Logger = quietMySQL{} // the driver prints to stderr by default
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

var (
	mdbTemplateOnce sync.Once
	mdbTemplateDir  string
	mdbTemplateErr  error
)

func mariadbTemplate(install, user string) (string, error) {
	mdbTemplateOnce.Do(func() {
		dir, err := sharedDir("gsmdbtpl")
		if err != nil {
			mdbTemplateErr = err
			return
		}
		data := filepath.Join(dir, "data")
		args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
		if user != "" {
			args = append(args, "--user="+user)
		}
		if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
			mdbTemplateErr = fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
			return
		}
		mdbTemplateDir = data
	})
	return mdbTemplateDir, mdbTemplateErr
}

func startMariaDB(bin, install, dir string) (*MariaDB, error) {
	user := ""
	if os.Geteuid() == 0 {
		user = "root" // mariadbd refuses to run as root without it
	}
	tpl, err := mariadbTemplate(install, user)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", tpl, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the mariadb-install-db template: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &MariaDB{
		Host: "127.0.0.1", Port: port, User: "root",
		Socket: filepath.Join(dir, "mysqld.sock"), DataDir: data,
		bin: bin, log: filepath.Join(dir, "mariadbd.log"), dir: dir, user: user,
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MariaDB) args() []string {
	args := []string{
		"--no-defaults",
		"--datadir=" + m.DataDir,
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(m.dir, "mariadbd.pid"),
		"--log-error=" + m.log,
		"--max-connections=300",
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--skip-log-bin",
	}
	if m.user != "" {
		args = append(args, "--user="+m.user)
	}
	return args
}

// start runs mariadbd and waits until it answers a query.
func (m *MariaDB) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = os.Remove(m.Socket)
	proc, err := startChild(filepath.Join(m.dir, "mariadbd.out"), nil, m.bin, m.args()...)
	if err != nil {
		return err
	}
	m.proc = proc
	return awaitSQL(proc.done, "mariadbd on "+m.Addr(), m.log, 60*time.Second,
		func(ctx context.Context) error { return m.exec(ctx, "SELECT 1") }, m.killLocked)
}

// stop shuts the server down (SIGTERM), or kills it after 10 s.
func (m *MariaDB) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	_ = m.proc.cmd.Process.Signal(syscall.SIGCONT)
	_ = m.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.proc.done:
	case <-time.After(10 * time.Second):
		m.killLocked()
	}
	m.proc = nil
}

func (m *MariaDB) killLocked() {
	if m.proc == nil {
		return
	}
	_ = m.proc.cmd.Process.Kill()
	select {
	case <-m.proc.done:
	case <-time.After(10 * time.Second):
	}
}

// Kill stops mariadbd with SIGKILL and waits until it is gone.
func (m *MariaDB) Kill(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killLocked()
}

// Pause freezes mariadbd with SIGSTOP.
func (m *MariaDB) Pause(t testing.TB) {
	t.Helper()
	m.signal(t, syscall.SIGSTOP)
	m.mu.Lock()
	pid := m.proc.cmd.Process.Pid
	m.mu.Unlock()
	WaitStopped(t, pid, "mariadbd on "+m.Addr())
}

// Resume undoes Pause with SIGCONT.
func (m *MariaDB) Resume(t testing.TB) { t.Helper(); m.signal(t, syscall.SIGCONT) }

func (m *MariaDB) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		t.Fatalf("testserver: mariadbd on %s is not running", m.Addr())
	}
	if err := m.proc.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testserver: signal mariadbd on %s: %v", m.Addr(), err)
	}
}

// Restart starts mariadbd again after Kill, on the same port and data
// directory (InnoDB recovers), and waits until it answers.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	if m.proc != nil {
		select {
		case <-m.proc.done:
		default:
			m.killLocked()
		}
	}
	m.mu.Unlock()
	var err error
	for i := 0; i < 20; i++ {
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("testserver: restart mariadbd on %s: %v", m.Addr(), err)
}

var _ Controller = (*MariaDB)(nil)

type quietMySQL struct{}

func (quietMySQL) Print(...any) {}
