package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

func TestFederatedIdentityCredentials_AddGetListDelete(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/federatedIdentityCredentials"

	gh := strictDecode[ficOutT](t, expect(t, e.do("POST", base, map[string]any{
		"name": "github-main", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:contoso/orders:ref:refs/heads/main",
		"description": "deploy from main",
	}), http.StatusCreated))
	if !isGUID(gh.ID) || gh.Name != "github-main" || len(gh.Audiences) != 1 || gh.Audiences[0] != directory.DefaultFederatedAudience ||
		!gh.CreatedAt.Equal(testNow) || gh.JWKSURI != "" || gh.Keys != nil {
		t.Errorf("created %+v", gh)
	}
	k8s := strictDecode[ficOutT](t, expect(t, e.do("POST", base, map[string]any{
		"name": "cluster-a", "issuer": "https://kubernetes.default.svc.cluster.local", "subject": "system:serviceaccount:orders:api",
		"audiences": []string{"api://AzureADTokenExchange"}, "keys": map[string]any{"keys": []any{map[string]any{
			"kty": "EC", "use": "sig", "kid": "k1", "crv": "P-256",
			"x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}}},
	}), http.StatusCreated))
	if !strings.Contains(string(k8s.Keys), `"kid":"k1"`) {
		t.Errorf("keys not returned: %s", k8s.Keys)
	}
	if e.changed.Load() == 0 {
		t.Error("no change notification after a write: other nodes would not see the credential")
	}

	list := strictDecode[listOf[ficOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(list.Value) != 2 || list.Value[0].ID != gh.ID || list.Value[1].ID != k8s.ID {
		t.Fatalf("listed %+v", list.Value)
	}
	got := strictDecode[appOutT](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/default/applications/"+app.AppID, nil).body)
	if len(got.FederatedIdentityCredentials) != 2 {
		t.Errorf("the application shows %d federated credentials", len(got.FederatedIdentityCredentials))
	}
	one := strictDecode[ficOutT](t, e.must(http.StatusOK, "GET", base+"/CLUSTER-A", nil).body)
	if one.ID != k8s.ID {
		t.Errorf("get by name: %+v", one)
	}
	e.must(http.StatusNoContent, "DELETE", base+"/github-main", nil)
	e.must(http.StatusNoContent, "DELETE", base+"/"+k8s.ID, nil)
	wantError(t, e.do("DELETE", base+"/"+k8s.ID, nil), 404, "NotFound", "no federated identity credential")
	wantError(t, e.do("GET", base+"/nope", nil), 404, "NotFound", "no federated identity credential")
}

func TestFederatedIdentityCredentials_Errors(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/federatedIdentityCredentials"
	e.must(http.StatusCreated, "POST", base, map[string]any{"name": "first", "issuer": "https://issuer.test", "subject": "s"})
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		part   string
	}{
		{"no body", base, nil, 400, "BadRequest", "request body is required"},
		{"unknown field", base, map[string]any{"name": "x1x", "issuer": "https://i.test", "subject": "s", "subjects": "x"}, 400, "BadRequest", "subjects"},
		{"duplicated field", base, `{"name":"second","issuer":"https://issuer.test","subject":"s2","subject":"s3"}`, 400, "BadRequest", `field "subject" appears twice`},
		{"duplicated field in keys", base, `{"name":"second","issuer":"https://issuer.test","subject":"s2","keys":{"keys":[{"kty":"EC","kid":"a","kid":"b"}]}}`, 400, "BadRequest", `field "keys.keys[0].kid" appears twice`},
		{"missing issuer", base, map[string]any{"name": "second", "subject": "s"}, 400, "BadRequest", `"issuer" is required`},
		{"plain http issuer", base, map[string]any{"name": "second", "issuer": "http://issuer.test", "subject": "s2"}, 400, "BadRequest", "https"},
		{"keys not an object", base, map[string]any{"name": "second", "issuer": "https://issuer.test", "subject": "s2", "keys": "abc"}, 400, "BadRequest", "JWK Set object"},
		{"keys without keys", base, map[string]any{"name": "second", "issuer": "https://issuer.test", "subject": "s2", "keys": map[string]any{"keys": []any{}}}, 400, "BadRequest", "no usable signature key"},
		{"jwksUri and keys", base, map[string]any{"name": "second", "issuer": "https://issuer.test", "subject": "s2", "jwksUri": "https://issuer.test/jwks", "keys": map[string]any{"keys": []any{}}}, 400, "BadRequest", "at most one"},
		{"two audiences", base, map[string]any{"name": "second", "issuer": "https://issuer.test", "subject": "s2", "audiences": []string{"a", "b"}}, 400, "BadRequest", "exactly one"},
		{"name taken", base, map[string]any{"name": "FIRST", "issuer": "https://issuer.test", "subject": "s2"}, 409, "Conflict", "already has"},
		{"issuer and subject taken", base, map[string]any{"name": "second", "issuer": "https://issuer.test", "subject": "s"}, 409, "Conflict", "issuer and subject"},
		{"unknown application", "/admin/v1/tenants/default/applications/nothing/federatedIdentityCredentials", map[string]any{"name": "x1x", "issuer": "https://i.test", "subject": "s"}, 404, "NotFound", "nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", tc.path, tc.body), tc.status, tc.code, tc.part)
		})
	}
}
