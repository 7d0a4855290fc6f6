package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/storetest"
)

// open returns a store in dir (a fresh one when dir is ""), closed when t ends.
func open(t *testing.T, dir string, opts filestore.Options) *filestore.Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := filestore.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileName is the documented file name of key: hex SHA-256.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// logBuffer is a concurrency-safe slog destination for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustSave(t *testing.T, s backends.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Save(ctx(t), key, []byte(value), ttl); err != nil {
		t.Fatalf("Save(%q): %v", key, err)
	}
}

func mustLoad(t *testing.T, s backends.Store, key string) (string, bool) {
	t.Helper()
	v, found, err := s.Load(ctx(t), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return string(v), found
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) backends.Store {
		return open(t, "", filestore.Options{})
	}, storetest.Options{Granularity: 250 * time.Millisecond})
}

// TestConformanceSharedDir runs the suite with every store on one
// directory, so that stores exclude each other through the lock files
// (flock) rather than the in-process lock alone.
func TestConformanceSharedDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storetest.Run(t, func(t *testing.T) backends.Store {
		return open(t, dir, filestore.Options{Threshold: -1})
	}, storetest.Options{Granularity: 250 * time.Millisecond})
}

func TestRegistered(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	st, err := backends.Open(ctx(t), backends.Config{Type: "filesystem", FileDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := st.(*filestore.Store)
	if !ok {
		t.Fatalf("Open returned %T", st)
	}
	defer s.Close()
	if s.Dir() != dir {
		t.Errorf("Dir() = %q; want %q", s.Dir(), dir)
	}
	mustSave(t, s, "session:x", "v", time.Minute)
	if fi, err := os.Stat(filepath.Join(dir, fileName("session:x"))); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("entry file: %v, mode %v; want 0600", err, fi.Mode())
	}

	_, err = backends.Open(ctx(t), backends.Config{Type: "filesystem", FileDir: dir, FileMode: 0o4600})
	if err == nil || !strings.Contains(err.Error(), "SESSION_FILE_MODE") {
		t.Errorf("setuid mode: %v; want an error naming SESSION_FILE_MODE", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	_, err = backends.Open(ctx(t), backends.Config{Type: "filesystem", FileDir: filepath.Join(file, "sessions")})
	if err == nil || !strings.Contains(err.Error(), "SESSION_FILE_DIR") || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("directory under a file: %v; want an error naming SESSION_FILE_DIR wrapping ENOTDIR", err)
	}
}

// TestDefaultDir checks the factory's default, ./flask_session.
func TestDefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	st, err := backends.Open(ctx(t), backends.Config{Type: "filesystem"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*filestore.Store).Close()
	wd, _ := os.Getwd()
	if got, want := st.(*filestore.Store).Dir(), filepath.Join(wd, "flask_session"); got != want {
		t.Errorf("Dir() = %q; want %q", got, want)
	}
	if fi, err := os.Stat("flask_session"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, mode %v; want 0700", err, fi.Mode())
	}
}

func TestFileFormat(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 123)}
	s := open(t, "", filestore.Options{Now: c.Now})
	key, value := "session:abc", "\x81\xa1a\x01"
	mustSave(t, s, key, value, time.Hour)
	b, err := os.ReadFile(filepath.Join(s.Dir(), fileName(key)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 40+len(key)+len(value) {
		t.Fatalf("file is %d bytes; want %d", len(b), 40+len(key)+len(value))
	}
	if string(b[:4]) != "GSES" || b[4] != 1 {
		t.Errorf("magic/version = %q %d", b[:4], b[4])
	}
	if exp := int64(binary.LittleEndian.Uint64(b[8:])); exp != c.Now().Add(time.Hour).UnixNano() {
		t.Errorf("expiry = %d; want %d", exp, c.Now().Add(time.Hour).UnixNano())
	}
	if k := binary.LittleEndian.Uint32(b[24:]); k != uint32(len(key)) {
		t.Errorf("key length = %d", k)
	}
	if v := binary.LittleEndian.Uint64(b[32:]); v != uint64(len(value)) {
		t.Errorf("value length = %d", v)
	}
	if string(b[40:40+len(key)]) != key || string(b[40+len(key):]) != value {
		t.Errorf("body = %q", b[40:])
	}
}

// TestUnwritableDir checks that a directory that cannot hold files gives a
// clear error. Tests here run as root, which ignores permission bits
// (CAP_DAC_OVERRIDE), so the cases that must fail for root use a path
// through a regular file (ENOTDIR), which no privilege gets around.
func TestUnwritableDir(t *testing.T) {
	t.Run("UnderAFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := filestore.New(filepath.Join(file, "sessions"), filestore.Options{})
		if err == nil {
			t.Fatal("New under a regular file: no error")
		}
		if !errors.Is(err, syscall.ENOTDIR) || !strings.HasPrefix(err.Error(), "ginsession: filesystem: create directory") {
			t.Errorf("error = %v", err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("IsAFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, []byte("x"), 0o600)
		if _, err := filestore.New(file, filestore.Options{}); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("New on a regular file: %v; want ENOTDIR", err)
		}
	})
	t.Run("ReplacedByAFile", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "sessions")
		s := open(t, dir, filestore.Options{})
		mustSave(t, s, "k", "v", time.Minute)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.Save(ctx(t), "k", []byte("v2"), time.Minute)
		if !errors.Is(err, syscall.ENOTDIR) || !strings.HasPrefix(err.Error(), "ginsession: filesystem: save: ") {
			t.Errorf("Save = %v; want a ginsession: filesystem: error wrapping ENOTDIR", err)
		}
		t.Logf("error: %v", err)
		if _, _, err := s.Load(ctx(t), "k"); err == nil {
			t.Errorf("Load from a directory that is a file: nil error; want a failure, not a miss")
		}
		// Delete must not pretend either, and Cleanup/Keys report the problem.
		if err := s.Delete(ctx(t), "k"); err == nil {
			t.Errorf("Delete: nil error")
		}
		if _, err := s.Cleanup(ctx(t)); err == nil {
			t.Errorf("Cleanup: nil error")
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: permission bits do not bind (CAP_DAC_OVERRIDE); UnderAFile and ReplacedByAFile cover root")
		}
		dir := t.TempDir()
		s := open(t, dir, filestore.Options{})
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		if err := s.Save(ctx(t), "k", []byte("v"), time.Minute); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Save into a read-only directory: %v; want EACCES", err)
		}
		if _, err := filestore.New(dir, filestore.Options{}); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("New on a read-only directory: %v", err)
		}
	})
}

