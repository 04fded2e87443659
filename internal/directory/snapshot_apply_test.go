package directory

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// model is an in-memory directory with the store's cascades; every write
// reports the objects it changed, as the store's change log does.
type model struct {
	tenants map[string]Tenant
	apps    map[string]Application // key: tenant/appID
	grants  map[string]Grant       // key: tenant/id
	changed map[string]bool        // "t|id", "a|tenant|app", "g|tenant|id"
	seq     int
}

func newModel() *model {
	return &model{tenants: map[string]Tenant{}, apps: map[string]Application{}, grants: map[string]Grant{}, changed: map[string]bool{}}
}

func (m *model) changes(rev int64) Changes {
	c := Changes{Revision: rev}
	keys := make([]string, 0, len(m.changed))
	for k := range m.changed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var kind, tid, id string
		fmt.Sscanf(k, "%1s|", &kind)
		parts := splitN(k[2:])
		switch kind {
		case "t":
			tid = parts[0]
			ch := ChangedTenant{ID: tid}
			if t, ok := m.tenants[tid]; ok {
				ch.Tenant = &t
			}
			c.Tenants = append(c.Tenants, ch)
		case "a":
			tid, id = parts[0], parts[1]
			ch := ChangedApplication{TenantID: tid, AppID: id}
			if a, ok := m.apps[tid+"/"+id]; ok {
				ch.Application = &a
			}
			c.Applications = append(c.Applications, ch)
		case "g":
			tid, id = parts[0], parts[1]
			ch := ChangedGrant{TenantID: tid, ID: id}
			if g, ok := m.grants[tid+"/"+id]; ok {
				ch.Grant = &g
			}
			c.Grants = append(c.Grants, ch)
		}
	}
	clear(m.changed)
	return c
}

