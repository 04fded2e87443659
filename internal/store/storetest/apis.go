package storetest

import (
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// fullAPI returns an API with every field set.
func fullAPI(tenantID, name string) directory.API {
	return directory.API{
		TenantID:    tenantID,
		Name:        name,
		Description: "Orders, behind Basic",
		Match:       directory.APIMatch{Hosts: []string{"api.example.test", "*.example.test"}, PathPrefix: "/" + name, Methods: []string{"GET", "POST"}},
		Backend: directory.Backend{
			URLs:            []string{"https://orders.internal:8443/base", "https://orders2.internal:8443/base"},
			StripPathPrefix: true,
			TLS:             &directory.BackendTLS{CACertificates: []string{"vault://kv1/certificates/backend-ca"}, ServerName: "orders.internal"},
			Timeouts:        directory.Timeouts{ConnectSeconds: 2.5, ResponseHeaderSeconds: 10, IdleSeconds: 60},
		},
		Policy: guard.PolicySpec{
			Methods: []guard.MethodSpec{
				{Type: guard.SpecBasic, Users: []guard.BasicUserSpec{{Name: "alice", Password: "vault://kv1/secrets/alice"}}},
				{Type: guard.SpecAPIKey, Header: "x-functions-key", Keys: []guard.APIKeySpec{{Name: "k1", Secret: "vault://kv1/secrets/k1"}}},
			},
			Rules: guard.RulesSpec{Roles: []string{"Orders.Read"}, Require: guard.RequireAny},
			Realm: "orders",
		},
		PrincipalHeaders:  map[string]string{"X-Caller": "subject"},
		AllowInsecureAuth: true,
		CreatedAt:         base,
		UpdatedAt:         base,
	}
}

func normAPI(a directory.API, rev int64) directory.API {
	a.CreatedAt, a.UpdatedAt, a.Revision = ts(a.CreatedAt), ts(a.UpdatedAt), rev
	return a
}

func testAPIs(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")

	b := fullAPI(tn.ID, "billing")
	created, err := s.CreateAPI(ctx, b)
	if err != nil {
		t.Fatalf("CreateAPI: %v", err)
	}
	if r := revision(t, s); created.Revision != r {
		t.Fatalf("created API at revision %d, store at %d", created.Revision, r)
	}
	equal(t, "created API", created, normAPI(b, created.Revision))
	got, err := s.GetAPI(ctx, tn.ID, "billing")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "API read back", got, created)

	a := fullAPI(tn.ID, "accounts")
	a.PrincipalHeaders = nil
	a.Backend.TLS = nil
	ca, err := s.CreateAPI(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateAPI(ctx, fullAPI(other.ID, "accounts"))
	if err != nil {
		t.Fatalf("the same name in another tenant: %v", err)
	}

	list, err := s.ListAPIs(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListAPIs (by name)", list, []directory.API{ca, created})
	all, err := s.ListAllAPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("ListAllAPIs = %d APIs, want 3", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].TenantID > all[i].TenantID || all[i-1].TenantID == all[i].TenantID && all[i-1].Name >= all[i].Name {
			t.Fatalf("ListAllAPIs not ordered by tenant id, then name: %s/%s before %s/%s", all[i-1].TenantID, all[i-1].Name, all[i].TenantID, all[i].Name)
		}
	}
	if l, err := s.ListAPIs(ctx, newID()); err != nil || len(l) != 0 {
		t.Fatalf("ListAPIs of an unknown tenant = %v, %v; want an empty list", l, err)
	}

	_, err = s.CreateAPI(ctx, fullAPI(tn.ID, "billing"))
	wantErr(t, err, store.ErrConflict, "billing")
	_, err = s.CreateAPI(ctx, fullAPI(newID(), "x"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetAPI(ctx, tn.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "nope")

	// A full replace moves the revision and keeps nothing of the old document.
	u := created
	u.Description = ""
	u.Match.Methods = nil
	u.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: tn.ID}}, Audiences: []string{"api://orders"}}}}
	u.UpdatedAt = base.Add(3e9)
	updated, err := s.UpdateAPI(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Revision <= created.Revision || updated.Revision != revision(t, s) {
		t.Fatalf("updated revision %d (created %d, store %d)", updated.Revision, created.Revision, revision(t, s))
	}
	got, err = s.GetAPI(ctx, tn.ID, "billing")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "API after update", got, normAPI(u, updated.Revision))
	missing := fullAPI(tn.ID, "missing")
	_, err = s.UpdateAPI(ctx, missing)
	wantErr(t, err, store.ErrNotFound, "missing")

	if err := s.DeleteAPI(ctx, tn.ID, "billing"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteAPI(ctx, tn.ID, "billing"), store.ErrNotFound, "billing")
	if _, err := s.GetAPI(ctx, tn.ID, "billing"); err == nil {
		t.Fatal("a deleted API is still there")
	}

	// Deleting a tenant deletes its APIs, and the change log says so.
	since := revision(t, s)
	if err := s.DeleteTenant(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListAllAPIs(ctx); len(l) != 1 || l[0].Name != "accounts" || l[0].TenantID != tn.ID {
		t.Fatalf("APIs after deleting a tenant: %+v", l)
	}
	d, ok, err := s.ChangesSince(ctx, since, 100)
	if err != nil || !ok {
		t.Fatalf("ChangesSince = %v, %v", ok, err)
	}
	equal(t, "API changes of a deleted tenant", d.Changes.APIs, []directory.ChangedAPI{{TenantID: other.ID, Name: o.Name}})

	// Changes carry APIs as they are now.
	since = revision(t, s)
	a2 := ca
	a2.Description = "changed"
	a2, err = s.UpdateAPI(ctx, a2)
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err = s.ChangesSince(ctx, since, 100)
	if err != nil || !ok || len(d.Changes.APIs) != 1 || d.Changes.APIs[0].API == nil {
		t.Fatalf("ChangesSince after an update = %+v, %v, %v", d.Changes.APIs, ok, err)
	}
	equal(t, "changed API", *d.Changes.APIs[0].API, a2)

	// Load returns them, and a snapshot indexes them.
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Load APIs", st.APIs, []directory.API{a2})
	snap := directory.NewSnapshot(st.Revision, st.Tenants, st.Applications, st.Grants, st.APIs)
	if p, ok := snap.API(tn.ID, "accounts"); !ok || p.Description != "changed" {
		t.Fatalf("Snapshot.API = %+v, %v", p, ok)
	}
}
