package nullstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return New(slog.New(slog.DiscardHandler))
	}, storetest.Options{NoPersistence: true})
}

func TestZeroValue(t *testing.T) {
	var s Store
	if err := s.Save(t.Context(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Load(t.Context(), "k"); found || err != nil {
		t.Fatalf("Load = %v, %v", found, err)
	}
}

func capture() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func checkWarnedOnce(t *testing.T, buf *bytes.Buffer) {
	t.Helper()
	out := buf.String()
	if n := strings.Count(out, "sessions are not stored"); n != 1 {
		t.Fatalf("warning logged %d times; want 1. Log:\n%s", n, out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "SESSION_TYPE=null") {
		t.Fatalf("want one WARN naming SESSION_TYPE=null; log:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("logged %d lines; want 1. Log:\n%s", n, out)
	}
}

func use(t *testing.T, s backends.Store) {
	t.Helper()
	ctx := t.Context()
	for range 3 {
		if err := s.Save(ctx, "session:x", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, found, err := s.Load(ctx, "session:x"); found || err != nil {
			t.Fatalf("Load = %v, %v; want not found", found, err)
		}
		if err := s.Delete(ctx, "session:x"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewWarnsOnce(t *testing.T) {
	logger, buf := capture()
	s := New(logger)
	use(t, s)
	checkWarnedOnce(t, buf)
}

func TestFactoryWarnsOnce(t *testing.T) {
	logger, buf := capture()
	s, err := backends.Open(context.Background(), backends.Config{Type: "null", Logger: logger})
	if err != nil {
		t.Fatalf("Open(null): %v", err)
	}
	if _, ok := s.(*Store); !ok {
		t.Fatalf("Open(null) = %T", s)
	}
	use(t, s)
	checkWarnedOnce(t, buf)
}

func TestFactoryDefaultLogger(t *testing.T) {
	logger, buf := capture()
	old := slog.Default()
	slog.SetDefault(logger)
	defer slog.SetDefault(old)
	if _, err := backends.Open(context.Background(), backends.Config{Type: "NULL"}); err != nil {
		t.Fatalf("Open(NULL): %v", err)
	}
	checkWarnedOnce(t, buf)
}
