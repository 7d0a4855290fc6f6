package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// The entry file format, version 1. All integers are little-endian.
//
//	offset size field
//	     0    4 magic "GSES"
//	     4    1 format version (1)
//	     5    3 reserved, zero
//	     8    8 expiry, Unix nanoseconds (int64); rewritten in place by Touch
//	    16    8 version, random, new on every write (uint64)
//	    24    4 key length K (uint32)
//	    28    4 CRC-32C (Castagnoli) of key then value
//	    32    8 value length V (uint64)
//	    40    K key
//	  40+K    V value
//
// The file's size must be exactly 40+K+V. The expiry is not covered by the
// checksum because Touch rewrites it alone.
const (
	headerSize    = 40
	formatVersion = 1
	expiryOffset  = 8
	// inlineValue is the largest value written in the same write(2) as the
	// header; larger ones get a second write instead of a copy.
	inlineValue = 64 << 10
)

var (
	magic      = [4]byte{'G', 'S', 'E', 'S'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	errFileTooLarge = syscall.EFBIG
)

type header struct {
	expiry  int64
	version uint64
	keyLen  uint32
	crc     uint32
	valLen  uint64
}

// formatError is a file the store cannot use as an entry. damaged marks a
// file of ours that is inconsistent (short, wrong size, bad checksum): it
// is removed. Otherwise the file is foreign (another magic, a newer format
// version, another key) and is left alone.
type formatError struct {
	reason  string
	damaged bool
}

func (e *formatError) Error() string { return "unreadable session file: " + e.reason }

func damaged(format string, args ...any) error {
	return &formatError{reason: fmt.Sprintf(format, args...), damaged: true}
}

func foreign(format string, args ...any) error {
	return &formatError{reason: fmt.Sprintf(format, args...)}
}

func checksum(key string, data []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(key))
	return crc32.Update(c, castagnoli, data)
}

// encodeHeader returns the header followed by the key, and by the value too
// when it is small enough to go in the same write.
func encodeHeader(h header, key string, data []byte) []byte {
	n := headerSize + len(key)
	if len(data) <= inlineValue {
		n += len(data)
	}
	buf := make([]byte, headerSize, n)
	copy(buf, magic[:])
	buf[4] = formatVersion
	binary.LittleEndian.PutUint64(buf[expiryOffset:], uint64(h.expiry))
	binary.LittleEndian.PutUint64(buf[16:], h.version)
	binary.LittleEndian.PutUint32(buf[24:], h.keyLen)
	binary.LittleEndian.PutUint32(buf[28:], h.crc)
	binary.LittleEndian.PutUint64(buf[32:], h.valLen)
	buf = append(buf, key...)
	if len(data) <= inlineValue {
		buf = append(buf, data...)
	}
	return buf
}

// readHeader reads and checks the header of the file f (positioned at its
// start) against the file's size, and the key too when withKey.
func readHeader(f *os.File, withKey bool) (header, string, error) {
	fi, err := f.Stat()
	if err != nil {
		return header{}, "", err
	}
	if !fi.Mode().IsRegular() {
		return header{}, "", foreign("not a regular file (%v)", fi.Mode().Type())
	}
	size := fi.Size()
	var buf [headerSize]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return header{}, "", err
	}
	// Someone else's file first (even a short one), then a damaged one of ours.
	if n >= len(magic) && [4]byte(buf[:4]) != magic {
		return header{}, "", foreign("no GSES magic: not a ginsession file")
	}
	if n > 4 && buf[4] != formatVersion {
		return header{}, "", foreign("format version %d; this build reads version %d", buf[4], formatVersion)
	}
	if n < headerSize {
		return header{}, "", damaged("%d bytes, shorter than the %d-byte header", size, headerSize)
	}
	h := header{
		expiry:  int64(binary.LittleEndian.Uint64(buf[expiryOffset:])),
		version: binary.LittleEndian.Uint64(buf[16:]),
		keyLen:  binary.LittleEndian.Uint32(buf[24:]),
		crc:     binary.LittleEndian.Uint32(buf[28:]),
		valLen:  binary.LittleEndian.Uint64(buf[32:]),
	}
	if h.valLen > uint64(size) || uint64(size) != headerSize+uint64(h.keyLen)+h.valLen {
		return header{}, "", damaged("%d bytes; the header describes %d+%d+%d (torn or truncated)", size, headerSize, h.keyLen, h.valLen)
	}
	if !withKey {
		return h, "", nil
	}
	key := make([]byte, h.keyLen)
	if _, err := io.ReadFull(f, key); err != nil {
		return header{}, "", shortRead(err)
	}
	return h, string(key), nil
}

func shortRead(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return damaged("file shrank while being read")
	}
	return err
}

// readEntry reads the entry in f and checks that it belongs to key. With
// withValue it also reads the value and verifies the checksum.
func readEntry(f *os.File, key string, withValue bool) (header, []byte, error) {
	h, _, err := readHeader(f, false)
	if err != nil {
		return header{}, nil, err
	}
	n := uint64(h.keyLen)
	if withValue {
		n += h.valLen
	}
	rest := make([]byte, n)
	if _, err := io.ReadFull(f, rest); err != nil {
		return header{}, nil, shortRead(err)
	}
	if string(rest[:h.keyLen]) != key {
		return header{}, nil, foreign("the file holds another key")
	}
	if !withValue {
		return h, nil, nil
	}
	value := rest[h.keyLen:]
	if c := crc32.Update(crc32.Update(0, castagnoli, rest[:h.keyLen]), castagnoli, value); c != h.crc {
		return header{}, nil, damaged("checksum %08x, header says %08x", c, h.crc)
	}
	return h, value, nil
}

// writeExpiry rewrites the expiry field in place: one aligned 8-byte pwrite.
func writeExpiry(f *os.File, exp int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(exp))
	_, err := f.WriteAt(b[:], expiryOffset)
	return err
}
