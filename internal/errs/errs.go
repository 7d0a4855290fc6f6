// Package errs builds ginsession's error messages, which carry the
// "ginsession: " prefix exactly once however many layers add context.
package errs

import "strings"

// Prefix starts every error message of ginsession.
const Prefix = "ginsession: "

// wrapped is an error with context in front of another error's message.
type wrapped struct {
	context string
	err     error
}

func (e *wrapped) Error() string {
	return e.context + ": " + strings.TrimPrefix(e.err.Error(), Prefix)
}

func (e *wrapped) Unwrap() error { return e.err }

// Wrap returns an error reading context + ": " + err's message, where a
// leading "ginsession: " of err's message is dropped (context starts with
// it), and which unwraps to err for errors.Is and errors.As. It returns nil
// for nil.
func Wrap(context string, err error) error {
	if err == nil {
		return nil
	}
	if !strings.HasPrefix(context, Prefix) {
		context = Prefix + context
	}
	return &wrapped{context: context, err: err}
}

// Prefixed returns err unchanged when its message already starts with
// "ginsession: " (it already says where it comes from), and Wrap(context,
// err) otherwise. It returns nil for nil.
func Prefixed(context string, err error) error {
	if err == nil || strings.HasPrefix(err.Error(), Prefix) {
		return err
	}
	return Wrap(context, err)
}
