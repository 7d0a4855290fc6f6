package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// device is a second browser: a cookie-keeping Go client.
type device struct {
	t *testing.T
	c *http.Client
}

func newDevice(t *testing.T) *device {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (d *device) get(u string) (int, string, string) {
	d.t.Helper()
	resp, err := d.c.Get(u)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (d *device) login(srv *server) {
	d.t.Helper()
	_, _, body := d.get(srv.url("/login"))
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		d.t.Fatalf("no CSRF token on the login page:\n%s", body)
	}
	resp, err := d.c.PostForm(srv.url("/login"), url.Values{"username": {user}, "password": {password}, "csrf_token": {m[1]}})
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		d.t.Fatalf("second device login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// loggedIn reports whether the device still reaches the dashboard.
func (d *device) loggedIn(srv *server) bool {
	d.t.Helper()
	status, loc, _ := d.get(srv.url("/dashboard"))
	switch {
	case status == http.StatusOK:
		return true
	case status == http.StatusSeeOther && loc == "/login":
		return false
	}
	d.t.Fatalf("dashboard: %d %q", status, loc)
	return false
}

// devicesSteps runs after TestBrowser's own steps (Chromium is logged
// out): the dashboard's "Log out other devices" button, then the admin
// command's revoke, each logging a second device out.
func devicesSteps(t *testing.T, bctx context.Context, srv *server, storeDir string, run func(string, ...chromedp.Action)) {
	t.Helper()
	chromeLogin := func(step string) {
		run(step,
			chromedp.Navigate(srv.url("/login")),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#username", user, chromedp.ByQuery),
			chromedp.SendKeys("#password", password, chromedp.ByQuery),
			chromedp.Click("#login", chromedp.ByQuery),
			chromedp.WaitVisible("#logout-others", chromedp.ByQuery),
		)
	}
	phone := newDevice(t)
	chromeLogin("log in again")
	phone.login(srv)

	var flash string
	run("log out other devices", chromedp.Click("#logout-others", chromedp.ByQuery))
	waitJS(t, bctx, `Array.from(document.querySelectorAll(".flash.success")).some(e => e.textContent.includes("other device"))`)
	run("flash", chromedp.Text(".flash.success", &flash, chromedp.ByQuery))
	if flash != "Logged out 1 other device." {
		t.Fatalf("flash after 'Log out other devices': %q", flash)
	}
	if phone.loggedIn(srv) {
		t.Fatal("the other device is still logged in")
	}
	var who string
	run("still logged in", chromedp.Navigate(srv.url("/dashboard")), chromedp.WaitVisible("#user", chromedp.ByQuery), chromedp.Text("#user", &who, chromedp.ByQuery))
	if who != user {
		t.Fatalf("the browser that logged the others out is not logged in: %q", who)
	}

	// The admin command logs the user out of every browser.
	phone.login(srv)
	bin := filepath.Join(t.TempDir(), "ginsession")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ginsession/ginsession/cmd/ginsession").CombinedOutput(); err != nil {
		t.Fatalf("build the admin command: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "revoke", user)
	cmd.Env = []string{"SESSION_TYPE=filesystem", "SESSION_FILE_DIR=" + storeDir}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != `revoked 2 sessions of user "`+user+`"` {
		t.Fatalf("ginsession revoke: %v\n%s", err, out)
	}
	if phone.loggedIn(srv) {
		t.Fatal("the second device is still logged in after ginsession revoke")
	}
	run("logged out by the admin command",
		chromedp.Navigate(srv.url("/dashboard")),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
	)
}
