package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// numStripes is the number of key locks: one per value of the first byte
// of the key's hash, each with its own lock file.
const numStripes = 256

// lock takes stripe's lock: first the in-process one (a channel, so that
// waiting honours ctx), then the cross-process one (flock on the stripe's
// lock file). The returned func releases both.
func (s *Store) lock(ctx context.Context, stripe int) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case s.stripes[stripe] <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	path := filepath.Join(s.lockDir, fmt.Sprintf("%02x", stripe))
	f, err := lockFile(ctx, path, s.mode)
	if errors.Is(err, fs.ErrNotExist) {
		// Someone removed the lock directory: recreate it once.
		if err = os.MkdirAll(s.lockDir, 0o700); err == nil {
			f, err = lockFile(ctx, path, s.mode)
		}
	}
	if err != nil {
		<-s.stripes[stripe]
		return nil, err
	}
	return func() {
		unlockFile(f)
		<-s.stripes[stripe]
	}, nil
}
