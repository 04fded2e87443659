package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// appsByID indexes applications by lower-case appId.
func appsByID(apps []directory.Application) map[string]directory.Application {
	m := make(map[string]directory.Application, len(apps))
	for _, app := range apps {
		m[strings.ToLower(app.AppID)] = app
	}
	return m
}

func (a *API) listGrants(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := a.resolveTenant(ctx, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	grants, err := a.store.ListGrants(ctx, t.ID)
	if err != nil {
		return err
	}
	apps, err := a.store.ListApplications(ctx, t.ID)
	if err != nil {
		return err
	}
	byID := appsByID(apps)
	writeJSON(w, http.StatusOK, list(mapSlice(grants, func(g directory.Grant) grantJSON { return grantOut(g, byID) })))
	return nil
}

type createGrantRequest struct {
	Client   string `json:"client"`
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

func (a *API) createGrant(w http.ResponseWriter, r *http.Request) error {
	var req createGrantRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	for _, f := range []struct{ name, v, what string }{
		{"client", req.Client, "the appId or display name of the application that receives the role"},
		{"resource", req.Resource, "the appId, display name or identifier URI of the API that defines the role"},
		{"role", req.Role, "the value or id of the app role"},
	} {
		if strings.TrimSpace(f.v) == "" {
			return badRequest("field %q is required: %s", f.name, f.what)
		}
	}
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, err := a.resolveTenant(ctx, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	apps, err := a.store.ListApplications(ctx, t.ID)
	if err != nil {
		return err
	}
	client, err := pickApp(apps, t, req.Client, "client application")
	if err != nil {
		return err
	}
	resource, err := pickResource(apps, t, req.Resource)
	if err != nil {
		return err
	}
	role, _, ok := findRole(resource, req.Role)
	if !ok {
		values := make([]string, len(resource.AppRoles))
		for i, r := range resource.AppRoles {
			values[i] = r.Value
		}
		if len(values) == 0 {
			return notFound("resource application %q defines no app roles; add one first (POST %s/tenants/%s/applications/%s/appRoles)", resource.DisplayName, basePath, t.Name, resource.AppID)
		}
		return notFound("resource application %q has no app role %q; its roles are: %s", resource.DisplayName, clip(req.Role), strings.Join(values, ", "))
	}
	if !role.Enabled {
		return conflict("app role %q of %q is disabled; only enabled roles can be granted", role.Value, resource.DisplayName)
	}
	grants, err := a.store.ListGrants(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if strings.EqualFold(g.ClientAppID, client.AppID) && strings.EqualFold(g.ResourceAppID, resource.AppID) && strings.EqualFold(g.AppRoleID, role.ID) {
			return conflict("application %q already holds app role %q of %q (grant %s)", client.DisplayName, role.Value, resource.DisplayName, g.ID)
		}
	}
	g := directory.Grant{
		ID: newGUID(), TenantID: t.ID, ClientAppID: client.AppID, ResourceAppID: resource.AppID,
		AppRoleID: role.ID, CreatedAt: a.now().UTC(),
	}
	if err := a.store.CreateGrant(ctx, g); err != nil {
		return fmt.Errorf("create grant: %w", err)
	}
	a.notifyChanged(ctx)
	writeJSON(w, http.StatusCreated, grantOut(g, appsByID(apps)))
	return nil
}

// pickResource resolves the resource of a grant: an identifier URI (any
// case), else as any application reference.
func pickResource(apps []directory.Application, t directory.Tenant, ref string) (directory.Application, error) {
	for _, app := range apps {
		if containsFold(app.IdentifierURIs, ref) {
			return app, nil
		}
	}
	return pickApp(apps, t, ref, "resource application")
}

func (a *API) deleteGrant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, err := a.resolveTenant(ctx, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	grants, err := a.store.ListGrants(ctx, t.ID)
	if err != nil {
		return err
	}
	var grant directory.Grant
	found := false
	for _, g := range grants {
		if strings.EqualFold(g.ID, id) {
			grant, found = g, true
			break
		}
	}
	if !found {
		return notFound("tenant %s has no grant with id %q; list them with GET %s/tenants/%s/grants", t.Name, id, basePath, t.Name)
	}
	if err := a.checkKeepsAnAdmin(ctx, t.ID, func(g directory.Grant) bool { return g.ID == grant.ID },
		fmt.Sprintf("grant %s is the last grant of %s; removing it would lock every administrator out. Grant %s to another application first", grant.ID, directory.AdminRoleValue, directory.AdminRoleValue)); err != nil {
		return err
	}
	if err := a.store.DeleteGrant(ctx, t.ID, grant.ID); err != nil {
		return fmt.Errorf("delete grant: %w", err)
	}
	a.notifyChanged(ctx)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
