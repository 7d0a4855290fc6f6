package engine

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ginsession/ginsession/internal/cookie"
)

func cookieSpec() cookie.Spec {
	return cookie.Spec{Name: cookieName, Path: "/", HTTPOnly: true}
}

func TestRoundTripAndCookie(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, nil)
		res := h.do("", func(r *Request) {
			if !r.IsNew() {
				t.Error("first request: IsNew false")
			}
			r.Set("user", "ada")
			r.Set("n", int64(7))
		})
		if res.err != nil {
			t.Fatal(res.err)
		}
		sid, ok := res.setCookie()
		if !ok || len(sid) != 43 || !cookie.ValidID(sid, 32) {
			t.Fatalf("plain=%v: cookie %q", plain, res.header.Values("Set-Cookie"))
		}
		if sid != res.sid {
			t.Errorf("cookie %q, sid %q", sid, res.sid)
		}
		if v := res.header.Get("Vary"); v != "Cookie" {
			t.Errorf("Vary %q", v)
		}
		line := res.cookieLine()
		wantExp := h.clk.now().Add(31 * 24 * time.Hour).Format(http.TimeFormat)
		if !strings.Contains(line, "Expires="+wantExp) {
			t.Errorf("cookie %q lacks Expires=%s", line, wantExp)
		}
		m, ok := h.stored(sid)
		if !ok || m["user"] != "ada" || m["n"] != int64(7) || m[PermanentKey] != true || len(m) != 3 {
			t.Fatalf("stored %v %v", m, ok)
		}
		saves := h.store.saves.Load() + h.store.saveIfs.Load()
		if saves != 1 {
			t.Errorf("%d writes for one new session", saves)
		}

		res = h.do(sid, func(r *Request) {
			if r.IsNew() || r.ID() != sid {
				t.Errorf("second request: new=%v id=%q", r.IsNew(), r.ID())
			}
			if v, ok := r.Get("user"); !ok || v != "ada" {
				t.Errorf("Get user = %v %v", v, ok)
			}
			if _, ok := r.Get("missing"); ok {
				t.Error("Get missing found")
			}
			if !r.Has("n") || r.Has("missing") || r.Has(PermanentKey) != true {
				t.Error("Has")
			}
			if got := r.Keys(); !slices.Equal(got, []string{"user", "n"}) {
				t.Errorf("Keys %v", got)
			}
			if r.Len() != 2 {
				t.Errorf("Len %d", r.Len())
			}
			if !r.Permanent() {
				t.Error("not permanent")
			}
			if v, ok := r.Pop("n"); !ok || v != int64(7) {
				t.Errorf("Pop %v %v", v, ok)
			}
			if _, ok := r.Pop("n"); ok {
				t.Error("second Pop found")
			}
			r.Delete("missing")
			if err := r.Err(); err != nil {
				t.Error(err)
			}
		})
		if res.err != nil {
			t.Fatal(res.err)
		}
		if m, _ := h.stored(sid); len(m) != 2 || m["n"] != nil {
			t.Errorf("after Pop: %v", m)
		}
		if _, ok := res.setCookie(); !ok {
			t.Error("changed permanent session: no cookie")
		}
	}
}

func TestNonPermanentCookieHasNoExpires(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Permanent = false; c.Lifetime = time.Hour })
	res := h.do("", func(r *Request) { r.Set("a", "b") })
	line := res.cookieLine()
	if line == "" || strings.Contains(line, "Expires") {
		t.Fatalf("cookie %q", line)
	}
	sid, _ := res.setCookie()
	if m, _ := h.stored(sid); len(m) != 1 {
		t.Errorf("stored %v (no _permanent expected)", m)
	}
	// Unchanged and not permanent: Flask sends no cookie, but the expiry
	// is still refreshed.
	res = h.do(sid, func(r *Request) {
		if r.Permanent() {
			t.Error("permanent")
		}
		r.Get("a")
	})
	if _, ok := res.setCookie(); ok {
		t.Errorf("unchanged non-permanent session re-sent its cookie: %v", res.header)
	}
	h.clk.add(50 * time.Minute)
	h.do(sid, func(r *Request) { r.Get("a") })
	h.clk.add(50 * time.Minute)
	if _, ok := h.stored(sid); !ok {
		t.Fatal("used non-permanent session was not refreshed")
	}
	// SetPermanent makes it permanent.
	res = h.do(sid, func(r *Request) { r.SetPermanent(true) })
	if !strings.Contains(res.cookieLine(), "Expires=") {
		t.Errorf("SetPermanent(true): cookie %q", res.cookieLine())
	}
	res = h.do(sid, func(r *Request) {
		if !r.Permanent() {
			t.Error("not permanent after SetPermanent(true)")
		}
	})
}

