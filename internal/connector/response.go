package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/directory"
)

// Response limits.
const (
	// MaxResponseBytes bounds a connector's response body; a larger one is
	// an error.
	MaxResponseBytes = 1 << 20
	// excerptBytes is how much of an unexpected body an error quotes.
	excerptBytes = 200
	// shownBodyBytes is how much of any body an Invocation shows.
	shownBodyBytes = 4096
	// maxUserMessage bounds a user message taken from a response.
	maxUserMessage = 1024
)

// Actions of the API connector response contract (B2C / External ID).
const (
	actionContinue        = "Continue"
	actionShowBlockPage   = "ShowBlockPage"
	actionValidationError = "ValidationError"
)

// outcome is the reading of one response.
type outcome struct {
	decision Decision
	message  string // user message (block, validation error)
	err      string // why the decision is Failed
	claims   map[string]any
	ignored  []string
}

func failed(format string, args ...any) outcome {
	return outcome{decision: Failed, err: fmt.Sprintf(format, args...)}
}

// parseResponse applies the response contract to a status, a Content-Type
// header and a body (already bounded by MaxResponseBytes). Only outputs
// are taken from a continuing response, by partner claim type.
func parseResponse(status int, contentType string, body []byte, outputs []directory.ConnectorClaim) outcome {
	what := func() string {
		ct := contentType
		if ct == "" {
			ct = "no content type"
		}
		return fmt.Sprintf("HTTP %d (%s, %d bytes): %s", status, clean(ct, 100), len(body), quote(body))
	}
	if status != http.StatusOK && status != http.StatusBadRequest {
		return failed("the connector answered %s; want 200 (continue or block) or 400 (validation error)%s", what(), statusHint(status))
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return failed("the connector answered %s; want application/json", what())
	}
	obj, err := decodeObject(body)
	if err != nil {
		return failed("the connector answered %s; the body is not a JSON object: %v", what(), err)
	}
	action, ok := stringMember(obj, "action")
	if !ok && obj["action"] != nil {
		return failed("the connector answered %s; \"action\" must be a string", what())
	}
	msg, _ := stringMember(obj, "userMessage")
	msg = clean(msg, maxUserMessage)
	switch {
	case status == http.StatusBadRequest:
		if !strings.EqualFold(action, actionValidationError) {
			return failed("the connector answered %s; a 400 must carry \"action\": \"ValidationError\" and a userMessage", what())
		}
		if s, present := obj["status"]; present && !isStatus400(s) {
			return failed("the connector answered %s; a validation error's \"status\" must be 400", what())
		}
		if msg == "" {
			return failed("the connector answered %s; a validation error needs a userMessage", what())
		}
		return outcome{decision: ValidationError, message: msg}
	case strings.EqualFold(action, actionShowBlockPage):
		if msg == "" {
			return failed("the connector answered %s; a block page needs a userMessage", what())
		}
		return outcome{decision: Block, message: msg}
	case strings.EqualFold(action, actionValidationError):
		return failed("the connector answered %s; a ValidationError must come with HTTP 400", what())
	case action != "" && !strings.EqualFold(action, actionContinue):
		return failed("the connector answered %s; unknown action %q (want Continue, ShowBlockPage or ValidationError)", what(), clean(action, 60))
	}
	out := outcome{decision: Continue, claims: map[string]any{}}
	declared := map[string]bool{"action": true, "version": true}
	for _, c := range outputs {
		name := c.PartnerClaimType
		if name == "" {
			name = c.ClaimType
		}
		declared[name] = true
		if v, ok := obj[name]; ok && v != nil {
			out.claims[c.ClaimType] = v
		}
	}
	for k := range obj {
		if !declared[k] {
			out.ignored = append(out.ignored, clean(k, 100))
		}
	}
	slices.Sort(out.ignored)
	return out
}

// statusHint says what a refusal of the connector's own credential means,
// which is what an endpoint's 401 or 403 most often is after a rotation.
func statusHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "; 401: the endpoint did not accept the connector's credential: check the connector's authentication and that the endpoint expects the current version of the vault secret or certificate it names"
	case http.StatusForbidden:
		return "; 403: the endpoint recognised the connector's credential but refuses this call: check what the endpoint allows that credential"
	}
	return ""
}

// decodeObject decodes a JSON object, numbers as json.Number (a large
// integer survives), refusing trailing data.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, shortJSONError(err)
	}
	if obj == nil {
		return nil, fmt.Errorf("it is null")
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the object")
	}
	return obj, nil
}

func shortJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("it is a JSON %s", te.Value)
	}
	return fmt.Errorf("%s", clean(err.Error(), 100))
}

func stringMember(obj map[string]any, name string) (string, bool) {
	s, ok := obj[name].(string)
	return s, ok
}

// isStatus400 accepts 400 as a number or a string (B2C samples send both).
func isStatus400(v any) bool {
	switch s := v.(type) {
	case json.Number:
		return s.String() == "400"
	case string:
		return strings.TrimSpace(s) == "400"
	}
	return false
}

// quote is the first excerptBytes of body, sanitised and quoted.
func quote(body []byte) string {
	if len(body) == 0 {
		return "empty body"
	}
	s := clean(string(body[:min(len(body), excerptBytes)]), excerptBytes)
	if len(body) > excerptBytes {
		s += "…"
	} else {
		s = strings.TrimRight(s, " ") // the final line break, made a space by clean
	}
	return fmt.Sprintf("%q", s)
}

// clean makes text from the other side safe to print: valid UTF-8, no
// control or bidirectional-override characters, at most n bytes.
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, unicode.Is(unicode.Bidi_Control, r):
			return -1
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}
