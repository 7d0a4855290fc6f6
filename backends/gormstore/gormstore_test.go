package gormstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
)

func TestConformance(t *testing.T) {
	for _, d := range allDatabases() {
		t.Run(d.name, func(t *testing.T) {
			url := d.url(t)
			// A pool per store, as several processes sharing one database.
			storetest.Run(t, func(t *testing.T) backends.Store { return mustOpen(t, url, Options{}) },
				storetest.Options{Granularity: granularity})
		})
	}
}

// TestConformanceSharedPool runs the suite on stores made by New over one
// caller-owned *gorm.DB, as an application that passes its own DB does.
// Close must leave that DB open for the other stores.
func TestConformanceSharedPool(t *testing.T) {
	for _, d := range allDatabases() {
		t.Run(d.name, func(t *testing.T) {
			db, sqlDB, err := openDB(ctxT(t), d.url(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sqlDB.Close() })
			table := randomName("s_")
			storetest.Run(t, func(t *testing.T) backends.Store {
				s, err := New(db.WithContext(ctxT(t)), Options{Table: table})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}, storetest.Options{Granularity: granularity})
		})
	}
}

// TestConformanceSQLiteRollbackJournal runs the suite on an existing SQLite
// file in the default rollback-journal mode (the store only turns on WAL
// for files it creates), with a pool per store: readers and writers of
// different pools block each other and the busy retries must cope.
func TestConformanceSQLiteRollbackJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "existing.db")
	s := mustOpen(t, "sqlite:///"+path+"?_journal_mode=DELETE", Options{})
	s.Close()
	storetest.Run(t, func(t *testing.T) backends.Store {
		s := mustOpen(t, "sqlite:///"+path, Options{})
		var mode string
		if err := s.DB().Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "delete" {
			t.Fatalf("journal_mode = %q, %v; want delete (an existing file keeps its mode)", mode, err)
		}
		return s
		// Writers wait for each other's fsyncs here: give the expiry
		// subtests room.
	}, storetest.Options{Granularity: time.Second})
}

func TestConformanceSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store { return mustOpen(t, "sqlite://", Options{}) },
		storetest.Options{Granularity: granularity})
}

func TestSQLiteNewFileUsesWAL(t *testing.T) {
	s := mustOpen(t, "sqlite:///"+filepath.Join(t.TempDir(), "new.db"), Options{})
	var mode string
	if err := s.DB().Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal for a file the store created", mode, err)
	}
}

func TestSQLiteMemoryStoresAreSeparate(t *testing.T) {
	a, b := mustOpen(t, "sqlite://", Options{}), mustOpen(t, "sqlite:///:memory:", Options{})
	if err := a.Save(ctxT(t), "k", []byte("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.Load(ctxT(t), "k"); err != nil || found {
		t.Fatalf("second in-memory store sees the first one's row: found=%v err=%v", found, err)
	}
	if data, found, err := a.Load(ctxT(t), "k"); err != nil || !found || string(data) != "a" {
		t.Fatalf("Load = %q, %v, %v", data, found, err)
	}
}

// TestUpsertRace saves one new key from 50 goroutines at once: a
// select-then-insert would fail some of them with a duplicate key.
func TestUpsertRace(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		const n = 50
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				if err := s.Save(ctxT(t), "session:race", fmt.Appendf(nil, "writer %d", i), time.Hour); err != nil {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Save: %v", err)
		}
		var rows int64
		if err := s.DB().Table(s.Table()).Where("session_id = ?", "session:race").Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Fatalf("%d rows for the key; want 1", rows)
		}
	})
}

