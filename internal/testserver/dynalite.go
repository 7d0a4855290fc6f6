package testserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DynaliteVersion is the dynalite release the tests install from npm.
const DynaliteVersion = "4.0.0"

// DynamoDBEndpointEnv names the environment variable that points the
// DynamoDB tests at an extra, externally managed endpoint (DynamoDB Local,
// LocalStack or real DynamoDB), in addition to the dynalite they start.
const DynamoDBEndpointEnv = "GINSESSION_TEST_DYNAMODB_ENDPOINT"

// DynamoDBTableEnv names the environment variable that, together with AWS
// credentials and a region from the default chain (AWS_REGION,
// AWS_ACCESS_KEY_ID, a profile...), points the DynamoDB tests at a table in
// real DynamoDB on the AWS default endpoint. The tests create and use that
// table; its items are removed after each test.
const DynamoDBTableEnv = "GINSESSION_TEST_DYNAMODB_TABLE"

// ExternalDynamoDB returns the endpoint (empty: the AWS default) and table
// (empty: the caller's choice) of an externally managed DynamoDB to test
// against, and whether one is configured: GINSESSION_TEST_DYNAMODB_ENDPOINT,
// or GINSESSION_TEST_DYNAMODB_TABLE with AWS credentials in the environment
// (AWS_ACCESS_KEY_ID or AWS_PROFILE).
func ExternalDynamoDB() (endpoint, table string, ok bool) {
	endpoint = strings.TrimSpace(os.Getenv(DynamoDBEndpointEnv))
	table = strings.TrimSpace(os.Getenv(DynamoDBTableEnv))
	if endpoint != "" {
		return endpoint, table, true
	}
	creds := os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != ""
	return "", table, table != "" && creds
}

// DynaliteHint says how to make dynalite available.
const DynaliteHint = "the DynamoDB tests run dynalite " + DynaliteVersion + " under Node.js; install Node.js and npm " +
	"(apt-get install -y nodejs npm) — the tests then install dynalite with npm into the user cache directory " +
	"on first use, which needs the npm registry"

// Dynalite is a DynamoDB wire-protocol server (dynalite, on Node.js)
// started by StartDynalite or SharedDynalite, listening on 127.0.0.1. Its
// tables live in a LevelDB directory, so Restart keeps them. Clients need
// any region and any static credentials. It implements Controller.
type Dynalite struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Dir holds the data directory and the log; it survives Kill and Restart.
	Dir string

	node string
	cli  string
	log  string
	mu   sync.Mutex
	proc *serverProc
}

// StartDynalite starts a dynalite server of its own for this test, with its
// data in a fresh temporary directory, and stops it with t.Cleanup. Use it
// for tests that kill or pause the server.
func StartDynalite(t testing.TB) *Dynalite {
	t.Helper()
	node, cli := dynaliteProgram(t)
	d, err := startDynalite(node, cli, ShortTempDir(t, "gsdynalite"))
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(d.stop)
	return d
}

var sharedDyn shared[*Dynalite]

// SharedDynalite returns the dynalite server shared by every test of this
// test binary, starting it on first use; tests keep apart with a table or a
// key prefix of their own. It dies with the test binary (parent death
// signal). Its Controller acts on every user, so each call first heals it:
// a paused server is resumed and a killed one restarted.
func SharedDynalite(t testing.TB) *Dynalite {
	t.Helper()
	node, cli := dynaliteProgram(t)
	sharedMu.Lock() // sharedDir's bookkeeping belongs to redis.go's lock
	defer sharedMu.Unlock()
	d := sharedDyn.get(t, "dynalite", "gsdynalite", func(dir string) (*Dynalite, error) {
		return startDynalite(node, cli, dir)
	})
	d.heal(t)
	return d
}

// stopSharedDynalite stops the shared dynalite, if started, for
// StopShared (which holds sharedMu). A later SharedDynalite restarts it.
func stopSharedDynalite() {
	sharedDyn.mu.Lock()
	defer sharedDyn.mu.Unlock()
	if sharedDyn.started && sharedDyn.err == nil && sharedDyn.v != nil {
		sharedDyn.v.stop()
	}
}

func startDynalite(node, cli, dir string) (*Dynalite, error) {
	var err error
	// A port that was free a moment ago can be taken before node binds it.
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		d := &Dynalite{node: node, cli: cli, Dir: dir, log: filepath.Join(dir, "dynalite.log")}
		d.Addr = "127.0.0.1:" + strconv.Itoa(port)
		d.Endpoint = "http://" + d.Addr
		if err = d.start(); err == nil {
			return d, nil
		}
	}
	return nil, err
}

