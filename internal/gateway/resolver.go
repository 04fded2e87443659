package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

// Vault is what the gateway reads of the vault: the current version of a
// referenced object, and a cheap number that moves whenever anything in
// the vault is written, so the refresher knows when to resolve again.
// *vault.Service implements it.
type Vault interface {
	Resolve(ctx context.Context, ref vault.Ref) (vault.Resolved, error)
	Revision(ctx context.Context) (int64, error)
}

// Resolver timing.
const (
	// pollInterval is how often the vault's revision is read: a rotated
	// secret is served at most this late.
	pollInterval = time.Second
	// fullRefreshInterval re-resolves everything even when the revision
	// stands still, since a version's nbf or exp passing changes what
	// Resolve picks without any write.
	fullRefreshInterval = time.Minute
	resolveTimeout      = 10 * time.Second
)

// refState is one resolution of a reference; immutable.
type refState struct {
	secret *guard.SecretValue
	certs  []*x509.Certificate
	// err is why the reference has no usable value; nil with no value
	// means it was never resolved yet.
	err error
}

// refEntry is one vault reference the current routes use. Its state is
// swapped by the refresher and read on the request path.
type refEntry struct {
	ref   vault.Ref
	state atomic.Pointer[refState]
	// gen counts value changes, so that APIs compiled against a
	// certificate can tell they must be compiled again.
	gen atomic.Int64
}

// Current implements the SecretRef seam: one atomic load, no I/O.
func (e *refEntry) Current() *guard.SecretValue {
	if s := e.state.Load(); s != nil {
		return s.secret
	}
	return nil
}

// problem says why the entry cannot be used now, or "" when it can.
func (e *refEntry) problem() string {
	s := e.state.Load()
	switch {
	case s == nil:
		return e.ref.String() + notResolvedYet
	case s.err != nil:
		return fmt.Sprintf("%s cannot be resolved: %v", e.ref, s.err)
	}
	return ""
}

// resolver owns every vault reference of the served APIs and keeps their
// values current in the background: resolution never happens on the
// request path nor inside Apply.
type resolver struct {
	vault   Vault
	log     *slog.Logger
	changed func(certificates bool) // called after a pass that changed an entry
	kick    chan struct{}

	mu      sync.Mutex
	entries map[string]*refEntry // by Ref.String()
}

func newResolver(v Vault, log *slog.Logger, changed func(bool)) *resolver {
	return &resolver{vault: v, log: log, changed: changed, kick: make(chan struct{}, 1), entries: map[string]*refEntry{}}
}

// entry returns the entry for ref, registering it when new.
func (rs *resolver) entry(ref vault.Ref) *refEntry {
	key := ref.String()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e, ok := rs.entries[key]
	if !ok {
		e = &refEntry{ref: ref}
		rs.entries[key] = e
	}
	return e
}

// retain drops the entries not in keep (references no API uses any more).
func (rs *resolver) retain(keep map[*refEntry]bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for k, e := range rs.entries {
		if !keep[e] {
			delete(rs.entries, k)
		}
	}
}

// wake asks the refresher for a pass now (new references to resolve).
func (rs *resolver) wake() {
	select {
	case rs.kick <- struct{}{}:
	default:
	}
}

// run is the refresher: a pass when woken, when the vault revision moves
// (read at most once per pollInterval), and every fullRefreshInterval.
func (rs *resolver) run(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	rev, haveRev := int64(0), false
	var last time.Time
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-rs.kick:
		case <-t.C:
			r, err := rs.vault.Revision(ctx)
			switch {
			case err != nil:
				rs.log.Warn("gateway: vault revision unreadable; keeping the resolved credentials", "err", err)
				continue
			case haveRev && r == rev && now().Sub(last) < fullRefreshInterval:
				continue
			}
			rev, haveRev, all = r, true, true
		}
		if all {
			last = now()
		}
		rs.pass(ctx, all)
	}
}

// pass resolves the entries (all of them, or only those never resolved).
func (rs *resolver) pass(ctx context.Context, all bool) {
	rs.mu.Lock()
	todo := make([]*refEntry, 0, len(rs.entries))
	for _, e := range rs.entries {
		if all || e.state.Load() == nil {
			todo = append(todo, e)
		}
	}
	rs.mu.Unlock()
	changed, certChanged := false, false
	for _, e := range todo {
		if rs.resolve(ctx, e) {
			changed = true
			certChanged = certChanged || e.ref.Type == vault.Certificates
		}
	}
	if changed && rs.changed != nil {
		rs.changed(certChanged)
	}
}

