package admin

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

func (a *API) listFederatedIdentityCredentials(w http.ResponseWriter, r *http.Request) error {
	_, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(app.FederatedIdentityCredentials, federatedIdentityCredentialOut)))
	return nil
}

func (a *API) getFederatedIdentityCredential(w http.ResponseWriter, r *http.Request) error {
	t, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	ref := r.PathValue("id")
	for _, c := range app.FederatedIdentityCredentials {
		if strings.EqualFold(c.ID, ref) || strings.EqualFold(c.Name, ref) {
			writeJSON(w, http.StatusOK, federatedIdentityCredentialOut(c))
			return nil
		}
	}
	return notFound("application %q has no federated identity credential with id or name %q; list them with GET %s/tenants/%s/applications/%s/federatedIdentityCredentials",
		app.DisplayName, ref, basePath, t.Name, app.AppID)
}

// createFederatedIdentityCredentialRequest is Graph's
// federatedIdentityCredential body, plus jwksUri or keys for an issuer
// without a discovery document.
type createFederatedIdentityCredentialRequest struct {
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences"`
	Description string          `json:"description"`
	JWKSURI     string          `json:"jwksUri"`
	Keys        json.RawMessage `json:"keys"`
}

func (a *API) createFederatedIdentityCredential(w http.ResponseWriter, r *http.Request) error {
	var req createFederatedIdentityCredentialRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	keys := req.Keys
	if string(keys) == "null" {
		keys = nil
	}
	if len(keys) > 0 && keys[0] != '{' {
		return badRequest("field \"keys\" must be a JWK Set object ({\"keys\": [...]}), as the issuer's JWKS URL serves it")
	}
	cred, err := a.dir.AddFederatedIdentityCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), directory.FederatedIdentityCredential{
		Name: req.Name, Issuer: req.Issuer, Subject: req.Subject, Audiences: req.Audiences, Description: req.Description,
		JWKSURI: req.JWKSURI, Keys: keys,
	})
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, federatedIdentityCredentialOut(cred))
	return nil
}

func (a *API) deleteFederatedIdentityCredential(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.RemoveFederatedIdentityCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), r.PathValue("id"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
