package ginsession

import (
	"sort"
	"sync"
	"testing"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// harness describes one backend for the suites in this file. Backends add
// theirs from backends_<name>_test.go with registerHarness in an init func.
type harness struct {
	// name is the subtest name, e.g. "redis" or "gorm/postgres".
	name string
	// open starts (or reuses) a real server and returns a fresh store on it,
	// plus a Controller when the server can be killed and restarted by the
	// fault tests (nil for in-process backends). The store must be closed
	// by a t.Cleanup registered by open when it needs closing.
	open func(t *testing.T) (backends.Store, testserver.Controller)
	// conformance tunes the storetest suite.
	conformance storetest.Options
}

var (
	harnessMu sync.Mutex
	harnesses []harness
)

func registerHarness(h harness) {
	harnessMu.Lock()
	defer harnessMu.Unlock()
	harnesses = append(harnesses, h)
	sort.Slice(harnesses, func(i, j int) bool { return harnesses[i].name < harnesses[j].name })
}

// TestConformance runs the storetest suite over every backend against a real server.
func TestConformance(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) backends.Store {
				s, _ := h.open(t)
				return s
			}, h.conformance)
		})
	}
}
