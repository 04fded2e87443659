package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

func TestAppRoles_CreateListDelete(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/appRoles"
	role := strictDecode[appRoleOutT](t, e.must(http.StatusCreated, "POST", base, map[string]any{"value": "Orders.Read", "displayName": "Read orders", "description": " Reads all orders "}).body)
	if !isGUID(role.ID) || role.Value != "Orders.Read" || role.DisplayName != "Read orders" || role.Description != "Reads all orders" || !role.IsEnabled {
		t.Errorf("role %+v", role)
	}
	minimal := e.createRole("orders", "Orders.Write")
	if minimal.DisplayName != "Orders.Write" {
		t.Errorf("display name %q, want the value by default", minimal.DisplayName)
	}
	roles := strictDecode[listOf[appRoleOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(roles.Value) != 2 || roles.Value[0].Value != "Orders.Read" || roles.Value[1].Value != "Orders.Write" {
		t.Errorf("roles %+v", roles.Value)
	}

	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		part   string
	}{
		{"missing value", map[string]any{"displayName": "x"}, 400, "BadRequest", `"value" is required`},
		{"space", map[string]any{"value": "Orders Read"}, 400, "BadRequest", "space"},
		{"non-ASCII", map[string]any{"value": "Orders.Lesen\u00e4"}, 400, "BadRequest", "printable ASCII"},
		{"control character", map[string]any{"value": "a\tb"}, 400, "BadRequest", "printable ASCII"},
		{"leading dot", map[string]any{"value": ".Orders"}, 400, "BadRequest", "starts with '.'"},
		{"too long", map[string]any{"value": strings.Repeat("a", 121)}, 400, "BadRequest", "at most 120"},
		{"display name too long", map[string]any{"value": "x", "displayName": strings.Repeat("a", 121)}, 400, "BadRequest", "at most 120"},
		{"description too long", map[string]any{"value": "x", "description": strings.Repeat("a", 1025)}, 400, "BadRequest", "at most 1024"},
		{"duplicate", map[string]any{"value": "Orders.Read"}, 409, "Conflict", "already has the app role"},
		{"duplicate other case", map[string]any{"value": "orders.read"}, 409, "Conflict", "regardless of case"},
		{"unknown field", map[string]any{"value": "x", "isEnabled": false}, 400, "BadRequest", `unknown field "isEnabled"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", base, c.body), c.status, c.code, c.part)
		})
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/default/applications/nothing/appRoles", map[string]any{"value": "x"}), 404, "NotFound")
	e.must(http.StatusCreated, "POST", base, map[string]any{"value": strings.Repeat("b", 120)})

	// Delete by value (any case) and by id.
	e.must(http.StatusNoContent, "DELETE", base+"/orders.write", nil)
	e.must(http.StatusNoContent, "DELETE", base+"/"+role.ID, nil)
	wantError(t, e.do("DELETE", base+"/Orders.Read", nil), 404, "NotFound", "no app role")
	roles = strictDecode[listOf[appRoleOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(roles.Value) != 1 {
		t.Errorf("roles after delete %+v", roles.Value)
	}
}

func TestAppRoles_DeleteIsRefusedWhileGranted(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	e.createApp("client")
	role := e.createRole("orders", "Orders.Read")
	g := strictDecode[grantOutT](t, e.must(http.StatusCreated, "POST", "/admin/v1/tenants/default/grants", map[string]any{"client": "client", "resource": "orders", "role": "Orders.Read"}).body)
	wantError(t, e.do("DELETE", "/admin/v1/tenants/default/applications/orders/appRoles/Orders.Read", nil), 409, "Conflict", g.ID)
	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/grants/"+g.ID, nil)
	e.must(http.StatusNoContent, "DELETE", "/admin/v1/tenants/default/applications/orders/appRoles/"+role.ID, nil)
}

func TestGrants_CreateListDelete(t *testing.T) {
	e := newEnv(t)
	api := e.createApp("orders", "api://orders")
	client := e.createApp("client")
	read := e.createRole("orders", "Orders.Read")
	base := "/admin/v1/tenants/default/grants"

	g := strictDecode[grantOutT](t, e.must(http.StatusCreated, "POST", base, map[string]any{"client": "CLIENT", "resource": api.AppID, "role": "orders.read"}).body)
	if !isGUID(g.ID) || g.TenantID != e.tenant.ID || g.ClientAppID != client.AppID || g.ResourceAppID != api.AppID || g.AppRoleID != read.ID || g.RoleValue != "Orders.Read" || !g.CreatedAt.Equal(testNow) {
		t.Errorf("grant %+v", g)
	}
	// Resource by identifier URI, role by id.
	write := e.createRole("orders", "Orders.Write")
	e.must(http.StatusCreated, "POST", base, map[string]any{"client": client.AppID, "resource": "API://orders", "role": write.ID})

	// A disabled role cannot be granted.
	if _, err := e.st.UpdateApplication(context.Background(), e.tenant.ID, api.AppID, func(a *directory.Application) error {
		a.AppRoles = append(a.AppRoles, directory.AppRole{ID: newGUID(), Value: "Orders.Old", DisplayName: "old", Enabled: false})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.createApp("no-roles")
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		part   string
	}{
		{"missing client", map[string]any{"resource": "orders", "role": "Orders.Read"}, 400, "BadRequest", `"client" is required`},
		{"missing resource", map[string]any{"client": "client", "role": "Orders.Read"}, 400, "BadRequest", `"resource" is required`},
		{"missing role", map[string]any{"client": "client", "resource": "orders"}, 400, "BadRequest", `"role" is required`},
		{"unknown client", map[string]any{"client": "nobody", "resource": "orders", "role": "Orders.Read"}, 404, "NotFound", `client application "nobody"`},
		{"unknown resource", map[string]any{"client": "client", "resource": "api://none", "role": "Orders.Read"}, 404, "NotFound", `resource application "api://none"`},
		{"unknown role", map[string]any{"client": "client", "resource": "orders", "role": "Orders.Delete"}, 404, "NotFound", "Orders.Read, Orders.Write"},
		{"resource without roles", map[string]any{"client": "client", "resource": "no-roles", "role": "x"}, 404, "NotFound", "defines no app roles"},
		{"disabled role", map[string]any{"client": "client", "resource": "orders", "role": "Orders.Old"}, 409, "Conflict", "disabled"},
		{"duplicate", map[string]any{"client": "client", "resource": "orders", "role": "Orders.Read"}, 409, "Conflict", g.ID},
		{"unknown field", `{"client":"client","resource":"orders","role":"Orders.Read","roleId":"x"}`, 400, "BadRequest", `unknown field "roleId"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", base, c.body), c.status, c.code, c.part)
		})
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/nowhere/grants", map[string]any{"client": "a", "resource": "b", "role": "c"}), 404, "NotFound")

	list := strictDecode[listOf[grantOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(list.Value) != 3 {
		t.Fatalf("%d grants, want 3 (admin + 2)", len(list.Value))
	}
	for _, have := range list.Value {
		if have.RoleValue == "" {
			t.Errorf("grant %s has no roleValue", have.ID)
		}
	}
	e.must(http.StatusNoContent, "DELETE", base+"/"+strings.ToUpper(g.ID), nil)
	wantError(t, e.do("DELETE", base+"/"+g.ID, nil), 404, "NotFound", "no grant")
	wantError(t, e.do("GET", "/admin/v1/tenants/nowhere/grants", nil), 404, "NotFound")
}
