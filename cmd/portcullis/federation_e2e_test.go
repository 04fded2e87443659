package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/jws"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// ciIssuer is a CI system's OIDC issuer on loopback (plain http, which a
// federated credential accepts only on a loopback address): discovery and
// JWKS with one RSA key.
type ciIssuer struct {
	URL string
	key *rsa.PrivateKey
}

func newCIIssuer(t *testing.T) *ciIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &ciIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/.well-known/jwks"})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwkSet("ci-1", &key.PublicKey))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

func jwkSet(kid string, pub crypto.PublicKey) []byte {
	b64 := base64.RawURLEncoding.EncodeToString
	var k map[string]any
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k = map[string]any{"kty": "RSA", "use": "sig", "kid": kid, "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		k = map[string]any{"kty": "EC", "use": "sig", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
	}
	out, _ := json.Marshal(map[string]any{"keys": []any{k}})
	return out
}

func signJWT(t *testing.T, key crypto.Signer, alg, kid string, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(map[string]any{"alg": alg, "kid": kid, "typ": "JWT"})
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sig, err := jws.Sign(alg, key, input)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestE2E_FederatedCredentialsThroughCLI follows docs/federation.md on a
// real server (SQLite, and PostgreSQL when PORTCULLIS_TEST_POSTGRES is
// set): an application with no secret trusts a CI system's tokens (issuer
// with discovery) and a Kubernetes cluster's service-account tokens
// (static keys), registered with the CLI; azidentity's
// WorkloadIdentityCredential (AZURE_FEDERATED_TOKEN_FILE) and
// ClientAssertionCredential, and MSAL's assertion callback, get tokens
// unchanged and read a vault secret.
func TestE2E_FederatedCredentialsThroughCLI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			edit := func(*server.Config) {}
			if backend == "postgres" {
				url := pgtest.NewDatabaseURL(t) // skips, visibly, without PORTCULLIS_TEST_POSTGRES
				edit = func(c *server.Config) { c.DatabaseURL = url }
			}
			federationJourney(t, startDevServerWith(t, edit))
		})
	}
}

