package engine

import (
	"errors"

	"github.com/ginsession/ginsession/internal/cookie"
)

// Save commits the session now (Session.Save). After a failure the changes
// stay pending: the commit is tried again before the first byte of the
// response or when the handler returns, and a second failure goes to the
// ErrorHandler.
func (r *Request) Save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == stEnded && (r.sid != "" || len(r.changes) > 0) {
		return ErrEnded
	}
	return r.commit()
}

// Commit commits what is pending, if anything, and puts the cookie in the
// response's headers: the middleware calls it, on the request's goroutine,
// when the handler returns.
func (r *Request) Commit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.commit()
	r.applyHeaders()
	return err
}

// applyHeaders puts Vary and the decided Set-Cookie in the response's
// headers while they can still be sent. The caller holds r.mu and runs on
// the request's goroutine.
func (r *Request) applyHeaders() {
	if r.sent {
		return
	}
	if r.vary {
		cookie.AddVary(r.header)
		r.vary = false
	}
	switch r.out.op {
	case cookieSet:
		r.e.cfg.Cookie.Set(r.header, r.out.value, r.out.expires, r.cookies[:])
	case cookieDelete:
		r.e.cfg.Cookie.Delete(r.header, r.cookies[:])
	}
	r.out = cookieOut{}
}

// CommitBeforeSend commits what is pending just before the response's first
// byte; on success the response counts as sent (no cookie can be set any
// more). On failure it does not, so that the ErrorHandler can answer
// instead; the caller then calls MarkSent.
func (r *Request) CommitBeforeSend() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.commit(); err != nil {
		return err
	}
	r.applyHeaders()
	r.sent = true
	return nil
}

// MarkSent records that the response's headers are gone.
func (r *Request) MarkSent() {
	r.mu.Lock()
	r.sent = true
	r.mu.Unlock()
}

// Sent reports whether the response's headers are gone.
func (r *Request) Sent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}

// commit moves an open session to saved. The caller holds r.mu.
func (r *Request) commit() error {
	if r.st == stSaved && len(r.handed) > 0 {
		r.detectInPlace() // a value handed out may have changed since: open again
	}
	switch r.st {
	case stIdle, stSaved, stEnded:
		return nil
	case stFailed:
		return r.err
	case stBroken:
		return &Error{Kind: ErrPanicked, Op: "save session", Detail: "a panic interrupted a store call or an encoder of this request; the session is not saved"}
	}
	if r.setErr != nil {
		return r.setErr
	}
	r.st = stBroken // until commitOpen returns: a panic leaves it broken
	err := r.commitIndexed()
	if err != nil {
		r.st = stOpen // pending: tried again
		return err
	}
	r.st = stSaved
	return nil
}

// action is what a commit does with the store.
type action uint8

const (
	actNothing action = iota
	actDelete         // the session was emptied: delete it, expire the cookie
	actWrite          // write the session, set the cookie
	actTouch          // unchanged: refresh the expiry without rewriting
)

// plan decides the commit's action from the session's facts.
func (r *Request) plan() action {
	switch {
	case r.empty() && r.dirty():
		return actDelete
	case r.empty():
		return actNothing // new and still empty: nothing stored, no cookie
	case r.dirty():
		return actWrite
	case r.e.refreshes() && !r.fresh && !r.isNew:
		return actTouch
	}
	return actNothing
}

func (r *Request) commitOpen() error {
	e := r.e
	r.detectInPlace()
	r.vary = true
	setCookie := false
	switch r.plan() {
	case actDelete:
		return r.delete()
	case actWrite:
		if r.sent && r.isNew {
			return &Error{Kind: ErrNotEncodable, Op: "save session", Detail: "the session id changed after the response headers were sent, so its cookie cannot be delivered; call Save() before writing the body"}
		}
		if e.cfg.Absolute > 0 {
			r.stampIfNeeded()
		}
		dropped, err := r.write()
		if err != nil {
			return err
		}
		if dropped {
			// A concurrent request deleted the session (a logout): this
			// request's changes are dropped, and what it does next starts
			// a new session.
			r.restart()
			r.out = cookieOut{op: cookieDelete}
			return nil
		}
		setCookie = true
	case actTouch:
		if err := r.touch(); err != nil {
			return err
		}
	}
	// No cookie for an id a concurrent Regenerate retired: re-sending it
	// could undo the browser's switch to the new id.
	if !r.sent && (setCookie || e.cfg.Refresh && r.permanent()) && !r.empty() && !e.retired(r.storeKey()) {
		r.out = cookieOut{op: cookieSet, value: e.cookieValue(r.sid)}
		if r.permanent() {
			r.out.expires = r.cookieExpires()
		}
	}
	return nil
}

// delete removes an emptied session (and the id it moved away from) and
// expires the cookie, which Flask-Session does even when the client had none.
func (r *Request) delete() error {
	e := r.e
	ctx, c := r.writeCtx()
	defer r.done(c)
	if !r.isNew {
		if err := e.store.Delete(ctx, r.storeKey()); err != nil {
			return storeError("delete session", err)
		}
	}
	if r.prev != nil {
		if err := e.store.Delete(ctx, r.prev.key); err != nil {
			return storeError("delete session", err)
		}
	}
	r.out = cookieOut{op: cookieDelete}
	r.changes, r.prev, r.reseal, r.isNew = nil, nil, false, true
	return nil
}

// write stores a changed session: a create for a new id, else
// compare-and-swap where the store has it; then retires the id it moved
// away from. dropped reports that a concurrent request deleted the session
// first: nothing was written.
func (r *Request) write() (dropped bool, err error) {
	e := r.e
	key, ttl := r.storeKey(), r.ttl()
	data, err := e.encode(key, r.entries)
	if err != nil {
		return false, err
	}
	if e.cas != nil && !r.isNew {
		dropped, err = e.swap(r, key, data, ttl)
	} else {
		ctx, c := r.writeCtx()
		if e.cas == nil {
			err = e.store.Save(ctx, key, data, ttl)
		} else {
			err = e.cas.SaveIf(ctx, key, data, nil, ttl)
		}
		r.done(c)
	}
	if err != nil {
		return false, storeError("save session", err)
	}
	if dropped {
		return true, nil
	}
	r.isNew = false // stored: a retry after a failure below goes through compare-and-swap
	if r.prev != nil {
		if err := r.retire(key, ttl); err != nil {
			return false, err
		}
	}
	r.changes, r.prev, r.reseal = nil, nil, false
	return false, nil
}

// touch refreshes the expiry of an unchanged session: a touch where the
// store has one, else a rewrite of the bytes as loaded — conditional where
// the store has compare-and-swap, so that it never puts back a value a
// concurrent request wrote meanwhile (that write set a fresh expiry anyway).
func (r *Request) touch() error {
	e := r.e
	ctx, c := r.writeCtx()
	defer r.done(c)
	var err error
	switch {
	case e.toucher != nil:
		err = e.toucher.Touch(ctx, r.storeKey(), r.ttl())
	case e.cas != nil:
		if err = e.cas.SaveIf(ctx, r.storeKey(), r.raw, r.version, r.ttl()); errors.Is(err, ErrConflict) {
			err = nil
		}
	default:
		err = e.store.Save(ctx, r.storeKey(), r.raw, r.ttl())
	}
	if err != nil {
		return storeError("refresh session expiry", err)
	}
	r.fresh = true
	return nil
}
