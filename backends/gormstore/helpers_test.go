package gormstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/ginsession/ginsession/internal/testserver"
)

// granularity is the expiry resolution the tests assume: every dialect
// keeps microseconds (MySQL: in tables the store creates) and compares with
// the Go clock.
const granularity = 500 * time.Millisecond

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// database is one kind of real database the tests run against.
type database struct {
	name string
	// url returns a database URL of a fresh database (or file) for t.
	url func(t *testing.T) string
}

func sqliteDB() database {
	return database{name: "sqlite", url: func(t *testing.T) string {
		return "sqlite:///" + filepath.Join(t.TempDir(), "sessions.db")
	}}
}

func postgresDB() database {
	return database{name: "postgres", url: func(t *testing.T) string {
		pg := testserver.SharedPostgres(t)
		return pg.URL(pg.NewDatabase(t))
	}}
}

func mariaDB() database {
	return database{name: "mariadb", url: func(t *testing.T) string {
		m := testserver.SharedMariaDB(t)
		return m.URL(m.NewDatabase(t))
	}}
}

func allDatabases() []database { return []database{sqliteDB(), postgresDB(), mariaDB()} }

// forEach runs fn as a subtest per database, each with a fresh database.
func forEach(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range allDatabases() {
		t.Run(d.name, func(t *testing.T) { fn(t, d.url(t)) })
	}
}

func mustOpen(t *testing.T, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(ctxT(t), url, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// statements records the SQL of every statement the store sends from now on.
type statements struct {
	mu   sync.Mutex
	list []string
}

func recordStatements(t *testing.T, s *Store) *statements {
	t.Helper()
	rec := &statements{}
	fn := func(db *gorm.DB) {
		rec.mu.Lock()
		rec.list = append(rec.list, db.Statement.SQL.String())
		rec.mu.Unlock()
	}
	cb := s.DB().Callback()
	name := randomName("test:record:")
	for _, err := range []error{
		cb.Create().After("gorm:create").Register(name, fn),
		cb.Query().After("gorm:query").Register(name, fn),
		cb.Update().After("gorm:update").Register(name, fn),
		cb.Delete().After("gorm:delete").Register(name, fn),
		cb.Row().After("gorm:row").Register(name, fn),
		cb.Raw().After("gorm:raw").Register(name, fn),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func (r *statements) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.list
	r.list = nil
	return l
}
