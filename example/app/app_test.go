package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/example/app"
	"github.com/ginsession/ginsession/internal/testserver"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	code := m.Run()
	testserver.StopShared()
	os.Exit(code)
}

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	testSecret   = "test-secret-key"
)

var quiet = slog.New(slog.DiscardHandler)

// testConfig returns a Config whose hash has bcrypt's minimum cost, so that
// tests under -race stay fast.
func testConfig(t testing.TB) app.Config {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return app.Config{User: testUser, PasswordHash: h, Logger: quiet}
}

// fileOptions are the options of a filesystem store in dir, with a signed
// cookie.
func fileOptions(dir string) ginsession.Options {
	return ginsession.Options{Type: "filesystem", FileDir: dir, SecretKey: testSecret, UseSigner: true, Logger: quiet}
}

// instance is one running copy of the app.
type instance struct {
	srv  *httptest.Server
	m    *ginsession.Middleware
	opts ginsession.Options
}

func startApp(t testing.TB, opts ginsession.Options) *instance {
	t.Helper()
	h, m, err := app.New(opts, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if err := m.Close(); err != nil {
			t.Errorf("close middleware: %v", err)
		}
	})
	return &instance{srv: srv, m: m, opts: m.Options()}
}

// stored reports whether the store holds the session sid.
func (in *instance) stored(t testing.TB, sid string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, found, err := in.m.Store().Load(ctx, in.opts.KeyPrefix+sid)
	if err != nil {
		t.Fatalf("store load: %v", err)
	}
	return found
}

// browser is a cookie-keeping client that does not follow redirects. One
// jar serves every instance: cookies are per host, not per port.
type browser struct {
	t     testing.TB
	c     *http.Client
	base  string // the instance requests go to
	token string // the CSRF token of the last page that had one
}

