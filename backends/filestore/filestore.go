// Package filestore keeps sessions as files in one directory, registered as
// SESSION_TYPE=filesystem. It needs no server, survives restarts, and may be
// shared by several processes on one machine.
//
// # Files
//
// Each entry lives in a file named by the hex SHA-256 of its key (64
// characters), directly in the store's directory: a file name never derives
// from the raw key, so no key — "../x", "/etc/passwd", a NUL, 10 KB of
// garbage — can name a path outside the directory. A file holds a 40-byte
// header (magic "GSES", format version 1, expiry in Unix nanoseconds, a
// random 64-bit version, key and value lengths, a CRC-32C of key and value),
// then the key, then the value. The key is stored so that Keys can list it
// and so that a read checks that the file really belongs to the key.
//
// # Atomicity
//
// Writes go to a fresh temporary file in the same directory (O_EXCL, the
// configured mode), which is fsynced and then renamed over the entry, and
// the directory is fsynced after the rename. A reader therefore sees either
// the old file or the new one, never a mix; a process killed mid-write
// leaves the old value and an orphaned ".tmp-*" file. Temporary files older
// than Options.StaleTemp (5 minutes by default) are removed when the store
// is opened, by every prune and by Cleanup, so crashed writers never fill
// the disk, whatever SESSION_CLEANUP_N_REQUESTS says. A file that fails its length or checksum check
// anyway (a disk or filesystem fault, a file copied in by hand) is treated
// as missing, logged and removed; a file with another magic or a newer
// format version is treated as missing, logged and left alone.
//
// Touch and a refreshing LoadVersion rewrite only the 8-byte expiry field
// in place (one aligned pwrite, under the key's lock, without fsync): the
// value is never rewritten. Readers take the same lock, so they never see a
// half-written expiry; after a power failure the entry may come back with
// its previous expiry (the core only ever extends expiries, so the session
// ends earlier than it would have).
//
// # Locking
//
// Every operation on a key holds the key's lock: one of 256 stripes chosen
// by the first byte of the key's hash. A stripe is a channel-based mutex
// within the Store (so waiting honours the context) plus flock(2) on the
// file ".locks/<stripe>" in the directory, which excludes other Store
// values and other processes. Lock files are never removed. Waiting for a
// lock held by another process polls with a short backoff until the
// context ends. On platforms without flock (Windows, Solaris) only the
// in-process lock applies.
//
// # Threshold
//
// The store keeps an estimate of how many entry files exist: one listing of
// the directory at New, then +1 for every file a write creates and -1 for
// every file it removes. Only when a write pushes the estimate over the
// threshold does it scan the directory: it removes expired (and corrupt)
// entries, then, if the count is still above 90% of the threshold, the
// live entries that expire soonest until it is at 90% (the entry just
// written is never removed). The scan corrects the estimate, which drifts
// when other processes share the directory. Pruning to 90% rather than to
// the threshold itself means a full store scans once every threshold/10 new
// sessions, not on every one.
package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ginsession/ginsession/backends"
)

// Defaults used when the corresponding Options or backends.Config field is zero.
const (
	// DefaultDir is SESSION_FILE_DIR's default, relative to the working directory.
	DefaultDir = "./flask_session"
	// DefaultMode is the permission of entry files when Options.Mode is zero.
	DefaultMode os.FileMode = 0o600
	// DefaultThreshold is the most entries kept when Options.Threshold is zero.
	DefaultThreshold = 500
)

// DefaultStaleTemp is how old a temporary file must be before the store
// treats it as orphaned by a writer that died, when Options.StaleTemp is
// zero. A write of the largest session takes milliseconds; a writer still
// busy after 5 minutes whose file is removed fails its rename with an error
// (nothing is lost silently).
const DefaultStaleTemp = 5 * time.Minute

