package admin

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

func TestApplications_CreateWithDefaults(t *testing.T) {
	e := newEnv(t)
	app := strictDecode[appOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/applications", map[string]any{"displayName": "  orders-api  "}).body)
	if !isGUID(app.AppID) || app.AppID != strings.ToLower(app.AppID) || !isGUID(app.ObjectID) || app.AppID == app.ObjectID {
		t.Errorf("ids %q %q: want distinct lower-case GUIDs", app.AppID, app.ObjectID)
	}
	if app.TenantID != e.tenant.ID || app.DisplayName != "orders-api" || app.AccessTokenLifetimeSeconds != 3600 || !app.CreatedAt.Equal(testNow) {
		t.Errorf("app %+v", app)
	}
	if len(app.IdentifierURIs) != 1 || app.IdentifierURIs[0] != "api://"+app.AppID {
		t.Errorf("identifierUris %v, want [api://%s]", app.IdentifierURIs, app.AppID)
	}
	if app.AppRoles == nil || app.PasswordCredentials == nil || app.KeyCredentials == nil {
		t.Errorf("lists must be [] not null: %+v", app)
	}
	stored, err := e.st.GetApplication(context.Background(), e.tenant.ID, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.DisplayName != "orders-api" || stored.ObjectID != app.ObjectID {
		t.Errorf("stored %+v", stored)
	}
	if e.changed.Load() != 1 {
		t.Errorf("Changed called %d times, want 1", e.changed.Load())
	}

	full := strictDecode[appOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/"+strings.ToUpper(e.tenant.ID)+"/applications", map[string]any{
		"displayName": "billing", "identifierUris": []string{"api://billing", "https://billing.example.com"}, "accessTokenLifetimeSeconds": 300,
		"requireCertificateBoundTokens": true,
	}).body)
	if strings.Join(full.IdentifierURIs, " ") != "api://billing https://billing.example.com" || full.AccessTokenLifetimeSeconds != 300 || !full.RequireCertificateBoundTokens {
		t.Errorf("app %+v", full)
	}
}

func TestApplications_CreateIsValidated(t *testing.T) {
	e := newEnv(t)
	e.createApp("taken", "api://taken")
	many := make([]string, 21)
	for i := range many {
		many[i] = "api://many/" + string(rune('a'+i))
	}
	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		part   string
	}{
		{"missing display name", map[string]any{}, 400, "BadRequest", `"displayName" is required`},
		{"blank display name", map[string]any{"displayName": "   "}, 400, "BadRequest", "must not be blank"},
		{"display name too long", map[string]any{"displayName": strings.Repeat("é", 121)}, 400, "BadRequest", "at most 120"},
		{"control character", map[string]any{"displayName": "a\u0007b"}, 400, "BadRequest", "control character"},
		{"relative URI", map[string]any{"displayName": "x", "identifierUris": []string{"orders"}}, 400, "BadRequest", `"identifierUris[0]"`},
		{"URI with fragment", map[string]any{"displayName": "x", "identifierUris": []string{"api://a#b"}}, 400, "BadRequest", "fragment"},
		{"URI with query", map[string]any{"displayName": "x", "identifierUris": []string{"api://ok", "api://a?b=c"}}, 400, "BadRequest", `"identifierUris[1]"`},
		{"URI with space", map[string]any{"displayName": "x", "identifierUris": []string{"api://a b"}}, 400, "BadRequest", "whitespace"},
		{"URI too long", map[string]any{"displayName": "x", "identifierUris": []string{"api://" + strings.Repeat("a", 250)}}, 400, "BadRequest", "at most 255"},
		{"URI with /.default", map[string]any{"displayName": "x", "identifierUris": []string{"api://orders/.default"}}, 400, "BadRequest", "/.default"},
		{"empty URI", map[string]any{"displayName": "x", "identifierUris": []string{""}}, 400, "BadRequest", "empty"},
		{"bare scheme", map[string]any{"displayName": "x", "identifierUris": []string{"api://"}}, 400, "BadRequest", "nothing after its scheme"},
		{"duplicate URI in request", map[string]any{"displayName": "x", "identifierUris": []string{"api://a", "API://A"}}, 400, "BadRequest", "twice"},
		{"too many URIs", map[string]any{"displayName": "x", "identifierUris": many}, 400, "BadRequest", "at most 20"},
		{"lifetime too short", map[string]any{"displayName": "x", "accessTokenLifetimeSeconds": 299}, 400, "BadRequest", "from 300"},
		{"lifetime too long", map[string]any{"displayName": "x", "accessTokenLifetimeSeconds": 86401}, 400, "BadRequest", "86400"},
		{"display name taken", map[string]any{"displayName": "TAKEN"}, 409, "Conflict", "display name"},
		{"URI taken", map[string]any{"displayName": "x", "identifierUris": []string{"API://Taken"}}, 409, "Conflict", `identifier URI "api://taken" is used`},
		{"management URI taken", map[string]any{"displayName": "x", "identifierUris": []string{directory.ManagementIdentifierURI}}, 409, "Conflict", "Portcullis Management"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/admin/v1/tenants/default/applications", c.body), c.status, c.code, c.part)
		})
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/nowhere/applications", map[string]any{"displayName": "x"}), 404, "NotFound", "nowhere")
	// Identifier URIs are unique per tenant only.
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants/other/applications", map[string]any{"displayName": "taken", "identifierUris": []string{"api://taken"}})
}

