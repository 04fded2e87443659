package connector_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
)

// BenchmarkInvoke measures one connector call over TLS on loopback with a
// Basic credential and a JSON body: the connector's own latency, which
// token issuance with a connector adds.
func BenchmarkInvoke(b *testing.B) {
	e := newEnv(b)
	e.setSecret(b, "connector-pw", connectorPassword)
	p := e.startEndpoint(b, reply(200, "application/json", `{"loyalty_number":"LN-42","tier":"gold"}`))
	c := e.compile(b, e.connectorFor(p.url))
	claims := map[string]any{"email": "a@contoso.test", "appid": "app-1"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Invoke(ctx, claims); err != nil {
			b.Fatal(err)
		}
	}
}

// tokenWriter is a minimal in-process ResponseWriter keeping the status.
type tokenWriter struct {
	h      http.Header
	status int
}

func (w *tokenWriter) Header() http.Header { return w.h }
func (w *tokenWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *tokenWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

// BenchmarkTokenIssuance issues client-credentials tokens through the
// token service's handler in process (no network to the token service),
// without a token-issuance connector and with one attached to the
// resource (a real connector call over loopback TLS with a Basic
// credential from the vault, adding a claim); "connector call alone" is
// the connector's own latency, the difference the connector should
// account for.
func BenchmarkTokenIssuance(b *testing.B) {
	e := newEnv(b)
	e.setSecret(b, "connector-pw", connectorPassword)
	ts := startTokenService(b, e)
	p := e.startEndpoint(b, reply(200, "application/json", `{"version":"1.0.0","action":"Continue","costCenter":"CC-42"}`))
	d := e.connectorFor(p.url)
	d.TenantID = ts.tenant.ID
	d.InputClaims = []directory.ConnectorClaim{{ClaimType: connector.ClaimClientAppID, PartnerClaimType: "appId"}, {ClaimType: connector.ClaimRoles}}
	d.OutputClaims = []directory.ConnectorClaim{{ClaimType: "costCenter"}}
	d.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{ts.resource.AppID}}
	c := e.compile(b, d)
	body := ts.form().Encode()
	issue := func(b *testing.B) {
		r, _ := http.NewRequest(http.MethodPost, "https://sts.example/"+ts.tenant.ID+"/oauth2/v2.0/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.1:50000"
		w := &tokenWriter{h: http.Header{}}
		ts.mux.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("token status %d", w.status)
		}
	}
	b.Run("without connector", func(b *testing.B) {
		ts.enricher.Use(nil)
		b.ReportAllocs()
		for b.Loop() {
			issue(b)
		}
	})
	b.Run("with connector", func(b *testing.B) {
		ts.enricher.Use([]*connector.Connector{c})
		before := p.count()
		b.ReportAllocs()
		for b.Loop() {
			issue(b)
		}
		if p.count() == before {
			b.Fatal("the connector was not called")
		}
	})
	b.Run("connector call alone", func(b *testing.B) {
		claims := map[string]any{connector.ClaimClientAppID: ts.client.AppID, connector.ClaimRoles: []any{"Orders.Read"}}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Invoke(ctx, claims); err != nil {
				b.Fatal(err)
			}
		}
	})
}