func init() {
	backends.Register("filesystem", func(_ context.Context, cfg backends.Config) (backends.Store, error) {
		dir := cfg.FileDir
		if dir == "" {
			dir = DefaultDir
		}
		if err := CheckMode(cfg.FileMode); err != nil {
			return nil, fmt.Errorf("ginsession: SESSION_FILE_MODE=%#o: %w", uint32(cfg.FileMode), err)
		}
		s, err := newStore(dir, Options{Mode: cfg.FileMode, Threshold: cfg.FileThreshold, Logger: cfg.Log()})
		if err != nil {
			return nil, fmt.Errorf("ginsession: SESSION_FILE_DIR=%q: filesystem: %w", dir, err)
		}
		return s, nil
	})
}

// Options configure a filesystem store. The zero value gives files of mode
// 0600, a threshold of 500 entries and slog.Default() for diagnostics.
type Options struct {
	// Mode is the permission of entry files (SESSION_FILE_MODE); 0 means
	// 0600. Only permission bits are allowed, the owner must be able to
	// read and write, and others must have no access (see CheckMode). It is
	// applied exactly, whatever the umask.
	Mode os.FileMode

	// Threshold is the most entries kept (SESSION_FILE_THRESHOLD); 0 means
	// DefaultThreshold (500) and a negative value means no limit, matching
	// backends.Config.FileThreshold. (Flask's SESSION_FILE_THRESHOLD=0,
	// "no limit", reaches this field as a negative number: OptionsFromEnv
	// maps it.) See the package documentation for how pruning works.
	Threshold int

	// Logger receives diagnostics (corrupt entries, pruning); nil means
	// slog.Default().
	Logger *slog.Logger

	// StaleTemp is the age (by modification time) after which a temporary
	// file (".tmp-*", ".probe-*") is taken as orphaned by a writer that was
	// killed and removed: when the store is opened, with every prune and by
	// Cleanup. 0 means DefaultStaleTemp (5 minutes). There is no way to keep
	// orphaned files forever.
	StaleTemp time.Duration

	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Store keeps sessions as files in one directory. It implements
// backends.Store, backends.Toucher, backends.CompareAndSwapper,
// backends.Cleaner, backends.Lister and io.Closer, and is safe for
// concurrent use by goroutines and by processes sharing the directory.
type Store struct {
	dir       string
	lockDir   string
	mode      os.FileMode
	threshold int // < 0: unlimited
	staleTemp time.Duration
	log       *slog.Logger
	now       func() time.Time

	stripes [numStripes]chan struct{}
	count   atomic.Int64 // estimated number of entry files
	pruning atomic.Bool
	closed  atomic.Bool
}

// version is the CompareAndSwapper token: the random version in the header.
type version uint64

// New opens the store kept in dir, creating dir with mode 0700 if it is
// missing (existing directories keep their permissions). It fails with a
// clear error when dir cannot be created or written to, and lists dir once
// to count the entries already there.
func New(dir string, opts Options) (*Store, error) {
	s, err := newStore(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("ginsession: filesystem: %w", err)
	}
	return s, nil
}

func newStore(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("empty directory name")
	}
	if err := CheckMode(opts.Mode); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("directory %q: %w", dir, err)
	}
	s := &Store{
		dir:       abs,
		lockDir:   filepath.Join(abs, ".locks"),
		mode:      opts.Mode,
		threshold: opts.Threshold,
		staleTemp: opts.StaleTemp,
		log:       opts.Logger,
		now:       opts.Now,
	}
	if s.staleTemp <= 0 {
		s.staleTemp = DefaultStaleTemp
	}
	if s.mode == 0 {
		s.mode = DefaultMode
	}
	if s.threshold == 0 {
		s.threshold = DefaultThreshold
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.stripes {
		s.stripes[i] = make(chan struct{}, 1)
	}

	_, statErr := os.Stat(abs)
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Make the new directory's own entry durable.
		_ = syncDir(filepath.Dir(abs))
	}
	if err := os.MkdirAll(s.lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	// Fail now, not on the first request, when files cannot be created.
	probe, err := os.CreateTemp(abs, ".probe-")
	if err != nil {
		return nil, fmt.Errorf("directory is not writable: %w", err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	all, err := s.dirNames()
	if err != nil {
		return nil, err
	}
	n := 0
	flask := ""
	for _, name := range all {
		if isEntryName(name) {
			n++
		} else if isTempName(name) {
			s.removeStaleTemp(filepath.Join(abs, name))
		} else if flask == "" && isCachelibName(name) {
			flask = name
		}
	}
	s.count.Store(int64(n))
	if flask != "" {
		s.log.Warn("ginsession: filesystem: SESSION_FILE_DIR also holds Flask-Session (cachelib) files; "+
			"cachelib treats every file in its directory as its own and deletes ours when it prunes: give each its own directory",
			"dir", abs, "file", flask)
	}
	return s, nil
}

// isCachelibName reports whether a file name is one cachelib's
// FileSystemCache (Flask-Session's filesystem type) writes: an MD5 hex
// digest, or a temporary file ending in ".__wz_cache".
func isCachelibName(name string) bool {
	if strings.HasSuffix(name, ".__wz_cache") {
		return true
	}
	if len(name) != 32 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// CheckMode reports whether m can be the mode of entry files
// (SESSION_FILE_MODE, Options.Mode); 0 means the default, 0600. It must be
// permission bits only, let the owner read and write (the store rewrites
// its own files), and give others no access at all: a file holds its
// session's key, so anyone who can read it can take the session over, and
// anyone who can write it can forge one. Group bits are allowed, for
// processes of one group sharing the directory.
func CheckMode(m os.FileMode) error {
	if m == 0 {
		return nil
	}
	if m&^0o777 != 0 {
		return fmt.Errorf("file mode %#o: only permission bits (at most 0777) are allowed", uint32(m))
	}
	if m&0o600 != 0o600 {
		return fmt.Errorf("file mode %#o: the owner must be able to read and write (include 0600)", uint32(m))
	}
	if m&0o007 != 0 {
		return fmt.Errorf("file mode %#o is too loose: others must have no access (a session file holds its session id: whoever reads it can take the session over)", uint32(m))
	}
	return nil
}

// Dir returns the absolute path of the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close marks the store closed: later calls fail with an error matching
// backends.ErrClosed. The files stay. Close is idempotent and returns nil.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// entry is where a key lives.
type entry struct {
	name   string // hex SHA-256 of the key
	path   string
	stripe int
}

func (s *Store) entryFor(key string) entry {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:])
	return entry{name: name, path: filepath.Join(s.dir, name), stripe: int(sum[0])}
}

func (s *Store) entryNamed(name string) entry {
	b, _ := hex.DecodeString(name[:2])
	return entry{name: name, path: filepath.Join(s.dir, name), stripe: int(b[0])}
}

// isEntryName reports whether a directory entry is an entry file: 64
// lowercase hex digits.
func isEntryName(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func wrap(op string, err error) error {
	return fmt.Errorf("ginsession: filesystem: %s: %w", op, err)
}

// check fails when the store is closed or ctx is done.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return wrap(op, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// expiry returns the absolute expiry of an entry written now with ttl.
func (s *Store) expiry(ttl time.Duration) int64 {
	now := s.now().UnixNano()
	if ttl > 0 && int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(max(ttl, 0))
}

func newVersion() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// Load returns the value stored under key. Missing, expired and corrupt
// entries give found=false; expired and corrupt ones are removed.
func (s *Store) Load(ctx context.Context, key string) ([]byte, bool, error) {
	rec, err := s.load(ctx, "load", key, 0)
	return rec.Data, rec.Found, err
}

// LoadVersion is Load plus the entry's version for SaveIf. When refresh is
// positive it also sets the expiry to now+refresh in place (the version is
// unchanged) and reports Refreshed.
func (s *Store) LoadVersion(ctx context.Context, key string, refresh time.Duration) (backends.Record, error) {
	return s.load(ctx, "load", key, refresh)
}

func (s *Store) load(ctx context.Context, op, key string, refresh time.Duration) (backends.Record, error) {
	if err := s.check(ctx, op); err != nil {
		return backends.Record{}, err
	}
	e := s.entryFor(key)
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return backends.Record{}, wrap(op, err)
	}
	defer unlock()
	flag := os.O_RDONLY
	if refresh > 0 {
		flag = os.O_RDWR
	}
	f, err := openEntry(e.path, flag)
	if errors.Is(err, fs.ErrNotExist) {
		return backends.Record{}, nil
	}
	if err != nil {
		return backends.Record{}, s.unreadable(op, e, err)
	}
	defer f.Close()
	h, value, err := readEntry(f, key, true)
	if err != nil {
		return backends.Record{}, s.unreadable(op, e, err)
	}
	if h.expiry <= s.now().UnixNano() {
		s.remove(e)
		return backends.Record{}, nil
	}
	rec := backends.Record{Data: value, Found: true, Version: version(h.version)}
	if refresh > 0 {
		if err := writeExpiry(f, s.expiry(refresh)); err != nil {
			return backends.Record{}, wrap(op, err)
		}
		rec.Refreshed = true
	}
	return rec, nil
}

// unreadable handles an entry readEntry refused. A *formatError is a miss:
// logged, and removed when it is a damaged file of ours. Other errors are
// real I/O failures. The caller holds e's lock.
func (s *Store) unreadable(op string, e entry, err error) error {
	var fe *formatError
	if !errors.As(err, &fe) {
		return wrap(op, err)
	}
	removed := fe.damaged && s.remove(e)
	s.log.Warn("ginsession: filesystem: unreadable session file treated as missing",
		"file", e.path, "reason", fe.reason, "removed", removed)
	return nil
}

// remove deletes e's file and reports whether it did. The caller holds e's lock.
func (s *Store) remove(e entry) bool {
	if err := os.Remove(e.path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("ginsession: filesystem: cannot remove session file", "file", e.path, "err", err)
		}
		return false
	}
	s.count.Add(-1)
	return true
}

