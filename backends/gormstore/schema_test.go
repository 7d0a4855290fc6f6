package gormstore

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The DDL Flask-SQLAlchemy (SQLAlchemy 2) emits for Flask-Session 0.8's
// model with SESSION_SQLALCHEMY_SCHEMA and SESSION_SQLALCHEMY_SEQUENCE set:
// Column(Integer, Sequence(seq), primary_key=True) makes id a plain INTEGER
// NOT NULL on PostgreSQL (no SERIAL: SQLAlchemy inserts nextval itself),
// and the sequence is created unqualified, on the search_path.
const (
	flaskPGSequenceDDL = `CREATE SEQUENCE flask_sessions_id_seq`
	flaskPGTableDDL    = `CREATE TABLE flask.sessions (
	id INTEGER NOT NULL, 
	session_id VARCHAR(255), 
	data BYTEA, 
	expiry TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id), 
	UNIQUE (session_id)
)`
	// MySQL: the schema is a database; Sequence is ignored by SQLAlchemy's
	// MySQL dialect, so id auto-increments.
	flaskMySQLTableDDL = `CREATE TABLE %s.sessions (
	id INTEGER NOT NULL AUTO_INCREMENT, 
	session_id VARCHAR(255), 
	data BLOB, 
	expiry DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (session_id)
)`
)

