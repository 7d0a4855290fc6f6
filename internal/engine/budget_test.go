package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type ctxKey string

// callCtx answers as context.WithDeadline(parent, deadline) would, building
// the real context only when something waits on it.
func TestCallCtxLikeWithDeadline(t *testing.T) {
	if cancelKey == nil {
		t.Fatal("the context package's cancellation key was not learnt")
	}
	parent := context.WithValue(context.Background(), ctxKey("k"), "v")

	t.Run("lazy until waited on", func(t *testing.T) {
		var c callCtx
		c.init(parent, time.Now().Add(time.Hour), callRead)
		n := testing.AllocsPerRun(100, func() {
			_ = c.Err()
			_, _ = c.Deadline()
			_ = c.Value(ctxKey("k"))
		})
		if n != 0 || c.real != nil {
			t.Fatalf("Err, Deadline and Value allocate %v times (built: %v)", n, c.real != nil)
		}
		if c.Value(ctxKey("k")) != "v" || c.Err() != nil {
			t.Fatalf("Value = %v, Err = %v", c.Value(ctxKey("k")), c.Err())
		}
		c.end()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("after end: Err = %v", c.Err())
		}
		select {
		case <-c.Done(): // built after the end: already closed
		default:
			t.Fatal("Done built after end is not closed")
		}
		if !errors.Is(context.Cause(&c), context.Canceled) {
			t.Fatalf("Cause = %v", context.Cause(&c))
		}
	})

	t.Run("deadline", func(t *testing.T) {
		var c callCtx
		c.init(parent, time.Now().Add(20*time.Millisecond), callRead)
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("past the deadline, unbuilt: Err = %v", c.Err())
		}
		var d callCtx
		d.init(parent, time.Now().Add(20*time.Millisecond), callRead)
		select {
		case <-d.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed at the deadline")
		}
		if !errors.Is(d.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(&d), context.DeadlineExceeded) {
			t.Fatalf("Err = %v, Cause = %v", d.Err(), context.Cause(&d))
		}
	})

	t.Run("earlier parent deadline wins", func(t *testing.T) {
		p, cancel := context.WithTimeout(parent, time.Minute)
		defer cancel()
		var c callCtx
		c.init(p, time.Now().Add(time.Hour), callRead)
		pd, _ := p.Deadline()
		if d, ok := c.Deadline(); !ok || !d.Equal(pd) {
			t.Fatalf("Deadline = %v, want the parent's %v", d, pd)
		}
	})

	t.Run("parent cancellation", func(t *testing.T) {
		p, cancel := context.WithCancelCause(parent)
		var unbuilt, built callCtx
		unbuilt.init(p, time.Now().Add(time.Hour), callRead)
		built.init(p, time.Now().Add(time.Hour), callRead)
		done := built.Done()
		cause := errors.New("client went away")
		cancel(cause)
		<-done
		if !errors.Is(unbuilt.Err(), context.Canceled) || !errors.Is(built.Err(), context.Canceled) {
			t.Fatalf("Err = %v / %v", unbuilt.Err(), built.Err())
		}
		if context.Cause(&unbuilt) != cause || context.Cause(&built) != cause {
			t.Fatalf("Cause = %v / %v", context.Cause(&unbuilt), context.Cause(&built))
		}
	})

	t.Run("a write keeps the values, not the cancellation", func(t *testing.T) {
		p, cancel := context.WithTimeout(parent, time.Millisecond)
		defer cancel()
		var unbuilt, built callCtx
		unbuilt.init(p, time.Now().Add(time.Hour), callWrite)
		built.init(p, time.Now().Add(time.Hour), callWrite)
		done := built.Done()
		<-p.Done()
		if unbuilt.Err() != nil || built.Err() != nil {
			t.Fatalf("the request's end canceled a write: %v / %v", unbuilt.Err(), built.Err())
		}
		select {
		case <-done:
			t.Fatal("Done of a write closed with the request's context")
		default:
		}
		if d, _ := unbuilt.Deadline(); time.Until(d) < 30*time.Minute {
			t.Fatalf("a write took the request's deadline: %v", d)
		}
		if built.Value(ctxKey("k")) != "v" || unbuilt.Value(ctxKey("k")) != "v" {
			t.Fatal("a write lost the request's values")
		}
		built.end()
		unbuilt.end()
		<-done
		if !errors.Is(unbuilt.Err(), context.Canceled) || !errors.Is(built.Err(), context.Canceled) {
			t.Fatalf("after end: %v / %v", unbuilt.Err(), built.Err())
		}
	})

	t.Run("derived contexts end with the call", func(t *testing.T) {
		var c callCtx
		c.init(parent, time.Now().Add(time.Hour), callRead)
		child, cancel := context.WithCancel(&c)
		defer cancel()
		c.end()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a context derived from the call's was not canceled when the call ended")
		}
		if child.Value(ctxKey("k")) != "v" {
			t.Fatal("derived context lost the request's values")
		}
	})
}

