// Package admin is the management REST API of Portcullis under /admin/v1:
// tenants, applications with their identifier URIs, app roles, password and
// key credentials, grants (admin consent), signing keys, gateway APIs, API
// connectors, vaults and root keys, described by an OpenAPI 3 document
// served at /admin/v1/openapi.json.
//
// Callers authenticate with a bearer token that Portcullis's own token
// service issued for the built-in management resource and that carries the
// Portcullis.Admin app role. Handlers are thin: decode the request, call
// the directory service (directory.Service holds every rule and runs each
// change in one store transaction), render the result or the error (one
// mapping, in errors.go). Config.Changed is called after every successful
// write so that the token service serves the change at once.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
	"golang.org/x/time/rate"
)

// Config is what the admin API needs. Store, Authenticator, Keys
// and ManagementAppID are required; the others have safe defaults.
type Config struct {
	// Store holds the directory; the API's directory.Service runs over it.
	Store directory.Store
	// Snapshot, when set, returns the node's current directory snapshot:
	// while Store reports store.ErrUnavailable, the reads it can answer
	// (tenants, an application by appId, APIs, connectors) come from it.
	Snapshot func() *directory.Snapshot
	// Authenticator admits admin callers: guard.Bearer over a
	// guard.Verifier whose audience is the management application,
	// wrapped by guard.RequireExistingClient. The API then requires the
	// tenant that holds the management application and the
	// Portcullis.Admin role.
	Authenticator guard.Authenticator
	// Keys manages the tenants' token-signing keys.
	Keys KeyManager
	// ManagementAppID is the appId of the built-in management resource: the
	// audience an admin token must carry.
	ManagementAppID string
	// Changed is called after every successful write so that the token
	// service reloads; nil means nothing to notify.
	Changed func(ctx context.Context)
	// Logger receives the audit line of every admin write and the details of
	// internal errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublicURL is the base URL clients use (e.g. https://login.example.com),
	// from which a tenant's issuer and endpoints are computed; "" means the
	// scheme and Host of each request.
	PublicURL string
	// Vaults serves the vault management routes (/admin/v1/vaults…); nil
	// makes them answer 503 ServiceUnavailable.
	Vaults *vault.Service
	// VaultTenant names the tenant that owns a vault ("" when none), the
	// rule by which the gateway and the connectors confine vault
	// references: an API or connector may reference only its own tenant's
	// vaults. nil accepts any vault.
	VaultTenant func(vault string) string
	// TokenClient sends the client-credentials token requests of the
	// connectors invoked through the API (nil: the system roots), as the
	// runtime's connectors send them.
	TokenClient *http.Client
	// RootKeys serves root-key rotation (/admin/v1/rekey, /admin/v1/rootKeys);
	// nil makes them answer 503 ServiceUnavailable.
	RootKeys RootKeys
	// RekeyBudget bounds the work of one rekey request; DefaultRekeyBudget
	// when zero.
	RekeyBudget time.Duration
	// Gateway serves the gateway routes (explain, /admin/v1/gateway); nil
	// makes them answer 503 ServiceUnavailable (the gateway is off on this
	// node). Leave it a nil interface, not a nil *gateway.Gateway.
	Gateway Gateway
	// AuditLog is the audit log GET /admin/v1/audit reads and where a
	// write that changed nothing is recorded; when nil, Store is used if
	// it implements AuditLog.
	AuditLog AuditLog
}

// AuditLog is the one audit log (package audit) as the admin API uses it.
type AuditLog interface {
	AppendAuditLog(ctx context.Context, records ...audit.Record) error
	ListAuditLog(ctx context.Context, q audit.Query) ([]audit.Record, error)
}

// KeyManager manages the token-signing keys of tenants.
type KeyManager interface {
	// EnsureSigningKey creates a signing key for the tenant if it has none.
	EnsureSigningKey(ctx context.Context, tenantID string) error
	// RotateSigningKeys creates the tenant's next signing key, active at once
	// when immediate, and returns its kid.
	RotateSigningKeys(ctx context.Context, tenantID string, immediate bool) (string, error)
	// SigningKeys lists the tenant's signing keys with their status.
	SigningKeys(tenantID string) ([]sts.KeyInfo, error)
}

