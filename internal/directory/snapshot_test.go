package directory

import (
	"slices"
	"testing"
)

func TestSnapshot_Lookups(t *testing.T) {
	tenant := Tenant{ID: "0b7c0d5e-0000-4000-8000-000000000001", Name: "Contoso"}
	api := Application{TenantID: tenant.ID, AppID: "a1", DisplayName: "Orders API", IdentifierURIs: []string{"api://Orders"},
		AppRoles: []AppRole{{ID: "r1", Value: "Orders.Read", Enabled: true}, {ID: "r2", Value: "Orders.Write", Enabled: false}, {ID: "r3", Value: "Orders.Admin", Enabled: true}}}
	client := Application{TenantID: tenant.ID, AppID: "c1", DisplayName: "billing"}
	grants := []Grant{
		{ID: "g1", TenantID: tenant.ID, ClientAppID: "c1", ResourceAppID: "a1", AppRoleID: "r3"},
		{ID: "g2", TenantID: tenant.ID, ClientAppID: "c1", ResourceAppID: "a1", AppRoleID: "r1"},
		{ID: "g3", TenantID: tenant.ID, ClientAppID: "c1", ResourceAppID: "a1", AppRoleID: "r2"},      // disabled role
		{ID: "g4", TenantID: tenant.ID, ClientAppID: "c1", ResourceAppID: "a1", AppRoleID: "missing"}, // role removed
		{ID: "g5", TenantID: tenant.ID, ClientAppID: "c1", ResourceAppID: "gone", AppRoleID: "r1"},    // resource removed
	}
	s := NewSnapshot(7, []Tenant{tenant}, []Application{api, client}, grants)

	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"tenant by id, upper case", func() bool { _, ok := s.Tenant("0B7C0D5E-0000-4000-8000-000000000001"); return ok }(), true},
		{"tenant by name, any case", func() bool { _, ok := s.Tenant("contoso"); return ok }(), true},
		{"unknown tenant", func() bool { _, ok := s.Tenant("fabrikam"); return ok }(), false},
		{"resource by identifier URI, any case", func() bool { a, ok := s.Resource(tenant.ID, "API://orders"); return ok && a.AppID == "a1" }(), true},
		{"resource by appId", func() bool { a, ok := s.Resource(tenant.ID, "a1"); return ok && a.AppID == "a1" }(), true},
		{"resource of another tenant", func() bool { _, ok := s.Resource("other", "api://orders"); return ok }(), false},
		{"application by name", len(s.ApplicationsNamed(tenant.ID, "ORDERS api")) == 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v; want %v", tc.got, tc.want)
			}
		})
	}
	if got := s.GrantedRoles(tenant.ID, "c1", "a1"); !slices.Equal(got, []string{"Orders.Admin", "Orders.Read"}) {
		t.Errorf("GrantedRoles = %v; want the enabled, existing roles, sorted", got)
	}
	if got := s.GrantedRoles(tenant.ID, "a1", "c1"); got != nil {
		t.Errorf("GrantedRoles in the other direction = %v; want nil", got)
	}
	if len(s.Grants(tenant.ID)) != len(grants) || s.Revision != 7 {
		t.Errorf("Grants/Revision not kept")
	}
}

func TestClientSecret_HashAndHint(t *testing.T) {
	sec, err := NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Text) != secretLength+1 || sec.Text[3] != '~' || sec.Hint != sec.Text[:3] {
		t.Fatalf("secret shape: %d chars, hint %q", len(sec.Text), sec.Hint)
	}
	if !SecretMatches(sec.Hash, sec.Text) || SecretMatches(sec.Hash, sec.Text+"x") {
		t.Fatal("SecretMatches does not tell the secret apart")
	}
	if s := sec.String(); s != "[redacted]" {
		t.Fatalf("String() = %q", s)
	}
}
