package admin

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/audit"
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

func (a *API) createAppRole(w http.ResponseWriter, r *http.Request) error {
	var req createAppRoleRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	audit.ChangeFrom(r.Context()).Creates(req.Value)
	role, err := a.dir.AddAppRole(r.Context(), r.PathValue("tenant"), r.PathValue("app"), directory.NewAppRole(req))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, appRoleOut(role))
	return nil
}

func (a *API) deleteAppRole(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.RemoveAppRole(r.Context(), r.PathValue("tenant"), r.PathValue("app"), r.PathValue("role"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listGrants(w http.ResponseWriter, r *http.Request) error {
	grants, err := a.dir.Grants(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(grants, grantOut)))
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
	g, err := a.dir.CreateGrant(r.Context(), r.PathValue("tenant"), directory.GrantRequest(req))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, grantOut(g))
	return nil
}

func (a *API) deleteGrant(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.DeleteGrant(r.Context(), r.PathValue("tenant"), r.PathValue("id"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
