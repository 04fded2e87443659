package sts_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/jws"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

// oidcIssuer is an OpenID Connect issuer started by the test on real TLS
// (127.0.0.1): a discovery document at /.well-known/openid-configuration,
// its JWKS at /keys, and the same JWKS at /openid/v1/jwks as a Kubernetes
// API server serves it. Keys can be published, withdrawn, and the whole
// issuer taken down (503) to test rotation and outages.
type oidcIssuer struct {
	URL    string
	client *http.Client // trusts the issuer's CA

	mu    sync.Mutex
	keys  map[string]crypto.Signer
	order []string
	down  bool

	jwksFetches atomic.Int64
}

func newOIDCIssuer(t testing.TB) *oidcIssuer {
	t.Helper()
	is := &oidcIssuer{keys: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.isDown() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	jwks := func(w http.ResponseWriter, r *http.Request) {
		is.jwksFetches.Add(1)
		if is.isDown() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.jwks())
	}
	mux.HandleFunc("GET /keys", jwks)
	mux.HandleFunc("GET /openid/v1/jwks", jwks)
	ca, caKey, err := pki.NewCA("federation test issuer CA", 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}}}}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	is.URL = "https://" + ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	is.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(is.client.CloseIdleConnections)
	return is
}

func (is *oidcIssuer) isDown() bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.down
}

func (is *oidcIssuer) setDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// publish adds (or, with a nil key, withdraws) a signing key.
func (is *oidcIssuer) publish(kid string, key crypto.Signer) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if key == nil {
		delete(is.keys, kid)
		return
	}
	if _, ok := is.keys[kid]; !ok {
		is.order = append(is.order, kid)
	}
	is.keys[kid] = key
}

func (is *oidcIssuer) jwks() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	var kids []string
	for _, kid := range is.order {
		if _, ok := is.keys[kid]; ok {
			kids = append(kids, kid)
		}
	}
	return jwksOf(is.keys, kids...)
}

