package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/internal/testserver"
)

// binDir holds the command built once for every test of this package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ginsession-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// buildCLI builds the command (once) and returns the binary's path.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "ginsession")
	buildOnce.Do(func() {
		buildOut, buildErr = exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return bin
}

// result is one run of the built binary.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs bin with exactly the environment env (plus PATH and HOME).
func runCLI(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// seed stores n sessions through the middleware, each with a cart, a CSRF
// token and a counter, and returns their ids.
func seed(t *testing.T, opts ginsession.Options, n int) (*ginsession.Middleware, []string) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	m, err := ginsession.NewMiddleware(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r := gin.New()
	r.Use(m.Handler())
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Set("cart", []string{"apple-" + c.Query("i")})
		s.Set("csrf_token", "tok-"+c.Query("i"))
		s.Set("n", 7)
		s.SetUser("u" + c.Query("u"))
		c.String(200, s.ID())
	})
	ids := make([]string, n)
	for i := range ids {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, fmt.Sprintf("/?i=%d&u=%d", i, i%2), nil))
		if w.Code != 200 {
			t.Fatalf("seed: %d %s", w.Code, w.Body)
		}
		ids[i] = w.Body.String()
	}
	sort.Strings(ids)
	return m, ids
}

// noFullID fails when out contains any of ids in full.
func noFullID(t *testing.T, r result, ids []string) {
	t.Helper()
	for _, id := range ids {
		if strings.Contains(r.stdout, id) || strings.Contains(r.stderr, id) {
			t.Fatalf("output contains the full id %s:\n%s", id, r)
		}
	}
}

func TestUsage(t *testing.T) {
	bin := buildCLI(t)
	r := runCLI(t, bin, nil, "help")
	if r.code != 0 {
		t.Fatalf("help: %s", r)
	}
	for _, sub := range []string{"cleanup", "ls", "show", "rm", "revoke", "stats"} {
		if !strings.Contains(r.stdout, "\n  "+sub+" ") {
			t.Errorf("help does not list %s:\n%s", sub, r.stdout)
		}
	}
	env := []string{"SESSION_TYPE=filesystem", "SESSION_FILE_DIR=" + t.TempDir()}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{nil, env, "no subcommand"},
		{[]string{"frobnicate"}, env, `unknown subcommand "frobnicate"`},
		{[]string{"show"}, env, "usage: ginsession show SID"},
		{[]string{"rm", "a", "b"}, env, "usage: ginsession rm SID"},
		{[]string{"ls", "--limit", "-1"}, env, "must not be negative"},
		{[]string{"ls", "--bogus"}, env, "flag provided but not defined: -bogus"},
		{[]string{"stats", "extra"}, env, "takes no arguments"},
		{[]string{"revoke"}, env, "usage: ginsession revoke USER"},
		{[]string{"revoke", ""}, env, "the user id is empty"},
		{[]string{"ls"}, nil, "SESSION_TYPE is not set"},
		{[]string{"ls"}, []string{"SESSION_TYPE=filesystem", "SESSION_ID_LENGTH=3"}, "SESSION_ID_LENGTH"},
		{[]string{"ls"}, []string{"SESSION_TYPE=nosuch"}, "nosuch"},
		{[]string{"ls"}, []string{"SESSION_TYPE=memory"}, "cannot reach"},
		{[]string{"--env-file", filepath.Join(t.TempDir(), "missing.env"), "ls"}, nil, "missing.env"},
		{[]string{"show", "not/an/id"}, env, "is not a session id"},
		{[]string{"show", "--reveal", "--revael", "abc"}, env, `"--revael" is not a flag of show`},
		{[]string{"show", "--limit", "3", "abc"}, env, `"--limit" is not a flag of show`},
	} {
		r := runCLI(t, bin, tc.env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want exit 2 and %q on stderr, got %s", tc.args, tc.want, r)
		}
	}
}

