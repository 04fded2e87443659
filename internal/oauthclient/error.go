package oauthclient

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// Error is an error response of the token endpoint in Entra's shape
// (RFC 6749 section 5.2 plus error_codes, trace_id and correlation_id).
type Error struct {
	StatusCode    int    `json:"-"`
	Code          string `json:"error"`
	Description   string `json:"error_description,omitempty"`
	ErrorCodes    []int  `json:"error_codes,omitempty"`
	ErrorURI      string `json:"error_uri,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"`
	TraceID       string `json:"trace_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// Error returns the OAuth error code and the first line of the description
// (Entra appends trace and correlation ids on further lines).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("token request refused: ")
	b.WriteString(e.Code)
	if d := firstLine(e.Description); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	return b.String()
}

// maxErrorField bounds what is kept of each text field of an error
// response; a token endpoint has no reason to send more.
const maxErrorField = 4096

// parseError decodes an Entra error body. It returns nil when body is not a
// JSON object with a non-empty "error" string. Text fields are stripped of
// control characters (other than line breaks in the description) so that a
// hostile server cannot drive the terminal.
func parseError(status int, body []byte) *Error {
	var raw struct {
		Error         any             `json:"error"`
		Description   any             `json:"error_description"`
		ErrorCodes    json.RawMessage `json:"error_codes"`
		ErrorURI      any             `json:"error_uri"`
		Timestamp     any             `json:"timestamp"`
		TraceID       any             `json:"trace_id"`
		CorrelationID any             `json:"correlation_id"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil
	}
	code := clean(str(raw.Error), false)
	if code == "" {
		return nil
	}
	e := &Error{
		StatusCode:    status,
		Code:          code,
		Description:   clean(str(raw.Description), true),
		ErrorURI:      clean(str(raw.ErrorURI), false),
		Timestamp:     clean(str(raw.Timestamp), false),
		TraceID:       clean(str(raw.TraceID), false),
		CorrelationID: clean(str(raw.CorrelationID), false),
	}
	var codes []json.Number
	if len(raw.ErrorCodes) > 0 && json.Unmarshal(raw.ErrorCodes, &codes) == nil {
		for _, n := range codes {
			if v, err := n.Int64(); err == nil && v >= 0 && v <= 1<<31-1 && len(e.ErrorCodes) < 16 {
				e.ErrorCodes = append(e.ErrorCodes, int(v))
			}
		}
	}
	return e
}

// str returns v if it is a string, "" otherwise.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// clean truncates s and removes control characters; with keepLines, CR and
// LF survive so that firstLine can split on them.
func clean(s string, keepLines bool) string {
	if len(s) > maxErrorField {
		s = s[:maxErrorField]
	}
	return strings.Map(func(r rune) rune {
		if keepLines && (r == '\n' || r == '\r') {
			return r
		}
		if r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// firstLine returns s up to its first line break, trimmed.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
