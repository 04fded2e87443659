package admin

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

func TestAuth_RefusesCallersWithoutAValidAdminToken(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name      string
		req       request
		status    int
		code      string
		challenge string
		message   string
	}{
		{"no token", request{noToken: true}, 401, "Unauthorized", `error="invalid_token"`, "no access token"},
		{"basic scheme", request{noToken: true}, 401, "Unauthorized", `error="invalid_token"`, "Bearer <token>"},
		{"invalid token", request{token: "garbage"}, 401, "Unauthorized", `error="invalid_token"`, "token is expired"},
		{"wrong audience", request{token: tokWrongAud}, 401, "Unauthorized", `error="invalid_token"`, "audience"},
		{"token of another tenant", request{token: tokOtherTenant}, 401, "Unauthorized", `error="invalid_token"`, "does not hold the management API"},
		{"missing role", request{token: tokNoRole}, 403, "Forbidden", `error="insufficient_scope"`, "Portcullis.Admin"},
	}
	for _, method := range []string{"GET", "POST"} {
		for _, c := range cases {
			t.Run(method+"/"+c.name, func(t *testing.T) {
				c.req.method, c.req.path = method, "/admin/v1/tenants"
				if method == "POST" {
					c.req.body = `{"name":"refused"}`
				}
				r := e.sendAuth(c.req, c.name == "basic scheme")
				wantError(t, r, c.status, c.code, c.message)
				wa := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(wa, `Bearer realm="portcullis-admin", `) || !strings.Contains(wa, c.challenge) || !strings.Contains(wa, `error_description="`) {
					t.Errorf("WWW-Authenticate %q, want Bearer realm=\"portcullis-admin\" with %s and an error_description", wa, c.challenge)
				}
			})
		}
	}
	// Nothing was written by a refused call.
	r := e.must(http.StatusOK, "GET", "/admin/v1/tenants", nil)
	if strings.Contains(string(r.body), "refused") {
		t.Errorf("a refused POST created a tenant: %s", r.body)
	}
}

// sendAuth sends r, with a Basic Authorization header when basic is set.
func (e *env) sendAuth(r request, basic bool) response {
	e.t.Helper()
	if !basic {
		return e.send(r)
	}
	req, _ := http.NewRequest(r.method, e.base+r.path, nil)
	if s, ok := r.body.(string); ok {
		req, _ = http.NewRequest(r.method, e.base+r.path, strings.NewReader(s))
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("user", "pass")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestAuth_WritesAreAuditedWithoutBodies(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/applications/portcullis-admin/passwordCredentials", map[string]any{"description": "audit-me-description"})
	secret := decodeAs[secretOutT](t, r.body).SecretText
	e.must(http.StatusOK, "GET", "/admin/v1/tenants", nil)
	e.do("POST", "/admin/v1/tenants", map[string]any{"name": "bad name"})

	logs := e.logs.String()
	for _, want := range []string{
		`msg="admin write" caller=` + e.adminClient.AppID,
		`method=POST path=/admin/v1/tenants/default/applications/portcullis-admin/passwordCredentials status=201`,
		`method=POST path=/admin/v1/tenants status=400`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "method=GET") {
		t.Errorf("reads are not audited as writes:\n%s", logs)
	}
	for _, never := range []string{secret, "audit-me-description", tokAdmin} {
		if strings.Contains(logs, never) {
			t.Errorf("log contains %q:\n%s", never, logs)
		}
	}
}

func TestAuth_UnconfiguredAPIRefusesEverything(t *testing.T) {
	mux := http.NewServeMux()
	New(Config{Authenticator: fakeTokens{"t": {Roles: []string{"Portcullis.Admin"}}}}).Register(mux)
	req, _ := http.NewRequest("GET", "/admin/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer t")
	rec := &recorder{header: http.Header{}}
	mux.ServeHTTP(rec, req)
	if rec.status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 for a missing ManagementAppID", rec.status)
	}
}

// TestAuth_APIWithoutKeysRefusesInsteadOfPanicking: a Config without Keys
// must not reach a write that calls them (creating a tenant would
// dereference the nil KeyManager).
func TestAuth_APIWithoutKeysRefusesInsteadOfPanicking(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	New(Config{Store: e.st, Authenticator: fakeTokens{tokAdmin: {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}}}, ManagementAppID: e.mgmt.AppID}).Register(mux)
	req, _ := http.NewRequest("POST", "/admin/v1/tenants", strings.NewReader(`{"name":"nokeys"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tokAdmin)
	rec := &recorder{header: http.Header{}}
	mux.ServeHTTP(rec, req)
	if rec.status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 for a missing Keys", rec.status)
	}
	tenants, err := e.st.ListTenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		if tn.Name == "nokeys" {
			t.Error("the tenant was created by an API without a KeyManager")
		}
	}
}

// recorder is a minimal ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// countingStore counts GetApplication calls for the management application.
type countingStore struct {
	directory.Store
	mgmtApp string
	reads   atomic.Int64
}

func (s *countingStore) GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error) {
	if strings.EqualFold(appID, s.mgmtApp) {
		s.reads.Add(1)
	}
	return s.Store.GetApplication(ctx, tenantID, appID)
}

func TestAuth_ManagementTenantIsReadOnceThenRemembered(t *testing.T) {
	e := newEnv(t)
	st := &countingStore{Store: e.st, mgmtApp: e.mgmt.AppID}
	mux := http.NewServeMux()
	New(Config{Store: st, Keys: e.keys, ManagementAppID: e.mgmt.AppID, Authenticator: fakeTokens{
		tokAdmin:       {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
		tokOtherTenant: {TenantID: e.other.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
	}}).Register(mux)
	call := func(tok string) int {
		req, _ := http.NewRequest("GET", "/admin/v1/tenants", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := &recorder{header: http.Header{}}
		mux.ServeHTTP(rec, req)
		return rec.status
	}
	steps := []struct {
		tok  string
		want int
	}{
		{tokOtherTenant, http.StatusUnauthorized}, // looked up, not found: nothing remembered
		{tokAdmin, http.StatusOK},                 // looked up, found: remembered
		{tokAdmin, http.StatusOK},
		{tokOtherTenant, http.StatusUnauthorized},
	}
	for i, s := range steps {
		if got := call(s.tok); got != s.want {
			t.Fatalf("step %d (%s): status %d, want %d", i, s.tok, got, s.want)
		}
	}
	if n := st.reads.Load(); n != 2 {
		t.Errorf("the management application was read %d times for 4 calls, want 2 (then remembered)", n)
	}
}
