package oauthclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds a token endpoint response; real ones are a few KiB.
const maxResponseBytes = 1 << 20

// Token is a successful token response.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresIn   int64     // seconds, as the server said; 0 if it gave none
	ExpiresAt   time.Time // when the token expires by the client's clock; zero if unknown
	// Raw is the response body as received, for callers that show it.
	Raw json.RawMessage
}

// String describes t without the access token itself.
func (t Token) String() string {
	if t.ExpiresAt.IsZero() {
		return fmt.Sprintf("%s token (no expiry given)", t.TokenType)
	}
	return fmt.Sprintf("%s token expiring at %s", t.TokenType, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString describes t like String, so that %#v does not print the access
// token either.
func (t Token) GoString() string { return t.String() }

// Client requests tokens; the zero value uses http.DefaultClient and
// time.Now.
type Client struct {
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock for assertion times and ExpiresAt; nil means time.Now.
	Now func() time.Time
}

// RequestToken obtains a token for scope (for example
// "api://orders/.default") from the token endpoint tokenURL with the
// client-credentials grant, authenticating as clientID with cred.
func RequestToken(ctx context.Context, hc *http.Client, tokenURL, clientID string, cred Credential, scope string) (Token, error) {
	return (&Client{HTTPClient: hc}).RequestToken(ctx, tokenURL, clientID, cred, scope)
}

// RequestToken obtains a token like the package-level RequestToken.
func (c *Client) RequestToken(ctx context.Context, tokenURL, clientID string, cred Credential, scope string) (Token, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	hc := http.Client{}
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	// A redirect would carry the credential to wherever it points; a token
	// endpoint has no reason to redirect, so the 3xx is reported instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	switch {
	case tokenURL == "":
		return Token{}, errors.New("token request: no token endpoint URL")
	case clientID == "":
		return Token{}, errors.New("token request: no client id")
	case scope == "":
		return Token{}, errors.New("token request: no scope (for example api://my-api/.default)")
	}
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {clientID},
		"scope":      {scope},
	}
	switch {
	case cred.IsCertificate():
		assertion, err := cred.ClientAssertion(tokenURL, clientID, now())
		if err != nil {
			return Token{}, err
		}
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", assertion)
	case !cred.secret.IsZero():
		form.Set("client_secret", cred.secret.Reveal())
	default:
		return Token{}, errors.New("token request: no credential: give a client secret or a certificate with its private key")
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("token request: bad token endpoint URL %q: %w", tokenURL, redactErr(err, cred))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	sent := now()
	resp, err := hc.Do(req)
	if err != nil {
		if ce := ExplainConnection(tokenURL, err); ce != nil {
			return Token{}, ce
		}
		return Token{}, fmt.Errorf("token request to %s: %w", tokenURL, redactErr(err, cred))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ce := ExplainConnection(tokenURL, err); ce != nil {
			return Token{}, ce
		}
		return Token{}, fmt.Errorf("token request to %s: read response: %w", tokenURL, redactErr(err, cred))
	}
	if len(body) > maxResponseBytes {
		return Token{}, fmt.Errorf("token request to %s: response larger than %d bytes", tokenURL, maxResponseBytes)
	}
	if ce := PlainHTTPToHTTPS(tokenURL, resp.StatusCode, body); ce != nil {
		return Token{}, ce
	}
	if e := parseError(resp.StatusCode, body); e != nil {
		scrub(e, cred)
		return Token{}, e
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, fmt.Errorf("token request to %s: HTTP %s without an OAuth error body (is this a Portcullis or Entra token endpoint?)", tokenURL, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && mt != "" {
		return Token{}, fmt.Errorf("token request to %s: response is %s, want application/json", tokenURL, mt)
	}
	tok, err := parseToken(body, sent)
	if err != nil {
		return Token{}, fmt.Errorf("token request to %s: %w", tokenURL, err)
	}
	return tok, nil
}

// parseToken decodes a successful token response; expires_in may be a
// number or a string (msal-protocol.md section 6), expires_on (Unix
// seconds) is the fallback.
func parseToken(body []byte, sent time.Time) (Token, error) {
	var raw struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Token{}, fmt.Errorf("response is not a JSON token response: %w", err)
	}
	if raw.AccessToken == "" {
		return Token{}, errors.New("response has no access_token")
	}
	t := Token{AccessToken: raw.AccessToken, TokenType: raw.TokenType, Raw: json.RawMessage(body)}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if n, ok := jsonInt(raw.ExpiresIn); ok && n > 0 && n <= maxExpiresInSeconds {
		t.ExpiresIn = n
		t.ExpiresAt = sent.Add(time.Duration(n) * time.Second)
	} else if n, ok := jsonInt(raw.ExpiresOn); ok && n > 0 {
		t.ExpiresAt = time.Unix(n, 0)
		t.ExpiresIn = int64(t.ExpiresAt.Sub(sent) / time.Second)
	}
	return t, nil
}

// maxExpiresInSeconds bounds an expires_in that is turned into a
// time.Duration (whose range ends near 292 years); a larger value from the
// server is ignored like a missing one, rather than wrapping around into the
// past.
const maxExpiresInSeconds = 100 * 366 * 24 * 3600

// jsonInt reads a JSON number or a string holding an integer.
func jsonInt(b json.RawMessage) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n > 1<<40 {
		return 0, false
	}
	return n, true
}

// minScrubLength is the shortest secret that scrub and redactErr look for:
// replacing every "y" of a message because a test secret is "y" would
// mangle it without protecting anything.
const minScrubLength = 6

// scrub removes the client secret from a server's error text in case the
// server echoed it.
func scrub(e *Error, cred Credential) {
	s := cred.secret.Reveal()
	if len(s) < minScrubLength {
		return
	}
	for _, f := range []*string{&e.Code, &e.Description, &e.ErrorURI, &e.TraceID, &e.CorrelationID, &e.Timestamp} {
		*f = strings.ReplaceAll(*f, s, redacted)
	}
}

// redactErr makes sure a transport error does not show the secret (a
// url.Error carries the URL only, never the body, but stay safe); the
// original error stays reachable with errors.As for callers that branch on
// it.
func redactErr(err error, cred Credential) error {
	s := cred.secret.Reveal()
	if len(s) < minScrubLength || !strings.Contains(err.Error(), s) {
		return err
	}
	return &redactedError{err: err, secret: s}
}

type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.secret, redacted) }
func (e *redactedError) Unwrap() error { return e.err }
