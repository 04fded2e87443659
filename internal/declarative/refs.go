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
