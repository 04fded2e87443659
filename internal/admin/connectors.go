package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault"
)

// API connectors: the body of every operation is a directory.Connector in
// its JSON form, as for gateway APIs. A connector holds no secret (only
// vault references), so a GET returns all of it.

func connectorRoutes() []route {
	const cs = basePath + "/tenants/{tenant}/connectors"
	return []route{
		{"GET", cs, false, func(a *API) handlerFunc { return a.listConnectors }},
		{"POST", cs, false, func(a *API) handlerFunc { return a.createConnector }},
		{"GET", cs + "/{name}", false, func(a *API) handlerFunc { return a.getConnector }},
		{"PUT", cs + "/{name}", false, func(a *API) handlerFunc { return a.replaceConnector }},
		{"DELETE", cs + "/{name}", false, func(a *API) handlerFunc { return a.deleteConnector }},
		{"POST", cs + "/{name}/invoke", false, func(a *API) handlerFunc { return a.invokeConnector }},
	}
}

func (a *API) listConnectors(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.dir.Connectors(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(cs))
	return nil
}

// connectorLocation is the URL path of a connector.
func connectorLocation(tenant, name string) string {
	return basePath + "/tenants/" + url.PathEscape(tenant) + "/connectors/" + url.PathEscape(name)
}

func (a *API) getConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := a.dir.Connector(r.Context(), r.PathValue("tenant"), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Revision))
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) createConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := decodeConnector(w, r)
	if err != nil {
		return err
	}
	audit.ChangeFrom(r.Context()).Creates(c.Name)
	created, err := a.dir.CreateConnector(r.Context(), r.PathValue("tenant"), c)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.Header().Set("Location", connectorLocation(r.PathValue("tenant"), created.Name))
	w.Header().Set("ETag", etag(created.Revision))
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (a *API) replaceConnector(w http.ResponseWriter, r *http.Request) error {
	expected, err := ifMatchRevision(r.Header.Values("If-Match"))
	if err != nil {
		return err
	}
	c, err := decodeConnector(w, r)
	if err != nil {
		return err
	}
	updated, err := a.dir.UpdateConnector(r.Context(), r.PathValue("tenant"), r.PathValue("name"), c, expected)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated.Revision))
	writeJSON(w, http.StatusOK, updated)
	return nil
}

func (a *API) deleteConnector(w http.ResponseWriter, r *http.Request) error {
	expected, err := ifMatchRevision(r.Header.Values("If-Match"))
	if err != nil {
		return err
	}
	err = a.dir.DeleteConnector(r.Context(), r.PathValue("tenant"), r.PathValue("name"), expected)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeConnector reads a directory.Connector from the request body,
// refusing every unknown field at any depth with its JSON path.
func decodeConnector(w http.ResponseWriter, r *http.Request) (directory.Connector, error) {
	var c directory.Connector
	body, err := readBody(w, r)
	if err != nil {
		return c, err
	}
	if body == nil {
		return c, badRequest("request body is required: a JSON object with the fields %s", fieldList(&c))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return c, decodeError(err, &c)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, decodeError(errTrailingData, &c)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return c, badRequest("request body must be a JSON object with the fields %s", fieldList(&c))
	}
	if err := directory.CheckConnectorFields(raw); err != nil {
		return c, badRequest("%s", err.Error())
	}
	for _, k := range []string{"tenantId", "revision", "createdAt", "updatedAt"} {
		delete(obj, k)
	}
	clean, err := json.Marshal(obj)
	if err != nil {
		return c, badRequest("request body could not be decoded as JSON")
	}
	if err := decodeOne(clean, &c); err != nil {
		return c, decodeError(err, &c)
	}
	return c, nil
}

// NewVaultReferences returns the vault as the directory records references
// in it (directory.VaultReferences): vault.Service's AddReference and
// RemoveReference over the reference's text, with the vault's refusals
// turned into the directory's kinds; a reference it cannot release is
// logged on log. vaultTenant names the tenant that owns a vault, as the
// gateway and the connectors confine references at run time (nil: any
// vault). The admin API uses it when Config.Vaults is set.
func NewVaultReferences(v *vault.Service, vaultTenant func(vault string) string, log *slog.Logger) directory.VaultReferences {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return vaultReferences{vaults: v, vaultTenant: vaultTenant, log: log}
}

type vaultReferences struct {
	vaults      *vault.Service
	vaultTenant func(string) string
	log         *slog.Logger
}

func (v vaultReferences) AddReference(ctx context.Context, tenantID, ref, referrer string) error {
	r, err := vault.ParseReference(ref)
	if err != nil {
		return referenceError(err)
	}
	if v.vaultTenant != nil {
		if owner := v.vaultTenant(r.Vault); !strings.EqualFold(owner, tenantID) {
			return &directory.Error{Kind: directory.Invalid, Msg: fmt.Sprintf("vault %q does not belong to this tenant, so the reference could never be resolved; store the object in a vault of the tenant", r.Vault)}
		}
	}
	return referenceError(v.vaults.AddReference(ctx, r, referrer))
}

func (v vaultReferences) RemoveReference(ctx context.Context, ref, referrer string) error {
	r, err := vault.ParseReference(ref)
	if err != nil {
		return referenceError(err)
	}
	err = v.vaults.RemoveReference(ctx, r, referrer)
	if vault.IsKind(err, vault.KindNotFound) {
		return nil
	}
	if err != nil {
		// A stale reference is safe (the object cannot be deleted until
		// the referrer is written again); say so, for an operator.
		v.log.Warn("vault reference not released; the object stays undeletable until its referrer is written or deleted again",
			"reference", ref, "referrer", referrer, "error", err)
	}
	return err
}

// referenceError turns a vault refusal into the directory's kind with the
// vault's words, and leaves internal errors as they are.
func referenceError(err error) error {
	var ve *vault.Error
	if err == nil || !errors.As(err, &ve) {
		return err
	}
	kind := map[vault.ErrorKind]directory.Kind{
		vault.KindBadRequest: directory.Invalid, vault.KindUnsupported: directory.Invalid,
		vault.KindNotFound: directory.NotFound, vault.KindConflict: directory.Conflict, vault.KindForbidden: directory.Conflict,
	}[ve.Kind]
	if kind == 0 {
		return err
	}
	return &directory.Error{Kind: kind, Msg: ve.Message}
}