// TestSchemaSequencePostgres: on a table created with Flask-SQLAlchemy's
// DDL in schema "flask" with a sequence for id, the store passes the
// conformance suite, draws every new row's id from the sequence (the table
// has no default: without the setting an insert fails), reads a row
// inserted the way SQLAlchemy inserts it, and writes nothing outside the
// schema.
func TestSchemaSequencePostgres(t *testing.T) {
	pg := testserver.SharedPostgres(t)
	url := pg.URL(pg.NewDatabase(t))
	admin := mustOpen(t, url, Options{Table: "bootstrap"})
	for _, ddl := range []string{"CREATE SCHEMA flask", flaskPGSequenceDDL, flaskPGTableDDL} {
		if err := admin.DB().Exec(ddl).Error; err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	// SQLAlchemy's INSERT for a Sequence column.
	flaskRow := []byte{0x81, 0xa4, 'u', 's', 'e', 'r', 0xa5, 'a', 'l', 'i', 'c', 'e'}
	if err := admin.DB().Exec(`INSERT INTO flask.sessions (id, session_id, data, expiry) VALUES (nextval('flask_sessions_id_seq'), ?, ?, ?)`,
		"session:flask", flaskRow, time.Now().UTC().Add(time.Hour)).Error; err != nil {
		t.Fatal(err)
	}

	opts := Options{Schema: "flask", Sequence: "flask_sessions_id_seq"}
	s := mustOpen(t, url, opts)
	if s.Table() != "flask.sessions" {
		t.Errorf("Table() = %q", s.Table())
	}
	if data, found, err := s.Load(ctxT(t), "session:flask"); err != nil || !found || !bytes.Equal(data, flaskRow) {
		t.Fatalf("Load of SQLAlchemy's row: %x, %v, %v", data, found, err)
	}
	lastValue := func() int64 {
		var n int64
		if err := admin.DB().Raw("SELECT last_value FROM flask_sessions_id_seq").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	rowID := func(key string) int64 {
		var id int64
		if err := admin.DB().Raw("SELECT id FROM flask.sessions WHERE session_id = ?", key).Scan(&id).Error; err != nil {
			t.Fatal(err)
		}
		return id
	}
	if err := s.SaveIf(ctxT(t), "session:a", []byte("a"), nil, time.Hour); err != nil {
		t.Fatalf("SaveIf(nil): %v", err)
	}
	if id, last := rowID("session:a"), lastValue(); id != last || id != 2 {
		t.Errorf("inserted id %d, sequence at %d; want both 2 (the Flask row took 1)", id, last)
	}
	if err := s.Save(ctxT(t), "session:b", []byte("b"), time.Hour); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if id, last := rowID("session:b"), lastValue(); id != last {
		t.Errorf("upserted id %d, sequence at %d", id, last)
	}
	var outside *string
	if err := admin.DB().Raw("SELECT to_regclass('public.sessions')::text").Scan(&outside).Error; err != nil || outside != nil {
		t.Errorf("a sessions table outside the schema: %v, %v", outside, err)
	}

	// The setting is what makes inserts work on this table.
	plain := mustOpen(t, url, Options{Schema: "flask", NoCreateTable: true})
	if err := plain.Save(ctxT(t), "session:c", []byte("c"), time.Hour); err == nil {
		t.Error("an insert without the sequence succeeded on a table whose id has no default")
	}

	storetest.Run(t, func(t *testing.T) backends.Store { return mustOpen(t, url, opts) },
		storetest.Options{Granularity: granularity})
}

// TestSchemaSequenceCreatedPostgres: when the table is missing, New creates
// the sequence and the table in the schema, ids drawn from the sequence.
func TestSchemaSequenceCreatedPostgres(t *testing.T) {
	pg := testserver.SharedPostgres(t)
	url := pg.URL(pg.NewDatabase(t))
	admin := mustOpen(t, url, Options{Table: "bootstrap"})
	if err := admin.DB().Exec("CREATE SCHEMA app").Error; err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, url, Options{Schema: "app", Table: "web_sessions", Sequence: "app.web_sessions_seq"})
	for i := range 3 {
		if err := s.SaveIf(ctxT(t), "k"+strings.Repeat("x", i), []byte("v"), nil, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var maxID, last int64
	admin.DB().Raw("SELECT max(id) FROM app.web_sessions").Scan(&maxID)
	admin.DB().Raw("SELECT last_value FROM app.web_sessions_seq").Scan(&last)
	if maxID != 3 || last != 3 {
		t.Errorf("max id %d, sequence at %d; want 3 and 3", maxID, last)
	}
	// SESSION_TYPE=sqlalchemy passes both settings through.
	st, err := factory(ctxT(t), backends.Config{Type: "sqlalchemy", SQLAlchemy: url, SQLAlchemyTable: "web_sessions",
		SQLAlchemySchema: "app", SQLAlchemySequence: "app.web_sessions_seq"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*Store).Close()
	if err := st.Save(ctxT(t), "from-env", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	admin.DB().Raw("SELECT last_value FROM app.web_sessions_seq").Scan(&last)
	var envID int64
	admin.DB().Raw("SELECT id FROM app.web_sessions WHERE session_id = 'from-env'").Scan(&envID)
	if envID != last || envID != 4 {
		t.Errorf("factory store: id %d, sequence at %d; want 4 and 4", envID, last)
	}
	if _, err := Open(ctxT(t), url, Options{Schema: "nope", Table: "t"}); err == nil {
		t.Error("a missing schema was not reported")
	}
	for _, bad := range []Options{{Schema: "a;b"}, {Sequence: "x y"}, {Sequence: "a.b.c"}} {
		if _, err := Open(ctxT(t), url, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestSchemaMariaDB: SESSION_SQLALCHEMY_SCHEMA on MySQL/MariaDB names the
// database of the table. On a table created with Flask-SQLAlchemy's DDL in
// another database than the connection's, the store reads SQLAlchemy's
// rows, writes there and nowhere else, and learns the table's limits there
// (BLOB: 65535 bytes); a sequence is not used when id auto-increments, and
// is used (NEXT VALUE FOR) when it does not. (The conformance suite does
// not run on Flask's MySQL table: its VARCHAR key compares
// case-insensitively, see docs/backends/sql.md.)
func TestSchemaMariaDB(t *testing.T) {
	m := testserver.SharedMariaDB(t)
	home, other := m.NewDatabase(t), m.NewDatabase(t)
	url := m.URL(home)
	admin := mustOpen(t, url, Options{Table: "bootstrap"})
	if err := admin.DB().Exec(strings.ReplaceAll(flaskMySQLTableDDL, "%s", other)).Error; err != nil {
		t.Fatal(err)
	}
	flaskRow := []byte{0x80}
	if err := admin.DB().Exec("INSERT INTO "+other+".sessions (session_id, data, expiry) VALUES (?, ?, ?)",
		"session:flask", flaskRow, time.Now().UTC().Add(time.Hour).Truncate(time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	opts := Options{Schema: other, Sequence: "unused_seq"}
	s := mustOpen(t, url, opts)
	if data, found, err := s.Load(ctxT(t), "session:flask"); err != nil || !found || !bytes.Equal(data, flaskRow) {
		t.Fatalf("Load of SQLAlchemy's row: %x, %v, %v", data, found, err)
	}
	if err := s.Save(ctxT(t), "session:gin", []byte("gin"), time.Hour); err != nil {
		t.Fatal(err)
	}
	var n int64
	admin.DB().Raw("SELECT COUNT(*) FROM " + other + ".sessions WHERE session_id = 'session:gin'").Scan(&n)
	if n != 1 {
		t.Errorf("row not in %s.sessions", other)
	}
	admin.DB().Raw("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'sessions'", home).Scan(&n)
	if n != 0 {
		t.Errorf("a sessions table appeared in the connection's database %s", home)
	}
	if s.maxData != 65535 {
		t.Errorf("data column capacity %d; want 65535 (BLOB), learned in the schema", s.maxData)
	}

	// A MariaDB table whose id comes from a sequence.
	if err := admin.DB().Exec("CREATE SEQUENCE " + other + ".seq_ids").Error; err != nil {
		t.Fatal(err)
	}
	if err := admin.DB().Exec(`CREATE TABLE ` + other + `.seq_sessions (id INTEGER NOT NULL, session_id VARCHAR(255), data BLOB, expiry DATETIME, PRIMARY KEY (id), UNIQUE (session_id))`).Error; err != nil {
		t.Fatal(err)
	}
	sq := mustOpen(t, url, Options{Schema: other, Table: "seq_sessions", Sequence: other + ".seq_ids"})
	for _, k := range []string{"a", "b"} {
		if err := sq.SaveIf(ctxT(t), k, []byte(k), nil, time.Hour); err != nil {
			t.Fatalf("SaveIf on a sequence-keyed table: %v", err)
		}
	}
	var ids []int64
	admin.DB().Raw("SELECT id FROM " + other + ".seq_sessions ORDER BY id").Scan(&ids)
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("ids %v; want [1 2] from the sequence", ids)
	}
}
