package gateway

import (
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Vault is what the gateway reads of the vault (vaultwatch.Vault);
// *vault.Service implements it.
type Vault = vaultwatch.Vault

// apiResolver is the SpecResolver for one API: it enforces that the API
// references only its own tenant's vaults, registers what it references,
// and records the entries so the gateway can report the API's health.
type apiResolver struct {
	g        *Gateway
	tenantID string
	secrets  []*vaultwatch.Handle
	certs    []certDep
	issuers  []string // exact iss values of Portcullis tenants
	oidc     []string // OIDC issuer URLs
	crlURLs  []string // revocation.crls URLs
	// vaultCRLs are the revocation.crls vault references, parsed again as the watcher brings versions.
	vaultCRLs []*vaultCRL
}

// certDep is a certificate entry an API was compiled against, with the
// generation it saw.
type certDep struct {
	e   *vaultwatch.Handle
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
	h, err := ar.acquireSecret(s)
	if err != nil {
		return nil, err // not a nil *Handle in a non-nil interface
	}
	return h, nil
}

// acquireSecret watches the vault secret s names for the API, whose
// references it records (released when the API is replaced).
func (ar *apiResolver) acquireSecret(s string) (*vaultwatch.Handle, error) {
	if ar.g.cfg.Vault == nil {
		return nil, errors.New("this gateway has no vault to resolve references from")
	}
	ref, err := ar.parse(s, vault.Secrets)
	if err != nil {
		return nil, err
	}
	h := ar.g.res.Acquire(ref, nil)
	ar.secrets = append(ar.secrets, h)
	return h, nil
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
	e := ar.g.res.Acquire(ref, nil)
	st := e.Load()
	ar.certs = append(ar.certs, certDep{e: e, gen: e.Generation()})
	switch {
	case st == nil:
		return nil, errPending{ref.String()}
	case st.Err != nil:
		return nil, fmt.Errorf("%s cannot be resolved: %w", ref, st.Err)
	case st.Certificate == nil:
		return nil, fmt.Errorf("%s is not a certificate", ref)
	}
	return []*x509.Certificate{st.Certificate.Leaf}, nil
}

// errPending is a compile failure that only waits for the refresher.
type errPending struct{ ref string }

func (e errPending) Error() string { return e.ref + vaultwatch.NotResolvedYet }

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
