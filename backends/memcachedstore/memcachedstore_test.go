package memcachedstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// newClient returns a client on addrs with the settings Open uses.
func newClient(addrs ...string) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = DefaultTimeout
	c.MaxIdleConns = DefaultMaxIdleConns
	return c
}

// TestStoretest runs the conformance suite with one client whose
// ServerList holds two real servers, as the brief asks.
func TestStoretest(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	client := newClient(g.Addrs()...)
	t.Cleanup(func() { _ = client.Close() })
	storetest.Run(t, func(t *testing.T) backends.Store {
		return New(client, Options{})
	}, storetest.Options{Granularity: time.Second, MaxValueSize: DefaultMaxValueSize})
}

// TestStoretestOpen runs the suite on stores that own their client (Open,
// as the SESSION_TYPE factory builds them).
func TestStoretestOpen(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	storetest.Run(t, func(t *testing.T) backends.Store {
		s, err := Open(ctxT(t), g.Addrs(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storetest.Options{Granularity: time.Second, MaxValueSize: DefaultMaxValueSize})
}

// TestKeysSpreadOverServers checks that one client with two servers puts
// each key on exactly one of them and uses both.
func TestKeysSpreadOverServers(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	s := New(newClient(g.Addrs()...), Options{})
	const n = 200
	for i := range n {
		if err := s.Save(ctxT(t), fmt.Sprintf("session:spread-%d", i), []byte(strconv.Itoa(i)), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var counts [2]int
	for i := range n {
		key := fmt.Sprintf("session:spread-%d", i)
		on := 0
		for j, addr := range g.Addrs() {
			it, err := newClient(addr).Get(key)
			if errors.Is(err, memcache.ErrCacheMiss) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(it.Value) != strconv.Itoa(i) {
				t.Fatalf("%s on %s = %q", key, addr, it.Value)
			}
			counts[j]++
			on++
		}
		if on != 1 {
			t.Fatalf("%s is on %d servers; want 1", key, on)
		}
	}
	if counts[0] < n/4 || counts[1] < n/4 {
		t.Fatalf("keys per server = %v; want both servers used", counts)
	}
	t.Logf("keys per server: %v", counts)
}

// recorder is a TCP proxy between the client and a real server that
// records every byte in both directions (before forwarding them, so a
// call's bytes are recorded by the time the call returns).
type recorder struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	sent     []byte // client → server
	recv     []byte // server → client
	conns    []net.Conn
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, upstream: upstream}
	go r.serve()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			c.Close()
		}
	})
	return r
}

func (r *recorder) Addr() string { return r.ln.Addr().String() }

func (r *recorder) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.upstream)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		r.mu.Unlock()
		go r.pipe(c, u, &r.sent)
		go r.pipe(u, c, &r.recv)
	}
}

func (r *recorder) pipe(from, to net.Conn, log *[]byte) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			r.mu.Lock()
			*log = append(*log, buf[:n]...)
			r.mu.Unlock()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// take returns and forgets what was recorded so far.
func (r *recorder) take() (sent, recv []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent, recv = r.sent, r.recv
	r.sent, r.recv = nil, nil
	return sent, recv
}

// raw sends one command on a fresh connection and returns the response:
// the first line and, for VALUE/VA answers, the data block.
func raw(t *testing.T, addr, cmd string) (line string, data []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err = r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	f := strings.Fields(line)
	var size int
	switch {
	case len(f) >= 4 && f[0] == "VALUE":
		size, _ = strconv.Atoi(f[3])
	case len(f) >= 2 && f[0] == "VA":
		size, _ = strconv.Atoi(f[1])
	default:
		return line, nil
	}
	data = make([]byte, size+2)
	if _, err := io.ReadFull(r, data); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return line, data[:size]
}

type memcachedVector struct {
	LifetimeSeconds        int64    `json:"lifetime_seconds"`
	RequestUnixTimeBounds  [2]int64 `json:"request_unix_time_bounds"`
	Key                    string   `json:"key"`
	WireSetCommandLine     string   `json:"wire_set_command_line"`
	WireFullHex            string   `json:"wire_full_hex"`
	Flags                  int      `json:"flags"`
	ExptimeSent            int64    `json:"exptime_sent"`
	ExptimeKind            string   `json:"exptime_kind"`
	ExptimeMinusRequestTim *int64   `json:"exptime_minus_request_time"`
	Noreply                bool     `json:"noreply"`
	ValueLen               int      `json:"value_len"`
	ValueHex               string   `json:"value_hex"`
	MetaGetResponseLine    string   `json:"meta_get_response_line"`
	GetResponseHeader      string   `json:"get_response_header"`
}

