package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Config is what New needs. Every field is optional: without Vault no API
// may reference a secret, without TenantKeys, TenantIssuer and TenantID
// none may accept Portcullis tenant tokens (such APIs answer 503 saying
// so); Now and Logger default to time.Now and slog.Default(); without
// Audit nothing is audited; without Metrics the series are kept but not
// registered.
type Config struct {
	// Vault resolves the policies' references, off the request path.
	Vault Vault
	// Watcher, when set, is the node's shared vault watcher over Vault:
	// the gateway acquires its references there instead of running a
	// watcher of its own, and the watcher's owner runs it and calls
	// VaultChanged from its Changed callback.
	Watcher *vaultwatch.Watcher
	// VaultTenant names the tenant that owns a vault ("" when there is no
	// such vault): an API may reference only its own tenant's vaults.
	VaultTenant func(vaultName string) (tenantID string)

	// TenantKeys are the token service's keys (sts.Server.Key), for
	// bearer issuers that are Portcullis tenants.
	TenantKeys guard.KeySource
	// TenantIssuer returns the exact iss of a tenant's tokens.
	TenantIssuer func(tenantID string) string
	// TenantID turns a tenant name or id into its id.
	TenantID func(nameOrID string) (string, bool)
	// TenantAudience returns the appId of the application of a tenant
	// that holds the identifier URI audience ("api://orders"). A tenant's
	// v2 tokens carry the appId in aud; with it an API may name its
	// audience as users think of it, as Microsoft.Identity.Web accepts
	// both.
	TenantAudience func(tenantID, audience string) (appID string, ok bool)
	// Clients refuses tokens of tenant-issued applications deleted since
	// (guard.RequireExistingClient's rule); sts.Server implements it.
	Clients guard.ClientDirectory

	// HTTPClient fetches OIDC discovery documents and JWKS.
	HTTPClient *http.Client
	// TokenClient sends the token requests of backend credentials
	// obtained by client credentials (nil: outbound's default client).
	TokenClient *http.Client
	// NewBackend, when set, makes the HTTP engine's backend for an API; it
	// is kept while the API's revision stands and closed once replaced.
	NewBackend func(Upstream) (Backend, error)

	// FailureBudget bounds failed authentications per source address
	// (default 30 per minute with a burst of 30).
	FailureBudget BudgetConfig
	// FailureLog, when set, hears every failure taken from the budget, to
	// share it with the other nodes of a cluster (they apply it with
	// TakeFailures), so that the budget is cluster-wide. RecordFailure is
	// called on the request path: it must not block or do I/O.
	FailureLog FailureLog

	Now     func() time.Time
	Logger  *slog.Logger
	Audit   io.Writer // one JSON line per decision; nil: no audit
	Metrics prometheus.Registerer
	// Dev admits Basic and API keys on plain HTTP with a warning.
	Dev bool
	// PlainHTTPOnly says every gateway listener is plain HTTP: an API that
	// can only work over TLS (one that requires certificate-bound tokens)
	// is then refused when it is configured, with the reason.
	PlainHTTPOnly bool
}

// Backend is the HTTP engine's handle for one API's upstream.
type Backend interface{ Close() }

// Upstream is where an API's admitted requests go, in the form the HTTP
// engine needs.
type Upstream struct {
	URLs []*url.URL
	// TLS is for https URLs; nil means the system roots.
	TLS                                                *tls.Config
	ConnectTimeout, ResponseHeaderTimeout, IdleTimeout time.Duration
}

// Gateway decides requests against the current routing snapshot. Apply
// swaps in a new snapshot; Evaluate reads one without locks.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	routes  atomic.Pointer[routes]
	res     *vaultwatch.Watcher
	oidc    *oidcSources
	crls    *crlSources
	budget  *budget
	audit   *auditWriter
	metrics *metrics
	ids     decisionIDs
	// upstreamLog tells the server log that an API's backend fails (TLS
	// trust, refused connections, timeouts), one line per API and 10 s;
	// every failed request is in the audit log with its error.
	upstreamLog *ratelog.Limiter

	applyMu sync.Mutex
	last    []directory.API // what the last Apply got, for recompiles
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// routes is one immutable routing snapshot.
type routes struct {
	router    *router
	apis      []*API
	byKey     map[string]*API // tenantID + "/" + name
	needsCert bool
}

