package gormstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/errs"
)

// DefaultURL is the database used when SESSION_SQLALCHEMY is empty, as in
// Flask-Session: flask_session.db in the working directory.
const DefaultURL = "sqlite:///flask_session.db"

// defaultBusyTimeout is how long one SQLite statement waits for a lock
// inside SQLite. The store retries past it while the call's context allows;
// keeping it short keeps a locked database from holding a call past its
// deadline (the driver cannot interrupt that wait).
const defaultBusyTimeout = 100 * time.Millisecond

func init() {
	backends.Register("sqlalchemy", factory)
	backends.Register("gorm", factory)
}

// envName names the setting a bad URL came from in errors.
const envName = "SESSION_SQLALCHEMY (or SQLALCHEMY_DATABASE_URI)"

func factory(ctx context.Context, cfg backends.Config) (backends.Store, error) {
	return Open(ctx, cfg.SQLAlchemy, Options{
		Table:    cfg.SQLAlchemyTable,
		Schema:   cfg.SQLAlchemySchema,
		Sequence: cfg.SQLAlchemySequence,
		Logger:   cfg.Log(),
	})
}

// Open connects to the database at rawURL, given in SQLAlchemy's forms, and
// returns a store on it that closes the connection pool on Close:
//
//	sqlite:///relative/path.db      (relative to the working directory)
//	sqlite:////absolute/path.db
//	sqlite://                       (in memory: this store only, lost on Close)
//	postgresql://user:pass@host:5432/db?sslmode=disable
//	                                (also postgres://, postgresql+psycopg2:// etc.)
//	mysql://user:pass@host:3306/db?charset=utf8mb4
//	                                (also mysql+pymysql://, mariadb:// etc.)
//
// An empty rawURL means DefaultURL. SQLite needs a cgo build. A PostgreSQL
// URL's query holds libpq parameters (sslmode, connect_timeout, ...). A MySQL
// URL accepts charset, collation, unix_socket, connect_timeout,
// read_timeout, write_timeout (seconds) and tls; the connection always uses
// parseTime, loc=UTC, clientFoundRows and interpolateParams. SQLite accepts
// timeout (seconds, the lock wait of one statement, default 0.1 with
// retries up to the call's deadline) and mattn/go-sqlite3's "_" options.
//
// ctx bounds the connection made while starting (table check and creation).
// A database that cannot be reached within ctx is not an error: the store
// is returned and sets itself up on first use (see New).
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db, sqlDB, err := openDB(ctx, rawURL, log)
	if err != nil {
		return nil, err
	}
	s, err := newStore(ctx, db, opts, sqlDB)
	if err != nil {
		sqlDB.Close()
		return nil, errs.Wrap(fmt.Sprintf("%s=%q", envName, redact(rawURL)), err)
	}
	return s, nil
}