func splitN(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (m *model) snapshot(rev int64) *Snapshot {
	var ts []Tenant
	for _, t := range m.tenants {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b Tenant) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var as []Application
	for _, a := range m.apps {
		as = append(as, a)
	}
	var gs []Grant
	for _, g := range m.grants {
		gs = append(gs, g)
	}
	return NewSnapshot(rev, ts, as, gs, nil)
}

func (m *model) pick(r *rand.Rand, kind string) string {
	var keys []string
	switch kind {
	case "t":
		for k := range m.tenants {
			keys = append(keys, k)
		}
	case "a":
		for k := range m.apps {
			keys = append(keys, k)
		}
	case "g":
		for k := range m.grants {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return keys[r.IntN(len(keys))]
}

func (m *model) deleteApp(a Application) {
	delete(m.apps, a.TenantID+"/"+a.AppID)
	m.changed["a|"+a.TenantID+"|"+a.AppID] = true
	for k, g := range m.grants {
		if g.TenantID == a.TenantID && (g.ClientAppID == a.AppID || g.ResourceAppID == a.AppID) {
			delete(m.grants, k)
			m.changed["g|"+g.TenantID+"|"+g.ID] = true
		}
	}
}

// uriTaken reports whether another application of a's tenant holds one of
// a's identifier URIs (the store refuses such a write).
func (m *model) uriTaken(a Application) bool {
	for _, o := range m.apps {
		if o.TenantID != a.TenantID || o.AppID == a.AppID {
			continue
		}
		for _, u := range o.IdentifierURIs {
			for _, v := range a.IdentifierURIs {
				if strings.EqualFold(u, v) {
					return true
				}
			}
		}
	}
	return false
}

func randomRoles(r *rand.Rand) []AppRole {
	var roles []AppRole
	for i := range r.IntN(4) {
		roles = append(roles, AppRole{ID: fmt.Sprint("r", i), Value: fmt.Sprint("Role.", r.IntN(3)), Enabled: r.IntN(4) != 0})
	}
	return roles
}

// step makes one random write: tenants, applications (roles, identifier
// URIs taken from another application, renamed app ids in another case),
// grants (of roles that later go away), and deletes with their cascades.
func (m *model) step(r *rand.Rand) {
	m.seq++
	switch op := r.IntN(10); {
	case op == 0 || len(m.tenants) == 0:
		id := fmt.Sprintf("T%d", m.seq)
		m.tenants[id] = Tenant{ID: id, Name: fmt.Sprint("tenant-", m.seq), CreatedAt: time.Unix(int64(m.seq), 0)}
		m.changed["t|"+id] = true
	case op == 1 && r.IntN(4) == 0:
		tid := m.pick(r, "t")
		delete(m.tenants, tid)
		m.changed["t|"+tid] = true
		for _, a := range m.apps {
			if a.TenantID == tid {
				m.deleteApp(a)
			}
		}
	case op <= 4:
		tid := m.pick(r, "t")
		id := fmt.Sprintf("app%d", m.seq%40) // reuses ids of deleted apps
		if _, ok := m.apps[tid+"/"+id]; ok {
			return
		}
		a := Application{TenantID: tid, AppID: id, DisplayName: id,
			IdentifierURIs: []string{fmt.Sprintf("api://u%d", r.IntN(30))}, AppRoles: randomRoles(r)}
		if m.uriTaken(a) {
			return
		}
		m.apps[tid+"/"+id] = a
		m.changed["a|"+tid+"|"+id] = true
	case op == 5:
		k := m.pick(r, "a")
		if k == "" {
			return
		}
		a := m.apps[k]
		a.AppRoles = randomRoles(r)
		a.IdentifierURIs = []string{fmt.Sprintf("API://U%d", r.IntN(30)), fmt.Sprintf("api://v%d", m.seq)}
		a.DisplayName = fmt.Sprint("renamed-", m.seq)
		if m.uriTaken(a) {
			return
		}
		m.apps[k] = a
		m.changed["a|"+a.TenantID+"|"+a.AppID] = true
	case op == 6:
		k := m.pick(r, "a")
		if k == "" {
			return
		}
		m.deleteApp(m.apps[k])
	case op <= 8:
		c, res := m.pick(r, "a"), m.pick(r, "a")
		if c == "" || m.apps[c].TenantID != m.apps[res].TenantID {
			return
		}
		g := Grant{ID: fmt.Sprint("g", m.seq), TenantID: m.apps[c].TenantID, ClientAppID: m.apps[c].AppID, ResourceAppID: m.apps[res].AppID, AppRoleID: fmt.Sprint("r", r.IntN(4))}
		m.grants[g.TenantID+"/"+g.ID] = g
		m.changed["g|"+g.TenantID+"|"+g.ID] = true
	default:
		k := m.pick(r, "g")
		if k == "" {
			return
		}
		g := m.grants[k]
		delete(m.grants, k)
		m.changed["g|"+g.TenantID+"|"+g.ID] = true
	}
}

// contents flattens what a snapshot answers, for comparison.
func (s *Snapshot) contents() map[string]any {
	out := map[string]any{"revision": s.Revision}
	var ts []string
	for _, t := range s.tenants {
		ts = append(ts, t.ID+"="+t.Name)
	}
	out["tenants"] = ts
	flat := func(name string, get func(func(k string, v any))) {
		m := map[string]any{}
		get(func(k string, v any) { m[k] = v })
		out[name] = m
	}
	flat("appsByID", func(put func(string, any)) {
		for _, sh := range s.appsByID {
			for k, v := range sh {
				put(k, *v)
			}
		}
	})
	flat("appsByURI", func(put func(string, any)) {
		for _, sh := range s.appsByURI {
			for k, v := range sh {
				put(k, v.AppID)
			}
		}
	})
	flat("grants", func(put func(string, any)) {
		for _, sh := range s.grants {
			for k, v := range sh {
				put(k, v)
			}
		}
	})
	flat("pairs", func(put func(string, any)) {
		for _, sh := range s.pairs {
			for k, v := range sh {
				ids := []string{}
				for _, g := range v.grants {
					ids = append(ids, g.ID)
				}
				sort.Strings(ids)
				put(k, fmt.Sprint(ids, v.roles))
			}
		}
	})
	return out
}

func TestSnapshotApply_EqualsAFullRebuildAfterRandomChanges(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 6))
			m := newModel()
			snap := m.snapshot(0)
			rev := int64(0)
			for range 60 {
				// Several writes per reload, as when a node polls.
				for range 1 + r.IntN(4) {
					m.step(r)
				}
				rev++
				before := snap.contents()
				next := snap.Apply(m.changes(rev))
				if got, want := next.contents(), m.snapshot(rev).contents(); !reflect.DeepEqual(got, want) {
					t.Fatalf("revision %d: incremental snapshot differs from a full rebuild:\n got %v\nwant %v", rev, got, want)
				}
				if !reflect.DeepEqual(snap.contents(), before) {
					t.Fatalf("revision %d: Apply modified the previous snapshot", rev)
				}
				snap = next
			}
		})
	}
}

