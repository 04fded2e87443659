package adminclient

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
	"unicode"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// basePath is the admin API's path prefix.
const basePath = "/admin/v1"

// maxResponseBytes bounds an admin API response.
const maxResponseBytes = 16 << 20

// tokenRefreshMargin is how long before its expiry a cached token is
// replaced.
const tokenRefreshMargin = 2 * time.Minute

// APIError is a non-2xx answer of the admin API.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // BadRequest, NotFound, Conflict, …
	Message string // what was wrong and what to do, from the server
}

// Error returns the server's message.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("admin API answered HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Client calls the admin API with a management token it obtains and caches
// for the life of the process. It is safe for concurrent use.
type Client struct {
	cfg   Config
	hc    *http.Client
	oauth *oauthclient.Client
	now   func() time.Time

	mu    sync.Mutex
	token oauthclient.Token
}

// Option changes how New builds a Client.
type Option func(*Client)

// WithHTTPClient makes the Client use hc instead of one built from the
// configured CA file.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock makes the Client use now for token expiry decisions.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a Client for cfg (see LoadConfig).
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.Addr == "" || cfg.ClientID == "" || cfg.ClientSecret.IsZero() {
		return nil, errors.New("admin client: configuration needs an address, a client id and a client secret (use LoadConfig)")
	}
	if cfg.TokenTenant == "" {
		cfg.TokenTenant = DefaultTenant
	}
	if cfg.Scope == "" {
		cfg.Scope = ManagementScope
	}
	c := &Client{cfg: cfg, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		hc, err := NewHTTPClient(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		c.hc = hc
	}
	// The admin API never redirects. Following a redirect would repeat the
	// request, method, body and bearer token included, elsewhere: Go's
	// ServeMux answers a path with a "." or ".." segment with a 307 to the
	// cleaned path, which turned DELETE …/applications/APP/appRoles/.. into
	// DELETE …/applications/APP.
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	c.oauth = &oauthclient.Client{HTTPClient: c.hc, Now: c.now}
	return c, nil
}

// Config returns the configuration the Client was built with.
func (c *Client) Config() Config { return c.cfg }

// accessToken returns the cached token or gets a new one.
func (c *Client) accessToken(ctx context.Context, fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !fresh && c.token.AccessToken != "" && c.now().Before(c.token.ExpiresAt.Add(-tokenRefreshMargin)) {
		return c.token.AccessToken, nil
	}
	tok, err := c.oauth.RequestToken(ctx, c.cfg.TokenURL(), c.cfg.ClientID, oauthclient.SecretCredential(c.cfg.ClientSecret), c.cfg.Scope)
	if err != nil {
		if ce := c.cfg.Endpoint.ExplainConnection(err); ce != err {
			return "", ce
		}
		return "", fmt.Errorf("get an admin token from %s with the credential from %s: %w", c.cfg.TokenURL(), c.cfg.Source, explainTransport(err, c.cfg))
	}
	c.token = tok
	return tok.AccessToken, nil
}

// do sends one admin API request; in (if not nil) is sent as JSON and a 2xx
// body is decoded into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doWith(ctx, method, path, nil, in, out)
}

// doWith is do with extra request headers.
func (c *Client) doWith(ctx context.Context, method, path string, header http.Header, in, out any) error {
	if err := checkPath(path); err != nil {
		return err
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx, attempt > 0)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.cfg.Addr+basePath+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("admin API request: %w", err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ce := c.cfg.Endpoint.ExplainConnection(oauthclient.ExplainConnection(c.cfg.Addr, err)); ce != nil {
				return ce
			}
			return fmt.Errorf("admin API %s %s: %w", method, basePath+path, explainTransport(err, c.cfg))
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("admin API %s %s: read response: %w", method, basePath+path, err)
		}
		if len(data) > maxResponseBytes {
			return fmt.Errorf("admin API %s %s: response larger than %d bytes", method, basePath+path, maxResponseBytes)
		}
		// A 401 with a cached token may mean the server restarted with new
		// keys or the token was revoked: try once with a new token. The
		// request was not carried out, so repeating it is safe.
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			return fmt.Errorf("admin API %s %s answered HTTP %d with a redirect to %q, which is not followed: the admin API does not redirect; check that --addr or %s is the server's base URL",
				method, basePath+path, resp.StatusCode, sanitize(resp.Header.Get("Location")), EnvAddr)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			if ce := oauthclient.PlainHTTPToHTTPS(c.cfg.Addr, resp.StatusCode, data); ce != nil {
				return c.cfg.Endpoint.ExplainConnection(ce)
			}
			return apiError(resp.StatusCode, data)
		}
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("admin API %s %s: response is not the expected JSON: %w", method, basePath+path, err)
		}
		return nil
	}
}

