package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nopWriter is a minimal ResponseWriter, so that in-process figures measure
// the middleware and not httptest.ResponseRecorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// serveLoop returns a function that serves path n times in process with the
// cookie. Each request is a shallow copy of one template (as net/http makes
// a new Request per request; gorilla/sessions stores its registry in *r, so
// a reused Request would cache the session): one allocation per request,
// in every row alike.
func serveLoop(h http.Handler, path, cookie string) func(n int) error {
	base := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		base.Header.Set("Cookie", cookie)
	}
	w := &nopWriter{h: http.Header{}}
	return func(n int) error {
		for range n {
			clear(w.h)
			w.code = 200
			r := new(http.Request)
			*r = *base
			h.ServeHTTP(w, r)
			if w.code >= 300 {
				return fmt.Errorf("%s: status %d", path, w.code)
			}
		}
		return nil
	}
}

// inProcess runs testing.Benchmark over the workload.
func inProcess(h http.Handler, path, cookie string) (testing.BenchmarkResult, error) {
	loop := serveLoop(h, path, cookie)
	if err := loop(20); err != nil { // warm up connections and pools
		return testing.BenchmarkResult{}, err
	}
	var ferr error
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		if err := loop(b.N); err != nil && ferr == nil {
			ferr = err
		}
	})
	return res, ferr
}

// ---- server-side command counts

// redisCommandStats returns the calls of every command from INFO commandstats.
func redisCommandStats(addr string) (map[string]int64, error) {
	info, err := rawCommand(addr, "INFO commandstats\r\n", func(r *bufio.Reader) ([]byte, error) {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(line, "$") {
			return nil, fmt.Errorf("redis: unexpected reply %q", line)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n+2)
		_, err = ioReadFull(r, buf)
		return buf, err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(info), "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out, nil
}

// memcachedStats returns the counters of `stats`.
func memcachedStats(addr string) (map[string]int64, error) {
	raw, err := rawCommand(addr, "stats\r\n", func(r *bufio.Reader) ([]byte, error) {
		var b bytes.Buffer
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, err
			}
			if line == "END\r\n" {
				return b.Bytes(), nil
			}
			b.WriteString(line)
		}
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "STAT" {
			if n, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				out[f[1]] = n
			}
		}
	}
	return out, nil
}

func rawCommand(addr, cmd string, read func(*bufio.Reader) ([]byte, error)) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return nil, err
	}
	return read(bufio.NewReader(c))
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// counts is what one request costs the backend.
type counts struct {
	rt   float64 // client round trips (connection writes) per request
	cmds string  // server-side commands per request
}

// memcachedCounters are the `stats` counters reported, in order.
var memcachedCounters = []struct{ stat, name string }{
	{"cmd_get", "get/gets"}, {"cmd_set", "set/add/cas"}, {"cmd_touch", "touch/gat"},
	{"delete_hits", "delete"}, {"delete_misses", "delete"},
	{"cas_hits", "of which cas"}, {"cas_badval", "of which cas"}, {"cas_misses", "of which cas"},
}

// countRequests serves n requests serially and divides the client's writes
// and the server's command counters by n.
func countRequests(t *target, path, cookie string, n int, redisAddr, mcAddr string) (counts, error) {
	loop := serveLoop(t.h, path, cookie)
	if err := loop(20); err != nil {
		return counts{}, err
	}
	if t.rt == nil {
		if err := loop(n); err != nil {
			return counts{}, err
		}
		return counts{rt: 0, cmds: "-"}, nil
	}
	var before map[string]int64
	var err error
	switch t.backend {
	case "redis":
		before, err = redisCommandStats(redisAddr)
	case "memcached":
		before, err = memcachedStats(mcAddr)
	}
	if err != nil {
		return counts{}, err
	}
	w0 := t.rt.Load()
	if err := loop(n); err != nil {
		return counts{}, err
	}
	writes := t.rt.Load() - w0
	var after map[string]int64
	switch t.backend {
	case "redis":
		after, err = redisCommandStats(redisAddr)
	case "memcached":
		after, err = memcachedStats(mcAddr)
	}
	if err != nil {
		return counts{}, err
	}
	type kv struct {
		k string
		v float64
	}
	var parts []kv
	switch t.backend {
	case "redis":
		for k, v := range after {
			if d := v - before[k]; d > 0 && k != "info" {
				parts = append(parts, kv{strings.ToUpper(k), float64(d) / float64(n)})
			}
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i].k < parts[j].k })
	case "memcached":
		sum := map[string]float64{}
		var order []string
		for _, c := range memcachedCounters {
			if d := after[c.stat] - before[c.stat]; d > 0 {
				if _, ok := sum[c.name]; !ok {
					order = append(order, c.name)
				}
				sum[c.name] += float64(d) / float64(n)
			}
		}
		for _, k := range order {
			parts = append(parts, kv{k, sum[k]})
		}
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", p.k, trimFloat(p.v))
	}
	if b.Len() == 0 {
		b.WriteString("none")
	}
	return counts{rt: float64(writes) / float64(n), cmds: b.String()}, nil
}

func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// ---- load over loopback

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
	requests int
}

// serve starts a real net/http server for h on a random loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// load runs len(cookies) keep-alive connections (one goroutine each, with
// its own session cookie, or none) against addr for warm+dur and returns the
// latencies of the requests that started after the warm-up and finished in
// time, and the number of non-2xx responses. The client is a minimal
// HTTP/1.1 client, so that it leaves the server as much of the machine as it
// can.
func load(addr, path string, cookies []string, warm, dur time.Duration) ([]time.Duration, int, error) {
	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(dur)
	type result struct {
		lat  []time.Duration
		errs int
		err  error
	}
	results := make([]result, len(cookies))
	var wg sync.WaitGroup
	for i, cookie := range cookies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			res.lat = make([]time.Duration, 0, 1<<12)
			var req bytes.Buffer
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ginsession-bench\r\n", path, addr)
			if cookie != "" {
				fmt.Fprintf(&req, "Cookie: %s\r\n", cookie)
			}
			req.WriteString("\r\n")
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				res.err = err
				return
			}
			defer conn.Close()
			conn.SetDeadline(end.Add(10 * time.Second)) // bounded whatever happens
			br := bufio.NewReaderSize(conn, 8192)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				if _, err := conn.Write(req.Bytes()); err != nil {
					res.err = err
					return
				}
				code, err := readResponse(br)
				if err != nil {
					res.err = err
					return
				}
				t1 := time.Now()
				if code >= 300 {
					res.errs++
				}
				if t0.After(measureFrom) && !t1.After(end) {
					res.lat = append(res.lat, t1.Sub(t0))
				}
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	errs := 0
	for _, r := range results {
		if r.err != nil {
			return nil, 0, r.err
		}
		all = append(all, r.lat...)
		errs += r.errs
	}
	return all, errs, nil
}

// summarize turns pooled latencies measured over dur into a loadResult.
func summarize(all []time.Duration, dur time.Duration) loadResult {
	var out loadResult
	if len(all) == 0 {
		return out
	}
	slices.Sort(all)
	out.requests = len(all)
	out.rps = float64(len(all)) / dur.Seconds()
	out.p50 = all[len(all)*50/100]
	out.p99 = all[min(len(all)*99/100, len(all)-1)]
	return out
}

// readResponse reads one HTTP/1.1 response (status, headers, a
// Content-Length body) and returns its status code.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := 0
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, err
			}
		}
	}
	if length > 0 {
		if _, err := br.Discard(length); err != nil {
			return 0, err
		}
	}
	return code, nil
}
