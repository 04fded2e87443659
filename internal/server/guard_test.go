package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault"
)

// call sends one request with the given Authorization header values and
// returns the status, the WWW-Authenticate header and the body.
func (r *running) call(t *testing.T, method, path string, auth ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(b)
}

// TestServe_DeletedApplicationTokensStopAtOnce: a client application's
// tokens are refused by the vault and the admin API on the first request
// after the application is deleted, not when they expire (Entra's
// behaviour); each refusal is audited without the token.
func TestServe_DeletedApplicationTokensStopAtOnce(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	base := "/tenants/default"
	var app flowApp
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "short-lived"}, &app); st != http.StatusCreated {
		t.Fatalf("create app: %d", st)
	}
	var secret struct {
		SecretText string `json:"secretText"`
	}
	if st := r.admin(t, "POST", base+"/applications/short-lived/passwordCredentials", map[string]any{}, &secret); st != http.StatusCreated {
		t.Fatalf("add secret: %d", st)
	}
	if st := r.admin(t, "POST", "/vaults/default/roleAssignments", map[string]any{"principal": app.AppID, "role": vault.RoleSecretsUser}, nil); st != http.StatusCreated {
		t.Fatalf("assign vault role: %d", st)
	}
	if st := r.admin(t, "POST", base+"/grants", map[string]any{"client": "short-lived", "resource": directory.ManagementIdentifierURI, "role": directory.AdminRoleValue}, nil); st != http.StatusCreated {
		t.Fatalf("grant admin: %d", st)
	}
	ctx := context.Background()
	if _, err := r.srv.Vault().SetSecret(ctx, vault.Caller{Admin: true}, vault.DefaultVault, "db-password", vault.SecretInput{Value: vault.NewStringValue("s3cret")}); err != nil {
		t.Fatal(err)
	}
	vaultTok, st, body := r.token(t, r.cred.TenantID, app.AppID, secret.SecretText, directory.VaultIdentifierURI+"/.default")
	if st != http.StatusOK {
		t.Fatalf("vault token: %d %v", st, body)
	}
	adminTok, st, body := r.token(t, r.cred.TenantID, app.AppID, secret.SecretText, directory.ManagementIdentifierURI+"/.default")
	if st != http.StatusOK {
		t.Fatalf("admin token: %d %v", st, body)
	}
	secretPath := "/vaults/default/secrets/db-password?api-version=7.6"
	if st, _, b := r.call(t, "GET", secretPath, "Bearer "+vaultTok); st != http.StatusOK {
		t.Fatalf("vault read before deletion: %d %s", st, b)
	}
	if st, _, b := r.call(t, "GET", "/admin/v1/tenants", "Bearer "+adminTok); st != http.StatusOK {
		t.Fatalf("admin call before deletion: %d %s", st, b)
	}

	if st := r.admin(t, "DELETE", base+"/applications/"+app.AppID, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete app: %d", st)
	}
	for _, tc := range []struct{ name, path, tok string }{
		{"vault", secretPath, vaultTok},
		{"admin API", "/admin/v1/tenants", adminTok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, challenge, b := r.call(t, "GET", tc.path, "Bearer "+tc.tok)
			if st != http.StatusUnauthorized || challenge == "" {
				t.Fatalf("after deletion: %d (challenge %q) %s, want 401 with a challenge", st, challenge, b)
			}
			if !strings.Contains(b, "no longer exists") || strings.Contains(b, tc.tok) {
				t.Errorf("body %s: want the reason in words and never the token", b)
			}
		})
	}

	recs, err := r.srv.Vault().AuditLog(ctx, vault.Caller{Admin: true}, vault.DefaultVault, 50)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, rec := range recs {
		if rec.Outcome == vault.OutcomeRefused && rec.Operation == vault.OperationAuthenticate {
			refused++
			if !strings.Contains(rec.Reason, "no longer exists") || strings.Contains(rec.Reason, vaultTok) {
				t.Errorf("refusal audited with reason %q: want the words, never the token", rec.Reason)
			}
		}
	}
	if refused == 0 {
		t.Errorf("the refused vault request left no audit record: %+v", recs)
	}
}

