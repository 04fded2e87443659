package declarative

import (
	"encoding/json"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// The server stores references in APIs and connectors by id (a bearer
// issuer's tenant, a connector's tokenIssuance applications) though it
// accepts names; ids differ from one server to another. A document names
// them, so export writes names and plans compare by name.

// names maps the ids of a state's tenants and applications to names.
type names struct {
	tenants map[string]string            // lower-case tenant id → name
	apps    map[string]map[string]string // lower-case tenant name → lower-case appId → display name
}

func newNames(st *State) names {
	n := names{tenants: map[string]string{}, apps: map[string]map[string]string{}}
	for _, t := range st.Tenants {
		n.tenants[strings.ToLower(t.Tenant.ID)] = t.Tenant.Name
		m := map[string]string{}
		for _, a := range t.Applications {
			m[strings.ToLower(a.AppID)] = a.DisplayName
		}
		n.apps[strings.ToLower(t.Tenant.Name)] = m
	}
	return n
}

// deepCopy copies v through its JSON form, so that changing the copy's
// slices never touches the original.
func deepCopy[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out T
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// api returns a with bearer issuers naming tenants by name.
func (n names) api(a directory.API) directory.API {
	a = deepCopy(a)
	for i := range a.Policy.Methods {
		for j := range a.Policy.Methods[i].Issuers {
			is := &a.Policy.Methods[i].Issuers[j]
			if name, ok := n.tenants[strings.ToLower(is.Tenant)]; ok {
				is.Tenant = name
			}
		}
	}
	return a
}

// connector returns c with tokenIssuance naming applications of tenant by
// display name.
func (n names) connector(tenant string, c directory.Connector) directory.Connector {
	c = deepCopy(c)
	if c.TokenIssuance == nil {
		return c
	}
	apps := n.apps[strings.ToLower(tenant)]
	for _, l := range [][]string{c.TokenIssuance.ResourceApps, c.TokenIssuance.ClientApps} {
		for i, ref := range l {
			if name, ok := apps[strings.ToLower(ref)]; ok {
				l[i] = name
			}
		}
	}
	return c
}

// checkIssuerTenants stops a plan whose APIs accept tokens of a tenant
// that does not exist after it (not declared, not on the server, or
// pruned): the server refuses an API naming an unknown tenant, and
// refuses to delete a tenant another tenant's API trusts, so either change
// would fail midway.
func (p *planner) checkIssuerTenants() {
	exists := func(ref string) bool {
		for _, wt := range p.want.Tenants {
			if strings.EqualFold(wt.Name, ref) {
				return true
			}
		}
		for _, ht := range p.have.Tenants {
			if strings.EqualFold(ht.Tenant.Name, ref) || strings.EqualFold(ht.Tenant.ID, ref) {
				return !p.deletedTenants[strings.ToLower(ht.Tenant.Name)]
			}
		}
		return false
	}
	for _, t := range p.want.Tenants {
		for _, a := range t.APIs {
			for i, m := range a.Policy.Methods {
				for j, is := range m.Issuers {
					if is.Tenant != "" && !exists(is.Tenant) {
						p.fail("%s: API %s/%s accepts tokens of tenant %s (policy.methods[%d].issuers[%d].tenant), which will not exist; declare the tenant in the files (or keep it there), or remove it from the API",
							t.at, t.Name, a.Name, is.Tenant, i, j)
					}
				}
			}
		}
	}
}
