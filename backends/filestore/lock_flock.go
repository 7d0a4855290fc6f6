//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package filestore

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// lockFile opens (creating it if needed) the lock file at path and takes
// an exclusive flock on it, polling with a capped, jittered backoff while
// another process or Store holds it, until ctx ends. The lock belongs to
// the open file description, so it also excludes other Store values in
// this process, and the kernel releases it when a process dies.
func lockFile(ctx context.Context, path string, mode os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|openFlags, mode)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	delay := 50 * time.Microsecond
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var lockErr error
		if err := rc.Control(func(fd uintptr) {
			lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
		}); err != nil {
			f.Close()
			return nil, err
		}
		switch {
		case lockErr == nil:
			return f, nil
		case errors.Is(lockErr, syscall.EINTR):
			continue
		case !errors.Is(lockErr, syscall.EWOULDBLOCK):
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: lockErr}
		}
		wait := delay/2 + rand.N(delay/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, 5*time.Millisecond)
	}
}

// openFlags make opening an entry or lock file never follow a symbolic
// link nor block on a FIFO someone put in the directory.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func isSymlinkErr(err error) bool { return errors.Is(err, syscall.ELOOP) }

// unlockFile releases the lock by closing the only descriptor of its open
// file description.
func unlockFile(f *os.File) { f.Close() }

// syncDir fsyncs a directory, making renames and removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
