package engine

import (
	"context"
	"sync"
	"time"
)

// One deadline per request: every store call of a request, and its waits in
// a commit queue, draw on one budget of Config.Timeout (DESIGN §7). A call's
// context carries the deadline left; done charges the time the call took.

// call is one store call in progress, to be charged to the budget.
type call struct {
	ctx   *callCtx
	start time.Time
}

// readCtx returns the context of a store call that reads, whose deadline
// is what is left of the request's budget; it ends with the request.
func (r *Request) readCtx() (context.Context, call) {
	return r.budget(callRead)
}

// writeCtx is readCtx for a write: a client that goes away must not cancel
// a write half-way.
func (r *Request) writeCtx() (context.Context, call) {
	return r.budget(callWrite)
}

// budget returns the context of a call, with the deadline left in the
// request's budget. The caller holds r.mu and passes the call to done after
// the store call.
func (r *Request) budget(mode callMode) (context.Context, call) {
	left := r.e.cfg.Timeout - r.spent
	if left <= 0 {
		left = time.Nanosecond // already spent: fail at once
	}
	c := call{start: time.Now(), ctx: &r.call0}
	if r.calls > 0 {
		c.ctx = new(callCtx) // an earlier call's context may still be held by its driver
	}
	r.calls++
	c.ctx.init(r.http.Context(), c.start.Add(left), mode)
	return c.ctx, c
}

// done ends a store call, charging its time to the request's budget.
func (r *Request) done(c call) {
	c.ctx.end()
	r.spent += time.Since(c.start)
}

// callMode says what a call's context takes from the request's.
type callMode uint8

const (
	callRead  callMode = iota // its values, deadline and cancellation
	callWrite                 // only its values (context.WithoutCancel)
)

// callCtx is the context of one store call: context.WithDeadline(parent,
// deadline) for a read, context.WithDeadline(context.WithoutCancel(parent),
// deadline) for a write, except that the timer and channel such a context
// needs are only built when something waits on it (Done, or a context
// derived from it). A store that only checks Err or Deadline, as an
// in-process store does, then costs no allocation.
type callCtx struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	real   context.Context // the context above, once built
	cancel context.CancelFunc
	mode   callMode
	ended  bool // the call returned: the context is canceled
}

func (c *callCtx) init(parent context.Context, deadline time.Time, mode callMode) {
	if d, ok := parent.Deadline(); ok && mode == callRead && d.Before(deadline) {
		deadline = d
	}
	c.parent, c.deadline, c.mode = parent, deadline, mode
}

// end cancels the context when its call returns.
func (c *callCtx) end() {
	c.mu.Lock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// materialize returns the real context, building it on first use.
func (c *callCtx) materialize() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real == nil {
		base := c.parent
		if c.mode == callWrite {
			base = context.WithoutCancel(base)
		}
		c.real, c.cancel = context.WithDeadline(base, c.deadline)
		if c.ended {
			c.cancel()
		}
	}
	return c.real
}

// Deadline implements context.Context.
func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context; it builds the real context.
func (c *callCtx) Done() <-chan struct{} { return c.materialize().Done() }

// Err implements context.Context, as the real context would answer.
func (c *callCtx) Err() error {
	c.mu.Lock()
	real, ended := c.real, c.ended
	c.mu.Unlock()
	switch {
	case real != nil:
		return real.Err()
	case ended:
		return context.Canceled
	}
	if c.mode == callRead {
		if err := c.parent.Err(); err != nil {
			return err
		}
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context. The context package's own key (asked
// by context.Cause and when a context is derived) builds the real context,
// so that the answer is the real context's.
func (c *callCtx) Value(key any) any {
	if key == cancelKey {
		return c.materialize().Value(key)
	}
	return c.parent.Value(key)
}

// cancelKey is the key under which the context package finds a context's
// cancellation state (unexported there); it is learnt once, from the key
// context.Cause asks a canceled context for. Answering it from the real
// context lets a context derived from a call's (context.WithCancel(ctx) in a
// driver) hang on the real one instead of starting a goroutine to watch it.
// Should the context package change, cancelKey stays nil and that goroutine
// is all it costs.
var cancelKey = func() any {
	var p keyProbe
	_ = context.Cause(&p)
	return p.key
}()

// keyProbe records the first key it is asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Err() error { return context.Canceled }

func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}