// apiError decodes the admin API's error body.
func apiError(status int, body []byte) *APIError {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = sanitize(env.Error.Code), sanitize(env.Error.Message)
		return e
	}
	e.Code = strings.ReplaceAll(http.StatusText(status), " ", "")
	e.Message = fmt.Sprintf("admin API answered HTTP %d %s without an error body (is the address a Portcullis server?)", status, http.StatusText(status))
	return e
}

// sanitize strips control characters (C0, DEL and C1, which includes the
// one-byte CSI U+009B) and bidirectional overrides from server text shown on
// a terminal; line feeds stay.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}

// explainTransport adds a hint to connection and TLS errors.
func explainTransport(err error, cfg Config) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ue *url.Error
	switch {
	case errors.As(err, &ua):
		if cfg.CAFile != "" {
			return fmt.Errorf("%w (the server's TLS certificate is not issued by the CA in %s; check --ca or %s)", err, cfg.CAFile, EnvCA)
		}
		return fmt.Errorf("%w (give the CA that issued the server's TLS certificate with --ca or %s; for a dev server it is DATA/tls/ca.pem)", err, EnvCA)
	case errors.As(err, &hn):
		return fmt.Errorf("%w (use the host name the server's certificate names in --addr)", err)
	case errors.As(err, &ue) && !ue.Timeout() && strings.Contains(ue.Err.Error(), "connection refused"):
		return fmt.Errorf("%w (is `portcullis serve` running at %s? set --addr or %s)", err, cfg.Addr, EnvAddr)
	}
	return err
}

func esc(s string) string { return url.PathEscape(s) }

// checkPath refuses a request path with an empty, "." or ".." segment: such
// a name (a tenant, application, role, credential or grant given by the
// user) does not address one object but a different path of the API.
func checkPath(path string) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return fmt.Errorf("an empty name or id was given (admin API path %s%s): give the id or name of the object", basePath, path)
		case ".", "..":
			return fmt.Errorf("%q cannot name an object in the admin API (it is path navigation in %s%s): give the object's id instead", seg, basePath, path)
		}
	}
	return nil
}

func tenantPath(tenant string) string { return "/tenants/" + esc(tenant) }

func appPath(tenant, app string) string {
	return tenantPath(tenant) + "/applications/" + esc(app)
}

// appPath returns the admin API path of the application ref names: an
// appId or display name as given; an identifier URI (api://orders,
// https://…), which cannot travel in a path segment, is looked up among
// the tenant's applications and replaced by its appId.
func (c *Client) appPath(ctx context.Context, tenant, ref string) (string, error) {
	if !strings.ContainsAny(ref, "/:") {
		return appPath(tenant, ref), nil
	}
	apps, err := c.ListApplications(ctx, tenant)
	if err != nil {
		return "", err
	}
	var named []Application
	for _, a := range apps {
		for _, u := range a.IdentifierURIs {
			if strings.EqualFold(strings.TrimRight(u, "/"), strings.TrimRight(ref, "/")) {
				return appPath(tenant, a.AppID), nil
			}
		}
		if strings.EqualFold(a.DisplayName, ref) {
			named = append(named, a)
		}
	}
	if len(named) == 1 {
		return appPath(tenant, named[0].AppID), nil
	}
	if !strings.Contains(ref, "://") { // a display name with a slash: the server says what it finds
		return appPath(tenant, ref), nil
	}
	return "", &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf(
		"no application of tenant %s has the identifier URI %q (or, as display name, exactly one); 'portcullis app list' shows names, appIds and identifier URIs", tenant, ref)}
}

// ListTenants returns every tenant.
func (c *Client) ListTenants(ctx context.Context) ([]Tenant, error) {
	var l List[Tenant]
	err := c.do(ctx, http.MethodGet, "/tenants", nil, &l)
	return l.Value, err
}

// CreateTenant creates a tenant named name (with its signing key).
func (c *Client) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	err := c.do(ctx, http.MethodPost, "/tenants", map[string]string{"name": name}, &t)
	return t, err
}

// GetTenant returns a tenant (by id or name) with its issuer, token
// endpoint and JWKS URI.
func (c *Client) GetTenant(ctx context.Context, tenant string) (Tenant, error) {
	var t Tenant
	err := c.do(ctx, http.MethodGet, tenantPath(tenant), nil, &t)
	return t, err
}

