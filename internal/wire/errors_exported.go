package wire

// ErrInvalidUTF8 reports a string that is not UTF-8 given to an encoder or
// to Normalize (binary data belongs in a []byte).
var ErrInvalidUTF8 = errInvalidUTF8
