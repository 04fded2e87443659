package adminclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/pki"
)

// fakeAdmin is a small TLS server with a token endpoint and a programmable
// admin API, recording what it receives.
type fakeAdmin struct {
	addr   string
	client *http.Client

	mu          sync.Mutex
	tokens      int
	reject401   int // answer this many admin requests with 401
	requests    []string
	bodies      []string
	auths       []string
	ifMatch     []string
	adminStatus int
	adminBody   string
}

func startFakeAdmin(t *testing.T) *fakeAdmin {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{adminStatus: 200, adminBody: `{"value":[]}`}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("tenant") != "tid" || r.PostForm.Get("client_secret") != "admin-secret" || r.PostForm.Get("scope") != ManagementScope {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"tok-%d"}`, n)
	})
	mux.HandleFunc("/admin/v1/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.EscapedPath())
		f.bodies = append(f.bodies, string(b))
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.ifMatch = append(f.ifMatch, r.Header.Get("If-Match"))
		reject := f.reject401 > 0
		if reject {
			f.reject401--
		}
		status, body := f.adminStatus, f.adminBody
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if reject {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"code":"Unauthorized","message":"token expired"}}`)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	f.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	f.addr = "https://" + ln.Addr().String()
	return f
}

func (f *fakeAdmin) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adminStatus, f.adminBody = status, body
}

