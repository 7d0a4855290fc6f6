package gormstore

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestUsersTableNoCreate: under NoCreateTable the store does not create
// its user index table; the index calls fail with an error naming the
// missing table, and work once it has been created with the documented DDL.
func TestUsersTableNoCreate(t *testing.T) {
	forEach(t, func(t *testing.T, url string) {
		table := randomName("nc_")
		mustOpen(t, url, Options{Table: table}).Close() // the sessions table, as Flask would have made it
		s := mustOpen(t, url, Options{Table: table, NoCreateTable: true})
		users := table + "_users"
		if err := s.Save(ctxT(t), "k1", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"LinkUser":   func() error { return s.LinkUser(ctxT(t), "alice", "k1", time.Hour) },
			"UnlinkUser": func() error { return s.UnlinkUser(ctxT(t), "alice", "k1") },
			"UserKeys":   func() error { _, err := s.UserKeys(ctxT(t), "alice"); return err },
		}
		for name, call := range calls {
			err := call()
			var mt *MissingTableError
			if !errors.As(err, &mt) || mt.Table != users {
				t.Fatalf("%s without the index table = %v; want a *MissingTableError for %s", name, err, users)
			}
			msg := err.Error()
			if !strings.Contains(msg, users) || !strings.Contains(msg, "NoCreateTable") || strings.Count(msg, "ginsession:") != 1 {
				t.Errorf("%s: error %q should name the table and the option, with one ginsession: prefix", name, msg)
			}
		}
		if s.DB().Migrator().HasTable(users) {
			t.Fatalf("the store created %s under NoCreateTable", users)
		}
		// The operator creates it with the documented DDL.
		if err := s.DB().Exec(createUsersTable[s.dialect], s.usersTable()).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.LinkUser(ctxT(t), "alice", "k1", time.Hour); err != nil {
			t.Fatalf("LinkUser once the table exists: %v", err)
		}
		keys, err := s.UserKeys(ctxT(t), "alice")
		if err != nil || len(keys) != 1 || keys[0] != "k1" {
			t.Fatalf("UserKeys = %q, %v; want [k1]", keys, err)
		}
	})
}

// TestUsersTableCreated: without NoCreateTable the table is made on first use.
func TestUsersTableCreated(t *testing.T) {
	s := mustOpen(t, "sqlite:///"+t.TempDir()+"/s.db", Options{})
	if s.DB().Migrator().HasTable(s.UsersTable()) {
		t.Fatal("the index table exists before the first use")
	}
	if err := s.LinkUser(ctxT(t), "alice", "k1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if !s.DB().Migrator().HasTable(s.UsersTable()) {
		t.Fatal("the index table was not created on first use")
	}
}
