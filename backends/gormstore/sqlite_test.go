package gormstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
)

func openSQLite(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:///"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	storetest.Run(t, func(t *testing.T) backends.Store { return openSQLite(t, path) }, storetest.Options{Granularity: 250 * time.Millisecond})
}
