//go:build unix

package filestore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/filestore"
)

// TestTouchInPlace checks that Touch and a refreshing LoadVersion rewrite
// only the expiry: same file (inode), same value, same version.
func TestTouchInPlace(t *testing.T) {
	c := &clock{now: time.Now()}
	s := open(t, "", filestore.Options{Now: c.Now})
	key := "session:touch"
	mustSave(t, s, key, "value", time.Minute)
	path := filepath.Join(s.Dir(), fileName(key))
	ino := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	r1, err := s.LoadVersion(ctx(t), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx(t), key, time.Hour); err != nil {
		t.Fatal(err)
	}
	r2, err := s.LoadVersion(ctx(t), key, 2*time.Hour)
	if err != nil || !r2.Refreshed {
		t.Fatalf("LoadVersion(refresh) = %+v, %v", r2, err)
	}
	if ino() != before {
		t.Errorf("Touch replaced the file")
	}
	if r1.Version != r2.Version || string(r2.Data) != "value" {
		t.Errorf("after Touch: version %v -> %v, data %q", r1.Version, r2.Version, r2.Data)
	}
	c.Advance(90 * time.Minute) // past the Touch's hour, within the refresh's two
	if v, found := mustLoad(t, s, key); !found || v != "value" {
		t.Fatalf("after refresh: %q, %v", v, found)
	}
	c.Advance(time.Hour)
	if _, found := mustLoad(t, s, key); found {
		t.Fatal("found after the refreshed expiry")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("expired file not removed by Load: %v", err)
	}
}

func TestFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	parent := t.TempDir()
	dir := filepath.Join(parent, "x", "sessions")
	s := open(t, dir, filestore.Options{})
	mustSave(t, s, "k", "v", time.Minute)
	for path, want := range map[string]os.FileMode{
		filepath.Join(parent, "x"):        0o700,
		dir:                               0o700,
		filepath.Join(dir, ".locks"):      0o700,
		filepath.Join(dir, fileName("k")): 0o600,
		filepath.Join(dir, ".locks", fileName("k")[:2]): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v; want %v", path, fi.Mode().Perm(), want)
		}
	}

	// The mode is applied exactly, umask notwithstanding (0660 &^ 022 would be 0640).
	s2 := open(t, "", filestore.Options{Mode: 0o660})
	mustSave(t, s2, "k", "v", time.Minute)
	if fi, _ := os.Stat(filepath.Join(s2.Dir(), fileName("k"))); fi.Mode().Perm() != 0o660 {
		t.Errorf("Mode 0660: file mode %v", fi.Mode().Perm())
	}

	// An existing directory keeps its permissions.
	existing := t.TempDir()
	os.Chmod(existing, 0o755)
	open(t, existing, filestore.Options{})
	if fi, _ := os.Stat(existing); fi.Mode().Perm() != 0o755 {
		t.Errorf("existing directory changed to %v", fi.Mode().Perm())
	}

	for _, m := range []os.FileMode{0o4600, 0o1600, 0o400, 0o200, 0o066, os.ModeDir | 0o600,
		0o604, 0o602, 0o601, 0o644, 0o666, 0o777} { // others may not read, write or even traverse
		if _, err := filestore.New(t.TempDir(), filestore.Options{Mode: m}); err == nil {
			t.Errorf("New with mode %v: no error", m)
		} else if filestore.CheckMode(m) == nil {
			t.Errorf("CheckMode(%v) = nil but New refused it", m)
		}
	}
	for _, m := range []os.FileMode{0, 0o600, 0o640, 0o660, 0o700, 0o760} {
		if err := filestore.CheckMode(m); err != nil {
			t.Errorf("CheckMode(%v) = %v; want nil", m, err)
		}
	}
}

// TestNotRegularFiles puts a symbolic link and a FIFO where entries would
// be: they are foreign files (misses), never followed, never blocked on,
// and a Save replaces the link itself, not its target.
func TestNotRegularFiles(t *testing.T) {
	logger, logs := newLogger()
	s := open(t, "", filestore.Options{Logger: logger})
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("GSES\x01 must stay as it is"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(s.Dir(), fileName("link"))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), fileName("fifo")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"link", "fifo"} {
		if _, found := mustLoad(t, s, k); found {
			t.Errorf("Load(%s): found", k)
		}
		if rec, err := s.LoadVersion(ctx(t), k, time.Hour); err != nil || rec.Found {
			t.Errorf("LoadVersion(%s) = %+v, %v", k, rec, err)
		}
		if err := s.Touch(ctx(t), k, time.Hour); err != nil {
			t.Errorf("Touch(%s): %v", k, err)
		}
	}
	if _, err := s.Keys(ctx(t)); err != nil {
		t.Errorf("Keys: %v", err)
	}
	if _, err := s.Cleanup(ctx(t)); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
	if err := s.SaveIf(ctx(t), "link", []byte("v"), nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, _ := mustLoad(t, s, "link"); v != "v" {
		t.Errorf("Load after SaveIf = %q", v)
	}
	if b, _ := os.ReadFile(target); string(b) != "GSES\x01 must stay as it is" {
		t.Errorf("symlink target changed: %q", b)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("entry after SaveIf: %v, %v; want a regular file", fi.Mode(), err)
	}
	if !strings.Contains(logs.String(), "symbolic link") || !strings.Contains(logs.String(), "not a regular file") {
		t.Errorf("log:\n%s", logs)
	}
}