func TestEmptyNewSessionStoresNothing(t *testing.T) {
	h := newHarness(t, false, nil)
	res := h.do("", func(r *Request) {
		r.Get("x")
		r.Set("tmp", "1")
		r.Delete("tmp")
	})
	// Emptied by the handler: nothing stored, the cookie expired (as
	// Flask-Session does even when the client had none).
	if line := res.cookieLine(); res.err != nil || !strings.Contains(line, "Max-Age=0") || h.mem.Len() != 0 {
		t.Fatalf("err=%v header=%v stored=%d", res.err, res.header, h.mem.Len())
	}
	if h.store.saveIfs.Load()+h.store.saves.Load()+h.store.deletes.Load() != 0 {
		t.Error("store called for a new emptied session")
	}
	res = h.do("", func(r *Request) { r.Get("x") })
	if len(res.header.Values("Set-Cookie")) != 0 || res.header.Get("Vary") != "Cookie" {
		t.Errorf("read-only new session: headers %v", res.header)
	}
	// Unused: no header at all.
	res = h.do("", nil)
	if len(res.header) != 0 {
		t.Errorf("unused session: headers %v", res.header)
	}
	if h.store.loads.Load() != 0 {
		t.Errorf("%d loads without a cookie", h.store.loads.Load())
	}
}

func TestClearDeletesAndExpiresCookie(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, nil)
		sid := h.newSession("a", "1")
		res := h.do(sid, func(r *Request) { r.Clear() })
		if res.err != nil {
			t.Fatal(res.err)
		}
		if _, ok := h.stored(sid); ok {
			t.Error("cleared session still stored")
		}
		line := res.cookieLine()
		if !strings.Contains(line, "Expires=Thu, 01 Jan 1970") && !strings.Contains(line, "Max-Age=0") {
			t.Errorf("cleared: cookie %q", line)
		}
		if h.store.deletes.Load() != 1 {
			t.Errorf("%d deletes", h.store.deletes.Load())
		}
		// A new session cleared stores nothing but still expires the cookie.
		res = h.do("", func(r *Request) { r.Set("a", "b"); r.Clear() })
		if res.cookieLine() == "" || h.store.deletes.Load() != 1 {
			t.Errorf("new cleared: cookie %q deletes %d", res.cookieLine(), h.store.deletes.Load())
		}
	}
}

func TestRefreshTouchesUnchangedSession(t *testing.T) {
	// plain: no Toucher, the loaded bytes are rewritten.
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, func(c *Config) { c.Lifetime = time.Hour })
		sid := h.newSession("a", "1")
		before := slices.Clone(h.raw(sid))
		h.clk.add(50 * time.Minute)
		res := h.do(sid, func(r *Request) { r.Get("a") })
		if res.err != nil {
			t.Fatal(res.err)
		}
		if _, ok := res.setCookie(); !ok {
			t.Error("refresh: no cookie")
		}
		if !strings.Contains(res.cookieLine(), h.clk.now().Add(time.Hour).Format(http.TimeFormat)) {
			t.Errorf("refresh: cookie %q", res.cookieLine())
		}
		h.clk.add(50 * time.Minute) // 100 min after creation, 50 after the refresh
		if _, ok := h.stored(sid); !ok {
			t.Fatalf("plain=%v: refreshed session expired at its first deadline", plain)
		}
		if !bytes.Equal(h.raw(sid), before) {
			t.Error("refresh changed the stored bytes")
		}
		if plain && h.store.saves.Load() != 2 {
			t.Errorf("plain: %d saves, want create + rewrite", h.store.saves.Load())
		}
	}
}