// Save stores data under key, replacing any previous value, so that it
// expires after ttl. The value is written to a temporary file, fsynced and
// renamed over the entry.
func (s *Store) Save(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	e := s.entryFor(key)
	// The temporary file needs no lock: only the rename does.
	tmp, err := s.writeTemp(e, key, data, s.expiry(ttl), newVersion())
	if err != nil {
		return wrap("save", err)
	}
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		os.Remove(tmp)
		return wrap("save", err)
	}
	_, statErr := os.Lstat(e.path)
	created, err := s.commit(ctx, tmp, e, statErr != nil)
	unlock()
	if err != nil {
		return wrap("save", err)
	}
	return s.afterWrite(ctx, "save", e, created)
}

// SaveIf stores data under key only if the entry still has the version
// LoadVersion returned (nil: only if there is no live entry). Otherwise it
// writes nothing and returns an error matching backends.ErrConflict.
func (s *Store) SaveIf(ctx context.Context, key string, data []byte, ver any, ttl time.Duration) error {
	if err := s.check(ctx, "save"); err != nil {
		return err
	}
	e := s.entryFor(key)
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return wrap("save", err)
	}
	exists, live, cur, err := s.inspect(e, key)
	if err != nil {
		unlock()
		return wrap("save", err)
	}
	if ver == nil {
		if live {
			unlock()
			return wrap("save", backends.ErrConflict)
		}
	} else if v, ok := ver.(version); !ok || !live || uint64(v) != cur.version {
		unlock()
		return wrap("save", backends.ErrConflict)
	}
	// Under the lock, so the comparison above still holds at the rename.
	tmp, err := s.writeTemp(e, key, data, s.expiry(ttl), newVersion())
	if err != nil {
		unlock()
		return wrap("save", err)
	}
	created, err := s.commit(ctx, tmp, e, !exists)
	unlock()
	if err != nil {
		return wrap("save", err)
	}
	return s.afterWrite(ctx, "save", e, created)
}

