package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/wire"
)

// queue serialises, and batches, the compare-and-swap writes of one session
// within the process: while one request writes, the others wait, and the
// first of them then leads a batch that writes all their changes at once.
type queue struct {
	waiting []*pending
	first   [1]*pending // backs waiting for the first writer: no allocation for it
	running bool        // a leader is writing
}

// pending is one request's write in a queue. A follower's changes are a
// snapshot: the follower may give up (its budget ran out) and go on while
// the leader still reads them.
type pending struct {
	sid     string
	changes []change
	turn    chan bool // true: lead the next batch; false: done, result set
	err     error
	dropped bool
}

// swap writes r's session (data, its encoding) with compare-and-swap,
// batched with the other writers of the same session in this process. The
// caller holds r.mu.
func (e *Engine) swap(r *Request, key string, data []byte, ttl time.Duration) (dropped bool, err error) {
	p := &pending{sid: r.sid, changes: r.changes}
	e.qmu.Lock()
	q := e.queues[key]
	if q == nil {
		q = &queue{}
		q.waiting = q.first[:0]
		e.queues[key] = q
	}
	q.waiting = append(q.waiting, p)
	lead := !q.running
	if !lead {
		p.changes = slices.Clone(r.changes)
		p.turn = make(chan bool, 1)
	}
	q.running = true
	e.qmu.Unlock()

	if !lead {
		ctx, c := r.writeCtx()
		lead, err = e.wait(ctx, q, key, p)
		r.done(c)
		if !lead {
			return p.dropped, err
		}
	}
	return e.lead(r, q, key, p, data, ttl)
}

// wait waits for p's turn or result, within ctx. It reports whether p now
// leads; if not, the result (or the expiry of ctx) is in err.
func (e *Engine) wait(ctx context.Context, q *queue, key string, p *pending) (lead bool, err error) {
	select {
	case lead = <-p.turn:
		return lead, p.err
	case <-ctx.Done():
	}
	e.qmu.Lock()
	defer e.qmu.Unlock()
	select {
	case lead = <-p.turn:
		if !lead {
			return false, p.err // the result came just now
		}
		// Handed the lead just now: give it up to the next waiter.
		q.waiting = slices.DeleteFunc(q.waiting, func(w *pending) bool { return w == p })
		e.passLead(q, key)
		return false, ctx.Err()
	default:
	}
	// Still waiting: leave the queue, nothing of p is written. Otherwise p
	// is in a batch being written, which may still succeed, but this
	// request cannot wait for it.
	q.waiting = slices.DeleteFunc(q.waiting, func(w *pending) bool { return w == p })
	return false, ctx.Err()
}

// passLead hands the queue to its first waiter, who then writes every
// waiting request's changes, or retires the queue. The caller holds e.qmu.
func (e *Engine) passLead(q *queue, key string) {
	if len(q.waiting) > 0 {
		q.waiting[0].turn <- true
		return
	}
	q.running = false
	delete(e.queues, key)
}

// lead writes a batch: every request waiting in q (p first). Whatever
// happens, panics included, the others get a result and the queue moves on.
func (e *Engine) lead(r *Request, q *queue, key string, p *pending, data []byte, ttl time.Duration) (dropped bool, err error) {
	e.qmu.Lock()
	batch := q.waiting
	q.waiting = nil
	e.qmu.Unlock()
	if i := slices.Index(batch, p); i > 0 { // p leads: its own encoding is tried first
		batch[0], batch[i] = batch[i], batch[0]
	}

	err = ErrPanicked // until writeBatch returns
	defer func() {
		for _, b := range batch[1:] {
			b.err = err
			b.turn <- false
		}
		e.qmu.Lock()
		e.passLead(q, key)
		e.qmu.Unlock()
	}()
	ctx, c := r.writeCtx()
	defer r.done(c)
	if len(batch) > 1 {
		entries := slices.Clone(r.entries)
		for _, b := range batch[1:] {
			entries = apply(entries, b.changes)
		}
		if data, err = e.encode(key, entries); err != nil {
			return false, err
		}
	}
	dropped, err = e.writeBatch(ctx, key, batch, data, r.version, ttl)
	if dropped {
		for _, b := range batch {
			b.dropped = true
		}
	}
	return dropped, err
}

// writeBatch stores the changes of every request of batch, in order, under
// key: data (their encoding on the loaded version) first, then reloading and
// reapplying after each conflict. data nil means the batch was carried over
// from an id a Regenerate retired: reload first. dropped reports that the
// session was deleted meanwhile (a logout): nothing is written.
func (e *Engine) writeBatch(ctx context.Context, key string, batch []*pending, data []byte, version any, ttl time.Duration) (dropped bool, err error) {
	forwarded := data == nil
	for attempt := 0; ; attempt++ {
		if !forwarded || attempt > 0 {
			err := e.cas.SaveIf(ctx, key, data, version, ttl)
			if err == nil || !errors.Is(err, backends.ErrConflict) {
				return false, err
			}
			if attempt >= e.cfg.MaxRetries {
				return false, &Error{Kind: ErrConflict, Op: "save session", Detail: "the session kept changing concurrently; gave up after " + itoa(attempt+1) + " attempts"}
			}
			if attempt > 0 {
				backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return false, ctx.Err()
				}
			}
		}
		rec, err := e.cas.LoadVersion(ctx, key, 0)
		if err != nil {
			return false, err
		}
		var entries []wire.Entry
		var derr error
		if rec.Found {
			entries, _, derr = e.decode(key, rec.Data)
		}
		if !rec.Found || errors.Is(derr, wire.ErrNil) {
			if to, ok := e.movedTo(ctx, key); ok {
				// A request of this process regenerated the session after
				// these requests loaded it: carry their changes over.
				return e.writeBatch(ctx, to, batch, nil, nil, ttl)
			}
			e.log.Warn("ginsession: session was deleted by a concurrent request; changes of this request are dropped",
				"sid", LogSID(batch[0].sid), "requests", len(batch))
			return true, nil
		}
		if derr != nil {
			e.log.Warn("ginsession: stored session cannot be decoded; overwriting it", "sid", LogSID(batch[0].sid), "err", clean(derr))
			entries = nil
		}
		for _, b := range batch {
			entries = apply(entries, b.changes)
		}
		version = rec.Version
		if data, err = e.encode(key, entries); err != nil {
			return false, err
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Queued reports how many requests wait in commit queues (tests and
// diagnostics).
func (e *Engine) Queued() int {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	n := 0
	for _, q := range e.queues {
		n += len(q.waiting)
	}
	return n
}
