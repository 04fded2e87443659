package directory

import (
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/store"
)

// Kind classifies why the Service refused a request; each surface maps a
// Kind to its wire once (the admin API: 400, 404, 409, 403).
type Kind int

const (
	// Invalid means the request itself is malformed (a field out of range).
	Invalid Kind = iota + 1
	// NotFound means a named tenant, application, role, credential or grant
	// does not exist.
	NotFound
	// Conflict means the request contradicts the directory's current state
	// (a name taken, a role in use, the last administrator).
	Conflict
	// Forbidden means the request is never allowed.
	Forbidden
	// PreconditionFailed means the object is not at the revision the
	// request expected (an If-Match that no longer holds).
	PreconditionFailed
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case Forbidden:
		return "forbidden"
	case PreconditionFailed:
		return "precondition failed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a refusal by the Service. Its message says what was wrong and
// what to do; it never holds secret material, so surfaces show it verbatim.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func newError(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error  { return newError(Invalid, format, args...) }
func notFound(format string, args ...any) *Error { return newError(NotFound, format, args...) }
func conflict(format string, args ...any) *Error { return newError(Conflict, format, args...) }

// KindOf returns the Kind of err: that of an *Error in its chain, NotFound
// or Conflict for the store's sentinels, and 0 for anything else (an
// internal error).
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, store.ErrNotFound):
		return NotFound
	case errors.Is(err, store.ErrConflict):
		return Conflict
	}
	return 0
}
