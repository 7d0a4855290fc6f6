package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultReloadMinInterval is the floor between two slot-map reloads of a
// Cluster client asked for by failing calls (Options.ReloadMinInterval).
const DefaultReloadMinInterval = 250 * time.Millisecond

// DefaultClusterStateReloadInterval is the periodic slot-map reload
// interval ParseURL gives a Cluster client (go-redis's own default is 60s).
// SESSION_REDIS: cluster_state_reload_interval.
const DefaultClusterStateReloadInterval = 10 * time.Second

// DefaultWaitTimeout bounds a write's wait for replicas when
// Options.WaitReplicas is set and Options.WaitTimeout is not.
const DefaultWaitTimeout = time.Second

// ErrNotReplicated is returned (wrapped) by a write that reached the master
// but not Options.WaitReplicas replicas within Options.WaitTimeout. The
// write is applied on the master; a failover before it replicates may lose
// it.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// maxRetries bounds the store's own retries of a call that failed without
// running (a refused connection, MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
// READONLY…), on top of go-redis's retries: 25, 50, 100 and 200 ms apart,
// within the call's deadline. They carry a request over the moments
// between a failover and the client noticing it: a Cluster client's slot
// map reload, or the once-a-second probe with which go-redis's connection
// pool comes out of its dial circuit breaker (a Sentinel client's pool
// keeps answering the last dial error, "connection refused" from the dead
// master, for up to a second after the sentinels name the new one).
const maxRetries = 4

// fastFailure: a failed dial is retried only if it failed within this
// time. A refused dial takes go-redis about 0.5 s of its own retries
// (DialerRetries × DialerRetryTimeout); one that comes back at once is the
// pool's dial circuit breaker answering for a server that may be back
// already. So the store's retries do not stretch the first moments of an
// outage, where go-redis has already retried, up to the request's
// deadline. Redirects and refusals (MOVED, TRYAGAIN…) are always retried.
const fastFailure = 50 * time.Millisecond

// fault is what a failed call says about the Cluster's topology.
type fault int

const (
	faultNone      fault = iota // not a topology problem
	faultMaybe                  // network trouble; the command may have run
	faultNotDialed              // no connection: the command did not run
	faultRefused                // a redirect or refusal reply: the command did not run
)

// classify sorts an error from a call.
func classify(err error) fault {
	if err == nil || err == redis.Nil || errors.Is(err, context.Canceled) {
		return faultNone
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return faultNotDialed
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return faultNotDialed
	}
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING", "READONLY"} {
		if redis.HasErrorPrefix(err, p) {
			return faultRefused
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) {
		return faultMaybe
	}
	return faultNone
}

// run calls fn with the fail-over handling of retrying, in a goroutine the
// caller stops waiting for when the client ignores contexts.
func run[T any](s *Store, ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	f := func(ctx context.Context) (T, error) { return retrying(s, ctx, fn) }
	if s.guard && ctx.Done() != nil {
		return guarded(ctx, f)
	}
	return f(ctx)
}

// retrying calls fn; when it fails for a reason a failover explains it asks
// a Cluster client for a slot-map reload and, if the command did not run,
// tries again after a short pause, a bounded number of times within ctx's
// deadline.
func retrying[T any](s *Store, ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		f := classify(err)
		if f == faultNone {
			return v, err
		}
		s.reload()
		if f == faultMaybe || attempt >= maxRetries || (f == faultNotDialed && time.Since(start) > fastFailure) {
			return v, err
		}
		pause := 25 * time.Millisecond << attempt
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause {
			return v, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, err
		}
	}
}

// reload asks the Cluster client to reload its slot map, at most once per
// reloadMin.
func (s *Store) reload() {
	if s.cluster == nil || s.reloadMin < 0 {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastReload.Load()
	if now-last < int64(s.reloadMin) || !s.lastReload.CompareAndSwap(last, now) {
		return
	}
	s.cluster.ReloadState(context.Background())
}

// write runs a write (fn reports whether it wrote). With WaitReplicas set,
// it runs on one connection to the key's master and is followed there by
// WAIT, since WAIT covers the writes of its own connection.
func (s *Store) write(ctx context.Context, key string, fn func(context.Context, redis.Cmdable) (bool, error)) error {
	if s.waitN <= 0 {
		_, err := fn(ctx, s.client)
		return err
	}
	var node *redis.Client
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, key); err != nil {
			return err
		}
	case *redis.Client:
		node = c
	}
	conn := node.Conn()
	defer conn.Close()
	wrote, err := fn(ctx, conn)
	if err != nil || !wrote {
		return err
	}
	n, err := conn.Wait(ctx, s.waitN, s.waitFor).Result()
	if err != nil {
		return fmt.Errorf("written, then WAIT failed: %w", err)
	}
	if int(n) < s.waitN {
		return fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, s.waitN, s.waitFor)
	}
	return nil
}