// resolve refreshes one entry and reports whether its value changed.
func (rs *resolver) resolve(ctx context.Context, e *refEntry) bool {
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	res, err := rs.vault.Resolve(rctx, e.ref)
	cancel()
	old := e.state.Load()
	if err != nil {
		if !definitive(err) && old != nil && old.err == nil {
			// The vault cannot answer now: keep serving what was resolved.
			rs.log.Warn("gateway: cannot re-resolve a vault reference; keeping its last value", "ref", e.ref.String(), "err", err)
			return false
		}
		// The vault's message names the object, never its value; a store
		// failure becomes "internal vault error" and its cause is logged.
		msg := vault.AsError(err).Message
		if !definitive(err) {
			rs.log.Warn("gateway: cannot resolve a vault reference", "ref", e.ref.String(), "err", err)
		}
		if old == nil || old.err == nil || old.err.Error() != msg {
			e.state.Store(&refState{err: errors.New(msg)})
			e.gen.Add(1)
			return true
		}
		return false
	}
	next := &refState{}
	switch {
	case res.Secret != nil:
		if old != nil && old.secret != nil && old.secret.Version == res.Secret.Version {
			return false
		}
		next.secret = &guard.SecretValue{Value: bytes.Clone(res.Secret.Value.Bytes()), Version: res.Secret.Version}
	case res.Certificate != nil:
		if old != nil && len(old.certs) > 0 && old.certs[0].Equal(res.Certificate.Leaf) {
			return false
		}
		next.certs = []*x509.Certificate{res.Certificate.Leaf}
	default:
		next.err = fmt.Errorf("%s is not a secret or a certificate", e.ref)
	}
	e.state.Store(next)
	e.gen.Add(1)
	return true
}

// definitive reports whether a Resolve error is the vault's answer about
// the object (gone, disabled, malformed) rather than "cannot answer now".
func definitive(err error) bool {
	for _, k := range []vault.ErrorKind{vault.KindNotFound, vault.KindForbidden, vault.KindBadRequest, vault.KindUnsupported} {
		if vault.IsKind(err, k) {
			return true
		}
	}
	return false
}

// apiResolver is the SpecResolver for one API: it enforces that the API
// references only its own tenant's vaults, registers what it references,
// and records the entries so the gateway can report the API's health.
type apiResolver struct {
	g        *Gateway
	tenantID string
	secrets  []*refEntry
	certs    []certDep
	issuers  []string // exact iss values of Portcullis tenants
	oidc     []string // OIDC issuer URLs
}

// certDep is a certificate entry an API was compiled against, with the
// generation it saw.
type certDep struct {
	e   *refEntry
	gen int64
}

func (ar *apiResolver) parse(s string, want vault.ObjectType) (vault.Ref, error) {
	ref, err := vault.ParseReference(s)
	if err != nil {
		return vault.Ref{}, errors.New(vault.AsError(err).Message)
	}
	if ref.Type != want {
		return vault.Ref{}, fmt.Errorf("%s names %s; reference vault://%s/%s/%s", ref, ref.Type, ref.Vault, want, ref.Name)
	}
	owner := ""
	if ar.g.cfg.VaultTenant != nil {
		owner = ar.g.cfg.VaultTenant(ref.Vault)
	}
	if owner == "" || !strings.EqualFold(owner, ar.tenantID) {
		return vault.Ref{}, fmt.Errorf("%s: vault %q does not belong to this API's tenant; reference a vault of tenant %s", ref, ref.Vault, ar.tenantID)
	}
	return ref, nil
}

// Secret implements the resolver seam for Basic passwords and API keys.
func (ar *apiResolver) Secret(s string) (guard.SecretRef, error) {
	if ar.g.cfg.Vault == nil {
		return nil, errors.New("this gateway has no vault to resolve references from")
	}
	ref, err := ar.parse(s, vault.Secrets)
	if err != nil {
		return nil, err
	}
	e := ar.g.res.entry(ref)
	ar.secrets = append(ar.secrets, e)
	return e, nil
}

