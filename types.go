package ginsession

import "github.com/ginsession/ginsession/internal/wire"

// Map is an ordered map whose keys are not all strings: nested maps with int or
// bytes keys written by another program (Python) are decoded into it so they
// survive a rewrite. A Map set by the application is encoded in its own order.
type Map = wire.Map

// MapItem is one key/value pair of a Map.
type MapItem = wire.MapItem

// Ext is a msgpack extension value ginsession does not interpret; it is kept
// and written back unchanged.
type Ext = wire.Ext
