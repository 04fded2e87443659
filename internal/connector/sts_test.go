package connector_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
)

// TestTokenIssuance_ThroughARealTokenService runs the token service with
// the Enricher over a real connector: its claims reach the token, its
// block stops issuance with its message, and its silence (a timeout) stops
// issuance with a retryable error.
func TestTokenIssuance_ThroughARealTokenService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	ts := startTokenService(t, e)
	tenant, resource, client := ts.tenant, ts.resource, ts.client
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ts.mux, ErrorLog: quietLog}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	tokenURL := "http://" + ln.Addr().String() + "/" + tenant.ID + "/oauth2/v2.0/token"
	en := ts.enricher

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	answer := make(chan http.HandlerFunc, 1)
	p := e.startEndpoint(t, func(w http.ResponseWriter, r *http.Request) { (<-answer)(w, r) })
	d := e.connectorFor(p.url)
	d.TenantID = tenant.ID
	d.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid"}, {ClaimType: "roles"}, {ClaimType: "ipaddr"}}
	d.OutputClaims = []directory.ConnectorClaim{{ClaimType: "department", PartnerClaimType: "dept"}}
	d.TimeoutSeconds = 0.3
	d.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{resource.AppID}}
	en.Use([]*connector.Connector{e.compile(t, d)})

	issue := func() (int, map[string]any) {
		resp, err := http.PostForm(tokenURL, ts.form())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("token response %d %s", resp.StatusCode, b)
		}
		return resp.StatusCode, m
	}
	for _, c := range []struct {
		name   string
		h      http.HandlerFunc
		status int
		check  func(map[string]any) string
	}{
		{"adds the connector's claim", reply(200, "application/json", `{"dept":"sales","tid":"evil"}`), 200, func(m map[string]any) string {
			tok, _ := m["access_token"].(string)
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				return "no JWT"
			}
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims map[string]any
			json.Unmarshal(payload, &claims)
			if claims["department"] != "sales" || claims["tid"] != tenant.ID {
				return string(payload)
			}
			return ""
		}},
		{"block stops issuance with the message", reply(200, "application/json", `{"action":"ShowBlockPage","userMessage":"Billing is suspended for this client."}`), 403, func(m map[string]any) string {
			if m["error"] != "unauthorized_client" || !strings.Contains(m["error_description"].(string), "Billing is suspended for this client.") {
				return m["error_description"].(string)
			}
			return ""
		}},
		{"a silent connector fails closed", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, 503, func(m map[string]any) string {
			if m["error"] != "temporarily_unavailable" {
				return m["error"].(string)
			}
			return ""
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			answer <- c.h
			status, m := issue()
			if status != c.status {
				t.Fatalf("status %d, want %d: %v", status, c.status, m)
			}
			if msg := c.check(m); msg != "" {
				t.Errorf("unexpected response: %s", msg)
			}
			var sent map[string]any
			json.Unmarshal([]byte(p.last().body), &sent)
			if sent["appid"] != client.AppID || sent["ipaddr"] != "127.0.0.1" {
				t.Errorf("the connector got %s", p.last().body)
			}
		})
	}
}

// tokenService is a real token service over the env's store, with a
// connector Enricher (no connector yet), a tenant, a resource
// application "api://orders" with a role, a client with a secret and the
// grant between them.
type tokenService struct {
	srv              *sts.Server
	mux              *http.ServeMux
	enricher         *connector.Enricher
	tenant           directory.Tenant
	resource, client directory.Application
	secret           string
}

func startTokenService(t testing.TB, e *env) *tokenService {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	tenant := directory.Tenant{ID: uuid.NewString(), Name: "contoso", CreatedAt: now}
	role := uuid.NewString()
	resource := directory.Application{TenantID: tenant.ID, AppID: uuid.NewString(), ObjectID: uuid.NewString(), DisplayName: "orders-api",
		IdentifierURIs: []string{"api://orders"}, AppRoles: []directory.AppRole{{ID: role, Value: "Orders.Read", DisplayName: "Read", Enabled: true}}, CreatedAt: now}
	secret := "Cl~ient-secret-for-issuance-tests-77"
	client := directory.Application{TenantID: tenant.ID, AppID: uuid.NewString(), ObjectID: uuid.NewString(), DisplayName: "billing", CreatedAt: now,
		PasswordCredentials: []directory.PasswordCredential{{ID: uuid.NewString(), Hint: "Cl~", Hash: directory.HashClientSecret(secret), StartAt: now.Add(-time.Hour), CreatedAt: now}}}
	grant := directory.Grant{ID: uuid.NewString(), TenantID: tenant.ID, ClientAppID: client.AppID, ResourceAppID: resource.AppID, AppRoleID: role, CreatedAt: now}
	if err := e.store.CreateTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	en := connector.NewEnricher(slog.New(slog.DiscardHandler))
	srv := sts.New(sts.Config{Enricher: en, Logger: slog.New(slog.DiscardHandler),
		FailedAuthPerClient: sts.RateLimit{Burst: -1}, FailedAuthPerSource: sts.RateLimit{Burst: -1}}, e.store, e.sealer)
	apply := func(rev int64) {
		keys, err := e.store.ListSigningKeys(ctx, tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Apply(directory.NewSnapshot(rev, []directory.Tenant{tenant}, []directory.Application{resource, client}, []directory.Grant{grant}, nil), keys); err != nil {
			t.Fatal(err)
		}
	}
	apply(1)
	if err := srv.EnsureSigningKey(ctx, tenant.ID); err != nil {
		t.Fatal(err)
	}
	apply(2)
	mux := http.NewServeMux()
	srv.Register(mux)
	return &tokenService{srv: srv, mux: mux, enricher: en, tenant: tenant, resource: resource, client: client, secret: secret}
}

// form is the client's client-credentials token request for api://orders.
func (ts *tokenService) form() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.client.AppID}, "client_secret": {ts.secret}, "scope": {"api://orders/.default"}}
}
