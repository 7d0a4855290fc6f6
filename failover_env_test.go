package ginsession

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/internal/testserver"
)

// TestClusterFailoverFromEnv is the acceptance test of issue 19: a
// middleware configured from the environment alone
// (SESSION_REDIS=redis+cluster://…) serving a Gin engine under load, a
// master killed with kill -9. Once every live node reports the replica
// promoted (cluster_state:ok), every session answers again within a few
// requests; no acknowledged write and no session is lost; the old
// master's restart fails no request.
func TestClusterFailoverFromEnv(t *testing.T) {
	cl := testserver.StartRedisClusterWith(t, testserver.ClusterConfig{Replicas: 1, NodeTimeout: time.Second})
	t.Setenv("SESSION_TYPE", "redis")
	t.Setenv("SESSION_REDIS", "redis+cluster://"+strings.Join(cl.Addrs, ","))
	t.Setenv("SESSION_SERIALIZATION_FORMAT", "json") // so the test can read the replicas
	opts, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMiddleware(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := gin.New()
	r.Use(m.Handler())
	r.GET("/n", func(c *gin.Context) {
		s := Default(c)
		n, found := s.GetInt("n")
		next, err := strconv.ParseInt(c.Query("next"), 10, 64)
		if err != nil {
			c.String(http.StatusBadRequest, "bad next")
			return
		}
		s.Set("n", next)
		c.String(http.StatusOK, "%t %d", found && !s.IsNew(), n)
	})

	const workers = 24
	var mu sync.Mutex
	cookies := make([]string, workers)
	sids := make([]string, workers)
	round := func(ctx context.Context, i int, next int64) testserver.RoundResult {
		req := httptest.NewRequest(http.MethodGet, "/n?next="+strconv.FormatInt(next, 10), nil).WithContext(ctx)
		mu.Lock()
		if cookies[i] != "" {
			req.Header.Set("Cookie", cookies[i])
		}
		mu.Unlock()
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		res := w.Result()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return testserver.RoundResult{MaybeWrote: true, Err: fmt.Errorf("status %d: %s", res.StatusCode, body)}
		}
		for _, c := range res.Cookies() {
			if c.Name == opts.CookieName && c.Value != "" {
				mu.Lock()
				cookies[i], sids[i] = c.Name+"="+c.Value, c.Value
				mu.Unlock()
			}
		}
		var rr testserver.RoundResult
		rr.Read, rr.Wrote = true, true
		if _, err := fmt.Sscanf(string(body), "%t %d", &rr.Found, &rr.Value); err != nil {
			rr.Err = fmt.Errorf("body %q: %v", body, err)
		}
		return rr
	}
	l := testserver.StartSessionLoad(t, workers, 5*time.Second, round)
	l.WaitRounds(t, 20, 60*time.Second)

	// The victim: the master holding the most sessions.
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
	defer client.Close()
	byMaster := map[string][]int{}
	mu.Lock()
	for i, sid := range sids {
		mc, err := client.MasterForKey(context.Background(), opts.KeyPrefix+sid)
		if err != nil {
			t.Fatal(err)
		}
		byMaster[mc.Options().Addr] = append(byMaster[mc.Options().Addr], i)
	}
	keys := make([]string, workers)
	for i, sid := range sids {
		keys[i] = opts.KeyPrefix + sid
	}
	mu.Unlock()
	var victim *testserver.Redis
	for _, n := range cl.Nodes[:len(cl.Addrs)] {
		if victim == nil || len(byMaster[n.Addr]) > len(byMaster[victim.Addr]) {
			victim = n
		}
	}
	onVictim := map[int]bool{}
	for _, i := range byMaster[victim.Addr] {
		onVictim[i] = true
	}
	replica := cl.ReplicaOf(t, victim.Addr)
	readN := func(addr, key string) (int64, bool) {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: time.Second})
		defer c.Close()
		pipe := c.Pipeline()
		pipe.ReadOnly(context.Background())
		get := pipe.Get(context.Background(), key)
		_, _ = pipe.Exec(context.Background())
		var v struct{ N int64 }
		if b, err := get.Bytes(); err != nil || json.Unmarshal(b, &v) != nil {
			return 0, false
		}
		return v.N, true
	}

	killed := time.Now()
	testserver.StopCheckKill(t, victim, l, func(i int) bool { return onVictim[i] }, func(i int, acked int64) bool {
		v, ok := readN(replica, keys[i])
		return ok && v >= acked
	})
	kill := l.Mark()
	promoted := cl.WaitFailover(t, victim)
	reported := l.Mark()
	reportedAt := time.Since(killed)
	rounds, took := l.WaitRecovered(t, reported, 30*time.Second)
	failed, sample := l.Failures(kill)
	t.Logf("SESSION_REDIS from the environment: killed master %s (%d of %d sessions on it); %s promoted and cluster_state:ok %v after the kill; "+
		"every session answered again %v later (%v after the kill, at most %d requests); %d requests failed in between, e.g. %v",
		victim.Addr, len(onVictim), workers, promoted, reportedAt.Round(time.Millisecond), took.Round(time.Millisecond),
		(reportedAt + took).Round(time.Millisecond), rounds, failed, sample)
	if rounds > 3 {
		t.Errorf("a session needed %d requests after the cluster reported the failover, want at most 3", rounds)
	}

	restart := l.Mark()
	victim.Restart(t)
	cl.WaitHealthy(t)
	l.WaitRounds(t, 20, 30*time.Second)
	if n, err := l.Failures(restart); n > 0 {
		t.Errorf("%d requests failed while the old master rejoined, e.g. %v", n, err)
	}
	problems := l.Final(context.Background(), func(ctx context.Context, i int) (int64, bool, error) {
		mu.Lock()
		key := keys[i]
		if sids[i] != "" {
			key = opts.KeyPrefix + sids[i]
		}
		mu.Unlock()
		b, err := client.Get(ctx, key).Bytes()
		if err == redis.Nil {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		var v struct{ N int64 }
		err = json.Unmarshal(b, &v)
		return v.N, true, err
	})
	if len(problems) > 0 {
		t.Errorf("lost:\n%s", strings.Join(problems, "\n"))
	}
}
