package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/logbuf"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/sts"
)

// The test tokens the fake verifier knows; anything else is refused.
const (
	tokAdmin       = "tok-admin"
	tokWrongAud    = "tok-wrong-aud"
	tokNoRole      = "tok-no-role"
	tokOtherTenant = "tok-other-tenant"
)

// AccessToken is what a fake token stands for.
type AccessToken struct {
	TenantID, Audience, AppID string
	Roles                     []string
}

// fakeTokens is a guard.Authenticator that admits the bearer tokens of a
// fixed table, as a guard.Verifier would after checking signature,
// issuer and lifetime.
type fakeTokens map[string]AccessToken

func (f fakeTokens) Authenticate(r *http.Request) (*guard.Principal, error) {
	raw, err := guard.BearerToken(r)
	if err != nil {
		return nil, err
	}
	tok, ok := f[raw]
	if !ok {
		return nil, &guard.Error{Status: http.StatusUnauthorized, Code: guard.CodeInvalidToken, Description: "token is expired"}
	}
	return &guard.Principal{Method: guard.MethodBearer, TenantID: tok.TenantID, Audience: []string{tok.Audience}, AppID: tok.AppID, Roles: tok.Roles}, nil
}

type rotation struct {
	tenantID  string
	immediate bool
}

// fakeKeys is an in-memory KeyManager.
type fakeKeys struct {
	mu        sync.Mutex
	ensured   []string
	rotations []rotation
	keys      map[string][]sts.KeyInfo
	now       time.Time
}

func (k *fakeKeys) EnsureSigningKey(_ context.Context, tenantID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ensured = append(k.ensured, tenantID)
	if len(k.keys[tenantID]) == 0 {
		k.keys[tenantID] = []sts.KeyInfo{{KID: "kid-" + tenantID[:8], Status: "active", CreatedAt: k.now, ActivateAt: k.now, PublishedUntil: k.now.Add(90 * 24 * time.Hour)}}
	}
	return nil
}

func (k *fakeKeys) RotateSigningKeys(_ context.Context, tenantID string, immediate bool) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rotations = append(k.rotations, rotation{tenantID, immediate})
	kid := fmt.Sprintf("kid-%d", len(k.rotations))
	k.keys[tenantID] = append(k.keys[tenantID], sts.KeyInfo{KID: kid, Status: "next", CreatedAt: k.now, ActivateAt: k.now.Add(24 * time.Hour)})
	return kid, nil
}

func (k *fakeKeys) SigningKeys(tenantID string) ([]sts.KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sts.KeyInfo(nil), k.keys[tenantID]...), nil
}

// syncBuffer is a log or audit sink the test reads while the server writes.
type syncBuffer = logbuf.Buffer

