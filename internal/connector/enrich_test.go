package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
)

func TestEnricher_CallsAttachedConnectorsAndMapsTheirAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	req := sts.EnrichRequest{
		Tenant:   &directory.Tenant{ID: "t1"},
		Client:   &directory.Application{TenantID: "t1", AppID: "client-1", DisplayName: "billing-daemon"},
		Resource: &directory.Application{TenantID: "t1", AppID: "orders-api"},
		Roles:    []string{"Orders.Read"}, ACR: "2", ClientIP: "192.0.2.7",
	}
	tokenConnector := func(url, policy string, attach func(*directory.ConnectorTokenIssuance)) directory.Connector {
		d := e.connectorFor(url)
		d.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid", PartnerClaimType: "clientId"}, {ClaimType: "tid"}, {ClaimType: "aud"},
			{ClaimType: "roles"}, {ClaimType: "ipaddr", PartnerClaimType: "clientIp"}, {ClaimType: "azpacr"}}
		d.OutputClaims = []directory.ConnectorClaim{{ClaimType: "department", PartnerClaimType: "dept"}}
		d.TokenIssuance = &directory.ConnectorTokenIssuance{FailurePolicy: policy}
		attach(d.TokenIssuance)
		return d
	}
	byResource := func(ti *directory.ConnectorTokenIssuance) { ti.ResourceApps = []string{"orders-api"} }
	byClient := func(ti *directory.ConnectorTokenIssuance) { ti.ClientApps = []string{"CLIENT-1"} }
	elsewhere := func(ti *directory.ConnectorTokenIssuance) { ti.ResourceApps = []string{"other-api"} }
	for _, c := range []struct {
		name    string
		h       http.HandlerFunc
		policy  string
		attach  func(*directory.ConnectorTokenIssuance)
		claims  map[string]any
		status  int    // of an *sts.EnrichmentError
		failure bool   // any other error
		calls   int    // requests the endpoint gets
		message string // in the EnrichmentError
	}{
		{"adds the declared claims", reply(200, "application/json", `{"dept":"sales","roles":["Admin"]}`), "", byResource,
			map[string]any{"department": "sales"}, 0, false, 1, ""},
		{"attached by client app", reply(200, "application/json", `{"dept":"ops"}`), "", byClient, map[string]any{"department": "ops"}, 0, false, 1, ""},
		{"not attached", reply(200, "application/json", `{"dept":"ops"}`), "", elsewhere, nil, 0, false, 0, ""},
		{"block", reply(200, "application/json", `{"action":"ShowBlockPage","userMessage":"Subscription ended; renew it."}`), "", byResource,
			nil, 403, false, 1, "Subscription ended; renew it."},
		{"validation error", reply(400, "application/json", `{"action":"ValidationError","status":400,"userMessage":"Unknown client."}`), "", byResource,
			nil, 400, false, 1, "Unknown client."},
		{"failure closes by default", reply(503, "text/plain", "down"), "", byResource, nil, 0, true, 1, ""},
		{"failure opens when asked", reply(503, "text/plain", "down"), directory.FailOpen, byResource, nil, 0, false, 1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.startEndpoint(t, c.h)
			en := connector.NewEnricher(slog.New(slog.DiscardHandler))
			en.Use([]*connector.Connector{e.compile(t, tokenConnector(p.url, c.policy, c.attach))})
			claims, err := en.Enrich(context.Background(), req)
			var refused *sts.EnrichmentError
			switch {
			case c.status != 0:
				if !errors.As(err, &refused) || refused.Status != c.status || refused.Description != c.message {
					t.Fatalf("error %v, want an EnrichmentError %d %q", err, c.status, c.message)
				}
			case c.failure:
				if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "HTTP 503") {
					t.Fatalf("error %v, want a failure naming what came back", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if len(claims) != len(c.claims) || (c.claims != nil && claims["department"] != c.claims["department"]) {
				t.Errorf("claims %v, want %v", claims, c.claims)
			}
			if n := p.count(); n != c.calls {
				t.Fatalf("%d calls, want %d", n, c.calls)
			}
			if c.calls == 0 {
				return
			}
			var sent map[string]any
			if err := json.Unmarshal([]byte(p.last().body), &sent); err != nil {
				t.Fatal(err)
			}
			roles, _ := sent["roles"].([]any)
			if sent["clientId"] != "client-1" || sent["tid"] != "t1" || sent["aud"] != "orders-api" || sent["clientIp"] != "192.0.2.7" ||
				sent["azpacr"] != "2" || !slices.Equal(roles, []any{"Orders.Read"}) {
				t.Errorf("the connector got %s", p.last().body)
			}
		})
	}
}
