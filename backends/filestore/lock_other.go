//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filestore

import (
	"context"
	"os"
)

// lockFile has no cross-process lock on this platform: only the in-process
// lock of each Store applies.
func lockFile(ctx context.Context, path string, mode os.FileMode) (*os.File, error) {
	return nil, nil
}

func unlockFile(*os.File) {}

// openFlags: no O_NOFOLLOW here; readHeader still refuses anything that is
// not a regular file.
const openFlags = 0

func isSymlinkErr(error) bool { return false }

// syncDir is a no-op where directories cannot be opened and fsynced.
func syncDir(string) error { return nil }
