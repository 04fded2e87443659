package admin

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestTenants_CreateListAndGet(t *testing.T) {
	e := newEnv(t)
	created := strictDecode[tenantOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants", map[string]any{"name": "Contoso"}).body)
	if !isGUID(created.ID) || created.ID != strings.ToLower(created.ID) || created.Name != "Contoso" || !created.CreatedAt.Equal(testNow) {
		t.Errorf("created %+v", created)
	}
	if created.Issuer != "" {
		t.Errorf("create response has issuer %q; only GET of one tenant computes it", created.Issuer)
	}
	if len(e.keys.ensured) != 1 || e.keys.ensured[0] != created.ID {
		t.Errorf("EnsureSigningKey calls %v, want [%s]", e.keys.ensured, created.ID)
	}
	if e.changed.Load() == 0 {
		t.Error("Changed was not called after creating a tenant")
	}

	all := strictDecode[listOf[tenantOutT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants", nil).body)
	var names []string
	for _, tn := range all.Value {
		names = append(names, tn.Name)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "Contoso,default,other" {
		t.Errorf("tenants %v, want Contoso, default, other", names)
	}

	for _, ref := range []string{"contoso", "CONTOSO", created.ID, strings.ToUpper(created.ID)} {
		t.Run("get by "+ref, func(t *testing.T) {
			got := strictDecode[tenantOutT](t, expect(t, e.do("GET", "/admin/v1/tenants/"+ref, nil), http.StatusOK))
			if got.ID != created.ID {
				t.Fatalf("got tenant %s, want %s", got.ID, created.ID)
			}
			wantIssuer := e.base + "/" + created.ID + "/v2.0"
			if got.Issuer != wantIssuer || got.TokenEndpoint != e.base+"/"+created.ID+"/oauth2/v2.0/token" || got.JWKSURI != e.base+"/"+created.ID+"/discovery/v2.0/keys" {
				t.Errorf("endpoints %q %q %q, want issuer %q", got.Issuer, got.TokenEndpoint, got.JWKSURI, wantIssuer)
			}
		})
	}
	wantError(t, e.do("GET", "/admin/v1/tenants/nowhere", nil), 404, "NotFound", `tenant "nowhere" not found`)
}

func TestTenants_CreateIsValidated(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		part   string
	}{
		{"missing name", `{}`, 400, "BadRequest", `"name" is required`},
		{"empty name", `{"name":""}`, 400, "BadRequest", `"name" is required`},
		{"too long", `{"name":"` + strings.Repeat("a", 65) + `"}`, 400, "BadRequest", "at most 64"},
		{"space", `{"name":"con toso"}`, 400, "BadRequest", "' '"},
		{"slash", `{"name":"a/b"}`, 400, "BadRequest", "'/'"},
		{"non-ASCII letter", `{"name":"café"}`, 400, "BadRequest", "'é'"},
		{"GUID form", `{"name":"0f8fad5b-d9cb-469f-a165-70867728950e"}`, 400, "BadRequest", "form of a GUID"},
		{"duplicate", `{"name":"default"}`, 409, "Conflict", "exists already"},
		{"duplicate other case", `{"name":"DEFAULT"}`, 409, "Conflict", "regardless of case"},
		{"unknown field", `{"name":"x","id":"y"}`, 400, "BadRequest", `unknown field "id"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/admin/v1/tenants", c.body), c.status, c.code, c.part)
		})
	}
	if len(e.keys.ensured) != 0 || e.changed.Load() != 0 {
		t.Errorf("refused creates ensured keys %v / called Changed %d times", e.keys.ensured, e.changed.Load())
	}
	// The edges of the rules are accepted.
	for _, name := range []string{"a", strings.Repeat("z", 64), "Dev_Team-1.test"} {
		e.must(http.StatusCreated, "POST", "/admin/v1/tenants", map[string]any{"name": name})
	}
}

func TestSigningKeys_ListAndRotate(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/signingKeys/rotate", map[string]any{"immediate": true})
	if got := strictDecode[struct {
		KID string `json:"kid"`
	}](t, r.body); got.KID != "kid-1" {
		t.Errorf("kid %q", got.KID)
	}
	// An empty body means immediate=false.
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants/DEFAULT/signingKeys/rotate", nil)
	want := []rotation{{e.tenant.ID, true}, {e.tenant.ID, false}}
	if len(e.keys.rotations) != 2 || e.keys.rotations[0] != want[0] || e.keys.rotations[1] != want[1] {
		t.Errorf("rotations %+v, want %+v", e.keys.rotations, want)
	}
	if e.changed.Load() != 2 {
		t.Errorf("Changed called %d times, want 2", e.changed.Load())
	}
	type keyT struct {
		KID            string `json:"kid"`
		Status         string `json:"status"`
		CreatedAt      string `json:"createdAt"`
		ActivateAt     string `json:"activateAt"`
		PublishedUntil string `json:"publishedUntil"`
	}
	keys := strictDecode[listOf[keyT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/default/signingKeys", nil).body)
	if len(keys.Value) != 2 || keys.Value[0].Status != "next" || keys.Value[1].ActivateAt != "2026-03-02T12:00:00Z" {
		t.Errorf("keys %+v", keys.Value)
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/default/signingKeys/rotate", `{"immediate":"yes"}`), 400, "BadRequest", `"immediate" must be true or false`)
	wantError(t, e.do("POST", "/admin/v1/tenants/nowhere/signingKeys/rotate", nil), 404, "NotFound")
	wantError(t, e.do("GET", "/admin/v1/tenants/nowhere/signingKeys", nil), 404, "NotFound")
}

func TestTenants_DeleteRemovesTheTenantButNeverTheManagementTenant(t *testing.T) {
	e := newEnv(t)
	fabrikam := strictDecode[tenantOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants", map[string]any{"name": "fabrikam"}).body)
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants/fabrikam/applications", map[string]any{"displayName": "worker"})
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants", map[string]any{"name": "northwind"})

	cases := []struct {
		name    string
		ref     string
		status  int
		code    string
		part    string
		changed bool
	}{
		{"management tenant by name", "default", 409, "Conflict", "cannot be deleted", false},
		{"management tenant by name in other case", "DEFAULT", 409, "Conflict", "holds the management API", false},
		{"management tenant by id", strings.ToUpper(e.tenant.ID), 409, "Conflict", "cannot be deleted", false},
		{"unknown tenant", "nowhere", 404, "NotFound", `tenant "nowhere" not found`, false},
		{"tenant with an application by id", strings.ToUpper(fabrikam.ID), 204, "", "", true},
		{"tenant deleted already", fabrikam.ID, 404, "NotFound", "not found", false},
		{"empty tenant by name in other case", "NorthWind", 204, "", "", true},
		{"tenant without the management application", "other", 204, "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.changed.Load()
			r := e.do("DELETE", "/admin/v1/tenants/"+c.ref, nil)
			if c.status == http.StatusNoContent {
				if r.status != http.StatusNoContent || len(r.body) != 0 {
					t.Fatalf("status %d body %q, want 204 and no body", r.status, r.body)
				}
				wantError(t, e.do("GET", "/admin/v1/tenants/"+c.ref, nil), 404, "NotFound")
				wantError(t, e.do("GET", "/admin/v1/tenants/"+c.ref+"/applications", nil), 404, "NotFound")
			} else {
				wantError(t, r, c.status, c.code, c.part)
			}
			if got := e.changed.Load() != before; got != c.changed {
				t.Errorf("Changed called: %v, want %v", got, c.changed)
			}
		})
	}

	all := strictDecode[listOf[tenantOutT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants", nil).body)
	if len(all.Value) != 1 || all.Value[0].ID != e.tenant.ID {
		t.Errorf("tenants after the deletions %+v, want only the management tenant", all.Value)
	}
	// The management tenant keeps its applications and the admin grant.
	apps := strictDecode[listOf[appOutT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/default/applications", nil).body)
	if len(apps.Value) != 2 {
		t.Errorf("management tenant has %d applications after the refusals, want 2", len(apps.Value))
	}
	if logs := e.logs.String(); !strings.Contains(logs, "method=DELETE path=/admin/v1/tenants/NorthWind status=204") {
		t.Errorf("no audit line for the deletion in the log:\n%s", logs)
	}
}

func TestTenants_DeleteNeedsAnAdminToken(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"no token", request{noToken: true}, 401, "Unauthorized"},
		{"token without the admin role", request{token: tokNoRole}, 403, "Forbidden"},
		{"token of another tenant", request{token: tokOtherTenant}, 401, "Unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.method, c.req.path = "DELETE", "/admin/v1/tenants/other"
			wantError(t, e.send(c.req), c.status, c.code)
		})
	}
	e.must(http.StatusOK, "GET", "/admin/v1/tenants/other", nil)
}
