package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// Audit listing bounds of GET /admin/v1/vaults/{vault}/audit.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// vaultRoutes are the vault management operations: vaults, their role
// assignments and their audit log. They call vault.Service as the Portcullis
// administrator (vault.Caller{Admin: true}) on behalf of the admin caller.
func vaultRoutes() []route {
	const vs = basePath + "/vaults"
	const v = vs + "/{vault}"
	return []route{
		{"GET", vs, false, func(a *API) handlerFunc { return a.withVaults(a.listVaults) }},
		{"POST", vs, false, func(a *API) handlerFunc { return a.withVaults(a.createVault) }},
		{"GET", v, false, func(a *API) handlerFunc { return a.withVaults(a.getVault) }},
		{"PATCH", v, false, func(a *API) handlerFunc { return a.withVaults(a.updateVault) }},
		{"GET", v + "/roleAssignments", false, func(a *API) handlerFunc { return a.withVaults(a.listVaultRoleAssignments) }},
		{"POST", v + "/roleAssignments", false, func(a *API) handlerFunc { return a.withVaults(a.createVaultRoleAssignment) }},
		{"DELETE", v + "/roleAssignments/{id}", false, func(a *API) handlerFunc { return a.withVaults(a.deleteVaultRoleAssignment) }},
		{"GET", v + "/audit", false, func(a *API) handlerFunc { return a.withVaults(a.vaultAudit) }},
	}
}

type requestIDKey struct{}

// withVaults answers 503 when no vault is configured, gives the request an
// id (echoed in X-Request-Id and recorded in the vault's audit log), and maps
// *vault.Error values to the admin API's statuses.
func (a *API) withVaults(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.vaults == nil {
			return errorf(http.StatusServiceUnavailable, "this server runs without the vault, so %s is not available", r.URL.Path)
		}
		if _, ok := r.Context().Value(requestIDKey{}).(string); !ok { // writes have one already
			id := uuid.NewString()
			w.Header().Set("X-Request-Id", id)
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		}
		return vaultError(h(w, r))
	}
}

// vaultCaller is the admin caller as the vault sees it: the Portcullis
// administrator, named by its appId in the audit log.
func vaultCaller(ctx context.Context) vault.Caller {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return vault.Caller{Principal: guard.Principal{AppID: callerAppID(ctx)}, Admin: true, RequestID: id}
}

// vaultError turns a *vault.Error into the admin API's error: its kind gives
// the status, its message the words. Internal errors stay as they are, so
// that toAPIError logs them and answers a generic 500.
func vaultError(err error) error {
	var ve *vault.Error
	if err == nil || !errors.As(err, &ve) {
		return err
	}
	switch ve.Kind {
	case vault.KindInternal:
		return err
	case vault.KindUnavailable:
		if errors.Is(err, store.ErrUnavailable) {
			return err // toAPIError answers it, once, with the same words everywhere
		}
	case vault.KindUnsupported:
		return badRequest("%s", ve.Message)
	}
	return errorf(ve.Kind.HTTPStatus(), "%s", ve.Message)
}

// vaultJSON is a vault as the admin API shows it.
type vaultJSON struct {
	Name                    string    `json:"name"`
	SoftDeleteRetentionDays int       `json:"softDeleteRetentionDays"`
	PurgeProtection         bool      `json:"purgeProtection"`
	RecoveryLevel           string    `json:"recoveryLevel"`
	VaultURI                string    `json:"vaultUri"`
	CreatedAt               time.Time `json:"createdAt"`
}

func (a *API) vaultOut(r *http.Request, v vault.Vault) vaultJSON {
	return vaultJSON{
		Name: v.Name, SoftDeleteRetentionDays: v.SoftDeleteRetentionDays, PurgeProtection: v.PurgeProtection,
		RecoveryLevel: v.RecoveryLevel(), VaultURI: a.baseURL(r) + "/vaults/" + v.Name, CreatedAt: v.Created.UTC(),
	}
}

func (a *API) listVaults(w http.ResponseWriter, r *http.Request) error {
	vs, err := a.vaults.ListVaults(r.Context(), vaultCaller(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(vs, func(v vault.Vault) vaultJSON { return a.vaultOut(r, v) })))
	return nil
}

