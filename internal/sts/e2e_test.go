package sts_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

// tokenClaims are the claims the tests check in issued tokens.
type tokenClaims struct {
	Aud      string   `json:"aud"`
	Iss      string   `json:"iss"`
	Azp      string   `json:"azp"`
	Azpacr   string   `json:"azpacr"`
	AppID    string   `json:"appid"`
	AppIDAcr string   `json:"appidacr"`
	Oid      string   `json:"oid"`
	Sub      string   `json:"sub"`
	Tid      string   `json:"tid"`
	Ver      string   `json:"ver"`
	Idtyp    string   `json:"idtyp"`
	Uti      string   `json:"uti"`
	Roles    []string `json:"roles"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
}

// verifyOIDC verifies tok as a resource server would: go-oidc through the
// tenant's discovery document and JWKS, audience = the resource's app id.
func (e *env) verifyOIDC(t testing.TB, tok string) tokenClaims {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.hc)
	p, err := oidc.NewProvider(ctx, e.base+"/"+e.tenant.ID+"/v2.0")
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: e.resource.AppID, Now: e.clock.Now}).Verify(ctx, tok)
	if err != nil {
		t.Fatalf("go-oidc rejected the token: %v", err)
	}
	var c tokenClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkToken verifies tok with go-oidc and with guard over the in-process
// key source (as the vault and the admin API do) and checks the app-only
// claims for client.
func (e *env) checkToken(t testing.TB, tok string, client directory.Application, acr string, roles []string) tokenClaims {
	t.Helper()
	c := e.verifyOIDC(t, tok)
	want := tokenClaims{
		Aud: e.resource.AppID, Iss: e.base + "/" + e.tenant.ID + "/v2.0", Azp: client.AppID, Azpacr: acr,
		AppID: client.AppID, AppIDAcr: acr, Oid: client.ObjectID, Sub: client.ObjectID, Tid: e.tenant.ID,
		Ver: "2.0", Idtyp: "app", Roles: roles,
	}
	got := c
	got.Uti, got.Iat, got.Nbf, got.Exp = "", 0, 0, 0
	if !equalClaims(got, want) {
		t.Errorf("claims:\n got %+v\nwant %+v", got, want)
	}
	if c.Uti == "" || c.Exp-c.Iat != 3600 || c.Nbf != c.Iat {
		t.Errorf("uti %q, iat %d, nbf %d, exp %d; want a uti and a one-hour lifetime", c.Uti, c.Iat, c.Nbf, c.Exp)
	}
	p, err := e.verify(tok)
	if err != nil {
		t.Fatalf("guard.Verifier over the sts key source: %v", err)
	}
	azpacr, _ := p.Claim("azpacr")
	if p.Method != guard.MethodBearer || p.TenantID != e.tenant.ID || p.Issuer != want.Iss || !slices.Equal(p.Audience, []string{e.resource.AppID}) ||
		p.AppID != client.AppID || p.ObjectID != client.ObjectID || p.Subject != client.ObjectID || !slices.Equal(p.Roles, roles) ||
		azpacr != acr || p.TokenID != c.Uti || p.CredentialID != c.Uti || p.ExpiresAt.Unix() != c.Exp {
		t.Errorf("guard principal = %+v (azpacr %v)", p, azpacr)
	}
	return c
}

func equalClaims(a, b tokenClaims) bool {
	return slices.Equal(a.Roles, b.Roles) && a.Aud == b.Aud && a.Iss == b.Iss && a.Azp == b.Azp && a.Azpacr == b.Azpacr &&
		a.AppID == b.AppID && a.AppIDAcr == b.AppIDAcr && a.Oid == b.Oid && a.Sub == b.Sub && a.Tid == b.Tid &&
		a.Ver == b.Ver && a.Idtyp == b.Idtyp
}

// rsaPEM is the RSA client certificate and key as a PEM bundle.
func (e *env) rsaPEM(t testing.TB) []byte {
	t.Helper()
	keyPEM, err := pki.EncodePrivateKeyPEM(clientRSA)
	if err != nil {
		t.Fatal(err)
	}
	return append(pki.EncodeCertificatePEM(e.rsaCert), keyPEM...)
}

func TestToken_RealClientLibraries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	authority := e.base + "/" + e.tenant.ID
	scope := []string{"api://orders/.default"}
	bothRoles := []string{"Orders.Read", "Orders.Write"}

	msal := func(t *testing.T, authority, clientID string, cred confidential.Credential, opts ...confidential.Option) string {
		t.Helper()
		opts = append(opts, confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.hc))
		app, err := confidential.New(authority, clientID, cred, opts...)
		if err != nil {
			t.Fatalf("confidential.New: %v", err)
		}
		ar, err := app.AcquireTokenByCredential(ctx, scope)
		if err != nil {
			t.Fatalf("MSAL AcquireTokenByCredential: %v", err)
		}
		return ar.AccessToken
	}
	certCred := func(t *testing.T) confidential.Credential {
		certs, key, err := confidential.CertFromPEM(e.rsaPEM(t), "")
		if err != nil {
			t.Fatal(err)
		}
		cred, err := confidential.NewCredFromCert(certs, key)
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	azOpts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.base + "/"}, Transport: e.hc}
	azToken := func(t *testing.T, cred azcore.TokenCredential) string {
		t.Helper()
		tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
		if err != nil {
			t.Fatalf("azidentity GetToken: %v", err)
		}
		return tk.Token
	}

	t.Run("MSAL certificate PS256 x5t#S256", func(t *testing.T) {
		tok := msal(t, authority, e.certClient.AppID, certCred(t))
		e.checkToken(t, tok, e.certClient, "2", []string{"Orders.Read"})
	})
	t.Run("MSAL certificate with x5c", func(t *testing.T) {
		tok := msal(t, authority, e.certClient.AppID, certCred(t), confidential.WithX5C())
		e.checkToken(t, tok, e.certClient, "2", []string{"Orders.Read"})
	})
	t.Run("MSAL secret, authority by tenant name in upper case", func(t *testing.T) {
		cred, err := confidential.NewCredFromSecret(e.secret)
		if err != nil {
			t.Fatal(err)
		}
		tok := msal(t, e.base+"/CONTOSO/", e.secretClient.AppID, cred)
		e.checkToken(t, tok, e.secretClient, "1", bothRoles)
	})
	t.Run("azidentity ClientCertificateCredential", func(t *testing.T) {
		certs, key, err := azidentity.ParseCertificates(e.rsaPEM(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := azidentity.NewClientCertificateCredential(e.tenant.ID, e.certClient.AppID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		e.checkToken(t, azToken(t, cred), e.certClient, "2", []string{"Orders.Read"})
	})
	t.Run("azidentity ClientSecretCredential", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential(e.tenant.ID, e.secretClient.AppID, e.secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: azOpts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		e.checkToken(t, azToken(t, cred), e.secretClient, "1", bothRoles)
	})
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"AuthStyleInHeader", oauth2.AuthStyleInHeader}, {"AuthStyleInParams", oauth2.AuthStyleInParams}} {
		t.Run("x/oauth2 clientcredentials "+style.name, func(t *testing.T) {
			// The secret has characters that RFC 6749 §2.3.1 form-encodes
			// inside the Basic header; the server must decode them.
			cc := clientcredentials.Config{
				ClientID: e.basicClient.AppID, ClientSecret: e.basicSecret, TokenURL: e.tokenURL(),
				Scopes: scope, AuthStyle: style.style,
			}
			tk, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, e.hc))
			if err != nil {
				t.Fatalf("x/oauth2: %v", err)
			}
			if tk.TokenType != "Bearer" || tk.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v", tk.TokenType, tk.Expiry)
			}
			c := e.checkToken(t, tk.AccessToken, e.basicClient, "1", nil)
			if c.Roles != nil {
				t.Errorf("roles = %v; want the claim omitted when nothing is granted", c.Roles)
			}
		})
	}
	t.Run("golang-jwt RS256 x5t assertion", func(t *testing.T) {
		a := e.assertion(t, jwt.SigningMethodRS256, clientRSA, map[string]any{"x5t": pki.X5T(e.rsaCert)}, e.certClient.AppID, nil)
		r := e.post(t, "", e.assertionForm(e.certClient.AppID, a), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		e.checkToken(t, r.Token, e.certClient, "2", []string{"Orders.Read"})
	})
	t.Run("golang-jwt ES384 assertion with a P-384 certificate", func(t *testing.T) {
		a := e.assertion(t, jwt.SigningMethodES384, clientEC384, map[string]any{"x5t#S256": pki.X5TS256(e.ec384Cert)}, e.ecClient.AppID, nil)
		r := e.post(t, "", e.assertionForm(e.ecClient.AppID, a), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		e.checkToken(t, r.Token, e.ecClient, "2", []string{"Orders.Write"})
	})
	t.Run("golang-jwt ES256 assertion with an EC certificate, client_id omitted", func(t *testing.T) {
		a := e.assertion(t, jwt.SigningMethodES256, clientEC, map[string]any{"x5t#S256": pki.X5TS256(e.ecCert)}, e.ecClient.AppID, nil)
		form := e.assertionForm("", a)
		r := e.post(t, "", form, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" || r.Header.Get("Cache-Control") != "no-store, no-cache" || r.Header.Get("Pragma") != "no-cache" {
			t.Errorf("headers = %v", r.Header)
		}
		if r.TokenType != "Bearer" || r.ExpiresIn != 3600 {
			t.Errorf("token_type %q expires_in %d", r.TokenType, r.ExpiresIn)
		}
		e.checkToken(t, r.Token, e.ecClient, "2", []string{"Orders.Write"})
	})
}

// assertion signs a client assertion for clientID with aud = the token
// endpoint; edit may change the claims before signing.
func (e *env) assertion(t testing.TB, m jwt.SigningMethod, key crypto.PrivateKey, header map[string]any, clientID string, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := e.clock.Now()
	claims := jwt.MapClaims{
		"aud": e.tokenURL(), "iss": clientID, "sub": clientID, "jti": guid(),
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) assertionForm(clientID, assertion string) url.Values {
	f := url.Values{
		"grant_type": {"client_credentials"}, "scope": {"api://orders/.default openid offline_access profile"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
		"client_info": {"1"}, "claims": {`{"access_token":{"xms_cc":{"values":["CP1"]}}}`},
	}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	return f
}

func TestDiscovery_DocumentAndJWKS(t *testing.T) {
	e := newEnv(t)
	for _, seg := range []string{e.tenant.ID, strings.ToUpper(e.tenant.ID), "contoso", "CONTOSO"} {
		t.Run(seg, func(t *testing.T) {
			var doc map[string]any
			resp := e.getJSON(t, e.base+"/"+seg+"/v2.0/.well-known/openid-configuration?", &doc)
			tb := e.base + "/" + e.tenant.ID
			for k, want := range map[string]string{
				"issuer": tb + "/v2.0", "token_endpoint": tb + "/oauth2/v2.0/token",
				"authorization_endpoint": tb + "/oauth2/v2.0/authorize", "jwks_uri": tb + "/discovery/v2.0/keys",
			} {
				if doc[k] != want {
					t.Errorf("%s = %v; want %s", k, doc[k], want)
				}
			}
			if v, ok := doc["tenant_region_scope"]; !ok || v != nil {
				t.Errorf("tenant_region_scope = %v (present %v); want null", v, ok)
			}
			for k, want := range map[string][]string{
				"token_endpoint_auth_methods_supported":            {"client_secret_post", "private_key_jwt", "client_secret_basic"},
				"token_endpoint_auth_signing_alg_values_supported": {"RS256", "PS256", "ES256", "ES384", "ES512"},
				"id_token_signing_alg_values_supported":            {"RS256"},
				"grant_types_supported":                            {"client_credentials"},
			} {
				if got := toStrings(doc[k]); !slices.Equal(got, want) {
					t.Errorf("%s = %v; want %v", k, got, want)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
				t.Errorf("Cache-Control = %q", cc)
			}
		})
	}
	var set struct {
		Keys []struct {
			Kty, Use, Kid, X5t, N, E, Issuer string
			X5c                              []string
		}
	}
	e.getJSON(t, e.base+"/contoso/discovery/v2.0/keys", &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys; want 1", len(set.Keys))
	}
	k := set.Keys[0]
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if k.Kty != "RSA" || k.Use != "sig" || k.Kid != pki.X5T(cert) || k.X5t != k.Kid || k.E != "AQAB" || k.N == "" ||
		k.Issuer != e.base+"/"+e.tenant.ID+"/v2.0" {
		t.Errorf("JWK = %+v", k)
	}
}

func toStrings(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
