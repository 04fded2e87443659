package gateway

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/jws"
)

const testIssuer = "https://login.test/11111111-1111-1111-1111-111111111111/v2.0"

var testRSA = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

type keySourceFunc func(issuer, kid string) (crypto.PublicKey, error)

func (f keySourceFunc) Key(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	return f(issuer, kid)
}

type clients map[string]bool

func (c clients) ClientExists(tenantID, appID string) (bool, bool) {
	if tenantID != "11111111-1111-1111-1111-111111111111" {
		return false, false
	}
	return true, c[appID]
}

func token(t *testing.T, claims map[string]any) string {
	t.Helper()
	return tokenWithKid(t, "k1", claims)
}

func tokenWithKid(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := jws.Sign("RS256", testRSA, in)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestEvaluate_BearerFromAPortcullisTenant(t *testing.T) {
	var fabrikamExists atomic.Bool
	h := newHarness(t, func(c *Config) {
		c.TenantKeys = keySourceFunc(func(iss, kid string) (crypto.PublicKey, error) {
			if iss == testIssuer && kid == "k1" {
				return &testRSA.PublicKey, nil
			}
			return nil, errors.New("unknown key")
		})
		c.TenantIssuer = func(id string) string { return "https://login.test/" + id + "/v2.0" }
		c.TenantID = func(s string) (string, bool) {
			switch {
			case s == "contoso":
				return "11111111-1111-1111-1111-111111111111", true
			case s == "fabrikam" && fabrikamExists.Load():
				return "22222222-2222-2222-2222-222222222222", true
			}
			return "", false
		}
		c.Clients = clients{"app-live": true}
	})
	api := apiKeyAPI("t1", "orders", "/orders", "unused")
	api.Policy = guard.PolicySpec{
		Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders"}}},
		Rules:   guard.RulesSpec{Roles: []string{"Orders.Read"}},
	}
	unknown := apiKeyAPI("t1", "unknown-tenant", "/x", "unused")
	unknown.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "fabrikam"}}, Audiences: []string{"api://x"}}}}
	h.apply(t, api, unknown)

	exp := h.clock.now().Add(time.Hour).Unix()
	claims := func(app string, roles ...string) map[string]any {
		return map[string]any{"iss": testIssuer, "aud": "api://orders", "exp": exp, "sub": "s-1", "azp": app,
			"tid": "11111111-1111-1111-1111-111111111111", "roles": roles}
	}
	cases := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{"admitted", "Bearer " + token(t, claims("app-live", "Orders.Read", "Orders.Write")), 0, ""},
		{"no token", "", http.StatusUnauthorized, `Bearer realm="orders"`},
		{"missing role", "Bearer " + token(t, claims("app-live", "Other")), http.StatusForbidden, `error="insufficient_scope"`},
		{"deleted client", "Bearer " + token(t, claims("app-gone", "Orders.Read")), http.StatusUnauthorized, `no longer exists`},
		{"garbage", "Bearer abc.def.ghi", http.StatusUnauthorized, `error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("GET", "https://h.test/orders/1")
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			v := h.g.Evaluate(r, true) // bearer APIs are not held to the HTTPS rule of passwords and keys
			if v.Status != c.status {
				t.Fatalf("status %d, want %d: %s", v.Status, c.status, v.Body)
			}
			if c.status == 0 {
				if got := r.Header.Get("X-Portcullis-Roles"); got != "Orders.Read,Orders.Write" {
					t.Errorf("roles header %q", got)
				}
				if got := r.Header.Get("X-Portcullis-Client-Id"); got != "app-live" {
					t.Errorf("client id header %q", got)
				}
				return
			}
			if got := v.Header.Get("WWW-Authenticate"); !strings.Contains(got, c.challenge) {
				t.Errorf("WWW-Authenticate %q does not hold %q", got, c.challenge)
			}
		})
	}
	ps := h.g.Problems()
	if len(ps) != 1 || ps[0].API != "unknown-tenant" || !strings.Contains(ps[0].Reason, `tenant "fabrikam" does not exist`) {
		t.Errorf("problems %+v", ps)
	}

	// The tenant is created later: the next Apply compiles the API again,
	// although its own revision did not move.
	fabrikamExists.Store(true)
	h.apply(t, api, unknown)
	if ps := h.g.Problems(); len(ps) != 0 {
		t.Errorf("after the tenant exists, problems %+v", ps)
	}
}

func TestEvaluate_TenantAudienceByIdentifierURIFollowsTheApplications(t *testing.T) {
	var uriOwner atomic.Pointer[string] // the appId holding api://orders; nil: none
	owner := "22222222-aaaa-bbbb-cccc-000000000001"
	uriOwner.Store(&owner)
	h := newHarness(t, func(c *Config) {
		c.TenantKeys = keySourceFunc(func(iss, kid string) (crypto.PublicKey, error) { return &testRSA.PublicKey, nil })
		c.TenantIssuer = func(id string) string { return "https://login.test/" + id + "/v2.0" }
		c.TenantID = func(s string) (string, bool) { return "11111111-1111-1111-1111-111111111111", s == "contoso" }
		c.TenantAudience = func(tid, aud string) (string, bool) {
			if p := uriOwner.Load(); p != nil && aud == "api://orders" {
				return *p, true
			}
			return "", false
		}
	})
	api := apiKeyAPI("t1", "orders", "/orders", "unused")
	api.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer,
		Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders"}}}}
	h.apply(t, api)
	// A v2 token of the tenant names the resource by its appId.
	tok := token(t, map[string]any{"iss": testIssuer, "aud": owner, "exp": h.clock.now().Add(time.Hour).Unix(),
		"sub": "s", "azp": "c", "tid": "11111111-1111-1111-1111-111111111111"})
	status := func() int {
		r := request("GET", "https://h.test/orders/1")
		r.Header.Set("Authorization", "Bearer "+tok)
		return h.g.Evaluate(r, false).Status
	}
	if s := status(); s != 0 {
		t.Fatalf("token for the appId behind api://orders: status %d, want admitted", s)
	}
	uriOwner.Store(nil) // the application lost the identifier URI
	if err := h.g.ApplicationsChanged(); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != http.StatusUnauthorized {
		t.Fatalf("after the URI moved away: status %d, want 401", s)
	}
	uriOwner.Store(&owner) // and an application takes it (again) after the API was compiled
	if err := h.g.ApplicationsChanged(); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != 0 {
		t.Fatalf("after an application took the URI: status %d, want admitted", s)
	}
}
