package sts

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// AADSTS codes this service returns, as Entra uses them for the
// client-credentials grant (msal-protocol.md §9).
const (
	CodeInvalidScope          = 70011   // scope malformed or names several resources
	CodeScopeNotDefault       = 1002012 // client-credentials scope without /.default
	CodeUnknownResource       = 500011  // resource principal not found in the tenant
	CodeUnknownClient         = 700016  // client_id not found in the tenant
	CodeInvalidSecret         = 7000215 // client secret does not match
	CodeSecretExpired         = 7000222 // client secret expired
	CodeNoCredential          = 7000218 // neither client_secret nor client_assertion
	CodeInvalidCertificate    = 700027  // thumbprint unknown, certificate expired, bad signature
	CodeAssertionTime         = 700024  // assertion outside its validity window or too long-lived
	CodeAssertionAudience     = 50012   // assertion aud is not this token endpoint
	CodeAssertionIssuer       = 50048   // assertion iss differs from sub
	CodeAssertionClientID     = 700021  // assertion sub differs from client_id
	CodeMalformedAssertion    = 50027   // assertion is not a valid JWT, misses a claim, or was replayed
	CodeUnsupportedAlgorithm  = 5002738 // assertion alg not allow-listed
	CodeUnknownTenant         = 90002   // tenant not found
	CodeMissingParameter      = 900144  // required body parameter missing
	CodeMalformedRequest      = 9002313 // request body malformed, too large or ambiguous
	CodeUnsupportedGrantType  = 70003   // grant_type other than client_credentials
	CodeTooManyFailedAttempts = 50053   // failed-authentication rate exceeded
	CodeNoSigningKey          = 90033   // the tenant has no usable signing key (server-side)
	CodeIssuanceRefused       = 501051  // an Enricher refused the token (Entra: app not assigned to the resource)
	CodeEnrichmentFailed      = 1100001 // an Enricher failed (Entra's code for a failed custom claims provider)
	// CodeCertificateRequired: the resource takes only certificate-bound
	// tokens and the client did not authenticate with a certificate.
	// Portcullis' own code: Entra issues no certificate-bound tokens to
	// confidential clients.
	CodeCertificateRequired = 7000230
)

// Error is a protocol error of the token service: the AADSTS code, the
// OAuth 2.0 error value, the HTTP status and a message that tells the
// client what was wrong and how to fix it. Messages never contain secrets.
type Error struct {
	Code       int    // AADSTS number
	OAuthError string // RFC 6749 §5.2 error value, e.g. "invalid_client"
	Status     int    // HTTP status
	Message    string // human-readable, without the "AADSTS<n>: " prefix
	// RetryAfter, when positive, is sent as the Retry-After header (429).
	RetryAfter time.Duration
}

// Error returns "AADSTS<code>: <message>".
func (e *Error) Error() string {
	return fmt.Sprintf("AADSTS%d: %s", e.Code, e.Message)
}

// authFailure reports whether e counts as a failed client authentication
// for the rate limiter: a wrong credential or an unknown client.
func (e *Error) authFailure() bool {
	return e.Status == http.StatusUnauthorized || e.Code == CodeUnknownClient
}

func newError(status int, oauthErr string, code int, format string, a ...any) *Error {
	return &Error{Code: code, OAuthError: oauthErr, Status: status, Message: fmt.Sprintf(format, a...)}
}

// invalidClient is a failed client authentication: 401 invalid_client.
func invalidClient(code int, format string, a ...any) *Error {
	return newError(http.StatusUnauthorized, "invalid_client", code, format, a...)
}

// invalidRequest is a malformed request: 400 invalid_request.
func invalidRequest(code int, format string, a ...any) *Error {
	return newError(http.StatusBadRequest, "invalid_request", code, format, a...)
}

func missingParameter(name string) *Error {
	return invalidRequest(CodeMissingParameter, "The request body must contain the following parameter: '%s'.", name)
}

func unknownTenant(segment string) *Error {
	return newError(http.StatusBadRequest, "invalid_tenant", CodeUnknownTenant,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID or tenant name in the URL "+
			"(https://HOST/{tenant}/...); tenants are matched by id or name, ignoring case.", clip(segment, 100))
}

// wireTime is Entra's timestamp format in error bodies.
const wireTime = "2006-01-02 15:04:05Z"

// errorBody is Entra's error response (msal-protocol.md §7), fields in
// Entra's order.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// writeError is the one place where an sts error becomes Entra's JSON
// error response. base is the public base URL ("" when unknown); basic says
// whether the client authenticated with HTTP Basic, in which case a 401
// carries WWW-Authenticate as RFC 6749 §5.2 requires.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, base string, e *Error, basic bool) {
	now := s.now().UTC()
	trace := newID()
	corr := correlationID(r)
	ts := now.Format(wireTime)
	body := errorBody{
		Error:            e.OAuthError,
		ErrorDescription: "AADSTS" + strconv.Itoa(e.Code) + ": " + e.Message + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts,
		ErrorCodes:       []int{e.Code},
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    corr,
		ErrorURI:         base + "/error?code=" + strconv.Itoa(e.Code),
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("X-Ms-Request-Id", trace)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if basic && e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="portcullis"`)
	}
	b, err := json.Marshal(body)
	if err != nil { // cannot happen for this struct; keep the status anyway
		b = []byte(`{"error":"server_error"}`)
	}
	w.WriteHeader(e.Status)
	w.Write(b)
	s.log.LogAttrs(r.Context(), logLevelFor(e), "token service request refused",
		slog.Any("status", e.Status), slog.Any("error", e.OAuthError), slog.Any("code", e.Code),
		slog.Any("message", e.Message), slog.Any("trace_id", trace), slog.Any("correlation_id", corr),
		slog.Any("path", r.URL.Path), slog.Any("remote", r.RemoteAddr))
}

// correlationID returns the client's client-request-id when it is a
// reasonable token (MSAL sends a GUID), else a fresh id.
func correlationID(r *http.Request) string {
	v := r.Header.Get("Client-Request-Id")
	if v == "" || len(v) > 64 {
		return newID()
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return newID()
		}
	}
	return v
}

// clip shortens client-supplied text echoed in messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
