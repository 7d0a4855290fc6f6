package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ginsession/ginsession/backends"
)

var _ backends.UserIndexer = (*Store)(nil)

// The user index lives in the subdirectory ".users": one JSON file per
// user, named by the SHA-256 of the user id (never by the id itself), that
// maps session keys to the Unix time (ns) their link expires. A file is
// changed under the lock stripe of its name (the same locks as the
// entries, so other processes sharing the directory are excluded) and
// replaced atomically. Expired links are pruned whenever a file is written.
const usersDir = ".users"

type userFile struct {
	User  string           `json:"user"`
	Links map[string]int64 `json:"links"`
}

func (s *Store) userPath(user string) (path string, stripe int) {
	sum := sha256.Sum256([]byte("user\x00" + user))
	return filepath.Join(s.dir, usersDir, hex.EncodeToString(sum[:])+".json"), int(sum[0])
}

// readUserFile reads a user's index; a missing file is an empty index.
func readUserFile(path, user string) (userFile, error) {
	f := userFile{User: user, Links: map[string]int64{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("user index %s is damaged: %w", filepath.Base(path), err)
	}
	if f.Links == nil {
		f.Links = map[string]int64{}
	}
	return f, nil
}

// updateUser applies fn to user's index under its lock and writes it back
// (or removes the file when no link is left).
func (s *Store) updateUser(ctx context.Context, op, user string, fn func(f *userFile, now int64)) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	path, stripe := s.userPath(user)
	unlock, err := s.lock(ctx, stripe)
	if err != nil {
		return wrap(op, err)
	}
	defer unlock()
	f, err := readUserFile(path, user)
	if err != nil {
		return wrap(op, err)
	}
	now := s.now().UnixNano()
	fn(&f, now)
	for k, until := range f.Links {
		if until <= now {
			delete(f.Links, k)
		}
	}
	if len(f.Links) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return wrap(op, err)
		}
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return wrap(op, err)
	}
	if err := s.writeUserFile(path, b); err != nil {
		return wrap(op, err)
	}
	return nil
}

// writeUserFile replaces path atomically (temporary file, fsync, rename).
func (s *Store) writeUserFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(s.mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LinkUser records that key belongs to user until ttl from now (a later
// expiry already recorded is kept).
func (s *Store) LinkUser(ctx context.Context, user, key string, ttl time.Duration) error {
	return s.updateUser(ctx, "link user", user, func(f *userFile, now int64) {
		if until := now + int64(ttl); until > f.Links[key] {
			f.Links[key] = until
		}
	})
}

// UnlinkUser removes key from user's index.
func (s *Store) UnlinkUser(ctx context.Context, user, key string) error {
	return s.updateUser(ctx, "unlink user", user, func(f *userFile, _ int64) {
		delete(f.Links, key)
	})
}

// UserKeys returns the keys linked to user whose links have not expired.
func (s *Store) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := s.check(ctx, "user keys"); err != nil {
		return nil, err
	}
	path, stripe := s.userPath(user)
	unlock, err := s.lock(ctx, stripe)
	if err != nil {
		return nil, wrap("user keys", err)
	}
	defer unlock()
	f, err := readUserFile(path, user)
	if err != nil {
		return nil, wrap("user keys", err)
	}
	now := s.now().UnixNano()
	var keys []string
	for k, until := range f.Links {
		if until > now {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