// inspect reads e's header under its lock: whether a file exists, whether
// it is a live entry of key, and its header. Unreadable files are handled
// (logged, maybe removed) and reported as not live.
func (s *Store) inspect(e entry, key string) (exists, live bool, h header, err error) {
	f, err := openEntry(e.path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, header{}, nil
	}
	if err == nil {
		defer f.Close()
		h, _, err = readEntry(f, key, false)
	}
	var fe *formatError
	if errors.As(err, &fe) {
		_ = s.unreadable("save", e, err) // logged, maybe removed: absent
		return true, false, header{}, nil
	}
	if err != nil {
		return true, false, header{}, err
	}
	return true, h.expiry > s.now().UnixNano(), h, nil
}

// commit renames tmp over e; the caller holds e's lock. created says
// whether no file existed before. A done ctx aborts before the rename, so
// that an error means nothing was written.
func (s *Store) commit(ctx context.Context, tmp string, e entry, created bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := os.Rename(tmp, e.path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if created {
		s.count.Add(1)
	}
	return created, nil
}

// afterWrite makes the rename durable and prunes when a new file pushed
// the count over the threshold.
func (s *Store) afterWrite(ctx context.Context, op string, e entry, created bool) error {
	if err := syncDir(s.dir); err != nil {
		return wrap(op, fmt.Errorf("written but not synced: %w", err))
	}
	if created && s.threshold > 0 && s.count.Load() > int64(s.threshold) {
		s.prune(ctx, e.name)
	}
	return nil
}

// writeTemp writes a complete entry file under a fresh temporary name in
// the store's directory, fsyncs it and returns its path.
func (s *Store) writeTemp(e entry, key string, data []byte, exp int64, ver uint64) (path string, err error) {
	if uint64(len(key)) > math.MaxUint32 {
		return "", fmt.Errorf("key of %d bytes: %w", len(key), backends.ErrTooLarge)
	}
	path = filepath.Join(s.dir, fmt.Sprintf(".tmp-%s-%016x", e.name[:16], rand.Uint64()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.mode)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
			if errors.Is(err, errFileTooLarge) {
				err = fmt.Errorf("%w: %w", backends.ErrTooLarge, err)
			}
		}
	}()
	// Exactly the configured mode, whatever the umask.
	if err = f.Chmod(s.mode); err != nil {
		return "", err
	}
	buf := encodeHeader(header{expiry: exp, version: ver, keyLen: uint32(len(key)), valLen: uint64(len(data)), crc: checksum(key, data)}, key, data)
	if _, err = f.Write(buf); err != nil {
		return "", err
	}
	if len(buf) < headerSize+len(key)+len(data) {
		if _, err = f.Write(data); err != nil {
			return "", err
		}
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return path, nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete"); err != nil {
		return err
	}
	e := s.entryFor(key)
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return wrap("delete", err)
	}
	err = os.Remove(e.path)
	unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return wrap("delete", err)
	}
	s.count.Add(-1)
	// A logged-out session must not come back after a power failure.
	if err := syncDir(s.dir); err != nil {
		return wrap("delete", fmt.Errorf("removed but not synced: %w", err))
	}
	return nil
}