// wantExpiry fails unless at is about the default lifetime (31 days)
// after the sessions were seeded, between seeded and now.
func wantExpiry(t *testing.T, what string, at *time.Time, seeded time.Time, lifetime time.Duration) {
	t.Helper()
	if at == nil {
		t.Errorf("%s: expires is null; want about %v from the seeding", what, lifetime)
		return
	}
	lo, hi := seeded.Add(lifetime-2*time.Second), time.Now().Add(lifetime+2*time.Second)
	if at.Before(lo) || at.After(hi) {
		t.Errorf("%s: expires %v; want between %v and %v", what, at, lo, hi)
	}
}

// checkLsExpiries checks ls's EXPIRES column and --json's expires field.
func checkLsExpiries(t *testing.T, cli func(...string) result, n int, seeded time.Time, lifetime time.Duration) {
	t.Helper()
	r := cli("ls")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != n+1 || !regexp.MustCompile(`^ID +SIZE +EXPIRES +USER$`).MatchString(lines[0]) {
		t.Fatalf("ls: want the header ID SIZE EXPIRES USER and %d rows:\n%s", n, r)
	}
	cell := regexp.MustCompile(` (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(in (\S+)\) `)
	for _, line := range lines[1:] {
		m := cell.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("row %q: no expiry column (want RFC 3339 UTC and \"(in ...)\")", line)
			continue
		}
		at, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second) // printed to the second, truncated
		wantExpiry(t, line, &at, seeded, lifetime)
		if left, err := time.ParseDuration(m[2]); err != nil || left < lifetime-time.Minute || left > lifetime {
			t.Errorf("row %q: \"in %s\"; want about %v", line, m[2], lifetime)
		}
	}
	r = cli("ls", "--json")
	var page struct{ Sessions []row }
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 || len(page.Sessions) != n {
		t.Fatalf("ls --json: %v\n%s", err, r)
	}
	for _, s := range page.Sessions {
		wantExpiry(t, "ls --json "+s.ID, s.Expires, seeded, lifetime)
	}
}

