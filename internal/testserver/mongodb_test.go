package testserver

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFerretDB builds (once, cached) and starts the FerretDB test server and
// checks its Controller. `go test -run TestFerretDB ./internal/testserver/`
// also serves to build the binary ahead of a test run.
func TestFerretDB(t *testing.T) {
	m := FerretDB(t)
	if err := MongoPing(m.URI, 5*time.Second); err != nil {
		t.Fatalf("ping: %v", err)
	}
	dir, err := FerretDBCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ferretdb")); err != nil {
		t.Fatalf("binary not cached: %v", err)
	}
	t.Logf("FerretDB binary: %s", filepath.Join(dir, "ferretdb"))

	m.Pause(t)
	if err := MongoPing(m.URI, 300*time.Millisecond); err == nil {
		t.Fatal("ping succeeded while paused")
	}
	m.Resume(t)
	if err := MongoPing(m.URI, 5*time.Second); err != nil {
		t.Fatalf("ping after Resume: %v", err)
	}
	m.Kill(t)
	if err := MongoPing(m.URI, 300*time.Millisecond); err == nil {
		t.Fatal("ping succeeded after Kill")
	}
	m.Restart(t)
	if err := MongoPing(m.URI, 5*time.Second); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}

	// The shared server heals itself: killed, it is back on the next call.
	s := SharedFerretDB(t)
	s.Kill(t)
	if again := SharedFerretDB(t); again != s {
		t.Fatal("SharedFerretDB returned a different server")
	}
	if err := MongoPing(s.URI, 5*time.Second); err != nil {
		t.Fatalf("shared server not healed: %v", err)
	}
}
