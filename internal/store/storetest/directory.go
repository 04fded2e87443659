package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// The suites of what directory.Store adds to the per-call methods: one
// transaction for several operations, targeted reads, and the cascade of a
// deletion into the vault's RBAC.

func testUpdateDirectoryIsOneTransaction(t *testing.T, s Backend) {
	tn := tenant("t", base)
	app := fullApp(tn.ID, "api")
	rev := revision(t, s)
	refusal := errors.New("refused by the rule")
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		if err := tx.CreateTenant(ctx, tn); err != nil {
			return err
		}
		if err := tx.CreateApplication(ctx, app); err != nil {
			return err
		}
		// The transaction reads its own writes.
		got, err := tx.GetApplication(ctx, tn.ID, app.AppID)
		if err != nil {
			return err
		}
		equal(t, "application read in its transaction", got, normalizeApplication(app))
		found, err := tx.FindApplications(ctx, tn.ID, directory.ApplicationQuery{DisplayName: "API"})
		if err != nil || len(found) != 1 {
			t.Errorf("FindApplications in the transaction = %d apps, %v", len(found), err)
		}
		return refusal
	})
	if err != refusal {
		t.Fatalf("UpdateDirectory returned %v, want fn's error as is", err)
	}
	if r := revision(t, s); r != rev {
		t.Fatalf("revision moved from %d to %d although the transaction failed", rev, r)
	}
	tenants, err := s.ListTenants(ctx)
	if err != nil || len(tenants) != 0 {
		t.Fatalf("tenants after a failed transaction: %+v, %v; want none", tenants, err)
	}

	// The same writes commit together, as one revision.
	err = s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		if err := tx.CreateTenant(ctx, tn); err != nil {
			return err
		}
		return tx.CreateApplication(ctx, app)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := revision(t, s); r != rev+1 {
		t.Fatalf("revision = %d after one transaction from %d", r, rev)
	}
	if _, err := s.GetApplication(ctx, tn.ID, app.AppID); err != nil {
		t.Fatal(err)
	}
}

