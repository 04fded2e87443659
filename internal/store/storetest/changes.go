package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// testChangesSince makes random directory writes (tenants created and
// deleted, applications created, updated with new roles and identifier URIs
// taken over from others, deleted with their grants, grants of roles that
// later go away, APIs and connectors created, replaced and deleted) and checks after each batch that the snapshot derived
// with ChangesSince from the previous one answers exactly as a snapshot of
// a full Load at the same revision.
func testChangesSince(t *testing.T, s Backend) {
	r := rand.New(rand.NewPCG(1, 2))
	full := func() *directory.Snapshot {
		st, err := s.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return directory.NewSnapshot(st.Revision, st.Tenants, st.Applications, st.Grants, st.APIs).WithConnectors(st.Connectors)
	}
	var tenants []string
	var apps [][2]string // tenant, app id; deleted ones stay, to check they are gone
	uris := []string{}
	for i := range 12 {
		uris = append(uris, fmt.Sprintf("api://shared-%d", i))
	}
	roles := func() []directory.AppRole {
		var out []directory.AppRole
		for i := range r.IntN(3) {
			out = append(out, directory.AppRole{ID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), Value: fmt.Sprint("Role.", r.IntN(3)), Enabled: r.IntN(4) != 0})
		}
		return out
	}
	tolerate := func(err error) {
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("write: %v", err)
		}
	}
	snap := full()
	for round := range 25 {
		for range 1 + r.IntN(5) {
			switch op := r.IntN(16); {
			case op >= 13 && len(tenants) > 0:
				// Connectors: created, replaced or deleted, some in
				// tenants that are deleted later.
				appID := newID()
				if len(apps) > 0 {
					appID = apps[r.IntN(len(apps))][1]
				}
				c := fullConnector(tenants[r.IntN(len(tenants))], fmt.Sprint("connector-", r.IntN(4)), appID)
				switch op {
				case 13:
					_, err := s.CreateConnector(ctx, c)
					tolerate(err)
				case 14:
					c.Description = fmt.Sprint("round ", round)
					_, err := s.UpdateConnector(ctx, c)
					tolerate(err)
				default:
					tolerate(s.DeleteConnector(ctx, c.TenantID, c.Name))
				}
			case op >= 10 && len(tenants) > 0:
				// APIs: created, replaced or deleted, some in tenants
				// that are deleted later.
				api := fullAPI(tenants[r.IntN(len(tenants))], fmt.Sprint("api-", r.IntN(4)))
				switch op {
				case 10:
					_, err := s.CreateAPI(ctx, api)
					tolerate(err)
				case 11:
					api.Description = fmt.Sprint("round ", round)
					_, err := s.UpdateAPI(ctx, api)
					tolerate(err)
				default:
					tolerate(s.DeleteAPI(ctx, api.TenantID, api.Name))
				}
			case op == 0 || len(tenants) == 0:
				tn := tenant(fmt.Sprint("t", round, "-", r.Int()), base)
				tolerate(s.CreateTenant(ctx, tn))
				tenants = append(tenants, tn.ID)
			case op == 1 && r.IntN(3) == 0:
				tolerate(s.DeleteTenant(ctx, tenants[r.IntN(len(tenants))]))
			case op <= 4:
				a := minimalApp(tenants[r.IntN(len(tenants))], fmt.Sprint("app-", r.Int()))
				a.IdentifierURIs = []string{uris[r.IntN(len(uris))]}
				a.AppRoles = roles()
				tolerate(s.CreateApplication(ctx, a))
				apps = append(apps, [2]string{a.TenantID, a.AppID})
			case op == 5 && len(apps) > 0:
				k := apps[r.IntN(len(apps))]
				_, err := s.UpdateApplication(ctx, k[0], k[1], func(a *directory.Application) error {
					a.AppRoles = roles()
					a.IdentifierURIs = []string{uris[r.IntN(len(uris))]}
					return nil
				})
				tolerate(err)
			case op == 6 && len(apps) > 0:
				k := apps[r.IntN(len(apps))]
				tolerate(s.DeleteApplication(ctx, k[0], k[1]))
			case op <= 8 && len(apps) > 0:
				c, res := apps[r.IntN(len(apps))], apps[r.IntN(len(apps))]
				tolerate(s.CreateGrant(ctx, directory.Grant{ID: newID(), TenantID: c[0], ClientAppID: c[1], ResourceAppID: res[1],
					AppRoleID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", r.IntN(3)), CreatedAt: base}))
			case len(tenants) > 0:
				gs, err := s.ListGrants(ctx, tenants[r.IntN(len(tenants))])
				if err != nil {
					t.Fatal(err)
				}
				if len(gs) > 0 {
					g := gs[r.IntN(len(gs))]
					tolerate(s.DeleteGrant(ctx, g.TenantID, g.ID))
				}
			}
		}
		d, ok, err := s.ChangesSince(ctx, snap.Revision, 1000)
		if err != nil || !ok {
			t.Fatalf("round %d: ChangesSince(%d) = %v, %v; want a delta", round, snap.Revision, ok, err)
		}
		next := snap.Apply(d.Changes)
		want := full()
		if next.Revision != want.Revision {
			t.Fatalf("round %d: delta at revision %d, Load at %d (no writes in between)", round, next.Revision, want.Revision)
		}
		sameAnswers(t, fmt.Sprint("round ", round), next, want, apps, uris)
		snap = next
	}
}

// sameAnswers fails unless got and want answer every lookup the same way:
// tenants, applications (those that exist and those deleted), resources by
// identifier URI, and granted roles for every client and resource pair.
func sameAnswers(t *testing.T, what string, got, want *directory.Snapshot, apps [][2]string, uris []string) {
	t.Helper()
	equal(t, what+": tenants", got.Tenants(), want.Tenants())
	equal(t, what+": APIs", got.APIs(), want.APIs())
	equal(t, what+": connectors", got.Connectors(), want.Connectors())
	for _, a := range apps {
		gc, gok := got.TokenIssuanceConnector(a[0], a[1])
		wc, wok := want.TokenIssuanceConnector(a[0], a[1])
		if gok != wok || gok && gc.Name != wc.Name {
			t.Fatalf("%s: TokenIssuanceConnector(%s, %s): got %v %v, want %v %v", what, a[0], a[1], gc, gok, wc, wok)
		}
	}
	for _, tn := range want.Tenants() {
		for _, u := range uris {
			ga, gok := got.Resource(tn.ID, u)
			wa, wok := want.Resource(tn.ID, u)
			if gok != wok || (gok && ga.AppID != wa.AppID) {
				t.Fatalf("%s: Resource(%s, %s): got %v %v, want %v %v", what, tn.ID, u, ga, gok, wa, wok)
			}
		}
	}
	for _, k := range apps {
		ga, gok := got.Application(k[0], k[1])
		wa, wok := want.Application(k[0], k[1])
		if gok != wok {
			t.Fatalf("%s: Application(%s): present %v, want %v", what, k[1], gok, wok)
		}
		if gok {
			equal(t, what+": application "+k[1], *ga, *wa)
		}
		for _, res := range apps {
			if res[0] != k[0] {
				continue
			}
			if g, w := got.GrantedRoles(k[0], k[1], res[1]), want.GrantedRoles(k[0], k[1], res[1]); !slices.Equal(g, w) {
				t.Fatalf("%s: GrantedRoles(%s → %s) = %v, want %v", what, k[1], res[1], g, w)
			}
		}
	}
}

func testChangesSinceLimit(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "limits")
	since := revision(t, s)
	for i := range 3 {
		mustApp(t, s, minimalApp(tn.ID, fmt.Sprint("app", i)))
	}
	if _, ok, err := s.ChangesSince(ctx, since, 2); err != nil || ok {
		t.Fatalf("ChangesSince with 3 changed objects and limit 2 = %v, %v; want false (reload everything)", ok, err)
	}
	d, ok, err := s.ChangesSince(ctx, since, 3)
	if err != nil || !ok || len(d.Changes.Applications) != 3 {
		t.Fatalf("ChangesSince with limit 3 = %d applications, %v, %v; want 3", len(d.Changes.Applications), ok, err)
	}
	if _, ok, err := s.ChangesSince(ctx, revision(t, s)+1, 10); err != nil || ok {
		t.Fatalf("ChangesSince from a revision the store has not reached = %v, %v; want false", ok, err)
	}
}
