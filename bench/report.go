package main

import (
	"bufio"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"time"
)

var rev = flag.String("rev", "", "ginsession revision measured (for the report)")

func serverVersions() string {
	var parts []string
	if *redisAddr != "" {
		v := "?"
		if b, err := rawCommand(*redisAddr, "INFO server\r\n", func(r *bufio.Reader) ([]byte, error) {
			if _, err := r.ReadString('\n'); err != nil {
				return nil, err
			}
			var sb strings.Builder
			for i := 0; i < 10; i++ {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				sb.WriteString(line)
			}
			return []byte(sb.String()), nil
		}); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if x, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
					v = x
				}
			}
		}
		parts = append(parts, "redis-server "+v)
	}
	if *mcAddr != "" {
		v := "?"
		if st, err := rawCommand(*mcAddr, "version\r\n", func(r *bufio.Reader) ([]byte, error) {
			line, err := r.ReadString('\n')
			return []byte(line), err
		}); err == nil {
			v = strings.TrimSpace(strings.TrimPrefix(string(st), "VERSION"))
		}
		parts = append(parts, "memcached "+v)
	}
	return strings.Join(parts, ", ")
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func find(rows []*row, lib, backend, wl string) *row {
	for _, r := range rows {
		if r.t.lib == lib && r.t.backend == backend && r.wl == wl && r.err == nil {
			return r
		}
	}
	return nil
}

func writeReport(w *strings.Builder, rows []*row, began time.Time, load0, load1 string) {
	fmt.Fprintf(w, "## Benchmarks, %s\n\n", began.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %d CPUs (nproc), %s, Linux %s; load average %s at start, %s at end\n", runtime.NumCPU(), cpuModel(), kernel(), load0, load1)
	fmt.Fprintf(w, "- %s; %s", runtime.Version(), serverVersions())
	if *rev != "" {
		fmt.Fprintf(w, "; ginsession %s", *rev)
	}
	fmt.Fprintf(w, "\n- libraries: %s\n", moduleVersions())
	fmt.Fprintf(w, "- in process: testing.Benchmark, %v per case as the median of %d rounds run in turn over the libraries; one request = a shallow copy of one *http.Request (1 alloc, in every row) served by the handler, network round trips to the servers included\n", *benchtime, *rounds)
	fmt.Fprintf(w, "- round trips: client connection writes per request (each client flushes one command or pipeline per write) over %d serial requests; server commands from INFO commandstats (redis; the commands a Lua script runs are counted too, so ginsession's write shows the GET and SET its EVALSHA runs inside the server) or `stats` (memcached) deltas over the same requests\n", *countN)
	if !*skipLoad {
		fmt.Fprintf(w, "- load: a real net/http server per library on 127.0.0.1, %d keep-alive connections (one goroutine and one session each) from a minimal HTTP/1.1 client in the same process; %v measured per case, as %d slices of %v (each after %v of warm-up) run in turn over the libraries, so that background load hits all alike\n", *conns, *duration, *rounds, *duration/time.Duration(*rounds), *warm)
	}
	fmt.Fprintf(w, "- ×floor: ratio to the raw client floor of the same backend in this run (floor: none = nothing, read = 1 GETEX / gat, write = GET + SET, new = SET, no encoding)\n\n")

	for _, backend := range []string{"redis", "memcached", "memory"} {
		var bs []*row
		for _, r := range rows {
			if r.t.backend == backend {
				bs = append(bs, r)
			}
		}
		if len(bs) == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s\n\n", backend)
		fmt.Fprintf(w, "| library | workload | ns/op | B/op | allocs/op | round trips/req | server commands/req | req/s | p50 | p99 | ns/op ×floor | req/s ×floor | p99 ×floor |\n")
		fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n")
		for _, wl := range workloads {
			fl := find(rows, libFloor, backend, wl)
			for _, r := range bs {
				if r.wl != wl {
					continue
				}
				if r.err != nil {
					fmt.Fprintf(w, "| %s | %s | error: %s |||||||||||\n", r.t.lib, wl, strings.ReplaceAll(r.err.Error(), "|", "/"))
					continue
				}
				rt := "-"
				if r.t.rt != nil {
					rt = trimFloat(r.cnt.rt)
				}
				nsR, rpsR, p99R := "-", "-", "-"
				if fl != nil {
					nsR = ratio(float64(r.bench.NsPerOp()), float64(fl.bench.NsPerOp()))
					rpsR = ratio(r.load.rps, fl.load.rps)
					p99R = ratio(float64(r.load.p99), float64(fl.load.p99))
				}
				rps := "-"
				if r.load.rps > 0 {
					rps = fmt.Sprintf("%.0f", r.load.rps)
				}
				fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
					r.t.lib, wl, r.bench.NsPerOp(), r.bench.AllocedBytesPerOp(), r.bench.AllocsPerOp(),
					rt, r.cnt.cmds, rps, fmtDur(r.load.p50), fmtDur(r.load.p99), nsR, rpsR, p99R)
			}
		}
		fmt.Fprintln(w)
	}
	if bare := find(rows, libBare, "-", "none"); bare != nil {
		fmt.Fprintf(w, "Bare Gin (no middleware), untouched route: %d ns/op, %d B/op, %d allocs/op", bare.bench.NsPerOp(), bare.bench.AllocedBytesPerOp(), bare.bench.AllocsPerOp())
		if bare.load.rps > 0 {
			fmt.Fprintf(w, ", %.0f req/s, p99 %s", bare.load.rps, fmtDur(bare.load.p99))
		}
		fmt.Fprintf(w, ".\n\n")
	}
	writeTargets(w, rows)
	fmt.Fprint(w, reportNotes)
}