func federationJourney(t *testing.T, s *devServer) {
	ctx := context.Background()
	ci := newCIIssuer(t)
	clusterKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const (
		ciSubject      = "repo:contoso/orders:ref:refs/heads/main"
		clusterIssuer  = "https://kubernetes.default.svc.cluster.local"
		clusterSubject = "system:serviceaccount:orders:api"
		secretValue    = "federated-Secret-value-7q2w"
	)
	s.addSecret(secretValue)

	app := s.okJSON(t, "", "app", "create", "orders-deploy")
	appID := str(app["appId"])
	s.ok(t, "", "app", "federated", "add", "orders-deploy", "--name", "github-main", "--issuer", ci.URL, "--subject", ciSubject,
		"--description", "deploys from main")
	if code, _, errOut := s.cli(t, "", "app", "federated", "add", "orders-deploy", "--name", "empty-aud", "--issuer", ci.URL,
		"--subject", "repo:contoso/orders:ref:refs/heads/dev", "--audience", ""); code == 0 || !strings.Contains(errOut, "--audience is empty") {
		t.Errorf("add --audience '': exit %d, stderr %q; want a refusal naming --audience", code, errOut)
	}
	jwksFile := filepath.Join(s.dir, "cluster-jwks.json")
	if err := os.WriteFile(jwksFile, jwkSet("cluster-1", &clusterKey.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	out := s.ok(t, "", "app", "federated", "add", "orders-deploy", "--name", "cluster-a", "--issuer", clusterIssuer,
		"--subject", clusterSubject, "--keys-file", jwksFile)
	if !strings.Contains(out, "static keys") || !strings.Contains(out, clusterSubject) {
		t.Errorf("add output:\n%s", out)
	}
	list := values(t, "federated list", s.okJSON(t, "", "app", "federated", "list", "orders-deploy"))
	if len(list) != 2 || str(list[0]["name"]) != "github-main" || str(list[1]["issuer"]) != clusterIssuer {
		t.Fatalf("federated list: %v", list)
	}
	if aud, _ := list[0]["audiences"].([]any); len(aud) != 1 || aud[0] != "api://AzureADTokenExchange" {
		t.Errorf("default audience: %v", list[0]["audiences"])
	}
	if show := s.ok(t, "", "app", "show", "orders-deploy"); !strings.Contains(show, "Federated identity credentials:") || !strings.Contains(show, "github-main") || !strings.Contains(show, "discovery") {
		t.Errorf("app show:\n%s", show)
	}
	if e := s.wantFailure(t, "", "app", "federated", "add", "orders-deploy", "--name", "GITHUB-MAIN", "--issuer", ci.URL, "--subject", "x"); !strings.Contains(e, "already has") {
		t.Errorf("duplicate name: %s", e)
	}
	if e := s.wantFailure(t, "", "app", "federated", "add", "orders-deploy", "--name", "plain", "--issuer", "http://ci.example.com", "--subject", "x"); !strings.Contains(e, "https") {
		t.Errorf("plain http issuer: %s", e)
	}
	// apply -f and export carry federated credentials: the export holds
	// them, and an edited subject is planned as a replacement.
	exported := filepath.Join(s.dir, "export", "portcullis.yaml")
	if err := os.MkdirAll(filepath.Dir(exported), 0o700); err != nil {
		t.Fatal(err)
	}
	s.ok(t, "", "export", "-o", exported)
	text := string(mustRead(t, exported))
	if !strings.Contains(text, "federatedIdentityCredentials:") || !strings.Contains(text, ciSubject) || !strings.Contains(text, "cluster-1") {
		t.Fatalf("export lacks the federated credentials:\n%s", text)
	}
	if err := os.WriteFile(exported, []byte(strings.Replace(text, clusterSubject, "system:serviceaccount:orders:worker", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := s.ok(t, "", "apply", "-f", exported, "--dry-run")
	if !strings.Contains(plan, "~ federated credential default/orders-deploy/cluster-a\n    subject: "+clusterSubject+" → system:serviceaccount:orders:worker\n") ||
		!strings.Contains(plan, "Plan: 0 to create, 1 to update, 0 to delete.") {
		t.Fatalf("apply --dry-run after editing a subject:\n%s", plan)
	}

	s.ok(t, "", "secret", "set", "db-password", "--value", secretValue)
	s.ok(t, "", "vault", "role", "assign", "--app", "orders-deploy", "--role", "Secrets User")

	tenant := s.cred.TenantID
	hc := s.httpClient(t)
	azOpts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.cred.Addr + "/"}, Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}
	readSecret := func(t *testing.T, cred azcore.TokenCredential) {
		t.Helper()
		c, err := azsecrets.NewClient(s.cred.Addr+"/vaults/default", cred, &azsecrets.ClientOptions{ClientOptions: azOpts, DisableChallengeResourceVerification: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetSecret(ctx, "db-password", "", nil)
		if err != nil {
			t.Fatalf("GetSecret: %v", err)
		}
		if *got.Value != secretValue {
			t.Fatalf("secret = %q", *got.Value)
		}
	}
	ciToken := func() string {
		now := time.Now()
		return signJWT(t, ci.key, "RS256", "ci-1", map[string]any{
			"iss": ci.URL, "sub": ciSubject, "aud": "api://AzureADTokenExchange", "jti": uuid.NewString(),
			"repository": "contoso/orders", "ref": "refs/heads/main", "workflow": "deploy",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		})
	}

	t.Run("WorkloadIdentityCredential with a Kubernetes token file", func(t *testing.T) {
		now := time.Now()
		file := filepath.Join(s.dir, "azure-identity-token")
		tok := signJWT(t, clusterKey, "ES256", "cluster-1", map[string]any{
			"iss": clusterIssuer, "sub": clusterSubject, "aud": []string{"api://AzureADTokenExchange"},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"kubernetes.io": map[string]any{"namespace": "orders", "serviceaccount": map[string]any{"name": "api"}},
		})
		if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
		t.Setenv("AZURE_CLIENT_ID", appID)
		t.Setenv("AZURE_TENANT_ID", tenant)
		t.Setenv("AZURE_AUTHORITY_HOST", s.cred.Addr+"/")
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		readSecret(t, cred)
	})
	t.Run("ClientAssertionCredential with a CI token", func(t *testing.T) {
		cred, err := azidentity.NewClientAssertionCredential(tenant, appID, func(context.Context) (string, error) { return ciToken(), nil },
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		readSecret(t, cred)
	})
	t.Run("MSAL NewCredFromAssertionCallback with a CI token", func(t *testing.T) {
		cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) { return ciToken(), nil })
		msal, err := confidential.New(s.cred.Addr+"/"+tenant, appID, cred, confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		ar, err := msal.AcquireTokenByCredential(ctx, []string{s.cred.Addr + "/.default"})
		if err != nil {
			t.Fatalf("AcquireTokenByCredential: %v", err)
		}
		req, _ := http.NewRequest(http.MethodGet, s.cred.Addr+"/vaults/default/secrets/db-password?api-version=7.5", nil)
		req.Header.Set("Authorization", "Bearer "+ar.AccessToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), secretValue) {
			t.Fatalf("vault GET with the MSAL token: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("removed credential is refused with Entra's code", func(t *testing.T) {
		s.ok(t, "", "app", "federated", "remove", "orders-deploy", "github-main")
		cred, err := azidentity.NewClientAssertionCredential(tenant, appID, func(context.Context) (string, error) { return ciToken(), nil },
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.cred.Addr + "/.default"}})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700211") || !strings.Contains(err.Error(), ci.URL) {
			t.Fatalf("after remove: %v; want AADSTS700211 naming the presented issuer", err)
		}
		// What is registered is the owner's to see, not the caller's.
		if strings.Contains(err.Error(), clusterIssuer) {
			t.Fatalf("after remove: %v; the refusal names another registered issuer", err)
		}
	})
}
