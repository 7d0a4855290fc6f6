package wire

// Test shorthands: the codec tests predate the Entry API.

type codec = Format

type entry = Entry

var (
	msgpackCodec = MsgPack
	jsonCodec    = JSON
)

func (f Format) encode(dst []byte, entries []Entry) ([]byte, error) { return f.Encode(dst, entries) }

// decode is Decode with no limits, every value decoded (so tests can read
// the val field).
func (f Format) decode(dst []Entry, src []byte) ([]Entry, error) {
	entries, err := f.Decode(dst, src, Limits{})
	if err != nil {
		return entries, err
	}
	return entries, forceValues(entries)
}

func forceValues(entries []Entry) error {
	for i := range entries {
		if _, err := entries[i].Value(); err != nil {
			return err
		}
	}
	return nil
}

func decodeAny(primary Format, dst []Entry, src []byte) ([]Entry, error) {
	entries, _, err := DecodeAny(primary, dst, src, Limits{})
	if err != nil {
		return entries, err
	}
	return entries, forceValues(entries)
}

var errNoSession = ErrNil

// fresh returns entries holding the same values without their stored bytes
// (as if the program had set each one), to test the encoding of values.
func fresh(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	for i := range entries {
		v, err := entries[i].Value()
		if err != nil {
			panic(err)
		}
		out[i] = Entry{Key: entries[i].Key, Foreign: entries[i].Foreign, val: v}
	}
	return out
}
