package admin

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// resolveTenant finds the tenant named by id (any case) or name (any case).
func (a *API) resolveTenant(ctx context.Context, ref string) (directory.Tenant, error) {
	tenants, err := a.store.ListTenants(ctx)
	if err != nil {
		return directory.Tenant{}, err
	}
	for _, t := range tenants {
		if strings.EqualFold(t.ID, ref) {
			return t, nil
		}
	}
	for _, t := range tenants {
		if strings.EqualFold(t.Name, ref) {
			return t, nil
		}
	}
	return directory.Tenant{}, notFound("tenant %q not found; give a tenant id or name from GET %s/tenants", clip(ref), basePath)
}

// isGUID reports whether s is a GUID in its 8-4-4-4-12 form (any case).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// resolveApp finds the application of the tenant named by ref: its appId
// (any case), else the display name (any case) if exactly one application
// has it. what names the reference in messages ("application", "client").
func (a *API) resolveApp(ctx context.Context, t directory.Tenant, ref, what string) (directory.Application, error) {
	if isGUID(ref) {
		app, err := a.store.GetApplication(ctx, t.ID, strings.ToLower(ref))
		if err == nil {
			return app, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return directory.Application{}, err
		}
	}
	apps, err := a.store.ListApplications(ctx, t.ID)
	if err != nil {
		return directory.Application{}, err
	}
	return pickApp(apps, t, ref, what)
}

// pickApp applies resolveApp's rules to a list of the tenant's applications.
func pickApp(apps []directory.Application, t directory.Tenant, ref, what string) (directory.Application, error) {
	for _, app := range apps {
		if strings.EqualFold(app.AppID, ref) {
			return app, nil
		}
	}
	var named []directory.Application
	name := strings.TrimSpace(ref)
	for _, app := range apps {
		if strings.EqualFold(app.DisplayName, name) {
			named = append(named, app)
		}
	}
	switch len(named) {
	case 0:
		return directory.Application{}, notFound("%s %q not found in tenant %s; give an appId or display name from GET %s/tenants/%s/applications", what, clip(ref), t.Name, basePath, t.Name)
	case 1:
		return named[0], nil
	}
	ids := make([]string, len(named))
	for i, app := range named {
		ids[i] = app.AppID
	}
	return directory.Application{}, conflict("%s %q is ambiguous: %d applications of tenant %s have that display name; use one of their appIds instead: %s", what, clip(ref), len(named), t.Name, strings.Join(ids, ", "))
}

// findRole finds an app role of app by id or value (any case).
func findRole(app directory.Application, ref string) (directory.AppRole, int, bool) {
	for i, r := range app.AppRoles {
		if strings.EqualFold(r.ID, ref) {
			return r, i, true
		}
	}
	for i, r := range app.AppRoles {
		if strings.EqualFold(r.Value, ref) {
			return r, i, true
		}
	}
	return directory.AppRole{}, -1, false
}

// adminRoleID returns the id of the Portcullis.Admin role of the management
// application, if app is that application.
func (a *API) adminRoleID(app directory.Application) (string, bool) {
	if !strings.EqualFold(app.AppID, a.mgmtApp) {
		return "", false
	}
	for _, r := range app.AppRoles {
		if r.Value == directory.AdminRoleValue {
			return r.ID, true
		}
	}
	return "", false
}

// adminGrants returns the grants of the Portcullis.Admin role among the
// tenant's grants; none when the tenant does not hold the management API.
func (a *API) adminGrants(ctx context.Context, tenantID string, grants []directory.Grant) ([]directory.Grant, error) {
	mgmt, err := a.store.GetApplication(ctx, tenantID, strings.ToLower(a.mgmtApp))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	roleID, ok := a.adminRoleID(mgmt)
	if !ok {
		return nil, nil
	}
	var out []directory.Grant
	for _, g := range grants {
		if strings.EqualFold(g.ResourceAppID, mgmt.AppID) && strings.EqualFold(g.AppRoleID, roleID) {
			out = append(out, g)
		}
	}
	return out, nil
}
