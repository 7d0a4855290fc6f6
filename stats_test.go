package ginsession

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession/internal/health"
	"github.com/ginsession/ginsession/internal/testserver"
)

// logRecorder keeps every slog record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := r.recs
	r.recs = nil
	return recs
}

func count(recs []slog.Record, level slog.Level, msg string) int {
	n := 0
	for _, r := range recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

// TestOutageLogAndStats: a Redis killed under requests gives one ERROR
// (with the error), per-request lines at DEBUG only, and one INFO when it
// is back; Stats counts the calls, the failures and the outage.
func TestOutageLogAndStats(t *testing.T) {
	srv := testserver.StartRedis(t)
	rec := &logRecorder{}
	m, err := NewMiddleware(Options{Type: "redis", Redis: "redis://" + srv.Addr + "?max_retries=-1", Logger: slog.New(rec), StoreTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := gin.New()
	r.Use(m.Handler())
	r.GET("/", func(c *gin.Context) {
		s := Default(c)
		n, _ := s.GetInt("n")
		s.Set("n", n+1)
		c.String(http.StatusOK, "ok")
	})
	var cookie string
	do := func() int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		for _, c := range w.Result().Cookies() {
			cookie = c.Name + "=" + c.Value
		}
		return w.Code
	}
	for range 5 {
		if code := do(); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	s := m.Stats()
	// The first request creates (1 write); the next four load and write.
	if s.Loads != 4 || s.Writes != 5 || s.Unavailable != 0 || s.Down || s.Outages != 0 {
		t.Fatalf("stats before the outage: %+v", s)
	}
	if recs := rec.take(); count(recs, slog.LevelError, "") != 0 {
		t.Fatalf("errors logged while Redis answered: %v", recs)
	}

	srv.Kill(t)
	for range 12 {
		if code := do(); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d with Redis down", code)
		}
	}
	recs := rec.take()
	// One ERROR at the start; a summary only if the outage outlasted 10s
	// (a loaded machine); the per-request lines at DEBUG.
	starts, summaries := count(recs, slog.LevelError, "store failing;"), count(recs, slog.LevelError, "still failing")
	if starts != 1 || count(recs, slog.LevelError, "") != starts+summaries || count(recs, slog.LevelError, "session store failed") != 0 {
		t.Fatalf("%d outage starts (want 1), %d summaries, %d ERROR lines in all: %v", starts, summaries, count(recs, slog.LevelError, ""), recs)
	}
	if n := count(recs, slog.LevelDebug, "session store failed"); n != 12 {
		t.Fatalf("%d DEBUG per-request lines, want 12", n)
	}
	s = m.Stats()
	if !s.Down || s.DownSince.IsZero() || s.Outages != 1 || s.FailedRequests != 12 ||
		s.FailedByKind["unavailable"]+s.FailedByKind["timeout"] != 12 || s.Unavailable+s.Timeouts != 12 || s.Loads != 4+12 {
		t.Fatalf("stats during the outage: %+v", s)
	}

	srv.Restart(t)
	// go-redis keeps answering its last dial error for up to a second
	// after a run of failed dials (it redials in the background).
	for try := 0; do() != http.StatusOK; try++ { // the data is gone: a new session
		if try == 50 {
			t.Fatal("no request succeeded after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The outage ends at the first success a second (health.DefaultSettle)
	// after the last failure.
	time.Sleep(health.DefaultSettle)
	if code := do(); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	recs = rec.take()
	if count(recs, slog.LevelInfo, "recovered") != 1 || count(recs, slog.LevelError, "") != 0 {
		t.Fatalf("after the restart: %v", recs)
	}
	if s = m.Stats(); s.Down || s.Outages != 1 {
		t.Fatalf("stats after the outage: %+v", s)
	}
}
