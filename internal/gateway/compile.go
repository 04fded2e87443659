package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
)

// compile turns a stored API into its compiled form; failures are kept
// in staticErr, never returned, so one bad API cannot stop the others.
func (g *Gateway) compile(d *directory.API) *API {
	a := &API{TenantID: d.TenantID, Name: d.Name, Revision: d.Revision, allowHTTP: d.AllowInsecureAuth,
		realm: d.Policy.Realm, counters: g.metrics.api(d.TenantID, d.Name)}
	if a.realm == "" {
		a.realm = d.Name
	}
	fail := func(err error) *API {
		if a.staticErr == nil {
			a.staticErr = err
		}
		return a
	}
	// Routing first: an API that can be routed is answered (503 if need
	// be), never dropped.
	prefix, err := normalisePrefix(d.Match.PathPrefix)
	if err != nil {
		return fail(err)
	}
	a.prefix = prefix
	for _, h := range d.Match.Hosts {
		k, err := normaliseHost(h)
		if err != nil {
			return fail(err)
		}
		a.hosts = append(a.hosts, k)
	}
	for _, m := range d.Match.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
			return fail(fmt.Errorf("match.methods %q: use upper-case method names such as GET", clip(m, 40)))
		}
		a.methods = append(a.methods, m)
	}
	a.routable = true

	certBound := false // a bearer method requires certificate-bound tokens
	for _, m := range d.Policy.Methods {
		switch m.Type {
		case guard.SpecBasic, guard.SpecAPIKey:
			a.insecure = true
		case guard.SpecClientCertificate:
			a.needsCert = true
			if m.Revocation != nil && a.counters.revocation == nil {
				a.counters.revocation = g.metrics.revocationCounters(d.TenantID, d.Name)
			}
		case guard.SpecBearer:
			if m.CertificateBound {
				// The token's certificate is the connection's: TLS
				// listeners must ask for it.
				a.needsCert, certBound = true, true
			}
		}
	}
	a.tlsOnly = len(d.Policy.Methods) > 0 && !slices.ContainsFunc(d.Policy.Methods, func(m guard.MethodSpec) bool {
		return m.Type != guard.SpecBearer || !m.CertificateBound
	})
	if certBound && g.cfg.PlainHTTPOnly {
		return fail(errors.New("policy: a bearer method requires certificate-bound tokens (certificateBound), which need the client certificate of a TLS connection, " +
			"but every gateway listener is plain HTTP; serve the gateway over HTTPS (--gateway-listen https://...) or drop certificateBound"))
	}
	if a.headers, err = compileHeaders(d.PrincipalHeaders); err != nil {
		return fail(err)
	}
	a.ownHeaders = ownHeaders(a.headers)
	if a.Upstream, err = g.compileUpstream(d, a); err != nil {
		return fail(err)
	}
	if d.Backend.StripPathPrefix && a.prefix != "/" {
		a.StripPrefix = a.prefix
	}

	res := &apiResolver{g: g, tenantID: d.TenantID}
	spec, byURI := g.tenantAudiences(d.Policy)
	a.byURI = byURI
	pol, err := guard.CompilePolicy(spec, res, guard.CompileOptions{Now: g.now, Realm: a.realm,
		OnRevocation: g.revocationReporter(a), OCSPClient: g.cfg.HTTPClient})
	a.secrets, a.certs, a.oidc, a.crlURLs, a.vaultCRLs = res.secrets, res.certs, res.oidc, res.crlURLs, res.vaultCRLs
	if err != nil {
		if !errors.As(err, new(errPending)) {
			err = fmt.Errorf("policy does not compile: %w", err)
		}
		return fail(err)
	}
	if len(res.issuers) > 0 && g.cfg.Clients != nil {
		exists, prev := requireExistingClient(res.issuers, g.cfg.Clients), pol.Authorize
		pol.Authorize = exists
		pol.AuthorizeHeld = "the token's client application still exists (checked for tokens of this server's tenants: a deleted application's tokens are refused at once)"
		if prev != nil { // keep what the compiled policy checks itself
			pol.Authorize = func(r *http.Request, p *guard.Principal) error {
				if err := exists(r, p); err != nil {
					return err
				}
				return prev(r, p)
			}
		}
	}
	a.policy, a.compiled = pol, true

	if g.cfg.NewBackend != nil {
		b, err := g.cfg.NewBackend(a.Upstream)
		if err != nil {
			return fail(fmt.Errorf("backend: %w", err))
		}
		a.Backend = b
	}
	return a
}

// requireExistingClient is guard.RequireExistingClient's rule as an
// Authorize hook, limited to tokens of Portcullis tenants.
func requireExistingClient(issuers []string, d guard.ClientDirectory) func(*http.Request, *guard.Principal) error {
	return func(_ *http.Request, p *guard.Principal) error {
		if p.Method != guard.MethodBearer || p.TenantID == "" || !slices.Contains(issuers, p.Issuer) {
			return nil
		}
		if holds, exists := d.ClientExists(p.TenantID, p.AppID); holds && !exists {
			return &guard.Error{Status: http.StatusUnauthorized, Code: guard.CodeInvalidToken,
				Description: fmt.Sprintf("the client application %s no longer exists in tenant %s: its tokens stopped working when it was deleted", clip(p.AppID, 64), clip(p.TenantID, 64))}
		}
		return nil
	}
}

