package ginsession

// The in-process stores are always available under SESSION_TYPE "memory"
// and "null".
import (
	_ "github.com/ginsession/ginsession/backends/memstore"
	_ "github.com/ginsession/ginsession/backends/nullstore"
)
