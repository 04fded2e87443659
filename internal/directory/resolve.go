package directory

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/store"
)

// adminAPI is the base path of the management API, the one surface that
// changes the directory today; refusals name its operations so that they
// say what to do next.
const adminAPI = "/admin/v1"

// newGUID returns a new id in the lower-case 8-4-4-4-12 form Entra uses.
func newGUID() string { return strings.ToLower(uuid.NewString()) }

// isGUID reports whether s is a GUID in its 8-4-4-4-12 form (any case).
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// clip shortens a caller-supplied reference for an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// resolveTenant finds the tenant named by ref: its id (any case), else its
// name (any case).
func resolveTenant(ctx context.Context, tx Tx, ref string) (Tenant, error) {
	tenants, err := tx.ListTenants(ctx)
	if err != nil {
		return Tenant{}, err
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
	return Tenant{}, notFound("tenant %q not found; give a tenant id or name from GET %s/tenants", clip(ref), adminAPI)
}

// resolveApp finds the application of tenant t named by ref: its appId (any
// case), else its identifier URI, else the display name (any case) if
// exactly one application has it. what names the reference in messages ("application", "client
// application").
func resolveApp(ctx context.Context, tx Tx, t Tenant, ref, what string) (Application, error) {
	if isGUID(ref) {
		app, err := tx.GetApplication(ctx, t.ID, strings.ToLower(ref))
		if err == nil {
			return app, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Application{}, err
		}
	}
	if strings.ContainsAny(ref, "/:") { // an identifier URI such as api://orders
		apps, err := tx.FindApplications(ctx, t.ID, ApplicationQuery{IdentifierURIs: []string{ref}})
		if err != nil {
			return Application{}, err
		}
		if len(apps) > 0 {
			return apps[0], nil
		}
	}
	name := strings.TrimSpace(ref)
	var named []Application
	if name != "" {
		var err error
		if named, err = tx.FindApplications(ctx, t.ID, ApplicationQuery{DisplayName: name}); err != nil {
			return Application{}, err
		}
	}
	switch len(named) {
	case 0:
		return Application{}, notFound("%s %q not found in tenant %s; give an appId, identifier URI or display name from GET %s/tenants/%s/applications", what, clip(ref), t.Name, adminAPI, t.Name)
	case 1:
		return named[0], nil
	}
	ids := make([]string, len(named))
	for i, app := range named {
		ids[i] = app.AppID
	}
	return Application{}, conflict("%s %q is ambiguous: %d applications of tenant %s have that display name; use one of their appIds instead: %s", what, clip(ref), len(named), t.Name, strings.Join(ids, ", "))
}

// resolveTenantApp finds the tenant named by tenantRef and its application
// named by appRef (see resolveTenant and resolveApp).
func resolveTenantApp(ctx context.Context, tx Tx, tenantRef, appRef string) (Tenant, Application, error) {
	t, err := resolveTenant(ctx, tx, tenantRef)
	if err != nil {
		return t, Application{}, err
	}
	app, err := resolveApp(ctx, tx, t, appRef, "application")
	return t, app, err
}

// resolveResource finds the resource of a grant: an identifier URI (any
// case), else as any application reference.
func resolveResource(ctx context.Context, tx Tx, t Tenant, ref string) (Application, error) {
	if ref != "" {
		apps, err := tx.FindApplications(ctx, t.ID, ApplicationQuery{IdentifierURIs: []string{ref}})
		if err != nil {
			return Application{}, err
		}
		if len(apps) > 0 {
			return apps[0], nil
		}
	}
	return resolveApp(ctx, tx, t, ref, "resource application")
}

// FindRole finds an app role of app by id, else by value (both any case).
func FindRole(app Application, ref string) (AppRole, bool) {
	for _, r := range app.AppRoles {
		if strings.EqualFold(r.ID, ref) {
			return r, true
		}
	}
	for _, r := range app.AppRoles {
		if strings.EqualFold(r.Value, ref) {
			return r, true
		}
	}
	return AppRole{}, false
}

// isManagementApp reports whether app is the built-in management resource.
func isManagementApp(app Application) bool {
	return BuiltInIdentifierURI(app) == ManagementIdentifierURI
}

// isAdminRole reports whether role is the Portcullis.Admin role of the
// management application app.
func isAdminRole(app Application, role AppRole) bool {
	return isManagementApp(app) && role.Value == AdminRoleValue
}
