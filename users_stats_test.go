package ginsession

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ginsession/ginsession/backends/gormstore"
	"github.com/ginsession/ginsession/backends/memstore"
)

// TestUserIndexStats: the user index calls go through the instrumented
// store: Stats counts them (UserIndex) and their failures.
func TestUserIndexStats(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	a := newUserApp(t, st, "")
	before := a.mw.Stats()
	_, alice := a.login("alice") // LinkUser
	a.get("/regen", alice)       // LinkUser of the new key, UnlinkUser of the old
	a.login("alice")             // LinkUser
	n, err := a.mw.RevokeUser(context.Background(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser = %d, %v; want 2", n, err)
	}
	// UserKeys, and an UnlinkUser per revoked session.
	if ids := a.sessions("alice"); len(ids) != 0 { // UserKeys
		t.Fatalf("alice still has %q", ids)
	}
	s := a.mw.Stats()
	if got := s.UserIndex - before.UserIndex; got != 8 {
		t.Errorf("Stats().UserIndex grew by %d; want 8 (3 links, 1 unlink, 2 lookups, 2 unlinks on revoke)", got)
	}
	if s.Unavailable != 0 {
		t.Errorf("Stats().Unavailable = %d; want 0", s.Unavailable)
	}
}

// TestUserIndexStatsFailures: an index that fails (a SQL store whose index
// table is missing and may not be created) fails the login with an error
// naming the table, RevokeUser says the same, and Stats counts both calls
// and their failures.
func TestUserIndexStatsFailures(t *testing.T) {
	url := "sqlite:///" + filepath.Join(t.TempDir(), "s.db")
	made, err := gormstore.Open(context.Background(), url, gormstore.Options{}) // Flask's table
	if err != nil {
		t.Fatal(err)
	}
	made.Close()
	st, err := gormstore.Open(context.Background(), url, gormstore.Options{NoCreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := newUserApp(t, st, "")
	req := httptest.NewRequest(http.MethodGet, "/login?u=alice", nil)
	w := httptest.NewRecorder()
	a.r.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "sessions_users") {
		t.Fatalf("login without the index table: %d %q; want the ErrorHandler with an error naming sessions_users", w.Code, w.Body)
	}
	_, err = a.mw.RevokeUser(context.Background(), "alice")
	var mt *gormstore.MissingTableError
	if !errors.As(err, &mt) || mt.Table != "sessions_users" || !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("RevokeUser without the index table = %v; want a *gormstore.MissingTableError matching ErrStoreUnavailable", err)
	}
	s := a.mw.Stats()
	if s.UserIndex != 2 || s.Unavailable < 2 {
		t.Errorf("Stats: UserIndex %d, Unavailable %d; want 2 index calls, both failed", s.UserIndex, s.Unavailable)
	}
}
