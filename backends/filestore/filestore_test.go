package filestore_test

import (
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/filestore"
	"github.com/ginsession/ginsession/backends/storetest"
)

// open returns a store in a fresh directory, closed when t ends.
func open(t *testing.T, opts filestore.Options) *filestore.Store {
	t.Helper()
	s, err := filestore.New(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return open(t, filestore.Options{})
	}, storetest.Options{Granularity: 250 * time.Millisecond})
}