func (f *fakeAdmin) newClient(t *testing.T, secret string, now func() time.Time) *Client {
	t.Helper()
	cfg := Config{Endpoint: Endpoint{Addr: f.addr}, TokenTenant: "tid", ClientID: "admin", ClientSecret: oauthclient.NewSecret(secret), Source: "test"}
	c, err := New(cfg, WithHTTPClient(f.client), WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient_CachesTokenUntilNearExpiry(t *testing.T) {
	f := startFakeAdmin(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := f.newClient(t, "admin-secret", func() time.Time { return now })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.ListTenants(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens != 1 {
		t.Errorf("token requests = %d, want 1 (cached)", f.tokens)
	}
	now = now.Add(59 * time.Minute) // inside the refresh margin
	if _, err := c.ListTenants(ctx); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 2 || f.auths[len(f.auths)-1] != "Bearer tok-2" {
		t.Errorf("token requests = %d, last auth %q; want a new token near expiry", f.tokens, f.auths[len(f.auths)-1])
	}
}

func TestClient_RetriesOnceWithNewTokenAfter401(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	f.reject401 = 1
	if _, err := c.ListTenants(context.Background()); err != nil {
		t.Fatalf("ListTenants: %v", err)
	}
	if f.tokens != 2 || len(f.requests) != 2 {
		t.Errorf("tokens=%d requests=%d, want 2 and 2", f.tokens, len(f.requests))
	}
	f.reject401 = 5
	err := c.DeleteApplication(context.Background(), "default", "x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Error() != "token expired" {
		t.Errorf("error = %v, want the server's 401 after one retry", err)
	}
}

func TestClient_TokenErrorSaysWhereTheCredentialCameFrom(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "wrong-secret", time.Now)
	_, err := c.ListTenants(context.Background())
	if err == nil {
		t.Fatal("want an error")
	}
	var oe *oauthclient.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_client" {
		t.Errorf("error %v does not wrap the *oauthclient.Error", err)
	}
	for _, w := range []string{"get an admin token", "/tid/oauth2/v2.0/token", "from test", "AADSTS7000215: Invalid client secret provided."} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "Trace ID") {
		t.Errorf("error %q shows the secret or extra lines", err)
	}
}

func TestClient_RoutesAndBodies(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	f.set(200, `{}`)
	ctx := context.Background()
	name := "orders api/v2"
	lifetime := 600
	dn := "renamed"
	for _, tc := range []struct {
		name     string
		call     func() error
		wantReq  string
		wantBody string
	}{
		{"ListTenants", func() error { _, err := c.ListTenants(ctx); return err }, "GET /admin/v1/tenants", ""},
		{"CreateTenant", func() error { _, err := c.CreateTenant(ctx, "contoso"); return err }, "POST /admin/v1/tenants", `{"name":"contoso"}`},
		{"GetTenant", func() error { _, err := c.GetTenant(ctx, "Default"); return err }, "GET /admin/v1/tenants/Default", ""},
		{"DeleteTenant escapes the name", func() error { return c.DeleteTenant(ctx, "con toso") }, "DELETE /admin/v1/tenants/con%20toso", ""},
		{"ListApplications", func() error { _, err := c.ListApplications(ctx, "t"); return err }, "GET /admin/v1/tenants/t/applications", ""},
		{"CreateApplication", func() error {
			_, err := c.CreateApplication(ctx, "t", NewApplication{DisplayName: "orders", IdentifierURIs: []string{"api://orders"}, AccessTokenLifetimeSeconds: 3600})
			return err
		}, "POST /admin/v1/tenants/t/applications", `{"displayName":"orders","identifierUris":["api://orders"],"accessTokenLifetimeSeconds":3600}`},
		{"CreateApplication defaults", func() error { _, err := c.CreateApplication(ctx, "t", NewApplication{DisplayName: "x"}); return err }, "POST /admin/v1/tenants/t/applications", `{"displayName":"x"}`},
		{"GetApplication escapes the name", func() error { _, err := c.GetApplication(ctx, "t", name); return err }, "GET /admin/v1/tenants/t/applications/orders%20api%2Fv2", ""},
		{"UpdateApplication", func() error {
			_, err := c.UpdateApplication(ctx, "t", "a", ApplicationUpdate{DisplayName: &dn, AccessTokenLifetimeSeconds: &lifetime})
			return err
		}, "PATCH /admin/v1/tenants/t/applications/a", `{"displayName":"renamed","accessTokenLifetimeSeconds":600}`},
		{"DeleteApplication", func() error { return c.DeleteApplication(ctx, "t", "a") }, "DELETE /admin/v1/tenants/t/applications/a", ""},
		{"AddAppRole", func() error { _, err := c.AddAppRole(ctx, "t", "a", NewAppRole{Value: "Orders.Read"}); return err }, "POST /admin/v1/tenants/t/applications/a/appRoles", `{"value":"Orders.Read"}`},
		{"ListAppRoles", func() error { _, err := c.ListAppRoles(ctx, "t", "a"); return err }, "GET /admin/v1/tenants/t/applications/a/appRoles", ""},
		{"RemoveAppRole", func() error { return c.RemoveAppRole(ctx, "t", "a", "Orders.Read") }, "DELETE /admin/v1/tenants/t/applications/a/appRoles/Orders.Read", ""},
		{"AddSecret", func() error {
			_, err := c.AddSecret(ctx, "t", "a", NewSecret{Description: "ci", ExpiresInSeconds: 86400})
			return err
		}, "POST /admin/v1/tenants/t/applications/a/passwordCredentials", `{"description":"ci","expiresInSeconds":86400}`},
		{"ListSecrets", func() error { _, err := c.ListSecrets(ctx, "t", "a"); return err }, "GET /admin/v1/tenants/t/applications/a/passwordCredentials", ""},
		{"RemoveSecret", func() error { return c.RemoveSecret(ctx, "t", "a", "id1") }, "DELETE /admin/v1/tenants/t/applications/a/passwordCredentials/id1", ""},
		{"AddCertificate", func() error {
			_, err := c.AddCertificate(ctx, "t", "a", NewCertificate{Certificate: []byte{0xfb, 0xff}, Description: "d"})
			return err
		}, "POST /admin/v1/tenants/t/applications/a/keyCredentials", `{"certificate":"+/8=","description":"d"}`},
		{"ListCertificates", func() error { _, err := c.ListCertificates(ctx, "t", "a"); return err }, "GET /admin/v1/tenants/t/applications/a/keyCredentials", ""},
		{"RemoveCertificate", func() error { return c.RemoveCertificate(ctx, "t", "a", "ABCDEF") }, "DELETE /admin/v1/tenants/t/applications/a/keyCredentials/ABCDEF", ""},
		{"AddFederatedCredential", func() error {
			_, err := c.AddFederatedCredential(ctx, "t", "a", FederatedIdentityCredential{Name: "gh", Issuer: "https://i.test", Subject: "s", Keys: json.RawMessage(`{"keys":[]}`)})
			return err
		}, "POST /admin/v1/tenants/t/applications/a/federatedIdentityCredentials", `{"name":"gh","issuer":"https://i.test","subject":"s","keys":{"keys":[]}}`},
		{"ListFederatedCredentials", func() error { _, err := c.ListFederatedCredentials(ctx, "t", "a"); return err }, "GET /admin/v1/tenants/t/applications/a/federatedIdentityCredentials", ""},
		{"RemoveFederatedCredential", func() error { return c.RemoveFederatedCredential(ctx, "t", "a", "gh main") }, "DELETE /admin/v1/tenants/t/applications/a/federatedIdentityCredentials/gh%20main", ""},
		{"AddGrant", func() error {
			_, err := c.AddGrant(ctx, "t", NewGrant{Client: "c", Resource: "r", Role: "Orders.Read"})
			return err
		}, "POST /admin/v1/tenants/t/grants", `{"client":"c","resource":"r","role":"Orders.Read"}`},
		{"ListGrants", func() error { _, err := c.ListGrants(ctx, "t"); return err }, "GET /admin/v1/tenants/t/grants", ""},
		{"RemoveGrant", func() error { return c.RemoveGrant(ctx, "t", "g1") }, "DELETE /admin/v1/tenants/t/grants/g1", ""},
		{"ListSigningKeys", func() error { _, err := c.ListSigningKeys(ctx, "t"); return err }, "GET /admin/v1/tenants/t/signingKeys", ""},
		{"RotateSigningKeys", func() error { _, err := c.RotateSigningKeys(ctx, "t", true); return err }, "POST /admin/v1/tenants/t/signingKeys/rotate", `{"immediate":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatalf("call: %v", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if got := f.requests[len(f.requests)-1]; got != tc.wantReq {
				t.Errorf("request = %q, want %q", got, tc.wantReq)
			}
			if got := f.bodies[len(f.bodies)-1]; got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
		})
	}
}

func TestClient_DecodesAnswersAndErrors(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	ctx := context.Background()

	f.set(201, `{"id":"p1","hint":"abc","description":"","startDateTime":"2030-01-01T00:00:00Z","endDateTime":"2030-07-01T00:00:00Z","createdAt":"2030-01-01T00:00:00Z","secretText":"abc~shown-once"}`)
	p, err := c.AddSecret(ctx, "t", "a", NewSecret{})
	if err != nil || p.SecretText != "abc~shown-once" || p.EndDateTime.Month() != time.July {
		t.Errorf("AddSecret = %+v, %v", p, err)
	}

	for _, tc := range []struct {
		name                     string
		status                   int
		body                     string
		wantCode, wantMsgContain string
	}{
		{"contract error body", 409, `{"error":{"code":"Conflict","message":"2 applications are named \"x\": use an appId (a, b)"}}`, "Conflict", `use an appId (a, b)`},
		{"not found", 404, `{"error":{"code":"NotFound","message":"no application \"x\" in tenant default"}}`, "NotFound", "no application"},
		{"no body", 502, `<html>`, "BadGateway", "HTTP 502 Bad Gateway"},
		{"terminal escapes stripped", 400, `{"error":{"code":"BadRequest","message":"bad \u001b[31mred"}}`, "BadRequest", "bad [31mred"},
		{"C1 CSI, bidi override and escapes in the code stripped", 400, `{"error":{"code":"Bad\u001bRequest","message":"bad \u009b31mred \u202eevil"}}`, "BadRequest", "bad 31mred evil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.status, tc.body)
			_, err := c.GetApplication(ctx, "t", "x")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not *APIError", err, err)
			}
			if ae.Status != tc.status || ae.Code != tc.wantCode || !strings.Contains(ae.Error(), tc.wantMsgContain) {
				t.Errorf("APIError = %+v", ae)
			}
		})
	}
}

func TestClient_ConnectionRefusedHasHint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "https://" + ln.Addr().String()
	ln.Close()
	c, err := New(Config{Endpoint: Endpoint{Addr: addr}, TokenTenant: "t", ClientID: "c", ClientSecret: oauthclient.NewSecret("a-longer-secret"), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTenants(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nothing answers at "+addr+" (connection refused)") {
		t.Errorf("error = %v, want a hint", err)
	}
}

func TestTypes_JSONFieldNamesMatchContract(t *testing.T) {
	b, _ := json.Marshal(KeyCredential{})
	for _, k := range []string{`"id"`, `"description"`, `"thumbprint"`, `"x5tS256"`, `"subject"`, `"startDateTime"`, `"endDateTime"`, `"createdAt"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("KeyCredential JSON %s lacks %s", b, k)
		}
	}
	b, _ = json.Marshal(Application{})
	for _, k := range []string{`"tenantId"`, `"appId"`, `"objectId"`, `"displayName"`, `"identifierUris"`, `"appRoles"`, `"passwordCredentials"`, `"keyCredentials"`, `"accessTokenLifetimeSeconds"`, `"createdAt"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("Application JSON %s lacks %s", b, k)
		}
	}
}
