package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/example/app"
	"github.com/ginsession/ginsession/internal/testserver"
)

const (
	user     = "demo"
	password = "e2e password"
)

// ChromiumHint says how to install the browser.
const ChromiumHint = "install it with: apt-get install -y chromium"

// chromium finds the browser, or skips (fails under CI).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testserver.Unavailable(t, "chromium is not installed", ChromiumHint)
	return ""
}

// server is the example app listening on addr, restartable on the same
// address and store directory.
type server struct {
	t    *testing.T
	addr string
	opts ginsession.Options
	cfg  app.Config
	srv  *http.Server
	m    *ginsession.Middleware
	done chan error
}

func (s *server) start() {
	s.t.Helper()
	h, m, err := app.New(s.opts, s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		if i == 50 {
			m.Close()
			s.t.Fatalf("listen on %s again: %v", s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.m = m
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(ln) }()
}

func (s *server) stop() {
	s.t.Helper()
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
		s.t.Errorf("serve: %v", err)
	}
	if err := s.m.Close(); err != nil {
		s.t.Errorf("close middleware: %v", err)
	}
	s.srv = nil
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// keys lists the session keys in the store.
func (s *server) keys(ctx context.Context) []string {
	s.t.Helper()
	l, ok := s.m.Store().(backends.Lister)
	if !ok {
		s.t.Fatal("the filesystem store does not list its keys")
	}
	keys, err := l.Keys(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return keys
}

// TestBrowser drives headless Chromium through the tutorial: log in, the
// dashboard, /session, two cart items, a restart of the app server, the
// cart still there, log out, the session gone from the store.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	gin.SetMode(gin.ReleaseMode)
	start := time.Now()

	// The app, in this process, with a filesystem store in a temp dir.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	storeDir := t.TempDir()
	srv := &server{
		t:    t,
		addr: "127.0.0.1:0",
		opts: ginsession.Options{Type: "filesystem", FileDir: storeDir, SecretKey: "e2e secret", UseSigner: true, Logger: logger},
		cfg:  app.Config{User: user, PasswordHash: hash, Logger: logger},
	}
	srv.start()
	t.Cleanup(srv.stop)

	// The browser, with its own HOME, XDG dirs and TMPDIR in a short
	// directory (removed with retries by ShortTempDir's cleanup, which runs
	// after the browser has exited).
	home := testserver.ShortTempDir(t, "gse2e")
	for _, d := range []string{"profile", "config", "cache", "tmp"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root here
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.WindowSize(1100, 800),
		chromedp.Env(
			"HOME="+home,
			"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
			"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
			"TMPDIR="+filepath.Join(home, "tmp"),
		),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser) // waits for the browser to exit
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if err := chromedp.Run(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))

	// Log in and see the dashboard.
	var who, value, loc string
	run("log in",
		chromedp.Navigate(srv.url("/")),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#username", user, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Click("#login", chromedp.ByQuery),
		chromedp.WaitVisible("#user", chromedp.ByQuery),
		chromedp.Text("#user", &who, chromedp.ByQuery),
		chromedp.Text("#value", &value, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if who != user || value != app.RedisTestValue || !strings.HasSuffix(loc, "/dashboard") {
		t.Fatalf("dashboard: user %q value %q at %s", who, value, loc)
	}
	var flash string
	run("flash", chromedp.Text(".flash.success", &flash, chromedp.ByQuery))
	if flash != "Logged in as "+user+"." {
		t.Errorf("flash after login: %q", flash)
	}
	var shot []byte
	run("screenshot", chromedp.FullScreenshot(&shot, 100))
	shotPath := saveScreenshot(t, shot)
	t.Logf("dashboard screenshot: %s", shotPath)

	// /session reads the variable back.
	value = ""
	run("/session",
		chromedp.Navigate(srv.url("/session")),
		chromedp.WaitVisible("#value", chromedp.ByQuery),
		chromedp.Text("#value", &value, chromedp.ByQuery),
	)
	if value != app.RedisTestValue {
		t.Fatalf("/session shows %q, want %q", value, app.RedisTestValue)
	}

	// Two cart items.
	run("open cart", chromedp.Navigate(srv.url("/cart")), chromedp.WaitVisible("#empty", chromedp.ByQuery))
	for i, item := range []string{"apples", "pears"} {
		run("add "+item,
			chromedp.SendKeys("#item", item, chromedp.ByQuery),
			chromedp.Click("#add", chromedp.ByQuery),
		)
		waitJS(t, bctx, fmt.Sprintf(`document.querySelectorAll("#cart .item").length === %d`, i+1))
	}
	wantCart := []string{"apples", "pears"}
	if got := cartItems(t, bctx); !slices.Equal(got, wantCart) {
		t.Fatalf("cart %q, want %q", got, wantCart)
	}

	// Restart the app server on the same address and store directory.
	keysBefore := srv.keys(ctx)
	if len(keysBefore) != 1 {
		t.Fatalf("store keys before restart: %q, want one session", keysBefore)
	}
	sessionKey := keysBefore[0]
	oldAddr := srv.addr
	srv.stop()
	srv.start()
	if srv.addr != oldAddr {
		t.Fatalf("restarted on %s, not %s", srv.addr, oldAddr)
	}
	run("cart after restart", chromedp.Navigate(srv.url("/cart")), chromedp.WaitVisible("#cart", chromedp.ByQuery))
	if got := cartItems(t, bctx); !slices.Equal(got, wantCart) {
		t.Fatalf("cart after restart %q, want %q", got, wantCart)
	}

	// Log out: the session's entry is gone from the store (and its file
	// from the directory).
	var notice string
	run("log out",
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#notice", chromedp.ByQuery),
		chromedp.Text("#notice", &notice, chromedp.ByQuery),
	)
	if notice != "You have been logged out." {
		t.Errorf("after logout: %q", notice)
	}
	if keys := srv.keys(ctx); slices.Contains(keys, sessionKey) {
		t.Fatalf("the session is still in the store after logout: %q", keys)
	}
	if _, found, err := srv.m.Store().Load(ctx, sessionKey); err != nil || found {
		t.Fatalf("Load after logout: found %v, err %v", found, err)
	}
	sum := sha256.Sum256([]byte(sessionKey))
	if _, err := os.Stat(filepath.Join(storeDir, hex.EncodeToString(sum[:]))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the session's file is still in the store directory (stat: %v)", err)
	}
	var status string
	run("dashboard after logout",
		chromedp.Navigate(srv.url("/dashboard")),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Text(".flash.warning", &status, chromedp.ByQuery),
	)
	if status != "Please log in to see this page." {
		t.Errorf("dashboard after logout: %q", status)
	}
	devicesSteps(t, bctx, srv, storeDir, run)
	t.Logf("browser session done in %v", time.Since(start).Round(time.Millisecond))
}

// waitJS evaluates expr until it is true. Unlike chromedp.Poll it survives
// the navigation a form submission starts.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		err := chromedp.Run(ctx, chromedp.Evaluate(`!!(`+expr+`)`, &ok))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v (last error %v)", expr, ok, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cartItems(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var items []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll("#cart .item"), e => e.textContent)`, &items)); err != nil {
		t.Fatal(err)
	}
	return items
}

// saveScreenshot writes the PNG where it survives the test, for a look:
// $E2E_SCREENSHOT_DIR, or ginsession-e2e/ under the system temp dir.
func saveScreenshot(t *testing.T, png []byte) string {
	t.Helper()
	dir := os.Getenv("E2E_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ginsession-e2e")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