func newBrowser(t testing.TB, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (p page) has(s string) bool { return strings.Contains(p.body, s) }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.token = string(m[1])
	}
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form; the CSRF token is added unless the form has one.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form[app.CSRFField]; !ok {
		form.Set(app.CSRFField, b.csrf())
	}
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the token of the last page seen, or reads it from a page
// with a form (the login page, or the cart once logged in; which shows, and
// so consumes, the flashed messages).
func (b *browser) csrf() string {
	b.t.Helper()
	if b.token != "" {
		return b.token
	}
	p := b.get("/login")
	if p.status == http.StatusSeeOther {
		p = b.get("/cart")
	}
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// cookie returns the session cookie's value in the jar.
func (b *browser) cookie() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

// sid returns the session id in the jar's cookie (signature stripped).
func (b *browser) sid() string {
	v, _, _ := strings.Cut(b.cookie(), ".")
	return v
}

func (b *browser) login() {
	b.t.Helper()
	p := b.post("/login", url.Values{"username": {testUser}, "password": {testPassword}})
	if p.status != http.StatusSeeOther || p.location != "/dashboard" {
		b.t.Fatalf("login: status %d location %q, want 303 to /dashboard\n%s", p.status, p.location, p.body)
	}
	b.token = "" // renewed on login
}

func expect(t testing.TB, p page, status int, contains ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	for _, s := range contains {
		if !p.has(s) {
			t.Fatalf("page lacks %q:\n%s", s, p.body)
		}
	}
}

func TestIndexRedirects(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	if p := b.get("/"); p.status != http.StatusSeeOther || p.location != "/login" {
		t.Fatalf("anonymous /: %d %q, want 303 /login", p.status, p.location)
	}
	b.login()
	if p := b.get("/"); p.status != http.StatusSeeOther || p.location != "/dashboard" {
		t.Fatalf("logged-in /: %d %q, want 303 /dashboard", p.status, p.location)
	}
	if p := b.get("/login"); p.status != http.StatusSeeOther || p.location != "/dashboard" {
		t.Fatalf("logged-in /login: %d %q, want 303 /dashboard", p.status, p.location)
	}
}

func TestLoginWrongCredentials(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	for _, c := range []struct{ user, pw string }{
		{testUser, "wrong"},
		{testUser, ""},
		{"bob", testPassword},
		{strings.ToUpper(testUser), testPassword},
	} {
		p := b.post("/login", url.Values{"username": {c.user}, "password": {c.pw}})
		expect(t, p, http.StatusUnauthorized, "Wrong user name or password.")
		if strings.Contains(p.body, c.pw) && c.pw != "" {
			t.Errorf("the password is echoed back in the page")
		}
	}
	p := b.get("/dashboard")
	if p.status != http.StatusSeeOther || p.location != "/login" {
		t.Fatalf("/dashboard after failed logins: %d %q, want 303 /login", p.status, p.location)
	}
	expect(t, b.get("/login"), http.StatusOK, "Please log in to see this page.")
}

func TestLoginRegeneratesSessionID(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	b.get("/login") // an anonymous session holding the CSRF token
	before := b.sid()
	if before == "" || !in.stored(t, before) {
		t.Fatalf("no anonymous session stored before login (sid %q)", before)
	}
	csrfBefore := b.csrf()
	b.login()
	b.token = ""
	after := b.sid()
	if after == "" || after == before {
		t.Fatalf("session id not regenerated on login: before %q after %q", before, after)
	}
	if in.stored(t, before) {
		t.Errorf("the pre-login session is still in the store")
	}
	if !in.stored(t, after) {
		t.Errorf("the new session is not in the store")
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Welcome, <strong id=\"user\">"+testUser, "Logged in as "+testUser+".")
	if b.csrf() == csrfBefore {
		t.Errorf("the CSRF token was not renewed on login")
	}
}

func TestLogoutDeletesSession(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	b.login()
	sid := b.sid()
	if !in.stored(t, sid) {
		t.Fatal("session not stored after login")
	}
	p := b.post("/logout", nil)
	if p.status != http.StatusSeeOther || p.location != "/login?logged_out=1" {
		t.Fatalf("logout: %d %q", p.status, p.location)
	}
	if sc := p.header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("logout did not expire the cookie: %q", sc)
	}
	if in.stored(t, sid) {
		t.Fatal("the session is still in the store after logout")
	}
	if b.sid() != "" {
		t.Errorf("the browser still has a session cookie")
	}
	expect(t, b.get("/login?logged_out=1"), http.StatusOK, "You have been logged out.")
	if p := b.get("/dashboard"); p.status != http.StatusSeeOther {
		t.Fatalf("/dashboard after logout: %d, want 303", p.status)
	}
}

func TestLogoutWithoutLogin(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	if p := b.post("/logout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("logout of an anonymous session: %d", p.status)
	}
}

func TestDashboardAndSessionPage(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	expect(t, b.get("/session"), http.StatusOK, "is not set in this session")
	if b.sid() != "" {
		t.Errorf("an anonymous visit of /session created a session")
	}
	b.login()
	expect(t, b.get("/session"), http.StatusOK, "is not set in this session", "Visit the")
	expect(t, b.get("/dashboard"), http.StatusOK, `<code>redis_test</code> = <span id="value">`+app.RedisTestValue+`</span>`)
	expect(t, b.get("/session"), http.StatusOK, `<code>redis_test</code> = <span id="value">`+app.RedisTestValue+`</span>`)
}

