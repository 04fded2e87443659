package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/sts"
)

// CreateGrant records admin consent of one app role of the resource
// application to the client application; both must exist in the tenant.
func (t dirTx) CreateGrant(ctx context.Context, g directory.Grant) error {
	what := fmt.Sprintf("create grant %q", g.ID)
	if err := required(what, "id", g.ID, "tenant id", g.TenantID, "client app id", g.ClientAppID, "resource app id", g.ResourceAppID, "app role id", g.AppRoleID); err != nil {
		return err
	}
	g.CreatedAt = Time(g.CreatedAt)
	q := t.q
	err := func() error {
		if err := tenantExists(ctx, q, g.TenantID); err != nil {
			return err
		}
		for _, a := range []struct{ role, id string }{{"client", g.ClientAppID}, {"resource", g.ResourceAppID}} {
			ok, err := Exists(ctx, q, `SELECT 1 FROM applications WHERE tenant_id = ? AND app_id = ?`, g.TenantID, a.id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s application %q in tenant %q: %w", a.role, a.id, g.TenantID, store.ErrNotFound)
			}
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM grants WHERE tenant_id = ? AND id = ?`, g.TenantID, g.ID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("grant id %q exists in tenant %s: %w", g.ID, g.TenantID, store.ErrConflict)
		}
		var other string
		found, err := QueryOne(ctx, q, `SELECT id FROM grants WHERE tenant_id = ? AND client_app_id = ? AND resource_app_id = ? AND app_role_id = ?`,
			[]any{g.TenantID, g.ClientAppID, g.ResourceAppID, g.AppRoleID}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("app role %s of application %s is already granted to application %s by grant %s: %w",
				g.AppRoleID, g.ResourceAppID, g.ClientAppID, other, store.ErrConflict)
		}
		if _, err = q.Exec(ctx, `INSERT INTO grants (tenant_id, id, client_app_id, resource_app_id, app_role_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			g.TenantID, g.ID, g.ClientAppID, g.ResourceAppID, g.AppRoleID, g.CreatedAt); err != nil {
			return err
		}
		return changed(ctx, q, changeGrant, g.TenantID, g.ID)
	}()
	return t.s.writeError(what, err)
}

// ListGrants returns the tenant's grants ordered by creation time, then id.
func (t dirTx) ListGrants(ctx context.Context, tenantID string) ([]directory.Grant, error) {
	out, err := listGrants(ctx, t.q, "tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list grants of tenant %q: %w", tenantID, err)
	}
	return out, nil
}

func listGrants(ctx context.Context, q Querier, where string, args ...any) ([]directory.Grant, error) {
	return scanAll(ctx, q, `SELECT tenant_id, id, client_app_id, resource_app_id, app_role_id, created_at FROM grants WHERE `+where+` ORDER BY created_at, id, tenant_id`, args, func(rows Rows) (directory.Grant, error) {
		var g directory.Grant
		err := rows.Scan(&g.TenantID, &g.ID, &g.ClientAppID, &g.ResourceAppID, &g.AppRoleID, &g.CreatedAt)
		return g, err
	})
}

// FindGrants returns the tenant's grants matching every set field of gq,
// ordered by creation time, then id.
func (t dirTx) FindGrants(ctx context.Context, tenantID string, gq directory.GrantQuery) ([]directory.Grant, error) {
	where := "tenant_id = ?"
	args := []any{tenantID}
	for _, c := range []struct{ column, value string }{
		{"id", gq.ID}, {"client_app_id", gq.ClientAppID}, {"resource_app_id", gq.ResourceAppID}, {"app_role_id", gq.AppRoleID},
	} {
		if c.value != "" {
			where += " AND " + c.column + " = ?"
			args = append(args, c.value)
		}
	}
	out, err := listGrants(ctx, t.q, where, args...)
	if err != nil {
		return nil, fmt.Errorf("find grants of tenant %q: %w", tenantID, err)
	}
	return out, nil
}

// DeleteGrant removes one grant.
func (t dirTx) DeleteGrant(ctx context.Context, tenantID, grantID string) error {
	q := t.q
	err := func() error {
		n, err := q.Exec(ctx, `DELETE FROM grants WHERE tenant_id = ? AND id = ?`, tenantID, grantID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("grant %q in tenant %q: %w", grantID, tenantID, store.ErrNotFound)
		}
		return changed(ctx, q, changeGrant, tenantID, grantID)
	}()
	if err != nil {
		return fmt.Errorf("delete grant: %w", err)
	}
	return nil
}

// CreateSigningKey stores a new signing key of an existing tenant.
func (s *Store) CreateSigningKey(ctx context.Context, k sts.SigningKey) error {
	what := fmt.Sprintf("create signing key %q", k.KID)
	if err := required(what, "tenant id", k.TenantID, "kid", k.KID); err != nil {
		return err
	}
	err := s.Write(ctx, func(q Querier) error {
		if err := tenantExists(ctx, q, k.TenantID); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM signing_keys WHERE tenant_id = ? AND kid = ?`, k.TenantID, k.KID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("signing key %q exists in tenant %s: %w", k.KID, k.TenantID, store.ErrConflict)
		}
		_, err = q.Exec(ctx, `INSERT INTO signing_keys (tenant_id, kid, algorithm, public_der, cert_der, sealed, created_at, activate_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.TenantID, k.KID, k.Algorithm, Bytes(k.PublicDER), Bytes(k.CertDER), Bytes(k.Sealed), Time(k.CreatedAt), Time(k.ActivateAt))
		return err
	})
	return s.writeError(what, err)
}

