package ginsession

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/backends/mongostore"
	"github.com/ginsession/ginsession/backends/storetest"
	"github.com/ginsession/ginsession/internal/testserver"
)

// The mongodb harness runs on the FerretDB (SQLite handler) shared by this
// test binary; its Controller kills, pauses and restarts that server, and
// the next open heals it. With GINSESSION_TEST_MONGODB_URI set, the suites
// also run against that server ("mongodb/external", no Controller).
func init() {
	registerHarness(harness{
		name: "mongodb",
		open: func(t *testing.T) (backends.Store, testserver.Controller) {
			srv := testserver.SharedFerretDB(t)
			return openMongoStore(t, srv.URI), srv
		},
		// Expiry is checked on every read against millisecond dates.
		conformance: storetest.Options{Granularity: 250 * time.Millisecond},
	})
	if uri := testserver.ExternalMongoDBURI(); uri != "" {
		registerHarness(harness{
			name: "mongodb/external",
			open: func(t *testing.T) (backends.Store, testserver.Controller) {
				return openMongoStore(t, uri), nil
			},
			conformance: storetest.Options{Granularity: 250 * time.Millisecond},
		})
	}
}

// openMongoStore returns a store on a fresh collection of its own, dropped
// (and the client disconnected) by t.Cleanup.
func openMongoStore(t *testing.T, uri string) backends.Store {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("mongo.Connect(%s): %v", uri, err)
	}
	coll := "h_" + rand.Text()
	s, err := mongostore.New(client, mongostore.Options{Database: "ginsession_test", Collection: coll})
	if err != nil {
		_ = client.Disconnect(context.Background())
		t.Fatalf("mongostore.New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Collection().Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return s
}
