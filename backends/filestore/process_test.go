//go:build linux

package filestore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/filestore"
)

// The tests in this file re-execute the test binary as a helper process,
// selected by these environment variables.
const (
	helperEnv = "FILESTORE_TEST_HELPER" // "cas" or "writer"
	dirEnv    = "FILESTORE_TEST_DIR"
	keyEnv    = "FILESTORE_TEST_KEY"
	countEnv  = "FILESTORE_TEST_N"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "cas":
		os.Exit(helperCAS())
	case "writer":
		os.Exit(helperWriter())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

func helperStore() (*filestore.Store, error) {
	return filestore.New(os.Getenv(dirEnv), filestore.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
}

// helperCAS increments the counter under KEY N times from 4 goroutines.
func helperCAS() int {
	s, err := helperStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.Atoi(os.Getenv(countEnv))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			if err := increment(context.Background(), s, os.Getenv(keyEnv), n/4+boolInt(g < n%4)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// helperWriter overwrites KEY with large self-checking values forever,
// cycling through Save, LoadVersion+SaveIf and Touch, and prints one line
// per completed write.
func helperWriter() int {
	s, err := helperStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	key := os.Getenv(keyEnv)
	c := context.Background()
	// Values are made up front so that the loop spends its time writing.
	values := make([][]byte, 4)
	for i := range values {
		values[i] = checkedValue(uint64(i+1), 256<<10+rand.IntN(4<<20))
	}
	for i := uint64(1); ; i++ {
		v := values[i%uint64(len(values))]
		switch i % 3 {
		case 0:
			err = s.Save(c, key, v, 24*time.Hour)
		case 1:
			var rec = struct{ version any }{}
			r, lerr := s.LoadVersion(c, key, 0)
			if lerr != nil {
				err = lerr
				break
			}
			rec.version = r.Version
			err = s.SaveIf(c, key, v, rec.version, 24*time.Hour)
		case 2:
			if err = s.Touch(c, key, 24*time.Hour); err == nil {
				err = s.Save(c, key, v, 24*time.Hour)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("wrote", i)
	}
}

// checkedValue is n bytes: an 8-byte sequence number, pseudo-random bytes
// seeded by it, and the SHA-256 of everything before.
func checkedValue(seq uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, seq)
	r := rand.New(rand.NewPCG(seq, 42))
	for i := 8; i < 64; i++ {
		b[i] = byte(r.Uint32())
	}
	for filled := 64; filled < n-sha256.Size; filled *= 2 { // fast even under -race
		copy(b[filled:n-sha256.Size], b[8:filled])
	}
	sum := sha256.Sum256(b[:n-sha256.Size])
	copy(b[n-sha256.Size:], sum[:])
	return b
}

func verifyValue(b []byte) (uint64, error) {
	if len(b) < 8+sha256.Size {
		return 0, fmt.Errorf("%d bytes: too short", len(b))
	}
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	if !bytes.Equal(sum[:], b[len(b)-sha256.Size:]) {
		return 0, fmt.Errorf("%d bytes: checksum mismatch (torn value)", len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

func helper(t *testing.T, mode, dir, key string, n int) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, dirEnv+"="+dir, keyEnv+"="+key, countEnv+"="+strconv.Itoa(n))
	return cmd
}

// TestCASAcrossProcesses has two helper processes (4 goroutines each) and
// this one increment one counter with LoadVersion/SaveIf at the same
// time: the total must be the sum, so no process lost an update.
func TestCASAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const perProcess = 150
	var procs []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := helper(t, "cas", dir, "session:counter", perProcess)
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, outs = append(procs, cmd), append(outs, out)
	}
	s := open(t, dir, filestore.Options{})
	if err := increment(ctx(t), s, "session:counter", perProcess); err != nil {
		t.Error(err)
	}
	for i, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	if v, _ := mustLoad(t, s, "session:counter"); v != strconv.Itoa(3*perProcess) {
		t.Errorf("counter = %s; want %d", v, 3*perProcess)
	}
}

// TestKilledWriter SIGKILLs a helper that writes large values in a loop at
// random moments, several times: the entry must always hold a complete
// value (the old or a new one), never a torn one, and never be reported
// as damaged. Orphaned temporary files are allowed; the next open removes
// those older than the bound (DefaultStaleTemp), and only those.
func TestKilledWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logger, logs := newLogger()
	s := open(t, dir, filestore.Options{Logger: logger})
	key := "session:killed"
	if err := s.Save(ctx(t), key, checkedValue(0, 1<<20), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	// Kill until at least 3 kills landed mid-write (a temporary file was
	// left behind), so the test cannot pass by only killing between writes.
	midWrite := 0
	for round := 0; midWrite < 3; round++ {
		if round == 40 {
			t.Fatalf("only %d of %d kills landed during a write", midWrite, round)
		}
		cmd := helper(t, "writer", dir, key, 0)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		// Time two writes, then kill it at a random moment of a later one.
		var stamps []time.Time
		for len(stamps) < 2 && lines.Scan() {
			stamps = append(stamps, time.Now())
		}
		if len(stamps) < 2 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper stopped writing: %s", round, stderr.String())
		}
		go io.Copy(io.Discard, stdout)
		time.Sleep(rand.N(stamps[1].Sub(stamps[0]) + time.Millisecond))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, not by SIGKILL: %s", round, err, stderr.String())
		}
		temps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
		if len(temps) > midWrite {
			midWrite = len(temps)
		}
		v, found, err := s.Load(ctx(t), key)
		if err != nil || !found {
			t.Fatalf("round %d: Load after kill = found %v, %v", round, found, err)
		}
		seq, err := verifyValue(v)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: value %d intact (%d bytes); %d temporary files", round, seq, len(v), len(temps))
	}
	if strings.Contains(logs.String(), "unreadable") || strings.Contains(logs.String(), "damaged") {
		t.Errorf("a damaged entry was seen:\n%s", logs)
	}
	// The next open removes every temporary file older than the bound,
	// with default options (no Cleanup, no SESSION_CLEANUP_N_REQUESTS).
	// The orphans are made to look older than the bound, except one, which
	// must be kept: it could still be a live writer's.
	temps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	t.Logf("%d orphaned temporary files", len(temps))
	if len(temps) < 3 {
		t.Fatalf("%d orphaned temporary files; the kills left at least 3", len(temps))
	}
	old := time.Now().Add(-filestore.DefaultStaleTemp - time.Second)
	for _, p := range temps[1:] {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	open(t, dir, filestore.Options{Logger: logger})
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, p := range left {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if age := time.Since(fi.ModTime()); age >= filestore.DefaultStaleTemp {
			t.Errorf("after the next open, %s is %v old; the bound is %v", filepath.Base(p), age, filestore.DefaultStaleTemp)
		}
	}
	if len(left) != 1 || left[0] != temps[0] {
		t.Errorf("after the next open: temporary files %v; want only the young %v", left, temps[0])
	}
	// Cleanup removes nothing else: no entry is expired or damaged.
	later := open(t, dir, filestore.Options{Logger: logger, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if n, err := later.Cleanup(ctx(t)); err != nil || n != 0 {
		t.Errorf("Cleanup = %d, %v; want nothing expired or damaged", n, err)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(temps) != 0 {
		t.Errorf("Cleanup left %d temporary files", len(temps))
	}
	if v, found := mustLoad(t, s, key); !found {
		t.Error("entry gone after Cleanup")
	} else if _, err := verifyValue([]byte(v)); err != nil {
		t.Error(err)
	}
}

// TestLockHeldElsewhere holds a key's lock file the way another process
// would: every call on that key must give up when its context ends, and
// succeed once the lock is released.
func TestLockHeldElsewhere(t *testing.T) {
	s := open(t, "", filestore.Options{})
	key := "session:locked"
	mustSave(t, s, key, "v", time.Hour)
	f, err := os.Open(filepath.Join(s.Dir(), ".locks", fileName(key)[:2]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(context.Context) error{
		"Load":        func(c context.Context) error { _, _, err := s.Load(c, key); return err },
		"Save":        func(c context.Context) error { return s.Save(c, key, []byte("w"), time.Hour) },
		"Delete":      func(c context.Context) error { return s.Delete(c, key) },
		"Touch":       func(c context.Context) error { return s.Touch(c, key, time.Hour) },
		"LoadVersion": func(c context.Context) error { _, err := s.LoadVersion(c, key, time.Hour); return err },
		"SaveIf":      func(c context.Context) error { return s.SaveIf(c, key, []byte("w"), nil, time.Hour) },
		"Keys":        func(c context.Context) error { _, err := s.Keys(c); return err },
		"Cleanup":     func(c context.Context) error { _, err := s.Cleanup(c); return err },
	}
	for name, call := range calls {
		c, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		err := call(c)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with the lock held elsewhere: %v; want DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s returned after %v; deadline was 100ms", name, d)
		}
	}
	// Released a little later: a waiting call gets through.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		time.Sleep(50 * time.Millisecond)
		syscall.Flock(fd, syscall.LOCK_UN)
	})
	if v, found := mustLoad(t, s, key); !found || v != "v" {
		t.Errorf("after release: %q, %v", v, found)
	}
	// A temporary file written before the lock wait was removed again.
	if temps, _ := filepath.Glob(filepath.Join(s.Dir(), ".tmp-*")); len(temps) != 0 {
		t.Errorf("%d temporary files left by calls that timed out", len(temps))
	}
}
