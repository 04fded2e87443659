package vaultclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// APIVersion is the Key Vault REST API version the client sends.
const APIVersion = "7.5"

// DefaultManagementScope is the scope of tokens for the admin API.
const DefaultManagementScope = "api://portcullis-management/.default"

// maxResponseBytes bounds one response body.
const maxResponseBytes = 16 << 20

// maxPages bounds how many pages a listing follows.
const maxPages = 10000

// tokenRefreshMargin is how long before its expiry a cached token is replaced.
const tokenRefreshMargin = 2 * time.Minute

// Config is what New needs.
type Config struct {
	// Addr is the server's base URL, e.g. https://localhost:8443.
	Addr string
	// HTTPClient sends the requests (with the TLS trust for the server);
	// nil means http.DefaultClient.
	HTTPClient *http.Client
	// TokenURL is the token endpoint the credential authenticates at.
	TokenURL string
	// ClientID and Credential identify the caller at the token endpoint.
	ClientID   string
	Credential oauthclient.Credential
	// ManagementScope is the scope of tokens for the admin API;
	// DefaultManagementScope when empty.
	ManagementScope string
	// Now is the clock for token expiry; time.Now when nil.
	Now func() time.Time
}

// Client calls the vault's Key Vault API and the admin API's vault routes.
// It is safe for concurrent use.
type Client struct {
	addr     string
	hc       *http.Client
	oauth    *oauthclient.Client
	tokenURL string
	clientID string
	cred     oauthclient.Credential
	mgmt     string
	now      func() time.Time

	mu     sync.Mutex
	scope  string                       // the vault resource's scope, from the first challenge
	tokens map[string]oauthclient.Token // by scope
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	addr := strings.TrimRight(strings.TrimSpace(cfg.Addr), "/")
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("vault client: server address %q: want a URL such as https://localhost:8443", cfg.Addr)
	}
	if cfg.TokenURL == "" || cfg.ClientID == "" {
		return nil, errors.New("vault client: configuration needs a token endpoint and a client id")
	}
	c := &Client{
		addr: addr, hc: cfg.HTTPClient, tokenURL: cfg.TokenURL, clientID: cfg.ClientID, cred: cfg.Credential,
		mgmt: cfg.ManagementScope, now: cfg.Now, tokens: map[string]oauthclient.Token{},
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.mgmt == "" {
		c.mgmt = DefaultManagementScope
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.oauth = &oauthclient.Client{HTTPClient: c.hc, Now: c.now}
	return c, nil
}

// VaultURL returns the Key Vault URL of vault: ADDR/vaults/VAULT.
func (c *Client) VaultURL(vault string) string {
	return c.addr + "/vaults/" + url.PathEscape(vault)
}

// Error is a non-2xx answer of the Key Vault API or the admin API, both of
// which answer {"error":{"code","message"}}.
type Error struct {
	Status    int    // HTTP status code
	Code      string // Key Vault's code, e.g. SecretNotFound, Forbidden, BadParameter
	InnerCode string // Key Vault's innererror code, e.g. ForbiddenByRbac, ObjectIsDeletedButRecoverable
	Message   string
}

// Error returns the server's message with the code.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" {
		return msg + " (" + e.Code + ")"
	}
	return msg
}

// parseError decodes an error body; a body that is not the error shape
// gives a message naming the status.
func parseError(status int, body []byte, what string) *Error {
	var env struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		e.Code, e.Message = clipField(env.Error.Code), clipField(env.Error.Message)
		if env.Error.InnerError != nil {
			e.InnerCode = clipField(env.Error.InnerError.Code)
		}
		return e
	}
	e.Code = strings.ReplaceAll(http.StatusText(status), " ", "")
	e.Message = fmt.Sprintf("%s answered HTTP %d %s without an error body (is the address a Portcullis server?)", what, status, http.StatusText(status))
	return e
}

func clipField(s string) string {
	const max = 4096
	if len(s) > max {
		s = s[:max] + "…"
	}
	return sanitize(s)
}

// token returns a cached token for scope or requests a new one.
func (c *Client) token(ctx context.Context, scope string, fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[scope]; ok && !fresh && t.AccessToken != "" && c.now().Before(t.ExpiresAt.Add(-tokenRefreshMargin)) {
		return t.AccessToken, nil
	}
	t, err := c.oauth.RequestToken(ctx, c.tokenURL, c.clientID, c.cred, scope)
	var ce *oauthclient.ConnectionError
	if errors.As(err, &ce) {
		return "", err // names the address once and what is wrong
	}
	if err != nil {
		return "", fmt.Errorf("get a token for %s from %s: %w", scope, c.tokenURL, explainTransport(err, c.addr))
	}
	c.tokens[scope] = t
	return t.AccessToken, nil
}

