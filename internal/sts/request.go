package sts

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// assertionTypeJWT is the only client_assertion_type (RFC 7523 §2.2).
const assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Secret is credential text (a client secret or a client assertion); it
// never prints, in logs, JSON or %v.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return "[redacted]" }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }

// tokenRequest is a parsed token request before any directory lookup.
type tokenRequest struct {
	GrantType       string
	ClientID        string // from the form, the Basic user, or (later) the assertion's sub
	ClientSecret    Secret
	ClientAssertion Secret
	Scope           string
	AuthMethod      string // MethodSecretBasic, MethodSecretPost, MethodPrivateKeyJWT or MethodNone (they label metrics)
}

// tokenParams are the form parameters the endpoint reads; duplicates of
// these are refused (RFC 6749 §3.2). Others (claims, client_info, …) are
// ignored.
var tokenParams = [...]string{"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type", "scope"}

// parseTokenRequest parses the body and Authorization header of a token
// request (RFC 6749 §4.4, §2.3.1; RFC 7523 §2.2). It checks syntax and the
// parameters' presence, not the directory.
func parseTokenRequest(contentType string, body []byte, authorization string) (tokenRequest, *Error) {
	var req tokenRequest
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, "application/x-www-form-urlencoded") {
		got := contentType
		if got == "" {
			got = "none"
		}
		return req, invalidRequest(CodeMissingParameter,
			"The request body must contain the following parameter: 'grant_type'. The token request must be sent as "+
				"Content-Type: application/x-www-form-urlencoded (got '%s').", clip(got, 100))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		// The parser's message would quote part of the body, which may
		// hold a secret; describe the problem instead.
		return req, invalidRequest(CodeMalformedRequest,
			"Invalid request. The request body is not valid application/x-www-form-urlencoded: it has a malformed %%-escape "+
				"or a ';' separator. Encode parameters with '&' between them and %%XX escapes.")
	}
	for _, p := range tokenParams {
		if len(form[p]) > 1 {
			return req, invalidRequest(CodeMalformedRequest,
				"Invalid request. The parameter '%s' is included more than once; send each parameter once.", p)
		}
	}
	req.GrantType = form.Get("grant_type")
	if req.GrantType == "" {
		return req, missingParameter("grant_type")
	}
	if req.GrantType != "client_credentials" {
		return req, newError(http.StatusBadRequest, "unsupported_grant_type", CodeUnsupportedGrantType,
			"The app requested an unsupported grant type '%s'. This token endpoint supports only "+
				"grant_type=client_credentials.", clip(req.GrantType, 100))
	}
	req.ClientID = form.Get("client_id")
	postSecret := form.Get("client_secret")
	assertion := form.Get("client_assertion")
	assertionType := form.Get("client_assertion_type")

	basicUser, basicSecret, hasBasic, perr := parseBasic(authorization)
	if perr != nil {
		return req, perr
	}
	switch {
	case hasBasic && assertion != "":
		return req, invalidRequest(CodeMalformedRequest,
			"Invalid request. The request authenticates the client twice: with an Authorization: Basic header and a "+
				"client_assertion. Use exactly one client authentication method.")
	case postSecret != "" && assertion != "":
		return req, invalidRequest(CodeMalformedRequest,
			"Invalid request. Both client_secret and client_assertion are present. Use exactly one client authentication method.")
	case hasBasic:
		if req.ClientID != "" && req.ClientID != basicUser {
			return req, invalidRequest(CodeMalformedRequest,
				"Invalid request. The client_id in the body ('%s') differs from the client id in the Authorization: Basic header ('%s'). "+
					"Send the client id in one place only.", clip(req.ClientID, 100), clip(basicUser, 100))
		}
		if postSecret != "" && postSecret != basicSecret {
			return req, invalidRequest(CodeMalformedRequest,
				"Invalid request. The client_secret in the body differs from the secret in the Authorization: Basic header. "+
					"Send the secret in one place only (client_secret_basic or client_secret_post).")
		}
		req.ClientID, req.ClientSecret, req.AuthMethod = basicUser, Secret(basicSecret), MethodSecretBasic
		if basicSecret == "" {
			req.AuthMethod = MethodNone // "client_id:" with no secret: a client without credential
		}
	case postSecret != "":
		req.ClientSecret, req.AuthMethod = Secret(postSecret), MethodSecretPost
	case assertion != "":
		if assertionType == "" {
			return req, missingParameter("client_assertion_type")
		}
		if assertionType != assertionTypeJWT {
			return req, invalidRequest(CodeMalformedRequest,
				"Invalid request. client_assertion_type '%s' is not supported; use '%s'.", clip(assertionType, 100), assertionTypeJWT)
		}
		req.ClientAssertion, req.AuthMethod = Secret(assertion), MethodPrivateKeyJWT
	default:
		req.AuthMethod = MethodNone
	}
	if req.ClientID == "" && req.AuthMethod != MethodPrivateKeyJWT {
		return req, missingParameter("client_id")
	}
	req.Scope = form.Get("scope")
	if strings.TrimSpace(req.Scope) == "" {
		return req, missingParameter("scope")
	}
	return req, nil
}

// parseBasic decodes an "Authorization: Basic" header. Other schemes are
// ignored. Per RFC 6749 §2.3.1 the id and secret are form-urlencoded
// before base64, so both are URL-decoded.
func parseBasic(h string) (user, pass string, ok bool, e *Error) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false, nil
	}
	bad := func(why string) (string, string, bool, *Error) {
		return "", "", false, invalidRequest(CodeMalformedRequest,
			"Invalid request. The Authorization: Basic header is malformed (%s). Send base64(urlencode(client_id) \":\" urlencode(client_secret)) "+
				"as RFC 6749 section 2.3.1 describes, or send client_id and client_secret in the body.", why)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return bad("not base64")
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return bad("no ':' between client id and secret")
	}
	if user, err = url.QueryUnescape(u); err != nil {
		return bad("client id is not URL-encoded correctly")
	}
	if pass, err = url.QueryUnescape(p); err != nil {
		return bad("secret is not URL-encoded correctly")
	}
	if user == "" {
		return bad("empty client id")
	}
	return user, pass, true, nil
}

// parseGUID accepts only the 36-character hyphenated GUID form.
func parseGUID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.UUID{}, errors.New("not a GUID")
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("not a GUID: %w", err)
	}
	return u, nil
}