// Certificates implements the resolver seam for trusted CAs: PEM text as
// is, or the public part of a vault certificate's current version. A
// vault certificate not resolved yet fails the compilation; the API is
// compiled again once the refresher has it.
func (ar *apiResolver) Certificates(s string) ([]*x509.Certificate, error) {
	if !strings.HasPrefix(s, vault.RefScheme) {
		return parsePEMCertificates(s)
	}
	if ar.g.cfg.Vault == nil {
		return nil, errors.New("this gateway has no vault to resolve references from")
	}
	ref, err := ar.parse(s, vault.Certificates)
	if err != nil {
		return nil, err
	}
	e := ar.g.res.entry(ref)
	st := e.state.Load()
	ar.certs = append(ar.certs, certDep{e: e, gen: e.gen.Load()})
	switch {
	case st == nil:
		return nil, errPending{ref.String()}
	case st.err != nil:
		return nil, fmt.Errorf("%s cannot be resolved: %w", ref, st.err)
	}
	return st.certs, nil
}

// errPending is a compile failure that only waits for the refresher.
type errPending struct{ ref string }

func (e errPending) Error() string { return e.ref + notResolvedYet }

const notResolvedYet = " is not resolved yet; retry in a moment"

// Issuer implements the resolver seam for bearer issuers.
func (ar *apiResolver) Issuer(spec guard.IssuerSpec) (string, guard.KeySource, error) {
	cfg := &ar.g.cfg
	if spec.Tenant != "" {
		if cfg.TenantKeys == nil || cfg.TenantIssuer == nil || cfg.TenantID == nil {
			return "", nil, errors.New("this gateway does not serve Portcullis tenant tokens (no token service configured)")
		}
		id, ok := cfg.TenantID(spec.Tenant)
		if !ok {
			return "", nil, fmt.Errorf("tenant %q does not exist; name an existing tenant or its id", clip(spec.Tenant, 64))
		}
		iss := cfg.TenantIssuer(id)
		ar.issuers = append(ar.issuers, iss)
		return iss, cfg.TenantKeys, nil
	}
	ks, err := ar.g.oidc.source(spec.Issuer)
	if err != nil {
		return "", nil, err
	}
	ar.oidc = append(ar.oidc, spec.Issuer)
	return spec.Issuer, ks, nil
}

func parsePEMCertificates(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a PEM certificate does not parse: %v", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("neither PEM certificates nor a vault://VAULT/certificates/NAME reference")
	}
	return out, nil
}

// oidcSources shares one OIDC key source per issuer URL across APIs and
// Applies. A source is created in the background (its first fetch is
// network I/O, which Apply must not wait for); until then lookups answer
// ErrKeySourceUnavailable, that is 503.
type oidcSources struct {
	ctx  context.Context
	opts guard.OIDCOptions
	wg   sync.WaitGroup

	mu sync.Mutex
	m  map[string]*lazyOIDC
}

type lazyOIDC struct {
	issuer string
	src    atomic.Pointer[guard.OIDCKeySource]
}

func (l *lazyOIDC) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	s := l.src.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: the keys of %s are being loaded", guard.ErrKeySourceUnavailable, clip(l.issuer, 200))
	}
	return s.Key(ctx, issuer, kid)
}

func (o *oidcSources) source(issuer string) (guard.KeySource, error) {
	if err := checkIssuerURL(issuer); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if l, ok := o.m[issuer]; ok {
		return l, nil
	}
	if err := o.ctx.Err(); err != nil {
		return nil, errors.New("the gateway is shutting down")
	}
	l := &lazyOIDC{issuer: issuer}
	o.m[issuer] = l
	o.wg.Go(func() {
		ctx, cancel := context.WithTimeout(o.ctx, cmp.Or(o.opts.FetchTimeout, guard.DefaultFetchTimeout))
		defer cancel()
		s, err := guard.NewOIDCKeySource(ctx, issuer, o.opts)
		if err != nil {
			o.opts.Logger.Warn("gateway: OIDC issuer unusable", "issuer", clip(issuer, 200), "err", err)
			return
		}
		l.src.Store(s)
	})
	return l, nil
}

// retain drops the sources of issuers no API uses any more.
func (o *oidcSources) retain(keep map[string]bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for iss := range o.m {
		if !keep[iss] {
			delete(o.m, iss)
		}
	}
}

// checkIssuerURL refuses at compile time what NewOIDCKeySource would
// refuse in the background, so the API's 503 names the real problem.
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer %q is not an absolute URL without query, fragment or user info", clip(s, 200))
	}
	host := u.Hostname()
	loopback := host == "localhost"
	if ip, err := netip.ParseAddr(host); err == nil {
		loopback = ip.IsLoopback()
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return fmt.Errorf("issuer %q must be https (http only on a loopback address)", clip(s, 200))
	}
	return nil
}
