package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// realm is the RFC 6750 section 3 realm of the admin API's challenges.
const realm = "portcullis-admin"

type callerKey struct{}

// callerAppID returns the appId of the authenticated caller.
func callerAppID(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// authenticate admits requests that carry a valid admin token (RFC 6750
// section 2.1 bearer header): issued by the token service for the management
// resource, in the tenant that holds it, with the Portcullis.Admin role.
// Writes get an audit line with caller, method, path and status.
func (a *API) authenticate(audit bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.verify(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				writeError(w, a.toAPIError(r, err))
				return
			}
			switch ae.status {
			case http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", challenge("invalid_token", ae.msg))
			case http.StatusForbidden:
				w.Header().Set("WWW-Authenticate", challenge("insufficient_scope", ae.msg))
			}
			if a.refusals.Allow() {
				a.log.Info("admin request refused", "method", r.Method, "path", r.URL.Path, "status", ae.status, "reason", ae.msg,
					"skipped_since_last", a.refusalsSkipped.Swap(0))
			} else {
				a.refusalsSkipped.Add(1)
			}
			writeError(w, ae)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, p.AppID))
		if !audit {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		a.auditedWrite(sw, r, p, next)
		a.log.Info("admin write", "caller", p.AppID, "tenant", p.TenantID, "method", r.Method, "path", r.URL.Path, "status", sw.status)
	})
}

// auditedWrite serves a write with an audit.Change in its context, claimed
// with the request's record: the store commits the record in the change's
// own transaction (the first one, when a request makes several). A vault
// operation takes the change over with its own, more precise record. A
// request that wrote nothing (refused, invalid, or a no-op) gets its
// record appended afterwards, with the outcome its status tells.
func (a *API) auditedWrite(sw *statusRecorder, r *http.Request, p *guard.Principal, next http.Handler) {
	id := uuid.NewString()
	sw.Header().Set("X-Request-Id", id)
	ctx := context.WithValue(audit.WithChange(r.Context()), requestIDKey{}, id)
	ch := audit.ChangeFrom(ctx)
	owner := new(byte) // identifies this request's claim
	rec := audit.Record{
		RequestID: id, TenantID: p.TenantID, AppID: p.AppID, ObjectID: p.ObjectID,
		Type: audit.TypeDirectory, Name: r.URL.Path, Operation: r.Method + " " + routePattern(r), Outcome: audit.OutcomeSuccess,
	}
	ch.Claim(owner, rec, a.now, true)
	next.ServeHTTP(sw, r.WithContext(ctx))
	if described, ok := ch.Record(owner); ok {
		rec = described // with the name of what the request meant to create
	}
	written, held := ch.Release(owner)
	if written || !held || a.auditLog == nil {
		return
	}
	rec.Time = a.now()
	switch {
	case sw.status == http.StatusUnauthorized || sw.status == http.StatusForbidden:
		rec.Outcome, rec.Code = audit.OutcomeDenied, strconv.Itoa(sw.status)
	case sw.status >= 400:
		rec.Outcome, rec.Code = audit.OutcomeFailed, strconv.Itoa(sw.status)
	}
	// The request's context may be cancelled; the record is written anyway.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.auditLog.AppendAuditLog(actx, rec); err != nil {
		a.log.Error("admin audit record could not be written", "request_id", id, "operation", rec.Operation, "error", err)
	}
}

// routePattern is the route r matched, without its method
// ("/admin/v1/tenants/{tenant}"), or its path when it matched none.
func routePattern(r *http.Request) string {
	if _, path, ok := strings.Cut(r.Pattern, " "); ok {
		return path
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

// verify returns the caller or an apiError: 401 (no or bad token, wrong
// audience or tenant, deleted client), 403 (no admin role), 400 (two
// Authorization headers), 503 (keys cannot be checked now).
func (a *API) verify(r *http.Request) (*guard.Principal, error) {
	if a.mgmtApp == "" || a.authn == nil || a.store == nil || a.keys == nil {
		return nil, errors.New("admin API misconfigured: Config.ManagementAppID, Authenticator, Keys and Store are required")
	}
	p, err := a.authn.Authenticate(r)
	if err != nil {
		if errors.Is(err, guard.ErrNoCredentials) {
			if r.Header.Get("Authorization") != "" {
				return nil, errorf(http.StatusUnauthorized, "the Authorization header must be \"Bearer <token>\" with a token for scope %s/.default", directory.ManagementIdentifierURI)
			}
			return nil, errorf(http.StatusUnauthorized, "no access token: send Authorization: Bearer <token> with a token for scope %s/.default", directory.ManagementIdentifierURI)
		}
		ge := guard.AsError(err)
		switch ge.Status {
		case http.StatusBadRequest:
			return nil, errorf(http.StatusBadRequest, "%s", ge.Description)
		case http.StatusServiceUnavailable:
			return nil, errorf(http.StatusServiceUnavailable, "the access token cannot be checked now (%s); retry shortly", ge.Description)
		}
		return nil, errorf(http.StatusUnauthorized, "the access token is not valid (%s); get a new token for scope %s/.default", headerSafe(ge.Description), directory.ManagementIdentifierURI)
	}
	if !slices.ContainsFunc(p.Audience, func(aud string) bool { return strings.EqualFold(aud, a.mgmtApp) }) {
		return nil, errorf(http.StatusUnauthorized, "the access token's audience %q is not the management API; get a token for scope %s/.default", headerSafe(strings.Join(p.Audience, " ")), directory.ManagementIdentifierURI)
	}
	// The management application lives in exactly one tenant; a token that
	// another tenant issued for an application that happens to share the
	// appId is not an admin token.
	if err := a.checkManagementTenant(r.Context(), p.TenantID); err != nil {
		return nil, err
	}
	if p.HasRole(directory.AdminRoleValue) {
		return p, nil
	}
	return nil, errorf(http.StatusForbidden, "the caller %s lacks the app role %s on the management API; an administrator must grant it (POST %s/tenants/{tenant}/grants) before a new token is requested", headerSafe(p.AppID), directory.AdminRoleValue, basePath)
}

// checkManagementTenant refuses a tenant other than the one holding the
// management application. That tenant is looked up in the store until it is
// found and then remembered: the directory refuses to delete the management
// application or its tenant, and an application never changes tenant, so
// the answer cannot change and admin calls need no store read for it.
func (a *API) checkManagementTenant(ctx context.Context, tenantID string) error {
	if known := a.mgmtTenant.Load(); known != nil {
		if strings.EqualFold(*known, tenantID) {
			return nil
		}
		return notManagementTenant(tenantID)
	}
	app, err := a.store.GetApplication(ctx, strings.ToLower(tenantID), strings.ToLower(a.mgmtApp))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notManagementTenant(tenantID)
		}
		return err
	}
	a.mgmtTenant.Store(&app.TenantID)
	return nil
}

func notManagementTenant(tenantID string) error {
	return errorf(http.StatusUnauthorized, "the access token was issued by tenant %q, which does not hold the management API; get the token from the tenant that does", headerSafe(tenantID))
}

// challenge builds the WWW-Authenticate value of RFC 6750 section 3.
func challenge(code, description string) string {
	return `Bearer realm="` + realm + `", error="` + code + `", error_description="` + headerSafe(description) + `"`
}

// headerSafe keeps printable ASCII other than quote and backslash, so that a
// value fits in a quoted-string (RFC 6750 section 3 restricts
// error_description to %x20-21 / %x23-5B / %x5D-7E) and a log line.
func headerSafe(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\'')
		case c >= 0x20 && c <= 0x7e:
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
