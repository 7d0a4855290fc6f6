package gormstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ginsession/ginsession/internal/setup"
)

// flaskTimeFormat is how SQLAlchemy stores a DATETIME in SQLite: naive,
// always six fraction digits. Flask-Session reads nothing else reliably.
const flaskTimeFormat = "2006-01-02 15:04:05.000000"

// expiryArg is the value bound for an expiry column: Flask's text on
// SQLite, a UTC time.Time elsewhere (the drivers write it as a naive
// timestamp).
func (s *Store) expiryArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == "sqlite" {
		return t.Format(flaskTimeFormat)
	}
	return t
}

// sqliteEpoch is the expiry of a SQLite row as Unix seconds, for every form
// the driver reads (see expiry.Scan): text that julianday() understands
// (with or without fraction, "T", "Z" or an offset) and integer or real Unix
// times (milliseconds above 1e12, as mattn/go-sqlite3 reads them). Anything
// else, NULL included, is NULL.
const sqliteEpoch = `(CASE WHEN typeof(expiry) IN ('integer', 'real') ` +
	`THEN (CASE WHEN abs(expiry) > 1e12 THEN expiry / 1000.0 ELSE expiry END) ` +
	`ELSE (julianday(expiry) - 2440587.5) * 86400.0 END)`

// expiredCond is the WHERE condition of rows that are dead at now: expired,
// without an expiry, or with one nobody can read.
func (s *Store) expiredCond(now time.Time) (string, []any) {
	if s.dialect == "sqlite" {
		return "coalesce(" + sqliteEpoch + ", -1e18) <= ?", []any{unixSeconds(now)}
	}
	return "(expiry IS NULL OR expiry <= ?)", []any{s.expiryArg(now)}
}

