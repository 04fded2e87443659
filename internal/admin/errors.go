package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// apiError is an error with its HTTP status; its message is written to the
// client verbatim, so it must say what was wrong and what to do, and never
// hold internals or secrets.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// errorf returns an apiError with the given status and message.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, format, args...)
}

// codes are the error codes of the contract, by status.
var codes = map[int]string{
	http.StatusBadRequest:            "BadRequest",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "NotFound",
	http.StatusMethodNotAllowed:      "MethodNotAllowed",
	http.StatusConflict:              "Conflict",
	http.StatusPreconditionFailed:    "PreconditionFailed",
	http.StatusRequestEntityTooLarge: "PayloadTooLarge",
	http.StatusUnsupportedMediaType:  "UnsupportedMediaType",
	http.StatusInternalServerError:   "InternalError",
	http.StatusServiceUnavailable:    "ServiceUnavailable",
}

// unavailableMessage answers a request the database's absence stops.
const unavailableMessage = "the database cannot be reached right now, so changes (and reads of what is only in the database) are refused; tokens, vault reads and the gateway keep working from this node's memory; retry in a few seconds"

// retryAfterSeconds is the Retry-After of every 503.
const retryAfterSeconds = "5"

// internalMessage is all a client learns about an internal error.
const internalMessage = "internal error; the server log has the details"

// directoryStatus is the status of each kind of directory.Error.
var directoryStatus = map[directory.Kind]int{
	directory.Invalid:   http.StatusBadRequest,
	directory.NotFound:  http.StatusNotFound,
	directory.Conflict:  http.StatusConflict,
	directory.Forbidden: http.StatusForbidden,

	directory.PreconditionFailed: http.StatusPreconditionFailed,
}

// toAPIError maps any handler error to the wire, in one place: apiErrors
// as they are, the directory service's refusals with their message and the
// status of their kind, store.ErrNotFound to 404, store.ErrConflict to 409
// with the store's message, and everything else to a generic 500 whose
// cause is logged.
func (a *API) toAPIError(r *http.Request, err error) *apiError {
	var ae *apiError
	var de *directory.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &de) && directoryStatus[de.Kind] != 0:
		return errorf(directoryStatus[de.Kind], "%s", de.Msg)
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s", storeMessage(err, "the object was not found (it may have been deleted concurrently)"))
	case errors.Is(err, store.ErrConflict):
		return conflict("%s", storeMessage(err, "the change conflicts with an existing object"))
	case errors.Is(err, store.ErrUnavailable):
		a.pace.Warn("admin-unavailable", "admin API request failed: the database is unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		return errorf(http.StatusServiceUnavailable, "%s", unavailableMessage)
	}
	a.log.Error("admin API internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return errorf(http.StatusInternalServerError, internalMessage)
}

// storeMessage returns the message a store error was wrapped with, or def
// when the store returned the bare sentinel.
func storeMessage(err error, def string) string {
	msg := err.Error()
	if msg == store.ErrNotFound.Error() || msg == store.ErrConflict.Error() || strings.TrimSpace(msg) == "" {
		return def
	}
	return msg
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	code, ok := codes[e.status]
	if !ok {
		code = http.StatusText(e.status)
	}
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Code: code, Message: e.msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; they always encode.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalError","message":"` + internalMessage + `"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
