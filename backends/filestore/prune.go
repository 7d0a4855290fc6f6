package filestore

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
)

// pruneTarget is the count pruning brings the store down to: 90% of the
// threshold, so that a full store scans once per threshold/10 new entries.
func (s *Store) pruneTarget() int64 {
	return int64(s.threshold - s.threshold/10)
}

// prune runs after a write that created a file pushed the estimated count
// over the threshold. It scans the directory once: expired and damaged
// entries go first; if the count is still above the target, the live
// entries that expire soonest follow. keep (the entry just written) is
// never removed. Temporary files older than StaleTemp are removed on the
// way. Only one prune runs at a time per Store; the others skip.
// Pruning is best effort: it stops when ctx ends and only logs failures,
// since the write that triggered it has succeeded.
func (s *Store) prune(ctx context.Context, keep string) {
	if !s.pruning.CompareAndSwap(false, true) {
		return
	}
	defer s.pruning.Store(false)
	before := s.count.Load()
	all, err := s.dirNames()
	if err != nil {
		s.log.Warn("ginsession: filesystem: prune", "err", err)
		return
	}
	names := all[:0]
	for _, n := range all {
		switch {
		case isEntryName(n):
			names = append(names, n)
		case isTempName(n):
			s.removeStaleTemp(filepath.Join(s.dir, n))
		}
	}
	type candidate struct {
		e       entry
		expiry  int64
		version uint64
	}
	var live []candidate
	seen, expired, evicted := 0, 0, 0
	now := s.now().UnixNano()
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		e := s.entryNamed(n)
		// Read without the lock: only a hint, checked again under the
		// lock before anything is removed.
		h, _, err := readHeaderFile(e.path, false)
		var fe *formatError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.As(err, &fe) && !fe.damaged, n == keep:
			seen++
			continue
		case err == nil && h.expiry > now:
			seen++
			live = append(live, candidate{e, h.expiry, h.version})
			continue
		}
		seen++ // expired, damaged or unreadable: try to remove it
		ok, err := s.removeIf(ctx, e, func(h header, now int64) bool { return h.expiry <= now })
		if err != nil {
			s.log.Warn("ginsession: filesystem: prune", "file", e.path, "err", err)
		}
		if ok {
			expired++
		}
	}
	// Correct the estimate with what the scan saw (other processes write
	// to the directory too), keeping changes made while it ran.
	s.count.Add(int64(seen) - before)

	slices.SortFunc(live, func(a, b candidate) int { return cmp.Compare(a.expiry, b.expiry) })
	for _, c := range live {
		if s.count.Load() <= s.pruneTarget() || ctx.Err() != nil {
			break
		}
		// Only if it was not rewritten since the scan.
		ok, err := s.removeIf(ctx, c.e, func(h header, _ int64) bool { return h.version == c.version })
		if err != nil {
			s.log.Warn("ginsession: filesystem: prune", "file", c.e.path, "err", err)
		}
		if ok {
			evicted++
		}
	}
	s.log.Debug("ginsession: filesystem: pruned", "dir", s.dir, "threshold", s.threshold,
		"expired", expired, "evicted", evicted, "count", s.count.Load())
	if evicted > 0 {
		s.log.Warn("ginsession: filesystem: over SESSION_FILE_THRESHOLD, removed the live sessions expiring soonest",
			"dir", s.dir, "threshold", s.threshold, "removed", evicted)
	}
}
