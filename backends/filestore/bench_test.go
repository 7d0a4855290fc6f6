package filestore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/filestore"
)

// Benchmarks of single operations on a 300-byte session, the size of a
// small msgpack session. Writes are dominated by the two fsyncs (file and
// directory), so their figures depend on the disk.
func BenchmarkSave(b *testing.B) {
	s, _ := filestore.New(b.TempDir(), filestore.Options{})
	v := bytes.Repeat([]byte("x"), 300)
	c := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Save(c, fmt.Sprintf("session:%d", i%100), v, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s, _ := filestore.New(b.TempDir(), filestore.Options{})
	c := context.Background()
	s.Save(c, "session:x", bytes.Repeat([]byte("x"), 300), time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Load(c, "session:x"); err != nil || !found {
			b.Fatal(found, err)
		}
	}
}

func BenchmarkLoadVersionRefresh(b *testing.B) {
	s, _ := filestore.New(b.TempDir(), filestore.Options{})
	c := context.Background()
	s.Save(c, "session:x", bytes.Repeat([]byte("x"), 300), time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if rec, err := s.LoadVersion(c, "session:x", time.Hour); err != nil || !rec.Refreshed {
			b.Fatal(rec, err)
		}
	}
}

func BenchmarkTouch(b *testing.B) {
	s, _ := filestore.New(b.TempDir(), filestore.Options{})
	c := context.Background()
	s.Save(c, "session:x", bytes.Repeat([]byte("x"), 300), time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Touch(c, "session:x", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadVersionSaveIf(b *testing.B) {
	s, _ := filestore.New(b.TempDir(), filestore.Options{})
	c := context.Background()
	v := bytes.Repeat([]byte("x"), 300)
	s.Save(c, "session:x", v, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		rec, err := s.LoadVersion(c, "session:x", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SaveIf(c, "session:x", v, rec.Version, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