// New returns a Gateway serving no API until the first Apply, and starts
// its background refresher; Close stops it.
func New(cfg Config) (*Gateway, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b, err := newBudget(cfg.FailureBudget)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{cfg: cfg, log: cfg.Logger, now: cfg.Now, budget: b, metrics: m, cancel: cancel,
		upstreamLog: ratelog.New(cfg.Logger, ratelog.DefaultInterval, cfg.Now)}
	g.ids.init()
	g.res = cfg.Watcher
	if g.res == nil {
		g.res = vaultwatch.New(vaultwatch.Config{Vault: cfg.Vault, Logger: cfg.Logger, Now: cfg.Now, Changed: g.VaultChanged})
	}
	g.oidc = &oidcSources{ctx: ctx, m: map[string]*lazyOIDC{},
		opts: guard.OIDCOptions{HTTPClient: cfg.HTTPClient, Now: cfg.Now, Logger: cfg.Logger}}
	g.crls = &crlSources{ctx: ctx, m: map[string]*crlSource{},
		opts: guard.CRLURLOptions{Client: cfg.HTTPClient, Logger: cfg.Logger, Now: cfg.Now}}
	if cfg.Audit != nil {
		g.audit = newAuditWriter(cfg.Audit, defaultAuditQueue, m.auditDropped, cfg.Logger)
	}
	g.routes.Store(&routes{router: newRouter(), byKey: map[string]*API{}})
	if cfg.Vault != nil && cfg.Watcher == nil {
		g.wg.Go(func() { g.res.Run(ctx) })
	}
	return g, nil
}

// Close stops the refresher and the OIDC loaders, closes the backends and
// flushes the audit log.
func (g *Gateway) Close(ctx context.Context) error {
	g.cancel()
	g.wg.Wait()
	g.oidc.wg.Wait()
	for _, a := range g.routes.Load().apis {
		if a.Backend != nil {
			a.Backend.Close()
		}
	}
	if g.audit != nil {
		return g.audit.close(ctx)
	}
	return nil
}

// FlushAudit waits until every audit line queued so far is written.
func (g *Gateway) FlushAudit(ctx context.Context) error {
	if g.audit == nil {
		return nil
	}
	return g.audit.flush(ctx)
}

// NeedsClientCertificate reports whether any served API accepts client
// certificates, so that TLS listeners request one (tls.RequestClientCert;
// verification is per API, after routing).
func (g *Gateway) NeedsClientCertificate() bool { return g.routes.Load().needsCert }

// Problem is an API that cannot serve, and why.
type Problem struct {
	TenantID, API, Reason string
}

// Problems lists the APIs that answer 503 now (or cannot be routed at
// all), for health reports and the admin API.
func (g *Gateway) Problems() []Problem {
	var out []Problem
	for _, a := range g.routes.Load().apis {
		if p := a.problem(); p != "" {
			out = append(out, Problem{a.TenantID, a.Name, p})
		}
	}
	return out
}

// Apply builds a routing snapshot from apis (every API of every tenant)
// and swaps it in. An API that does not compile is served as 503 naming
// the problem; Apply fails only when it cannot build a snapshot at all.
// An API whose Revision is unchanged keeps its compiled state.
func (g *Gateway) Apply(apis []directory.API) error {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	return g.apply(apis, false)
}

// ApplicationsChanged compiles again the APIs whose audiences follow the
// applications (identifier URIs resolved to appIds).
func (g *Gateway) ApplicationsChanged() error {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	return g.apply(g.last, true)
}

// ApplyWithApplications is Apply and ApplicationsChanged in one pass, for
// an update that changed both.
func (g *Gateway) ApplyWithApplications(apis []directory.API) error {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	return g.apply(apis, true)
}