// TestHostileKeys checks that no key can create or read anything outside
// the directory: every path under the parent afterwards is the store's own.
func TestHostileKeys(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s := open(t, dir, filestore.Options{})
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"../x", "../secret", "../../../../../../etc/passwd", "/etc/passwd", "/etc/shadow",
		"session:../../secret", "a\x00b", "\x00", "", ".", "..", ".locks", ".locks/00", ".tmp-x",
		"a/b/c", `..\..\x`, "\n\r\t", "é/../ü", strings.Repeat("A", 10*1024),
		strings.Repeat("../", 4000) + "etc/passwd", fileName("x"),
	}
	// Nothing is found before anything is saved: no key reads a real file.
	for _, k := range keys {
		if v, found := mustLoad(t, s, k); found {
			t.Errorf("Load(%.40q) before any Save = %.40q", k, v)
		}
	}
	for i, k := range keys {
		v := fmt.Sprintf("value %d", i)
		mustSave(t, s, k, v, time.Minute)
		if got, found := mustLoad(t, s, k); !found || got != v {
			t.Fatalf("Load(%.40q) = %q, %v; want %q", k, got, found, v)
		}
		if err := s.Touch(ctx(t), k, time.Hour); err != nil {
			t.Fatalf("Touch(%.40q): %v", k, err)
		}
		rec, err := s.LoadVersion(ctx(t), k, time.Hour)
		if err != nil || !rec.Found {
			t.Fatalf("LoadVersion(%.40q) = %+v, %v", k, rec, err)
		}
		if err := s.SaveIf(ctx(t), k, []byte(v+"!"), rec.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf(%.40q): %v", k, err)
		}
	}
	listed, err := s.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("Keys lists %d keys; want the %d hostile ones", len(listed), len(want))
	}
	for i, k := range keys {
		if got, _ := mustLoad(t, s, k); got != fmt.Sprintf("value %d!", i) {
			t.Errorf("Load(%.40q) = %q", k, got)
		}
	}
	checkTree := func(wantEntries int) {
		t.Helper()
		entries := 0
		err := filepath.WalkDir(parent, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(parent, path)
			parts := strings.Split(rel, string(filepath.Separator))
			ok := false
			switch {
			case rel == "." || rel == "secret" || rel == "store":
				ok = true
			case len(parts) == 2 && parts[0] == "store" && parts[1] == ".locks" && d.IsDir():
				ok = true
			case len(parts) == 3 && parts[1] == ".locks" && len(parts[2]) == 2 && d.Type().IsRegular():
				ok = true
			case len(parts) == 2 && len(parts[1]) == 64 && d.Type().IsRegular():
				entries++
				ok = true
			}
			if !ok {
				t.Errorf("unexpected path %q", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if entries != wantEntries {
			t.Errorf("%d entry files; want %d", entries, wantEntries)
		}
	}
	checkTree(len(keys))
	if b, _ := os.ReadFile(filepath.Join(parent, "secret")); string(b) != "outside" {
		t.Errorf("file outside the directory changed: %q", b)
	}
	for _, k := range keys {
		if err := s.Delete(ctx(t), k); err != nil {
			t.Fatalf("Delete(%.40q): %v", k, err)
		}
	}
	checkTree(0)
	if b, err := os.ReadFile(filepath.Join(parent, "secret")); err != nil || string(b) != "outside" {
		t.Errorf("file outside the directory: %q, %v", b, err)
	}
}

// TestThresholdPruning checks the order: nothing while at the threshold,
// then expired entries first, then the live ones expiring soonest down to
// 90% of the threshold, never the entry just written.
func TestThresholdPruning(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	logger, logs := newLogger()
	dir := t.TempDir()
	s := open(t, dir, filestore.Options{Threshold: 10, Now: c.Now, Logger: logger})
	present := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, found := mustLoad(t, s, k); !found {
				t.Errorf("%s was pruned", k)
			}
		}
	}
	gone := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, err := os.Stat(filepath.Join(dir, fileName(k))); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was not pruned (%v)", k, err)
			}
		}
	}
	for i := range 10 {
		ttl := time.Duration(10+i) * time.Minute
		if i == 2 || i == 7 {
			ttl = time.Second
		}
		mustSave(t, s, fmt.Sprintf("a%d", i), "v", ttl)
	}
	c.Advance(time.Minute) // a2 and a7 expire; nothing is removed yet
	gone()
	if n := countFiles(t, dir); n != 10 {
		t.Fatalf("%d files at the threshold; want 10", n)
	}
	// Over the threshold: the two expired entries go, which is enough.
	mustSave(t, s, "new1", "v", 30*time.Minute)
	gone("a2", "a7")
	present("a0", "a1", "a3", "a4", "a5", "a6", "a8", "a9", "new1")

	// A rewrite of an existing key never prunes.
	mustSave(t, s, "a0", "v", 9*time.Minute)
	mustSave(t, s, "new2", "v", 5*time.Minute) // 10 files
	// Over again, nothing expired: the soonest to expire go until 9 remain.
	mustSave(t, s, "new3", "v", 40*time.Minute)
	gone("new2", "a0")
	present("a1", "a3", "a4", "a5", "a6", "a8", "a9", "new1", "new3")

	// The entry just written is kept even when it expires soonest.
	mustSave(t, s, "new4", "v", time.Millisecond) // 10
	mustSave(t, s, "new5", "v", time.Millisecond) // 11: prune, keeping new5
	gone("new4", "a1")
	present("new5", "a3")
	if n := countFiles(t, dir); n != 9 {
		t.Errorf("%d files after pruning; want 9", n)
	}
	if !strings.Contains(logs.String(), "SESSION_FILE_THRESHOLD") {
		t.Errorf("eviction of live sessions not logged:\n%s", logs)
	}

	// A new Store counts the files already there.
	s2 := open(t, dir, filestore.Options{Threshold: 9, Now: c.Now, Logger: logger})
	mustSave(t, s2, "new6", "v", time.Hour) // 10 > 9: prune to 9-0 = 9
	if n := countFiles(t, dir); n != 9 {
		t.Errorf("%d files after a second store pruned; want 9", n)
	}
	present("new6")
}

