// Command bench compares ginsession with gin-contrib/sessions, scs and a raw
// client floor (no session library) on four Gin workloads — none (the route
// never touches the session), read (one Get), write (increment a counter),
// new (first visit creates a session) — over one real redis-server, one
// memcached and in-process memory, and prints markdown tables.
//
// Run it through bench/run.sh, which starts the servers; by hand:
//
//	cd bench && GOWORK=off go run . -redis 127.0.0.1:PORT -memcached 127.0.0.1:PORT
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

var (
	redisAddr = flag.String("redis", "", "redis-server host:port (empty: skip redis)")
	mcAddr    = flag.String("memcached", "", "memcached host:port (empty: skip memcached)")
	noMemory  = flag.Bool("no-memory", false, "skip the in-memory stores")
	benchtime = flag.Duration("benchtime", time.Second, "in-process benchmark time per case, split over the rounds")
	duration  = flag.Duration("duration", 4*time.Second, "measured load time per case")
	warm      = flag.Duration("warm", 150*time.Millisecond, "load warm-up per slice (not measured)")
	rounds    = flag.Int("rounds", 4, "rounds: the in-process figures are the median round; the load is split into this many interleaved slices")
	conns     = flag.Int("conns", 64, "concurrent keep-alive connections of the load")
	countN    = flag.Int("count-n", 300, "requests served to count round trips")
	only      = flag.String("only", "", "regexp over library/backend/workload (spaces removed), e.g. 'ginsession/redis'")
	skipLoad  = flag.Bool("skip-load", false, "skip the load over loopback")
	out       = flag.String("out", "", "also write the markdown to this file")
	profile   = flag.String("profile", "", "regexp over library/backend/workload: write CPU and allocation profiles of the in-process loop")
	profDir   = flag.String("profdir", ".", "directory for -profile output")
)

type row struct {
	t       *target
	wl      string
	path    string
	cookies []string // [0] for the in-process figures, the rest for the load
	profile bool
	bench   testing.BenchmarkResult
	cnt     counts
	load    loadResult
	err     error
}

func main() {
	testing.Init()
	flag.Parse()
	if *rounds < 1 {
		*rounds = 1
	}
	if err := flag.Set("test.benchtime", (*benchtime / time.Duration(*rounds)).String()); err != nil {
		fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	gin.DefaultWriter = io.Discard
	var filter, prof *regexp.Regexp
	if *only != "" {
		filter = regexp.MustCompile(*only)
	}
	if *profile != "" {
		prof = regexp.MustCompile(*profile)
	}

	load0 := loadavg()
	began := time.Now()
	// Every row gets its own target (its own store, client and pool), so
	// that the sessions one workload creates do not weigh on another's.
	var rows []*row
	var targets []*target
	for _, wl := range workloads {
		ts, err := buildTargets()
		if err != nil {
			fatal(err)
		}
		for _, t := range ts {
			name := matchName(t, wl)
			if !slices.Contains(t.workloads, wl) || (filter != nil && !filter.MatchString(name) && t.lib != libBare && t.lib != libFloor) {
				t.close()
				continue
			}
			t.workloads = []string{wl}
			targets = append(targets, t)
			rows = append(rows, &row{t: t, wl: wl, profile: prof != nil && prof.MatchString(name)})
		}
	}
	phase := func(name string) {
		fmt.Fprintf(os.Stderr, "bench: %s (%s since start)\n", name, time.Since(began).Round(time.Second))
	}
	phase(fmt.Sprintf("%d cases: seeding sessions, counting round trips", len(rows)))
	for _, r := range rows {
		r.err = prepare(r)
	}
	phase("in-process benchmarks")
	inProcessRounds(rows)
	if !*skipLoad {
		phase("load over loopback")
		loadRounds(rows)
	}
	phase("done")
	for _, r := range rows {
		status := "ok"
		if r.err != nil {
			status = r.err.Error()
		}
		fmt.Fprintf(os.Stderr, "%-40s %8d ns/op %4d allocs/op  rt %.2f  %7.0f req/s  p99 %-12v %s\n",
			matchName(r.t, r.wl), r.bench.NsPerOp(), r.bench.AllocsPerOp(), r.cnt.rt, r.load.rps, r.load.p99, status)
	}
	for _, t := range targets {
		t.close()
	}

	var md strings.Builder
	writeReport(&md, rows, began, load0, loadavg())
	fmt.Print(md.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
			fatal(err)
		}
	}
}

func buildTargets() ([]*target, error) {
	ts := []*target{bareTarget()}
	if *redisAddr != "" {
		r, err := redisTargets(*redisAddr)
		if err != nil {
			return nil, err
		}
		ts = append(ts, r...)
	}
	if *mcAddr != "" {
		m, err := memcachedTargets(*mcAddr)
		if err != nil {
			return nil, err
		}
		ts = append(ts, m...)
	}
	if !*noMemory {
		m, err := memoryTargets()
		if err != nil {
			return nil, err
		}
		ts = append(ts, m...)
	}
	for _, t := range ts {
		closeFn := t.close
		var once sync.Once
		t.close = func() { once.Do(closeFn) }
	}
	return ts, nil
}

// prepare seeds the sessions a row needs and counts its round trips.
func prepare(r *row) error {
	t := r.t
	r.path = "/" + r.wl
	r.cookies = make([]string, 1+*conns)
	if r.wl != "new" {
		for i := range r.cookies {
			c, err := t.seed()
			if err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			r.cookies[i] = c
		}
	}
	var err error
	if r.cnt, err = countRequests(t, r.path, r.cookies[0], *countN, *redisAddr, *mcAddr); err != nil {
		return fmt.Errorf("counting: %w", err)
	}
	if r.profile {
		if err := profileLoop(t, r.wl, r.path, r.cookies[0]); err != nil {
			return err
		}
	}
	return nil
}

