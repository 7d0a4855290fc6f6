package dynamostore_test

import (
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/dynamostore"
	"github.com/ginsession/ginsession/internal/testserver"
)

func benchStore(b *testing.B) (*dynamostore.Store, *counter, string) {
	c := &counter{}
	client := localClient(b, testserver.SharedDynalite(b).Endpoint, c)
	st, err := dynamostore.New(client, dynamostore.Options{Table: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	key := "bench:" + b.Name()
	if err := st.Save(b.Context(), key, make([]byte, 300), time.Hour); err != nil {
		b.Fatal(err)
	}
	c.take()
	return st, c, key
}

// BenchmarkLoadVersionRefresh is the read of every request: one GetItem,
// no write while the expiry is within the refresh window.
func BenchmarkLoadVersionRefresh(b *testing.B) {
	st, c, key := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		rec, err := st.LoadVersion(b.Context(), key, time.Hour)
		if err != nil || !rec.Refreshed {
			b.Fatal(err, rec.Refreshed)
		}
	}
	b.ReportMetric(float64(len(c.take()))/float64(b.N), "roundtrips/op")
}

// BenchmarkSaveIf is a conditional write of a 300-byte session: one
// UpdateItem with ConditionExpression val = :loaded.
func BenchmarkSaveIf(b *testing.B) {
	st, c, key := benchStore(b)
	data := make([]byte, 300)
	rec, err := st.LoadVersion(b.Context(), key, 0)
	if err != nil {
		b.Fatal(err)
	}
	c.take()
	b.ReportAllocs()
	for b.Loop() {
		if err := st.SaveIf(b.Context(), key, data, rec.Version, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.take()))/float64(b.N), "roundtrips/op")
}
