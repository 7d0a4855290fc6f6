package gormstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm/clause"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// The user index is a table of its own beside the sessions table, never a
// column of it (Flask-Session's table stays exactly Flask's):
//
//	<table>_users (user_hash CHAR(64), session_id VARCHAR(255), expiry BIGINT,
//	               PRIMARY KEY (user_hash, session_id))
//
// user_hash is the SHA-256 (hex) of the user id, so that ids of any length
// and content fit the key; expiry is the link's expiry in Unix
// milliseconds. The store creates the table on first use (CREATE TABLE IF
// NOT EXISTS) unless Options.NoCreateTable is set: then it must be created
// beforehand with the DDL below (docs/backends/sql.md), and until it is the
// index calls (SetUser's commit, RevokeUser, UserSessions) fail with a
// *MissingTableError. Expired links of a user are pruned whenever that user
// is linked.
var createUsersTable = map[string]string{
	"sqlite": `CREATE TABLE IF NOT EXISTS ? (
	user_hash CHAR(64) NOT NULL,
	session_id VARCHAR(255) NOT NULL,
	expiry BIGINT NOT NULL,
	PRIMARY KEY (user_hash, session_id)
)`,
	"postgres": `CREATE TABLE IF NOT EXISTS ? (
	user_hash CHAR(64) NOT NULL,
	session_id VARCHAR(255) NOT NULL,
	expiry BIGINT NOT NULL,
	PRIMARY KEY (user_hash, session_id)
)`,
	"mysql": `CREATE TABLE IF NOT EXISTS ? (
	user_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	session_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	expiry BIGINT NOT NULL,
	PRIMARY KEY (user_hash, session_id)
)`,
}

// upsertLink inserts a link or moves its expiry.
var upsertLink = map[string]string{
	"sqlite":   `INSERT INTO ? (user_hash, session_id, expiry) VALUES (?, ?, ?) ON CONFLICT (user_hash, session_id) DO UPDATE SET expiry = excluded.expiry`,
	"postgres": `INSERT INTO ? (user_hash, session_id, expiry) VALUES (?, ?, ?) ON CONFLICT (user_hash, session_id) DO UPDATE SET expiry = excluded.expiry`,
	"mysql":    `INSERT INTO ? (user_hash, session_id, expiry) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE expiry = VALUES(expiry)`,
}

// UsersTable is the name of the user index table, schema-qualified when
// Options.Schema is set.
func (s *Store) UsersTable() string { return s.usersTable().Name }

func (s *Store) usersTable() clause.Table {
	name := s.bare + "_users"
	if s.schema != "" {
		name = s.schema + "." + name
	}
	return clause.Table{Name: name}
}

func userHash(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:])
}

// usersCreate serializes this process's creations of index tables:
// concurrent CREATE TABLE IF NOT EXISTS race on PostgreSQL (a duplicate
// key in pg_type).
var usersCreate sync.Mutex

// MissingTableError is the error of a user index call when the index
// table does not exist and Options.NoCreateTable forbids creating it.
type MissingTableError struct {
	// Table is the missing table, schema-qualified when Options.Schema is set.
	Table string
	// Err is the database's answer to a query on the table.
	Err error
}

// Error implements error. It carries no "ginsession:" prefix: the store
// wraps it with its own.
func (e *MissingTableError) Error() string {
	return fmt.Sprintf("the user index table %s does not exist and Options.NoCreateTable forbids creating it: create it with the DDL in docs/backends/sql.md (%v)", e.Table, e.Err)
}

// Unwrap returns the database's error.
func (e *MissingTableError) Unwrap() error { return e.Err }

// usersReady creates the index table once per store (or, under
// NoCreateTable, checks that it exists). A creation that fails because
// another process created the table meanwhile is not an error.
func (s *Store) usersReady(ctx context.Context) error {
	if s.usersOK.Load() {
		return nil
	}
	db := s.db.WithContext(ctx)
	exists := func() error {
		return s.retry(ctx, func() error { return db.Exec("SELECT 1 FROM ? WHERE 1 = 0", s.usersTable()).Error })
	}
	if s.noCreate {
		err := exists()
		if err == nil {
			s.usersOK.Store(true)
			return nil
		}
		// The database answers but the table is not there (or cannot be
		// read): say which table; otherwise the database's own error.
		if ctx.Err() == nil && s.retry(ctx, func() error { return db.Exec("SELECT 1").Error }) == nil {
			return &MissingTableError{Table: s.usersTable().Name, Err: err}
		}
		return err
	}
	usersCreate.Lock()
	defer usersCreate.Unlock()
	if s.usersOK.Load() {
		return nil
	}
	ddl, ok := createUsersTable[s.dialect]
	if !ok {
		return fmt.Errorf("the user index is not available for dialect %q", s.dialect)
	}
	err := s.retry(ctx, func() error { return db.Exec(ddl, s.usersTable()).Error })
	if err != nil && exists() != nil {
		return fmt.Errorf("create table %s: %w", s.usersTable().Name, err)
	}
	s.usersOK.Store(true)
	return nil
}

// LinkUser records that key belongs to user for ttl from now, pruning the
// user's expired links: two statements.
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	const op = "link user"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if !storable(key) {
		return errKey(op, key)
	}
	if err := s.usersReady(ctx); err != nil {
		return s.wrap(op, err)
	}
	h, now := userHash(user), time.Now()
	db := s.db.WithContext(ctx)
	err := s.retry(ctx, func() error {
		return db.Exec("DELETE FROM ? WHERE user_hash = ? AND expiry <= ?", s.usersTable(), h, now.UnixMilli()).Error
	})
	if err == nil {
		err = s.retry(ctx, func() error {
			return db.Exec(upsertLink[s.dialect], s.usersTable(), h, key, now.Add(ttl).UnixMilli()).Error
		})
	}
	return s.wrap(op, err)
}

// UnlinkUser removes key from user's index.
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	const op = "unlink user"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if err := s.usersReady(ctx); err != nil {
		return s.wrap(op, err)
	}
	err := s.retry(ctx, func() error {
		return s.db.WithContext(ctx).Exec("DELETE FROM ? WHERE user_hash = ? AND session_id = ?", s.usersTable(), userHash(user), key).Error
	})
	return s.wrap(op, err)
}

// UserKeys returns the keys linked to user whose links have not expired.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	const op = "user keys"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if err := s.usersReady(ctx); err != nil {
		return nil, s.wrap(op, err)
	}
	var keys []string
	err := s.retry(ctx, func() error {
		keys = keys[:0]
		return s.db.WithContext(ctx).Raw("SELECT session_id FROM ? WHERE user_hash = ? AND expiry > ?", s.usersTable(), userHash(user), time.Now().UnixMilli()).Scan(&keys).Error
	})
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return keys, nil
}
