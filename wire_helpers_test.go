package ginsession

import (
	"github.com/ginsession/ginsession/internal/engine"
	"github.com/ginsession/ginsession/internal/wire"
)

// Test shorthands over internal/wire.

type codec = wire.Format

var msgpackCodec = wire.MsgPack

// kv is an entry holding v under key.
func kv(key string, v any) entry { return wire.NewEntry(key, v) }

// entry is a top-level session item.
type entry = wire.Entry

// Reserved keys.
const (
	permanentKey = engine.PermanentKey
	createdKey   = engine.CreatedKey
)