// Touch sets the expiry of a live entry to now+ttl by rewriting only the
// header's expiry field in place. A missing or expired key is left alone.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.check(ctx, "touch"); err != nil {
		return err
	}
	e := s.entryFor(key)
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return wrap("touch", err)
	}
	defer unlock()
	f, err := openEntry(e.path, os.O_RDWR)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.unreadable("touch", e, err)
	}
	defer f.Close()
	h, _, err := readEntry(f, key, false)
	if err != nil {
		return s.unreadable("touch", e, err)
	}
	if h.expiry <= s.now().UnixNano() {
		s.remove(e)
		return nil
	}
	if err := writeExpiry(f, s.expiry(ttl)); err != nil {
		return wrap("touch", err)
	}
	return nil
}

// dirNames lists every name in the directory, unsorted.
func (s *Store) dirNames() ([]string, error) {
	d, err := os.Open(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list directory: %w", err)
	}
	defer d.Close()
	all, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list directory: %w", err)
	}
	return all, nil
}

// entryNames lists the entry files in the directory, unsorted.
func (s *Store) entryNames() ([]string, error) {
	all, err := s.dirNames()
	if err != nil {
		return nil, err
	}
	names := all[:0]
	for _, n := range all {
		if isEntryName(n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// Keys returns the keys of every live entry.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := s.check(ctx, "keys"); err != nil {
		return nil, err
	}
	names, err := s.entryNames()
	if err != nil {
		return nil, wrap("keys", err)
	}
	keys := make([]string, 0, len(names))
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, wrap("keys", err)
		}
		key, ok, err := s.peekKey(ctx, s.entryNamed(n))
		if err != nil {
			return nil, wrap("keys", err)
		}
		if ok {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// peekKey returns the key of a live, readable entry, under its lock.
func (s *Store) peekKey(ctx context.Context, e entry) (string, bool, error) {
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	h, key, err := readHeaderFile(e.path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	var fe *formatError
	if errors.As(err, &fe) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	// A file renamed by hand holds a key Load would not find under it.
	return key, h.expiry > s.now().UnixNano() && s.entryFor(key).name == e.name, nil
}

// Cleanup removes every expired entry and reports how many it removed. It
// also removes damaged entry files and temporary files older than
// Options.StaleTemp (orphaned by a writer that died).
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.check(ctx, "cleanup"); err != nil {
		return 0, err
	}
	all, err := s.dirNames()
	if err != nil {
		return 0, wrap("cleanup", err)
	}
	before := s.count.Load()
	seen, removed := 0, 0
	var firstErr error
	for _, n := range all {
		if err := ctx.Err(); err != nil {
			return removed, wrap("cleanup", err)
		}
		if isTempName(n) {
			s.removeStaleTemp(filepath.Join(s.dir, n))
			continue
		}
		if !isEntryName(n) {
			continue
		}
		seen++
		ok, err := s.removeIf(ctx, s.entryNamed(n), func(h header, now int64) bool { return h.expiry <= now })
		if ctx.Err() != nil {
			return removed, wrap("cleanup", ctx.Err())
		}
		if err != nil && firstErr == nil {
			firstErr = err // one bad file must not stop the others' cleanup
		}
		if ok {
			removed++
		}
	}
	s.count.Add(int64(seen) - before) // correct the estimate's drift
	if firstErr != nil {
		return removed, wrap("cleanup", firstErr)
	}
	return removed, nil
}

// isTempName reports whether name is a temporary file of ours: a write's
// ".tmp-*" file or the ".probe-*" file New creates to check the directory.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".tmp-") || strings.HasPrefix(name, ".probe-")
}

// removeStaleTemp removes the temporary file at path if it is older than
// the store's StaleTemp: its writer died (a live write takes milliseconds).
func (s *Store) removeStaleTemp(path string) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || s.now().Sub(fi.ModTime()) < s.staleTemp {
		return
	}
	if os.Remove(path) == nil {
		s.log.Info("ginsession: filesystem: removed an orphaned temporary file", "file", path)
	}
}