// openDB opens the pool and GORM on a database URL. Only SQLite connects
// (GORM asks it for its version); ctx bounds its retries while the file is
// locked.
func openDB(ctx context.Context, rawURL string, log *slog.Logger) (*gorm.DB, *sql.DB, error) {
	if log == nil {
		log = slog.Default()
	}
	tgt, err := parseURL(rawURL, log)
	if err != nil {
		return nil, nil, fmt.Errorf("ginsession: %s=%q: %w", envName, redact(rawURL), err)
	}
	for begin := time.Now(); ; {
		sqlDB, dialector, err := tgt.open()
		if err != nil {
			return nil, nil, fmt.Errorf("ginsession: %s=%q: %w", envName, redact(rawURL), err)
		}
		configurePool(sqlDB, tgt.driver)
		db, err := gorm.Open(dialector, &gorm.Config{
			Logger:                 newGormLogger(log),
			SkipDefaultTransaction: true,
			DisableAutomaticPing:   true,
		})
		if err == nil {
			return db, sqlDB, nil
		}
		sqlDB.Close() // gorm.Open has closed it already on most errors
		// GORM's SQLite dialector asks for the version: a locked file can
		// refuse even that.
		if tgt.driver != "sqlite" || !strings.Contains(err.Error(), "locked") || ctx.Err() != nil || time.Since(begin) > 30*time.Second {
			return nil, nil, fmt.Errorf("ginsession: %s=%q: gorm: open: %w", envName, redact(rawURL), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// configurePool sizes a pool the factory opened.
func configurePool(sqlDB *sql.DB, driver string) {
	if driver == "sqlite" {
		// SQLite runs one writer at a time per file, and a connection that
		// waits for another one's lock waits inside SQLite, where no
		// context reaches it. One connection per pool serializes this
		// process's statements in Go instead, where waiting honours the
		// context; other processes (a Flask app) are handled by the busy
		// timeout and retries. For an in-memory database one connection is
		// also what keeps the database alive: each connection would get
		// its own.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
		return
	}
	// Like SQLAlchemy's default pool (5 + 10 overflow), bounded well under
	// the servers' default connection limits (100, 151): under a burst,
	// requests wait for a connection (within their deadline) instead of
	// failing with "too many clients".
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxOpenConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
}

// maxOpenConns bounds the connections of a PostgreSQL or MySQL pool the
// factory opened.
const maxOpenConns = 16

// target is a parsed database URL.
type target struct {
	driver string // "sqlite", "postgres" or "mysql"
	dsn    string // sqlite: mattn/go-sqlite3 DSN; postgres: a pgx URL
	memory bool
	mysql  *mysql.Config
}

// open makes the connection pool (no connection yet) and its dialector.
func (t target) open() (*sql.DB, gorm.Dialector, error) {
	switch t.driver {
	case "sqlite":
		db, err := sql.Open(sqlite.DriverName, t.dsn)
		if err != nil {
			return nil, nil, err
		}
		return db, sqlite.New(sqlite.Config{Conn: db}), nil
	case "postgres":
		cfg, err := pgx.ParseConfig(t.dsn)
		if err != nil {
			return nil, nil, err
		}
		db := stdlib.OpenDB(*cfg)
		return db, postgres.New(postgres.Config{Conn: db}), nil
	case "mysql":
		conn, err := mysql.NewConnector(t.mysql)
		if err != nil {
			return nil, nil, err
		}
		db := sql.OpenDB(conn)
		return db, gormmysql.New(gormmysql.Config{Conn: db, DSNConfig: t.mysql, SkipInitializeWithVersion: true}), nil
	}
	return nil, nil, fmt.Errorf("unknown driver %q", t.driver)
}

// parseURL reads a database URL in SQLAlchemy's forms.
func parseURL(raw string, log *slog.Logger) (target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, errors.New(`not a database URL: want sqlite:///file.db, postgresql://user:pass@host/db or mysql://user:pass@host/db`)
	}
	dialect, _, _ := strings.Cut(strings.ToLower(scheme), "+") // postgresql+psycopg2 → postgresql
	switch dialect {
	case "sqlite":
		return parseSQLite(rest)
	case "postgresql", "postgres":
		return parsePostgres("postgresql://" + rest)
	case "mysql", "mariadb":
		return parseMySQL("mysql://"+rest, log)
	}
	return target{}, fmt.Errorf("unsupported database %q: want sqlite, postgresql or mysql (mariadb)", scheme)
}

func parseSQLite(rest string) (target, error) {
	path, rawQuery, _ := strings.Cut(rest, "?")
	memory := false
	switch {
	case path == "":
		memory = true // sqlite://
	case !strings.HasPrefix(path, "/"):
		return target{}, fmt.Errorf("sqlite URL with a host %q: want sqlite:///relative.db, sqlite:////absolute.db or sqlite://", strings.SplitN(path, "/", 2)[0])
	default:
		path = path[1:] // sqlite:///x.db → x.db, sqlite:////abs.db → /abs.db
		memory = path == "" || path == ":memory:"
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return target{}, fmt.Errorf("sqlite URL query: %w", err)
	}
	params := url.Values{}
	busy := defaultBusyTimeout
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch {
		case k == "timeout":
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || sec < 0 || sec > 3600 {
				return target{}, fmt.Errorf("sqlite timeout=%q: want seconds between 0 and 3600", v)
			}
			busy = time.Duration(sec * float64(time.Second))
		case k == "check_same_thread":
			// Python's sqlite3 option; meaningless here.
		case strings.HasPrefix(k, "_"):
			params.Set(k, v) // mattn/go-sqlite3 options, e.g. _journal_mode=WAL
		default:
			return target{}, fmt.Errorf("sqlite URL parameter %q is not supported (want timeout, or mattn/go-sqlite3 options starting with _)", k)
		}
	}
	if params.Get("_busy_timeout") == "" && params.Get("_timeout") == "" {
		params.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	}
	if !memory && params.Get("_journal_mode") == "" && params.Get("_journal") == "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			// A database file the store creates gets write-ahead logging:
			// readers stop blocking the writer, and a commit costs one
			// fsync instead of several. An existing file keeps its mode.
			params.Set("_journal_mode", "WAL")
		}
	}
	if memory {
		var b [8]byte
		_, _ = rand.Read(b[:])
		params.Set("mode", "memory")
		params.Set("cache", "shared")
		return target{driver: "sqlite", dsn: "file:ginsession-" + hex.EncodeToString(b[:]) + "?" + params.Encode(), memory: true}, nil
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return target{}, fmt.Errorf("sqlite path %q: must not contain ? or # or start with file:", path)
	}
	return target{driver: "sqlite", dsn: path + "?" + params.Encode()}, nil
}

