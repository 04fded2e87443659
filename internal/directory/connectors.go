package directory

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/store"
)

// Connectors returns the connectors of the tenant named by tenantRef,
// ordered by name.
func (s *Service) Connectors(ctx context.Context, tenantRef string) ([]Connector, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return nil, err
	}
	return s.st.ListConnectors(ctx, t.ID)
}

// Connector finds a connector by name in the tenant named by tenantRef.
func (s *Service) Connector(ctx context.Context, tenantRef, name string) (Connector, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return Connector{}, err
	}
	return getConnector(ctx, s.st, t, name)
}

func getConnector(ctx context.Context, tx Tx, t Tenant, name string) (Connector, error) {
	c, err := tx.GetConnector(ctx, t.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return Connector{}, notFound("tenant %s has no connector named %q; list them with GET %s/tenants/%s/connectors", t.Name, clip(name), adminAPI, t.Name)
	}
	return c, err
}

// CreateConnector adds a connector to the tenant named by tenantRef. The
// read-only fields (TenantID, Revision, CreatedAt, UpdatedAt) are ignored.
// Names are unique in a tenant; an application has at most one
// token-issuance connector; every vault reference must name an existing
// object and is recorded (see WithVaultReferences).
func (s *Service) CreateConnector(ctx context.Context, tenantRef string, c Connector) (Connector, error) {
	c, err := normalizeConnector(c)
	if err != nil {
		return Connector{}, err
	}
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return Connector{}, err
	}
	refs := ConnectorReferences(c)
	if err := s.addReferences(ctx, t.ID, ConnectorReferrer(t.Name, c.Name), refs); err != nil {
		_ = s.settleConnectorReferences(ctx, t, c.Name, refs)
		return Connector{}, err
	}
	var out Connector
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		if existing, err := tx.GetConnector(ctx, t.ID, c.Name); err == nil {
			return conflict("tenant %s already has a connector named %q (revision %d); choose another name, or replace it with PUT %s/tenants/%s/connectors/%s", t.Name, existing.Name, existing.Revision, adminAPI, t.Name, existing.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := prepareConnector(ctx, tx, t, &c); err != nil {
			return err
		}
		now := s.now()
		c.CreatedAt, c.UpdatedAt = now, now
		out, err = tx.CreateConnector(ctx, c)
		return err
	})
	// A release failure leaves a stale reference, which is safe; the
	// VaultReferences implementation reports it.
	_ = s.settleConnectorReferences(ctx, t, c.Name, refs)
	if err != nil {
		return Connector{}, keepErr("create connector", err)
	}
	return out, nil
}

// UpdateConnector replaces the connector named name in the tenant named by
// tenantRef with c (whose Name must be name or empty: a connector cannot be
// renamed). When expectedRevision is not zero, the connector's current
// revision must equal it (an If-Match), else the refusal is of kind
// PreconditionFailed. References the new version no longer holds are
// released.
func (s *Service) UpdateConnector(ctx context.Context, tenantRef, name string, c Connector, expectedRevision int64) (Connector, error) {
	if c.Name == "" {
		c.Name = name
	}
	if c.Name != name {
		return Connector{}, invalid("field \"name\" is %q but the path names %q; a connector cannot be renamed: create %q and delete %q", clip(c.Name), clip(name), clip(c.Name), clip(name))
	}
	c, err := normalizeConnector(c)
	if err != nil {
		return Connector{}, err
	}
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return Connector{}, err
	}
	refs := ConnectorReferences(c)
	if err := s.addReferences(ctx, t.ID, ConnectorReferrer(t.Name, c.Name), refs); err != nil {
		_ = s.settleConnectorReferences(ctx, t, c.Name, refs)
		return Connector{}, err
	}
	var out Connector
	var old []VaultReference
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		cur, err := getConnector(ctx, tx, t, name)
		if err != nil {
			return err
		}
		old = ConnectorReferences(cur)
		if expectedRevision != 0 && cur.Revision != expectedRevision {
			return newError(PreconditionFailed, "connector %q is at revision %d, not %d: it changed since you read it; read it again and reapply your change", cur.Name, cur.Revision, expectedRevision)
		}
		if err := prepareConnector(ctx, tx, t, &c); err != nil {
			return err
		}
		c.CreatedAt, c.UpdatedAt = cur.CreatedAt, s.now()
		out, err = tx.UpdateConnector(ctx, c)
		return err
	})
	_ = s.settleConnectorReferences(ctx, t, c.Name, append(old, refs...))
	if err != nil {
		return Connector{}, keepErr("update connector", err)
	}
	return out, nil
}