func TestNoRefreshLeavesUnchangedSessionAlone(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, func(c *Config) { c.Lifetime = time.Hour; c.Refresh = false })
		sid := h.newSession("a", "1")
		h.clk.add(50 * time.Minute)
		res := h.do(sid, func(r *Request) { r.Get("a") })
		if _, ok := res.setCookie(); ok || res.err != nil {
			t.Errorf("no refresh: cookie %v err %v", res.header, res.err)
		}
		if n := h.store.touches.Load() + h.store.saves.Load() + h.store.saveIfs.Load(); n != 1 {
			t.Errorf("%d writes", n)
		}
		h.clk.add(11 * time.Minute)
		if _, ok := h.stored(sid); ok {
			t.Error("session outlived its lifetime without refresh")
		}
		// A change still sets the cookie.
		sid = h.newSession("a", "1")
		res = h.do(sid, func(r *Request) { r.Set("a", "2") })
		if _, ok := res.setCookie(); !ok {
			t.Error("changed session without refresh: no cookie")
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Refresh = false; c.Idle = 10 * time.Minute })
	sid := h.newSession("a", "1")
	h.clk.add(9 * time.Minute)
	res := h.do(sid, func(r *Request) { r.Get("a") })
	if res.err != nil {
		t.Fatal(res.err)
	}
	h.clk.add(9 * time.Minute) // 18 min after creation, 9 after use
	if _, ok := h.stored(sid); !ok {
		t.Fatal("session in use timed out")
	}
	h.clk.add(2 * time.Minute)
	if _, ok := h.stored(sid); ok {
		t.Fatal("idle session did not time out")
	}
	// Lifetime shorter than the idle timeout wins.
	h2 := newHarness(t, false, func(c *Config) { c.Lifetime = 5 * time.Minute; c.Idle = time.Hour })
	sid = h2.newSession("a", "1")
	h2.clk.add(6 * time.Minute)
	if _, ok := h2.stored(sid); ok {
		t.Error("ttl not min(Lifetime, Idle)")
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, func(c *Config) { c.Lifetime = time.Hour; c.Absolute = 90 * time.Minute })
		created := h.clk.now()
		res := h.do("", func(r *Request) {
			r.Set("a", "1")
			if r.Len() != 1 || slices.Contains(r.Keys(), CreatedKey) {
				t.Errorf("keys %v", r.Keys())
			}
		})
		sid, _ := res.setCookie()
		m, _ := h.stored(sid)
		if m[CreatedKey] != created.Unix() {
			t.Fatalf("created %v, want %d", m[CreatedKey], created.Unix())
		}
		if !strings.Contains(res.cookieLine(), created.Add(time.Hour).Format(http.TimeFormat)) {
			t.Errorf("cookie %q", res.cookieLine())
		}
		h.clk.add(50 * time.Minute)
		res = h.do(sid, func(r *Request) {
			r.Get("a")
			if c, ok := r.Created(); !ok || !c.Equal(created) {
				t.Errorf("Created %v %v", c, ok)
			}
		})
		// The refresh is cut at the deadline: cookie and store.
		if !strings.Contains(res.cookieLine(), created.Add(90*time.Minute).Format(http.TimeFormat)) {
			t.Errorf("cookie not cut at the deadline: %q", res.cookieLine())
		}
		h.clk.add(39*time.Minute + 59*time.Second) // one second before the deadline
		res = h.do(sid, func(r *Request) {
			if r.IsNew() {
				t.Error("session ended a second before its deadline")
			}
		})
		data := h.raw(sid)
		h.clk.add(time.Second) // exactly at the deadline
		// Hide the store's own expiry: the engine's check must end it.
		_ = h.mem.Save(t.Context(), h.e.Key(sid), data, time.Hour)
		res = h.do(sid, func(r *Request) {
			if !r.IsNew() || r.Has("a") {
				t.Errorf("plain=%v: session at its absolute deadline was kept", plain)
			}
		})
		if _, ok := h.stored(sid); ok {
			t.Error("expired session not deleted")
		}
	}
}