// VaultChanged is the vault watcher's Changed callback: APIs compiled
// against a certificate that changed are compiled again, and the health of
// every API is recomputed. A gateway with a watcher of its own wires it
// itself; the owner of a shared Config.Watcher calls it.
func (g *Gateway) VaultChanged(certificates bool) {
	if certificates {
		g.applyMu.Lock()
		err := g.apply(g.last, false)
		g.applyMu.Unlock()
		if err != nil {
			g.log.Warn("gateway: recompiling APIs after a certificate change failed", "err", err)
		}
	}
	// Also after a certificate pass: apply refreshed only the APIs it
	// compiled again, and the same pass may have resolved the secrets of
	// others (the first pass after a start resolves everything at once).
	for _, a := range g.routes.Load().apis {
		a.refreshHealth(g.log)
	}
}

func (g *Gateway) apply(apis []directory.API, appsChanged bool) error {
	old := g.routes.Load()
	sorted := slices.Clone(apis)
	slices.SortFunc(sorted, func(a, b directory.API) int {
		return cmp.Or(strings.Compare(a.TenantID, b.TenantID), strings.Compare(a.Name, b.Name))
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i].TenantID == sorted[i-1].TenantID && sorted[i].Name == sorted[i-1].Name {
			return fmt.Errorf("gateway: API %q of tenant %s is listed twice", sorted[i].Name, sorted[i].TenantID)
		}
	}
	next := &routes{router: newRouter(), byKey: make(map[string]*API, len(sorted))}
	var fresh []*API
	for i := range sorted {
		d := &sorted[i]
		key := d.TenantID + "/" + d.Name
		a := old.byKey[key]
		// An API that did not compile is tried again: what it lacked (a
		// tenant named as issuer, say) may exist now.
		if a == nil || a.Revision != d.Revision || !a.compiled || a.stale() || appsChanged && a.byURI {
			a = g.compile(d)
			fresh = append(fresh, a)
		}
		next.byKey[key] = a
		next.apis = append(next.apis, a)
		if a.routable {
			if o := next.router.add(a); o != nil && a.shadowLogged.CompareAndSwap(false, true) {
				g.log.Warn("gateway: two APIs match the same requests; the first in (tenant, name) order serves them",
					"tenant", a.TenantID, "api", a.Name, "shadowedByTenant", o.TenantID, "shadowedBy", o.Name)
			}
		}
		next.needsCert = next.needsCert || a.needsCert
	}
	next.router.finish()

	keepIssuers, keepCRLs := map[string]bool{}, map[string]bool{}
	for _, a := range next.apis {
		for _, iss := range a.oidc {
			keepIssuers[iss] = true
		}
		for _, u := range a.crlURLs {
			keepCRLs[u] = true
		}
	}
	for _, a := range fresh {
		a.refreshHealth(g.log)
	}
	g.routes.Store(next)
	// A vault pass that ended between the health computed above and the
	// Store refreshed the old routes only: compute it again, or a fresh API
	// could report "not resolved yet" until the next vault change.
	for _, a := range fresh {
		a.refreshHealth(g.log)
	}
	g.last = sorted
	g.oidc.retain(keepIssuers)
	g.crls.retain(keepCRLs)
	for _, a := range old.apis {
		if next.byKey[a.TenantID+"/"+a.Name] != a {
			a.releaseReferences()
			if a.Backend != nil {
				a.Backend.Close()
			}
			if _, still := next.byKey[a.TenantID+"/"+a.Name]; !still {
				g.metrics.forget(a.TenantID, a.Name)
			}
		}
	}
	if len(fresh) > 0 {
		g.res.Wake() // resolve the new references now rather than at the next poll
	}
	return nil
}

