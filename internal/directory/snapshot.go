package directory

import (
	"sort"
	"strings"
)

// Snapshot is an immutable, indexed view of the whole directory at one store
// revision. Readers share it without locks; a change produces a new Snapshot.
type Snapshot struct {
	Revision int64

	tenantsByID   map[string]*Tenant // key: lower-case id
	tenantsByName map[string]*Tenant // key: lower-case name
	tenants       []Tenant
	apps          []Application
	appsByID      map[string]*Application // key: tenantID + "/" + lower-case appID
	appsByURI     map[string]*Application // key: tenantID + "/" + lower-case identifier URI
	granted       map[string][]string     // key: tenantID/client/resource → role values, sorted
}

// NewSnapshot indexes the given directory contents; it copies the tenant and
// application slices, so the caller may reuse them. Grants whose role no
// longer exists or is disabled are left out of GrantedRoles.
func NewSnapshot(revision int64, tenants []Tenant, apps []Application, grants []Grant) *Snapshot {
	s := &Snapshot{
		Revision:      revision,
		tenantsByID:   make(map[string]*Tenant, len(tenants)),
		tenantsByName: make(map[string]*Tenant, len(tenants)),
		tenants:       append([]Tenant(nil), tenants...),
		apps:          append([]Application(nil), apps...),
		appsByID:      make(map[string]*Application, len(apps)),
		appsByURI:     make(map[string]*Application, len(apps)),
		granted:       make(map[string][]string),
	}
	for i := range s.tenants {
		t := &s.tenants[i]
		s.tenantsByID[strings.ToLower(t.ID)] = t
		s.tenantsByName[strings.ToLower(t.Name)] = t
	}
	for i := range s.apps {
		a := &s.apps[i]
		s.appsByID[a.TenantID+"/"+strings.ToLower(a.AppID)] = a
		for _, u := range a.IdentifierURIs {
			s.appsByURI[a.TenantID+"/"+strings.ToLower(u)] = a
		}
	}
	for _, g := range grants {
		res, ok := s.appsByID[g.TenantID+"/"+strings.ToLower(g.ResourceAppID)]
		if !ok {
			continue
		}
		for _, r := range res.AppRoles {
			if r.ID == g.AppRoleID && r.Enabled {
				k := g.TenantID + "/" + g.ClientAppID + "/" + g.ResourceAppID
				s.granted[k] = append(s.granted[k], r.Value)
			}
		}
	}
	for k, v := range s.granted {
		sort.Strings(v)
		s.granted[k] = dedupe(v)
	}
	return s
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
	a, ok := s.appsByID[tenantID+"/"+strings.ToLower(appID)]
	return a, ok
}

// Resource finds the application a scope names: by identifier URI (any case)
// or by appId.
func (s *Snapshot) Resource(tenantID, identifier string) (*Application, bool) {
	if a, ok := s.appsByURI[tenantID+"/"+strings.ToLower(identifier)]; ok {
		return a, true
	}
	return s.Application(tenantID, identifier)
}

// GrantedRoles returns the values of the enabled app roles of resource granted
// to client, sorted; nil when none.
func (s *Snapshot) GrantedRoles(tenantID, clientAppID, resourceAppID string) []string {
	return s.granted[tenantID+"/"+clientAppID+"/"+resourceAppID]
}
