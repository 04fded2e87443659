package kvapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/portcullis/portcullis/internal/vault"
)

// Codes of errors kvapi itself raises for HTTP-level conditions; statusOf
// gives each its own status.
const (
	codeMethodNotAllowed     = "MethodNotAllowed"
	codeNotImplemented       = "NotImplemented"
	codeUnsupportedMediaType = "UnsupportedMediaType"
	codeRequestTooLarge      = "RequestEntityTooLarge"
)

// wireError is Key Vault's error body.
type wireError struct {
	Error wireErrorBody `json:"error"`
}

type wireErrorBody struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	InnerError *wireErrorBody `json:"innererror,omitempty"`
}

// statusOf is the HTTP status of a vault error.
func statusOf(e *vault.Error) int {
	switch e.Code {
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeNotImplemented:
		return http.StatusNotImplemented
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case codeRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return e.Kind.HTTPStatus()
}

// RetryAfterSeconds is the Retry-After of a 503 answered because the
// node cannot serve the request now (the database is unreachable).
const RetryAfterSeconds = "5"

// writeError is the one place a vault error becomes Key Vault's JSON
// {"error":{"code","message","innererror"}} with its status. Internal
// failures are logged with their cause and answered with a generic message
// and the request id; client mistakes keep their own words. A 503 carries
// Retry-After and is logged at most once per cause and interval (an outage
// fails many requests the same way).
func (h *Handler) writeError(w http.ResponseWriter, reqID string, err error) {
	e := vault.AsError(err)
	status := statusOf(e)
	msg := e.Message
	if status >= 500 && status != http.StatusNotImplemented && status != http.StatusServiceUnavailable {
		h.log.Error("key vault request failed", "request_id", reqID, "code", e.Code, "error", e, "cause", e.Err)
		msg = fmt.Sprintf("The vault could not complete the request (request id %s); the operator can find the cause in the server log.", reqID)
	}
	body := wireError{Error: wireErrorBody{Code: e.Code, Message: msg}}
	if e.InnerCode != "" {
		body.Error.InnerError = &wireErrorBody{Code: e.InnerCode}
	}
	h2 := w.Header()
	if status == http.StatusServiceUnavailable {
		h.pace.Warn("kvapi-unavailable/"+e.Code, "key vault request cannot be served by this node", "request_id", reqID, "code", e.Code, "error", e)
		h2.Set("Retry-After", RetryAfterSeconds)
	}
	b, _ := json.Marshal(body)
	h2.Set("Content-Type", "application/json; charset=utf-8")
	h2.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func badParameter(format string, args ...any) *vault.Error {
	return &vault.Error{Kind: vault.KindBadRequest, Code: vault.CodeBadParameter, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(format string, args ...any) *vault.Error {
	return &vault.Error{Kind: vault.KindUnauthorized, Code: vault.CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// notImplemented answers a Key Vault operation Portcullis does not offer.
func notImplemented(format string, args ...any) *vault.Error {
	return &vault.Error{Kind: vault.KindUnsupported, Code: codeNotImplemented, Message: fmt.Sprintf(format, args...)}
}

func errNotFoundPath(r *http.Request) *vault.Error {
	return &vault.Error{Kind: vault.KindNotFound, Code: vault.CodeNotFound, Message: fmt.Sprintf(
		"There is no Key Vault operation at %s %s: see the Key Vault REST reference for the secrets, certificates and keys paths.", r.Method, clip(r.URL.EscapedPath(), 200))}
}

func errMethod(r *http.Request, allowed string) *vault.Error {
	return &vault.Error{Kind: vault.KindBadRequest, Code: codeMethodNotAllowed, Message: fmt.Sprintf(
		"Method %s is not allowed on %s: use %s.", r.Method, clip(r.URL.EscapedPath(), 200), allowed)}
}