func TestAbsoluteLifetimeStampsOldSessions(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1") // stored without a creation time
	h.e.cfg.Absolute = time.Hour
	h.clk.add(10 * time.Minute)
	res := h.do(sid, func(r *Request) { r.Get("a") })
	if res.err != nil {
		t.Fatal(res.err)
	}
	m, _ := h.stored(sid)
	if m[CreatedKey] != h.clk.now().Unix() {
		t.Fatalf("not stamped: %v", m)
	}
	// A creation time that is not a number ends the session.
	bad := h.newSession("a", "1", CreatedKey, "yesterday")
	res = h.do(bad, func(r *Request) {
		if !r.IsNew() {
			t.Error("session with a non-numeric creation time kept")
		}
	})
	// A float creation time counts.
	f := h.newSession("a", "1", CreatedKey, float64(h.clk.now().Unix()))
	h.do(f, func(r *Request) {
		if r.IsNew() {
			t.Error("float creation time rejected")
		}
	})
}

func TestFlashMatchesFlask(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Permanent = false })
	res := h.do("", func(r *Request) {
		r.Flash("message", "hi")
		r.Flash("error", "bad")
	})
	sid, _ := res.setCookie()
	// Flask: {"_flashes": [("message", "hi"), ("error", "bad")]}
	want := []byte("\x81\xa8_flashes\x92\x92\xa7message\xa2hi\x92\xa5error\xa3bad")
	if got := h.raw(sid); !bytes.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	res = h.do(sid, func(r *Request) {
		got := r.Flashes("error")
		if len(got) != 1 || got[0] != (FlashMessage{Category: "error", Message: "bad"}) {
			t.Errorf("Flashes(error) = %v", got)
		}
		if r.Flashes() != nil {
			t.Error("second Flashes not empty")
		}
	})
	if _, ok := h.stored(sid); ok {
		t.Error("flashes read but session still stored")
	}
	sid = h.newSession("x", "y")
	h.do(sid, func(r *Request) { r.Flash("message", "one") })
	h.do(sid, func(r *Request) { r.Flash("info", "two") })
	h.do(sid, func(r *Request) {
		got := r.Flashes()
		want := []FlashMessage{{"message", "one"}, {"info", "two"}}
		if !slices.Equal(got, want) {
			t.Errorf("Flashes = %v", got)
		}
	})
	// Malformed items are skipped.
	sid = h.newSession(FlashesKey, []any{[]any{"a"}, "x", []any{"c", "m"}})
	h.do(sid, func(r *Request) {
		if got := r.Flashes(); !slices.Equal(got, []FlashMessage{{"c", "m"}}) {
			t.Errorf("Flashes = %v", got)
		}
	})
	// Invalid UTF-8 is repaired.
	h.do("", func(r *Request) {
		r.Flash("m\xff", "a\xe0\x80b")
		got := r.Flashes()
		if len(got) != 1 || got[0].Category != "m\uFFFD" || got[0].Message != "a\uFFFD\uFFFDb" {
			t.Errorf("repaired %q", got)
		}
	})
}

func TestDestroyKillsTheID(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, nil)
		sid := h.newSession("user", "ada")
		res := h.do(sid, func(r *Request) { r.Destroy() })
		if _, ok := h.stored(sid); ok {
			t.Fatalf("plain=%v: Destroy left the stored session", plain)
		}
		if line := res.cookieLine(); !strings.Contains(line, "Max-Age=0") && !strings.Contains(line, "1970") {
			t.Errorf("Destroy: cookie %q", line)
		}
		sid = h.newSession("user", "ada")
		res = h.do(sid, func(r *Request) {
			r.Destroy()
			if r.ID() == sid || r.Has("user") {
				t.Error("Destroy kept the id or the data")
			}
			r.Set("msg", "bye")
		})
		nsid, ok := res.setCookie()
		if !ok || nsid == sid {
			t.Fatalf("Destroy then Set: cookie %q", nsid)
		}
		if _, ok := h.stored(sid); ok {
			t.Error("old id still stored")
		}
		if m, _ := h.stored(nsid); m["msg"] != "bye" || m["user"] != nil {
			t.Errorf("new session %v", m)
		}
	}
}

