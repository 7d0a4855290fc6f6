package gormstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/testserver"
)

// TestStartWithServerDown opens a store while its database server is down
// (ginsession's start-up policy): Open returns within its context with a
// warning, calls fail while the server is down, and once it is started the
// first call creates the table and the store works.
func TestStartWithServerDown(t *testing.T) {
	for _, db := range []struct {
		name  string
		start func(t *testing.T) (url string, ctl testserver.Controller)
	}{
		{"postgres", func(t *testing.T) (string, testserver.Controller) {
			pg := testserver.StartPostgres(t)
			return pg.URL(pg.NewDatabase(t)), pg
		}},
		{"mariadb", func(t *testing.T) (string, testserver.Controller) {
			m := testserver.StartMariaDB(t)
			return m.URL(m.NewDatabase(t)), m
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			url, ctl := db.start(t)
			ctl.Kill(t)
			logs := &syncBuffer{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			start := time.Now()
			s, err := Open(ctx, url, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			cancel()
			if err != nil {
				t.Fatalf("Open with the server down = %v; want a store", err)
			}
			t.Cleanup(func() { s.Close() })
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Open took %v with a 1s context", took)
			}
			if !strings.Contains(logs.String(), "not reachable at start") {
				t.Errorf("no warning logged: %q", logs.String())
			}
			ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			err = s.Save(ctx, "session:early", []byte("x"), time.Hour)
			cancel()
			if err == nil || strings.Count(err.Error(), "ginsession:") != 1 {
				t.Fatalf("Save with the server down = %v; want one error with one prefix", err)
			}
			t.Logf("server down: %v", err)

			ctl.Restart(t)
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := s.SaveIf(ctxT(t), "session:late", []byte("v"), nil, time.Hour)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still failing 30s after the restart: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			data, found, err := s.Load(ctxT(t), "session:late")
			if err != nil || !found || string(data) != "v" {
				t.Fatalf("Load after the restart = %q, %v, %v", data, found, err)
			}
			// The table was created on first use, with its unique key.
			if err := s.SaveIf(ctxT(t), "session:late", []byte("w"), nil, time.Hour); !errors.Is(err, backends.ErrConflict) {
				t.Errorf("second create of one key = %v; want ErrConflict", err)
			}
			var n int64
			if err := s.DB().WithContext(ctxT(t)).Raw("SELECT COUNT(*) FROM sessions").Scan(&n).Error; err != nil || n != 1 {
				t.Errorf("rows in sessions = %d, %v; want 1", n, err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for log assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
