package kvapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
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

// writeError is the one place a vault error becomes Key Vault's JSON
// {"error":{"code","message","innererror"}} with its status. Internal
// failures are logged with their cause and answered with a generic message
// and the request id; client mistakes keep their own words.
func writeError(w http.ResponseWriter, log *slog.Logger, reqID string, err error) {
	e := vault.AsError(err)
	status := statusOf(e)
	msg := e.Message
	if status >= 500 && status != http.StatusNotImplemented && status != http.StatusServiceUnavailable {
		log.Error("key vault request failed", "request_id", reqID, "code", e.Code, "error", e)
		if e.Err != nil {
			log.Error("key vault request failure cause", "request_id", reqID, "cause", e.Err)
		}
		msg = fmt.Sprintf("The vault could not complete the request (request id %s); the operator can find the cause in the server log.", reqID)
	}
	body := wireError{Error: wireErrorBody{Code: e.Code, Message: msg}}
	if e.InnerCode != "" {
		body.Error.InnerError = &wireErrorBody{Code: e.InnerCode}
	}
	if status == http.StatusServiceUnavailable {
		log.Error("key vault request cannot be served by this node", "request_id", reqID, "code", e.Code, "error", e)
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Del("Content-Length")
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
