package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// connectorsComponent keeps the connectors of every tenant compiled from
// the directory snapshot and hands them to the token service's Enricher
// (token-issuance connectors). A connector is compiled again only when its
// revision moves; one that is removed or replaced is closed (its vault
// references released) once the calls that may still use it are over.
// Rotation of a referenced certificate or secret needs no recompile: the
// credential reads the shared vault watcher's current value.
type connectorsComponent struct {
	enricher *connector.Enricher
	opts     connector.Options
	dev      bool
	log      *slog.Logger

	mu       sync.Mutex
	compiled map[string]*connector.Connector // by tenant id + "/" + name
}

func newConnectorsComponent(e *connector.Enricher, opts connector.Options, dev bool, log *slog.Logger) *connectorsComponent {
	return &connectorsComponent{enricher: e, opts: opts, dev: dev, log: log, compiled: map[string]*connector.Connector{}}
}

// Apply implements Component.
func (c *connectorsComponent) Apply(u Update) error {
	if ch := u.Changes; ch != nil && len(ch.Connectors) == 0 && len(ch.Tenants) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defs := u.Directory.Connectors()
	next := make(map[string]*connector.Connector, len(defs))
	list := make([]*connector.Connector, 0, len(defs))
	fresh := false
	for _, d := range defs {
		key := strings.ToLower(d.TenantID) + "/" + d.Name
		if old, ok := c.compiled[key]; ok && old.Definition().Revision == d.Revision {
			next[key] = old
			list = append(list, old)
			continue
		}
		cc, err := connector.Compile(d, c.opts)
		if err != nil {
			c.log.Error("connector cannot be compiled; every call of it fails (a token-issuance connector stops issuance unless failOpen) until it is fixed",
				"tenant", d.TenantID, "connector", d.Name, "err", err)
			cc = connector.Unusable(d, err)
		} else {
			fresh = true
		}
		if c.dev {
			warnInsecureConnector(c.log, d)
		}
		next[key] = cc
		list = append(list, cc)
	}
	c.enricher.Use(list)
	for key, old := range c.compiled {
		if next[key] != old {
			closeAfterCalls(old)
		}
	}
	c.compiled = next
	if fresh && c.opts.Watcher != nil {
		c.opts.Watcher.Wake() // resolve the new references now, not at the next poll
	}
	return nil
}

// close closes every connector at once (the listeners have stopped).
func (c *connectorsComponent) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enricher.Use(nil)
	for _, cc := range c.compiled {
		cc.Close()
	}
	c.compiled = map[string]*connector.Connector{}
}

// closeAfterCalls closes a connector that is no longer served once every
// call that took it before the swap has ended.
func closeAfterCalls(c *connector.Connector) {
	time.AfterFunc(c.LongestCall(), c.Close)
}

// warnInsecureConnector warns (in --dev) about a connector that sends a
// credential over plain HTTP or does not validate its endpoint's
// certificate chain: accepted for development, refused or flagged in
// production review.
func warnInsecureConnector(log *slog.Logger, d directory.Connector) {
	if d.AllowInsecureAuth && strings.HasPrefix(strings.ToLower(d.Endpoint), "http://") && sendsSecret(d.Authentication) {
		log.Warn("dev: connector sends its "+d.Authentication.Type+" credential over plain HTTP (allowInsecureAuth); use an https endpoint in production",
			"tenant", d.TenantID, "connector", d.Name)
	}
	if cc := d.Authentication.ClientCredentials; cc != nil && d.AllowInsecureAuth && strings.HasPrefix(strings.ToLower(cc.Authority+cc.TokenEndpoint), "http://") {
		log.Warn("dev: connector sends its client secret or assertion to a plain-HTTP authority (allowInsecureAuth); use https in production",
			"tenant", d.TenantID, "connector", d.Name)
	}
	if d.TLS != nil && d.TLS.SkipChainValidation {
		log.Warn("dev: connector does not validate its endpoint's certificate chain (skipChainValidation); pin the endpoint's thumbprint or trust its CA in production",
			"tenant", d.TenantID, "connector", d.Name)
	}
}

// warnInsecureAPIs warns (in --dev, at start) about the gateway's APIs that
// admit Basic or API keys over plain HTTP or skip the backend's
// certificate validation.
func warnInsecureAPIs(log *slog.Logger, apis []directory.API) {
	for _, a := range apis {
		if a.AllowInsecureAuth {
			log.Warn("dev: API admits Basic or API-key credentials over plain HTTP (allowInsecureAuth); serve it over HTTPS in production",
				"tenant", a.TenantID, "api", a.Name)
		}
		if a.Backend.TLS != nil && a.Backend.TLS.SkipChainValidation {
			log.Warn("dev: API does not validate its backend's certificate chain (backend.tls.skipChainValidation); trust the backend's CA in production",
				"tenant", a.TenantID, "api", a.Name, "pinned", len(a.Backend.TLS.PinnedThumbprints))
		}
		if a.Backend.AllowInsecureAuth {
			log.Warn("dev: API may send its backend credential over plain HTTP (backend.allowInsecureAuth); use an https backend in production",
				"tenant", a.TenantID, "api", a.Name)
		}
	}
}

// sendsSecret reports whether a credential puts a secret in the request
// (Basic, API key, bearer), as opposed to a client certificate or none.
func sendsSecret(s outbound.CredentialSpec) bool {
	switch s.Type {
	case outbound.TypeBasic, outbound.TypeAPIKeyHeader, outbound.TypeBearer:
		return true
	}
	return false
}

// selfTrustingClient returns the HTTP client connectors use to fetch
// client-credentials tokens: the system roots plus the CA of this server's
// own certificate (the development CA under --dev), so that a connector
// whose authority is this same Portcullis works.
func selfTrustingClient(caFile string) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("connectors: read the server's CA %s: %w", caFile, err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("connectors: %s holds no PEM certificate", caFile)
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}

// vaultWatcher is the node's one vault watcher: the gateway's references
// and every connector's credential are resolved by it.
type vaultWatcher struct {
	w      *vaultwatch.Watcher
	cancel context.CancelFunc
	done   chan struct{}
}

func startVaultWatcher(cfg vaultwatch.Config) *vaultWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	v := &vaultWatcher{w: vaultwatch.New(cfg), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(v.done); v.w.Run(ctx) }()
	return v
}

func (v *vaultWatcher) stop() {
	v.cancel()
	<-v.done
}
