package gormstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ginsession/ginsession/internal/testserver"
)

// benchDatabases are the databases the benchmarks run on.
func benchDatabases(b *testing.B) map[string]string {
	pg := testserver.SharedPostgres(b)
	m := testserver.SharedMariaDB(b)
	return map[string]string{
		"sqlite":   "sqlite:///" + filepath.Join(b.TempDir(), "bench.db"),
		"postgres": pg.URL(pg.NewDatabase(b)),
		"mariadb":  m.URL(m.NewDatabase(b)),
	}
}

// BenchmarkStore measures one call of each kind on an existing session of
// about 100 bytes (one statement each).
func BenchmarkStore(b *testing.B) {
	for name, url := range benchDatabases(b) {
		s, err := Open(context.Background(), url, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		ctx := context.Background()
		value := make([]byte, 100)
		if err := s.Save(ctx, "session:bench", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/Load", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Load(ctx, "session:bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Save", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Save(ctx, "session:bench", value, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Touch", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Touch(ctx, "session:bench", time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/LoadVersion+SaveIf", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec, err := s.LoadVersion(ctx, "session:bench", 0)
				if err != nil {
					b.Fatal(err)
				}
				value[0]++
				if err := s.SaveIf(ctx, "session:bench", value, rec.Version, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