func TestFilesystem(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	seeded := time.Now()
	m, ids := seed(t, ginsession.Options{Type: "filesystem", FileDir: dir}, 5)
	store := m.Store()
	ctx := context.Background()

	// Configuration from --env-file; a variable of the environment wins.
	envFile := filepath.Join(t.TempDir(), "app.env")
	content := "# the app's settings\nexport SESSION_TYPE=filesystem\nSESSION_FILE_DIR=\"" + dir + "\"\nSESSION_KEY_PREFIX='session:' # default\n"
	if err := os.WriteFile(envFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SESSION_FILE_THRESHOLD=0"}
	cli := func(args ...string) result {
		return runCLI(t, bin, env, append([]string{"--env-file", envFile}, args...)...)
	}

	t.Run("ls", func(t *testing.T) {
		r := cli("ls")
		if r.code != 0 {
			t.Fatal(r)
		}
		noFullID(t, r, ids)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 6 {
			t.Fatalf("want a header and 5 rows:\n%s", r)
		}
		for i, id := range ids {
			if !strings.HasPrefix(lines[i+1], id[:12]+"…") {
				t.Errorf("row %d = %q, want id %s… first (sorted)", i, lines[i+1], id[:12])
			}
			if !strings.HasSuffix(lines[i+1], " u0") && !strings.HasSuffix(lines[i+1], " u1") {
				t.Errorf("row %d = %q, want the user last", i, lines[i+1])
			}
		}

		r = cli("ls", "--json", "--full-ids", "--limit", "2", "--offset", "1")
		var page struct {
			Backend  string
			Total    int
			Offset   int
			Sessions []row
		}
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 {
			t.Fatalf("ls --json: %v\n%s", err, r)
		}
		if page.Backend != "filesystem" || page.Total != 5 || page.Offset != 1 || len(page.Sessions) != 2 ||
			page.Sessions[0].ID != ids[1] || page.Sessions[1].ID != ids[2] {
			t.Fatalf("ls page: %+v, want ids %v", page, ids[1:3])
		}
		checkLsExpiries(t, cli, 5, seeded, m.Options().Lifetime)
		for _, s := range page.Sessions {
			data, _, err := store.Load(ctx, "session:"+s.ID)
			if err != nil || s.Size != len(data) {
				t.Errorf("size of %s = %d, store holds %d bytes (%v)", s.ID[:8], s.Size, len(data), err)
			}
		}
	})

	t.Run("show", func(t *testing.T) {
		r := cli("show", ids[0][:12]+"…")
		if r.code != 0 {
			t.Fatal(r)
		}
		noFullID(t, r, ids)
		for _, secret := range []string{"apple", "tok-"} {
			if strings.Contains(r.stdout, secret) {
				t.Fatalf("show without --reveal prints a value (%q):\n%s", secret, r.stdout)
			}
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		data := out["data"].(map[string]any)
		if data["cart"] != "<masked: list, 1 items>" || data["_permanent"] != true || data["n"] != "<masked: number>" {
			t.Fatalf("masked data: %v", data)
		}

		var exp time.Time
		if err := json.Unmarshal([]byte(`"`+fmt.Sprint(out["expires"])+`"`), &exp); err != nil {
			t.Fatalf("show: expires = %v: %v", out["expires"], err)
		}
		wantExpiry(t, "show", &exp, seeded, m.Options().Lifetime)

		r = cli("show", "--reveal", ids[0])
		if r.code != 0 || strings.Contains(r.stdout, "tok-") || !strings.Contains(r.stdout, `"apple-`) || !strings.Contains(r.stdout, `"n": 7`) {
			t.Fatalf("--reveal shows values but not the CSRF token:\n%s", r)
		}
		r = cli("show", "--reveal-all", "--full-ids", "session:"+ids[0])
		if r.code != 0 || !strings.Contains(r.stdout, `"tok-`) || !strings.Contains(r.stdout, ids[0]) {
			t.Fatalf("--reveal-all --full-ids:\n%s", r)
		}
		dashID := "-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		if err := store.Save(ctx, "session:"+dashID, []byte{0x81, 0xa1, 'a', 0x01}, time.Hour); err != nil {
			t.Fatal(err)
		}
		r = cli("show", dashID, "--reveal")
		if r.code != 0 || !strings.Contains(r.stdout, `"a": 1`) {
			t.Fatalf("show of an id starting with '-': %s", r)
		}
		if r := cli("rm", "--", dashID); r.code != 0 {
			t.Fatalf("rm -- ID: %s", r)
		}
		r = cli("show", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		if r.code != 1 || !strings.Contains(r.stderr, "no session AAAAAAAAAAAA…") {
			t.Fatalf("unknown id: %s", r)
		}
	})

	t.Run("stats", func(t *testing.T) {
		var bytes int
		for _, id := range ids {
			data, _, _ := store.Load(ctx, "session:"+id)
			bytes += len(data)
		}
		r := runCLI(t, bin, append(env, "GINSESSION_PROGRESS_AFTER=0"), "--env-file", envFile, "stats", "--json")
		var st struct {
			Backend         string
			Sessions, Bytes int
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
			t.Fatalf("stats: %v %s", err, r)
		}
		if st.Backend != "filesystem" || st.Sessions != 5 || st.Bytes != bytes {
			t.Fatalf("stats = %+v, want 5 sessions, %d bytes", st, bytes)
		}
		if !strings.Contains(r.stderr, "reading sessions: done, 5 of 5") {
			t.Fatalf("no progress line on stderr:\n%s", r.stderr)
		}
		if r := cli("stats"); strings.Contains(r.stderr, "reading sessions") {
			t.Fatalf("a fast scan prints progress:\n%s", r.stderr)
		}
	})

	t.Run("rm", func(t *testing.T) {
		r := cli("rm", ids[4])
		if r.code != 0 || !strings.Contains(r.stdout, "deleted session "+ids[4][:12]+"…") {
			t.Fatal(r)
		}
		noFullID(t, r, ids)
		if _, found, err := store.Load(ctx, "session:"+ids[4]); found || err != nil {
			t.Fatalf("rm left the session: %v %v", found, err)
		}
		for _, id := range ids[:4] {
			if _, found, err := store.Load(ctx, "session:"+id); !found || err != nil {
				t.Fatalf("rm removed another session: %v %v", found, err)
			}
		}
		if r := cli("rm", ids[4]); r.code != 1 || !strings.Contains(r.stderr, "no session") {
			t.Fatalf("rm of a missing session: %s", r)
		}
	})

	t.Run("cleanup", func(t *testing.T) {
		if err := store.Save(ctx, "session:expiring-soon", []byte{0x80}, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let it expire; nothing is asserted about time
		r := cli("cleanup")
		if r.code != 0 || r.stdout != "removed 1 expired sessions from the filesystem store\n" {
			t.Fatal(r)
		}
		if r := cli("stats", "--json"); !strings.Contains(r.stdout, `"sessions": 4`) {
			t.Fatalf("cleanup removed live sessions: %s", r)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		testRevoke(t, m, func(args ...string) result { return cli(args...) })
	})
}

// testRevoke revokes u0 through the command and checks that u0 has no
// session left and u1 lost none.
func testRevoke(t *testing.T, m *ginsession.Middleware, cli func(...string) result) {
	t.Helper()
	ctx := context.Background()
	u0, err := m.UserSessions(ctx, "u0")
	if err != nil || len(u0) == 0 {
		t.Fatalf("u0 has no sessions to revoke: %v", err)
	}
	u1, _ := m.UserSessions(ctx, "u1")
	r := cli("revoke", "u0")
	if r.code != 0 || r.stdout != fmt.Sprintf("revoked %d sessions of user \"u0\"\n", len(u0)) {
		t.Fatalf("revoke: %s", r)
	}
	if left, _ := m.UserSessions(ctx, "u0"); len(left) != 0 {
		t.Fatalf("u0 still has %d sessions", len(left))
	}
	for _, id := range u0 {
		if _, found, _ := m.Store().Load(ctx, m.Options().KeyPrefix+id); found {
			t.Fatal("a revoked session is still stored")
		}
	}
	if after, _ := m.UserSessions(ctx, "u1"); len(after) != len(u1) {
		t.Fatalf("u1 had %d sessions, has %d after revoking u0", len(u1), len(after))
	}
	if r := cli("revoke", "--json", "u0"); r.code != 0 || !strings.Contains(r.stdout, `"revoked": 0`) {
		t.Fatalf("revoke again: %s", r)
	}
}

func TestRedis(t *testing.T) {
	bin := buildCLI(t)
	srv := testserver.SharedRedis(t)
	prefix := "clitest:" + strings.ReplaceAll(t.Name(), "/", "_") + ":"
	url := "redis://" + srv.Addr + "/0"
	seeded := time.Now()
	m, ids := seed(t, ginsession.Options{Type: "redis", Redis: url, KeyPrefix: prefix}, 3)
	env := []string{"SESSION_TYPE=redis", "SESSION_REDIS=" + url, "SESSION_KEY_PREFIX=" + prefix}

	r := runCLI(t, bin, env, "ls")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 {
		t.Fatalf("ls: %s", r)
	}
	noFullID(t, r, ids)
	checkLsExpiries(t, func(args ...string) result { return runCLI(t, bin, env, args...) }, 3, seeded, m.Options().Lifetime)

	// A session some other writer stored without a TTL: its expiry is
	// unknown, "-" and null.
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	data, _, err := m.Store().Load(context.Background(), prefix+ids[0])
	if err != nil {
		t.Fatal(err)
	}
	const forever = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" // sorts last
	if err := rc.Set(context.Background(), prefix+forever, data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, bin, env, "ls", "--offset", "3")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 2 || !regexp.MustCompile(`^zzzzzzzzzzzz… +\d+ +- +u\d$`).MatchString(lines[1]) {
		t.Fatalf("ls of a session without a TTL: want \"-\" in its EXPIRES column:\n%s", r)
	}
	r = runCLI(t, bin, env, "ls", "--offset", "3", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"expires": null`) {
		t.Fatalf("ls --json of a session without a TTL: want \"expires\": null:\n%s", r)
	}
	rc.Del(context.Background(), prefix+forever)
	r = runCLI(t, bin, env, "show", "--reveal", ids[1][:10])
	if r.code != 0 || !strings.Contains(r.stdout, `"backend": "redis"`) || !strings.Contains(r.stdout, `"apple-`) {
		t.Fatalf("show: %s", r)
	}
	r = runCLI(t, bin, env, "rm", ids[1])
	if _, found, err := m.Store().Load(context.Background(), prefix+ids[1]); r.code != 0 || found || err != nil {
		t.Fatalf("rm: %s (found %v, %v)", r, found, err)
	}
	r = runCLI(t, bin, env, "stats")
	if r.code != 0 || !strings.Contains(r.stdout, "sessions: 2\n") || !strings.Contains(r.stdout, "backend:  redis") {
		t.Fatalf("stats: %s", r)
	}
	r = runCLI(t, bin, env, "cleanup")
	if r.code != 0 || !strings.Contains(r.stdout, "redis store expires sessions by itself") {
		t.Fatalf("cleanup: %s", r)
	}
	testRevoke(t, m, func(args ...string) result { return runCLI(t, bin, env, args...) })
	r = runCLI(t, bin, []string{"SESSION_TYPE=redis", "SESSION_REDIS=redis://127.0.0.1:1/0", "SESSION_STORE_TIMEOUT=1s"}, "stats")
	if r.code != 1 {
		t.Fatalf("stats against a dead redis: %s", r)
	}
}

func TestMemcachedCannotList(t *testing.T) {
	bin := buildCLI(t)
	mc := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	env := []string{"SESSION_TYPE=memcached", "SESSION_MEMCACHED=" + mc.Addr}
	for _, sub := range []string{"ls", "stats"} {
		r := runCLI(t, bin, env, sub)
		if r.code != 1 || !strings.Contains(r.stderr, "memcached store cannot list its sessions") {
			t.Fatalf("%s: %s", sub, r)
		}
	}
	r := runCLI(t, bin, env, "cleanup")
	if r.code != 0 || !strings.Contains(r.stdout, "expires sessions by itself") {
		t.Fatalf("cleanup: %s", r)
	}
	r = runCLI(t, bin, env, "revoke", "u0")
	if r.code != 1 || !strings.Contains(r.stderr, "memcached store keeps no index of sessions by user") {
		t.Fatalf("revoke: %s", r)
	}
}

// TestRedisIndexPrefix: with a SESSION_KEY_PREFIX that is a prefix of the
// user indexes' "ginsession-users:" (an empty one becomes the default
// "session:", but "gin" or "ginsession-" are possible), the indexes match
// the same SCAN pattern as the sessions; ls and stats list and count the
// sessions only.
func TestRedisIndexPrefix(t *testing.T) {
	bin := buildCLI(t)
	srv := testserver.SharedRedis(t)
	url := "redis://" + srv.Addr + "/1" // a database of this test's own
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 1})
	defer rc.Close()
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	m, ids := seed(t, ginsession.Options{Type: "redis", Redis: url, KeyPrefix: "gin"}, 4)
	if n, err := rc.Keys(context.Background(), "ginsession-users:gin*").Result(); err != nil || len(n) != 2 {
		t.Fatalf("want the two users' indexes in the database: %q, %v", n, err)
	}
	env := []string{"SESSION_TYPE=redis", "SESSION_REDIS=" + url, "SESSION_KEY_PREFIX=gin"}
	r := runCLI(t, bin, env, "ls", "--json", "--full-ids")
	var page struct {
		Total    int
		Sessions []row
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 {
		t.Fatalf("ls --json: %v\n%s", err, r)
	}
	var got []string
	for _, s := range page.Sessions {
		got = append(got, s.ID)
	}
	if page.Total != 4 || strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("ls lists %d: %q; want the 4 sessions %q only", page.Total, got, ids)
	}
	if r := runCLI(t, bin, env, "stats"); r.code != 0 || !strings.Contains(r.stdout, "sessions: 4\n") {
		t.Fatalf("stats: %s", r)
	}
	testRevoke(t, m, func(args ...string) result { return runCLI(t, bin, env, args...) })
}
