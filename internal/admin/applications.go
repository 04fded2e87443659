package admin

import (
	"context"
	"net/http"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
)

// tenantAndApp resolves the {tenant} and {app} path parameters.
func (a *API) tenantAndApp(r *http.Request) (directory.Tenant, directory.Application, error) {
	return a.dir.Application(r.Context(), r.PathValue("tenant"), r.PathValue("app"))
}

// afterWrite notifies the token service after a successful write and passes
// err (nil) through, so that handlers read decode → service → render.
func (a *API) afterWrite(ctx context.Context, err error) error {
	if err == nil {
		a.notifyChanged(ctx)
	}
	return err
}

func (a *API) listApplications(w http.ResponseWriter, r *http.Request) error {
	apps, err := a.dir.Applications(r.Context(), r.PathValue("tenant"))
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
	DisplayName                   string   `json:"displayName"`
	IdentifierURIs                []string `json:"identifierUris"`
	AccessTokenLifetimeSeconds    *int64   `json:"accessTokenLifetimeSeconds"`
	RequireCertificateBoundTokens bool     `json:"requireCertificateBoundTokens"`
}

func (a *API) createApplication(w http.ResponseWriter, r *http.Request) error {
	var req createApplicationRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	audit.ChangeFrom(r.Context()).Creates(req.DisplayName)
	app, err := a.dir.CreateApplication(r.Context(), r.PathValue("tenant"), directory.NewApplication(req))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, applicationOut(app))
	return nil
}

type updateApplicationRequest struct {
	DisplayName                   *string   `json:"displayName"`
	IdentifierURIs                *[]string `json:"identifierUris"`
	AccessTokenLifetimeSeconds    *int64    `json:"accessTokenLifetimeSeconds"`
	RequireCertificateBoundTokens *bool     `json:"requireCertificateBoundTokens"`
}

func (a *API) updateApplication(w http.ResponseWriter, r *http.Request) error {
	var req updateApplicationRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.DisplayName == nil && req.IdentifierURIs == nil && req.AccessTokenLifetimeSeconds == nil && req.RequireCertificateBoundTokens == nil {
		return badRequest("nothing to change: give at least one of %s", fieldList(&req))
	}
	updated, err := a.dir.UpdateApplication(r.Context(), r.PathValue("tenant"), r.PathValue("app"), directory.ApplicationChange(req))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applicationOut(updated))
	return nil
}

func (a *API) deleteApplication(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.DeleteApplication(r.Context(), r.PathValue("tenant"), r.PathValue("app"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