// inProcessRounds benchmarks every row -rounds times, the rows of one
// workload in turn, so that a change in the machine's background load hits
// every library alike; it keeps the round with the median ns/op.
func inProcessRounds(rows []*row) {
	results := make(map[*row][]testing.BenchmarkResult)
	for round := 0; round < *rounds; round++ {
		for _, wl := range workloads {
			for _, r := range rows {
				if r.wl != wl || r.err != nil {
					continue
				}
				res, err := inProcess(r.t.h, r.path, r.cookies[0])
				if err != nil {
					r.err = fmt.Errorf("in-process: %w", err)
					continue
				}
				results[r] = append(results[r], res)
			}
		}
	}
	for r, rs := range results {
		slices.SortFunc(rs, func(a, b testing.BenchmarkResult) int { return cmp.Compare(a.NsPerOp(), b.NsPerOp()) })
		r.bench = rs[len(rs)/2]
	}
}

// loadRounds runs the load -rounds times per row, in slices of
// duration/rounds, the rows of one workload in turn; latencies and counts of
// all slices are pooled.
func loadRounds(rows []*row) {
	slice := *duration / time.Duration(*rounds)
	acc := map[*row]*loadAcc{}
	for _, wl := range workloads {
		servers := map[*row]string{}
		var stops []func()
		for _, r := range rows {
			if r.wl != wl || r.err != nil {
				continue
			}
			addr, stop, err := serve(r.t.h)
			if err != nil {
				r.err = err
				continue
			}
			servers[r] = addr
			stops = append(stops, stop)
		}
		for round := 0; round < *rounds; round++ {
			for _, r := range rows {
				if r.wl != wl || r.err != nil {
					continue
				}
				cookies := r.cookies[1:]
				if r.wl == "new" {
					cookies = make([]string, *conns)
				}
				runtime.GC()
				var pf *os.File
				if r.profile {
					var err error
					if pf, err = os.Create(filepath.Join(*profDir, fmt.Sprintf("%s.load%d.cpu.pprof", profBase(r.t, r.wl), round))); err == nil {
						err = pprof.StartCPUProfile(pf)
					}
					if err != nil {
						r.err = err
						continue
					}
				}
				lat, errs, err := load(servers[r], r.path, cookies, *warm, slice)
				if pf != nil {
					pprof.StopCPUProfile()
					pf.Close()
				}
				if err != nil {
					r.err = fmt.Errorf("load: %w", err)
					continue
				}
				a := acc[r]
				if a == nil {
					a = &loadAcc{}
					acc[r] = a
				}
				a.lat = append(a.lat, lat...)
				a.errs += errs
			}
		}
		for _, stop := range stops {
			stop()
		}
		// Free this workload's stores (the memory ones hold every session
		// the load created) before the next workload.
		for _, r := range rows {
			if r.wl == wl {
				r.t.close()
				r.t.h = nil
				if a := acc[r]; a != nil && r.err == nil {
					r.load = summarize(a.lat, *duration)
					if a.errs > 0 {
						r.err = fmt.Errorf("load: %d responses were not 2xx", a.errs)
					}
					delete(acc, r)
				}
			}
		}
	}
}

type loadAcc struct {
	lat  []time.Duration
	errs int
}

// profileLoop serves the workload for the benchmark time with a CPU profile,
// then again recording every allocation.
func profileLoop(t *target, wl, path, cookie string) error {
	base := profBase(t, wl)
	loop := serveLoop(t.h, path, cookie)
	f, err := os.Create(filepath.Join(*profDir, base+".cpu.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * *benchtime); time.Now().Before(deadline); {
		if err := loop(100); err != nil {
			pprof.StopCPUProfile()
			return err
		}
	}
	pprof.StopCPUProfile()
	// The allocs profile is cumulative: write it before and after, and
	// read it with go tool pprof -base X.allocs0.pprof X.allocs.pprof.
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	writeAllocs := func(name string) error {
		runtime.GC()
		mf, err := os.Create(filepath.Join(*profDir, base+name))
		if err != nil {
			return err
		}
		defer mf.Close()
		return pprof.Lookup("allocs").WriteTo(mf, 0)
	}
	if err := writeAllocs(".allocs0.pprof"); err != nil {
		return err
	}
	if err := loop(1000); err != nil {
		return err
	}
	if err := writeAllocs(".allocs.pprof"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "profiles: %s.{cpu,allocs0,allocs}.pprof (allocs: 1000 requests, use -base), and .load*.cpu.pprof\n", filepath.Join(*profDir, base))
	return nil
}

func profBase(t *target, wl string) string {
	return strings.NewReplacer("/", "_", " ", "", "(", "", ")", "", "+", "").Replace(t.lib + "_" + t.backend + "_" + wl)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func moduleVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	want := []string{
		"github.com/gin-gonic/gin", "github.com/gin-contrib/sessions", "github.com/gorilla/sessions",
		"github.com/boj/redistore", "github.com/quasoft/memstore", "github.com/bradleypeabody/gorilla-sessions-memcache",
		"github.com/alexedwards/scs/v2", "github.com/alexedwards/scs/goredisstore",
		"github.com/redis/go-redis/v9", "github.com/gomodule/redigo", "github.com/bradfitz/gomemcache",
	}
	var parts []string
	for _, w := range want {
		for _, d := range bi.Deps {
			if d.Path == w {
				v := d.Version
				if d.Replace != nil {
					v = d.Replace.Version
				}
				parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(d.Path, "github.com/"), v))
			}
		}
	}
	return strings.Join(parts, ", ")
}
