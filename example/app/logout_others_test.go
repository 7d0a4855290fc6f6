package app_test

import (
	"context"
	"net/http"
	"testing"
)

// "Log out other devices" logs out every other browser of the user and
// keeps this one logged in, under a new id.
func TestLogoutOtherDevices(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	laptop, phone, tablet := newBrowser(t, in.srv.URL), newBrowser(t, in.srv.URL), newBrowser(t, in.srv.URL)
	for _, b := range []*browser{laptop, phone, tablet} {
		b.login()
		expect(t, b.get("/dashboard"), http.StatusOK, "Log out other devices")
	}
	if ids, err := in.m.UserSessions(context.Background(), testUser); err != nil || len(ids) != 3 {
		t.Fatalf("UserSessions = %d ids, %v; want 3", len(ids), err)
	}
	old := laptop.sid()
	p := laptop.post("/logout-others", nil)
	if p.status != http.StatusSeeOther || p.location != "/dashboard" {
		t.Fatalf("logout-others: %d %q", p.status, p.location)
	}
	expect(t, laptop.get("/dashboard"), http.StatusOK, "Logged out 2 other devices.")
	if laptop.sid() == old || in.stored(t, old) {
		t.Fatal("the laptop kept its old session id")
	}
	for _, b := range []*browser{phone, tablet} {
		if p := b.get("/dashboard"); p.status != http.StatusSeeOther || p.location != "/login" {
			t.Fatalf("another device is still logged in: %d %q", p.status, p.location)
		}
	}
	ids, err := in.m.UserSessions(context.Background(), testUser)
	if err != nil || len(ids) != 1 || ids[0] != laptop.sid() {
		t.Fatalf("UserSessions after = %v, %v; want only the laptop's new id", len(ids), err)
	}
}
