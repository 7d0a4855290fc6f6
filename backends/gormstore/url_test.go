package gormstore

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url    string
		driver string
		// dsn is the expected DSN (sqlite, postgres) or, for mysql,
		// substrings of the formatted go-sql-driver DSN.
		dsn    []string
		memory bool
	}{
		{"sqlite:///flask_session.db", "sqlite", []string{"flask_session.db?_busy_timeout=100&_journal_mode=WAL"}, false},
		{"sqlite:///rel/dir/s.db", "sqlite", []string{"rel/dir/s.db?_busy_timeout=100&_journal_mode=WAL"}, false},
		{"sqlite:////" + strings.TrimPrefix(existing, "/"), "sqlite", []string{existing + "?_busy_timeout=100"}, false},
		{"sqlite:///" + existing + "?timeout=2.5", "sqlite", []string{existing + "?_busy_timeout=2500"}, false},
		{"sqlite:///x.db?_journal_mode=DELETE&check_same_thread=false", "sqlite", []string{"x.db?_busy_timeout=100&_journal_mode=DELETE"}, false},
		{"sqlite+pysqlite:///x.db", "sqlite", []string{"x.db?_busy_timeout=100&_journal_mode=WAL"}, false},
		{"SQLite:///x.db", "sqlite", []string{"x.db?_busy_timeout=100&_journal_mode=WAL"}, false},
		{"sqlite://", "sqlite", []string{"file:ginsession-", "mode=memory", "cache=shared"}, true},
		{"sqlite:///:memory:", "sqlite", []string{"file:ginsession-", "mode=memory"}, true},
		{"sqlite:///", "sqlite", []string{"file:ginsession-"}, true},

		{"postgresql://u:p@db.example:5433/app", "postgres", []string{"postgresql://u:p@db.example:5433/app"}, false},
		{"postgres://u@localhost/app?sslmode=disable", "postgres", []string{"postgresql://u@localhost/app?sslmode=disable"}, false},
		{"postgresql+psycopg2://u:p@h/app", "postgres", []string{"postgresql://u:p@h/app"}, false},
		{"postgresql+psycopg://u:p@h/app?connect_timeout=5", "postgres", []string{"postgresql://u:p@h/app?connect_timeout=5"}, false},
		{"postgresql://u@/app?host=/var/run/postgresql", "postgres", []string{"postgresql://u@/app?host=/var/run/postgresql"}, false},

		{"mysql://u:p@db:3307/app", "mysql", []string{"u:p@tcp(db:3307)/app?", "parseTime=true", "clientFoundRows=true", "interpolateParams=true"}, false},
		{"mysql+pymysql://u:p%40ss@db/app?charset=utf8mb4", "mysql", []string{"u:p@ss@tcp(db:3306)/app?", "charset=utf8mb4"}, false},
		{"mysql+mysqldb://u@db/app", "mysql", []string{"u@tcp(db:3306)/app"}, false},
		{"mariadb://u:p@127.0.0.1/app", "mysql", []string{"u:p@tcp(127.0.0.1:3306)/app"}, false},
		{"mariadb+mariadbconnector://u:p@[::1]:3306/app", "mysql", []string{"u:p@tcp([::1]:3306)/app"}, false},
		{"mysql://u:p@/app?unix_socket=/run/mysqld/mysqld.sock", "mysql", []string{"u:p@unix(/run/mysqld/mysqld.sock)/app"}, false},
		{"mysql://u:p@db/app?connect_timeout=3&read_timeout=1.5&write_timeout=2", "mysql", []string{"timeout=3s", "readTimeout=1.5s", "writeTimeout=2s"}, false},
		{"mysql://u:p@db/app?tls=skip-verify&collation=utf8mb4_bin", "mysql", []string{"tls=skip-verify", "collation=utf8mb4_bin"}, false},
	}
	for _, c := range cases {
		tgt, err := parseURL(c.url, slog.Default())
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		dsn := tgt.dsn
		if tgt.driver == "mysql" {
			dsn = tgt.mysql.FormatDSN()
			if !tgt.mysql.ParseTime || tgt.mysql.Loc != time.UTC || !tgt.mysql.ClientFoundRows || !tgt.mysql.InterpolateParams {
				t.Errorf("%s: mysql config %+v lacks parseTime, loc=UTC, clientFoundRows or interpolateParams", c.url, tgt.mysql)
			}
		}
		if tgt.driver != c.driver || tgt.memory != c.memory {
			t.Errorf("%s: driver %q memory %v; want %q %v", c.url, tgt.driver, tgt.memory, c.driver, c.memory)
		}
		for _, want := range c.dsn {
			if (tgt.driver == "mysql" || c.memory) && !strings.Contains(dsn, want) || !(tgt.driver == "mysql" || c.memory) && dsn != want {
				t.Errorf("%s: dsn %q; want %q", c.url, dsn, want)
			}
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	cases := []struct{ url, want string }{
		{"flask_session.db", "not a database URL"},
		{"", "not a database URL"},
		{"oracle://u:p@h/db", "unsupported database"},
		{"mssql+pyodbc://u:p@dsn", "unsupported database"},
		{"sqlite://host/x.db", "with a host"},
		{"sqlite:///x.db?uri=true", `parameter "uri"`},
		{"sqlite:///x.db?timeout=soon", "timeout"},
		{"sqlite:///x.db?timeout=-1", "timeout"},
		{"sqlite:///a?b.db%", "query"},
		{"sqlite:///file:x.db", "file:"},
		{"postgresql:///app", "without a host"},
		{"postgresql://u:p@h:notaport/app", "valid"},
		{"postgresql://u:p@h/app?sslmode=sometimes", "postgresql URL"},
		{"mysql://u:p@h:99999/app", "port"},
		{"mysql://u:p@h/app?ssl_ca=/x", `parameter "ssl_ca"`},
		{"mysql://u:p@h/app?connect_timeout=x", "connect_timeout"},
		{"mysql://u:p@h/a/b", "database name"},
		{"mysql://u:p@h/app?tls=nonesuch", "mysql URL"},
	}
	for _, c := range cases {
		_, err := parseURL(c.url, slog.Default())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseURL(%q) = %v; want an error containing %q", c.url, err, c.want)
		}
	}
}

