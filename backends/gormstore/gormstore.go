// Package gormstore keeps sessions in an SQL table through GORM: SQLite,
// PostgreSQL and MySQL/MariaDB. It is ginsession's equivalent of
// Flask-Session's "sqlalchemy" type and uses the same table, so a Flask app
// and a Gin app pointed at one database share sessions:
//
//	sessions(id integer primary key, session_id varchar(255) unique,
//	         data blob, expiry datetime)
//
// session_id holds SESSION_KEY_PREFIX + sid, data the encoded session and
// expiry the naive UTC instant after which the row is dead. On SQLite the
// expiry is written as TEXT in SQLAlchemy's format
// ("YYYY-MM-DD HH:MM:SS.ffffff"), exactly as Flask-Session writes it.
//
// The store registers the SESSION_TYPE names "sqlalchemy" and "gorm"; the
// factory opens SESSION_SQLALCHEMY (or SQLALCHEMY_DATABASE_URI), a database
// URL in SQLAlchemy's forms (see [Open]). The SQLite driver
// (gorm.io/driver/sqlite, mattn/go-sqlite3) needs cgo.
//
// Every method is one SQL statement in the common case. Expired rows are
// misses and are left in place until [Store.Cleanup] removes them (the core
// calls it every SESSION_CLEANUP_N_REQUESTS requests).
package gormstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/errs"
	"github.com/ginsession/ginsession/internal/setup"
)

// DefaultTable is the table name used when Options.Table is empty
// (SESSION_SQLALCHEMY_TABLE's default, as in Flask-Session).
const DefaultTable = "sessions"

// maxKeyLen is the length of the session_id column, VARCHAR(255).
const maxKeyLen = 255

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Table is the table holding the sessions (SESSION_SQLALCHEMY_TABLE,
	// default "sessions"). It must be a plain SQL identifier: letters,
	// digits and underscores, at most 48 characters.
	Table string
	// Logger receives the store's and GORM's diagnostics at warning level;
	// nil means slog.Default(). GORM's own logger is replaced for the
	// store's statements because it would print SQL with session ids.
	Logger *slog.Logger
	// NoCreateTable stops New from creating the table and its expiry index
	// when they are missing. By default (false) they are created, with
	// Flask-Session's columns, when the table does not exist yet. Either way
	// New checks that the table has the columns the store needs. It also
	// stops the store from creating the user index table (<Table>_users,
	// users.go) on first use: the calls that need it then fail with a
	// *MissingTableError naming it until it is created beforehand (the DDL
	// is in docs/backends/sql.md).
	NoCreateTable bool
	// Schema is SESSION_SQLALCHEMY_SCHEMA: the PostgreSQL schema, or the
	// MySQL/MariaDB database, the table lives in (default: the
	// connection's search_path or current database). It must exist; New
	// does not create it. Same identifier rules as Table.
	Schema string
	// Sequence is SESSION_SQLALCHEMY_SEQUENCE: a sequence the id of new
	// rows is drawn from, as SQLAlchemy's Column(Integer, Sequence(name))
	// does — every INSERT sets id = nextval(sequence) on PostgreSQL, or
	// NEXT VALUE FOR sequence on MariaDB when the id column does not
	// auto-increment. A name, or schema.name; unqualified names are found
	// on the search_path, as SQLAlchemy's are. When New creates the table
	// it creates the sequence too (PostgreSQL). Ignored on SQLite (as
	// SQLAlchemy ignores it) and when a MySQL id auto-increments.
	Sequence string
}

// Store is a backends.Store over an SQL table. It implements Toucher,
// CompareAndSwapper, Cleaner, Lister and io.Closer, and is safe for
// concurrent use.
type Store struct {
	db      *gorm.DB
	table   clause.Table // schema-qualified when Options.Schema is set
	bare    string       // the table name without schema
	schema  string       // Options.Schema
	seq     string       // Options.Sequence
	idExpr  any          // the id of an INSERT (a nextval expression), or nil
	dialect string
	log     *slog.Logger
	// maxData is the capacity of the data column when it is known and
	// smaller than what the store can send (MySQL BLOB: 65535 bytes).
	maxData int64
	// owned is the pool the factory opened; Close closes it.
	owned  *sql.DB
	closed atomic.Bool
	// setup connects, creates the table and index when asked and checks
	// the columns; every call runs it first until it has succeeded.
	setup *setup.Once
	// usersOK: the user index table exists (users.go).
	usersOK atomic.Bool
	// noCreate: Options.NoCreateTable; the user index table is not
	// created either (users.go).
	noCreate bool
}

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Cleaner           = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)