// start runs the server and waits until it answers ListTables.
func (d *Dynalite) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	data := filepath.Join(d.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	_, port, _ := strings.Cut(d.Addr, ":")
	p, err := spawn(d.log, d.node, d.cli, "--host", "127.0.0.1", "--port", port, "--path", data,
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	if err != nil {
		return err
	}
	d.proc = p
	// Say in the log how the server ended, so that a test that finds it
	// gone can tell a crash from a kill (SIGKILL leaves no other trace).
	go func(log string) {
		<-p.done
		if f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			fmt.Fprintf(f, "testserver: dynalite (pid %d) ended: %v\n", p.cmd.Process.Pid, p.cmd.ProcessState)
			f.Close()
		}
	}(d.log)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := DynamoPing(d.Endpoint, 500*time.Millisecond)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("dynalite on %s exited during start: %v\n%s", d.Addr, err, Tail(d.log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("dynalite on %s not ready after 30s: %v\n%s", d.Addr, err, Tail(d.log, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DynamoPing sends one ListTables request to endpoint within timeout and
// reports an error unless it gets a 200 answer.
func DynamoPing(endpoint string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint+"/", strings.NewReader(`{"Limit":1}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListTables: HTTP %d", resp.StatusCode)
	}
	return nil
}

func (d *Dynalite) current() *serverProc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc
}

// stop kills the process (a paused one too) and waits until it is gone.
func (d *Dynalite) stop() {
	if p := d.current(); p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		p.kill()
	}
}

// heal resumes a paused server and restarts a dead one.
func (d *Dynalite) heal(t testing.TB) {
	t.Helper()
	if p := d.current(); p != nil {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			return
		}
	}
	d.Restart(t)
}

// Kill stops the server with SIGKILL and waits until it is gone.
func (d *Dynalite) Kill(t testing.TB) {
	t.Helper()
	d.stop()
}

// Pause freezes the server with SIGSTOP: connections hang instead of
// failing. It returns once the kernel reports the process stopped.
func (d *Dynalite) Pause(t testing.TB) {
	t.Helper()
	p := d.current()
	if p == nil {
		t.Fatalf("testserver: dynalite on %s is not running", d.Addr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testserver: signal dynalite on %s: %v", d.Addr, err)
	}
	WaitStopped(t, p.cmd.Process.Pid, "dynalite on "+d.Addr)
}

// Resume undoes Pause with SIGCONT.
func (d *Dynalite) Resume(t testing.TB) {
	t.Helper()
	if p := d.current(); p != nil {
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatalf("testserver: signal dynalite on %s: %v", d.Addr, err)
		}
	}
}

// Restart starts the server again on the same address with the same data
// directory (killing it first if it still runs) and waits until it answers.
// Tables and items written before the kill are kept.
func (d *Dynalite) Restart(t testing.TB) {
	t.Helper()
	d.stop()
	var err error
	for range 50 { // the port may linger for a moment
		if err = d.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testserver: restart dynalite on %s: %v", d.Addr, err)
}

var _ Controller = (*Dynalite)(nil)

var dynaliteInstall struct {
	once sync.Once
	cli  string
	out  string
	err  error
}

// dynaliteProgram returns node and dynalite's cli.js, installing dynalite
// with npm into the cache directory on first use. When Node.js or npm is
// missing, or the install fails, the test is skipped (failed under CI).
func dynaliteProgram(t testing.TB) (node, cli string) {
	t.Helper()
	node = LookPath(t, "node", DynaliteHint, "/usr/local/bin", "/usr/bin")
	dynaliteInstall.once.Do(func() {
		dynaliteInstall.cli, dynaliteInstall.out, dynaliteInstall.err = installDynalite()
	})
	if err := dynaliteInstall.err; err != nil {
		out := strings.TrimSpace(dynaliteInstall.out)
		if len(out) > 1500 {
			out = "..." + out[len(out)-1500:]
		}
		if out != "" {
			out = ":\n" + out + "\n"
		}
		Unavailable(t, fmt.Sprintf("cannot install dynalite %s: %v%s", DynaliteVersion, err, out), DynaliteHint)
	}
	return node, dynaliteInstall.cli
}

// DynaliteCacheDir returns where dynalite is (or will be) installed.
func DynaliteCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "ginsession-testserver", "dynalite-"+DynaliteVersion)
}

// installDynalite runs npm install into a temporary directory next to the
// cache directory and renames it into place, under a file lock, so that
// concurrent test binaries install it once and never see half an install.
func installDynalite() (cli, output string, err error) {
	dir := DynaliteCacheDir()
	cli = filepath.Join(dir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err == nil {
		return cli, "", nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "", fmt.Errorf("npm is not on PATH")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if _, err := os.Stat(cli); err == nil { // installed by another test binary while we waited
		return cli, "", nil
	}
	tmp := dir + ".tmp" + strconv.Itoa(os.Getpid())
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// --ignore-scripts: the LevelDB binding ships prebuilt binaries, so no
	// compiler is needed.
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--no-save", "--ignore-scripts", "--loglevel=error", "dynalite@"+DynaliteVersion)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", string(out), fmt.Errorf("npm install dynalite@%s: %w", DynaliteVersion, err)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", "", err
	}
	return cli, string(out), nil
}
