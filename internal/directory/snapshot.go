package directory

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Snapshot is an immutable, indexed view of the whole directory at one store
// revision. Readers share it without locks; a change produces a new Snapshot,
// either from scratch (NewSnapshot) or from the previous one and the objects
// that changed (Apply), which shares every part the change did not touch.
type Snapshot struct {
	Revision int64

	tenantsByID   map[string]*Tenant // key: lower-case id
	tenantsByName map[string]*Tenant // key: lower-case name
	tenants       []Tenant           // ordered by creation time, then id
	appsByID      shards[*Application]
	appsByURI     shards[*Application]
	grants        shards[Grant]      // key: tenantID/grantID
	pairs         shards[*grantPair] // key: tenantID/client/resource (as granted)
	apis          []API              // ordered by tenant id, then name
	apisByKey     map[string]*API    // key: tenantID/name
	connectors    []Connector        // ordered by tenant id, then name
	connByKey     map[string]*Connector
	connByApp     map[string]*Connector // key: tenantID/appID of tokenIssuance
}

// grantPair is every grant of one client to one resource, and the values of
// the enabled roles they grant, sorted and deduplicated.
type grantPair struct {
	grants []Grant
	roles  []string
}

func appKey(tenantID, appID string) string   { return tenantID + "/" + strings.ToLower(appID) }
func uriKey(tenantID, uri string) string     { return tenantID + "/" + strings.ToLower(uri) }
func grantKey(tenantID, id string) string    { return tenantID + "/" + id }
func pairKey(g Grant) string                 { return g.TenantID + "/" + g.ClientAppID + "/" + g.ResourceAppID }
func resourceKey(tenantID, id string) string { return tenantID + "/" + id }

// NewSnapshot indexes the given directory contents; it copies the tenants,
// applications, grants and APIs, so the caller may reuse them. Grants whose
// role no longer exists or is disabled are left out of GrantedRoles.
func NewSnapshot(revision int64, tenants []Tenant, apps []Application, grants []Grant, apis []API) *Snapshot {
	s := &Snapshot{Revision: revision}
	s.setTenants(slices.Clone(tenants))
	s.setAPIs(slices.Clone(apis))
	copies := slices.Clone(apps)
	b := s.edit()
	for i := range copies {
		b.putApplication(&copies[i])
	}
	for _, g := range grants {
		b.putGrant(g)
	}
	b.finish()
	return s
}

