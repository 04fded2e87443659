package guard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// ErrNoCredentials is returned by an Authenticator when the request does
// not carry its kind of credential: "not mine, try the next".
var ErrNoCredentials = errors.New("no credentials")

// ErrKeySourceUnavailable is wrapped by KeySource errors that mean "I
// cannot answer now" (the key set was never loaded) rather than "no such
// key": the Verifier then refuses with 503 temporarily_unavailable instead
// of 401.
var ErrKeySourceUnavailable = errors.New("key source unavailable")

// ErrWouldWait is wrapped by the refusal (503 temporarily_unavailable) of
// a decision made under a context from WithoutWaiting that would have had
// to wait: on the network, for an OIDC issuer's key set (fetched because
// the token names a key not seen yet) or an OCSP responder's answer about
// a client certificate; or on milliseconds of CPU, for a new CRL version
// to be indexed and its signature checked. That work is started in the
// background; decide again under a context that may wait to get the
// answer.
var ErrWouldWait = errors.New("the decision would wait on the network")

type noWaitKey struct{}

// WithoutWaiting returns a context under which deciding never waits on the
// network (Policy.DecideWithin): what would wait refuses with an error
// wrapping ErrWouldWait instead. For an event loop, which must not block
// the other connections it serves.
func WithoutWaiting(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWaitKey{}, true)
}

// MustNotWait reports whether ctx comes from WithoutWaiting. A KeySource
// or checker of your own that may wait on the network should, when it
// would, return an error wrapping ErrWouldWait instead (and start the work
// in the background), as this package's do.
func MustNotWait(ctx context.Context) bool {
	v, _ := ctx.Value(noWaitKey{}).(bool)
	return v
}

// Error codes of RFC 6750 §3.1, and the one guard adds for 503.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidToken           = "invalid_token"
	CodeInsufficientScope      = "insufficient_scope"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Error is a refusal: the HTTP status, an RFC 6750 error code and a
// description that says which rule failed and what to do. It never holds a
// credential.
type Error struct {
	Status      int    // 400, 401, 403 or 503
	Code        string // one of the Code constants; "" when the request carried no credentials at all (RFC 6750 §3.1)
	Description string
	// Scheme is the authentication scheme of the challenge: "Bearer"
	// (when empty) or "Basic".
	Scheme string

	cause error
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Description
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the error behind the refusal, if any (for example
// ErrKeySourceUnavailable, ErrWouldWait or ErrNoCredentials). A nil *Error
// (Decide's admission) unwraps to nil, so errors.Is on it is false rather
// than a panic.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// Challenge returns the WWW-Authenticate value of RFC 6750 §3 (or RFC 7617
// for Basic): `Bearer realm="api", error="invalid_token",
// error_description="..."`. Quotes and backslashes in the description
// become apostrophes and bytes outside the allowed range become '?'.
func (e *Error) Challenge(realm string) string {
	scheme := e.Scheme
	if scheme == "" {
		scheme = "Bearer"
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(` realm="`)
	b.WriteString(quotable(realm))
	b.WriteByte('"')
	if scheme == "Basic" {
		b.WriteString(`, charset="UTF-8"`)
	}
	if e.Code != "" && scheme == "Bearer" {
		b.WriteString(`, error="`)
		b.WriteString(quotable(e.Code))
		b.WriteString(`", error_description="`)
		b.WriteString(quotable(e.Description))
		b.WriteByte('"')
	}
	return b.String()
}

// quotable keeps the bytes RFC 6750 §3 allows in error_description
// (%x20-21 / %x23-5B / %x5D-7E), replacing '"' and '\' by '\” and
// anything else by '?'.
func quotable(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '"' || c == '\\':
			b[i] = '\''
		case c < 0x20 || c > 0x7e:
			b[i] = '?'
		}
	}
	return string(b)
}

// AsError returns err as an *Error, mapping any other error the way
// Middleware does: ErrKeySourceUnavailable to 503 temporarily_unavailable,
// ErrNoCredentials to 401 without error code, anything else to 401
// invalid_token (a client mistake is never a 500).
func AsError(err error) *Error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrWouldWait):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
			Description: "the decision needs an answer from the network that is on its way; retry", cause: err}
	case errors.Is(err, ErrKeySourceUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
			Description: "the signing keys of the token's issuer cannot be loaded now; retry later", cause: err}
	case errors.Is(err, ErrNoCredentials):
		return &Error{Status: http.StatusUnauthorized, Description: "no credentials: send Authorization: Bearer <access token>", cause: err}
	}
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: "the credentials could not be verified", cause: err}
}

// WriteError writes err as a refusal: the WWW-Authenticate challenge (on
// 400, 401 and 403), Cache-Control: no-store, and a JSON body
// {"error": code, "error_description": description}.
func WriteError(w http.ResponseWriter, realm string, err error) {
	e := AsError(err)
	if e == nil {
		e = AsError(errors.New("refused"))
	}
	h := w.Header()
	if e.Status != http.StatusServiceUnavailable {
		h.Set("WWW-Authenticate", e.Challenge(realm))
	} else {
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	code := e.Code
	if code == "" {
		code = "unauthorized"
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, e.Description})
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}

// Constructors for refusals, with the description formatted by the caller.
func invalidRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: desc}
}

func invalidToken(desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: desc}
}

func insufficientScope(desc string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Description: desc}
}
