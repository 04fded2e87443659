package admin

import (
	"fmt"
	"net/http"

	"github.com/portcullis/portcullis/internal/audit"
)

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.dir.Tenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(tenants, tenantOut)))
	return nil
}

type createTenantRequest struct {
	Name string `json:"name"`
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req createTenantRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	ctx := r.Context()
	audit.ChangeFrom(ctx).Creates(req.Name)
	t, err := a.dir.CreateTenant(ctx, req.Name)
	if err != nil {
		return err
	}
	// The token service learns of the tenant first, then gets its key.
	a.notifyChanged(ctx)
	if err := a.keys.EnsureSigningKey(ctx, t.ID); err != nil {
		a.log.Error("admin API: tenant created but its signing key was not", "tenant", t.ID, "err", err)
		return errorf(http.StatusInternalServerError, "tenant %q was created (id %s) but its signing key could not be created; see the server log, then retry with POST %s/tenants/%s/signingKeys/rotate", t.Name, t.ID, basePath, t.Name)
	}
	a.notifyChanged(ctx)
	writeJSON(w, http.StatusCreated, tenantOut(t))
	return nil
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := a.dir.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	out := tenantOut(t)
	base := a.baseURL(r)
	out.Issuer = base + "/" + t.ID + "/v2.0"
	out.TokenEndpoint = base + "/" + t.ID + "/oauth2/v2.0/token"
	out.JWKSURI = base + "/" + t.ID + "/discovery/v2.0/keys"
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteTenant removes the tenant with its applications, credentials,
// grants, vault role assignments and signing keys (one transaction in the
// directory service); the tenant holding the management API is refused
// with 409.
func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.DeleteTenant(r.Context(), r.PathValue("tenant"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// baseURL is the public URL if configured, else the scheme and host the
// request arrived on.
func (a *API) baseURL(r *http.Request) string {
	if a.public != "" {
		return a.public
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	t, err := a.dir.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	keys, err := a.keys.SigningKeys(t.ID)
	if err != nil {
		return fmt.Errorf("signing keys of tenant %s: %w", t.ID, err)
	}
	writeJSON(w, http.StatusOK, list(mapSlice(keys, signingKeyOut)))
	return nil
}

type rotateRequest struct {
	Immediate bool `json:"immediate"`
}

func (a *API) rotateSigningKeys(w http.ResponseWriter, r *http.Request) error {
	var req rotateRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	ctx := r.Context()
	t, err := a.dir.Tenant(ctx, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	kid, err := a.keys.RotateSigningKeys(ctx, t.ID, req.Immediate)
	if err != nil {
		return fmt.Errorf("rotate signing keys of tenant %s: %w", t.ID, err)
	}
	a.notifyChanged(ctx)
	writeJSON(w, http.StatusCreated, rotateResponse{KID: kid})
	return nil
}
