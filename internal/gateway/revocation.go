package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// CRL implements guard.CRLResolver for revocation.crls entries: an http(s)
// URL is downloaded and refreshed in the background (shared by every API
// that lists it), and vault://VAULT/secrets/NAME is a secret of the API's
// tenant holding the list in PEM or DER, followed as it gets new versions.
// PEM text is parsed by guard itself.
func (ar *apiResolver) CRL(s string) (guard.CRLSource, error) {
	if guard.IsCRLURL(s) {
		src, err := ar.g.crls.source(s)
		if err != nil {
			return nil, err
		}
		ar.crlURLs = append(ar.crlURLs, s)
		return src, nil
	}
	if !strings.HasPrefix(s, vault.RefScheme) {
		return nil, errors.New("give PEM text (-----BEGIN X509 CRL-----), a vault://VAULT/secrets/NAME reference to a secret holding the CRL, or an http(s) URL")
	}
	h, err := ar.acquireSecret(s)
	if err != nil {
		return nil, err
	}
	c := &vaultCRL{h: h}
	if err := c.prepare(); err != nil {
		return nil, fmt.Errorf("%s does not hold a CRL: %w", s, err)
	}
	ar.vaultCRLs = append(ar.vaultCRLs, c)
	return c, nil
}

// vaultCRL is a CRL kept in a vault secret. Each version is parsed once,
// off the request path: when the API is compiled and, for the versions the
// vault watcher brings later, when the API's health is computed with every
// secret resolved (API.refreshHealth, after each watcher pass and each
// apply), before the API serves with it. CurrentCRL, called by event loops,
// never parses (a large list takes milliseconds): between the watcher's
// store of a new version and the end of its pass, it still returns the
// version before — the watcher is itself a poll behind the vault.
type vaultCRL struct {
	h    *vaultwatch.Handle
	last atomic.Pointer[parsedCRL]
	mu   sync.Mutex // one prepare at a time
}

type parsedCRL struct {
	v *guard.SecretValue
	l *x509.RevocationList // nil: the version is not a CRL
}

// CurrentCRL implements guard.CRLSource: the list of the newest version
// parsed, or nil while the secret has no value or holds no CRL.
func (c *vaultCRL) CurrentCRL() *x509.RevocationList {
	if c.h.Current() == nil {
		return nil
	}
	if p := c.last.Load(); p != nil {
		return p.l
	}
	return nil
}

// prepare parses the secret's current version unless it already did; it
// returns why that version is not a CRL.
func (c *vaultCRL) prepare() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.h.Current()
	if v == nil {
		return nil
	}
	if p := c.last.Load(); p != nil && p.v == v {
		return nil
	}
	l, err := guard.ParseCRL(v.Value)
	c.last.Store(&parsedCRL{v: v, l: l}) // l is nil when it is not a CRL: reported as a list that cannot be used
	return err
}

// crlSources shares one background download per CRL URL across APIs and
// Applies; a URL no API lists any more stops being downloaded.
type crlSources struct {
	ctx  context.Context
	opts guard.CRLURLOptions

	mu sync.Mutex
	m  map[string]*crlSource
}

type crlSource struct {
	*guard.CRLURLSource
	cancel context.CancelFunc
}

func (cs *crlSources) source(u string) (guard.CRLSource, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if s, ok := cs.m[u]; ok {
		return s, nil
	}
	if err := cs.ctx.Err(); err != nil {
		return nil, errors.New("the gateway is shutting down")
	}
	ctx, cancel := context.WithCancel(cs.ctx)
	s := &crlSource{CRLURLSource: guard.NewCRLURLSource(ctx, u, cs.opts), cancel: cancel}
	cs.m[u] = s
	return s, nil
}

// retain stops the downloads of URLs no API uses any more.
func (cs *crlSources) retain(keep map[string]bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for u, s := range cs.m {
		if !keep[u] {
			s.cancel()
			delete(cs.m, u)
		}
	}
}

// revocationReporter counts an API's revocation checks by outcome and
// tells the server log (once per API and interval) when a certificate was
// admitted or refused without a usable answer.
func (g *Gateway) revocationReporter(a *API) func(outcome, detail string) {
	return func(outcome, detail string) {
		if c := a.counters.revocation[outcome]; c != nil {
			c.Inc()
		}
		if outcome == guard.RevocationUnavailable || outcome == guard.RevocationUnknown {
			g.upstreamLog.Log(slog.LevelWarn, a.TenantID+"/"+a.Name+"/revocation",
				"gateway: a client certificate's revocation could not be checked",
				"tenant", a.TenantID, "api", a.Name, "outcome", outcome, "detail", clip(detail, 300))
		}
	}
}