// Each store call of a request has its own context: a driver that keeps the
// first call's context sees it canceled, whatever the later calls do.
func TestEachCallItsContext(t *testing.T) {
	r := &Request{e: &Engine{cfg: Config{Timeout: time.Second}}, http: httptest.NewRequest(http.MethodGet, "/", nil)}
	ctx1, c1 := r.readCtx()
	r.done(c1)
	ctx2, c2 := r.writeCtx()
	defer r.done(c2)
	if ctx1 == ctx2 {
		t.Fatal("the second call reuses the first call's context")
	}
	if !errors.Is(ctx1.Err(), context.Canceled) || ctx2.Err() != nil {
		t.Fatalf("first call's context: %v; second's: %v", ctx1.Err(), ctx2.Err())
	}
}

// callCtx answers Err, Deadline, Done and Cause exactly as the context it
// stands for (context.WithDeadline, over context.WithoutCancel for a write),
// built or not, for deadlines before, at and after the moment it is asked,
// under a live parent, a canceled one, and one with an earlier deadline.
func TestCallCtxMatchesWithDeadline(t *testing.T) {
	type parentCase struct {
		name string
		make func() (context.Context, context.CancelFunc)
	}
	cause := errors.New("client went away")
	parents := []parentCase{
		{"live", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"canceled", func() (context.Context, context.CancelFunc) {
			p, cancel := context.WithCancelCause(context.Background())
			cancel(cause)
			return p, func() {}
		}},
		{"earlier deadline, passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Minute))
		}},
		{"earlier deadline, to come", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}},
	}
	offsets := []time.Duration{-time.Hour, -time.Millisecond, -time.Nanosecond, 0, 2 * time.Hour}
	for _, pc := range parents {
		for _, mode := range []callMode{callRead, callWrite} {
			for _, off := range offsets {
				for _, build := range []bool{false, true} {
					name := fmt.Sprintf("%s/mode %d/%v/built %v", pc.name, mode, off, build)
					parent, cancel := pc.make()
					deadline := time.Now().Add(off) // at 0: the deadline is now, passed when asked
					base := parent
					if mode == callWrite {
						base = context.WithoutCancel(parent)
					}
					want, wantCancel := context.WithDeadline(base, deadline)
					var c callCtx
					c.init(parent, deadline, mode)
					if build {
						c.Done()
					}
					wd, wok := want.Deadline()
					if d, ok := c.Deadline(); !d.Equal(wd) || ok != wok {
						t.Errorf("%s: Deadline = %v, %v; want %v, %v", name, d, ok, wd, wok)
					}
					if got, w := c.Err(), want.Err(); got != w {
						t.Errorf("%s: Err = %v, want %v", name, got, w)
					}
					if got, w := context.Cause(&c), context.Cause(want); got != w {
						t.Errorf("%s: Cause = %v, want %v", name, got, w)
					}
					if got, w := closed(c.Done()), closed(want.Done()); got != w {
						t.Errorf("%s: Done closed = %v, want %v", name, got, w)
					}
					c.end()
					wantCancel()
					if got, w := c.Err(), want.Err(); got != w {
						t.Errorf("%s: after the call: Err = %v, want %v", name, got, w)
					}
					cancel()
				}
			}
		}
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