func parsePostgres(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, errors.New("not a valid postgresql URL")
	}
	if u.Opaque != "" || (u.Host == "" && u.Query().Get("host") == "") {
		return target{}, errors.New("postgresql URL without a host: want postgresql://user:pass@host:port/db")
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		return target{}, fmt.Errorf("postgresql URL: %s", redactErr(err, u))
	}
	return target{driver: "postgres", dsn: raw}, nil
}

func parseMySQL(raw string, log *slog.Logger) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, errors.New("not a valid mysql URL")
	}
	cfg := mysql.NewConfig()
	cfg.Logger = mysqlLogger{log}
	cfg.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "3306"
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return target{}, fmt.Errorf("mysql port %q", port)
	}
	cfg.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if strings.Contains(cfg.DBName, "/") {
		return target{}, fmt.Errorf("mysql database name %q", cfg.DBName)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	cfg.InterpolateParams = true
	cfg.Timeout = 10 * time.Second
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "charset":
			if cfg.Params == nil {
				cfg.Params = map[string]string{}
			}
			cfg.Params["charset"] = v
		case "collation":
			cfg.Collation = v
		case "unix_socket":
			cfg.Net, cfg.Addr = "unix", v
		case "connect_timeout", "read_timeout", "write_timeout":
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || sec < 0 {
				return target{}, fmt.Errorf("mysql %s=%q: want seconds", k, v)
			}
			d := time.Duration(sec * float64(time.Second))
			switch k {
			case "connect_timeout":
				cfg.Timeout = d
			case "read_timeout":
				cfg.ReadTimeout = d
			default:
				cfg.WriteTimeout = d
			}
		case "tls":
			cfg.TLSConfig = v
		default:
			return target{}, fmt.Errorf("mysql URL parameter %q is not supported (want charset, collation, unix_socket, connect_timeout, read_timeout, write_timeout or tls)", k)
		}
	}
	// Round-trip through the driver's own parser to validate the result
	// (tls names, collation).
	if _, err := mysql.ParseDSN(cfg.FormatDSN()); err != nil {
		return target{}, fmt.Errorf("mysql URL: %v", err)
	}
	return target{driver: "mysql", mysql: cfg}, nil
}

// mysqlLogger sends go-sql-driver/mysql's messages to slog instead of
// stderr.
type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Warn("ginsession: gorm: mysql: " + fmt.Sprint(v...)) }

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
		return raw
	}
	// Unparsable: hide everything between "://" and the last "@" of the
	// authority, which is where a password would be.
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return raw
}

// redactErr renders err with u's password removed.
func redactErr(err error, u *url.URL) string {
	msg := err.Error()
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
	}
	return msg
}

// CheckURL reports whether raw is a database URL Open accepts
// (SESSION_SQLALCHEMY), without connecting: the forms listed on Open, with
// valid parameters. The error does not repeat the URL or its password.
func CheckURL(raw string) error {
	_, err := parseURL(raw, slog.New(slog.DiscardHandler))
	return err
}
