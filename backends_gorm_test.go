package ginsession

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The gorm harnesses build their stores the way SESSION_TYPE=sqlalchemy
// does, from a SESSION_SQLALCHEMY URL. PostgreSQL and MariaDB are servers
// shared by the whole test binary, each with one database for these
// harnesses; every store opens its own connection pool on the default
// "sessions" table (keys are random, so stores sharing the table do not
// meet). Their Controllers act on the shared servers: the fault suite is a
// sequential top-level test. SQLite needs no server: each store gets a file
// of its own.
func init() {
	// Expiry is kept in microseconds and compared with the Go clock; 500ms
	// leaves room for a loaded machine under -race.
	conf := storetest.Options{Granularity: 500 * time.Millisecond}
	registerHarness(harness{
		name: "gorm-sqlite",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			return openGorm(t, "sqlite:///"+filepath.Join(t.TempDir(), "sessions.db")), nil
		},
		conformance: conf,
	})
	registerHarness(harness{
		name: "gorm-postgres",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			pg := testserver.SharedPostgres(t)
			return openGorm(t, pg.URL(gormDatabase(t, &gormPG, pg.NewDatabase))), pg
		},
		conformance: conf,
	})
	registerHarness(harness{
		name: "gorm-mariadb",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			m := testserver.SharedMariaDB(t)
			return openGorm(t, m.URL(gormDatabase(t, &gormMDB, m.NewDatabase))), m
		},
		conformance: conf,
	})
}

// gormDB is the database the harness uses on a shared server, made once.
type gormDB struct {
	mu   sync.Mutex
	name string
}

var gormPG, gormMDB gormDB

func gormDatabase(t *testing.T, db *gormDB, create func(testing.TB) string) string {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.name == "" {
		db.name = create(t)
	}
	return db.name
}

func openGorm(t *testing.T, url string) backends.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := backends.Open(ctx, backends.Config{Type: "sqlalchemy", SQLAlchemy: url})
	if err != nil {
		t.Fatalf("open gorm store: %v", err)
	}
	t.Cleanup(func() { st.(*gormstore.Store).Close() })
	return st
}