// Apply returns the snapshot at c.Revision: s with the objects of c replaced
// or removed. It reads and copies only what c touches (the index shards that
// hold a changed key, the grants of a changed client and resource pair), so
// its cost is proportional to the change, not to the directory; s is not
// modified and stays valid for its readers. c must name every object that
// changed since s.Revision, cascades included (the applications and grants of
// a deleted tenant, the grants of a deleted application), as the store's
// change log does. A resource whose app roles changed has its grants
// re-evaluated by scanning the grant pairs: rare, and still no re-index.
func (s *Snapshot) Apply(c Changes) *Snapshot {
	n := *s
	n.Revision = c.Revision
	if len(c.Tenants) > 0 {
		byID := make(map[string]Tenant, len(s.tenants))
		for _, t := range s.tenants {
			byID[strings.ToLower(t.ID)] = t
		}
		for _, tc := range c.Tenants {
			if tc.Tenant == nil {
				delete(byID, strings.ToLower(tc.ID))
			} else {
				byID[strings.ToLower(tc.Tenant.ID)] = *tc.Tenant
			}
		}
		ts := make([]Tenant, 0, len(byID))
		for _, t := range byID {
			ts = append(ts, t)
		}
		slices.SortFunc(ts, func(a, b Tenant) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		n.setTenants(ts)
	}
	b := n.edit()
	for _, ac := range c.Applications {
		if ac.Application == nil {
			b.removeApplication(ac.TenantID, ac.AppID)
			continue
		}
		a := *ac.Application
		b.putApplication(&a)
	}
	for _, gc := range c.Grants {
		if gc.Grant == nil {
			b.removeGrant(gc.TenantID, gc.ID)
		} else {
			b.putGrant(*gc.Grant)
		}
	}
	b.finish()
	if len(c.APIs) > 0 {
		// APIs are few next to applications: the list is rebuilt.
		byKey := make(map[string]API, len(s.apis)+len(c.APIs))
		for _, a := range s.apis {
			byKey[apiKey(a.TenantID, a.Name)] = a
		}
		for _, ac := range c.APIs {
			if ac.API == nil {
				delete(byKey, apiKey(ac.TenantID, ac.Name))
			} else {
				byKey[apiKey(ac.API.TenantID, ac.API.Name)] = *ac.API
			}
		}
		apis := make([]API, 0, len(byKey))
		for _, a := range byKey {
			apis = append(apis, a)
		}
		n.setAPIs(apis)
	}
	if len(c.Connectors) > 0 {
		byKey := make(map[string]Connector, len(s.connectors)+len(c.Connectors))
		for _, x := range s.connectors {
			byKey[apiKey(x.TenantID, x.Name)] = x
		}
		for _, cc := range c.Connectors {
			if cc.Connector == nil {
				delete(byKey, apiKey(cc.TenantID, cc.Name))
			} else {
				byKey[apiKey(cc.Connector.TenantID, cc.Connector.Name)] = *cc.Connector
			}
		}
		cs := make([]Connector, 0, len(byKey))
		for _, x := range byKey {
			cs = append(cs, x)
		}
		n.setConnectors(cs)
	}
	return &n
}

// WithConnectors returns a copy of s that holds the given connectors (of
// every tenant) instead of its own; the caller may reuse the slice.
func (s *Snapshot) WithConnectors(cs []Connector) *Snapshot {
	n := *s
	n.setConnectors(slices.Clone(cs))
	return &n
}

// setConnectors sorts cs (which it keeps) and indexes them.
func (s *Snapshot) setConnectors(cs []Connector) {
	slices.SortFunc(cs, func(a, b Connector) int {
		if c := cmp.Compare(a.TenantID, b.TenantID); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	s.connectors = cs
	s.connByKey = make(map[string]*Connector, len(cs))
	s.connByApp = map[string]*Connector{}
	for i := range s.connectors {
		c := &s.connectors[i]
		s.connByKey[apiKey(c.TenantID, c.Name)] = c
		if ti := c.TokenIssuance; ti != nil {
			for _, id := range append(slices.Clip(ti.ResourceApps), ti.ClientApps...) {
				s.connByApp[appKey(strings.ToLower(c.TenantID), id)] = c
			}
		}
	}
}

// Connectors returns the connectors of every tenant ordered by tenant id,
// then name; the slice is shared and must not be modified.
func (s *Snapshot) Connectors() []Connector { return s.connectors }

// Connector finds a connector of the tenant by its name.
func (s *Snapshot) Connector(tenantID, name string) (*Connector, bool) {
	c, ok := s.connByKey[apiKey(tenantID, name)]
	return c, ok
}

// TokenIssuanceConnector finds the connector attached to the application
// appID of the tenant (as a resource or as a client) by its tokenIssuance;
// an application has at most one.
func (s *Snapshot) TokenIssuanceConnector(tenantID, appID string) (*Connector, bool) {
	c, ok := s.connByApp[appKey(strings.ToLower(tenantID), appID)]
	return c, ok
}

func apiKey(tenantID, name string) string { return strings.ToLower(tenantID) + "/" + name }

// setAPIs sorts apis (which it keeps) and indexes them.
func (s *Snapshot) setAPIs(apis []API) {
	slices.SortFunc(apis, func(a, b API) int {
		if c := cmp.Compare(a.TenantID, b.TenantID); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	s.apis = apis
	s.apisByKey = make(map[string]*API, len(apis))
	for i := range s.apis {
		s.apisByKey[apiKey(s.apis[i].TenantID, s.apis[i].Name)] = &s.apis[i]
	}
}

// APIs returns the APIs of every tenant ordered by tenant id, then name;
// the slice is shared and must not be modified.
func (s *Snapshot) APIs() []API { return s.apis }

// API finds an API of the tenant by its name.
func (s *Snapshot) API(tenantID, name string) (*API, bool) {
	a, ok := s.apisByKey[apiKey(tenantID, name)]
	return a, ok
}

func (s *Snapshot) setTenants(ts []Tenant) {
	s.tenants = ts
	s.tenantsByID = make(map[string]*Tenant, len(ts))
	s.tenantsByName = make(map[string]*Tenant, len(ts))
	for i := range s.tenants {
		t := &s.tenants[i]
		s.tenantsByID[strings.ToLower(t.ID)] = t
		s.tenantsByName[strings.ToLower(t.Name)] = t
	}
}

// editor changes a snapshot under construction copy-on-write: every shard is
// cloned before its first write, so shards shared with another snapshot are
// never modified.
type editor struct {
	s         *Snapshot
	appsByID  cow[*Application]
	appsByURI cow[*Application]
	grants    cow[Grant]
	pairs     cow[*grantPair]
	// dirtyPairs are the pairs whose grants changed; rolesChanged the
	// resources (tenantID/appID as granted) whose app roles did.
	dirtyPairs   map[string]bool
	rolesChanged map[string]bool
}

func (s *Snapshot) edit() *editor {
	return &editor{
		s:            s,
		appsByID:     cow[*Application]{m: &s.appsByID},
		appsByURI:    cow[*Application]{m: &s.appsByURI},
		grants:       cow[Grant]{m: &s.grants},
		pairs:        cow[*grantPair]{m: &s.pairs},
		dirtyPairs:   make(map[string]bool),
		rolesChanged: make(map[string]bool),
	}
}

func (e *editor) putApplication(a *Application) {
	old := e.removeApplication(a.TenantID, a.AppID)
	e.appsByID.put(appKey(a.TenantID, a.AppID), a)
	for _, u := range a.IdentifierURIs {
		e.appsByURI.put(uriKey(a.TenantID, u), a)
	}
	// A new application's grants, and those of a deleted one, arrive as
	// grant changes of their own; only a resource's changed roles re-value
	// grants that did not change.
	if old != nil && !slices.Equal(old.AppRoles, a.AppRoles) {
		e.rolesChanged[resourceKey(a.TenantID, a.AppID)] = true
	}
}

// removeApplication removes the application's entries (only those that
// still point at it: another application may have taken one of its
// identifier URIs in the same change) and returns it, or nil.
func (e *editor) removeApplication(tenantID, appID string) *Application {
	k := appKey(tenantID, appID)
	old, ok := e.appsByID.get(k)
	if !ok {
		return nil
	}
	e.appsByID.del(k)
	for _, u := range old.IdentifierURIs {
		uk := uriKey(old.TenantID, u)
		if cur, ok := e.appsByURI.get(uk); ok && cur == old {
			e.appsByURI.del(uk)
		}
	}
	return old
}

func (e *editor) putGrant(g Grant) {
	e.removeGrant(g.TenantID, g.ID)
	e.grants.put(grantKey(g.TenantID, g.ID), g)
	pk := pairKey(g)
	p, _ := e.pairs.get(pk)
	np := &grantPair{}
	if p != nil {
		np.grants = slices.Clone(p.grants)
	}
	np.grants = append(np.grants, g)
	e.pairs.put(pk, np)
	e.dirtyPairs[pk] = true
}

func (e *editor) removeGrant(tenantID, id string) {
	gk := grantKey(tenantID, id)
	old, ok := e.grants.get(gk)
	if !ok {
		return
	}
	e.grants.del(gk)
	pk := pairKey(old)
	p, _ := e.pairs.get(pk)
	if p == nil {
		return
	}
	rest := slices.DeleteFunc(slices.Clone(p.grants), func(g Grant) bool { return g.ID == id })
	if len(rest) == 0 {
		e.pairs.del(pk)
	} else {
		e.pairs.put(pk, &grantPair{grants: rest})
	}
	e.dirtyPairs[pk] = true
}

// finish recomputes the granted role values of the pairs whose grants or
// whose resource's roles changed.
func (e *editor) finish() {
	if len(e.rolesChanged) > 0 {
		for _, shard := range e.s.pairs {
			for pk, p := range shard {
				g := p.grants[0]
				if e.rolesChanged[resourceKey(g.TenantID, g.ResourceAppID)] {
					e.dirtyPairs[pk] = true
				}
			}
		}
	}
	for pk := range e.dirtyPairs {
		p, ok := e.pairs.get(pk)
		if !ok {
			continue
		}
		np := &grantPair{grants: p.grants, roles: e.s.roleValues(p.grants)}
		e.pairs.put(pk, np)
	}
}

// roleValues returns the values of the enabled roles that grants (all of one
// client and resource) grant, sorted and deduplicated; nil when none.
func (s *Snapshot) roleValues(grants []Grant) []string {
	g := grants[0]
	res, ok := s.appsByID.get(appKey(g.TenantID, g.ResourceAppID))
	if !ok {
		return nil
	}
	var out []string
	for _, g := range grants {
		for _, r := range res.AppRoles {
			if r.ID == g.AppRoleID && r.Enabled {
				out = append(out, r.Value)
			}
		}
	}
	if out == nil {
		return nil
	}
	sort.Strings(out)
	return dedupe(out)
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Tenants returns all tenants; the slice is shared and must not be modified.
func (s *Snapshot) Tenants() []Tenant { return s.tenants }

// Tenant finds a tenant by id (any case) or by name (any case).
func (s *Snapshot) Tenant(idOrName string) (*Tenant, bool) {
	k := strings.ToLower(idOrName)
	if t, ok := s.tenantsByID[k]; ok {
		return t, true
	}
	t, ok := s.tenantsByName[k]
	return t, ok
}

// Application finds an application of the tenant by its appId (client id).
func (s *Snapshot) Application(tenantID, appID string) (*Application, bool) {
	return s.appsByID.get(appKey(tenantID, appID))
}

// Resource finds the application a scope names: by identifier URI (any case)
// or by appId.
func (s *Snapshot) Resource(tenantID, identifier string) (*Application, bool) {
	if a, ok := s.appsByURI.get(uriKey(tenantID, identifier)); ok {
		return a, true
	}
	return s.Application(tenantID, identifier)
}

// GrantedRoles returns the values of the enabled app roles of resource granted
// to client, sorted; nil when none.
func (s *Snapshot) GrantedRoles(tenantID, clientAppID, resourceAppID string) []string {
	p, ok := s.pairs.get(tenantID + "/" + clientAppID + "/" + resourceAppID)
	if !ok {
		return nil
	}
	return p.roles
}
