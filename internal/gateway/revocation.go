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
	if v := h.Current(); v != nil {
		if _, err := guard.ParseCRL(v.Value); err != nil {
			return nil, fmt.Errorf("%s does not hold a CRL: %w", s, err)
		}
	}
	return c, nil
}

// vaultCRL is a CRL kept in a vault secret; each version is parsed once,
// by the first request that needs it.
type vaultCRL struct {
	h    *vaultwatch.Handle
	last atomic.Pointer[parsedCRL]
	mu   sync.Mutex // one request parses a new version; the others wait for it
}

type parsedCRL struct {
	v *guard.SecretValue
	l *x509.RevocationList // nil: the version is not a CRL
}

func (c *vaultCRL) CurrentCRL() *x509.RevocationList {
	v := c.h.Current()
	if v == nil {
		return nil
	}
	if p := c.last.Load(); p != nil && p.v == v {
		return p.l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.last.Load(); p != nil && p.v == v {
		return p.l
	}
	l, err := guard.ParseCRL(v.Value)
	if err != nil {
		l = nil // reported as a list that cannot be used
	}
	c.last.Store(&parsedCRL{v: v, l: l})
	return l
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