func (g *Gateway) compileUpstream(d *directory.API, a *API) (Upstream, error) {
	b := d.Backend
	if len(b.URLs) == 0 {
		return Upstream{}, errors.New("backend.urls is empty: give the URL of the API's backend")
	}
	var u Upstream
	anyHTTPS := false
	for i, s := range b.URLs {
		p, err := url.Parse(s)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
			return Upstream{}, fmt.Errorf("backend.urls[%d] %q: give an absolute http(s) URL with a host and no user, query or fragment", i, clip(s, 100))
		}
		anyHTTPS = anyHTTPS || p.Scheme == "https"
		u.URLs = append(u.URLs, p)
	}
	t := b.Timeouts
	for _, v := range []float64{t.ConnectSeconds, t.ResponseHeaderSeconds, t.IdleSeconds} {
		if v < 0 || v > 3600 {
			return Upstream{}, errors.New("backend.timeouts: each must be between 0 (the default) and 3600 seconds")
		}
	}
	u.ConnectTimeout = seconds(t.ConnectSeconds, 5*time.Second)
	u.ResponseHeaderTimeout = seconds(t.ResponseHeaderSeconds, 30*time.Second)
	u.IdleTimeout = seconds(t.IdleSeconds, 90*time.Second)
	if b.Credential != nil || (b.TLS != nil && anyHTTPS) {
		cred, err := g.compileCredential(d, a, u.URLs)
		if err != nil {
			return Upstream{}, err
		}
		a.cred = cred
		u.TLS = cred.TLSConfig()
	}
	return u, nil
}

// compileCredential compiles the backend's outbound credential and TLS
// settings. Its vault references are resolved by the gateway's watcher; a
// new client certificate (or CA) version marks the API stale, so that the
// watcher's Changed callback compiles it again with a fresh connection
// pool: connections made with the old certificate are then closed, idle
// ones at once and busy ones when their exchange ends.
func (g *Gateway) compileCredential(d *directory.API, a *API, urls []*url.URL) (*outbound.Credential, error) {
	b := d.Backend
	target, plain := urls[0], false
	for _, p := range urls {
		if p.Scheme == "http" {
			plain = true
		} else if target.Scheme == "http" {
			target = p
		}
	}
	var spec outbound.CredentialSpec
	if b.Credential != nil {
		spec = *b.Credential
	}
	if plain && target.Scheme == "https" { // a mixed list: Compile saw the https URL
		switch spec.Type {
		case outbound.TypeBasic, outbound.TypeAPIKeyHeader, outbound.TypeBearer:
			if !b.AllowInsecureAuth {
				return nil, fmt.Errorf("backend.credential: a %s credential would be sent in the clear to an http:// backend URL; use https URLs only, or set backend.allowInsecureAuth", spec.Type)
			}
		case outbound.TypeClientCertificate:
			return nil, errors.New("backend.credential: a client certificate needs TLS, but a backend URL is http://; use https URLs only")
		}
	}
	var tlsSpec *outbound.TLSSpec
	if target.Scheme == "https" {
		tlsSpec = b.TLS.Spec()
	}
	vt := g.cfg.VaultTenant
	if vt == nil {
		vt = func(string) string { return d.TenantID } // no tenancy to enforce (tests, single-tenant tools)
	}
	cred, err := outbound.Compile(spec, tlsSpec, outbound.Options{
		Name: "api " + d.TenantID + "/" + d.Name, Target: target.String(), AllowInsecureAuth: b.AllowInsecureAuth,
		Watcher: g.res, TenantID: d.TenantID, VaultTenant: vt, Logger: g.log, Now: g.now,
		TokenClient:              g.cfg.TokenClient,
		ClientCertificateRotated: func() { a.credRotated.Store(true) },
	})
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	if h := cred.SensitiveHeaders(); len(h) > 0 {
		for _, ph := range a.headers {
			if strings.EqualFold(ph.name, h[0]) {
				cred.Close()
				return nil, fmt.Errorf("backend.credential sets header %s, which principalHeaders also names; rename one", h[0])
			}
		}
	}
	return cred, nil
}

func seconds(v float64, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return time.Duration(v * float64(time.Second))
}

// tenantAudiences adds, to each bearer method that accepts Portcullis
// tenants, the appId of every audience that is an identifier URI of an
// application of one of those tenants; byURI says whether the result
// depends on the applications (a method accepts a tenant's tokens).
// The stored spec is not changed.
func (g *Gateway) tenantAudiences(p guard.PolicySpec) (out guard.PolicySpec, byURI bool) {
	if g.cfg.TenantAudience == nil || g.cfg.TenantID == nil {
		return p, false
	}
	out = p
	out.Methods = slices.Clone(p.Methods)
	for i, m := range out.Methods {
		if m.Type != guard.SpecBearer {
			continue
		}
		auds := slices.Clone(m.Audiences)
		for _, is := range m.Issuers {
			tid, ok := g.cfg.TenantID(is.Tenant)
			if is.Tenant == "" || !ok {
				continue
			}
			// Whether or not a URI resolves now, an application may take
			// it later: the API follows the applications.
			byURI = true
			for _, aud := range m.Audiences {
				if appID, ok := g.cfg.TenantAudience(tid, aud); ok && !slices.Contains(auds, appID) {
					auds = append(auds, appID)
				}
			}
		}
		out.Methods[i].Audiences = auds
	}
	return out, byURI
}