func TestSnapshotApply_RoleRemovedFromResourceLeavesItsGrants(t *testing.T) {
	tn := Tenant{ID: "t1", Name: "contoso"}
	api := Application{TenantID: "t1", AppID: "api", IdentifierURIs: []string{"api://orders"}, AppRoles: []AppRole{{ID: "r1", Value: "Orders.Read", Enabled: true}}}
	client := Application{TenantID: "t1", AppID: "client"}
	s := NewSnapshot(1, []Tenant{tn}, []Application{api, client}, []Grant{{ID: "g1", TenantID: "t1", ClientAppID: "client", ResourceAppID: "api", AppRoleID: "r1"}}, nil)
	if got := s.GrantedRoles("t1", "client", "api"); !slices.Equal(got, []string{"Orders.Read"}) {
		t.Fatalf("before: GrantedRoles = %v", got)
	}
	api.AppRoles = nil
	api.IdentifierURIs = []string{"api://orders-v2"}
	next := s.Apply(Changes{Revision: 2, Applications: []ChangedApplication{{TenantID: "t1", AppID: "api", Application: &api}}})
	if got := next.GrantedRoles("t1", "client", "api"); got != nil {
		t.Errorf("after the role was removed: GrantedRoles = %v; want none", got)
	}
	if _, ok := next.Resource("t1", "api://orders"); ok {
		t.Error("the old identifier URI still names the resource")
	}
	if a, ok := next.Resource("t1", "API://orders-v2"); !ok || a.AppID != "api" {
		t.Error("the new identifier URI does not name the resource")
	}
	if got := s.GrantedRoles("t1", "client", "api"); !slices.Equal(got, []string{"Orders.Read"}) {
		t.Errorf("the previous snapshot changed: GrantedRoles = %v", got)
	}
}

// BenchmarkSnapshotApply measures deriving the next snapshot after one new
// application and one new grant, in directories of 100 and 10,000
// applications (each granted a role of one shared resource), against
// building the snapshot from scratch as every reload did before.
func BenchmarkSnapshotApply(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		tn := Tenant{ID: "t", Name: "contoso"}
		api := Application{TenantID: "t", AppID: "api", IdentifierURIs: []string{"api://orders"}, AppRoles: []AppRole{{ID: "r", Value: "Orders.Read", Enabled: true}}}
		apps := []Application{api}
		var grants []Grant
		for i := range n {
			id := fmt.Sprint("app", i)
			apps = append(apps, Application{TenantID: "t", AppID: id, IdentifierURIs: []string{"api://" + id}})
			grants = append(grants, Grant{ID: "g" + id, TenantID: "t", ClientAppID: id, ResourceAppID: "api", AppRoleID: "r"})
		}
		snap := NewSnapshot(1, []Tenant{tn}, apps, grants, nil)
		b.Run(fmt.Sprint("apply/apps=", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				id := fmt.Sprint("new", i)
				a := Application{TenantID: "t", AppID: id, IdentifierURIs: []string{"api://" + id}}
				g := Grant{ID: "g" + id, TenantID: "t", ClientAppID: id, ResourceAppID: "api", AppRoleID: "r"}
				snap.Apply(Changes{Revision: 2, Applications: []ChangedApplication{{TenantID: "t", AppID: id, Application: &a}}, Grants: []ChangedGrant{{TenantID: "t", ID: g.ID, Grant: &g}}})
			}
		})
		b.Run(fmt.Sprint("rebuild/apps=", n), func(b *testing.B) {
			for b.Loop() {
				NewSnapshot(2, []Tenant{tn}, apps, grants, nil)
			}
		})
	}
}