// liveCond is the negation of expiredCond.
func (s *Store) liveCond(now time.Time) (string, []any) {
	if s.dialect == "sqlite" {
		return "coalesce(" + sqliteEpoch + ", -1e18) > ?", []any{unixSeconds(now)}
	}
	return "expiry > ?", []any{s.expiryArg(now)}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// DDL of the table the store creates when it is missing. The columns are
// Flask-Session's; ids are 64-bit and never reused (Flask's are 32-bit and
// SQLite reuses the largest rowid after a delete), so a row deleted and
// created again under the same key gets a new id and compare-and-swap
// notices. On MySQL the key column compares bytes (utf8mb4_bin), so keys
// differing in case stay distinct, and expiry keeps microseconds.
var createTable = map[string]string{
	"sqlite": `CREATE TABLE IF NOT EXISTS ? (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_id VARCHAR(255),
	data BLOB,
	expiry DATETIME,
	UNIQUE (session_id)
)`,
	"postgres": `CREATE TABLE IF NOT EXISTS ? (
	id BIGSERIAL NOT NULL,
	session_id VARCHAR(255),
	data BYTEA,
	expiry TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (session_id)
)`,
	"mysql": `CREATE TABLE IF NOT EXISTS ? (
	id BIGINT NOT NULL AUTO_INCREMENT,
	session_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	data LONGBLOB,
	expiry DATETIME(6),
	PRIMARY KEY (id),
	UNIQUE (session_id)
)`,
}

// prepareTable creates the table and its expiry index when asked and they
// are missing, then checks that the table has the store's columns.
func (s *Store) prepareTable(ctx context.Context, create bool) error {
	db := s.db.WithContext(ctx)
	// Connect first, so that an unreachable database is reported as such
	// rather than as a table that cannot be created.
	if err := s.retry(ctx, func() error { return db.Exec("SELECT 1").Error }); err != nil {
		return setup.Unreachable(fmt.Errorf("ginsession: gorm: connect: %w", err))
	}
	if create && s.probe(ctx) != nil {
		ddl, ok := createTable[s.dialect]
		if ok && s.dialect == "postgres" && s.seq != "" {
			// Flask-SQLAlchemy's Sequence column: the sequence first, and
			// ids drawn from it (a default too, for other writers).
			if err := s.retry(ctx, func() error { return db.Exec("CREATE SEQUENCE IF NOT EXISTS " + s.quotedSeq()).Error }); err != nil {
				return fmt.Errorf("ginsession: gorm: create sequence %s: %w", s.seq, err)
			}
			ddl = strings.Replace(ddl, "id BIGSERIAL NOT NULL", "id BIGINT NOT NULL DEFAULT nextval('"+s.quotedSeq()+"')", 1)
		}
		if !ok {
			return fmt.Errorf("ginsession: gorm: table %s is missing and the store cannot create it for dialect %q: create it (see docs/backends/sql.md) and set Options.NoCreateTable", s.table.Name, s.dialect)
		}
		err := s.retry(ctx, func() error { return db.Exec(ddl, s.table).Error })
		if err != nil && s.probe(ctx) != nil {
			// A concurrent creator may have won the race; only fail if the
			// table is still not there.
			return fmt.Errorf("ginsession: gorm: create table %s: %w", s.table.Name, err)
		}
	}
	if create {
		if err := s.retry(ctx, func() error { return s.createIndex(ctx) }); err != nil {
			// The sessions still work without it; only Cleanup is slower.
			s.log.Warn("ginsession: gorm: could not create the expiry index", "table", s.table.Name, "err", err)
		}
	}
	if err := s.probe(ctx); err != nil {
		return fmt.Errorf("ginsession: gorm: table %s is not usable (want columns id, session_id, data, expiry): %w", s.table.Name, err)
	}
	if s.dialect == "mysql" {
		s.inspectMySQL(ctx)
	}
	s.setIDExpr(ctx)
	return nil
}

// quotedSeq is the sequence's name quoted for the dialect: "schema"."seq"
// on PostgreSQL, `schema`.`seq` on MySQL. The name was validated as
// identifiers, so quoting cannot be escaped.
func (s *Store) quotedSeq() string {
	q := `"`
	if s.dialect == "mysql" {
		q = "`"
	}
	parts := strings.Split(s.seq, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// setIDExpr decides how an INSERT sets id when Options.Sequence is given:
// nextval on PostgreSQL; on MySQL/MariaDB NEXT VALUE FOR (MariaDB 10.3+)
// unless the id column auto-increments; nothing on SQLite, which has no
// sequences (SQLAlchemy ignores them there too).
func (s *Store) setIDExpr(ctx context.Context) {
	if s.seq == "" {
		return
	}
	switch s.dialect {
	case "postgres":
		// nextval takes the name as text (a regclass literal).
		s.idExpr = clause.Expr{SQL: "nextval('" + s.quotedSeq() + "')"}
	case "mysql":
		var extra sql.NullString
		err := s.db.WithContext(ctx).Raw(`SELECT EXTRA FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'id'`, s.schemaArg(), s.bare).Scan(&extra).Error
		if err == nil && strings.Contains(strings.ToLower(extra.String), "auto_increment") {
			s.log.Debug("ginsession: gorm: the id column auto-increments; SESSION_SQLALCHEMY_SEQUENCE is not needed and not used", "table", s.table.Name)
			return
		}
		s.idExpr = clause.Expr{SQL: "NEXT VALUE FOR " + s.quotedSeq()}
	default:
		s.log.Info("ginsession: gorm: "+s.dialect+" has no sequences; SESSION_SQLALCHEMY_SEQUENCE is ignored, as SQLAlchemy ignores it", "sequence", s.seq)
	}
}

// schemaArg is the schema for information_schema lookups: nil means the
// connection's current database.
func (s *Store) schemaArg() any {
	if s.schema == "" {
		return nil
	}
	return s.schema
}

// probe selects the store's columns from no row.
func (s *Store) probe(ctx context.Context) error {
	return s.retry(ctx, func() error { return s.probeOnce(ctx) })
}

func (s *Store) probeOnce(ctx context.Context) error {
	rows, err := s.db.WithContext(ctx).Raw("SELECT id, session_id, data, expiry FROM ? WHERE 1 = 0", s.table).Rows()
	if err != nil {
		return err
	}
	return rows.Close()
}

func (s *Store) indexName() string { return "ix_" + s.bare + "_expiry" }

func (s *Store) createIndex(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	idx := clause.Column{Name: s.indexName()}
	switch s.dialect {
	case "sqlite", "postgres":
		return db.Exec("CREATE INDEX IF NOT EXISTS ? ON ? (expiry)", idx, s.table).Error
	case "mysql":
		// MySQL has no CREATE INDEX IF NOT EXISTS; any index that starts
		// with expiry will do.
		var n int64
		err := db.Raw(`SELECT COUNT(*) FROM information_schema.STATISTICS
			WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'expiry' AND SEQ_IN_INDEX = 1`, s.schemaArg(), s.bare).Scan(&n).Error
		if err != nil || n > 0 {
			return err
		}
		err = db.Exec("CREATE INDEX ? ON ? (expiry)", idx, s.table).Error
		if err != nil && s.isMySQL(err, 1061) { // duplicate key name: a concurrent creator
			return nil
		}
		return err
	}
	return nil
}

// inspectMySQL learns the data column's capacity (a Flask-created table has
// BLOB, 65535 bytes: longer values must fail as ErrTooLarge, not be
// truncated by a non-strict server) and warns about a connection whose
// times are not UTC.
func (s *Store) inspectMySQL(ctx context.Context) {
	var n sql.NullInt64
	err := s.db.WithContext(ctx).Raw(`SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'data'`, s.schemaArg(), s.bare).Scan(&n).Error
	if err == nil && n.Valid && n.Int64 > 0 && n.Int64 < 1<<32-1 {
		s.maxData = n.Int64
	}
	if d, ok := s.db.Dialector.(*gormmysql.Dialector); ok && d.Config != nil && d.DSNConfig != nil {
		if loc := d.DSNConfig.Loc; loc != nil && loc != time.UTC {
			s.log.Warn("ginsession: gorm: the MySQL connection uses loc=" + loc.String() + "; expiry is naive UTC (Flask-Session's), so set loc=UTC in the DSN")
		}
	}
}

// isDuplicate reports a unique-key violation.
func (s *Store) isDuplicate(err error) bool {
	if s.isMySQL(err, 1062) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	if code, _ := sqliteCode(err); code == 2067 || code == 1555 { // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
		return true
	}
	if tr, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && errors.Is(tr.Translate(err), gorm.ErrDuplicatedKey) {
		return true
	}
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// isTransient reports contention errors after which the same statement may
// simply run again: SQLite's "database is locked" (SQLITE_BUSY, or
// SQLITE_LOCKED in shared-cache mode), MySQL and PostgreSQL deadlock
// victims and PostgreSQL serialization failures.
func (s *Store) isTransient(err error) bool {
	if s.isMySQL(err, 1213) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40P01" || pg.Code == "40001"
	}
	if s.dialect == "sqlite" {
		if _, primary := sqliteCode(err); primary == 5 || primary == 6 {
			return true
		}
		msg := err.Error()
		return strings.Contains(msg, "database is locked") || strings.Contains(msg, "database table is locked")
	}
	return false
}

// isTooLarge reports a value the database refused for its size.
func (s *Store) isTooLarge(err error) bool {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		// 1406: data too long for column 'data' (strict mode); 1153 and
		// 1301: over max_allowed_packet.
		return (my.Number == 1406 && strings.Contains(my.Message, "'data'")) || my.Number == 1153 || my.Number == 1301
	}
	if errors.Is(err, mysql.ErrPktTooLarge) {
		return true
	}
	if _, primary := sqliteCode(err); primary == 18 { // SQLITE_TOOBIG
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "54000" // program_limit_exceeded
	}
	return false
}

func (s *Store) isMySQL(err error, number uint16) bool {
	var my *mysql.MySQLError
	return errors.As(err, &my) && my.Number == number
}

// sqliteCode digs the extended and primary result codes out of a
// mattn/go-sqlite3 error without importing that package, which only builds
// with cgo (gorm.io/driver/sqlite does the same).
func sqliteCode(err error) (extended, primary int) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if !strings.Contains(fmt.Sprintf("%T", e), "sqlite") {
			continue
		}
		b, merr := json.Marshal(e)
		if merr != nil {
			continue
		}
		var codes struct{ Code, ExtendedCode int }
		if json.Unmarshal(b, &codes) == nil && codes.Code != 0 {
			return codes.ExtendedCode, codes.Code
		}
	}
	return 0, 0
}