func TestCompareAndSwapConflict(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		ctx := ctxT(t)
		const key = "session:cas"
		if err := s.SaveIf(ctx, key, []byte("v1"), nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		a, err := s.LoadVersion(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.LoadVersion(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if a.Refreshed {
			t.Error("LoadVersion reported Refreshed; the store never refreshes")
		}
		if err := s.SaveIf(ctx, key, []byte("from a"), a.Version, time.Hour); err != nil {
			t.Fatalf("first SaveIf: %v", err)
		}
		err = s.SaveIf(ctx, key, []byte("from b"), b.Version, time.Hour)
		if !errors.Is(err, backends.ErrConflict) {
			t.Fatalf("second SaveIf = %v; want ErrConflict", err)
		}
		if data, _, _ := s.Load(ctx, key); string(data) != "from a" {
			t.Fatalf("Load = %q; want the winner's value", data)
		}
		// Writing back identical bytes is not a conflict, even where the
		// database reports 0 changed rows (MySQL without CLIENT_FOUND_ROWS).
		c, _ := s.LoadVersion(ctx, key, 0)
		if err := s.SaveIf(ctx, key, []byte("from a"), c.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf of identical bytes: %v", err)
		}
		if err := s.SaveIf(ctx, key, []byte("x"), "not a version", time.Hour); err == nil || errors.Is(err, backends.ErrConflict) {
			t.Fatalf("SaveIf with a foreign version = %v; want a plain error", err)
		}
	})
}

func TestCleanupCount(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		ctx := ctxT(t)
		for i := range 3 {
			if err := s.Save(ctx, fmt.Sprintf("session:old%d", i), []byte("x"), time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := s.Save(ctx, fmt.Sprintf("session:live%d", i), []byte("x"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		n, err := s.Cleanup(ctx)
		if err != nil || n != 3 {
			t.Fatalf("Cleanup = %d, %v; want 3", n, err)
		}
		n, err = s.Cleanup(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second Cleanup = %d, %v; want 0", n, err)
		}
		keys, err := s.Keys(ctx)
		if err != nil || len(keys) != 2 {
			t.Fatalf("Keys = %q, %v; want the two live ones", keys, err)
		}
	})
}

// TestHostileKeys: keys the session_id column cannot hold never reach the
// database: reads miss, writes fail with a clear error.
func TestHostileKeys(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		ctx := ctxT(t)
		for name, key := range map[string]string{
			"256 bytes":    strings.Repeat("k", 256),
			"NUL":          "session:a\x00b",
			"invalid UTF8": "session:\xff\xfe",
		} {
			if _, found, err := s.Load(ctx, key); err != nil || found {
				t.Errorf("%s: Load = found %v, %v; want a miss", name, found, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("%s: Delete = %v", name, err)
			}
			if err := s.Touch(ctx, key, time.Hour); err != nil {
				t.Errorf("%s: Touch = %v", name, err)
			}
			if err := s.Save(ctx, key, []byte("x"), time.Hour); err == nil || !strings.Contains(err.Error(), "cannot be stored") {
				t.Errorf("%s: Save = %v; want a key error", name, err)
			}
			if err := s.SaveIf(ctx, key, []byte("x"), nil, time.Hour); err == nil {
				t.Errorf("%s: SaveIf succeeded", name)
			}
		}
		// SQL in a key is a key.
		evil := "session:'; DROP TABLE sessions; --"
		if err := s.Save(ctx, evil, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if data, found, err := s.Load(ctx, evil); err != nil || !found || string(data) != "x" {
			t.Fatalf("Load = %q, %v, %v", data, found, err)
		}
	})
}

// TestRoundTrips checks that every call is one statement, and that Save is
// a single upsert.
func TestRoundTrips(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		rec := recordStatements(t, s)
		ctx := ctxT(t)
		one := func(what string, fn func() error, want ...string) {
			t.Helper()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			got := rec.take()
			if len(got) != 1 {
				t.Fatalf("%s sent %d statements; want 1: %q", what, len(got), got)
			}
			for _, w := range want {
				if !strings.Contains(got[0], w) {
					t.Errorf("%s: %q does not contain %q", what, got[0], w)
				}
			}
		}
		upsert := "ON CONFLICT"
		if strings.HasPrefix(url, "mysql") {
			upsert = "ON DUPLICATE KEY UPDATE"
		}
		one("Save", func() error { return s.Save(ctx, "session:rt", []byte("v"), time.Hour) }, "INSERT", upsert)
		one("Save again", func() error { return s.Save(ctx, "session:rt", []byte("v2"), time.Hour) }, "INSERT", upsert)
		one("Load", func() error { _, _, err := s.Load(ctx, "session:rt"); return err }, "SELECT")
		var rec1 backends.Record
		one("LoadVersion", func() error { var err error; rec1, err = s.LoadVersion(ctx, "session:rt", time.Hour); return err }, "SELECT")
		one("Touch", func() error { return s.Touch(ctx, "session:rt", time.Hour) }, "UPDATE", "SET expiry")
		one("SaveIf", func() error { return s.SaveIf(ctx, "session:rt", []byte("v3"), rec1.Version, time.Hour) }, "UPDATE")
		one("SaveIf nil", func() error { return s.SaveIf(ctx, "session:rt2", []byte("v"), nil, time.Hour) }, "INSERT")
		one("Delete", func() error { return s.Delete(ctx, "session:rt") }, "DELETE")
		one("Cleanup", func() error { _, err := s.Cleanup(ctx); return err }, "DELETE")
		one("Keys", func() error { _, err := s.Keys(ctx); return err }, "SELECT")
	})
}

// TestFirstSaveOverExpiredRow: SaveIf with a nil version replaces an
// expired row (two statements more: the failed INSERT's retry).
func TestFirstSaveOverExpiredRow(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		ctx := ctxT(t)
		if err := s.Save(ctx, "session:x", []byte("old"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if err := s.SaveIf(ctx, "session:x", []byte("new"), nil, time.Hour); err != nil {
			t.Fatalf("SaveIf(nil) over an expired row: %v", err)
		}
		if data, found, err := s.Load(ctx, "session:x"); err != nil || !found || string(data) != "new" {
			t.Fatalf("Load = %q, %v, %v", data, found, err)
		}
	})
}

func TestCloseOwnership(t *testing.T) {
	db, sqlDB, err := openDB(ctxT(t), "sqlite:///"+filepath.Join(t.TempDir(), "own.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	s, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.Ping(); err != nil {
		t.Fatalf("Close of a store made by New closed the caller's DB: %v", err)
	}
	if _, _, err := s.Load(context.Background(), "k"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Load after Close = %v", err)
	}

	o := mustOpen(t, "sqlite:///"+filepath.Join(t.TempDir(), "opened.db"), Options{})
	o.Close()
	if err := o.owned.Ping(); err == nil {
		t.Fatal("Close of a store made by Open left its pool open")
	}
}

func TestNoCreateTable(t *testing.T) {
	url := "sqlite:///" + filepath.Join(t.TempDir(), "none.db")
	_, err := Open(ctxT(t), url, Options{NoCreateTable: true})
	if err == nil || !strings.Contains(err.Error(), "not usable") {
		t.Fatalf("Open with NoCreateTable on an empty database = %v; want a missing-table error", err)
	}
	mustOpen(t, url, Options{Table: "custom_sessions"}).Close()
	s := mustOpen(t, url, Options{Table: "custom_sessions", NoCreateTable: true})
	if err := s.Save(ctxT(t), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "x;drop", "1abc", strings.Repeat("t", 49), "s.t"} {
		if bad == "" {
			continue // empty means the default
		}
		if _, err := Open(ctxT(t), url, Options{Table: bad}); err == nil || !strings.Contains(err.Error(), "table name") {
			t.Errorf("Table %q: Open = %v; want a table name error", bad, err)
		}
	}
}

// TestExpiryIndex checks that the index on expiry exists in every dialect.
func TestExpiryIndex(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		s := mustOpen(t, url, Options{})
		if !s.DB().Migrator().HasIndex(s.Table(), s.indexName()) {
			t.Fatalf("index %s missing", s.indexName())
		}
		// Opening again is a no-op.
		mustOpen(t, url, Options{})
	})
}