func TestRegenerate(t *testing.T) {
	for _, plain := range []bool{false, true} {
		h := newHarness(t, plain, nil)
		sid := h.newSession("user", "ada")
		res := h.do(sid, func(r *Request) {
			if err := r.Regenerate(); err != nil {
				t.Fatal(err)
			}
			if r.ID() == sid || !r.IsNew() {
				t.Error("same id after Regenerate")
			}
		})
		nsid, _ := res.setCookie()
		if nsid == "" || nsid == sid || res.err != nil {
			t.Fatalf("cookie %q err %v", nsid, res.err)
		}
		if _, ok := h.stored(sid); ok {
			t.Error("old id kept")
		}
		if m, _ := h.stored(nsid); m["user"] != "ada" {
			t.Errorf("data lost: %v", m)
		}
		// The old cookie now starts a new session.
		h.do(sid, func(r *Request) {
			if !r.IsNew() {
				t.Error("old id still works")
			}
		})
		// A new empty session: nothing to do.
		res = h.do("", func(r *Request) {
			id := r.ID()
			if err := r.Regenerate(); err != nil || r.ID() != id {
				t.Errorf("Regenerate on a new empty session: %v", err)
			}
		})
		if len(res.header.Values("Set-Cookie")) != 0 {
			t.Error("cookie for an empty session")
		}
	}
}

func TestEndedRequest(t *testing.T) {
	h := newHarness(t, false, nil)
	sid := h.newSession("a", "1")
	r := h.start(sid)
	r.Get("a")
	r.End()
	r.Set("a", "2")
	r.Delete("a")
	r.Clear()
	r.Flash("m", "x")
	if r.Flashes() != nil {
		t.Error("Flashes after End")
	}
	if _, ok := r.Pop("a"); ok {
		t.Error("Pop after End")
	}
	if v, _ := r.Get("a"); v != "1" {
		t.Errorf("read after End: %v", v)
	}
	if err := r.Save(); !errors.Is(err, ErrEnded) {
		t.Errorf("Save after End: %v", err)
	}
	if err := r.Regenerate(); !errors.Is(err, ErrEnded) {
		t.Errorf("Regenerate after End: %v", err)
	}
	if m, _ := h.stored(sid); m["a"] != "1" {
		t.Errorf("stored %v", m)
	}
	// Never used before it ended.
	r = h.start(sid)
	r.End()
	if err := r.Err(); !errors.Is(err, ErrEnded) {
		t.Errorf("Err = %v", err)
	}
	// Ended with nothing loaded and nothing pending: Save has nothing to do.
	r = h.start("")
	r.End()
	if err := r.Save(); err != nil {
		t.Errorf("Save of an unused ended request = %v", err)
	}
}

func TestSaveThenCommit(t *testing.T) {
	h := newHarness(t, false, nil)
	r := h.start("")
	r.Set("a", "1")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	sid := r.ID()
	if m, ok := h.stored(sid); !ok || m["a"] != "1" {
		t.Fatalf("Save did not store: %v", m)
	}
	if err := r.Save(); err != nil || h.store.saveIfs.Load() != 1 {
		t.Errorf("second Save wrote again: %v, %d", err, h.store.saveIfs.Load())
	}
	r.Set("b", "2")
	if err := r.CommitBeforeSend(); err != nil {
		t.Fatal(err)
	}
	if !r.Sent() {
		t.Error("not sent after CommitBeforeSend")
	}
	if m, _ := h.stored(sid); m["b"] != "2" {
		t.Errorf("stored %v", m)
	}
	// After the headers: a change of an existing session is still saved...
	r.Set("c", "3")
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if m, _ := h.stored(sid); m["c"] != "3" {
		t.Errorf("stored %v", m)
	}
	// ...but a new id cannot be delivered.
	r2 := h.start("")
	r2.MarkSent()
	r2.Set("a", "1")
	if err := r2.Commit(); !errors.Is(err, ErrNotEncodable) {
		t.Errorf("new session after the headers: %v", err)
	}
}
