package directory

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/store"
)

// APIs returns the APIs of the tenant named by tenantRef, ordered by name.
func (s *Service) APIs(ctx context.Context, tenantRef string) ([]API, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return nil, err
	}
	return s.st.ListAPIs(ctx, t.ID)
}

// API finds an API by name in the tenant named by tenantRef.
func (s *Service) API(ctx context.Context, tenantRef, name string) (API, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return API{}, err
	}
	return getAPI(ctx, s.st, t, name)
}

func getAPI(ctx context.Context, tx Tx, t Tenant, name string) (API, error) {
	api, err := tx.GetAPI(ctx, t.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return API{}, notFound("tenant %s has no API named %q; list them with GET %s/tenants/%s/apis", t.Name, clip(name), adminAPI, t.Name)
	}
	return api, err
}

// CreateAPI adds an API to the tenant named by tenantRef. The read-only
// fields of api (TenantID, Revision, CreatedAt, UpdatedAt) are ignored.
// Names are unique in a tenant, and no two APIs of the installation may
// match the same requests (see overlap).
func (s *Service) CreateAPI(ctx context.Context, tenantRef string, api API) (API, error) {
	api, err := normalizeAPI(api)
	if err != nil {
		return API{}, err
	}
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return API{}, err
	}
	refs := APIReferences(api)
	if err := s.addReferences(ctx, t.ID, APIReferrer(t.Name, api.Name), refs); err != nil {
		_ = s.settleAPIReferences(ctx, t, api.Name, refs)
		return API{}, err
	}
	var out API
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		if existing, err := tx.GetAPI(ctx, t.ID, api.Name); err == nil {
			return conflict("tenant %s already has an API named %q (revision %d); choose another name, or replace it with PUT %s/tenants/%s/apis/%s", t.Name, existing.Name, existing.Revision, adminAPI, t.Name, existing.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.prepareAPI(ctx, tx, t, &api); err != nil {
			return err
		}
		now := s.now()
		api.CreatedAt, api.UpdatedAt = now, now
		out, err = tx.CreateAPI(ctx, api)
		return err
	})
	_ = s.settleAPIReferences(ctx, t, api.Name, refs)
	if err != nil {
		return API{}, keepErr("create API", err)
	}
	return out, nil
}

// UpdateAPI replaces the API named name in the tenant named by tenantRef
// with api (whose Name must be name or empty: an API cannot be renamed).
// When expectedRevision is not zero, the API's current revision must equal
// it (an If-Match), else the refusal is of kind PreconditionFailed.
func (s *Service) UpdateAPI(ctx context.Context, tenantRef, name string, api API, expectedRevision int64) (API, error) {
	if api.Name == "" {
		api.Name = name
	}
	if api.Name != name {
		return API{}, invalid("field \"name\" is %q but the path names %q; an API cannot be renamed: create %q and delete %q", clip(api.Name), clip(name), clip(api.Name), clip(name))
	}
	api, err := normalizeAPI(api)
	if err != nil {
		return API{}, err
	}
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return API{}, err
	}
	refs := APIReferences(api)
	if err := s.addReferences(ctx, t.ID, APIReferrer(t.Name, api.Name), refs); err != nil {
		_ = s.settleAPIReferences(ctx, t, api.Name, refs)
		return API{}, err
	}
	var out API
	var old []VaultReference
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		cur, err := getAPI(ctx, tx, t, name)
		if err != nil {
			return err
		}
		old = APIReferences(cur)
		if expectedRevision != 0 && cur.Revision != expectedRevision {
			return newError(PreconditionFailed, "API %q is at revision %d, not %d: it changed since you read it; read it again and reapply your change", cur.Name, cur.Revision, expectedRevision)
		}
		if err := s.prepareAPI(ctx, tx, t, &api); err != nil {
			return err
		}
		api.CreatedAt, api.UpdatedAt = cur.CreatedAt, s.now()
		out, err = tx.UpdateAPI(ctx, api)
		return err
	})
	_ = s.settleAPIReferences(ctx, t, api.Name, append(old, refs...))
	if err != nil {
		return API{}, keepErr("update API", err)
	}
	return out, nil
}

// DeleteAPI removes an API and releases its vault references. A non-zero
// expectedRevision must be the API's current revision (an If-Match), or
// nothing is deleted (PreconditionFailed).
func (s *Service) DeleteAPI(ctx context.Context, tenantRef, name string, expectedRevision int64) error {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return err
	}
	var old []VaultReference
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		cur, err := getAPI(ctx, tx, t, name)
		if err != nil {
			return err
		}
		if expectedRevision != 0 && cur.Revision != expectedRevision {
			return newError(PreconditionFailed, "API %q is at revision %d, not %d: it changed since you read it; read it again before deleting it", cur.Name, cur.Revision, expectedRevision)
		}
		old = APIReferences(cur)
		return tx.DeleteAPI(ctx, t.ID, name)
	})
	_ = s.settleAPIReferences(ctx, t, name, old)
	return keepErr("delete API", err)
}