// API serves the admin REST API; create it with New and attach it to a mux
// with Register.
type API struct {
	store   directory.Store
	dir     *directory.Service
	authn   guard.Authenticator
	keys    KeyManager
	mgmtApp string
	// mgmtTenant is the id of the tenant holding the management
	// application once verify has found it (see checkManagementTenant).
	mgmtTenant  atomic.Pointer[string]
	changed     func(ctx context.Context)
	log         *slog.Logger
	now         func() time.Time
	public      string
	vaults      *vault.Service
	vaultTenant func(string) string
	tokenClient *http.Client

	// refusals paces the log lines of refused requests, so that a flood
	// of bad tokens cannot flood the log; skipped ones are counted.
	refusals        *rate.Limiter
	refusalsSkipped atomic.Int64
	// pace rate-limits the log lines of requests failed by an outage.
	pace *ratelog.Limiter

	rootKeys    RootKeys
	rekeyBudget time.Duration
	gateway     Gateway
	auditLog    AuditLog
}

// New returns the admin API for cfg, filling in defaults.
func New(cfg Config) *API {
	a := &API{
		store:       cfg.Store,
		authn:       cfg.Authenticator,
		refusals:    rate.NewLimiter(20, 100),
		keys:        cfg.Keys,
		mgmtApp:     cfg.ManagementAppID,
		changed:     cfg.Changed,
		log:         cfg.Logger,
		now:         cfg.Now,
		public:      trimRightSlash(cfg.PublicURL),
		vaults:      cfg.Vaults,
		vaultTenant: cfg.VaultTenant,
		tokenClient: cfg.TokenClient,

		rootKeys:    cfg.RootKeys,
		rekeyBudget: cfg.RekeyBudget,
		gateway:     cfg.Gateway,
		auditLog:    cfg.AuditLog,
	}
	if al, ok := cfg.Store.(AuditLog); ok && a.auditLog == nil {
		a.auditLog = al
	}
	if a.rekeyBudget <= 0 {
		a.rekeyBudget = DefaultRekeyBudget
	}
	if a.changed == nil {
		a.changed = func(context.Context) {}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.pace = ratelog.New(a.log, ratelog.DefaultInterval, nil)
	if a.now == nil {
		a.now = time.Now
	}
	// The store keeps microseconds; answer creates with the time a later
	// read returns.
	clock := a.now
	a.now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	if a.store != nil && cfg.Snapshot != nil {
		a.store = snapshotReads{Store: a.store, snapshot: cfg.Snapshot}
	}
	if a.store != nil {
		a.dir = directory.NewService(a.store, a.now)
		if a.vaults != nil {
			a.dir = a.dir.WithVaultReferences(NewVaultReferences(a.vaults, a.vaultTenant, a.log))
		}
	}
	return a
}

func trimRightSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// handlerFunc is an admin handler: it writes a success response itself and
// returns an error for everything else, which serve maps to the wire.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one operation of the API.
type route struct {
	method string
	path   string // net/http pattern path, also the OpenAPI path
	public bool   // served without authentication
	handle func(a *API) handlerFunc
}

// basePath is the prefix of every admin route.
const basePath = "/admin/v1"

// routes lists every operation; Register installs exactly these and the
// OpenAPI document describes exactly these (a test keeps them in step).
func routes() []route {
	const t = basePath + "/tenants/{tenant}"
	const app = t + "/applications/{app}"
	return append([]route{
		{"GET", basePath + "/openapi.json", true, func(a *API) handlerFunc { return a.openAPI }},
		{"GET", basePath + "/tenants", false, func(a *API) handlerFunc { return a.listTenants }},
		{"POST", basePath + "/tenants", false, func(a *API) handlerFunc { return a.createTenant }},
		{"GET", t, false, func(a *API) handlerFunc { return a.getTenant }},
		{"DELETE", t, false, func(a *API) handlerFunc { return a.deleteTenant }},
		{"GET", t + "/applications", false, func(a *API) handlerFunc { return a.listApplications }},
		{"POST", t + "/applications", false, func(a *API) handlerFunc { return a.createApplication }},
		{"GET", app, false, func(a *API) handlerFunc { return a.getApplication }},
		{"PATCH", app, false, func(a *API) handlerFunc { return a.updateApplication }},
		{"DELETE", app, false, func(a *API) handlerFunc { return a.deleteApplication }},
		{"GET", app + "/appRoles", false, func(a *API) handlerFunc { return a.listAppRoles }},
		{"POST", app + "/appRoles", false, func(a *API) handlerFunc { return a.createAppRole }},
		{"DELETE", app + "/appRoles/{role}", false, func(a *API) handlerFunc { return a.deleteAppRole }},
		{"GET", app + "/passwordCredentials", false, func(a *API) handlerFunc { return a.listPasswordCredentials }},
		{"POST", app + "/passwordCredentials", false, func(a *API) handlerFunc { return a.createPasswordCredential }},
		{"DELETE", app + "/passwordCredentials/{id}", false, func(a *API) handlerFunc { return a.deletePasswordCredential }},
		{"GET", app + "/keyCredentials", false, func(a *API) handlerFunc { return a.listKeyCredentials }},
		{"POST", app + "/keyCredentials", false, func(a *API) handlerFunc { return a.createKeyCredential }},
		{"DELETE", app + "/keyCredentials/{id}", false, func(a *API) handlerFunc { return a.deleteKeyCredential }},
		{"GET", app + "/federatedIdentityCredentials", false, func(a *API) handlerFunc { return a.listFederatedIdentityCredentials }},
		{"POST", app + "/federatedIdentityCredentials", false, func(a *API) handlerFunc { return a.createFederatedIdentityCredential }},
		{"GET", app + "/federatedIdentityCredentials/{id}", false, func(a *API) handlerFunc { return a.getFederatedIdentityCredential }},
		{"DELETE", app + "/federatedIdentityCredentials/{id}", false, func(a *API) handlerFunc { return a.deleteFederatedIdentityCredential }},
		{"GET", t + "/grants", false, func(a *API) handlerFunc { return a.listGrants }},
		{"POST", t + "/grants", false, func(a *API) handlerFunc { return a.createGrant }},
		{"DELETE", t + "/grants/{id}", false, func(a *API) handlerFunc { return a.deleteGrant }},
		{"GET", t + "/signingKeys", false, func(a *API) handlerFunc { return a.listSigningKeys }},
		{"POST", t + "/signingKeys/rotate", false, func(a *API) handlerFunc { return a.rotateSigningKeys }},
	}, slices.Concat(apiRoutes(), connectorRoutes(), gatewayRoutes(), vaultRoutes(), rootKeyRoutes(), auditRoutes())...)
}

// fallbackPattern catches every other path under the base path so that
// unknown paths and wrong methods get the API's JSON error shape.
const fallbackPattern = basePath + "/"

// Register installs the admin routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range routes() {
		h := rt.handle(a)
		var hh http.Handler
		if rt.public {
			hh = a.serve(h)
		} else {
			hh = a.authenticate(rt.writes(), a.serve(h))
		}
		mux.Handle(rt.method+" "+rt.path, hh)
	}
	mux.Handle(fallbackPattern, a.fallback(mux))
}

// fallback answers 405 with an Allow header when the path exists for other
// methods, and 404 otherwise.
func (a *API) fallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != fallbackPattern {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
			return
		}
		writeError(w, errorf(http.StatusNotFound, "no admin API operation at %s; the operations are listed in %s/openapi.json", r.URL.Path, basePath))
	})
}

// serve runs h and maps its error to the wire.
func (a *API) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, a.toAPIError(r, err))
		}
	})
}

// notifyChanged tells the token service that the store changed.
func (a *API) notifyChanged(ctx context.Context) {
	a.changed(ctx)
}