// ListSigningKeys returns the tenant's signing keys ordered by ActivateAt,
// then kid.
func (s *Store) ListSigningKeys(ctx context.Context, tenantID string) ([]sts.SigningKey, error) {
	out, err := readValue(ctx, s, func(q Querier) ([]sts.SigningKey, error) { return listSigningKeys(ctx, q, "tenant_id = ?", tenantID) })
	if err != nil {
		return nil, fmt.Errorf("list signing keys of tenant %q: %w", tenantID, err)
	}
	return out, nil
}

func listSigningKeys(ctx context.Context, q Querier, where string, args ...any) ([]sts.SigningKey, error) {
	return scanAll(ctx, q, `SELECT tenant_id, kid, algorithm, public_der, cert_der, sealed, created_at, activate_at FROM signing_keys WHERE `+where+` ORDER BY activate_at, kid, tenant_id`, args, func(rows Rows) (sts.SigningKey, error) {
		var k sts.SigningKey
		if err := rows.Scan(&k.TenantID, &k.KID, &k.Algorithm, &k.PublicDER, &k.CertDER, &k.Sealed, &k.CreatedAt, &k.ActivateAt); err != nil {
			return k, err
		}
		k.PublicDER, k.CertDER, k.Sealed = Bytes(k.PublicDER), Bytes(k.CertDER), Bytes(k.Sealed)
		return k, nil
	})
}

// DeleteSigningKey removes a signing key.
func (s *Store) DeleteSigningKey(ctx context.Context, tenantID, kid string) error {
	err := s.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM signing_keys WHERE tenant_id = ? AND kid = ?`, tenantID, kid)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("signing key %q in tenant %q: %w", kid, tenantID, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete signing key: %w", err)
	}
	return nil
}

// errNotReplaced rolls back the revision bump of a compare-and-swap that
// found other bytes.
var errNotReplaced = errors.New("sealed bytes changed")

// ReplaceSigningKeySealed sets a signing key's sealed private key to sealed
// where it still holds old; the revision moves only when it did.
func (s *Store) ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error) {
	if len(sealed) == 0 {
		return false, fmt.Errorf("replace sealed signing key %q: the new sealed bytes are empty", kid)
	}
	err := s.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE signing_keys SET sealed = ? WHERE tenant_id = ? AND kid = ? AND sealed = ?`, sealed, tenantID, kid, Bytes(old))
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM signing_keys WHERE tenant_id = ? AND kid = ?`, tenantID, kid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("signing key %q in tenant %q: %w", kid, tenantID, store.ErrNotFound)
		}
		return errNotReplaced
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errNotReplaced):
		return false, nil
	}
	return false, fmt.Errorf("replace sealed signing key: %w", err)
}

// State is one consistent read of the whole directory and every signing
// key: what the token service serves from.
type State struct {
	Revision     int64
	Tenants      []directory.Tenant
	Applications []directory.Application // all tenants, with credentials
	Grants       []directory.Grant       // all tenants
	APIs         []directory.API         // all tenants, by tenant id, then name
	Connectors   []directory.Connector   // all tenants, by tenant id, then name
	SigningKeys  []sts.SigningKey        // all tenants
}

// Load reads the whole directory and all signing keys in one consistent
// read transaction, with the revision that read reflects.
func (s *Store) Load(ctx context.Context) (State, error) {
	var st State
	err := s.Read(ctx, func(q Querier) error {
		found, err := QueryOne(ctx, q, `SELECT value FROM revision WHERE id = 1`, nil, &st.Revision)
		if err != nil {
			return err
		}
		if !found {
			return errors.New("the revision row is missing; the schema was not migrated")
		}
		if st.Tenants, err = listTenants(ctx, q); err != nil {
			return err
		}
		if st.Applications, err = loadApplications(ctx, q, ""); err != nil {
			return err
		}
		if st.Grants, err = listGrants(ctx, q, "1 = 1"); err != nil {
			return err
		}
		if st.APIs, err = listAPIs(ctx, q, "1 = 1"); err != nil {
			return err
		}
		if st.Connectors, err = listConnectors(ctx, q, "1 = 1"); err != nil {
			return err
		}
		st.SigningKeys, err = listSigningKeys(ctx, q, "1 = 1")
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("load store state: %w", err)
	}
	return st, nil
}

// TryLease acquires or renews the named lease for holder until now+ttl, in
// one statement: it takes the lease when nobody holds it, when it expired
// (its expiry is not after now), or when holder holds it already. It does
// not change the revision.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if err := required("lease", "name", name, "holder", holder); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, fmt.Errorf("lease %q: ttl %v must be positive", name, ttl)
	}
	now = Time(now)
	var got bool
	err := s.db.Write(ctx, func(q Querier) error {
		var h string
		var err error
		got, err = QueryOne(ctx, q, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.expires_at <= ? OR leases.holder = excluded.holder
RETURNING holder`, []any{name, holder, now.Add(ttl), now}, &h)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease %q: %w", name, err)
	}
	return got, nil
}
