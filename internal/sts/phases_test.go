package sts_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

func TestAuthenticateClient_ChecksEachKindOfCredential(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	ctx := context.Background()
	assertion := func(edit func(jwt.MapClaims)) sts.Secret {
		return sts.Secret(e.assertion(t, jwt.SigningMethodPS256, clientRSA, map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}, e.certClient.AppID, edit))
	}
	cases := []struct {
		name     string
		in       sts.ClientAuthentication
		app      string // the authenticated application; "" when refused
		acr      string
		credID   string
		code     int
		status   int
		notInErr string
	}{
		{name: "secret in the body", in: sts.ClientAuthentication{Tenant: e.tenant.ID, Method: sts.MethodSecretPost, ClientID: e.secretClient.AppID, Secret: sts.Secret(e.secret)},
			app: e.secretClient.AppID, acr: "1", credID: e.secretID},
		{name: "tenant by name, client id upper-case", in: sts.ClientAuthentication{Tenant: "CONTOSO", Method: sts.MethodSecretBasic, ClientID: strings.ToUpper(e.secretClient.AppID), Secret: sts.Secret(e.secret)},
			app: e.secretClient.AppID, acr: "1", credID: e.secretID},
		{name: "certificate assertion without client id", in: sts.ClientAuthentication{Tenant: e.tenant.ID, BaseURL: e.base, Method: sts.MethodPrivateKeyJWT, Assertion: assertion(nil)},
			app: e.certClient.AppID, acr: "2", credID: e.certClient.KeyCredentials[0].ID},
		{name: "wrong secret", in: sts.ClientAuthentication{Tenant: e.tenant.ID, Method: sts.MethodSecretPost, ClientID: e.secretClient.AppID, Secret: "Wro~ng"},
			code: sts.CodeInvalidSecret, status: 401, notInErr: "Wro~ng"},
		{name: "assertion for another base URL", in: sts.ClientAuthentication{Tenant: e.tenant.ID, BaseURL: "https://elsewhere.example", Method: sts.MethodPrivateKeyJWT, Assertion: assertion(nil)},
			code: sts.CodeAssertionAudience, status: 401},
		{name: "unknown tenant", in: sts.ClientAuthentication{Tenant: "fabrikam", Method: sts.MethodSecretPost, ClientID: e.secretClient.AppID, Secret: sts.Secret(e.secret)},
			code: sts.CodeUnknownTenant, status: 400},
		{name: "client id that is not a GUID", in: sts.ClientAuthentication{Tenant: e.tenant.ID, Method: sts.MethodSecretPost, ClientID: "api://orders", Secret: sts.Secret(e.secret)},
			code: sts.CodeUnknownClient, status: 400},
		{name: "no credential", in: sts.ClientAuthentication{Tenant: e.tenant.ID, Method: sts.MethodNone, ClientID: e.secretClient.AppID},
			code: sts.CodeNoCredential, status: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.srv.AuthenticateClient(ctx, tc.in)
			if tc.app == "" {
				if err == nil || err.Code != tc.code || err.Status != tc.status {
					t.Fatalf("err = %v; want AADSTS%d with status %d", err, tc.code, tc.status)
				}
				if tc.notInErr != "" && strings.Contains(err.Error(), tc.notInErr) {
					t.Fatalf("the error echoes the credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.Application.AppID != tc.app || c.Tenant.ID != e.tenant.ID || c.ACR != tc.acr || c.CredentialID != tc.credID || c.Method != tc.in.Method {
				t.Fatalf("got app %s tenant %s acr %s credential %s method %s; want %s %s %s %s",
					c.Application.AppID, c.Tenant.ID, c.ACR, c.CredentialID, c.Method, tc.app, e.tenant.ID, tc.acr, tc.credID)
			}
		})
	}
}

func TestAuthenticateClient_FailureBudgetThrottlesFailuresOnly(t *testing.T) {
	e := newEnvNoTLS(t, func(c *sts.Config) { c.FailedAuthPerClient = sts.RateLimit{Every: time.Minute, Burst: 2} })
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := e.srv.CheckClientSecret(ctx, e.tenant.ID, e.secretClient.AppID, "Wro~ng"); err == nil || err.Status != 401 {
			t.Fatalf("failure %d: %v; want 401", i+1, err)
		}
	}
	if _, err := e.srv.CheckClientSecret(ctx, e.tenant.ID, e.secretClient.AppID, "Wro~ng"); err == nil || err.Status != http.StatusTooManyRequests {
		t.Fatalf("over budget: %v; want 429", err)
	}
	if _, err := e.srv.CheckClientSecret(ctx, e.tenant.ID, e.secretClient.AppID, e.secret); err != nil {
		t.Fatalf("valid secret over the failure budget: %v; want success", err)
	}
}