// removeIf removes e under its lock when its header satisfies cond, or
// when it is a damaged file of ours. Files of another format are left
// alone. It reports whether it removed the file.
func (s *Store) removeIf(ctx context.Context, e entry, cond func(h header, now int64) bool) (bool, error) {
	unlock, err := s.lock(ctx, e.stripe)
	if err != nil {
		return false, err
	}
	defer unlock()
	h, _, err := readHeaderFile(e.path, false)
	var fe *formatError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.As(err, &fe):
		if !fe.damaged {
			return false, nil
		}
		s.log.Warn("ginsession: filesystem: removing a damaged session file", "file", e.path, "reason", fe.reason)
		return s.remove(e), nil
	case err != nil:
		return false, err
	case cond(h, s.now().UnixNano()):
		return s.remove(e), nil
	}
	return false, nil
}

// openEntry opens an entry file without following a symbolic link and
// without blocking on a FIFO: a symbolic link is a foreign file, and so is
// anything that is not a regular file (checked by readHeader).
func openEntry(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|openFlags, 0)
	if err != nil && isSymlinkErr(err) {
		return nil, foreign("a symbolic link")
	}
	return f, err
}

// readHeaderFile opens path and reads its header (and key when withKey).
func readHeaderFile(path string, withKey bool) (header, string, error) {
	f, err := openEntry(path, os.O_RDONLY)
	if err != nil {
		return header{}, "", err
	}
	defer f.Close()
	return readHeader(f, withKey)
}

var _ io.Closer = (*Store)(nil)

var (
	_ backends.Store             = (*Store)(nil)
	_ backends.Toucher           = (*Store)(nil)
	_ backends.CompareAndSwapper = (*Store)(nil)
	_ backends.Cleaner           = (*Store)(nil)
	_ backends.Lister            = (*Store)(nil)
)
