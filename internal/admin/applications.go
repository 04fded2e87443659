package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// tenantAndApp resolves the {tenant} and {app} path parameters.
func (a *API) tenantAndApp(r *http.Request) (directory.Tenant, directory.Application, error) {
	t, err := a.resolveTenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return t, directory.Application{}, err
	}
	app, err := a.resolveApp(r.Context(), t, r.PathValue("app"), "application")
	return t, app, err
}

// changeApplication applies mutate to the application that r's {tenant} and
// {app} name, under the write lock and in one store transaction, and
// notifies the token service; a failed write is reported as "what: …".
func (a *API) changeApplication(r *http.Request, what string, mutate func(t directory.Tenant, cur *directory.Application) error) error {
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	_, err = a.store.UpdateApplication(ctx, t.ID, app.AppID, func(cur *directory.Application) error { return mutate(t, cur) })
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	a.notifyChanged(ctx)
	return nil
}

// removeFirst removes the first element of *list that match accepts,
// reporting whether there was one; the result never shares the original's
// backing array.
func removeFirst[T any](list *[]T, match func(T) bool) bool {
	for i, x := range *list {
		if match(x) {
			*list = append((*list)[:i:i], (*list)[i+1:]...)
			return true
		}
	}
	return false
}

func (a *API) listApplications(w http.ResponseWriter, r *http.Request) error {
	t, err := a.resolveTenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	apps, err := a.store.ListApplications(r.Context(), t.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(apps, applicationOut)))
	return nil
}

func (a *API) getApplication(w http.ResponseWriter, r *http.Request) error {
	_, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applicationOut(app))
	return nil
}

type createApplicationRequest struct {
	DisplayName                string   `json:"displayName"`
	IdentifierURIs             []string `json:"identifierUris"`
	AccessTokenLifetimeSeconds *int64   `json:"accessTokenLifetimeSeconds"`
}

// validate checks the request and returns the application it describes,
// without ids.
func (req createApplicationRequest) validate() (directory.Application, error) {
	var app directory.Application
	name, err := normalizeDisplayName("displayName", req.DisplayName)
	if err != nil {
		return app, err
	}
	app.DisplayName = name
	if err := validateIdentifierURIs(req.IdentifierURIs); err != nil {
		return app, err
	}
	app.IdentifierURIs = req.IdentifierURIs
	app.AccessTokenLifetime = defaultAccessTokenLifetime
	if req.AccessTokenLifetimeSeconds != nil {
		if app.AccessTokenLifetime, err = validateAccessTokenLifetime(*req.AccessTokenLifetimeSeconds); err != nil {
			return app, err
		}
	}
	return app, nil
}

