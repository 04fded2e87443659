package directory

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AdminClientName is the display name of the application created on first
// start to hold the Portcullis.Admin role; the CLI uses its credential.
const AdminClientName = "portcullis-admin"

// ManagementName is the display name of the built-in management resource.
const ManagementName = "Portcullis Management"

// Bootstrapped says what Bootstrap found or created.
type Bootstrapped struct {
	// Tenant is the default tenant.
	Tenant Tenant
	// Management is the built-in management resource application.
	Management Application
	// AdminAppIDs are the clients granted Portcullis.Admin, the admin client
	// created now among them.
	AdminAppIDs []string
	// AdminClient and AdminSecret are set only when this call created the
	// admin client: AdminSecret.Text is the only copy of its secret.
	AdminClient *Application
	AdminSecret ClientSecret
}

// Bootstrap makes sure the default tenant, the management resource with its
// Portcullis.Admin role, and an administrator exist: when no client holds
// the role, it creates one with a client secret valid for two years and
// grants it the role. It runs in one transaction, so nodes starting
// together create each object once.
func (s *Service) Bootstrap(ctx context.Context) (Bootstrapped, error) {
	var res Bootstrapped
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		res = Bootstrapped{}
		now := s.now()
		t, err := ensureDefaultTenant(ctx, tx, now)
		if err != nil {
			return err
		}
		res.Tenant = t
		mgmt, err := ensureManagementApp(ctx, tx, t.ID, now)
		if err != nil {
			return err
		}
		res.Management = mgmt
		adminRole := ""
		for _, r := range mgmt.AppRoles {
			if r.Value == AdminRoleValue {
				adminRole = r.ID
			}
		}
		if adminRole == "" {
			return fmt.Errorf("the management application %s has no %s role; add it back (it is never removed by Portcullis)", mgmt.AppID, AdminRoleValue)
		}
		grants, err := tx.FindGrants(ctx, t.ID, GrantQuery{ResourceAppID: mgmt.AppID, AppRoleID: adminRole})
		if err != nil {
			return err
		}
		for _, g := range grants {
			res.AdminAppIDs = append(res.AdminAppIDs, g.ClientAppID)
		}
		if len(res.AdminAppIDs) > 0 {
			return nil // an administrator exists already
		}
		secret, err := NewClientSecret()
		if err != nil {
			return err
		}
		admin := Application{
			TenantID: t.ID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: AdminClientName, CreatedAt: now,
			PasswordCredentials: []PasswordCredential{{
				ID: newGUID(), Hint: secret.Hint, Hash: secret.Hash, Description: "bootstrap admin credential",
				StartAt: now, ExpiresAt: now.AddDate(2, 0, 0), CreatedAt: now,
			}},
		}
		admin.IdentifierURIs = []string{"api://" + admin.AppID}
		if err := tx.CreateApplication(ctx, admin); err != nil {
			return fmt.Errorf("create admin application: %w", err)
		}
		if err := tx.CreateGrant(ctx, Grant{ID: newGUID(), TenantID: t.ID, ClientAppID: admin.AppID, ResourceAppID: mgmt.AppID, AppRoleID: adminRole, CreatedAt: now}); err != nil {
			return fmt.Errorf("grant admin role: %w", err)
		}
		res.AdminAppIDs = append(res.AdminAppIDs, admin.AppID)
		res.AdminClient, res.AdminSecret = &admin, secret
		return nil
	})
	if err != nil {
		return Bootstrapped{}, fmt.Errorf("bootstrap: %w", err)
	}
	return res, nil
}

func ensureDefaultTenant(ctx context.Context, tx Tx, now time.Time) (Tenant, error) {
	tenants, err := tx.ListTenants(ctx)
	if err != nil {
		return Tenant{}, fmt.Errorf("list tenants: %w", err)
	}
	for _, t := range tenants {
		if strings.EqualFold(t.Name, DefaultTenantName) {
			return t, nil
		}
	}
	t := Tenant{ID: newGUID(), Name: DefaultTenantName, CreatedAt: now}
	if err := tx.CreateTenant(ctx, t); err != nil {
		return Tenant{}, fmt.Errorf("create default tenant: %w", err)
	}
	return t, nil
}

func ensureManagementApp(ctx context.Context, tx Tx, tenantID string, now time.Time) (Application, error) {
	apps, err := tx.FindApplications(ctx, tenantID, ApplicationQuery{IdentifierURIs: []string{ManagementIdentifierURI}})
	if err != nil {
		return Application{}, fmt.Errorf("find the management application: %w", err)
	}
	if len(apps) > 0 {
		return apps[0], nil
	}
	app := Application{
		TenantID: tenantID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: ManagementName, CreatedAt: now,
		IdentifierURIs: []string{ManagementIdentifierURI},
		AppRoles: []AppRole{{
			ID: newGUID(), Value: AdminRoleValue, DisplayName: "Portcullis administrator",
			Description: "Full access to the Portcullis admin API", Enabled: true,
		}},
	}
	if err := tx.CreateApplication(ctx, app); err != nil {
		return Application{}, fmt.Errorf("create the management application: %w", err)
	}
	return app, nil
}

// EnsureApplication makes sure the tenant holds an application with the
// identifier URI uri: when one exists, fix (if not nil) may change it (its
// result is written when it differs); else a new application named name
// with identifier URIs fix(nil) (or just uri) is registered. It runs in one
// transaction.
func (s *Service) EnsureApplication(ctx context.Context, tenantID, uri, name string, fix func(have []string) []string) (Application, error) {
	var out Application
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		apps, err := tx.FindApplications(ctx, tenantID, ApplicationQuery{IdentifierURIs: []string{uri}})
		if err != nil {
			return err
		}
		if len(apps) > 0 {
			out = apps[0]
			if fix == nil {
				return nil
			}
			want := fix(out.IdentifierURIs)
			if equalFold(out.IdentifierURIs, want) {
				return nil
			}
			out, err = tx.UpdateApplication(ctx, tenantID, out.AppID, func(app *Application) error {
				app.IdentifierURIs = want
				return nil
			})
			if err != nil {
				return fmt.Errorf("set the identifier URIs of %q to %s: %w (another application may already use one of them; remove it there)", out.DisplayName, strings.Join(want, ", "), err)
			}
			return nil
		}
		uris := []string{uri}
		if fix != nil {
			uris = fix(nil)
		}
		out = Application{TenantID: tenantID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: name, CreatedAt: s.now(), IdentifierURIs: uris}
		if err := tx.CreateApplication(ctx, out); err != nil {
			return fmt.Errorf("register application %q with identifier URIs %s: %w (an application with that name or one of these URIs exists; rename or delete it)", name, strings.Join(uris, ", "), err)
		}
		return nil
	})
	return out, err
}

func equalFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
