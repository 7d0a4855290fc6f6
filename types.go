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

// entry is one top-level session item (its stored bytes are kept until it
// is set, and decoded on first use).
type entry = wire.Entry

// valueOf returns the value of e, decoding it on first use. Decoding cannot
// fail for an entry that wire.Decode accepted (it checked every byte; the
// wire fuzz tests hold it to that): a failure would be a bug, and reads
// as a missing value.
func valueOf(e *entry) any {
	v, _ := e.Value()
	return v
}

// errNoSession is returned when the stored value is nil/null, which
// Flask-Session treats as "no session".
var errNoSession = wire.ErrNil