func TestCheckClientCertificate_AcceptsOnlyARegisteredValidCertificate(t *testing.T) {
	e := newEnvNoTLS(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		app    directory.Application
		cert   *x509.Certificate
		code   int
		credID string
	}{
		{"registered RSA certificate", e.certClient, e.rsaCert, 0, e.certClient.KeyCredentials[0].ID},
		{"second registered certificate", e.ecClient, e.ec384Cert, 0, e.ecClient.KeyCredentials[1].ID},
		{"certificate of someone else", e.certClient, e.otherCert, sts.CodeInvalidCertificate, ""},
		{"registration expired", e.expiredCert, e.rsaCert, sts.CodeInvalidCertificate, ""},
		{"no certificate", e.certClient, nil, sts.CodeNoCredential, ""},
		{"app with secrets only", e.secretClient, e.rsaCert, sts.CodeInvalidCertificate, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.srv.CheckClientCertificate(ctx, e.tenant.ID, tc.app.AppID, tc.cert)
			if tc.code != 0 {
				if err == nil || err.Code != tc.code || err.Status != 401 {
					t.Fatalf("err = %v; want 401 AADSTS%d", err, tc.code)
				}
				return
			}
			if err != nil || c.Application.AppID != tc.app.AppID || c.ACR != "2" || c.CredentialID != tc.credID || c.Method != sts.MethodClientCertificate {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
	t.Run("certificate past its own validity", func(t *testing.T) {
		e.clock.Set(e.rsaCert.NotAfter.Add(time.Hour))
		defer e.clock.Set(e.rsaCert.NotBefore.Add(time.Hour))
		if _, err := e.srv.CheckClientCertificate(ctx, e.tenant.ID, e.certClient.AppID, e.rsaCert); err == nil || err.Code != sts.CodeInvalidCertificate {
			t.Fatalf("err = %v; want AADSTS700027", err)
		}
	})
}

func TestIssuer_MintsTheClaimsOfItsRequestWithExtraClaims(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	client, aerr := e.srv.CheckClientSecret(context.Background(), e.tenant.ID, e.secretClient.AppID, e.secret)
	if aerr != nil {
		t.Fatal(aerr)
	}
	res, _ := e.srv.Snapshot().Application(e.tenant.ID, e.resource.AppID)
	tok, err := e.srv.Issuer().Issue(sts.IssueRequest{
		BaseURL: e.base, Client: client, Authorization: sts.Authorization{Resource: res, Roles: []string{"Orders.Read"}},
		ExtraClaims: map[string]any{"department": "sales"}, Now: e.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Lifetime != time.Hour || tok.KID == "" || tok.UTI == "" {
		t.Fatalf("token %+v", tok)
	}
	p, verr := e.verify(tok.Token)
	if verr != nil || !slices.Equal(p.Audience, []string{e.resource.AppID}) || p.AppID != e.secretClient.AppID || !slices.Equal(p.Roles, []string{"Orders.Read"}) || p.TokenID != tok.UTI {
		t.Fatalf("verified %+v, %v", p, verr)
	}
	if got := payloadOf(t, tok.Token)["department"]; got != "sales" {
		t.Fatalf("department = %v; want sales", got)
	}
}

// payloadOf decodes a JWT's claims without verifying them.
func payloadOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeEnricher returns its claims or its error and records what it saw.
type fakeEnricher struct {
	claims map[string]any
	err    error

	mu   sync.Mutex
	seen []sts.EnrichRequest
}

func (f *fakeEnricher) Enrich(_ context.Context, req sts.EnrichRequest) (map[string]any, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	return f.claims, f.err
}

func TestEnricher_AddsClaimsButNeverReservedOnes(t *testing.T) {
	f := &fakeEnricher{claims: map[string]any{"department": "sales", "ctry": []string{"NL"}, "aud": "api://evil", "roles": []string{"Orders.Admin"}, "tid": "x"}}
	e := newEnvNoTLS(t, func(c *sts.Config) { c.Enricher = f })
	e.base = "https://sts.example"
	tok := e.issueInProcess(t)
	claims := payloadOf(t, tok)
	if claims["department"] != "sales" || claims["ctry"] == nil {
		t.Fatalf("enriched claims missing: %v", claims)
	}
	p, err := e.verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Audience, []string{e.resource.AppID}) || p.TenantID != e.tenant.ID || !slices.Equal(p.Roles, []string{"Orders.Read", "Orders.Write"}) {
		t.Fatalf("a reserved claim was overridden: %+v", p)
	}
	if len(f.seen) != 1 {
		t.Fatalf("enricher called %d times; want 1", len(f.seen))
	}
	r := f.seen[0]
	if r.Tenant.ID != e.tenant.ID || r.Client.AppID != e.secretClient.AppID || r.Resource.AppID != e.resource.AppID ||
		!slices.Equal(r.Roles, []string{"Orders.Read", "Orders.Write"}) || r.ACR != "1" || r.Method != sts.MethodSecretPost || r.ClientIP != "192.0.2.1" {
		t.Fatalf("enricher saw %+v", r)
	}
}

func TestEnricher_BlocksIssuanceWithAnEntraShapedError(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		status  int
		oauth   string
		code    int
		message string
		absent  string
	}{
		{"refusal", &sts.EnrichmentError{Status: http.StatusForbidden, Description: "the client's subscription has ended; renew it"},
			403, "unauthorized_client", sts.CodeIssuanceRefused, "the client's subscription has ended; renew it", ""},
		{"refusal wrapped, default status", errorsJoin(&sts.EnrichmentError{Description: "not in business hours"}),
			400, "unauthorized_client", sts.CodeIssuanceRefused, "not in business hours", ""},
		{"refusal asking for 401 stays 400", &sts.EnrichmentError{Status: 401, Description: "no"},
			400, "unauthorized_client", sts.CodeIssuanceRefused, "no", ""},
		{"typed nil refusal is a connector failure, not a panic", (*sts.EnrichmentError)(nil),
			503, "temporarily_unavailable", sts.CodeEnrichmentFailed, "retry later", ""},
		{"connector failure", errors.New("dial tcp 10.0.0.9:5432: password=hunter2 refused"),
			503, "temporarily_unavailable", sts.CodeEnrichmentFailed, "retry later", "hunter2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvNoTLS(t, func(c *sts.Config) { c.Enricher = &fakeEnricher{err: tc.err} })
			e.base = "https://sts.example"
			w := e.serveInProcess(e.secretForm(e.secretClient, e.secret).Encode(), true)
			var body struct {
				Error string `json:"error"`
				Desc  string `json:"error_description"`
				Codes []int  `json:"error_codes"`
			}
			if err := json.Unmarshal(w.body, &body); err != nil {
				t.Fatalf("%d %s: %v", w.status, w.body, err)
			}
			if w.status != tc.status || body.Error != tc.oauth || len(body.Codes) != 1 || body.Codes[0] != tc.code {
				t.Fatalf("got %d %s %v; want %d %s [%d]", w.status, body.Error, body.Codes, tc.status, tc.oauth, tc.code)
			}
			if !strings.Contains(strings.ToLower(body.Desc), strings.ToLower(tc.message)) {
				t.Errorf("description lacks %q: %s", tc.message, body.Desc)
			}
			if tc.absent != "" && strings.Contains(string(w.body), tc.absent) {
				t.Errorf("the body leaks the internal error: %s", w.body)
			}
			if strings.Contains(string(w.body), "access_token") {
				t.Error("a token was issued")
			}
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("policy"), err) }

// Claims the Enricher returns that JSON cannot encode are the connector's
// fault: the client gets the same retryable 503 as for a failed connector,
// not a 500 and not a token without them.
func TestEnricher_UnencodableClaimsAnswerEnrichmentFailed(t *testing.T) {
	for name, v := range map[string]any{"NaN": math.NaN(), "channel": make(chan int)} {
		t.Run(name, func(t *testing.T) {
			e := newEnvNoTLS(t, func(c *sts.Config) {
				c.Enricher = &fakeEnricher{claims: map[string]any{"department": "sales", "bad": v}}
			})
			e.base = "https://sts.example"
			w := e.serveInProcess(e.secretForm(e.secretClient, e.secret).Encode(), true)
			var body struct {
				Error string `json:"error"`
				Codes []int  `json:"error_codes"`
			}
			if err := json.Unmarshal(w.body, &body); err != nil {
				t.Fatalf("%d %s: %v", w.status, w.body, err)
			}
			if w.status != http.StatusServiceUnavailable || body.Error != "temporarily_unavailable" || len(body.Codes) != 1 || body.Codes[0] != sts.CodeEnrichmentFailed {
				t.Fatalf("got %d %s; want 503 temporarily_unavailable [%d]", w.status, w.body, sts.CodeEnrichmentFailed)
			}
		})
	}
}