func TestRegistered(t *testing.T) {
	for _, name := range []string{"sqlalchemy", "gorm", "SQLAlchemy"} {
		if _, ok := backends.Lookup(name); !ok {
			t.Errorf("%q is not registered", name)
		}
	}
	path := filepath.Join(t.TempDir(), "factory.db")
	st, err := backends.Open(ctxT(t), backends.Config{Type: "sqlalchemy", SQLAlchemy: "sqlite:///" + path, SQLAlchemyTable: "flask_sessions"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*Store).Close()
	if got := st.(*Store).Table(); got != "flask_sessions" {
		t.Errorf("table %q", got)
	}
	_, err = backends.Open(ctxT(t), backends.Config{Type: "gorm", SQLAlchemy: "oracle://scott:tiger@db/orcl"})
	if err == nil || !strings.Contains(err.Error(), "SESSION_SQLALCHEMY") || strings.Contains(err.Error(), "tiger") {
		t.Fatalf("bad URL error = %v; want it to name SESSION_SQLALCHEMY and hide the password", err)
	}
}

// TestTooLargeForFlaskBlob: a Flask-created MySQL table has a BLOB (64 KiB)
// data column; a larger value fails with ErrTooLarge and the previous value
// stays, instead of being truncated.
func TestTooLargeForFlaskBlob(t *testing.T) {
	url := mariaDB().url(t)
	db, sqlDB, err := openDB(ctxT(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	if err := db.Exec(flaskMySQLDDL).Error; err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, url, Options{})
	ctx := ctxT(t)
	if err := s.Save(ctx, "session:big", []byte("small"), time.Hour); err != nil {
		t.Fatal(err)
	}
	err = s.Save(ctx, "session:big", bytes.Repeat([]byte("x"), 65536), time.Hour)
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Save of 64 KiB into BLOB = %v; want ErrTooLarge", err)
	}
	if data, _, _ := s.Load(ctx, "session:big"); string(data) != "small" {
		t.Fatalf("previous value = %q; want it intact", data)
	}
	if err := s.Save(ctx, "session:big", bytes.Repeat([]byte("x"), 65535), time.Hour); err != nil {
		t.Fatalf("Save of 65535 bytes: %v", err)
	}
}

// DDL that SQLAlchemy 1.4 emits for Flask-Session 0.8's model on PostgreSQL
// and MySQL (Integer, String(255), LargeBinary, DateTime).
const (
	flaskPostgresDDL = `CREATE TABLE sessions (
	id SERIAL NOT NULL,
	session_id VARCHAR(255),
	data BYTEA,
	expiry TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (session_id)
)`
	flaskMySQLDDL = `CREATE TABLE sessions (
	id INTEGER NOT NULL AUTO_INCREMENT,
	session_id VARCHAR(255),
	data BLOB,
	expiry DATETIME,
	PRIMARY KEY (id),
	UNIQUE (session_id)
)`
)

// TestFlaskTablesOnServers runs the conformance suite on tables created
// with Flask-Session's DDL on PostgreSQL and MariaDB (second-precision
// DATETIME and a case-insensitive key column on MariaDB).
func TestFlaskTablesOnServers(t *testing.T) {
	for _, c := range []struct {
		db  database
		ddl string
	}{{postgresDB(), flaskPostgresDDL}, {mariaDB(), flaskMySQLDDL}} {
		t.Run(c.db.name, func(t *testing.T) {
			url := c.db.url(t)
			db, sqlDB, err := openDB(ctxT(t), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sqlDB.Close()
			if err := db.Exec(c.ddl).Error; err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, url, Options{})
			ctx := ctxT(t)
			if err := s.Save(ctx, "session:flask", []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
			rec, err := s.LoadVersion(ctx, "session:flask", 0)
			if err != nil || !rec.Found {
				t.Fatalf("LoadVersion = %+v, %v", rec, err)
			}
			// Same bytes and (on MySQL) the same DATETIME second: the
			// server reports no changed row; that is not a conflict.
			if err := s.SaveIf(ctx, "session:flask", []byte("v"), rec.Version, time.Hour); err != nil {
				t.Fatalf("SaveIf of unchanged bytes: %v", err)
			}
			if err := s.Save(ctx, "session:short", []byte("v"), 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1600 * time.Millisecond) // DATETIME(0) rounds to the second
			if _, found, err := s.Load(ctx, "session:short"); err != nil || found {
				t.Fatalf("expired row: found=%v err=%v", found, err)
			}
			if n, err := s.Cleanup(ctx); err != nil || n != 1 {
				t.Fatalf("Cleanup = %d, %v; want 1", n, err)
			}
		})
	}
}
