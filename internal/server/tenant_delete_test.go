package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

// TestServe_DeletedTenantIssuesNothingAndItsIssuerIsGone: after DELETE
// /admin/v1/tenants/{tenant} the next token request of one of its
// applications, its discovery document and its JWKS are answered as for a
// tenant that never existed (400 invalid_tenant, AADSTS90002, as Entra
// answers; docs/token-service.md), so an API that starts verifying against
// its issuer refuses its tokens; its applications' vault role assignments
// are gone; the management tenant keeps working.
func TestServe_DeletedTenantIssuesNothingAndItsIssuerIsGone(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	var tenant struct {
		ID string `json:"id"`
	}
	if st := r.admin(t, "POST", "/tenants", map[string]any{"name": "fabrikam"}, &tenant); st != http.StatusCreated {
		t.Fatalf("create tenant: %d", st)
	}
	base := "/tenants/fabrikam"
	var api, worker flowApp
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "orders-api", "identifierUris": []string{"api://orders"}}, &api); st != http.StatusCreated {
		t.Fatalf("create api: %d", st)
	}
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "worker"}, &worker); st != http.StatusCreated {
		t.Fatalf("create client: %d", st)
	}
	var secret struct {
		SecretText string `json:"secretText"`
	}
	if st := r.admin(t, "POST", base+"/applications/worker/passwordCredentials", map[string]any{}, &secret); st != http.StatusCreated {
		t.Fatalf("add secret: %d", st)
	}
	if st := r.admin(t, "POST", "/vaults/default/roleAssignments", map[string]any{"principal": worker.AppID, "tenant": "fabrikam", "role": vault.RoleSecretsUser}, nil); st != http.StatusCreated {
		t.Fatalf("assign vault role: %d", st)
	}
	issuer := r.base + "/" + tenant.ID + "/v2.0"
	paths := []string{
		"/" + tenant.ID + "/v2.0/.well-known/openid-configuration",
		"/fabrikam/v2.0/.well-known/openid-configuration",
		"/" + tenant.ID + "/discovery/v2.0/keys",
	}

	// Before: the tenant issues tokens that an API verifying against its
	// issuer accepts.
	tok, st, body := r.token(t, tenant.ID, worker.AppID, secret.SecretText, "api://orders/.default")
	if st != http.StatusOK {
		t.Fatalf("token before the deletion: %d %v", st, body)
	}
	ctx := context.Background()
	keys, err := guard.NewOIDCKeySource(ctx, issuer, guard.OIDCOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatalf("NewOIDCKeySource before the deletion: %v", err)
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Issuers: []string{issuer}, Audiences: []string{api.AppID}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := verifier.Verify(ctx, tok); err != nil || p.AppID != worker.AppID {
		t.Fatalf("verify before the deletion: %+v, %v", p, err)
	}
	for _, p := range paths {
		if st, _, b := r.call(t, "GET", p); st != http.StatusOK {
			t.Fatalf("GET %s before the deletion: %d %s", p, st, b)
		}
	}

	if st := r.admin(t, "DELETE", "/tenants/FABRIKAM", nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete tenant: %d", st)
	}

	for _, ref := range []string{tenant.ID, "fabrikam"} {
		t.Run("token in "+ref, func(t *testing.T) {
			_, st, body := r.token(t, ref, worker.AppID, secret.SecretText, "api://orders/.default")
			desc, _ := body["error_description"].(string)
			if st != http.StatusBadRequest || body["error"] != "invalid_tenant" || !strings.Contains(desc, "AADSTS90002") || body["access_token"] != nil {
				t.Fatalf("token after the deletion: %d %v, want 400 invalid_tenant AADSTS90002", st, body)
			}
		})
	}
	for _, p := range paths {
		t.Run("GET "+p, func(t *testing.T) {
			st, _, b := r.call(t, "GET", p)
			if st != http.StatusBadRequest || !strings.Contains(b, `"invalid_tenant"`) || !strings.Contains(b, "AADSTS90002") {
				t.Fatalf("after the deletion: %d %s, want 400 invalid_tenant AADSTS90002", st, b)
			}
		})
	}
	// An API that starts verifying against the issuer now finds no keys.
	fresh, err := guard.NewOIDCKeySource(ctx, issuer, guard.OIDCOptions{HTTPClient: r.client, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		v, err := guard.NewVerifier(guard.VerifierConfig{Keys: fresh, Issuers: []string{issuer}, Audiences: []string{api.AppID}})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("a verifier over the deleted tenant's issuer accepted its token: %+v", p)
		}
	}

	var ras struct {
		Value []struct {
			PrincipalID string `json:"principalId"`
		} `json:"value"`
	}
	if st := r.admin(t, "GET", "/vaults/default/roleAssignments", nil, &ras); st != http.StatusOK {
		t.Fatalf("list role assignments: %d", st)
	}
	for _, ra := range ras.Value {
		if strings.EqualFold(ra.PrincipalID, worker.AppID) {
			t.Errorf("the deleted tenant's application keeps its vault role assignment")
		}
	}
	// The management tenant still issues tokens (r.admin gets a fresh one
	// for every call) and refuses to be deleted.
	if st := r.admin(t, "DELETE", "/tenants/default", nil, nil); st != http.StatusConflict {
		t.Errorf("delete the management tenant: %d, want 409", st)
	}
}