func TestApplications_GetByAppIDOrDisplayName(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("Orders API")
	for _, ref := range []string{app.AppID, strings.ToUpper(app.AppID), "Orders API", "orders api", "ORDERS API"} {
		t.Run(ref, func(t *testing.T) {
			got := strictDecode[appOutT](t, expect(t, e.do("GET", "/admin/v1/tenants/default/applications/"+url.PathEscape(ref), nil), http.StatusOK))
			if got.AppID != app.AppID {
				t.Errorf("got %s, want %s", got.AppID, app.AppID)
			}
		})
	}
	wantError(t, e.do("GET", "/admin/v1/tenants/default/applications/nothing", nil), 404, "NotFound", `application "nothing" not found`)
	wantError(t, e.do("GET", "/admin/v1/tenants/default/applications/"+newGUID(), nil), 404, "NotFound")
	wantError(t, e.do("GET", "/admin/v1/tenants/other/applications/"+app.AppID, nil), 404, "NotFound")

	list := strictDecode[listOf[appOutT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/default/applications", nil).body)
	if len(list.Value) != 3 {
		t.Errorf("%d applications, want 3 (management, admin client, Orders API)", len(list.Value))
	}
	empty := e.must(http.StatusOK, "GET", "/admin/v1/tenants/other/applications", nil)
	if strings.TrimSpace(string(empty.body)) != `{"value":[]}` {
		t.Errorf("empty list %s, want {\"value\":[]}", empty.body)
	}
}

func TestApplications_Update(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("orders", "api://orders")
	e.createApp("billing", "api://billing")
	path := "/admin/v1/tenants/default/applications/orders"

	got := strictDecode[appOutT](t, e.must(http.StatusOK, "PATCH", path, map[string]any{"accessTokenLifetimeSeconds": 7200}).body)
	if got.AccessTokenLifetimeSeconds != 7200 || got.DisplayName != "orders" || got.IdentifierURIs[0] != "api://orders" {
		t.Errorf("after lifetime change %+v", got)
	}
	got = strictDecode[appOutT](t, e.must(http.StatusOK, "PATCH", path, map[string]any{"displayName": " Orders v2 ", "identifierUris": []string{"api://orders", "api://orders-v2"}}).body)
	if got.DisplayName != "Orders v2" || len(got.IdentifierURIs) != 2 || got.AccessTokenLifetimeSeconds != 7200 || got.AppID != app.AppID {
		t.Errorf("after rename %+v", got)
	}
	for _, bound := range []bool{true, false} {
		got = strictDecode[appOutT](t, e.must(http.StatusOK, "PATCH", "/admin/v1/tenants/default/applications/"+app.AppID, map[string]any{"requireCertificateBoundTokens": bound}).body)
		if got.RequireCertificateBoundTokens != bound || got.AccessTokenLifetimeSeconds != 7200 {
			t.Errorf("after requireCertificateBoundTokens %v: %+v", bound, got)
		}
	}
	// Renaming to its own name in another case is not a conflict with itself.
	e.must(http.StatusOK, "PATCH", "/admin/v1/tenants/default/applications/"+app.AppID, map[string]any{"displayName": "ORDERS V2"})

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		part   string
	}{
		{"nothing to change", path, `{}`, 400, "BadRequest", "nothing to change"},
		{"null only", path, `{"displayName":null}`, 400, "BadRequest", "nothing to change"},
		{"blank name", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"displayName": ""}, 400, "BadRequest", "displayName"},
		{"bad URI", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"identifierUris": []string{"nope"}}, 400, "BadRequest", "identifierUris[0]"},
		{"bad lifetime", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"accessTokenLifetimeSeconds": 10}, 400, "BadRequest", "accessTokenLifetimeSeconds"},
		{"name of another app", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"displayName": "Billing"}, 409, "Conflict", "display name"},
		{"URI of another app", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"identifierUris": []string{"api://billing"}}, 409, "Conflict", "billing"},
		{"unknown field", "/admin/v1/tenants/default/applications/" + app.AppID, map[string]any{"appId": newGUID()}, 400, "BadRequest", `unknown field "appId"`},
		{"missing app", "/admin/v1/tenants/default/applications/nothing", map[string]any{"displayName": "x"}, 404, "NotFound", "nothing"},
		{"management app keeps its URI", "/admin/v1/tenants/default/applications/" + e.mgmt.AppID, map[string]any{"identifierUris": []string{"api://elsewhere"}}, 409, "Conflict", directory.ManagementIdentifierURI},
		{"management app takes unbound tokens", "/admin/v1/tenants/default/applications/" + e.mgmt.AppID, map[string]any{"requireCertificateBoundTokens": true}, 409, "Conflict", "cannot require certificate-bound tokens"},
		{"binding as a string", "/admin/v1/tenants/default/applications/" + app.AppID, `{"requireCertificateBoundTokens":"yes"}`, 400, "BadRequest", "requireCertificateBoundTokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("PATCH", c.path, c.body), c.status, c.code, c.part)
		})
	}
	// The management application may be renamed or get more URIs.
	e.must(http.StatusOK, "PATCH", "/admin/v1/tenants/default/applications/"+e.mgmt.AppID, map[string]any{"identifierUris": []string{directory.ManagementIdentifierURI, "api://mgmt-alias"}})
	// Clearing the URIs of an ordinary application is allowed.
	got = strictDecode[appOutT](t, e.must(http.StatusOK, "PATCH", "/admin/v1/tenants/default/applications/"+app.AppID, map[string]any{"identifierUris": []string{}}).body)
	if len(got.IdentifierURIs) != 0 || got.IdentifierURIs == nil {
		t.Errorf("identifierUris %#v, want []", got.IdentifierURIs)
	}
}