// DeleteConnector removes a connector and releases its vault references.
// A non-zero expectedRevision must be the connector's current revision (an
// If-Match), or nothing is deleted (PreconditionFailed).
func (s *Service) DeleteConnector(ctx context.Context, tenantRef, name string, expectedRevision int64) error {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return err
	}
	var old []VaultReference
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		cur, err := getConnector(ctx, tx, t, name)
		if err != nil {
			return err
		}
		if expectedRevision != 0 && cur.Revision != expectedRevision {
			return newError(PreconditionFailed, "connector %q is at revision %d, not %d: it changed since you read it; read it again before deleting it", cur.Name, cur.Revision, expectedRevision)
		}
		old = ConnectorReferences(cur)
		return tx.DeleteConnector(ctx, t.ID, name)
	})
	_ = s.settleConnectorReferences(ctx, t, name, old)
	return keepErr("delete connector", err)
}

// prepareConnector completes a normalized connector inside the
// transaction: its tenant, and the applications of tokenIssuance resolved
// to their app ids (resource applications must be resources: hold an
// identifier URI), each attached to no other connector.
func prepareConnector(ctx context.Context, tx Tx, t Tenant, c *Connector) error {
	c.TenantID = t.ID
	ti := c.TokenIssuance
	if ti == nil {
		return nil
	}
	var all []Connector
	seen := map[string]bool{}
	for _, l := range []struct {
		field    string
		apps     []string
		resource bool
	}{{"tokenIssuance.resourceApps", ti.ResourceApps, true}, {"tokenIssuance.clientApps", ti.ClientApps, false}} {
		for i, ref := range l.apps {
			at := l.field + "[" + strconv.Itoa(i) + "]"
			app, err := resolveApp(ctx, tx, t, ref, "application")
			if err != nil {
				if KindOf(err) == NotFound || KindOf(err) == Conflict {
					return newError(KindOf(err), "field %q: %v", at, err)
				}
				return err
			}
			if l.resource && len(app.IdentifierURIs) == 0 {
				return invalid("field %q: application %q (%s) is not a resource (it has no identifier URI), so no token is issued for it; attach the connector to it under clientApps, or give it an identifier URI", at, app.DisplayName, app.AppID)
			}
			if seen[app.AppID] {
				return invalid("field %q: application %s is listed twice in tokenIssuance; list it once", at, app.AppID)
			}
			seen[app.AppID] = true
			l.apps[i] = app.AppID
			if all == nil {
				var err error
				if all, err = tx.ListConnectors(ctx, t.ID); err != nil {
					return err
				}
			}
			for _, o := range all {
				if o.Name == c.Name || o.TokenIssuance == nil {
					continue
				}
				if slices.Contains(o.TokenIssuance.ResourceApps, app.AppID) || slices.Contains(o.TokenIssuance.ClientApps, app.AppID) {
					return conflict("field %q: application %q (%s) already has the token-issuance connector %q; an application has at most one: detach it from %q first (PUT %s/tenants/%s/connectors/%s)", at, app.DisplayName, app.AppID, o.Name, o.Name, adminAPI, t.Name, o.Name)
				}
			}
		}
	}
	return nil
}

// connectorsAttachedTo returns the names of the tenant's connectors whose
// tokenIssuance names appID.
func connectorsAttachedTo(ctx context.Context, tx Tx, tenantID, appID string) ([]string, error) {
	all, err := tx.ListConnectors(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range all {
		if ti := c.TokenIssuance; ti != nil && (slices.Contains(ti.ResourceApps, strings.ToLower(appID)) || slices.Contains(ti.ClientApps, strings.ToLower(appID))) {
			names = append(names, c.Name)
		}
	}
	return names, nil
}