// DeleteTenant removes a tenant (by id or name) with its applications,
// their credentials, grants and vault role assignments, and its signing
// keys. The server refuses (409) the tenant that holds the management API.
func (c *Client) DeleteTenant(ctx context.Context, tenant string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(tenant), nil, nil)
}

// ListApplications returns the applications of tenant.
func (c *Client) ListApplications(ctx context.Context, tenant string) ([]Application, error) {
	var l List[Application]
	err := c.do(ctx, http.MethodGet, tenantPath(tenant)+"/applications", nil, &l)
	return l.Value, err
}

// CreateApplication registers an application in tenant.
func (c *Client) CreateApplication(ctx context.Context, tenant string, app NewApplication) (Application, error) {
	var a Application
	err := c.do(ctx, http.MethodPost, tenantPath(tenant)+"/applications", app, &a)
	return a, err
}

// GetApplication returns an application by appId or unique display name.
func (c *Client) GetApplication(ctx context.Context, tenant, app string) (Application, error) {
	var a Application
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return a, err
	}
	err = c.do(ctx, http.MethodGet, ap, nil, &a)
	return a, err
}

// UpdateApplication changes the fields of an application that u sets.
func (c *Client) UpdateApplication(ctx context.Context, tenant, app string, u ApplicationUpdate) (Application, error) {
	var a Application
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return a, err
	}
	err = c.do(ctx, http.MethodPatch, ap, u, &a)
	return a, err
}

// DeleteApplication removes an application and its grants.
func (c *Client) DeleteApplication(ctx context.Context, tenant, app string) error {
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, ap, nil, nil)
}

// AddAppRole adds an app role to an application.
func (c *Client) AddAppRole(ctx context.Context, tenant, app string, role NewAppRole) (AppRole, error) {
	var r AppRole
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return r, err
	}
	err = c.do(ctx, http.MethodPost, ap+"/appRoles", role, &r)
	return r, err
}

// ListAppRoles returns the app roles of an application.
func (c *Client) ListAppRoles(ctx context.Context, tenant, app string) ([]AppRole, error) {
	var l List[AppRole]
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return l.Value, err
	}
	err = c.do(ctx, http.MethodGet, ap+"/appRoles", nil, &l)
	return l.Value, err
}

// RemoveAppRole removes an app role (by id or value); the server refuses
// while a grant uses it.
func (c *Client) RemoveAppRole(ctx context.Context, tenant, app, role string) error {
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, ap+"/appRoles/"+esc(role), nil, nil)
}

// AddSecret creates a client secret; the answer's SecretText is the only
// time the secret is shown.
func (c *Client) AddSecret(ctx context.Context, tenant, app string, s NewSecret) (PasswordCredential, error) {
	var p PasswordCredential
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return p, err
	}
	err = c.do(ctx, http.MethodPost, ap+"/passwordCredentials", s, &p)
	return p, err
}

// ListSecrets returns the client secrets' metadata (never the secrets).
func (c *Client) ListSecrets(ctx context.Context, tenant, app string) ([]PasswordCredential, error) {
	var l List[PasswordCredential]
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return l.Value, err
	}
	err = c.do(ctx, http.MethodGet, ap+"/passwordCredentials", nil, &l)
	return l.Value, err
}

// RemoveSecret removes a client secret by id.
func (c *Client) RemoveSecret(ctx context.Context, tenant, app, id string) error {
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, ap+"/passwordCredentials/"+esc(id), nil, nil)
}

// AddCertificate registers a certificate (the server keeps the public part
// only).
func (c *Client) AddCertificate(ctx context.Context, tenant, app string, cert NewCertificate) (KeyCredential, error) {
	var k KeyCredential
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return k, err
	}
	err = c.do(ctx, http.MethodPost, ap+"/keyCredentials", cert, &k)
	return k, err
}

// ListCertificates returns the registered certificates of an application.
func (c *Client) ListCertificates(ctx context.Context, tenant, app string) ([]KeyCredential, error) {
	var l List[KeyCredential]
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return l.Value, err
	}
	err = c.do(ctx, http.MethodGet, ap+"/keyCredentials", nil, &l)
	return l.Value, err
}

// RemoveCertificate removes a certificate by credential id or SHA-1
// thumbprint (hex).
func (c *Client) RemoveCertificate(ctx context.Context, tenant, app, idOrThumbprint string) error {
	ap, err := c.appPath(ctx, tenant, app)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, ap+"/keyCredentials/"+esc(idOrThumbprint), nil, nil)
}

