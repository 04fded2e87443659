package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

func (a *API) listAppRoles(w http.ResponseWriter, r *http.Request) error {
	_, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(app.AppRoles, appRoleOut)))
	return nil
}

type createAppRoleRequest struct {
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

func (req createAppRoleRequest) validate() (directory.AppRole, error) {
	role := directory.AppRole{Value: req.Value, Enabled: true}
	if err := validateRoleValue(req.Value); err != nil {
		return role, err
	}
	var err error
	if strings.TrimSpace(req.DisplayName) == "" {
		role.DisplayName = req.Value
	} else if role.DisplayName, err = normalizeDisplayName("displayName", req.DisplayName); err != nil {
		return role, err
	}
	if role.Description, err = normalizeDescription("description", req.Description); err != nil {
		return role, err
	}
	return role, nil
}

func (a *API) createAppRole(w http.ResponseWriter, r *http.Request) error {
	var req createAppRoleRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	role, err := req.validate()
	if err != nil {
		return err
	}
	role.ID = newGUID()
	err = a.changeApplication(r, "add app role", func(_ directory.Tenant, cur *directory.Application) error {
		for _, existing := range cur.AppRoles {
			if strings.EqualFold(existing.Value, role.Value) {
				return conflict("application %q already has the app role %q (id %s); role values are unique per application regardless of case", cur.DisplayName, existing.Value, existing.ID)
			}
		}
		if len(cur.AppRoles) >= maxAppRoles {
			return conflict("application %q has %d app roles, the maximum; delete one first", cur.DisplayName, len(cur.AppRoles))
		}
		cur.AppRoles = append(cur.AppRoles, role)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, appRoleOut(role))
	return nil
}

func (a *API) deleteAppRole(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	t, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	ref := r.PathValue("role")
	role, _, ok := findRole(app, ref)
	if !ok {
		return notFound("application %q has no app role with id or value %q; list them with GET %s/tenants/%s/applications/%s/appRoles", app.DisplayName, ref, basePath, t.Name, app.AppID)
	}
	if id, ok := a.adminRoleID(app); ok && id == role.ID {
		return conflict("the %s role of the management API authorizes every admin call; it cannot be removed", directory.AdminRoleValue)
	}
	grants, err := a.store.ListGrants(ctx, t.ID)
	if err != nil {
		return err
	}
	var using []string
	for _, g := range grants {
		if strings.EqualFold(g.ResourceAppID, app.AppID) && strings.EqualFold(g.AppRoleID, role.ID) {
			using = append(using, g.ID)
		}
	}
	if len(using) > 0 {
		return conflict("app role %q is granted by %d grant(s): %s; delete them first (DELETE %s/tenants/%s/grants/{id})", role.Value, len(using), strings.Join(using, ", "), basePath, t.Name)
	}
	_, err = a.store.UpdateApplication(ctx, t.ID, app.AppID, func(cur *directory.Application) error {
		if removeFirst(&cur.AppRoles, func(existing directory.AppRole) bool { return existing.ID == role.ID }) {
			return nil
		}
		return notFound("app role %q was deleted concurrently", role.Value)
	})
	if err != nil {
		return fmt.Errorf("delete app role: %w", err)
	}
	a.notifyChanged(ctx)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
