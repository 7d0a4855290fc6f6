package ginsession

import (
	"context"
	"crypto/rand"
	"log/slog"
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
		// Expiry is checked on every read against millisecond dates, but
		// FerretDB on SQLite can take a few hundred ms per call when busy.
		conformance: storetest.Options{Granularity: time.Second},
	})
	if uri := testserver.ExternalMongoDBURI(); uri != "" {
		registerHarness(harness{
			name: "mongodb/external",
			open: func(t *testing.T) (backends.Store, testserver.Controller) {
				return openMongoStore(t, uri), nil
			},
			conformance: storetest.Options{Granularity: time.Second},
		})
	}
}

// openMongoStore returns a store on a fresh database of its own (FerretDB
// keeps one SQLite file per database and scans whole collections, so small
// separate databases keep it fast), dropped with the client disconnected by
// t.Cleanup.
func openMongoStore(t *testing.T, uri string) backends.Store {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("mongo.Connect(%s): %v", uri, err)
	}
	s, err := mongostore.New(client, mongostore.Options{Database: "gs_" + rand.Text(), Logger: quietLogger})
	if err != nil {
		_ = client.Disconnect(context.Background())
		t.Fatalf("mongostore.New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Collection().Database().Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return s
}

// quietLogger drops the store's start-up notes (TTL index, FerretDB).
var quietLogger = slog.New(slog.DiscardHandler)