func (a *API) createApplication(w http.ResponseWriter, r *http.Request) error {
	var req createApplicationRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	app, err := req.validate()
	if err != nil {
		return err
	}
	ctx := r.Context()
	t, err := a.resolveTenant(ctx, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	app.TenantID, app.AppID, app.ObjectID = t.ID, newGUID(), newGUID()
	app.CreatedAt = a.now().UTC()
	if len(app.IdentifierURIs) == 0 {
		app.IdentifierURIs = []string{"api://" + app.AppID}
	}
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	apps, err := a.store.ListApplications(ctx, t.ID)
	if err != nil {
		return err
	}
	if err := checkUnique(apps, app); err != nil {
		return err
	}
	if err := a.store.CreateApplication(ctx, app); err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	a.notifyChanged(ctx)
	writeJSON(w, http.StatusCreated, applicationOut(app))
	return nil
}

// checkUnique refuses a display name or identifier URI that another
// application of the tenant uses (case-insensitively), naming that
// application. The store enforces the same; this gives the better message.
func checkUnique(apps []directory.Application, app directory.Application) error {
	for _, other := range apps {
		if other.AppID == app.AppID {
			continue
		}
		if strings.EqualFold(other.DisplayName, app.DisplayName) {
			return conflict("display name %q is used by application %s in this tenant; choose another name", other.DisplayName, other.AppID)
		}
		for _, u := range app.IdentifierURIs {
			for _, ou := range other.IdentifierURIs {
				if strings.EqualFold(u, ou) {
					return conflict("identifier URI %q is used by application %q (%s) in this tenant; choose another URI", ou, other.DisplayName, other.AppID)
				}
			}
		}
	}
	return nil
}

type updateApplicationRequest struct {
	DisplayName                *string   `json:"displayName"`
	IdentifierURIs             *[]string `json:"identifierUris"`
	AccessTokenLifetimeSeconds *int64    `json:"accessTokenLifetimeSeconds"`
}

func (a *API) updateApplication(w http.ResponseWriter, r *http.Request) error {
	var req updateApplicationRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.DisplayName == nil && req.IdentifierURIs == nil && req.AccessTokenLifetimeSeconds == nil {
		return badRequest("nothing to change: give at least one of %s", fieldList(&req))
	}
	var name string
	var err error
	if req.DisplayName != nil {
		if name, err = normalizeDisplayName("displayName", *req.DisplayName); err != nil {
			return err
		}
	}
	if req.IdentifierURIs != nil {
		if err := validateIdentifierURIs(*req.IdentifierURIs); err != nil {
			return err
		}
	}
	var lifetime = defaultAccessTokenLifetime
	if req.AccessTokenLifetimeSeconds != nil {
		if lifetime, err = validateAccessTokenLifetime(*req.AccessTokenLifetimeSeconds); err != nil {
			return err
		}
	}
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	apps, err := a.store.ListApplications(ctx, t.ID)
	if err != nil {
		return err
	}
	updated, err := a.store.UpdateApplication(ctx, t.ID, app.AppID, func(cur *directory.Application) error {
		if req.DisplayName != nil {
			cur.DisplayName = name
		}
		if req.IdentifierURIs != nil {
			uris := append([]string{}, (*req.IdentifierURIs)...)
			if b := directory.BuiltInIdentifierURI(*cur); b != "" && !containsFold(uris, b) {
				return conflict("application %q is built in and must keep the identifier URI %s: Portcullis requests tokens for it; include it in \"identifierUris\"", cur.DisplayName, b)
			}
			cur.IdentifierURIs = uris
		}
		if req.AccessTokenLifetimeSeconds != nil {
			cur.AccessTokenLifetime = lifetime
		}
		return checkUnique(apps, *cur)
	})
	if err != nil {
		return fmt.Errorf("update application: %w", err)
	}
	a.notifyChanged(ctx)
	writeJSON(w, http.StatusOK, applicationOut(updated))
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (a *API) deleteApplication(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	if strings.EqualFold(app.AppID, a.mgmtApp) {
		return conflict("application %q (%s) is the management API that authorizes every admin call; it cannot be deleted", app.DisplayName, app.AppID)
	}
	if b := directory.BuiltInIdentifierURI(app); b != "" {
		return conflict("application %q (%s) is built in (identifier URI %s) and cannot be deleted", app.DisplayName, app.AppID, b)
	}
	if err := a.checkKeepsAnAdmin(ctx, t.ID, func(g directory.Grant) bool {
		return strings.EqualFold(g.ClientAppID, app.AppID)
	}, fmt.Sprintf("application %q (%s) holds the last grant of %s; deleting it would lock every administrator out. Grant %s to another application first", app.DisplayName, app.AppID, directory.AdminRoleValue, directory.AdminRoleValue)); err != nil {
		return err
	}
	if err := a.store.DeleteApplication(ctx, t.ID, app.AppID); err != nil {
		return fmt.Errorf("delete application: %w", err)
	}
	a.notifyChanged(ctx)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkKeepsAnAdmin refuses (409 with msg) a change that would remove every
// grant of Portcullis.Admin in the tenant; removed reports which grants the
// change removes.
func (a *API) checkKeepsAnAdmin(ctx context.Context, tenantID string, removed func(directory.Grant) bool, msg string) error {
	grants, err := a.store.ListGrants(ctx, tenantID)
	if err != nil {
		return err
	}
	admins, err := a.adminGrants(ctx, tenantID, grants)
	if err != nil {
		return err
	}
	if len(admins) == 0 {
		return nil // nothing to protect in this tenant
	}
	for _, g := range admins {
		if !removed(g) {
			return nil
		}
	}
	return conflict("%s", msg)
}