// jwksOf renders the public keys named by kids as a JWK Set.
func jwksOf(keys map[string]crypto.Signer, kids ...string) []byte {
	b64 := base64.RawURLEncoding.EncodeToString
	out := []map[string]any{}
	for _, kid := range kids {
		switch k := keys[kid].Public().(type) {
		case *rsa.PublicKey:
			out = append(out, map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PublicKey:
			b, _ := k.Bytes()
			size := (len(b) - 1) / 2
			out = append(out, map[string]any{"kty": "EC", "use": "sig", "kid": kid, "crv": k.Curve.Params().Name, "x": b64(b[1 : 1+size]), "y": b64(b[1+size:])})
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": out})
	return b
}

// signToken makes a compact JWS of claims with key, header alg and kid
// (kid "" leaves it out).
func signToken(t testing.TB, key crypto.Signer, alg, kid string, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sig, err := jws.Sign(alg, key, input)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Subjects and issuers the federation tests trust.
const (
	githubSubject = "repo:contoso/orders:ref:refs/heads/main"
	k8sIssuer     = "https://kubernetes.default.svc.cluster.local"
	k8sSubject    = "system:serviceaccount:orders:api"
	k8sB          = "https://oidc.cluster-b.test" // a private cluster whose keys are configured statically
)

// githubClaims are shaped like a GitHub Actions OIDC token for a push to
// main, issued now and valid for ten minutes.
func githubClaims(iss string, now time.Time) map[string]any {
	return map[string]any{
		"jti": guid(), "sub": githubSubject, "aud": directory.DefaultFederatedAudience,
		"ref": "refs/heads/main", "sha": "d6c3f4b1e5a0", "repository": "contoso/orders", "repository_owner": "contoso",
		"run_id": "7311209435", "workflow": "deploy", "event_name": "push", "ref_type": "branch",
		"job_workflow_ref": "contoso/orders/.github/workflows/deploy.yml@refs/heads/main", "runner_environment": "github-hosted",
		"iss": iss, "nbf": now.Add(-5 * time.Second).Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

// k8sClaims are shaped like a Kubernetes projected service-account token
// (audience api://AzureADTokenExchange, one hour).
func k8sClaims(iss, sub string, now time.Time) map[string]any {
	return map[string]any{
		"aud": []string{directory.DefaultFederatedAudience}, "iss": iss, "sub": sub, "jti": guid(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "orders",
			"pod":            map[string]any{"name": "api-7d4b9c-x2x9z", "uid": guid()},
			"serviceaccount": map[string]any{"name": "api", "uid": guid()},
		},
	}
}

// fedEnv is a token service that trusts a test issuer (GitHub-style),
// a Kubernetes issuer by JWKS URL and another one by static keys.
type fedEnv struct {
	*env
	is        *oidcIssuer
	fedClient directory.Application
	keys      map[string]crypto.Signer
}

func newFedEnv(t testing.TB) *fedEnv {
	t.Helper()
	testKeys(t)
	is := newOIDCIssuer(t)
	keys := map[string]crypto.Signer{"gh1": clientRSA, "gh2": otherRSA, "k8s-b": clientEC, "evil": clientEC384}
	is.publish("gh1", clientRSA)
	e := newEnv(t, func(c *sts.Config) { c.FederationHTTPClient = is.client })
	fe := &fedEnv{env: e, is: is, keys: keys}
	fe.fedClient = directory.Application{TenantID: e.tenant.ID, AppID: guid(), ObjectID: guid(), DisplayName: "federated-client", CreatedAt: e.clock.Now()}
	fe.fedClient.FederatedIdentityCredentials = []directory.FederatedIdentityCredential{
		{ID: guid(), Name: "github-main", Issuer: is.URL, Subject: githubSubject, Audiences: []string{directory.DefaultFederatedAudience}},
		{ID: guid(), Name: "cluster-a", Issuer: k8sIssuer, Subject: k8sSubject, Audiences: []string{directory.DefaultFederatedAudience}, JWKSURI: is.URL + "/openid/v1/jwks"},
		{ID: guid(), Name: "cluster-b", Issuer: k8sB, Subject: k8sSubject, Audiences: []string{directory.DefaultFederatedAudience}, Keys: jwksOf(keys, "k8s-b")},
		{ID: guid(), Name: "github-prod", Issuer: is.URL, Subject: "repo:contoso/orders:environment:prod", Audiences: []string{"api://orders-deploy"}},
	}
	e.apps = append(e.apps, fe.fedClient)
	e.grants = append(e.grants, directory.Grant{ID: guid(), TenantID: e.tenant.ID, ClientAppID: fe.fedClient.AppID, ResourceAppID: e.resource.AppID, AppRoleID: e.resource.AppRoles[0].ID, CreatedAt: e.clock.Now()})
	e.reload(t)
	return fe
}

func (fe *fedEnv) form(clientID, assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"api://orders/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

func (fe *fedEnv) exchange(t *testing.T, assertion string) tokenResponse {
	t.Helper()
	return fe.post(t, "", fe.form(fe.fedClient.AppID, assertion), nil)
}

func TestFederation_CIAndKubernetesTokensAreExchanged(t *testing.T) {
	fe := newFedEnv(t)
	now := fe.clock.Now()
	tests := []struct {
		name  string
		token string
	}{
		{"GitHub Actions token through discovery", signToken(t, clientRSA, "RS256", "gh1", githubClaims(fe.is.URL, now))},
		{"Kubernetes token through the cluster's JWKS URL", signToken(t, clientRSA, "RS256", "gh1", k8sClaims(k8sIssuer, k8sSubject, now))},
		{"Kubernetes token through static keys", signToken(t, clientEC, "ES256", "k8s-b", k8sClaims(k8sB, k8sSubject, now))},
		{"RS384 is on the allow-list", signToken(t, clientRSA, "RS384", "gh1", githubClaims(fe.is.URL, now))},
		{"PS256", signToken(t, clientRSA, "PS256", "gh1", githubClaims(fe.is.URL, now))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := fe.exchange(t, tc.token)
			if tr.Status != http.StatusOK {
				t.Fatalf("status %d: %s", tr.Status, tr.Raw)
			}
			fe.checkToken(t, tr.Token, fe.fedClient, "2", []string{"Orders.Read"})
			// Not single-use: clients present one token for as long as it
			// lives (azidentity re-reads the file every 10 minutes).
			if again := fe.exchange(t, tc.token); again.Status != http.StatusOK {
				t.Fatalf("the same token again: %d %s", again.Status, again.Raw)
			}
		})
	}
}

func TestFederation_IssuerKeyRotationAndOutage(t *testing.T) {
	fe := newFedEnv(t)
	tok := func(kid string) string {
		return signToken(t, fe.keys[kid], "RS256", kid, githubClaims(fe.is.URL, fe.clock.Now()))
	}
	if tr := fe.exchange(t, tok("gh1")); tr.Status != http.StatusOK {
		t.Fatalf("before rotation: %d %s", tr.Status, tr.Raw)
	}
	// Rotation: the issuer publishes gh2 and withdraws gh1; the first
	// token signed with gh2 makes the node refetch (at most every 30 s).
	fe.is.publish("gh2", otherRSA)
	fe.is.publish("gh1", nil)
	fe.clock.Advance(31 * time.Second)
	if tr := fe.exchange(t, tok("gh2")); tr.Status != http.StatusOK {
		t.Fatalf("after rotation: %d %s", tr.Status, tr.Raw)
	}
	// Outage: the last good keys keep working; a kid they do not hold may
	// be a rotation the outage hides: 503 AADSTS50166, not a refusal.
	fe.is.setDown(true)
	fe.clock.Advance(31 * time.Second)
	if tr := fe.exchange(t, tok("gh2")); tr.Status != http.StatusOK {
		t.Fatalf("known key during the outage: %d %s", tr.Status, tr.Raw)
	}
	fe.is.publish("gh3", clientRSA)
	fe.keys["gh3"] = clientRSA
	tr := fe.exchange(t, tok("gh3"))
	if tr.Status != http.StatusServiceUnavailable || len(tr.Codes) != 1 || tr.Codes[0] != sts.CodeExternalOIDCFailed ||
		!strings.Contains(tr.Desc, "Request to External OIDC endpoint failed") || !strings.Contains(tr.Desc, "'gh3'") || !strings.Contains(tr.Desc, "503") {
		t.Fatalf("unknown kid during the outage: %d %s", tr.Status, tr.Raw)
	}
	// Recovery.
	fe.is.setDown(false)
	fe.clock.Advance(31 * time.Second)
	if tr := fe.exchange(t, tok("gh3")); tr.Status != http.StatusOK {
		t.Fatalf("after the outage: %d %s", tr.Status, tr.Raw)
	}
}

func TestFederation_IssuerDownFromTheStartIs503(t *testing.T) {
	fe := newFedEnv(t)
	fe.is.setDown(true)
	tr := fe.exchange(t, signToken(t, clientRSA, "RS256", "gh1", githubClaims(fe.is.URL, fe.clock.Now())))
	if tr.Status != http.StatusServiceUnavailable || tr.Codes[0] != sts.CodeExternalOIDCFailed || !strings.Contains(tr.Desc, fe.is.URL) ||
		!strings.Contains(tr.Desc, "give the credential a jwksUri or its keys") {
		t.Fatalf("got %d %s", tr.Status, tr.Raw)
	}
}

func TestFederation_RefusalsSayWhatWasPresentedNotWhatIsRegistered(t *testing.T) {
	fe := newFedEnv(t)
	now := fe.clock.Now()
	gh := func(edit func(c map[string]any)) map[string]any {
		c := githubClaims(fe.is.URL, now)
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(c map[string]any) string { return signToken(t, clientRSA, "RS256", "gh1", c) }
	tests := []struct {
		name     string
		clientID string // "" means the federated client
		token    string
		status   int
		code     int
		want     []string
	}{
		{"application without federated credentials", fe.noCredClient.AppID, sign(gh(nil)), 401, sts.CodeNoFederatedRecord,
			[]string{"No matching federated identity record found for presented assertion.", "Assertion Issuer: '" + fe.is.URL + "'", "Assertion Subject: '" + githubSubject + "'", "Assertion Audience: 'api://AzureADTokenExchange'", "has no federated identity credentials"}},
		{"issuer not registered", "", sign(gh(func(c map[string]any) { c["iss"] = "https://token.actions.example.test" })), 401, sts.CodeFederatedIssuerMismatch,
			[]string{"presented assertion issuer 'https://token.actions.example.test'", "None of the 4 federated identity credentials", "portcullis app federated list"}},
		{"issuer differs by a trailing slash", "", sign(gh(func(c map[string]any) { c["iss"] = fe.is.URL + "/" })), 401, sts.CodeFederatedIssuerMismatch,
			[]string{"trailing slash"}},
		{"subject not registered", "", sign(gh(func(c map[string]any) { c["sub"] = "repo:contoso/orders:ref:refs/heads/feature" })), 401, sts.CodeFederatedSubjectMismatch,
			[]string{"presented assertion subject 'repo:contoso/orders:ref:refs/heads/feature'", "None of the 2 federated identity credentials", "for issuer '" + fe.is.URL + "'"}},
		{"subject differs in case", "", sign(gh(func(c map[string]any) { c["sub"] = strings.ToUpper(githubSubject) })), 401, sts.CodeFederatedSubjectMismatch,
			[]string{"case-sensitive"}},
		{"audience not registered", "", sign(gh(func(c map[string]any) { c["aud"] = "https://github.com/contoso" })), 401, sts.CodeFederatedAudienceMismatch,
			[]string{"audience 'https://github.com/contoso'", "'github-main'", "expects audience 'api://AzureADTokenExchange'"}},
		{"audience of another credential of the issuer", "", sign(gh(func(c map[string]any) { c["aud"] = "api://orders-deploy" })), 401, sts.CodeFederatedAudienceMismatch,
			[]string{"audience 'api://orders-deploy'"}},
		{"expired", "", sign(gh(func(c map[string]any) {
			c["nbf"], c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
		})), 401, sts.CodeAssertionTime, []string{"not within its valid time range", "Current time", "present a current token of the issuer"}},
		{"not yet valid", "", sign(gh(func(c map[string]any) {
			c["nbf"], c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
		})), 401, sts.CodeAssertionTime, []string{"not within its valid time range"}},
		{"valid for more than a day", "", sign(gh(func(c map[string]any) { c["exp"] = now.Add(48 * time.Hour).Unix() })), 401, sts.CodeAssertionTime,
			[]string{"valid for too long", "24h0m0s", "expirationSeconds"}},
		{"no exp", "", sign(gh(func(c map[string]any) { delete(c, "exp") })), 401, sts.CodeMalformedAssertion, []string{"exp claim is missing"}},
		{"signed by another key under a published kid", "", signToken(t, otherRSA, "RS256", "gh1", gh(nil)), 401, sts.CodeMalformedAssertion,
			[]string{"signature does not verify with key 'gh1' of issuer '" + fe.is.URL + "'"}},
		{"kid not published", "", signToken(t, otherRSA, "RS256", "unpublished", gh(nil)), 401, sts.CodeFederatedKeyNotFound,
			[]string{"identifier 'unpublished'", "metadata of identity provider '" + fe.is.URL + "'"}},
		{"kid not in the static keys", "", signToken(t, clientEC384, "ES384", "evil", k8sClaims(k8sB, k8sSubject, now)), 401, sts.CodeFederatedKeyNotFound,
			[]string{"identifier 'evil'", "k8s-b"}},
		{"no kid", "", signToken(t, clientRSA, "RS256", "", gh(nil)), 401, sts.CodeMalformedAssertion, []string{"no kid"}},
		{"alg does not suit the key", "", signToken(t, clientEC384, "ES384", "gh1", gh(nil)), 401, sts.CodeMalformedAssertion,
			[]string{"alg ES384 does not suit key 'gh1'"}},
		{"alg HS256", "", hs256(t, gh(nil)), 401, sts.CodeUnsupportedAlgorithm, []string{"'HS256' is not a supported signature algorithm", "RS384"}},
		{"no client_id", "-", sign(gh(nil)), 400, sts.CodeMissingParameter, []string{"'client_id'", "external issuer"}},
	}
	// What is registered the caller must not learn before it is the
	// registered workload: issuers before any signature check, subjects
	// (anyone holds a signed token of a shared issuer).
	hidden := map[string][]string{
		"issuer not registered":  {fe.is.URL, k8sIssuer},
		"subject not registered": {"'" + githubSubject + "'", "repo:contoso/orders:environment:prod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.clientID
			switch id {
			case "":
				id = fe.fedClient.AppID
			case "-":
				id = ""
			}
			form := fe.form(id, tc.token)
			if id == "" {
				form.Del("client_id")
			}
			tr := fe.post(t, "", form, nil)
			if tr.Status != tc.status || len(tr.Codes) != 1 || tr.Codes[0] != tc.code {
				t.Fatalf("got %d %v, want %d AADSTS%d: %s", tr.Status, tr.Codes, tc.status, tc.code, tr.Raw)
			}
			for _, w := range tc.want {
				if !strings.Contains(tr.Desc, w) {
					t.Errorf("description lacks %q:\n%s", w, tr.Desc)
				}
			}
			for _, h := range hidden[tc.name] {
				if strings.Contains(tr.Desc, h) {
					t.Errorf("description tells the caller the registered %q:\n%s", h, tr.Desc)
				}
			}
			sig := tc.token[strings.LastIndex(tc.token, ".")+1:]
			if strings.Contains(tr.Raw, sig) || strings.Contains(tr.Raw, tc.token[:strings.Index(tc.token, ".")]+".") {
				t.Errorf("the answer echoes the token: %s", tr.Raw)
			}
		})
	}
}

// hs256 is an HMAC-signed token (never accepted: the issuer's key is public).
func hs256(t testing.TB, claims map[string]any) string {
	hb, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": "gh1"})
	cb, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb) + ".c2ln"
}

// TestFederation_RealClientLibraries runs the Microsoft client libraries
// unchanged against the token service with a federated token:
// azidentity's WorkloadIdentityCredential reading AZURE_FEDERATED_TOKEN_FILE
// (as on Kubernetes with the workload identity webhook),
// ClientAssertionCredential and MSAL's NewCredFromAssertionCallback (as in
// a CI job).
func TestFederation_RealClientLibraries(t *testing.T) {
	fe := newFedEnv(t)
	ctx := context.Background()
	scope := []string{"api://orders/.default"}
	azOpts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: fe.base + "/"}, Transport: fe.hc}
	ghToken := func() string { return signToken(t, clientRSA, "RS256", "gh1", githubClaims(fe.is.URL, fe.clock.Now())) }

	t.Run("azidentity WorkloadIdentityCredential from AZURE_FEDERATED_TOKEN_FILE", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "azure-identity-token")
		if err := os.WriteFile(file, []byte(signToken(t, clientEC, "ES256", "k8s-b", k8sClaims(k8sB, k8sSubject, fe.clock.Now()))), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
		t.Setenv("AZURE_CLIENT_ID", fe.fedClient.AppID)
		t.Setenv("AZURE_TENANT_ID", fe.tenant.ID)
		t.Setenv("AZURE_AUTHORITY_HOST", fe.base+"/")
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		fe.checkToken(t, tk.Token, fe.fedClient, "2", []string{"Orders.Read"})
		// A second resource with the same token file (the credential
		// sends the same token again): accepted, federated tokens are
		// not single-use.
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{fe.resource.AppID + "/.default"}}); err != nil {
			t.Fatalf("second scope with the same token: %v", err)
		}
	})
	t.Run("azidentity ClientAssertionCredential", func(t *testing.T) {
		cred, err := azidentity.NewClientAssertionCredential(fe.tenant.ID, fe.fedClient.AppID,
			func(context.Context) (string, error) { return ghToken(), nil },
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		fe.checkToken(t, tk.Token, fe.fedClient, "2", []string{"Orders.Read"})
	})
	t.Run("MSAL NewCredFromAssertionCallback", func(t *testing.T) {
		cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			return ghToken(), nil
		})
		app, err := confidential.New(fe.base+"/"+fe.tenant.ID, fe.fedClient.AppID, cred,
			confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(fe.hc))
		if err != nil {
			t.Fatal(err)
		}
		ar, err := app.AcquireTokenByCredential(ctx, scope)
		if err != nil {
			t.Fatalf("AcquireTokenByCredential: %v", err)
		}
		fe.checkToken(t, ar.AccessToken, fe.fedClient, "2", []string{"Orders.Read"})
	})
	t.Run("azidentity reports a refusal with Entra's code", func(t *testing.T) {
		cred, err := azidentity.NewClientAssertionCredential(fe.tenant.ID, fe.fedClient.AppID,
			func(context.Context) (string, error) {
				c := githubClaims(fe.is.URL, fe.clock.Now())
				c["sub"] = "repo:contoso/orders:pull_request"
				return signToken(t, clientRSA, "RS256", "gh1", c), nil
			},
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700213") || !strings.Contains(err.Error(), "repo:contoso/orders:pull_request") {
			t.Fatalf("err = %v; want AADSTS700213 naming the presented subject", err)
		}
	})
}