func testFindApplications(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	// Lists are in creation order: give each its own time.
	at := func(app directory.Application, i int) directory.Application {
		app.CreatedAt = base.Add(time.Duration(i) * time.Second)
		return app
	}
	a := mustApp(t, s, at(fullApp(tn.ID, "Orders"), 1))
	b := mustApp(t, s, at(fullApp(tn.ID, "billing"), 2))
	c := mustApp(t, s, at(minimalApp(tn.ID, "bare"), 3))
	elsewhere := fullApp(other.ID, "Orders")
	elsewhere.IdentifierURIs = a.IdentifierURIs
	mustApp(t, s, elsewhere)

	tests := []struct {
		name string
		q    directory.ApplicationQuery
		want []directory.Application
	}{
		{"zero query selects none", directory.ApplicationQuery{}, nil},
		{"display name in another case", directory.ApplicationQuery{DisplayName: "ORDERS"}, []directory.Application{a}},
		{"identifier URI in another case", directory.ApplicationQuery{IdentifierURIs: []string{strings.ToUpper(b.IdentifierURIs[1])}}, []directory.Application{b}},
		{"any condition, in creation order", directory.ApplicationQuery{DisplayName: "bare", IdentifierURIs: []string{"api://nothing", a.IdentifierURIs[0]}}, []directory.Application{a, c}},
		{"no match", directory.ApplicationQuery{DisplayName: "none", IdentifierURIs: []string{"api://none"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindApplications(ctx, tn.ID, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("FindApplications returned nil, want an empty list")
			}
			equal(t, "found", got, normApps(tc.want...))
		})
	}
}

func testFindGrants(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	api := mustApp(t, s, fullApp(tn.ID, "api"))
	x := mustApp(t, s, fullApp(tn.ID, "x"))
	y := mustApp(t, s, fullApp(tn.ID, "y"))
	var gs []directory.Grant
	for i, g := range []directory.Grant{
		grant(tn.ID, x.AppID, api.AppID, api.AppRoles[0].ID),
		grant(tn.ID, x.AppID, api.AppID, api.AppRoles[1].ID),
		grant(tn.ID, y.AppID, api.AppID, api.AppRoles[0].ID),
	} {
		g.CreatedAt = base.Add(time.Duration(i) * time.Second) // lists are in creation order
		gs = append(gs, mustGrant(t, s, g))
	}
	g1, g2, g3 := gs[0], gs[1], gs[2]
	tests := []struct {
		name string
		q    directory.GrantQuery
		want []directory.Grant
	}{
		{"zero query selects all", directory.GrantQuery{}, []directory.Grant{g1, g2, g3}},
		{"by id", directory.GrantQuery{ID: g2.ID}, []directory.Grant{g2}},
		{"by client", directory.GrantQuery{ClientAppID: x.AppID}, []directory.Grant{g1, g2}},
		{"by resource and role", directory.GrantQuery{ResourceAppID: api.AppID, AppRoleID: api.AppRoles[0].ID}, []directory.Grant{g1, g3}},
		{"every field must match", directory.GrantQuery{ClientAppID: y.AppID, AppRoleID: api.AppRoles[1].ID}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindGrants(ctx, tn.ID, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want := []directory.Grant{}
			for _, g := range tc.want {
				want = append(want, normGrant(g))
			}
			equal(t, "found", got, want)
		})
	}
}

func testDeleteApplicationRemovesVaultRoleAssignments(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	doomed := mustApp(t, s, fullApp(tn.ID, "doomed"))
	kept := mustApp(t, s, fullApp(tn.ID, "kept"))
	for _, name := range []string{"v1", "v2"} {
		if err := s.CreateVault(ctx, vault.Vault{Name: name, SoftDeleteRetentionDays: 90, Created: base}); err != nil {
			t.Fatal(err)
		}
	}
	assignments := []vault.RoleAssignment{
		{ID: newID(), Vault: "v1", PrincipalID: doomed.AppID, Role: vault.RoleSecretsUser},
		{ID: newID(), Vault: "v2", Scope: "secrets/db", PrincipalID: strings.ToUpper(doomed.ObjectID), Role: vault.RoleReader},
		{ID: newID(), Vault: "v1", PrincipalID: kept.AppID, Role: vault.RoleSecretsUser},
	}
	for _, a := range assignments {
		a.Created = base
		if err := s.CreateRoleAssignment(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteApplication(ctx, tn.ID, doomed.AppID); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2"} {
		got, err := s.ListRoleAssignments(ctx, v, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if a.PrincipalID != kept.AppID {
				t.Errorf("vault %s still assigns %q to the deleted application (principal %s)", v, a.Role, a.PrincipalID)
			}
		}
	}
	err := s.DeleteApplication(ctx, tn.ID, doomed.AppID)
	wantErr(t, err, store.ErrNotFound, doomed.AppID)
}

func testDeleteTenantRemovesEverythingItHolds(t *testing.T, s Backend) {
	doomed := mustTenant(t, s, "doomed")
	kept := mustTenant(t, s, "kept")
	var apps [2]directory.Application
	for i, tn := range []directory.Tenant{doomed, kept} {
		api := mustApp(t, s, fullApp(tn.ID, "api"))
		client := mustApp(t, s, fullApp(tn.ID, "client"))
		mustGrant(t, s, grant(tn.ID, client.AppID, api.AppID, api.AppRoles[0].ID))
		if err := s.CreateSigningKey(ctx, signingKey(tn.ID, "kid-"+tn.Name, base)); err != nil {
			t.Fatal(err)
		}
		apps[i] = client
	}
	if err := s.CreateVault(ctx, vault.Vault{Name: "v", SoftDeleteRetentionDays: 90, Created: base}); err != nil {
		t.Fatal(err)
	}
	for _, app := range apps {
		if err := s.CreateRoleAssignment(ctx, vault.RoleAssignment{ID: newID(), Vault: "v", PrincipalID: app.ObjectID, Role: vault.RoleReader, Created: base}); err != nil {
			t.Fatal(err)
		}
	}
	rev := revision(t, s)
	if err := s.DeleteTenant(ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	if r := revision(t, s); r != rev+1 {
		t.Fatalf("revision = %d after one delete from %d", r, rev)
	}
	tenants, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "tenants", tenants, []directory.Tenant{normTenant(kept)})
	for _, tn := range []directory.Tenant{doomed, kept} {
		appsLeft, err := s.ListApplications(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		grants, err := s.ListGrants(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := s.ListSigningKeys(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if tn.ID == kept.ID {
			want = 1
		}
		if len(appsLeft) != 2*want || len(grants) != want || len(keys) != want {
			t.Errorf("tenant %s after deleting %s: %d apps, %d grants, %d keys", tn.Name, doomed.Name, len(appsLeft), len(grants), len(keys))
		}
	}
	ras, err := s.ListRoleAssignments(ctx, "v", "")
	if err != nil || len(ras) != 1 || ras[0].PrincipalID != apps[1].ObjectID {
		t.Fatalf("vault role assignments after deleting the tenant: %+v, %v; want only the kept tenant's", ras, err)
	}
	// The name is free again.
	mustTenant(t, s, "doomed")
	wantErr(t, s.DeleteTenant(ctx, doomed.ID), store.ErrNotFound, doomed.ID)
}