// TestServe_TwoAuthorizationHeadersAreRefused: a request with more than
// one Authorization header is malformed (RFC 6750 §3.1), whichever comes
// first, on every surface.
func TestServe_TwoAuthorizationHeadersAreRefused(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	adminTok, st, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	if st != http.StatusOK {
		t.Fatalf("admin token: %d %v", st, body)
	}
	for _, tc := range []struct{ name, path string }{
		{"vault", "/vaults/default/secrets?api-version=7.6"},
		{"admin API", "/admin/v1/tenants"},
	} {
		for _, order := range [][]string{{"Bearer " + adminTok, "Bearer forged"}, {"Bearer forged", "Bearer " + adminTok}} {
			st, _, b := r.call(t, "GET", tc.path, order...)
			if st != http.StatusBadRequest || !strings.Contains(b, "Authorization headers") {
				t.Errorf("%s with two Authorization headers: %d %s, want 400 naming the headers", tc.name, st, b)
			}
		}
	}
}

// TestGuard_ProtectsAGoAPIWithAPortcullisTenant is what docs/guard.md tells
// an API author to do, against a real server: an OIDCKeySource on the
// tenant's issuer URL (discovery, then JWKS, over TLS), a Verifier for the
// API's application id, Middleware requiring a role. Tokens from the real
// token endpoint pass or fail on their granted roles; a token of another
// resource and a forged one are refused.
func TestGuard_ProtectsAGoAPIWithAPortcullisTenant(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	base := "/tenants/default"
	var api, client flowApp
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "orders-api", "identifierUris": []string{"api://orders"}}, &api); st != http.StatusCreated {
		t.Fatalf("create api: %d", st)
	}
	for _, role := range []string{"Orders.Read", "Orders.Write"} {
		if st := r.admin(t, "POST", base+"/applications/orders-api/appRoles", map[string]any{"value": role}, nil); st != http.StatusCreated {
			t.Fatalf("add role: %d", st)
		}
	}
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "reader"}, &client); st != http.StatusCreated {
		t.Fatalf("create client: %d", st)
	}
	var secret struct {
		SecretText string `json:"secretText"`
	}
	if st := r.admin(t, "POST", base+"/applications/reader/passwordCredentials", map[string]any{}, &secret); st != http.StatusCreated {
		t.Fatalf("add secret: %d", st)
	}
	if st := r.admin(t, "POST", base+"/grants", map[string]any{"client": "reader", "resource": "orders-api", "role": "Orders.Read"}, nil); st != http.StatusCreated {
		t.Fatalf("grant: %d", st)
	}

	ctx := context.Background()
	keys, err := guard.NewOIDCKeySource(ctx, r.base+"/"+r.cred.TenantID+"/v2.0", guard.OIDCOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatalf("NewOIDCKeySource on the tenant's issuer: %v", err)
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Issuers: []string{keys.Issuer()}, Audiences: []string{api.AppID}})
	if err != nil {
		t.Fatal(err)
	}
	protect := func(role string) http.Handler {
		return guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			p, _ := guard.PrincipalFrom(req.Context())
			io.WriteString(w, p.AppID)
		}), guard.Policy{Authenticators: []guard.Authenticator{guard.Bearer(verifier)}, Rules: guard.Rules{Roles: []string{role}}, Realm: "orders"})
	}
	ordersTok, st, body := r.token(t, r.cred.TenantID, client.AppID, secret.SecretText, "api://orders/.default")
	if st != http.StatusOK {
		t.Fatalf("token: %d %v", st, body)
	}
	vaultTok, st, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	if st != http.StatusOK {
		t.Fatalf("admin token: %d %v", st, body)
	}
	for _, tc := range []struct {
		name, role, tok string
		status          int
		want            string
	}{
		{"granted role", "Orders.Read", ordersTok, 200, client.AppID},
		{"role not granted", "Orders.Write", ordersTok, 403, "Orders.Write"},
		{"token of another resource", "Orders.Read", vaultTok, 401, "not this API's"},
		{"signature of another token", "Orders.Read", ordersTok[:strings.LastIndexByte(ordersTok, '.')] + vaultTok[strings.LastIndexByte(vaultTok, '.'):], 401, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "https://orders.example/orders", nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			w := httptest.NewRecorder()
			protect(tc.role).ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d %s, want %d containing %q", w.Code, w.Body.String(), tc.status, tc.want)
			}
		})
	}
}
