package app_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/internal/testserver"

	_ "github.com/ginsession/ginsession/backends/redisstore" // SESSION_TYPE=redis
)

// Horizontal scaling: two instances of the app, each with its own
// middleware and its own connection to the store, behind two ports, see the
// same sessions. A browser's cookie jar sends the session cookie to both
// (cookies are per host, not per port), as a load balancer would.
func testScaling(t *testing.T, opts ginsession.Options) {
	a := startApp(t, opts)
	b := startApp(t, opts)
	if a.srv.URL == b.srv.URL {
		t.Fatal("both instances on one address")
	}
	br := newBrowser(t, a.srv.URL)
	on := func(in *instance) *browser { br.base = in.srv.URL; return br }

	// Log in on A, see the dashboard on B.
	on(a).login()
	sid := br.sid()
	signed := br.cookie()
	expect(t, on(b).get("/dashboard"), http.StatusOK, "Welcome", "Logged in as "+testUser+".")
	// The variable the dashboard set on B is read on A.
	expect(t, on(a).get("/session"), http.StatusOK, `<span id="value">This is a session variable.</span>`)

	// Add to the cart on B (with the token A rendered), see it on A.
	if p := on(b).post("/cart/add", url.Values{"item": {"apples"}}); p.status != http.StatusSeeOther {
		t.Fatalf("add on B: %d\n%s", p.status, p.body)
	}
	if p := on(a).post("/cart/add", url.Values{"item": {"pears"}}); p.status != http.StatusSeeOther {
		t.Fatalf("add on A: %d\n%s", p.status, p.body)
	}
	expect(t, on(a).get("/cart"), http.StatusOK, `<span class="item">apples`, `<span class="item">pears`)
	if p := on(b).post("/cart/remove", url.Values{"index": {"0"}, "item": {"apples"}}); p.status != http.StatusSeeOther {
		t.Fatalf("remove on B: %d", p.status)
	}
	p := on(a).get("/cart")
	expect(t, p, http.StatusOK, `<span class="item">pears`, "Removed apples from the cart.")
	if p.has(`<span class="item">apples`) {
		t.Fatal("A still shows the item removed on B")
	}
	if br.sid() != sid {
		t.Fatal("the session id changed between instances")
	}

	// Log out on B: gone for A too, and from the store both use.
	if p := on(b).post("/logout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("logout on B: %d", p.status)
	}
	if a.stored(t, sid) || b.stored(t, sid) {
		t.Fatal("the session is still in the store after logout")
	}
	br.c.Jar.SetCookies(mustURL(t, a.srv.URL), []*http.Cookie{{Name: "session", Value: signed, Path: "/"}}) // a replayed old cookie
	if p := on(a).get("/dashboard"); p.status != http.StatusSeeOther {
		t.Fatalf("A accepts the logged-out session: %d", p.status)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestScalingFilesystem(t *testing.T) {
	t.Parallel()
	testScaling(t, fileOptions(t.TempDir()))
}

func TestScalingRedis(t *testing.T) {
	t.Parallel()
	srv := testserver.SharedRedis(t)
	opts := ginsession.Options{
		Type:      "redis",
		Redis:     "redis://" + srv.Addr + "/0",
		KeyPrefix: "example-scaling-" + rand.Text() + ":", // isolated from other users of the shared server
		SecretKey: testSecret,
		UseSigner: true,
		Logger:    quiet,
	}
	testScaling(t, opts)
}

// TestScalingDynamoDB runs the example with SESSION_TYPE=dynamodb against
// dynalite, configured as a deployment would be: SESSION_DYNAMODB and
// SESSION_DYNAMODB_TABLE, region and credentials from the AWS environment.
// Not parallel: it sets the AWS variables of the process.
func TestScalingDynamoDB(t *testing.T) {
	srv := testserver.SharedDynalite(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env := map[string]string{
		"SESSION_TYPE":           "dynamodb",
		"SESSION_DYNAMODB":       srv.Endpoint,
		"SESSION_DYNAMODB_TABLE": "example_" + strings.ToLower(rand.Text()[:10]),
		"SECRET_KEY":             testSecret,
		"SESSION_USE_SIGNER":     "true",
	}
	opts, err := ginsession.OptionsFromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "")
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = quiet
	testScaling(t, opts)
}