func TestCart(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	if p := b.post("/cart/add", url.Values{"item": {"apples"}, app.CSRFField: {"x"}}); p.status != http.StatusForbidden {
		t.Fatalf("anonymous cart add: %d, want 403 (no CSRF token in the session)", p.status)
	}
	b.login()
	expect(t, b.get("/cart"), http.StatusOK, "The cart is empty.")

	for _, item := range []string{"apples", "  pears\tand  plums ", "<b>bold</b>"} {
		p := b.post("/cart/add", url.Values{"item": {item}})
		if p.status != http.StatusSeeOther || p.location != "/cart" {
			t.Fatalf("add %q: %d %q", item, p.status, p.location)
		}
	}
	p := b.get("/cart")
	expect(t, p, http.StatusOK, "apples", "pears and plums", "&lt;b&gt;bold&lt;/b&gt;", "Added apples to the cart.")
	if p.has("<b>bold</b>") {
		t.Fatal("an item name is not HTML-escaped")
	}
	expect(t, b.get("/dashboard"), http.StatusOK, ">3 items<")

	// Remove the second item.
	p = b.post("/cart/remove", url.Values{"index": {"1"}, "item": {"pears and plums"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("remove: %d", p.status)
	}
	p = b.get("/cart")
	expect(t, p, http.StatusOK, "apples", "Removed pears and plums from the cart.")
	if p.has(`<span class="item">pears and plums`) {
		t.Fatal("removed item still in the cart")
	}
	// A stale form (index and name no longer match) removes nothing.
	b.post("/cart/remove", url.Values{"index": {"1"}, "item": {"apples"}})
	expect(t, b.get("/cart"), http.StatusOK, "That item is no longer in the cart.", `<span class="item">apples`)
	b.post("/cart/remove", url.Values{"index": {"-1"}, "item": {"apples"}})
	b.post("/cart/remove", url.Values{"index": {"x"}, "item": {"apples"}})
	// Invalid additions.
	b.post("/cart/add", url.Values{"item": {"   "}})
	expect(t, b.get("/cart"), http.StatusOK, "Type the name of an item to add.")
	b.post("/cart/add", url.Values{"item": {strings.Repeat("x", app.MaxItemNameLen+1)}})
	expect(t, b.get("/cart"), http.StatusOK, "Item names are at most")
	// Empty it.
	b.post("/cart/remove", url.Values{"index": {"0"}, "item": {"apples"}})
	b.post("/cart/remove", url.Values{"index": {"0"}, "item": {"<b>bold</b>"}})
	expect(t, b.get("/cart"), http.StatusOK, "The cart is empty.")
}

func TestCartLimit(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	b.login()
	tok := b.csrf()
	for i := 0; i < app.MaxCartItems; i++ {
		b.post("/cart/add", url.Values{"item": {"x"}, app.CSRFField: {tok}})
	}
	b.get("/cart") // drop the flashes
	b.post("/cart/add", url.Values{"item": {"one too many"}, app.CSRFField: {tok}})
	p := b.get("/cart")
	expect(t, p, http.StatusOK, "The cart is full")
	if p.has("one too many") {
		t.Fatal("the cart took more than MaxCartItems items")
	}
}

func TestFlashesShownOnce(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	b.login()
	msg := "Logged in as " + testUser + "."
	expect(t, b.get("/session"), http.StatusOK, msg) // any page shows them
	if p := b.get("/dashboard"); p.has(msg) {
		t.Fatal("the flash message was shown twice")
	}
	b.post("/cart/add", url.Values{"item": {"apples"}})
	expect(t, b.get("/dashboard"), http.StatusOK, "Added apples to the cart.")
	if p := b.get("/cart"); p.has("Added apples") {
		t.Fatal("the flash message was shown twice")
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)

	// Login without a session (so without a token), and with a wrong one.
	p := b.post("/login", url.Values{"username": {testUser}, "password": {testPassword}, app.CSRFField: {""}})
	expect(t, p, http.StatusForbidden, "This form has expired")
	b.get("/login")
	p = b.post("/login", url.Values{"username": {testUser}, "password": {testPassword}, app.CSRFField: {"forged"}})
	expect(t, p, http.StatusForbidden, "This form has expired")
	if p := b.get("/dashboard"); p.status != http.StatusSeeOther {
		t.Fatal("a login without the right CSRF token logged in")
	}

	b.login()
	tok := b.csrf()
	for _, form := range []url.Values{
		{"item": {"forged"}, app.CSRFField: {""}},
		{"item": {"forged"}, app.CSRFField: {tok + "x"}},
		{"item": {"forged"}, app.CSRFField: {strings.ToUpper(tok)}},
	} {
		expect(t, b.post("/cart/add", form), http.StatusForbidden)
	}
	// Another user's token is no good either.
	other := newBrowser(t, in.srv.URL)
	other.login()
	expect(t, b.post("/cart/add", url.Values{"item": {"forged"}, app.CSRFField: {other.csrf()}}), http.StatusForbidden)
	expect(t, b.post("/logout", url.Values{app.CSRFField: {"nope"}}), http.StatusForbidden)
	expect(t, b.get("/cart"), http.StatusOK, "The cart is empty.")

	// The header works too (for scripts).
	req, _ := http.NewRequest(http.MethodPost, in.srv.URL+"/cart/add", strings.NewReader("item=via+header"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(app.CSRFHeader, tok)
	if p := b.do(req); p.status != http.StatusSeeOther {
		t.Fatalf("POST with the token in %s: %d", app.CSRFHeader, p.status)
	}
	expect(t, b.get("/cart"), http.StatusOK, "via header")
	// Still logged in: the forged logout did nothing.
	expect(t, b.get("/dashboard"), http.StatusOK, "Welcome")
}

func TestStaticAndHeaders(t *testing.T) {
	t.Parallel()
	in := startApp(t, fileOptions(t.TempDir()))
	b := newBrowser(t, in.srv.URL)
	p := b.get("/static/style.css")
	expect(t, p, http.StatusOK, "font")
	if b.sid() != "" {
		t.Errorf("a static file created a session")
	}
	p = b.get("/login")
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if p.header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	expect(t, b.get("/no/such/page"), http.StatusNotFound, "There is no page here.")
	expect(t, b.get("/healthz"), http.StatusOK, "ok")
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := app.New(ginsession.Options{Type: "memory"}, app.Config{User: "x"}); err == nil {
		t.Error("New without a password hash: no error")
	}
	if _, _, err := app.New(ginsession.Options{Type: "memory"}, app.Config{User: "x", PasswordHash: []byte("plain")}); err == nil {
		t.Error("New with a non-bcrypt hash: no error")
	}
	if _, _, err := app.New(ginsession.Options{Type: "no-such-store"}, testConfig(t)); err == nil {
		t.Error("New with an unknown SESSION_TYPE: no error")
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	check := func(cfg app.Config, user, pw string) {
		t.Helper()
		if cfg.User != user {
			t.Errorf("user %q, want %q", cfg.User, user)
		}
		if err := bcrypt.CompareHashAndPassword(cfg.PasswordHash, []byte(pw)); err != nil {
			t.Errorf("hash does not match %q: %v", pw, err)
		}
	}

	cfg, err := app.ConfigFromEnv(env(), quiet) // bcrypt.DefaultCost: slow under -race, once
	if err != nil {
		t.Fatal(err)
	}
	check(cfg, app.DefaultUser, app.DefaultPassword)
	if cost, _ := bcrypt.Cost(cfg.PasswordHash); cost != bcrypt.DefaultCost {
		t.Errorf("bcrypt cost %d, want %d", cost, bcrypt.DefaultCost)
	}

	cfg, err = app.ConfigFromEnvCost(env("DEMO_USER", " bob ", "DEMO_PASSWORD", "s3cret"), quiet, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	check(cfg, "bob", "s3cret")

	h, _ := bcrypt.GenerateFromPassword([]byte("hashed"), bcrypt.MinCost)
	cfg, err = app.ConfigFromEnv(env("DEMO_PASSWORD_BCRYPT", string(h), "DEMO_PASSWORD", "ignored"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	check(cfg, app.DefaultUser, "hashed")

	if _, err := app.ConfigFromEnv(env("DEMO_PASSWORD_BCRYPT", "not-a-hash"), quiet); err == nil || !strings.Contains(err.Error(), "DEMO_PASSWORD_BCRYPT") {
		t.Errorf("bad hash: err = %v", err)
	}
	if _, err := app.ConfigFromEnv(env("DEMO_USER", "  "), quiet); err == nil {
		t.Error("blank user: no error")
	}
	_, err = app.ConfigFromEnvCost(env("DEMO_PASSWORD", strings.Repeat("p", 73)), quiet, bcrypt.MinCost)
	if err == nil {
		t.Error("a password over bcrypt's 72 bytes: no error")
	} else if strings.Contains(err.Error(), "ppp") {
		t.Errorf("the error repeats the password: %v", err)
	}
}