// env is a running admin API over a real SQLite store, bootstrapped like
// `portcullis serve` does: a default tenant holding the management
// application with its Portcullis.Admin role, and an admin client granted it.
type env struct {
	t       testing.TB
	st      *sqlite.Store
	mux     *http.ServeMux
	base    string
	client  *http.Client
	keys    *fakeKeys
	changed atomic.Int64
	logs    *syncBuffer
	now     time.Time

	tenant      directory.Tenant
	other       directory.Tenant
	mgmt        directory.Application
	adminRole   directory.AppRole
	adminClient directory.Application
	adminGrant  directory.Grant
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newGUID() string { return strings.ToLower(uuid.NewString()) }

// isGUID reports whether s is a GUID in its 8-4-4-4-12 form (any case).
func isGUID(s string) bool {
	_, err := uuid.Parse(s)
	return len(s) == 36 && err == nil
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with cfg changed by configure before the API is made.
func newEnvWith(t testing.TB, configure func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatalf("open SQLite store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, logs: &syncBuffer{}, now: testNow}
	e.keys = &fakeKeys{keys: map[string][]sts.KeyInfo{}, now: e.now}

	e.tenant = directory.Tenant{ID: newGUID(), Name: directory.DefaultTenantName, CreatedAt: e.now}
	e.other = directory.Tenant{ID: newGUID(), Name: "other", CreatedAt: e.now}
	for _, tn := range []directory.Tenant{e.tenant, e.other} {
		if err := st.CreateTenant(ctx, tn); err != nil {
			t.Fatalf("create tenant: %v", err)
		}
	}
	e.adminRole = directory.AppRole{ID: newGUID(), Value: directory.AdminRoleValue, DisplayName: "Portcullis administrator", Enabled: true}
	e.mgmt = directory.Application{
		TenantID: e.tenant.ID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: "Portcullis Management", CreatedAt: e.now,
		IdentifierURIs: []string{directory.ManagementIdentifierURI}, AppRoles: []directory.AppRole{e.adminRole},
	}
	e.adminClient = directory.Application{
		TenantID: e.tenant.ID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: "portcullis-admin", CreatedAt: e.now,
	}
	e.adminClient.IdentifierURIs = []string{"api://" + e.adminClient.AppID}
	for _, app := range []directory.Application{e.mgmt, e.adminClient} {
		if err := st.CreateApplication(ctx, app); err != nil {
			t.Fatalf("create application: %v", err)
		}
	}
	e.adminGrant = directory.Grant{ID: newGUID(), TenantID: e.tenant.ID, ClientAppID: e.adminClient.AppID, ResourceAppID: e.mgmt.AppID, AppRoleID: e.adminRole.ID, CreatedAt: e.now}
	if err := st.CreateGrant(ctx, e.adminGrant); err != nil {
		t.Fatalf("create grant: %v", err)
	}

	tokens := fakeTokens{
		tokAdmin:       {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
		tokWrongAud:    {TenantID: e.tenant.ID, Audience: e.adminClient.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
		tokNoRole:      {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{"Other.Role"}},
		tokOtherTenant: {TenantID: e.other.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
	}
	cfg := Config{
		Store: st, Authenticator: tokens, Keys: e.keys, ManagementAppID: e.mgmt.AppID,
		Changed: func(context.Context) { e.changed.Add(1) },
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
		Now:     func() time.Time { return e.now },
	}
	if configure != nil {
		configure(&cfg)
	}
	api := New(cfg)
	mux := http.NewServeMux()
	api.Register(mux)
	e.mux = mux
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e.base = "http://" + ln.Addr().String()
	e.client = &http.Client{Timeout: 30 * time.Second}
	return e
}

// request describes one call; the zero token means the admin token.
type request struct {
	method      string
	path        string
	body        any // nil: no body; string or []byte: sent as is; else JSON-encoded
	token       string
	noToken     bool
	contentType string // default application/json when there is a body
	header      http.Header
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) send(r request) response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(js)
	}
	req, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			req.Header.Set("Content-Type", ct)
		}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if !r.noToken {
		tok := r.token
		if tok == "" {
			tok = tokAdmin
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// do sends an admin-authenticated request.
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	return e.send(request{method: method, path: path, body: body})
}

// must sends an admin request and fails unless the status is want.
func (e *env) must(want int, method, path string, body any) response {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// expect fails t unless r has the status want, and returns r's body.
func expect(t testing.TB, r response, want int) []byte {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r.body
}

func decodeAs[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, b, err)
	}
	return v
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks an error response's status, code and that its message
// contains every one of parts.
func wantError(t testing.TB, r response, status int, code string, parts ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	er := decodeAs[errorResponse](t, r.body)
	if er.Error.Code != code {
		t.Errorf("code %q, want %q (message %q)", er.Error.Code, code, er.Error.Message)
	}
	for _, p := range parts {
		if !strings.Contains(er.Error.Message, p) {
			t.Errorf("message %q does not contain %q", er.Error.Message, p)
		}
	}
}

// Client-side shapes of the contract, decoded strictly so that a renamed or
// extra field fails the tests.
type tenantOutT struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	CreatedAt     time.Time `json:"createdAt"`
	Issuer        string    `json:"issuer"`
	TokenEndpoint string    `json:"tokenEndpoint"`
	JWKSURI       string    `json:"jwksUri"`
}

type appRoleOutT struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	IsEnabled   bool   `json:"isEnabled"`
}

type secretOutT struct {
	ID            string    `json:"id"`
	Hint          string    `json:"hint"`
	Description   string    `json:"description"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
	SecretText    string    `json:"secretText"`
}

type certOutT struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Thumbprint    string    `json:"thumbprint"`
	X5TS256       string    `json:"x5tS256"`
	Subject       string    `json:"subject"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
}

type ficOutT struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences"`
	Description string          `json:"description"`
	JWKSURI     string          `json:"jwksUri"`
	Keys        json.RawMessage `json:"keys"`
	CreatedAt   time.Time       `json:"createdAt"`
}

type appOutT struct {
	TenantID                      string        `json:"tenantId"`
	AppID                         string        `json:"appId"`
	ObjectID                      string        `json:"objectId"`
	DisplayName                   string        `json:"displayName"`
	IdentifierURIs                []string      `json:"identifierUris"`
	AppRoles                      []appRoleOutT `json:"appRoles"`
	PasswordCredentials           []secretOutT  `json:"passwordCredentials"`
	KeyCredentials                []certOutT    `json:"keyCredentials"`
	FederatedIdentityCredentials  []ficOutT     `json:"federatedIdentityCredentials"`
	AccessTokenLifetimeSeconds    int64         `json:"accessTokenLifetimeSeconds"`
	RequireCertificateBoundTokens bool          `json:"requireCertificateBoundTokens"`
	CreatedAt                     time.Time     `json:"createdAt"`
}

type grantOutT struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenantId"`
	ClientAppID   string    `json:"clientAppId"`
	ResourceAppID string    `json:"resourceAppId"`
	AppRoleID     string    `json:"appRoleId"`
	RoleValue     string    `json:"roleValue"`
	CreatedAt     time.Time `json:"createdAt"`
}

type listOf[T any] struct {
	Value []T `json:"value"`
}

// strictDecode decodes b into a T and fails on fields T does not know.
func strictDecode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, b, err)
	}
	return v
}

// createApp registers an application through the API.
func (e *env) createApp(name string, uris ...string) appOutT {
	e.t.Helper()
	body := map[string]any{"displayName": name}
	if len(uris) > 0 {
		body["identifierUris"] = uris
	}
	return strictDecode[appOutT](e.t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/applications", body).body)
}

// createRole adds an app role through the API.
func (e *env) createRole(app, value string) appRoleOutT {
	e.t.Helper()
	return strictDecode[appRoleOutT](e.t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/applications/"+app+"/appRoles", map[string]any{"value": value}).body)
}