// API is one compiled API of a routing snapshot. It is immutable but for
// its health, which the refresher updates.
type API struct {
	TenantID string
	Name     string
	Revision int64
	// Upstream is where admitted requests go; Backend is the engine's
	// handle for it (Config.NewBackend), nil without one.
	Upstream Upstream
	Backend  Backend
	// StripPrefix is the path prefix Evaluate removed from admitted
	// requests ("" when the API keeps it).
	StripPrefix string

	hosts    []string
	prefix   string
	methods  []string // upper-case; empty: any
	routable bool

	realm      string
	policy     guard.Policy
	compiled   bool  // policy is usable
	staticErr  error // why the API does not compile
	headers    []principalHeader
	ownHeaders []string // principal headers outside X-Portcullis-*
	insecure   bool     // accepts Basic or an API key
	allowHTTP  bool     // AllowInsecureAuth
	needsCert  bool
	tlsOnly    bool // every method does: no request over plain HTTP can be admitted
	secrets    []*vaultwatch.Handle
	certs      []certDep
	// cred is the backend credential and TLS settings (nil without
	// either); credRotated says its client certificate or a CA changed
	// since, so the API must be compiled again with a fresh pool.
	cred        *outbound.Credential
	credRotated atomic.Bool
	oidc        []string
	crlURLs     []string // CRL URLs the policy downloads
	vaultCRLs   []*vaultCRL
	// byURI: an audience was an identifier URI, resolved to its appId at
	// compile time; the API is compiled again when applications change.
	byURI bool

	health       atomic.Pointer[string] // "" healthy; else the 503 reason
	healthMu     sync.Mutex             // makes refreshHealth's read of the secrets and its store one step
	warnedHTTP   atomic.Bool
	shadowLogged atomic.Bool
	counters     *apiCounters
}

func (a *API) acceptsMethod(m string) bool {
	if len(a.methods) == 0 {
		return true
	}
	for _, x := range a.methods {
		if x == m {
			return true
		}
	}
	return false
}

// problem is why the API answers 503, or "".
func (a *API) problem() string {
	if p := a.health.Load(); p != nil {
		return *p
	}
	return ""
}

// stale reports whether a certificate the API was compiled against has
// changed since, or was awaited.
func (a *API) stale() bool {
	if a.credRotated.Load() {
		return true
	}
	for _, d := range a.certs {
		if d.e.Generation() != d.gen {
			return true
		}
	}
	return false
}

// releaseReferences gives up the API's vault references: a reference no
// API holds any more stops being watched.
func (a *API) releaseReferences() {
	for _, h := range a.secrets {
		h.Release()
	}
	for _, d := range a.certs {
		d.e.Release()
	}
	a.cred.Close()
}

// refreshHealth recomputes the API's 503 reason from its compile error and
// the state of its secrets; a change is logged once.
//
// Apply and the vault watcher's callback both call it, concurrently: the
// lock keeps a caller that read the secrets before a pass resolved them
// from storing its stale "not resolved yet" after the callback stored
// the healthy state, which would leave the API answering 503 until the
// next vault change.
func (a *API) refreshHealth(log *slog.Logger) {
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	p := ""
	switch {
	case a.staticErr != nil:
		p = a.staticErr.Error()
	default:
		for _, e := range a.secrets {
			if p = e.Problem(); p != "" {
				break
			}
		}
		if p == "" {
			// Every secret is resolved: CRLs held in secrets are parsed
			// now, off the event loops, so that the API never serves with
			// a list resolved but not parsed (a later version is parsed
			// here too, the version before serving meanwhile).
			for _, c := range a.vaultCRLs {
				if err := c.prepare(); err != nil {
					log.Warn("gateway: a CRL held in the vault is not a CRL; the certificates it covers cannot be checked against it",
						"tenant", a.TenantID, "api", a.Name, "ref", c.h.Ref().String(), "err", clip(err.Error(), 300))
				}
			}
		}
	}
	if testHookHealthComputed != nil {
		testHookHealthComputed(a, p)
	}
	old := a.health.Load()
	if old != nil && *old == p {
		return
	}
	a.health.Store(&p)
	// Waiting for the first resolution is not worth a line; a real
	// problem, and its end, are logged once.
	pending := func(s string) bool { return strings.HasSuffix(s, vaultwatch.NotResolvedYet) }
	switch {
	case p == "" && old != nil && *old != "" && !pending(*old):
		log.Info("gateway: API is serving again", "tenant", a.TenantID, "api", a.Name)
	case p != "" && !pending(p):
		log.Warn("gateway: API answers 503", "tenant", a.TenantID, "api", a.Name, "revision", a.Revision, "reason", p)
	}
}

// testHookHealthComputed, set by a test, runs between refreshHealth's read
// of the secrets and its store.
var testHookHealthComputed func(a *API, p string)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