func TestThresholdUnlimited(t *testing.T) {
	s := open(t, "", filestore.Options{Threshold: -1})
	for i := range 30 {
		mustSave(t, s, fmt.Sprint(i), "v", time.Minute)
	}
	if n := countFiles(t, s.Dir()); n != 30 {
		t.Errorf("%d files; want 30", n)
	}
}

// TestThresholdConcurrent writes new keys from many goroutines into a
// small store: pruning must never fail a write, and the count stays near
// the threshold.
func TestThresholdConcurrent(t *testing.T) {
	logger, _ := newLogger()
	s := open(t, "", filestore.Options{Threshold: 20, Logger: logger})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if err := s.Save(ctx(t), fmt.Sprintf("%d/%d", g, i), []byte("v"), time.Duration(1+i)*time.Minute); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := countFiles(t, s.Dir()); n > 20+8 || n < 18-8 {
		t.Errorf("%d files with threshold 20", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range names {
		if len(e.Name()) == 64 {
			n++
		}
	}
	return n
}

// TestStaleTempFiles checks that temporary files orphaned by dead writers
// are removed by default, without Cleanup: when the store is opened (also
// through the SESSION_TYPE factory) and by every prune, once they are older
// than StaleTemp, and never before.
func TestStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	stale := time.Now().Add(-filestore.DefaultStaleTemp - time.Minute)
	young := time.Now().Add(-filestore.DefaultStaleTemp + time.Minute)
	plant := func(name string, mtime time.Time) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("half a session"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		for p, kept := range want {
			if _, err := os.Stat(p); (err == nil) != kept {
				t.Errorf("%s: %s exists = %v; want %v", when, filepath.Base(p), err == nil, kept)
			}
		}
	}

	// At open, through the factory (what SESSION_TYPE=filesystem builds).
	oldTmp := plant(".tmp-0123456789abcdef-0000000000000001", stale)
	oldProbe := plant(".probe-123456", stale)
	youngTmp := plant(".tmp-0123456789abcdef-0000000000000002", young)
	notOurs := plant("tmp-notours", stale)
	st, err := backends.Open(ctx(t), backends.Config{Type: "filesystem", FileDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st.(*filestore.Store).Close()
	check("open", map[string]bool{oldTmp: false, oldProbe: false, youngTmp: true, notOurs: true})

	// With each prune: a threshold of 3 and a fourth entry.
	c := &clock{now: time.Now()}
	s := open(t, dir, filestore.Options{Threshold: 3, Now: c.Now})
	for i := range 3 {
		mustSave(t, s, fmt.Sprintf("k%d", i), "v", time.Hour)
	}
	c.Advance(2 * time.Minute) // youngTmp is now 6 minutes old
	laterTmp := plant(".tmp-0123456789abcdef-0000000000000003", time.Now())
	mustSave(t, s, "k3", "v", time.Hour)
	check("prune", map[string]bool{youngTmp: false, laterTmp: true, notOurs: true})

	// A custom bound.
	c.Advance(time.Minute)
	open(t, dir, filestore.Options{StaleTemp: 30 * time.Second, Now: c.Now})
	check("open with StaleTemp 30s", map[string]bool{laterTmp: false, notOurs: true})
}

func TestCleanup(t *testing.T) {
	c := &clock{now: time.Now()}
	logger, _ := newLogger()
	s := open(t, "", filestore.Options{Now: c.Now, Logger: logger})
	for i := range 5 {
		mustSave(t, s, fmt.Sprintf("short%d", i), "v", time.Minute)
		mustSave(t, s, fmt.Sprintf("long%d", i), "v", time.Hour)
	}
	// An orphaned temporary file (a writer killed before its rename), a
	// damaged entry, a foreign file and an unrelated file.
	tmp := filepath.Join(s.Dir(), ".tmp-0123456789abcdef-0000000000000000")
	os.WriteFile(tmp, []byte("half"), 0o600)
	damaged := filepath.Join(s.Dir(), fileName("damaged"))
	os.WriteFile(damaged, []byte("GSES\x01\x00\x00\x00short"), 0o600)
	foreignFile := filepath.Join(s.Dir(), fileName("foreign"))
	os.WriteFile(foreignFile, bytes.Repeat([]byte("not ours "), 10), 0o600)
	other := filepath.Join(s.Dir(), "README")
	os.WriteFile(other, []byte("x"), 0o600)

	c.Advance(2 * time.Minute)
	n, err := s.Cleanup(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 { // 5 expired + 1 damaged
		t.Errorf("Cleanup removed %d; want 6", n)
	}
	for i := range 5 {
		if _, found := mustLoad(t, s, fmt.Sprintf("long%d", i)); !found {
			t.Errorf("long%d removed", i)
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), fileName(fmt.Sprintf("short%d", i)))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("short%d not removed", i)
		}
	}
	for path, want := range map[string]bool{tmp: true, damaged: false, foreignFile: true, other: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: exists=%v; want %v", filepath.Base(path), err == nil, want)
		}
	}
	// An hour later the temporary file is stale and goes too.
	c.Advance(2 * time.Hour)
	os.Chtimes(tmp, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	if n, err := s.Cleanup(ctx(t)); err != nil || n != 5 {
		t.Errorf("second Cleanup = %d, %v; want the 5 long entries", n, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file not removed")
	}
	if _, err := os.Stat(foreignFile); err != nil {
		t.Errorf("foreign file removed")
	}
}

// TestCorruptEntry checks that a damaged file of ours is a logged miss and
// is removed, and that a foreign file is a logged miss left in place.
func TestCorruptEntry(t *testing.T) {
	logger, logs := newLogger()
	s := open(t, "", filestore.Options{Logger: logger})
	path := func(k string) string { return filepath.Join(s.Dir(), fileName(k)) }

	mustSave(t, s, "torn", strings.Repeat("x", 1000), time.Hour)
	os.Truncate(path("torn"), 500)
	mustSave(t, s, "flipped", strings.Repeat("x", 1000), time.Hour)
	f, _ := os.OpenFile(path("flipped"), os.O_RDWR, 0)
	f.WriteAt([]byte("y"), 700)
	f.Close()
	mustSave(t, s, "short", "v", time.Hour)
	os.Truncate(path("short"), 10)
	os.WriteFile(path("foreign"), []byte("pickle data from Flask"), 0o600)
	mustSave(t, s, "future", "v", time.Hour)
	f, _ = os.OpenFile(path("future"), os.O_RDWR, 0)
	f.WriteAt([]byte{2}, 4)
	f.Close()
	// A valid entry of another key under this key's name.
	mustSave(t, s, "other", "v", time.Hour)
	os.Rename(path("other"), path("moved"))

	for k, removed := range map[string]bool{"torn": true, "flipped": true, "short": true, "foreign": false, "future": false, "moved": false} {
		if v, found := mustLoad(t, s, k); found {
			t.Errorf("Load(%s) = %q, found", k, v)
		}
		rec, err := s.LoadVersion(ctx(t), k, time.Hour)
		if err != nil || rec.Found {
			t.Errorf("LoadVersion(%s) = %+v, %v", k, rec, err)
		}
		if _, err := os.Stat(path(k)); (err != nil) != removed {
			t.Errorf("%s: removed=%v; want %v", k, err != nil, removed)
		}
		if err := s.Touch(ctx(t), k, time.Hour); err != nil {
			t.Errorf("Touch(%s): %v", k, err)
		}
		// An unreadable entry counts as absent for SaveIf, which replaces it.
		if err := s.SaveIf(ctx(t), k, []byte("fresh"), nil, time.Hour); err != nil {
			t.Errorf("SaveIf(%s, nil): %v", k, err)
		}
		if v, _ := mustLoad(t, s, k); v != "fresh" {
			t.Errorf("after SaveIf, Load(%s) = %q", k, v)
		}
	}
	for _, want := range []string{"torn or truncated", "checksum", "shorter than", "not a ginsession file", "format version 2", "another key"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestCASManyWriters runs 200 read-modify-write loops on one key through
// two stores sharing a directory (the in-process lock of each store and
// the flock between them): no increment may be lost.
func TestCASManyWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stores := []*filestore.Store{open(t, dir, filestore.Options{}), open(t, dir, filestore.Options{})}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := increment(ctx(t), stores[i%2], "counter", 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v, _ := mustLoad(t, stores[0], "counter"); v != strconv.Itoa(n) {
		t.Errorf("counter = %q; want %d", v, n)
	}
}

// increment adds times to the decimal counter under key with
// LoadVersion/SaveIf, retrying on conflict.
func increment(c context.Context, s *filestore.Store, key string, times int) error {
	for range times {
		for attempt := 0; ; attempt++ {
			if attempt == 10000 {
				return errors.New("still conflicting after 10000 attempts")
			}
			rec, err := s.LoadVersion(c, key, 0)
			if err != nil {
				return err
			}
			n := 0
			if rec.Found {
				if n, err = strconv.Atoi(string(rec.Data)); err != nil {
					return fmt.Errorf("counter %q: %w", rec.Data, err)
				}
			}
			err = s.SaveIf(c, key, []byte(strconv.Itoa(n+1)), rec.Version, time.Hour)
			if err == nil {
				break
			}
			if !errors.Is(err, backends.ErrConflict) {
				return err
			}
		}
	}
	return nil
}

func TestConflictForeignVersion(t *testing.T) {
	s := open(t, "", filestore.Options{})
	mustSave(t, s, "k", "v", time.Minute)
	for _, v := range []any{uint64(1), "x", 0} {
		if err := s.SaveIf(ctx(t), "k", []byte("w"), v, time.Minute); !errors.Is(err, backends.ErrConflict) {
			t.Errorf("SaveIf with version %#v: %v; want ErrConflict", v, err)
		}
	}
	if v, _ := mustLoad(t, s, "k"); v != "v" {
		t.Errorf("value = %q", v)
	}
}

// TestFlaskDirWarning checks the warning about a directory shared with
// Flask-Session's cachelib, which would delete our files when it prunes.
func TestFlaskDirWarning(t *testing.T) {
	dir := t.TempDir()
	logger, logs := newLogger()
	open(t, dir, filestore.Options{Logger: logger})
	if logs.String() != "" {
		t.Fatalf("warning for a clean directory:\n%s", logs)
	}
	md5hex := "2029240f6d1128be89ddc32729463129"
	os.WriteFile(filepath.Join(dir, md5hex), []byte("\x00\x00\x00\x00pickle"), 0o600)
	open(t, dir, filestore.Options{Logger: logger})
	if !strings.Contains(logs.String(), "cachelib") || !strings.Contains(logs.String(), md5hex) {
		t.Errorf("no warning about Flask-Session files:\n%s", logs)
	}
}