// prepareAPI completes a normalized API inside the transaction: its
// tenant, bearer issuers naming a tenant resolved to its id, and the check
// that no other API matches the same requests.
func (s *Service) prepareAPI(ctx context.Context, tx Tx, t Tenant, api *API) error {
	api.TenantID = t.ID
	api.Policy = clonePolicy(api.Policy)
	var tenants []Tenant
	for i := range api.Policy.Methods {
		m := &api.Policy.Methods[i]
		for j := range m.Issuers {
			is := &m.Issuers[j]
			if is.Tenant == "" {
				continue
			}
			if tenants == nil {
				var err error
				if tenants, err = tx.ListTenants(ctx); err != nil {
					return err
				}
			}
			found := false
			for _, o := range tenants {
				if strings.EqualFold(o.ID, is.Tenant) || strings.EqualFold(o.Name, is.Tenant) {
					is.Tenant, found = o.ID, true
					break
				}
			}
			if !found {
				return notFound("field \"policy.methods[%d].issuers[%d].tenant\": there is no tenant with id or name %q; list them with GET %s/tenants", i, j, clip(is.Tenant), adminAPI)
			}
		}
	}
	all, err := tx.ListAllAPIs(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.TenantID == api.TenantID && o.Name == api.Name {
			continue
		}
		if overlap(api.Match, o.Match) {
			owner := o.TenantID
			if ot, ok := findTenant(tenants, o.TenantID); ok {
				owner = ot.Name
			} else if ts, err := tx.ListTenants(ctx); err == nil {
				if ot, ok := findTenant(ts, o.TenantID); ok {
					owner = ot.Name
				}
			}
			return conflict("API %q of tenant %s matches the same requests (hosts %s, path prefix %q, methods %s); give this API another path prefix, host or methods, or change that one",
				o.Name, owner, hostsText(o.Match.Hosts), o.Match.PathPrefix, methodsText(o.Match.Methods))
		}
	}
	return nil
}

func findTenant(ts []Tenant, id string) (Tenant, bool) {
	for _, t := range ts {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}

// overlap reports whether two matches would claim the same requests with
// the same specificity: the same path prefix, a host in common (or both
// for any host) and a method in common (an empty list is every method).
// An exact host and a wildcard, or a host and any host, do not overlap:
// the more specific one wins.
func overlap(a, b APIMatch) bool {
	if a.PathPrefix != b.PathPrefix {
		return false
	}
	hosts := len(a.Hosts) == 0 && len(b.Hosts) == 0
	for _, h := range a.Hosts {
		if slices.Contains(b.Hosts, h) {
			hosts = true
			break
		}
	}
	if !hosts {
		return false
	}
	if len(a.Methods) == 0 || len(b.Methods) == 0 {
		return true
	}
	for _, m := range a.Methods {
		if slices.Contains(b.Methods, m) {
			return true
		}
	}
	return false
}

func hostsText(h []string) string {
	if len(h) == 0 {
		return "any"
	}
	return strings.Join(h, ", ")
}

func methodsText(m []string) string {
	if len(m) == 0 {
		return "any"
	}
	return strings.Join(m, ", ")
}

// clonePolicy deep-copies the slices of a policy so that the stored API
// never shares memory with the caller's.
func clonePolicy(p guard.PolicySpec) guard.PolicySpec {
	p.Methods = slices.Clone(p.Methods)
	for i := range p.Methods {
		m := &p.Methods[i]
		m.Users = slices.Clone(m.Users)
		m.Keys = slices.Clone(m.Keys)
		m.TrustedCAs = slices.Clone(m.TrustedCAs)
		m.Pins = slices.Clone(m.Pins)
		if m.Revocation != nil {
			rv := *m.Revocation
			rv.CRLs = slices.Clone(rv.CRLs)
			m.Revocation = &rv
		}
		m.Issuers = slices.Clone(m.Issuers)
		m.Audiences = slices.Clone(m.Audiences)
		m.Algorithms = slices.Clone(m.Algorithms)
	}
	r := &p.Rules
	r.Roles, r.Scopes, r.Tenants = slices.Clone(r.Roles), slices.Clone(r.Scopes), slices.Clone(r.Tenants)
	r.Applications, r.ObjectIDs = slices.Clone(r.Applications), slices.Clone(r.ObjectIDs)
	return p
}
