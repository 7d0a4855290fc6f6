package ginsession

import (
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The filesystem store needs no server: each store gets its own temporary
// directory, and there is no Controller (nothing to kill or pause).
func init() {
	registerHarness(harness{
		name: "filesystem",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			s, err := filestore.New(t.TempDir(), filestore.Options{})
			if err != nil {
				t.Fatalf("filestore.New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s, nil
		},
		// Expiry is kept in nanoseconds; 250ms leaves room for fsync under -race.
		conformance: storetest.Options{Granularity: 250 * time.Millisecond},
	})
}