type createVaultRequest struct {
	Name                    string `json:"name"`
	SoftDeleteRetentionDays int    `json:"softDeleteRetentionDays"`
	PurgeProtection         bool   `json:"purgeProtection"`
}

// createVault creates a vault and makes the calling admin application its
// Key Vault Administrator, so that the same credential can use it at once
// through the Key Vault API.
func (a *API) createVault(w http.ResponseWriter, r *http.Request) error {
	var req createVaultRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return badRequest("field \"name\" is required: the vault name, 3-24 letters, digits and dashes")
	}
	if req.SoftDeleteRetentionDays != 0 && (req.SoftDeleteRetentionDays < vault.MinRetentionDays || req.SoftDeleteRetentionDays > vault.MaxRetentionDays) {
		return badRequest("field \"softDeleteRetentionDays\" must be between %d and %d (or omitted for %d), got %d",
			vault.MinRetentionDays, vault.MaxRetentionDays, vault.DefaultRetentionDays, req.SoftDeleteRetentionDays)
	}
	ctx := r.Context()
	c := vaultCaller(ctx)
	v, err := a.vaults.CreateVault(ctx, c, vault.VaultInput{Name: req.Name, SoftDeleteRetentionDays: req.SoftDeleteRetentionDays, PurgeProtection: req.PurgeProtection})
	if err != nil {
		return err
	}
	if c.AppID != "" {
		_, err := a.vaults.AssignRole(ctx, c, vault.RoleAssignment{Vault: v.Name, PrincipalID: c.AppID, Role: vault.RoleAdministrator})
		if err != nil && !vault.IsKind(err, vault.KindConflict) {
			a.log.Error("admin API: vault created but assigning Key Vault Administrator to the caller failed", "vault", v.Name, "caller", c.AppID, "err", err)
			return errorf(http.StatusInternalServerError, "vault %s was created, but assigning %q on it to the calling application %s failed; assign it with POST %s/vaults/%s/roleAssignments",
				v.Name, vault.RoleAdministrator, c.AppID, basePath, v.Name)
		}
	}
	writeJSON(w, http.StatusCreated, a.vaultOut(r, v))
	return nil
}

func (a *API) getVault(w http.ResponseWriter, r *http.Request) error {
	v, err := a.vaults.GetVault(r.Context(), vaultCaller(r.Context()), r.PathValue("vault"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.vaultOut(r, v))
	return nil
}

type updateVaultRequest struct {
	SoftDeleteRetentionDays *int  `json:"softDeleteRetentionDays"`
	PurgeProtection         *bool `json:"purgeProtection"`
}

func (a *API) updateVault(w http.ResponseWriter, r *http.Request) error {
	var req updateVaultRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.SoftDeleteRetentionDays == nil && req.PurgeProtection == nil {
		return badRequest("nothing to change: give \"softDeleteRetentionDays\" (%d-%d) or \"purgeProtection\": true", vault.MinRetentionDays, vault.MaxRetentionDays)
	}
	v, err := a.vaults.UpdateVault(r.Context(), vaultCaller(r.Context()), r.PathValue("vault"),
		vault.VaultUpdate{SoftDeleteRetentionDays: req.SoftDeleteRetentionDays, PurgeProtection: req.PurgeProtection})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.vaultOut(r, v))
	return nil
}

// roleAssignmentJSON is a vault role assignment; principalName is the
// application's display name when the principal is a registered
// application, "" otherwise.
type roleAssignmentJSON struct {
	ID            string    `json:"id"`
	Vault         string    `json:"vault"`
	Scope         string    `json:"scope"`
	PrincipalID   string    `json:"principalId"`
	PrincipalName string    `json:"principalName"`
	Role          string    `json:"role"`
	CreatedAt     time.Time `json:"createdAt"`
}

func roleAssignmentOut(ra vault.RoleAssignment, names map[string]string) roleAssignmentJSON {
	return roleAssignmentJSON{
		ID: ra.ID, Vault: ra.Vault, Scope: ra.Scope, PrincipalID: ra.PrincipalID,
		PrincipalName: names[strings.ToLower(ra.PrincipalID)], Role: ra.Role, CreatedAt: ra.Created.UTC(),
	}
}