func loadVectors(t *testing.T) []memcachedVector {
	t.Helper()
	b, err := os.ReadFile("../../testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Memcached struct {
			Vectors []memcachedVector `json:"vectors"`
		} `json:"memcached"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Memcached.Vectors) != 4 {
		t.Fatalf("want 4 memcached vectors, got %d", len(doc.Memcached.Vectors))
	}
	return doc.Memcached.Vectors
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setExptime parses the exptime of a recorded "set <key> <flags> <exptime> <len>" line.
func setLine(t *testing.T, sent []byte) (line string, exptime int64) {
	t.Helper()
	line, _, ok := strings.Cut(string(sent), "\r\n")
	if !ok {
		t.Fatalf("no command line in %q", sent)
	}
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "set" || f[2] != "0" {
		t.Fatalf("sent %q; want `set <key> 0 <exptime> <len>`", line)
	}
	exptime, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return line, exptime
}

// TestFlaskVectors writes the four sessions of the memcached vectors and
// compares what goes over the wire with what Flask-Session (pymemcache)
// sent, then reads them back from the server as Flask-Session would.
func TestFlaskVectors(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	rec := newRecorder(t, srv.Addr)
	client := newClient(rec.Addr())
	for _, v := range loadVectors(t) {
		t.Run(strconv.FormatInt(v.LifetimeSeconds, 10), func(t *testing.T) {
			value := mustHex(t, v.ValueHex)
			ttl := time.Duration(v.LifetimeSeconds) * time.Second
			absolute := strings.HasPrefix(v.ExptimeKind, "absolute")
			if absolute != (v.LifetimeSeconds > 2592000) {
				t.Fatalf("vector kind %q for lifetime %d", v.ExptimeKind, v.LifetimeSeconds)
			}

			// 1. With the clock frozen at the vector's request time the
			// bytes are Flask's, minus pymemcache's " noreply" (gomemcache
			// always waits for the reply).
			frozen := time.Unix(v.RequestUnixTimeBounds[0], 0)
			s := New(client, Options{Now: func() time.Time { return frozen }})
			rec.take()
			if err := s.Save(ctxT(t), v.Key, value, ttl); err != nil {
				t.Fatal(err)
			}
			sent, recv := rec.take()
			wantLine := strings.TrimSuffix(v.WireSetCommandLine, " noreply")
			want := bytes.Replace(mustHex(t, v.WireFullHex), []byte(" noreply\r\n"), []byte("\r\n"), 1)
			if !bytes.Equal(sent, want) {
				t.Fatalf("wire bytes\n got %q\nwant %q", sent, want)
			}
			line, exp := setLine(t, sent)
			if line != wantLine || exp != v.ExptimeSent {
				t.Fatalf("set line %q; want %q", line, wantLine)
			}
			if string(recv) != "STORED\r\n" {
				t.Fatalf("server answered %q", recv)
			}

			// 2. With the real clock: same kind of exptime, and the server
			// holds the item for the lifetime.
			s = New(client, Options{})
			before := time.Now().Unix()
			if err := s.Save(ctxT(t), v.Key, value, ttl); err != nil {
				t.Fatal(err)
			}
			after := time.Now().Unix()
			sent, _ = rec.take()
			_, exp = setLine(t, sent)
			if absolute {
				if exp < before+v.LifetimeSeconds || exp > after+v.LifetimeSeconds {
					t.Fatalf("exptime %d; want absolute now+%d in [%d, %d]", exp, v.LifetimeSeconds, before+v.LifetimeSeconds, after+v.LifetimeSeconds)
				}
			} else if exp != v.LifetimeSeconds {
				t.Fatalf("exptime %d; want relative %d", exp, v.LifetimeSeconds)
			}

			gotLine, data := raw(t, srv.Addr, "get "+v.Key)
			if gotLine != v.GetResponseHeader || !bytes.Equal(data, value) {
				t.Fatalf("get: %q %x; want %q %s", gotLine, data, v.GetResponseHeader, v.ValueHex)
			}
			mg, data := raw(t, srv.Addr, "mg "+v.Key+" f t s v")
			var size, ttlLeft, size2 int
			var flags int
			if _, err := fmt.Sscanf(mg, "VA %d f%d t%d s%d", &size, &flags, &ttlLeft, &size2); err != nil {
				t.Fatalf("mg: %q: %v", mg, err)
			}
			if size != v.ValueLen || flags != 0 || size2 != v.ValueLen || !bytes.Equal(data, value) {
				t.Fatalf("mg = %q; want like %q", mg, v.MetaGetResponseLine)
			}
			// The vector's remaining ttl is lifetime or lifetime-1; the
			// server's clock ticks once a second and may lag the client's,
			// so an absolute exptime can also show lifetime+1.
			if ttlLeft > int(v.LifetimeSeconds)+1 || ttlLeft < int(v.LifetimeSeconds)-3 {
				t.Fatalf("remaining ttl %d (%q); want about %d like %q", ttlLeft, mg, v.LifetimeSeconds, v.MetaGetResponseLine)
			}
			got, found, err := s.Load(ctxT(t), v.Key)
			if err != nil || !found || !bytes.Equal(got, value) {
				t.Fatalf("Load = %x, %v, %v", got, found, err)
			}
		})
	}
}

// TestWireCommands pins the command each method sends: one round trip
// each, and Touch never resends the value.
func TestWireCommands(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	rec := newRecorder(t, srv.Addr)
	s := New(newClient(rec.Addr()), Options{})
	key := "session:wire"
	steps := []struct {
		name     string
		call     func() error
		sent     string
		received string
	}{
		{"Load missing", func() error { _, _, err := s.Load(ctxT(t), key); return err }, "gets session:wire\r\n", "END\r\n"},
		{"SaveIf nil", func() error { return s.SaveIf(ctxT(t), key, []byte("v1"), nil, time.Hour) }, "add session:wire 0 3600 2\r\nv1\r\n", "STORED\r\n"},
		{"Touch", func() error { return s.Touch(ctxT(t), key, 2*time.Hour) }, "touch session:wire 7200\r\n", "TOUCHED\r\n"},
		{"Touch missing", func() error { return s.Touch(ctxT(t), key+"x", time.Hour) }, "touch session:wirex 3600\r\n", "NOT_FOUND\r\n"},
		{"Save", func() error { return s.Save(ctxT(t), key, []byte("v2"), 90700*time.Millisecond) }, "set session:wire 0 90 2\r\nv2\r\n", "STORED\r\n"},
		{"Delete", func() error { return s.Delete(ctxT(t), key) }, "delete session:wire\r\n", "DELETED\r\n"},
		{"Delete missing", func() error { return s.Delete(ctxT(t), key) }, "delete session:wire\r\n", "NOT_FOUND\r\n"},
	}
	rec.take()
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		sent, recv := rec.take()
		if string(sent) != st.sent || string(recv) != st.received {
			t.Fatalf("%s: sent %q received %q; want %q / %q", st.name, sent, recv, st.sent, st.received)
		}
	}

	// LoadVersion without refresh is one gets; its version is the CAS
	// unique, which SaveIf sends back in a cas command.
	if err := s.Save(ctxT(t), key, []byte("v3"), time.Hour); err != nil {
		t.Fatal(err)
	}
	rec.take()
	r, err := s.LoadVersion(ctxT(t), key, 0)
	if err != nil || !r.Found || r.Refreshed {
		t.Fatalf("LoadVersion = %+v, %v", r, err)
	}
	sent, recv := rec.take()
	var cas uint64
	if _, err := fmt.Sscanf(string(recv), "VALUE session:wire 0 2 %d\r\n", &cas); string(sent) != "gets session:wire\r\n" || err != nil {
		t.Fatalf("LoadVersion sent %q received %q", sent, recv)
	}
	if err := s.SaveIf(ctxT(t), key, []byte("v4"), r.Version, time.Hour); err != nil {
		t.Fatal(err)
	}
	sent, recv = rec.take()
	if want := fmt.Sprintf("cas session:wire 0 3600 2 %d\r\nv4\r\n", cas); string(sent) != want || string(recv) != "STORED\r\n" {
		t.Fatalf("SaveIf sent %q received %q; want %q", sent, recv, want)
	}
	if err := s.SaveIf(ctxT(t), key, []byte("v5"), r.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale SaveIf = %v; want ErrConflict", err)
	}
	if _, recv = rec.take(); string(recv) != "EXISTS\r\n" {
		t.Fatalf("stale cas answered %q", recv)
	}

	// LoadVersion with refresh is one gat: the value and the new expiry in
	// one round trip, reported as Refreshed.
	r, err = s.LoadVersion(ctxT(t), key, 2*time.Hour)
	if err != nil || !r.Found || !r.Refreshed || string(r.Data) != "v4" {
		t.Fatalf("LoadVersion with refresh = %+v, %v", r, err)
	}
	if sent, recv = rec.take(); string(sent) != "gat 7200 session:wire\r\n" || string(recv) != "VALUE session:wire 0 2\r\nv4\r\nEND\r\n" {
		t.Fatalf("LoadVersion with refresh sent %q received %q", sent, recv)
	}
	var left int
	if line, _ := raw(t, srv.Addr, "mg "+key+" t"); func() bool { _, err := fmt.Sscanf(line, "HD t%d", &left); return err != nil }() || left < 7190 || left > 7200 {
		t.Fatalf("remaining ttl after gat: %q; want about 7200", line)
	}
	// Its version is the content: SaveIf reads the CAS unique with gets,
	// compares the bytes, then sends cas.
	if err := s.SaveIf(ctxT(t), key, []byte("v6"), r.Version, time.Hour); err != nil {
		t.Fatal(err)
	}
	sent, recv = rec.take()
	head, rest, _ := strings.Cut(string(recv), "\r\n")
	if _, err := fmt.Sscanf(head, "VALUE session:wire 0 2 %d", &cas); err != nil || rest != "v4\r\nEND\r\nSTORED\r\n" {
		t.Fatalf("SaveIf (content version) received %q: %v", recv, err)
	}
	if want := fmt.Sprintf("gets session:wire\r\ncas session:wire 0 3600 2 %d\r\nv6\r\n", cas); string(sent) != want {
		t.Fatalf("SaveIf (content version) sent %q; want %q", sent, want)
	}
	// A stale content version sends no cas at all.
	if err := s.SaveIf(ctxT(t), key, []byte("v7"), r.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale content SaveIf = %v; want ErrConflict", err)
	}
	if sent, _ = rec.take(); string(sent) != "gets session:wire\r\n" {
		t.Fatalf("stale content SaveIf sent %q; want only gets", sent)
	}
	// A miss with refresh is found=false, not refreshed, and creates nothing.
	r, err = s.LoadVersion(ctxT(t), key+"-missing", time.Hour)
	if err != nil || r.Found || r.Refreshed {
		t.Fatalf("LoadVersion of a missing key with refresh = %+v, %v", r, err)
	}
	if sent, recv = rec.take(); string(sent) != "gat 3600 session:wire-missing\r\n" || string(recv) != "END\r\n" {
		t.Fatalf("missing gat sent %q received %q", sent, recv)
	}
}

func TestExpiration(t *testing.T) {
	now := time.Unix(1795338483, 999_000_000)
	for _, tc := range []struct {
		ttl  time.Duration
		want int32
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{90700 * time.Millisecond, 90}, // truncated, like Flask's int(total_seconds())
		{3600 * time.Second, 3600},
		{2592000 * time.Second, 2592000},              // 30 days: still relative
		{2592001 * time.Second, 1795338483 + 2592001}, // absolute from the truncated now
		{2678400 * time.Second, 1798016883},
		{0, 1},
		{-time.Hour, 1},
		{100 * 365 * 24 * time.Hour, 1<<31 - 1}, // clamped to 2038
	} {
		if got := Expiration(tc.ttl, now); got != tc.want {
			t.Errorf("Expiration(%v) = %d; want %d", tc.ttl, got, tc.want)
		}
	}
}

// TestCASConflict checks the conflict mapping of every failed condition.
func TestCASConflict(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	s := New(newClient(g.Addrs()...), Options{})
	a, b := New(newClient(g.Addrs()...), Options{}), s
	key := "session:cas-conflict"
	if err := a.SaveIf(ctxT(t), key, []byte("created"), nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("also created"), nil, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("add on a present key = %v; want ErrConflict", err)
	}
	ra, _ := a.LoadVersion(ctxT(t), key, 0)
	rb, _ := b.LoadVersion(ctxT(t), key, 0)
	if err := a.SaveIf(ctxT(t), key, []byte("a wins"), ra.Version, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("b loses"), rb.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("cas after another writer = %v; want ErrConflict", err)
	}
	// A touch does not change the CAS unique: touching at commit never
	// makes a concurrent writer's version stale.
	rc, _ := b.LoadVersion(ctxT(t), key, 0)
	if err := a.Touch(ctxT(t), key, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("b after touch"), rc.Version, time.Hour); err != nil {
		t.Fatalf("cas after a touch = %v; want success", err)
	}
	rd, _ := b.LoadVersion(ctxT(t), key, 0)
	if err := a.Delete(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("resurrected"), rd.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("cas on a deleted key = %v; want ErrConflict", err)
	}
	if _, found, _ := a.Load(ctxT(t), key); found {
		t.Fatal("cas on a deleted key recreated it")
	}
	if err := b.SaveIf(ctxT(t), key, []byte("x"), "not a version", time.Hour); err == nil || errors.Is(err, backends.ErrConflict) {
		t.Fatalf("SaveIf with a foreign version = %v; want a plain error", err)
	}
}

// TestContentVersionConflict checks the versions of loads with refresh
// (gat, content versions): another writer's change, a delete, and a
// concurrent load that refreshes (gat) but writes nothing.
func TestContentVersionConflict(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	a, b := New(newClient(g.Addrs()...), Options{}), New(newClient(g.Addrs()...), Options{})
	key := "session:content-conflict"
	if err := a.Save(ctxT(t), key, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	ra, _ := a.LoadVersion(ctxT(t), key, time.Hour)
	rb, _ := b.LoadVersion(ctxT(t), key, time.Hour)
	if !ra.Refreshed || !rb.Refreshed {
		t.Fatalf("loads with refresh not reported refreshed: %+v %+v", ra, rb)
	}
	if err := a.SaveIf(ctxT(t), key, []byte("a wins"), ra.Version, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("b loses"), rb.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("content SaveIf after another writer = %v; want ErrConflict", err)
	}
	// A refreshing load by someone else (gat) changes nothing a writer
	// depends on.
	rc, _ := b.LoadVersion(ctxT(t), key, time.Hour)
	if _, err := a.LoadVersion(ctxT(t), key, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("b after gat"), rc.Version, time.Hour); err != nil {
		t.Fatalf("content SaveIf after another load = %v; want success", err)
	}
	rd, _ := b.LoadVersion(ctxT(t), key, time.Hour)
	if err := a.Delete(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveIf(ctxT(t), key, []byte("resurrected"), rd.Version, time.Hour); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("content SaveIf on a deleted key = %v; want ErrConflict", err)
	}
	if _, found, _ := a.Load(ctxT(t), key); found {
		t.Fatal("content SaveIf on a deleted key recreated it")
	}
}

// TestConcurrentWriters runs 200 writers on one key, each adding its own
// entry with LoadVersion (with refresh, as the middleware loads) and
// SaveIf, retrying on conflict: every entry must be there at the end.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	client := newClient(srv.Addr)
	client.MaxIdleConns = 200
	s := New(client, Options{})
	key := "session:concurrent"
	if err := s.Save(ctxT(t), key, []byte("start"), time.Hour); err != nil {
		t.Fatal(err)
	}
	const writers = 200
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				if attempt == 10000 {
					errs <- fmt.Errorf("writer %d: still conflicting after %d attempts", i, attempt)
					return
				}
				r, err := s.LoadVersion(ctxT(t), key, time.Hour)
				if err != nil || !r.Found {
					errs <- fmt.Errorf("writer %d: load: %+v, %v", i, r, err)
					return
				}
				err = s.SaveIf(ctxT(t), key, fmt.Appendf(r.Data, ",%d", i), r.Version, time.Hour)
				if err == nil {
					return
				}
				if !errors.Is(err, backends.ErrConflict) {
					errs <- fmt.Errorf("writer %d: save: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, _, err := s.Load(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range strings.Split(string(data), ",")[1:] {
		seen[f]++
	}
	for i := range writers {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("writer %d's entry appears %d times", i, n)
		}
	}
	if len(seen) != writers {
		t.Errorf("%d distinct entries; want %d", len(seen), writers)
	}
}

// TestTooLarge checks the item-size limit: refused before sending, the
// previous value intact, and the exact boundary of memcached's default -I.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	rec := newRecorder(t, srv.Addr)
	client := newClient(rec.Addr())
	s := New(client, Options{})
	key := "session:too-large"
	old := []byte("previous session")
	maxValue := DefaultMaxItemSize - itemOverhead - len(key)

	for _, size := range []int{maxValue + 1, 1 << 20, 4 << 20} {
		if err := s.Save(ctxT(t), key, old, time.Hour); err != nil {
			t.Fatal(err)
		}
		r, err := s.LoadVersion(ctxT(t), key, 0)
		if err != nil {
			t.Fatal(err)
		}
		rec.take()
		big := bytes.Repeat([]byte{'x'}, size)
		err = s.Save(ctxT(t), key, big, time.Hour)
		if !errors.Is(err, backends.ErrTooLarge) {
			t.Fatalf("Save of %d bytes = %v; want ErrTooLarge", size, err)
		}
		t.Logf("Save of %d bytes: %v", size, err)
		if err := s.SaveIf(ctxT(t), key, big, r.Version, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
			t.Fatalf("SaveIf of %d bytes = %v; want ErrTooLarge", size, err)
		}
		if err := s.SaveIf(ctxT(t), key+"new", big, nil, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
			t.Fatalf("SaveIf(nil) of %d bytes = %v; want ErrTooLarge", size, err)
		}
		if sent, _ := rec.take(); len(sent) != 0 {
			t.Fatalf("a refused value still sent %d bytes", len(sent))
		}
		got, found, err := s.Load(ctxT(t), key)
		if err != nil || !found || !bytes.Equal(got, old) {
			t.Fatalf("after a refused Save: %q, %v, %v; want the previous value", got, found, err)
		}
		// The version is still good: nothing was written.
		if err := s.SaveIf(ctxT(t), key, []byte("next"), r.Version, time.Hour); err != nil {
			t.Fatalf("SaveIf after a refused value: %v", err)
		}
	}

	// The largest value memcached takes under this key is accepted.
	fits := bytes.Repeat([]byte{'y'}, maxValue)
	if err := s.Save(ctxT(t), key, fits, time.Hour); err != nil {
		t.Fatalf("Save of %d bytes (the most that fits): %v", maxValue, err)
	}
	if got, _, _ := s.Load(ctxT(t), key); !bytes.Equal(got, fits) {
		t.Fatal("largest value did not round-trip")
	}

	// Without the check, one more byte reaches the server, which refuses
	// it — proving itemOverhead is exact — and drops the old item.
	unchecked := New(client, Options{MaxItemSize: -1})
	if err := unchecked.Save(ctxT(t), key, old, time.Hour); err != nil {
		t.Fatal(err)
	}
	r, _ := unchecked.LoadVersion(ctxT(t), key, 0)
	over := bytes.Repeat([]byte{'z'}, maxValue+1)
	// cas (SaveIf) of a too-large value: refused, old item kept.
	if err := unchecked.SaveIf(ctxT(t), key, over, r.Version, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("server-side cas refusal = %v; want ErrTooLarge", err)
	}
	if got, found, _ := unchecked.Load(ctxT(t), key); !found || !bytes.Equal(got, old) {
		t.Fatalf("after a refused cas: %q, %v; want the previous value", got, found)
	}
	// set: refused, and memcached unlinks the old item.
	if err := unchecked.Save(ctxT(t), key, over, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("server-side set refusal = %v; want ErrTooLarge", err)
	}
	if _, found, _ := unchecked.Load(ctxT(t), key); found {
		t.Logf("note: this memcached kept the previous item after a too-large set")
	} else {
		t.Logf("memcached deleted the previous item after a too-large set, which is why Save checks the size first")
	}
}

// TestServerItemSizeSmaller: a server started with a smaller -I than the
// store assumes still gives ErrTooLarge (from its SERVER_ERROR), and a
// store told the right size refuses before sending.
func TestServerItemSizeSmaller(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{ItemSize: "512k"})
	key := "session:small-server"
	value := bytes.Repeat([]byte{'v'}, 600<<10)
	assumesDefault := New(newClient(srv.Addr), Options{})
	if err := assumesDefault.Save(ctxT(t), key, value, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Save over the server's -I = %v; want ErrTooLarge", err)
	}
	told := New(newClient(srv.Addr), Options{MaxItemSize: 512 << 10})
	if err := told.Save(ctxT(t), key, []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := told.Save(ctxT(t), key, value, time.Hour); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Save over MaxItemSize = %v; want ErrTooLarge", err)
	}
	if got, _, _ := told.Load(ctxT(t), key); string(got) != "old" {
		t.Fatalf("previous value = %q; want old", got)
	}
	fits := bytes.Repeat([]byte{'f'}, 512<<10-itemOverhead-len(key))
	if err := told.Save(ctxT(t), key, fits, time.Hour); err != nil {
		t.Fatalf("largest value for -I 512k: %v", err)
	}
}

// TestHostileKeys checks that keys memcached cannot take never reach the
// server and cannot inject commands.
func TestHostileKeys(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	rec := newRecorder(t, srv.Addr)
	s := New(newClient(rec.Addr()), Options{})
	sentinel := "session:sentinel"
	if err := s.Save(ctxT(t), sentinel, []byte("safe"), time.Hour); err != nil {
		t.Fatal(err)
	}
	rec.take()
	for _, key := range []string{
		"",
		" ",
		"session:a b",
		"session:x\r\nflush_all",
		"session:x\r\ndelete session:sentinel",
		"session:\x00",
		"session:\t",
		"session:\x7f",
		"session:\x1b[31m",
		"session:é",
		"session:\xff",
		strings.Repeat("k", 251),
		strings.Repeat("k", 10000),
	} {
		calls := map[string]func() error{
			"Load":        func() error { _, _, err := s.Load(ctxT(t), key); return err },
			"Save":        func() error { return s.Save(ctxT(t), key, []byte("v"), time.Hour) },
			"Delete":      func() error { return s.Delete(ctxT(t), key) },
			"Touch":       func() error { return s.Touch(ctxT(t), key, time.Hour) },
			"LoadVersion": func() error { _, err := s.LoadVersion(ctxT(t), key, time.Hour); return err },
			"SaveIf":      func() error { return s.SaveIf(ctxT(t), key, []byte("v"), nil, time.Hour) },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("%s(%q) = %v; want ErrInvalidKey", name, key, err)
			}
			if strings.HasPrefix(key, "session:") && strings.Contains(err.Error(), key) {
				t.Errorf("%s: error repeats the key: %v", name, err)
			}
		}
		if sent, _ := rec.take(); len(sent) != 0 {
			t.Fatalf("key %q sent %q to the server", key, sent)
		}
	}
	if got, found, err := s.Load(ctxT(t), sentinel); err != nil || !found || string(got) != "safe" {
		t.Fatalf("sentinel = %q, %v, %v", got, found, err)
	}
	long := "session:" + strings.Repeat("k", 250-len("session:"))
	if err := s.Save(ctxT(t), long, []byte("250"), time.Hour); err != nil {
		t.Fatalf("250-byte key: %v", err)
	}
}

// TestServerDown checks that calls fail within the client timeout when the
// server is killed or frozen, end at the context's deadline when it is
// shorter, and work again after Resume and Restart.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	s, err := Open(ctxT(t), []string{srv.Addr}, Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	key := "session:down"
	if err := s.Save(ctxT(t), key, []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}

	timed := func(what string, ctx context.Context, limit time.Duration, fn func(context.Context) error) error {
		t.Helper()
		start := time.Now()
		err := fn(ctx)
		if el := time.Since(start); el > limit {
			t.Errorf("%s took %v; want under %v", what, el, limit)
		}
		if err == nil {
			t.Errorf("%s succeeded with the server down", what)
		}
		return err
	}
	load := func(ctx context.Context) error { _, _, err := s.Load(ctx, key); return err }
	save := func(ctx context.Context) error { return s.Save(ctx, key, []byte("w"), time.Hour) }

	srv.Pause(t)
	// Bounded by the client timeout (2 × 500ms at most) within a 3s context.
	c3, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	timed("Load from a paused server", c3, 2500*time.Millisecond, load)
	timed("Save to a paused server", c3, 2500*time.Millisecond, save)
	// A context shorter than the client's worst case ends the call.
	short, cancel2 := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel2()
	if err := timed("Load with a 150ms context", short, 700*time.Millisecond, load); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Load with a 150ms context = %v; want DeadlineExceeded", err)
	}
	srv.Resume(t)
	// A Save that timed out may still be applied once the server runs
	// again (its bytes were already sent): "w" is as valid as "v".
	if got, found, err := s.Load(ctxT(t), key); err != nil || !found || (string(got) != "v" && string(got) != "w") {
		t.Fatalf("after Resume: %q, %v, %v", got, found, err)
	}

	srv.Kill(t)
	timed("Load from a killed server", ctxT(t), 2500*time.Millisecond, load)
	timed("Save to a killed server", ctxT(t), 2500*time.Millisecond, save)
	srv.Restart(t)
	if _, found, err := s.Load(ctxT(t), key); err != nil || found {
		t.Fatalf("after Restart (empty server): found=%v, %v", found, err)
	}
	if err := s.Save(ctxT(t), key, []byte("back"), time.Hour); err != nil {
		t.Fatalf("Save after Restart: %v", err)
	}
}

func TestParseServers(t *testing.T) {
	good := map[string][]string{
		"":                                {"127.0.0.1:11211"},
		"  ":                              {"127.0.0.1:11211"},
		"127.0.0.1:11211":                 {"127.0.0.1:11211"},
		"10.0.0.1:11211, 10.0.0.2:11212 ": {"10.0.0.1:11211", "10.0.0.2:11212"},
		"[::1]:11211":                     {"[::1]:11211"},
		"localhost:1,cache-1.internal:2":  {"localhost:1", "cache-1.internal:2"},
		"mc_1.example.com.:65535":         {"mc_1.example.com.:65535"},
	}
	for in, want := range good {
		got, err := ParseServers(in)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("ParseServers(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{
		",",
		"127.0.0.1:11211,",
		"127.0.0.1:11211,,127.0.0.1:11212",
		"127.0.0.1",
		"127.0.0.1:",
		":11211",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:+11211",
		"127.0.0.1:011211",
		"127.0.0.1:abc",
		"memcached://127.0.0.1:11211",
		"host name:11211",
		"::1:11211",
		"exa$mple:11211",
		"-bad:1",
		"127.0.0.1:11211;127.0.0.1:11212",
	} {
		if got, err := ParseServers(bad); err == nil {
			t.Errorf("ParseServers(%q) = %q; want an error", bad, got)
		}
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	g := testserver.StartMemcacheds(t, 2, testserver.MemcachedOptions{})
	st, err := backends.Open(ctxT(t), backends.Config{Type: "memcached", Memcached: strings.Join(g.Addrs(), ", ")})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Store)
	if s.Client().Timeout != DefaultTimeout || s.Client().MaxIdleConns != DefaultMaxIdleConns {
		t.Errorf("factory client: Timeout %v MaxIdleConns %d", s.Client().Timeout, s.Client().MaxIdleConns)
	}
	if err := st.Save(ctxT(t), "session:factory", []byte("ok"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, err := st.Load(ctxT(t), "session:factory"); err != nil || string(got) != "ok" {
		t.Fatalf("Load = %q, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Load(ctxT(t), "session:factory"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Load after Close = %v", err)
	}

	for _, bad := range []string{",", "127.0.0.1", "127.0.0.1:99999", "junk", "a:1,,b:2", "memcached://x:1"} {
		_, err := backends.Open(ctxT(t), backends.Config{Type: "memcached", Memcached: bad})
		if err == nil || !strings.Contains(err.Error(), "SESSION_MEMCACHED") || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("SESSION_MEMCACHED=%q: %v; want an error naming the variable and the value", bad, err)
		} else {
			t.Logf("SESSION_MEMCACHED=%q: %v", bad, err)
		}
	}
}

// TestStartWithServerDown follows the start-up policy: a server that is
// down, or a name that does not resolve, does not fail Open; calls fail
// (with one prefix) until the server is there, then work.
func TestStartWithServerDown(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	srv.Kill(t)
	st, err := backends.Open(ctxT(t), backends.Config{Type: "memcached", Memcached: srv.Addr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open with the server down = %v; want a store", err)
	}
	defer st.(*Store).Close()
	if err := st.Save(ctxT(t), "session:down", []byte("x"), time.Minute); err == nil || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("Save with the server down = %v; want one error with one prefix", err)
	}
	srv.Restart(t)
	if err := st.Save(ctxT(t), "session:down", []byte("x"), time.Minute); err != nil {
		t.Fatalf("Save after the server started = %v", err)
	}

	var logs bytes.Buffer
	unresolved, err := backends.Open(ctxT(t), backends.Config{Type: "memcached", Memcached: "no-such-host.invalid:11211", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open with a name that does not resolve = %v; want a store", err)
	}
	defer unresolved.(*Store).Close()
	if !strings.Contains(logs.String(), "does not resolve at start") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	_, _, err = unresolved.Load(ctxT(t), "session:x")
	if err == nil || !strings.Contains(err.Error(), "no-such-host.invalid") || strings.Count(err.Error(), "ginsession:") != 1 {
		t.Fatalf("Load with an unresolved server = %v; want an error naming it, with one prefix", err)
	}
	t.Logf("unresolved: %v", err)
}

// TestCallerClientUntouched: New uses a caller's client as it is and Close
// leaves it usable.
func TestCallerClientUntouched(t *testing.T) {
	t.Parallel()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	c := memcache.New(srv.Addr)
	s := New(c, Options{Timeout: 5 * time.Second, MaxIdleConns: 7})
	if c.Timeout != 0 || c.MaxIdleConns != 0 {
		t.Fatalf("New changed the client: %v %d", c.Timeout, c.MaxIdleConns)
	}
	if s.timeout != memcache.DefaultTimeout {
		t.Fatalf("timeout budget %v; want the client's default", s.timeout)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("client after the store's Close: %v", err)
	}
}

// Store-level benchmarks against one real server: what each call costs
// on top of gomemcache (which allocates the item, the value and its
// formatted command line).
func benchStore(b *testing.B, fn func(s *Store, ctx context.Context, key string, value []byte) error) {
	srv := testserver.StartMemcached(b, testserver.MemcachedOptions{})
	s := New(newClient(srv.Addr), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	key := "session:" + strings.Repeat("b", 43)
	value := bytes.Repeat([]byte{'v'}, 100)
	if err := s.Save(ctx, key, value, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := fn(s, ctx, key, value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreLoad(b *testing.B) {
	benchStore(b, func(s *Store, ctx context.Context, key string, _ []byte) error {
		_, _, err := s.Load(ctx, key)
		return err
	})
}

func BenchmarkStoreSave(b *testing.B) {
	benchStore(b, func(s *Store, ctx context.Context, key string, value []byte) error {
		return s.Save(ctx, key, value, time.Hour)
	})
}

func BenchmarkStoreTouch(b *testing.B) {
	benchStore(b, func(s *Store, ctx context.Context, key string, _ []byte) error {
		return s.Touch(ctx, key, time.Hour)
	})
}

func BenchmarkStoreLoadVersionSaveIf(b *testing.B) {
	benchStore(b, func(s *Store, ctx context.Context, key string, value []byte) error {
		r, err := s.LoadVersion(ctx, key, time.Hour)
		if err != nil {
			return err
		}
		return s.SaveIf(ctx, key, value, r.Version, time.Hour)
	})
}
