package storetest

import (
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/store"
)

// fullConnector returns a connector with every field set; appID is the
// application its tokenIssuance names.
func fullConnector(tenantID, name, appID string) directory.Connector {
	return directory.Connector{
		TenantID:    tenantID,
		Name:        name,
		Description: "Adds the department",
		Endpoint:    "https://hr.example.test/enrich?v=2",
		Authentication: outbound.CredentialSpec{
			Type: outbound.TypeBearer,
			ClientCredentials: &outbound.ClientCredentialsSpec{
				Authority: "https://login.example.test/tenant", ClientID: "client-1",
				ClientCertificate: "vault://kv1/certificates/hr-client", Scope: "api://hr/.default",
			},
		},
		TLS: &outbound.TLSSpec{
			CACertificates:      []string{"vault://kv1/certificates/hr-ca"},
			ServerName:          "hr.internal",
			PinnedThumbprints:   []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			SkipChainValidation: false,
		},
		AllowInsecureAuth: true,
		SendClaimsIn:      directory.ClaimsInHeader,
		InputClaims:       []directory.ConnectorClaim{{ClaimType: "appid", PartnerClaimType: "X-App"}},
		OutputClaims:      []directory.ConnectorClaim{{ClaimType: "department"}},
		TimeoutSeconds:    2.5,
		Retries:           2,
		TokenIssuance:     &directory.ConnectorTokenIssuance{ResourceApps: []string{appID}, FailurePolicy: directory.FailOpen},
		CreatedAt:         base,
		UpdatedAt:         base,
	}
}

func normConnector(c directory.Connector, rev int64) directory.Connector {
	c.CreatedAt, c.UpdatedAt, c.Revision = ts(c.CreatedAt), ts(c.UpdatedAt), rev
	return c
}

func testConnectors(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	appID := newID()

	h := fullConnector(tn.ID, "hr", appID)
	created, err := s.CreateConnector(ctx, h)
	if err != nil {
		t.Fatalf("CreateConnector: %v", err)
	}
	if r := revision(t, s); created.Revision != r {
		t.Fatalf("created connector at revision %d, store at %d", created.Revision, r)
	}
	equal(t, "created connector", created, normConnector(h, created.Revision))
	got, err := s.GetConnector(ctx, tn.ID, "hr")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "connector read back", got, created)

	a := fullConnector(tn.ID, "audit", appID)
	a.TLS, a.TokenIssuance, a.InputClaims = nil, nil, nil
	ca, err := s.CreateConnector(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateConnector(ctx, fullConnector(other.ID, "audit", appID))
	if err != nil {
		t.Fatalf("the same name in another tenant: %v", err)
	}

	list, err := s.ListConnectors(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListConnectors (by name)", list, []directory.Connector{ca, created})
	all, err := s.ListAllConnectors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("ListAllConnectors = %d connectors, want 3", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].TenantID > all[i].TenantID || all[i-1].TenantID == all[i].TenantID && all[i-1].Name >= all[i].Name {
			t.Fatalf("ListAllConnectors not ordered by tenant id, then name: %s/%s before %s/%s", all[i-1].TenantID, all[i-1].Name, all[i].TenantID, all[i].Name)
		}
	}
	if l, err := s.ListConnectors(ctx, newID()); err != nil || len(l) != 0 {
		t.Fatalf("ListConnectors of an unknown tenant = %v, %v; want an empty list", l, err)
	}

	_, err = s.CreateConnector(ctx, fullConnector(tn.ID, "hr", appID))
	wantErr(t, err, store.ErrConflict, "hr")
	_, err = s.CreateConnector(ctx, fullConnector(newID(), "x", appID))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetConnector(ctx, tn.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "nope")

	// A full replace moves the revision and keeps nothing of the old document.
	u := created
	u.Description = ""
	u.TLS = nil
	u.Authentication = outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "portcullis", Password: "vault://kv1/secrets/hr-password"}
	u.TokenIssuance = nil
	u.UpdatedAt = base.Add(3e9)
	updated, err := s.UpdateConnector(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Revision <= created.Revision || updated.Revision != revision(t, s) {
		t.Fatalf("updated revision %d (created %d, store %d)", updated.Revision, created.Revision, revision(t, s))
	}
	got, err = s.GetConnector(ctx, tn.ID, "hr")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "connector after update", got, normConnector(u, updated.Revision))
	_, err = s.UpdateConnector(ctx, fullConnector(tn.ID, "missing", appID))
	wantErr(t, err, store.ErrNotFound, "missing")

	if err := s.DeleteConnector(ctx, tn.ID, "hr"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteConnector(ctx, tn.ID, "hr"), store.ErrNotFound, "hr")
	if _, err := s.GetConnector(ctx, tn.ID, "hr"); err == nil {
		t.Fatal("a deleted connector is still there")
	}

	// Deleting a tenant deletes its connectors, and the change log says so.
	since := revision(t, s)
	if err := s.DeleteTenant(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListAllConnectors(ctx); len(l) != 1 || l[0].Name != "audit" || l[0].TenantID != tn.ID {
		t.Fatalf("connectors after deleting a tenant: %+v", l)
	}
	d, ok, err := s.ChangesSince(ctx, since, 100)
	if err != nil || !ok {
		t.Fatalf("ChangesSince = %v, %v", ok, err)
	}
	equal(t, "connector changes of a deleted tenant", d.Changes.Connectors, []directory.ChangedConnector{{TenantID: other.ID, Name: o.Name}})

	// Changes carry connectors as they are now.
	since = revision(t, s)
	a2 := ca
	a2.Description = "changed"
	a2.TokenIssuance = &directory.ConnectorTokenIssuance{ClientApps: []string{appID}, FailurePolicy: directory.FailClosed}
	a2, err = s.UpdateConnector(ctx, a2)
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err = s.ChangesSince(ctx, since, 100)
	if err != nil || !ok || len(d.Changes.Connectors) != 1 || d.Changes.Connectors[0].Connector == nil {
		t.Fatalf("ChangesSince after an update = %+v, %v, %v", d.Changes.Connectors, ok, err)
	}
	equal(t, "changed connector", *d.Changes.Connectors[0].Connector, a2)

	// Load returns them, and a snapshot indexes them, by name and by the
	// application they are attached to.
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Load connectors", st.Connectors, []directory.Connector{a2})
	snap := directory.NewSnapshot(st.Revision, st.Tenants, st.Applications, st.Grants, st.APIs).WithConnectors(st.Connectors)
	if p, ok := snap.Connector(tn.ID, "audit"); !ok || p.Description != "changed" {
		t.Fatalf("Snapshot.Connector = %+v, %v", p, ok)
	}
	if p, ok := snap.TokenIssuanceConnector(tn.ID, appID); !ok || p.Name != "audit" {
		t.Fatalf("Snapshot.TokenIssuanceConnector = %+v, %v", p, ok)
	}
	if _, ok := snap.TokenIssuanceConnector(other.ID, appID); ok {
		t.Fatal("TokenIssuanceConnector found a connector of another tenant")
	}
}