var (
	tableRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,47}$`)
	identRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	sequenceRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// New returns a store on db, a caller-owned *gorm.DB (Close leaves it
// open). Unless opts.NoCreateTable is set, it creates the table and an
// index on expiry when the table is missing; it then checks the table's
// columns. Those statements run with db's context (db.WithContext(ctx)).
// When the database cannot be reached, New still returns the store, logs a
// warning and runs those statements before the first call instead, retrying
// on each call until the database answers (ginsession's start-up policy,
// docs/backends.md); a database that answers but refuses (no permission, a
// table without the store's columns) fails New.
//
// For MySQL/MariaDB, open db with parseTime=true and loc=UTC (expiry is
// naive UTC, as Flask-Session writes it) and preferably
// interpolateParams=true (one round trip per statement instead of three).
func New(db *gorm.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("ginsession: gorm: New needs a *gorm.DB")
	}
	ctx := context.Background()
	if db.Statement != nil && db.Statement.Context != nil {
		ctx = db.Statement.Context
	}
	return newStore(ctx, db, opts, nil)
}

func newStore(ctx context.Context, db *gorm.DB, opts Options, owned *sql.DB) (*Store, error) {
	table := opts.Table
	if table == "" {
		table = DefaultTable
	}
	if !tableRE.MatchString(table) {
		return nil, fmt.Errorf("ginsession: gorm: table name %q: want letters, digits and underscores, at most 48 characters", table)
	}
	if opts.Schema != "" && !identRE.MatchString(opts.Schema) {
		return nil, fmt.Errorf("ginsession: gorm: schema name %q: want letters, digits and underscores, at most 63 characters", opts.Schema)
	}
	if opts.Sequence != "" && !sequenceRE.MatchString(opts.Sequence) {
		return nil, fmt.Errorf("ginsession: gorm: sequence name %q: want letters, digits and underscores (at most 63), optionally schema-qualified (schema.name)", opts.Sequence)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	qualified := table
	if opts.Schema != "" {
		qualified = opts.Schema + "." + table
	}
	s := &Store{
		table:    clause.Table{Name: qualified},
		bare:     table,
		schema:   opts.Schema,
		seq:      opts.Sequence,
		dialect:  db.Dialector.Name(),
		log:      log,
		owned:    owned,
		noCreate: opts.NoCreateTable,
	}
	s.db = db.Session(&gorm.Session{
		NewDB:                  true,
		SkipDefaultTransaction: true,
		Logger:                 newGormLogger(log),
		Context:                context.Background(),
	})
	create := !opts.NoCreateTable
	s.setup = setup.New(func(ctx context.Context) error { return s.prepareTable(ctx, create) })
	if err := s.setup.Do(ctx); err != nil {
		if !setup.IsUnreachable(err) {
			return nil, err
		}
		s.log.Warn("ginsession: gorm: the database is not reachable at start; the table is checked (and created) on first use, and calls fail until it answers",
			"table", table, "err", err)
	}
	return s, nil
}

// Close marks the store closed: every later call fails with an error
// matching backends.ErrClosed. It closes the database only when the store
// opened it (the factory, Open); a *gorm.DB passed to New stays open.
// Calling Close again is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.owned != nil {
		if err := s.owned.Close(); err != nil {
			return fmt.Errorf("ginsession: gorm: close: %w", err)
		}
	}
	return nil
}

// Table returns the name of the table the store uses, schema-qualified
// (schema.table) when Options.Schema is set.
func (s *Store) Table() string { return s.table.Name }

// DB returns the *gorm.DB the store runs its statements on.
func (s *Store) DB() *gorm.DB { return s.db }

func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("ginsession: gorm: %s: %w", op, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ginsession: gorm: %s: %w", op, err)
	}
	return errs.Prefixed("ginsession: gorm: "+op, s.setup.Do(ctx))
}

// storable reports whether key can exist in the session_id column at all.
// A key that cannot is missing for reads and an error for writes; it never
// reaches the database, so no driver sees a hostile value it would choke on.
func storable(key string) bool {
	return len(key) <= maxKeyLen && utf8.ValidString(key) && !strings.ContainsRune(key, 0)
}

func errKey(op, key string) error {
	return fmt.Errorf("ginsession: gorm: %s: key of %d bytes cannot be stored (at most %d bytes of UTF-8 without NUL)", op, len(key), maxKeyLen)
}

// Load returns the live row's data in one SELECT. An expired row is a miss
// and is left for Cleanup.
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	r, err := s.load(ctx, "load", key)
	if err != nil || !r.found {
		return nil, false, err
	}
	return r.data, true, nil
}

type loaded struct {
	found bool
	id    int64
	data  []byte
}

func (s *Store) load(ctx context.Context, op, key string) (loaded, error) {
	if err := s.check(ctx, op); err != nil {
		return loaded{}, err
	}
	if !storable(key) {
		return loaded{}, nil
	}
	var (
		r   loaded
		exp expiry
		hit bool
	)
	err := s.retry(ctx, func() error {
		rows, err := s.db.WithContext(ctx).Raw("SELECT id, data, expiry FROM ? WHERE session_id = ?", s.table, key).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		hit = rows.Next()
		if hit {
			if err := rows.Scan(&r.id, &r.data, &exp); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return loaded{}, s.wrap(op, err)
	}
	if !hit || r.data == nil {
		return loaded{}, nil
	}
	if exp.bad != "" {
		s.log.Warn("ginsession: gorm: unreadable expiry, session treated as expired", "table", s.table.Name, "expiry", exp.bad)
	}
	if !exp.valid || !exp.t.After(time.Now()) {
		return loaded{}, nil
	}
	r.found = true
	return r, nil
}

// Save upserts the row in one statement (INSERT ... ON CONFLICT (session_id)
// DO UPDATE, or ON DUPLICATE KEY UPDATE on MySQL), so concurrent first
// saves of one key never race.
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	const op = "save"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if err := s.writable(op, key, data); err != nil {
		return err
	}
	row := s.row(key, data, ttl)
	err := s.retry(ctx, func() error {
		return s.db.WithContext(ctx).Table(s.table.Name).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "session_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"data", "expiry"}),
		}).Create(row).Error
	})
	return s.wrap(op, err)
}

func (s *Store) writable(op, key string, data []byte) error {
	if !storable(key) {
		return errKey(op, key)
	}
	if s.maxData > 0 && int64(len(data)) > s.maxData {
		return fmt.Errorf("ginsession: gorm: %s: %d bytes, the data column of %s holds at most %d: %w", op, len(data), s.table.Name, s.maxData, backends.ErrTooLarge)
	}
	return nil
}

// row is the column map of an INSERT. data is never nil (NULL is not a
// value).
func (s *Store) row(key string, data []byte, ttl time.Duration) map[string]any {
	if data == nil {
		data = []byte{}
	}
	row := map[string]any{"session_id": key, "data": data, "expiry": s.expiryArg(time.Now().Add(ttl))}
	if s.idExpr != nil {
		row["id"] = s.idExpr
	}
	return row
}

// Delete removes the row. A missing row is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if !storable(key) {
		return nil
	}
	err := s.retry(ctx, func() error {
		return s.db.WithContext(ctx).Exec("DELETE FROM ? WHERE session_id = ?", s.table, key).Error
	})
	return s.wrap(op, err)
}

// Touch sets a live row's expiry to now+ttl without rewriting data
// (UPDATE ... SET expiry). Missing and expired rows are left alone.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	const op = "touch"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if !storable(key) {
		return nil
	}
	now := time.Now()
	live, liveArgs := s.liveCond(now)
	args := append([]any{s.table, s.expiryArg(now.Add(ttl)), key}, liveArgs...)
	err := s.retry(ctx, func() error {
		return s.db.WithContext(ctx).Exec("UPDATE ? SET expiry = ? WHERE session_id = ? AND "+live, args...).Error
	})
	return s.wrap(op, err)
}

// version is the token LoadVersion hands out: the row's id and the data it
// held. The id changes when a row is deleted and created again (ids are
// never reused in tables the store creates), the data when it is rewritten.
type version struct {
	id   int64
	data []byte
}

// LoadVersion is Load plus a version token. It never refreshes the expiry
// (Record.Refreshed is false): on SQL that would be a write, and the core's
// Touch or SaveIf costs the same round trip.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	r, err := s.load(ctx, "load version", key)
	if err != nil || !r.found {
		return backends.Record{}, err
	}
	return backends.Record{
		Data:    r.data,
		Found:   true,
		Version: version{id: r.id, data: bytes.Clone(r.data)},
	}, nil
}

// SaveIf writes data only if the row still holds version: a guarded
// UPDATE ... WHERE id = ? AND session_id = ? AND data = ?. A nil version
// inserts, and a live row with that key is a conflict; an expired one is
// replaced.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, ver any, ttl time.Duration) error {
	const op = "save if"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if err := s.writable(op, key, data); err != nil {
		return err
	}
	if ver == nil {
		return s.insert(ctx, key, data, ttl)
	}
	v, ok := ver.(version)
	if !ok {
		return fmt.Errorf("ginsession: gorm: %s: version of type %T was not made by this store", op, ver)
	}
	if data == nil {
		data = []byte{}
	}
	dataCol := "data"
	if s.dialect == "sqlite" {
		// A row written by hand may hold TEXT; compare its bytes.
		dataCol = "CAST(data AS BLOB)"
	}
	exp := s.expiryArg(time.Now().Add(ttl))
	var affected int64
	err := s.retry(ctx, func() error {
		res := s.db.WithContext(ctx).Exec("UPDATE ? SET data = ?, expiry = ? WHERE id = ? AND session_id = ? AND "+dataCol+" = ?",
			s.table, data, exp, v.id, key, v.data)
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return s.wrap(op, err)
	}
	if affected > 0 {
		return nil
	}
	if bytes.Equal(v.data, data) {
		// MySQL counts only changed rows unless the client set
		// CLIENT_FOUND_ROWS: an update to identical values (same data,
		// expiry in the same second of a DATETIME column) reports 0.
		var n int64
		err := s.retry(ctx, func() error {
			return s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM ? WHERE id = ? AND session_id = ? AND "+dataCol+" = ?",
				s.table, v.id, key, v.data).Scan(&n).Error
		})
		if err != nil {
			return s.wrap(op, err)
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("ginsession: gorm: %s: %w", op, backends.ErrConflict)
}

// insert is SaveIf with a nil version: a plain INSERT. On a duplicate key,
// an expired row is deleted and the INSERT tried once more.
func (s *Store) insert(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	const op = "save if"
	for attempt := 0; ; attempt++ {
		row := s.row(key, data, ttl)
		err := s.retry(ctx, func() error {
			return s.db.WithContext(ctx).Table(s.table.Name).Create(row).Error
		})
		if err == nil {
			return nil
		}
		if !s.isDuplicate(err) {
			return s.wrap(op, err)
		}
		if attempt > 0 {
			return fmt.Errorf("ginsession: gorm: %s: %w", op, backends.ErrConflict)
		}
		expired, args := s.expiredCond(time.Now())
		var removed int64
		err = s.retry(ctx, func() error {
			res := s.db.WithContext(ctx).Exec("DELETE FROM ? WHERE session_id = ? AND "+expired, append([]any{s.table, key}, args...)...)
			removed = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return s.wrap(op, err)
		}
		if removed == 0 {
			// The SQL expiry test and Load's (in Go, which also reads
			// Flask's text forms) can disagree by a rounding step right at
			// the expiry instant. Load has the last word: a row it calls
			// missing is removed.
			_, found, err := s.Load(ctx, key)
			if err != nil {
				return s.wrap(op, err)
			}
			if found {
				return fmt.Errorf("ginsession: gorm: %s: %w", op, backends.ErrConflict)
			}
			err = s.retry(ctx, func() error {
				return s.db.WithContext(ctx).Exec("DELETE FROM ? WHERE session_id = ?", s.table, key).Error
			})
			if err != nil {
				return s.wrap(op, err)
			}
		}
	}
}

// Cleanup deletes every expired row (and rows without an expiry) and
// reports how many it removed.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	const op = "cleanup"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	expired, args := s.expiredCond(time.Now())
	var removed int64
	err := s.retry(ctx, func() error {
		res := s.db.WithContext(ctx).Exec("DELETE FROM ? WHERE "+expired, append([]any{s.table}, args...)...)
		removed = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return int(removed), nil
}

// Keys returns the session_id of every live row, prefix included. Rows
// are read in one query and their expiry is checked as Load checks it.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	const op = "keys"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	var keys []string
	err := s.retry(ctx, func() error {
		keys = keys[:0]
		rows, err := s.db.WithContext(ctx).Raw("SELECT session_id, expiry FROM ?", s.table).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		now := time.Now()
		for rows.Next() {
			var (
				key sql.NullString
				exp expiry
			)
			if err := rows.Scan(&key, &exp); err != nil {
				return err
			}
			if key.Valid && exp.valid && exp.t.After(now) {
				keys = append(keys, key.String)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return keys, nil
}

// retry runs fn again while it fails with a transient contention error
// (SQLite "database is locked", a deadlock victim) and ctx allows. The
// statements it retries had no effect when they failed that way.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !s.isTransient(err) || ctx.Err() != nil {
			return err
		}
		// Without a deadline, give up after 5 s like Python's sqlite3.
		if _, ok := ctx.Deadline(); !ok && time.Since(start) > 5*time.Second {
			return err
		}
		d := time.Duration(1+min(attempt, 6)*5) * time.Millisecond
		d += rand.N(d) // jitter, so waiting writers do not move in step
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// wrap prefixes err and turns "value too large" driver errors into
// backends.ErrTooLarge. It returns nil for nil.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.isTooLarge(err) {
		return fmt.Errorf("ginsession: gorm: %s: %w (%v)", op, backends.ErrTooLarge, err)
	}
	return fmt.Errorf("ginsession: gorm: %s: %w", op, err)
}
