package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/backends"
	"github.com/ginsession/ginsession/internal/seal"
	"github.com/ginsession/ginsession/internal/wire"
)

// configError is a configuration the command cannot use: exit status 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// env is the opened store and what is needed to read its values.
type env struct {
	opts   ginsession.Options
	m      *ginsession.Middleware
	store  backends.Store
	format wire.Format
	sealer *seal.Sealer
}

// open reads the configuration and opens the store, once.
func (c *cli) open() (*env, error) {
	if c.env != nil {
		return c.env, nil
	}
	lookup := c.lookup
	if c.envFile != "" {
		vars, err := readEnvFile(c.envFile)
		if err != nil {
			return nil, &configError{err}
		}
		lookup = func(k string) (string, bool) {
			if v, ok := c.lookup(k); ok {
				return v, true
			}
			v, ok := vars[k]
			return v, ok
		}
	}
	opts, err := ginsession.OptionsFromLookup(lookup, "")
	if err != nil {
		return nil, &configError{err}
	}
	switch strings.ToLower(opts.Type) {
	case "", "null":
		return nil, &configError{errors.New("SESSION_TYPE is not set (or is null): set it, and the store's own variables, as for the application, or pass --env-file FILE")}
	case "memory":
		return nil, &configError{errors.New("SESSION_TYPE=memory: the memory store lives inside the application's process, which this command cannot reach; use Middleware.RevokeUser and friends from the application")}
	}
	// The command never signs cookies: a missing SECRET_KEY must not stop it.
	if opts.UseSigner && opts.SecretKey == "" {
		opts.UseSigner = false
	}
	opts.Logger = quietLogger(c.stderr)
	m, err := ginsession.NewMiddleware(opts)
	if err != nil {
		return nil, err
	}
	e := &env{opts: m.Options(), m: m, store: m.Store()}
	if e.format, err = wire.ParseFormat(e.opts.SerializationFormat); err != nil {
		m.Close()
		return nil, &configError{err}
	}
	if len(e.opts.EncryptionKey) > 0 {
		if e.sealer, err = seal.New(e.opts.EncryptionKey, e.opts.EncryptionKeyFallbacks); err != nil {
			m.Close()
			return nil, &configError{fmt.Errorf("SESSION_ENCRYPTION_KEY: %w", err)}
		}
	}
	c.env = e
	return e, nil
}

func (e *env) close() {
	if err := e.m.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "ginsession: closing the store: %v\n", err)
	}
}

// backend names the store for messages: the SESSION_TYPE.
func (e *env) backend() string { return strings.ToLower(e.opts.Type) }

// key is the store key of a sid.
func (e *env) key(sid string) string { return e.opts.KeyPrefix + sid }

// sid is the session id of a store key.
func (e *env) sid(key string) string { return strings.TrimPrefix(key, e.opts.KeyPrefix) }

// lister returns the store's Lister, or an error saying the backend cannot
// enumerate its sessions.
func (e *env) lister() (backends.Lister, error) {
	l, ok := e.store.(backends.Lister)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot list its sessions (%s cannot enumerate keys); ls and stats are not available for it, show/rm need a full session id", e.backend(), e.backend())
	}
	return l, nil
}

// decode decodes a stored value into its entries.
func (e *env) decode(key string, data []byte) ([]wire.Entry, wire.Format, error) {
	if e.sealer != nil {
		plain, _, err := e.sealer.Open(key, data)
		if err != nil {
			return nil, 0, err
		}
		data = plain
	}
	return wire.DecodeAny(e.format, nil, data, wire.Limits{MaxInput: 2*e.opts.MaxSize + seal.Overhead})
}

// load reads one session's bytes.
func (e *env) load(ctx context.Context, key string) ([]byte, bool, error) {
	return e.store.Load(ctx, key)
}