const reportNotes = `### Notes

- Reproduce: ` + "`bash bench/run.sh -out bench/RESULTS.md`" + ` (BENCH_SOURCE=worktree measures uncommitted changes to the library).
- Every library gets the same lifetime (7 days: gorilla-sessions-memcache, behind gin-contrib's memcached store, sends MaxAge as a relative expiry, which memcached reads as an absolute time beyond 30 days, so with Flask's 31 days it never finds a session) and pools of 64 connections.
- gin-contrib/sessions' redis store is boj/redistore on a redigo pool built as redistore.NewRediStore builds it, including its TestOnBorrow PING: hence the PING round trip on every request that touches the session.
- scs: "scs" uses its go-redis store (goredisstore: GET; SET with PX). "scs + redigo" is an scs store in this module that sends exactly the commands of scs/redisstore (GET; MULTI/SET/PEXPIREAT/EXEC in one pipeline), which the module proxy here does not serve. scs has no memcached store: its memcached row is a 30-line store in this module (get; set with the remaining lifetime). scs loads the session in LoadAndSave, before the handler runs, so its untouched route costs a round trip and a decode.
- ginsession runs with its defaults (msgpack, permanent sessions refreshed on every request: GETEX on read, the cookie re-sent), with compare-and-swap writes (EVALSHA of a SHA-1 compare-and-set script on redis; on memcached a read is one gat and a write checks the loaded content with gets, then cas).
`

func writeTargets(w *strings.Builder, rows []*row) {
	fmt.Fprintf(w, "### Targets (ginsession, same run)\n\n| target | measured | met |\n|---|---|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	gsR, flR := find(rows, libGinsession, "redis", "read"), find(rows, libFloor, "redis", "read")
	if gsR != nil && flR != nil && gsR.load.rps > 0 && flR.load.rps > 0 {
		x := gsR.load.rps / flR.load.rps
		fmt.Fprintf(w, "| redis read throughput ≥ 0.90× floor | %.0f vs %.0f req/s = %.2f× | %s |\n", gsR.load.rps, flR.load.rps, x, yes(x >= 0.9))
	}
	gsW, flW := find(rows, libGinsession, "redis", "write"), find(rows, libFloor, "redis", "write")
	if gsW != nil && flW != nil && gsW.load.rps > 0 && flW.load.rps > 0 {
		x := gsW.load.rps / flW.load.rps
		fmt.Fprintf(w, "| redis write throughput ≥ 0.85× floor | %.0f vs %.0f req/s = %.2f× | %s |\n", gsW.load.rps, flW.load.rps, x, yes(x >= 0.85))
	}
	// Redis is at the floor everywhere. Memcached's write may take one
	// more: a read is one gat, which returns no CAS unique, so a write
	// checks the loaded content with gets before its cas (issue 18;
	// docs/backends/memcached.md).
	for _, backend := range []string{"redis", "memcached"} {
		var parts []string
		all := true
		seen := false
		for _, wl := range workloads {
			g, f := find(rows, libGinsession, backend, wl), find(rows, libFloor, backend, wl)
			if g == nil || f == nil {
				continue
			}
			seen = true
			parts = append(parts, fmt.Sprintf("%s %s/%s", wl, trimFloat(g.cnt.rt), trimFloat(f.cnt.rt)))
			allowed := f.cnt.rt
			if backend == "memcached" && wl == "write" {
				allowed++
			}
			if g.cnt.rt > allowed+0.005 {
				all = false
			}
		}
		if seen {
			target := "round trips = floor in every workload"
			if backend == "memcached" {
				target = "round trips = floor in every workload, write ≤ floor + 1"
			}
			fmt.Fprintf(w, "| %s %s (ginsession/floor) | %s | %s |\n", backend, target, strings.Join(parts, ", "), yes(all))
		}
	}
	if bare := find(rows, libBare, "-", "none"); bare != nil {
		for _, backend := range []string{"redis", "memcached", "memory"} {
			if g := find(rows, libGinsession, backend, "none"); g != nil {
				d := g.bench.AllocsPerOp() - bare.bench.AllocsPerOp()
				fmt.Fprintf(w, "| untouched route ≤ bare Gin + 2 allocs/op (%s) | %d vs %d (+%d) | %s |\n", backend, g.bench.AllocsPerOp(), bare.bench.AllocsPerOp(), d, yes(d <= 2))
			}
		}
	}
	for _, backend := range []string{"redis", "memcached", "memory"} {
		if g := find(rows, libGinsession, backend, "read"); g != nil {
			fmt.Fprintf(w, "| read ≤ 40 allocs/op (%s) | %d (incl. 1 harness alloc) | %s |\n", backend, g.bench.AllocsPerOp(), yes(g.bench.AllocsPerOp() <= 40))
		}
	}
	fmt.Fprintln(w)
}
