package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
	s := NewSnapshot(7, []Tenant{tenant}, []Application{api, client}, grants, nil)

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
		{"application by appId, any case", func() bool { a, ok := s.Application(tenant.ID, "C1"); return ok && a.AppID == "c1" }(), true},
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
	if s.Revision != 7 {
		t.Errorf("Revision = %d; want 7", s.Revision)
	}
}

func TestSnapshot_IsNotChangedByTheCallersSlices(t *testing.T) {
	tenants := []Tenant{{ID: "t1", Name: "contoso"}}
	apps := []Application{{TenantID: "t1", AppID: "a1", DisplayName: "orders", IdentifierURIs: []string{"api://orders"},
		AppRoles: []AppRole{{ID: "r1", Value: "Orders.Read", Enabled: true}}}}
	s := NewSnapshot(1, tenants, apps, []Grant{{TenantID: "t1", ClientAppID: "c1", ResourceAppID: "a1", AppRoleID: "r1"}}, nil)
	// The caller reuses its slices for the next revision.
	tenants[0] = Tenant{ID: "t2", Name: "fabrikam"}
	apps[0] = Application{TenantID: "t1", AppID: "a1", DisplayName: "renamed"}
	if tn, ok := s.Tenant("contoso"); !ok || tn.ID != "t1" {
		t.Errorf("tenant changed under the snapshot: %+v, %v", tn, ok)
	}
	if a, ok := s.Resource("t1", "api://orders"); !ok || a.DisplayName != "orders" {
		t.Errorf("application changed under the snapshot: %+v, %v", a, ok)
	}
	if a, ok := s.Application("t1", "a1"); !ok || a.DisplayName != "orders" {
		t.Errorf("application changed under the snapshot: %+v, %v", a, ok)
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

func TestClientSecret_NeverPrintsItsText(t *testing.T) {
	sec, err := NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(struct{ S ClientSecret }{sec})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("created", "secret", sec)
	outputs := map[string]string{"json": string(j), "slog": logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outputs[verb] = fmt.Sprintf(verb, sec)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &sec)
	}
	for name, out := range outputs {
		if strings.Contains(out, sec.Text) || strings.Contains(out, sec.Text[4:]) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s output %q is not redacted", name, out)
		}
	}
}