func TestApplications_Delete(t *testing.T) {
	e := newEnv(t)
	api := e.createApp("orders")
	role := e.createRole("orders", "Orders.Read")
	client := e.createApp("client")
	g := strictDecode[grantOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/grants", map[string]any{"client": "client", "resource": "orders", "role": role.Value}).body)

	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/applications/orders", nil)
	wantError(t, e.do("GET", "/admin/v1/tenants/default/applications/"+api.AppID, nil), 404, "NotFound")
	grants := strictDecode[listOf[grantOutT]](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/default/grants", nil).body)
	for _, have := range grants.Value {
		if have.ID == g.ID {
			t.Errorf("grant %s of the deleted application remains", g.ID)
		}
	}
	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/applications/"+client.AppID, nil)
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/applications/"+client.AppID, nil), 404, "NotFound")
}

func TestSafety_ManagementAndLastAdminAreProtected(t *testing.T) {
	e := newEnv(t)
	mgmt := "/admin/v1/tenants/default/applications/" + e.mgmt.AppID
	wantError(t, e.do("DELETE", mgmt, nil), 409, "Conflict", "cannot be deleted")
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/applications/Portcullis%20Management", nil), 409, "Conflict", "cannot be deleted")
	wantError(t, e.do("DELETE", mgmt+"/appRoles/"+directory.AdminRoleValue, nil), 409, "Conflict", "cannot be removed")
	wantError(t, e.do("DELETE", mgmt+"/appRoles/"+e.adminRole.ID, nil), 409, "Conflict", "cannot be removed")
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/grants/"+e.adminGrant.ID, nil), 409, "Conflict", "last grant of Portcullis.Admin")
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/applications/portcullis-admin", nil), 409, "Conflict", "last grant of Portcullis.Admin")

	// With a second administrator, the first one's grant can go; then the
	// second is the last and is protected in turn.
	second := e.createApp("second-admin")
	g2 := strictDecode[grantOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/grants", map[string]any{
		"client": second.AppID, "resource": directory.ManagementIdentifierURI, "role": directory.AdminRoleValue,
	}).body)
	if g2.RoleValue != directory.AdminRoleValue || g2.ResourceAppID != e.mgmt.AppID {
		t.Errorf("grant %+v", g2)
	}
	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/grants/"+e.adminGrant.ID, nil)
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/grants/"+g2.ID, nil), 409, "Conflict", "last grant")
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/applications/second-admin", nil), 409, "Conflict", "last grant")
	// The original admin client no longer holds the role and may be deleted.
	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/applications/portcullis-admin", nil)
}

func TestSafety_BuiltInVaultApplicationIsProtected(t *testing.T) {
	e := newEnv(t)
	v := e.createApp("Portcullis Vault", directory.VaultIdentifierURI, "https://localhost:8443")
	path := "/admin/v1/tenants/default/applications/" + v.AppID
	wantError(t, e.do("DELETE", path, nil), 409, "Conflict", "built in")
	wantError(t, e.do("PATCH", path, map[string]any{"identifierUris": []string{"https://localhost:8443"}}), 409, "Conflict", directory.VaultIdentifierURI)
	// Other URIs may change as long as the built-in one stays.
	e.must(http.StatusOK, "PATCH", path, map[string]any{"identifierUris": []string{directory.VaultIdentifierURI, "https://vault.example.com"}})
}

func TestSafety_LastAdminCredentialIsProtected(t *testing.T) {
	e := newEnv(t)
	base := "/admin/v1/tenants/default/applications/portcullis-admin/passwordCredentials"
	secret := strictDecode[secretOutT](t, e.must(http.StatusCreated, "POST", base, map[string]any{"description": "cli"}).body)
	// The only administrator's only credential: removing it would leave no
	// client that can obtain an admin token.
	wantError(t, e.do("DELETE", base+"/"+secret.ID, nil), 409, "Conflict", "last credential", "Portcullis.Admin")
	// A second credential makes the first removable.
	e.must(http.StatusCreated, "POST", base, map[string]any{"description": "spare"})
	e.must(http.StatusNoContent, "DELETE", base+"/"+secret.ID, nil)
}