// TestOpenErrors: errors name the setting, show the value without its
// password, and come back within the context's deadline when the server is
// unreachable.
func TestOpenErrors(t *testing.T) {
	for _, raw := range []string{
		"postgresql://admin:s3cret@h/app?sslmode=sometimes",
		"mysql://admin:s3cret@h/app?bogus=1",
		"cassandra://admin:s3cret@h/app",
		"mysql://admin:s3cret@h:bad:port/app",
	} {
		_, err := Open(context.Background(), raw, Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", raw)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "SESSION_SQLALCHEMY") || strings.Contains(msg, "s3cret") {
			t.Errorf("Open(%q) = %q; want it to name SESSION_SQLALCHEMY and hide the password", raw, msg)
		}
	}
	// Nothing listens on port 1: Open returns the store within ctx (the
	// setup is retried on first use) and calls fail with one prefix and
	// no password.
	for _, raw := range []string{"postgresql://u:s3cret@127.0.0.1:1/app", "mysql://u:s3cret@127.0.0.1:1/app"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		s, err := Open(ctx, raw, Options{Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err != nil {
			t.Errorf("Open(%q) = %v; want a store that sets itself up on first use", raw, err)
			continue
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Open(%q) took %v; want it bounded by ctx", raw, d)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		_, _, err = s.Load(ctx, "session:x")
		cancel()
		s.Close()
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Count(err.Error(), "ginsession:") != 1 {
			t.Errorf("Load on %q = %v; want an error with one prefix and no password", raw, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql://u:pw@h/db":      "postgresql://u:xxxxx@h/db",
		"mysql://u@h/db":              "mysql://u@h/db",
		"sqlite:///x.db":              "sqlite:///x.db",
		"mysql://u:pw@h:bad:port/db":  "mysql://xxxxx@h:bad:port/db",
		"mysql://u:p@w@h:bad:port/db": "mysql://xxxxx@h:bad:port/db",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q; want %q", in, got, want)
		}
	}
}
