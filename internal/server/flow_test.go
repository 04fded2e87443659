package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// admin calls the admin API with a fresh admin token and decodes the JSON
// answer into out (when non-nil); it returns the status code.
func (r *running) admin(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	tok, status, resp := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	if status != http.StatusOK {
		t.Fatalf("admin token: %d %v", status, resp)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.base+"/admin/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	if res.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode
}

type flowApp struct {
	AppID          string   `json:"appId"`
	IdentifierURIs []string `json:"identifierUris"`
}

// TestServe_WholeFlowThroughAdminAPIAndMSAL is the README's journey through
// the real server: register an API with an app role, a client with a secret
// and a certificate, grant the role, and obtain tokens with MSAL Go that
// go-oidc verifies through discovery with the granted roles.
func TestServe_WholeFlowThroughAdminAPIAndMSAL(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { wholeFlow(t, startServer(t, Config{Dev: true, DataDir: t.TempDir()})) })
	t.Run("postgres", func(t *testing.T) {
		wholeFlow(t, startServer(t, Config{Dev: true, DataDir: t.TempDir(), DatabaseURL: pgtest.NewDatabaseURL(t)}))
	})
}

func wholeFlow(t *testing.T, r *running) {
	base := "/tenants/default"

	var api, client flowApp
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "orders-api", "identifierUris": []string{"api://orders"}}, &api); st != http.StatusCreated {
		t.Fatalf("create api: %d", st)
	}
	if st := r.admin(t, "POST", base+"/applications/orders-api/appRoles", map[string]any{"value": "Orders.Read"}, nil); st != http.StatusCreated {
		t.Fatalf("add role: %d", st)
	}
	if st := r.admin(t, "POST", base+"/applications", map[string]any{"displayName": "billing-job"}, &client); st != http.StatusCreated {
		t.Fatalf("create client: %d", st)
	}
	var secret struct {
		SecretText string `json:"secretText"`
	}
	if st := r.admin(t, "POST", base+"/applications/billing-job/passwordCredentials", map[string]any{"description": "ci"}, &secret); st != http.StatusCreated || secret.SecretText == "" {
		t.Fatalf("add secret: %d", st)
	}
	key, err := pki.GenerateKey(pki.KeyTypeRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pki.ParseSubject("CN=billing-job")
	cert, err := pki.SelfSigned(subject, key, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := r.admin(t, "POST", base+"/applications/billing-job/keyCredentials", map[string]any{"certificate": base64.StdEncoding.EncodeToString(cert.Raw)}, nil); st != http.StatusCreated {
		t.Fatalf("add certificate: %d", st)
	}
	if st := r.admin(t, "POST", base+"/grants", map[string]any{"client": "billing-job", "resource": "orders-api", "role": "Orders.Read"}, nil); st != http.StatusCreated {
		t.Fatalf("grant: %d", st)
	}

	secretCred, err := confidential.NewCredFromSecret(secret.SecretText)
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(context.Background(), r.client)
	provider, err := oidc.NewProvider(ctx, r.base+"/"+r.cred.TenantID+"/v2.0")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: api.AppID})

	for _, tc := range []struct {
		name    string
		cred    confidential.Credential
		azpacr  string
		options []confidential.Option
	}{
		{"secret", secretCred, "1", nil},
		{"certificate PS256 x5t#S256", certCred, "2", nil},
		{"certificate with x5c", certCred, "2", []confidential.Option{confidential.WithX5C()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]confidential.Option{confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(r.client)}, tc.options...)
			app, err := confidential.New(r.base+"/"+r.cred.TenantID, client.AppID, tc.cred, opts...)
			if err != nil {
				t.Fatal(err)
			}
			res, err := app.AcquireTokenByCredential(context.Background(), []string{"api://orders/.default"})
			if err != nil {
				t.Fatalf("MSAL: %v", err)
			}
			idt, err := verifier.Verify(ctx, res.AccessToken)
			if err != nil {
				t.Fatalf("go-oidc rejected the token: %v", err)
			}
			var claims struct {
				Roles  []string `json:"roles"`
				Azp    string   `json:"azp"`
				Azpacr string   `json:"azpacr"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(claims.Roles, []string{"Orders.Read"}) || claims.Azp != client.AppID || claims.Azpacr != tc.azpacr {
				t.Fatalf("claims = %+v", claims)
			}
		})
	}

	// Revoking the grant takes effect on the next token: no roles claim.
	var grants struct {
		Value []struct {
			ID          string `json:"id"`
			ClientAppID string `json:"clientAppId"`
		} `json:"value"`
	}
	r.admin(t, "GET", base+"/grants", nil, &grants)
	for _, g := range grants.Value {
		if g.ClientAppID == client.AppID {
			if st := r.admin(t, "DELETE", base+"/grants/"+g.ID, nil, nil); st != http.StatusNoContent {
				t.Fatalf("remove grant: %d", st)
			}
		}
	}
	tok, status, body := r.token(t, r.cred.TenantID, client.AppID, secret.SecretText, "api://orders/.default")
	if status != http.StatusOK {
		t.Fatalf("token after revoke: %d %v", status, body)
	}
	idt, err := verifier.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	idt.Claims(&claims)
	if _, has := claims["roles"]; has {
		t.Fatalf("roles still present after the grant was removed: %v", claims["roles"])
	}
}
