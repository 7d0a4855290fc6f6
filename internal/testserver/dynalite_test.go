package testserver

import (
	"os"
	"testing"
	"time"
)

// TestDynalite installs (once, cached) and starts dynalite and checks its
// Controller. `go test -run TestDynalite ./internal/testserver/` also serves
// to install it ahead of a test run.
func TestDynalite(t *testing.T) {
	d := StartDynalite(t)
	if err := DynamoPing(d.Endpoint, 5*time.Second); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := os.Stat(dynaliteInstall.cli); err != nil {
		t.Fatalf("dynalite not cached: %v", err)
	}
	t.Logf("dynalite: %s", dynaliteInstall.cli)

	d.Pause(t)
	if err := DynamoPing(d.Endpoint, 300*time.Millisecond); err == nil {
		t.Fatal("ping succeeded while paused")
	}
	d.Resume(t)
	if err := DynamoPing(d.Endpoint, 5*time.Second); err != nil {
		t.Fatalf("ping after Resume: %v", err)
	}
	d.Kill(t)
	if err := DynamoPing(d.Endpoint, 300*time.Millisecond); err == nil {
		t.Fatal("ping succeeded after Kill")
	}
	d.Restart(t)
	if err := DynamoPing(d.Endpoint, 5*time.Second); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}

	// The shared server heals itself: killed, it is back on the next call.
	s := SharedDynalite(t)
	s.Kill(t)
	if again := SharedDynalite(t); again != s {
		t.Fatal("SharedDynalite returned a different server")
	}
	if err := DynamoPing(s.Endpoint, 5*time.Second); err != nil {
		t.Fatalf("shared server not healed: %v", err)
	}
}
