package connector

import (
	"encoding/json"
	"time"
)

// Decision is what a connector's answer means for the flow.
type Decision string

// Decisions.
const (
	Continue        Decision = "continue"
	Block           Decision = "block"
	ValidationError Decision = "validationError"
	Failed          Decision = "error"
)

// Invocation is one call of a connector, as `connector invoke -o json`
// prints it.
type Invocation struct {
	Connector string    `json:"connector"`
	Request   Request   `json:"request"`
	Response  *Response `json:"response,omitempty"`
	Decision  Decision  `json:"decision"`
	// UserMessage is the connector's message for a block or a validation
	// error.
	UserMessage string `json:"userMessage,omitempty"`
	// Error says why the decision is "error".
	Error string `json:"error,omitempty"`
	// OutputClaims are the declared output claims found in a continuing
	// response, by claim type.
	OutputClaims map[string]any `json:"outputClaims,omitempty"`
	// IgnoredClaims are response members that are not declared output
	// claims (nor action or version), sorted.
	IgnoredClaims []string      `json:"ignoredClaims,omitempty"`
	Duration      time.Duration `json:"-"`
	Attempts      int           `json:"attempts"`
}

// MarshalJSON adds durationMs.
func (in Invocation) MarshalJSON() ([]byte, error) {
	type plain Invocation
	return json.Marshal(struct {
		plain
		DurationMillis float64 `json:"durationMs"`
	}{plain(in), float64(in.Duration.Microseconds()) / 1000})
}

// Request is a request as sent; credential headers read [redacted].
type Request struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    string              `json:"body,omitempty"`
}

// Response is what came back, its body clipped and sanitised.
type Response struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType,omitempty"`
	// Body is the first bytes of the body (up to 4 KiB), control
	// characters removed.
	Body          string `json:"body,omitempty"`
	BodyTruncated bool   `json:"bodyTruncated,omitempty"`
	// Size is the body's length in bytes, as far as it was read.
	Size int `json:"size"`
}
