package dynamostore_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/dynamostore"
)

// TestExpiriesBatched: Expiries reads 100 keys per BatchGetItem, and a
// key asked twice is asked once (DynamoDB refuses duplicates in a batch).
func TestExpiriesBatched(t *testing.T) {
	f := newFixture(t, targets()[0], dynamostore.Options{})
	keys := make([]string, 250)
	for i := range keys {
		keys[i] = f.prefix + strconv.Itoa(i)
	}
	for _, k := range keys[:3] {
		if err := f.store.Save(ctx(t), k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	f.count.take()
	got, err := f.store.Expiries(ctx(t), append(keys, keys[0]))
	if err != nil {
		t.Fatal(err)
	}
	if ops := f.count.take(); !slices.Equal(ops, []string{"BatchGetItem", "BatchGetItem", "BatchGetItem"}) {
		t.Errorf("Expiries of 250 distinct keys sent %q; want 3 BatchGetItem", ops)
	}
	for i, at := range got {
		live := i < 3 || i == 250
		if d := time.Until(at); live && (d < 59*time.Minute || d > time.Hour+2*time.Second) || !live && !at.IsZero() {
			t.Errorf("key %d expires at %v (in %v); want in an hour for a saved key, the zero time otherwise", i, at, d)
		}
	}
}

// TestKeysSkipUserIndex: with an empty SESSION_KEY_PREFIX the scan also
// meets the user index items; Keys lists the sessions only.
func TestKeysSkipUserIndex(t *testing.T) {
	tg := targets()[0]
	f := newFixture(t, tg, dynamostore.Options{})
	s, err := dynamostore.New(f.client, dynamostore.Options{Table: f.table})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(ctx(t), "sid1", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkUser(ctx(t), "alice", "sid1", time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"sid1"}) {
		t.Fatalf("Keys = %q; want only the session", keys)
	}
}
