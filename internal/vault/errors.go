package vault

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/portcullis/portcullis/internal/store"
)

// ErrorKind classifies a vault error; the kvapi layer turns it into an HTTP
// status in one place (ErrorKind.HTTPStatus).
type ErrorKind int

// The error kinds.
const (
	// KindInternal is a failure of the vault itself (store, sealing).
	KindInternal ErrorKind = iota
	// KindBadRequest is a malformed or invalid request.
	KindBadRequest
	// KindUnauthorized means the caller is not authenticated.
	KindUnauthorized
	// KindForbidden means the caller, or the object's state, does not allow the operation.
	KindForbidden
	// KindNotFound means the vault, object or version does not exist.
	KindNotFound
	// KindConflict means the operation conflicts with the object's state.
	KindConflict
	// KindUnsupported means a valid Key Vault feature Portcullis does not implement.
	KindUnsupported
	// KindUnavailable means the node cannot serve the request now, for a
	// reason the operator can fix (a value sealed under a root key this
	// node was not given) or that passes (the database is unreachable):
	// 503, with Retry-After.
	KindUnavailable
)

// HTTPStatus returns the status Key Vault answers with for errors of kind k.
func (k ErrorKind) HTTPStatus() int {
	switch k {
	case KindBadRequest, KindUnsupported:
		return http.StatusBadRequest
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// String names the kind.
func (k ErrorKind) String() string {
	switch k {
	case KindBadRequest:
		return "BadRequest"
	case KindUnauthorized:
		return "Unauthorized"
	case KindForbidden:
		return "Forbidden"
	case KindNotFound:
		return "NotFound"
	case KindConflict:
		return "Conflict"
	case KindUnsupported:
		return "Unsupported"
	case KindUnavailable:
		return "Unavailable"
	}
	return "Internal"
}

// Key Vault error codes used in Error.Code and Error.InnerCode.
const (
	CodeBadParameter                  = "BadParameter"
	CodeForbidden                     = "Forbidden"
	CodeUnauthorized                  = "Unauthorized"
	CodeConflict                      = "Conflict"
	CodeNotFound                      = "NotFound"
	CodeVaultNotFound                 = "VaultNotFound"
	CodeSecretNotFound                = "SecretNotFound"
	CodeKeyNotFound                   = "KeyNotFound"
	CodeCertificateNotFound           = "CertificateNotFound"
	CodePendingCertificateNotFound    = "PendingCertificateNotFound"
	CodeObjectIsDeletedButRecoverable = "ObjectIsDeletedButRecoverable"
	CodeForbiddenByPolicy             = "ForbiddenByPolicy"
	CodeSecretDisabled                = "SecretDisabled"
	CodeKeyDisabled                   = "KeyDisabled"
	CodeCertificateDisabled           = "CertificateDisabled"
	CodeNotSupported                  = "NotSupported"
	CodeInternal                      = "InternalError"
	CodeServiceUnavailable            = "ServiceUnavailable"
)

// Error is the typed error every Service method returns for a client-visible
// failure: Kind selects the HTTP status, Code (and InnerCode, Key Vault's
// "innererror") the wire code, Message the words. Messages never contain
// secret values; Err keeps an internal cause for logs and errors.Is.
type Error struct {
	Kind      ErrorKind
	Code      string
	InnerCode string
	Message   string
	Err       error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// AsError returns err as a *Error: a *Error in its chain, or a KindInternal
// error with a generic message for anything else (store failures).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrUnavailable) {
		return unavailable(err, "vault operation")
	}
	return &Error{Kind: KindInternal, Code: CodeInternal, Message: "internal vault error", Err: err}
}

// IsKind reports whether err is a *Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

func badRequest(format string, args ...any) *Error {
	return &Error{Kind: KindBadRequest, Code: CodeBadParameter, Message: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) *Error {
	return &Error{Kind: KindUnsupported, Code: CodeNotSupported, Message: fmt.Sprintf(format, args...)}
}

func forbidden(inner, format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Code: CodeForbidden, InnerCode: inner, Message: fmt.Sprintf(format, args...)}
}

func conflict(inner, format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Code: CodeConflict, InnerCode: inner, Message: fmt.Sprintf(format, args...)}
}

// internal wraps a failure of the vault itself; a store that cannot be
// reached is not one: it becomes KindUnavailable (503, Retry-After).
func internal(err error, format string, args ...any) *Error {
	if errors.Is(err, store.ErrUnavailable) {
		return unavailable(err, format, args...)
	}
	return &Error{Kind: KindInternal, Code: CodeInternal, Message: fmt.Sprintf(format, args...), Err: err}
}

// unavailable is the error of an operation the database's absence stops.
// The caller's message names no internal step (a secret write checks the
// certificates first: "read certificate" would confuse); the step stays
// in Err for the server log.
func unavailable(err error, format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Code: CodeServiceUnavailable, Err: fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err),
		Message: "the vault's database cannot be reached right now; reads of objects this node read recently are still served, changes are not; retry in a few seconds"}
}