func (c *Client) vaultScope() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scope
}

func (c *Client) setVaultScope(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scope = s
}

// response is one HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request; token "" sends none.
func (c *Client) send(ctx context.Context, method, rawURL string, body []byte, token string) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ce := oauthclient.ExplainConnection(rawURL, err); ce != nil {
			return response{}, ce
		}
		return response{}, fmt.Errorf("%s %s: %w", method, redactQuery(rawURL), explainTransport(err, c.addr))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read response: %w", method, redactQuery(rawURL), err)
	}
	if len(data) > maxResponseBytes {
		return response{}, fmt.Errorf("%s %s: response larger than %d bytes", method, redactQuery(rawURL), maxResponseBytes)
	}
	if ce := oauthclient.PlainHTTPToHTTPS(rawURL, resp.StatusCode, data); ce != nil {
		return response{}, ce
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// redactQuery drops the query of a URL for messages ($skiptoken values).
func redactQuery(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// kv sends one Key Vault request to rawURL with a token for the vault
// resource and returns the 2xx body. The first request of the Client goes
// without a token and without its body, as the Key Vault SDKs do, to learn
// the resource from the 401 challenge.
func (c *Client) kv(ctx context.Context, method, rawURL string, in any) ([]byte, error) {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	scope := c.vaultScope()
	if scope == "" {
		r, err := c.send(ctx, method, rawURL, nil, "")
		if err != nil {
			return nil, err
		}
		switch {
		case r.status == http.StatusUnauthorized:
			ch, err := ParseChallenge(r.header.Get("WWW-Authenticate"))
			if err != nil {
				return nil, fmt.Errorf("%s %s: the vault refused the request without a token but its challenge is unusable: %w", method, redactQuery(rawURL), err)
			}
			scope = ch.TokenScope()
			c.setVaultScope(scope)
		case r.status >= 200 && r.status <= 299 && body == nil:
			return r.body, nil
		case r.status >= 200 && r.status <= 299:
			return nil, fmt.Errorf("%s %s: the server accepted a request without a token (HTTP %d); it is not a Portcullis vault", method, redactQuery(rawURL), r.status)
		default:
			return nil, parseError(r.status, r.body, "the vault")
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx, scope, attempt > 0)
		if err != nil {
			return nil, err
		}
		r, err := c.send(ctx, method, rawURL, body, tok)
		if err != nil {
			return nil, err
		}
		// A 401 with a cached token may mean the server restarted with new
		// keys, or the resource changed: learn the challenge again and retry
		// once. The request was not carried out, so repeating it is safe.
		if r.status == http.StatusUnauthorized && attempt == 0 {
			if ch, err := ParseChallenge(r.header.Get("WWW-Authenticate")); err == nil && ch.TokenScope() != scope {
				scope = ch.TokenScope()
				c.setVaultScope(scope)
			}
			continue
		}
		if r.status < 200 || r.status > 299 {
			return nil, parseError(r.status, r.body, "the vault")
		}
		return r.body, nil
	}
}

// admin sends one admin API request with a management token and decodes a
// 2xx answer into out (if not nil).
func (c *Client) admin(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx, c.mgmt, attempt > 0)
		if err != nil {
			return err
		}
		r, err := c.send(ctx, method, c.addr+"/admin/v1"+path, body, tok)
		if err != nil {
			return err
		}
		if r.status == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if r.status < 200 || r.status > 299 {
			return parseError(r.status, r.body, "the admin API")
		}
		if out == nil || r.status == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(r.body, out); err != nil {
			return fmt.Errorf("admin API %s %s: response is not the expected JSON: %w", method, path, err)
		}
		return nil
	}
}

// explainTransport adds a hint to connection and TLS errors.
func explainTransport(err error, addr string) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ue *url.Error
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%w (give the CA that issued the server's TLS certificate with --ca or PORTCULLIS_CA; for a dev server it is DATA/tls/ca.pem)", err)
	case errors.As(err, &hn):
		return fmt.Errorf("%w (use the host name the server's certificate names in --addr)", err)
	case errors.As(err, &ue) && !ue.Timeout() && strings.Contains(ue.Err.Error(), "connection refused"):
		return fmt.Errorf("%w (is `portcullis serve` running at %s? set --addr or PORTCULLIS_ADDR)", err, addr)
	}
	return err
}