// AddFederatedCredential adds a federated identity credential (ID and
// CreatedAt are set by the server).
func (c *Client) AddFederatedCredential(ctx context.Context, tenant, app string, fc FederatedIdentityCredential) (FederatedIdentityCredential, error) {
	var out FederatedIdentityCredential
	err := c.do(ctx, http.MethodPost, appPath(tenant, app)+"/federatedIdentityCredentials", fc, &out)
	return out, err
}

// ListFederatedCredentials returns the federated identity credentials of
// an application.
func (c *Client) ListFederatedCredentials(ctx context.Context, tenant, app string) ([]FederatedIdentityCredential, error) {
	var l List[FederatedIdentityCredential]
	err := c.do(ctx, http.MethodGet, appPath(tenant, app)+"/federatedIdentityCredentials", nil, &l)
	return l.Value, err
}

// RemoveFederatedCredential removes a federated identity credential by id
// or name.
func (c *Client) RemoveFederatedCredential(ctx context.Context, tenant, app, idOrName string) error {
	return c.do(ctx, http.MethodDelete, appPath(tenant, app)+"/federatedIdentityCredentials/"+esc(idOrName), nil, nil)
}

// AddGrant grants a client application an app role of a resource
// application.
func (c *Client) AddGrant(ctx context.Context, tenant string, g NewGrant) (Grant, error) {
	var out Grant
	err := c.do(ctx, http.MethodPost, tenantPath(tenant)+"/grants", g, &out)
	return out, err
}

// ListGrants returns the grants of tenant.
func (c *Client) ListGrants(ctx context.Context, tenant string) ([]Grant, error) {
	var l List[Grant]
	err := c.do(ctx, http.MethodGet, tenantPath(tenant)+"/grants", nil, &l)
	return l.Value, err
}

// RemoveGrant removes a grant by id.
func (c *Client) RemoveGrant(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(tenant)+"/grants/"+esc(id), nil, nil)
}

// ListSigningKeys returns the signing keys of tenant.
func (c *Client) ListSigningKeys(ctx context.Context, tenant string) ([]SigningKey, error) {
	var l List[SigningKey]
	err := c.do(ctx, http.MethodGet, tenantPath(tenant)+"/signingKeys", nil, &l)
	return l.Value, err
}

// RotateSigningKeys creates a new signing key for tenant; with immediate
// it signs at once instead of after the pre-publication period.
func (c *Client) RotateSigningKeys(ctx context.Context, tenant string, immediate bool) (RotateResult, error) {
	var r RotateResult
	err := c.do(ctx, http.MethodPost, tenantPath(tenant)+"/signingKeys/rotate", map[string]bool{"immediate": immediate}, &r)
	return r, err
}

// RekeyResult is the answer of one rekey pass (POST /admin/v1/rekey).
type RekeyResult struct {
	RootKeyID      string `json:"rootKeyId"`
	VaultBlobs     int    `json:"vaultBlobs"`
	SigningKeys    int    `json:"signingKeys"`
	AlreadyCurrent int    `json:"alreadyCurrent"`
	Complete       bool   `json:"complete"`
}

// SealedByKey counts the blobs one root key seals.
type SealedByKey struct {
	RootKeyID   string `json:"rootKeyId"`
	Current     bool   `json:"current"`
	Held        bool   `json:"held"`
	VaultBlobs  int    `json:"vaultBlobs"`
	SigningKeys int    `json:"signingKeys"`
}

// RootKeyStatus says which root keys seal the stored blobs (GET /admin/v1/rootKeys).
type RootKeyStatus struct {
	CurrentRootKeyID   string        `json:"currentRootKeyId"`
	PreviousRootKeyIDs []string      `json:"previousRootKeyIds"`
	SealedBy           []SealedByKey `json:"sealedBy"`
	Malformed          int           `json:"malformed"`
	RekeyNeeded        bool          `json:"rekeyNeeded"`
	PreviousKeysInUse  []string      `json:"previousKeysInUse"`
}

// Rekey runs one rekey pass: the server re-seals stored blobs under its
// current root key for up to its time budget; Complete says whether more
// passes are needed.
func (c *Client) Rekey(ctx context.Context) (RekeyResult, error) {
	var r RekeyResult
	err := c.do(ctx, http.MethodPost, "/rekey", struct{}{}, &r)
	return r, err
}

// RootKeyStatus reports which root keys seal the stored blobs.
func (c *Client) RootKeyStatus(ctx context.Context) (RootKeyStatus, error) {
	var s RootKeyStatus
	err := c.do(ctx, http.MethodGet, "/rootKeys", nil, &s)
	return s, err
}