// principalNames maps the lower-case appIds and object ids of every
// application of every tenant to its display name.
func (a *API) principalNames(ctx context.Context) (map[string]string, error) {
	tenants, err := a.store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, t := range tenants {
		apps, err := a.store.ListApplications(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		for _, app := range apps {
			names[strings.ToLower(app.AppID)] = app.DisplayName
			names[strings.ToLower(app.ObjectID)] = app.DisplayName
		}
	}
	return names, nil
}

func (a *API) listVaultRoleAssignments(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	as, err := a.vaults.ListRoleAssignments(ctx, vaultCaller(ctx), r.PathValue("vault"))
	if err != nil {
		return err
	}
	names, err := a.principalNames(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(as, func(ra vault.RoleAssignment) roleAssignmentJSON { return roleAssignmentOut(ra, names) })))
	return nil
}

type createRoleAssignmentRequest struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
	Scope     string `json:"scope"`
	Tenant    string `json:"tenant"`
}

func (a *API) createVaultRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	var req createRoleAssignmentRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if strings.TrimSpace(req.Principal) == "" {
		return badRequest("field \"principal\" is required: the appId or display name of the application that receives the role")
	}
	if strings.TrimSpace(req.Role) == "" {
		names := make([]string, 0, len(vault.Roles()))
		for _, d := range vault.Roles() {
			names = append(names, strconv.Quote(d.Name))
		}
		return badRequest("field \"role\" is required: one of %s", strings.Join(names, ", "))
	}
	ctx := r.Context()
	tenant := req.Tenant
	if strings.TrimSpace(tenant) == "" {
		tenant = directory.DefaultTenantName
	}
	t, err := a.dir.Tenant(ctx, tenant)
	if err != nil {
		return err
	}
	app, err := a.dir.Principal(ctx, t, req.Principal)
	if err != nil {
		return err
	}
	ra, err := a.vaults.AssignRole(ctx, vaultCaller(ctx), vault.RoleAssignment{Vault: r.PathValue("vault"), PrincipalID: app.AppID, Role: req.Role, Scope: req.Scope})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, roleAssignmentOut(ra, map[string]string{strings.ToLower(app.AppID): app.DisplayName}))
	return nil
}

func (a *API) deleteVaultRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := a.vaults.RemoveRoleAssignment(ctx, vaultCaller(ctx), r.PathValue("vault"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditJSON is one vault audit record; it never holds a value.
type auditJSON struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	TenantID  string    `json:"tenantId"`
	AppID     string    `json:"appId"`
	ObjectID  string    `json:"objectId"`
	Vault     string    `json:"vault"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Operation string    `json:"operation"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
}

func auditOut(rec vault.AuditRecord) auditJSON {
	return auditJSON{
		Time: rec.Time.UTC(), RequestID: rec.RequestID, TenantID: rec.TenantID, AppID: rec.AppID, ObjectID: rec.ObjectID,
		Vault: rec.Vault, Type: string(rec.Type), Name: rec.Name, Version: rec.Version,
		Operation: rec.Operation, Outcome: rec.Outcome, Code: rec.Code, Reason: rec.Reason,
	}
}

// parseAuditLimit reads ?limit=N (1..maxAuditLimit, default defaultAuditLimit).
func parseAuditLimit(r *http.Request) (int, error) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return defaultAuditLimit, nil
	}
	s := q.Get("limit")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxAuditLimit {
		return 0, badRequest("query parameter limit=%q must be a whole number between 1 and %d", clip(s), maxAuditLimit)
	}
	return n, nil
}

func (a *API) vaultAudit(w http.ResponseWriter, r *http.Request) error {
	limit, err := parseAuditLimit(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("vault")
	// AuditLog with "" would read every vault; the route always names one.
	if name == "" {
		return badRequest("name a vault")
	}
	recs, err := a.vaults.AuditLog(ctx, vaultCaller(ctx), name, limit)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		// An empty log of a vault that does not exist is a 404.
		if _, err := a.vaults.GetVault(ctx, vaultCaller(ctx), name); err != nil {
			return fmt.Errorf("vault audit: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, list(mapSlice(recs, auditOut)))
	return nil
}
