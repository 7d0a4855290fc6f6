package errs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWrapKeepsOnePrefix(t *testing.T) {
	base := errors.New("server selection error: context deadline exceeded")
	inner := fmt.Errorf("ginsession: mongodb: create a unique index on sessions.id: %w", base)
	mid := Wrap(`ginsession: SESSION_MONGODB="mongodb://x"`, inner)
	outer := Wrap("open mongodb store", mid)
	want := `ginsession: open mongodb store: SESSION_MONGODB="mongodb://x": mongodb: create a unique index on sessions.id: server selection error: context deadline exceeded`
	if outer.Error() != want {
		t.Fatalf("got  %s\nwant %s", outer, want)
	}
	if strings.Count(outer.Error(), "ginsession:") != 1 || !errors.Is(outer, base) {
		t.Fatalf("%v: prefix count %d, Is(base) %v", outer, strings.Count(outer.Error(), "ginsession:"), errors.Is(outer, base))
	}
	if Wrap("x", nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
}

func TestPrefixed(t *testing.T) {
	own := errors.New("ginsession: mongodb: server not reachable")
	if Prefixed("ginsession: mongodb", own) != own {
		t.Fatal("a prefixed error was wrapped again")
	}
	bare := errors.New("waiting for the store's setup: context deadline exceeded")
	if got := Prefixed("ginsession: mongodb", bare); got.Error() != "ginsession: mongodb: waiting for the store's setup: context deadline exceeded" || !errors.Is(got, bare) {
		t.Fatalf("Prefixed(bare) = %v", got)
	}
	if Prefixed("x", nil) != nil {
		t.Fatal("Prefixed(nil) != nil")
	}
}