// FuzzFederatedAssertion sends arbitrary assertions as federated tokens of
// the federated client (test issuer by discovery, a cluster by JWKS URL,
// one by static keys): only a token the issuer signed unchanged may
// authenticate, and every refusal is a complete 400, 401 or 503.
func FuzzFederatedAssertion(f *testing.F) {
	fe := newFedEnv(f)
	now := fe.clock.Now()
	signed := map[string]bool{}
	seed := func(tok string) {
		signed[tok[:strings.LastIndexByte(tok, '.')]] = true
		f.Add(tok)
	}
	seed(signToken(f, clientRSA, "RS256", "gh1", githubClaims(fe.is.URL, now)))
	seed(signToken(f, clientRSA, "PS384", "gh1", k8sClaims(k8sIssuer, k8sSubject, now)))
	seed(signToken(f, clientEC, "ES256", "k8s-b", k8sClaims(k8sB, k8sSubject, now)))
	f.Add(hs256(f, githubClaims(fe.is.URL, now)))
	f.Add(signToken(f, clientRSA, "RS256", "", githubClaims(fe.is.URL, now)))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fe.srv.AuthenticateClient(ctx, sts.ClientAuthentication{
			Tenant: fe.tenant.ID, BaseURL: fe.base, Method: sts.MethodPrivateKeyJWT, ClientID: fe.fedClient.AppID, Assertion: sts.Secret(raw), Source: "192.0.2.9",
		})
		if err != nil {
			if (err.Status != 400 && err.Status != 401 && err.Status != 503) || err.Code == 0 || err.OAuthError == "" || err.Message == "" {
				t.Fatalf("incomplete refusal %+v", err)
			}
			return
		}
		i := strings.LastIndexByte(raw, '.')
		if i < 0 || !signed[raw[:i]] {
			t.Fatalf("a token the issuer did not sign authenticated %s: %q", c.Application.AppID, raw)
		}
	})
}
