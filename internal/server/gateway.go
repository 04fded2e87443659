package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// gatewayNode is the gateway of this node: the decision core, its
// listeners and its audit sink.
type gatewayNode struct {
	g         *gateway.Gateway
	listeners []*Listener
	urls      []string
	audit     *auditFile // nil when the audit goes to standard error
}

// gatewayDeps is what the gateway needs from the rest of the node.
type gatewayDeps struct {
	watcher  *vaultwatch.Watcher // the node's vault watcher, shared
	tokens   *sts.Server
	vault    *vault.Service
	issuer   func(tenantID string) string
	tenantID string // the tenant that owns every vault today
	reg      prometheus.Registerer
	certs    *certificateReloader // the main listener's certificate
	log      *slog.Logger
	// tokenClient sends the client-credentials token requests of backend
	// credentials (it trusts this server's own CA too).
	tokenClient *http.Client
	// failures shares the failure budget with the other nodes (nil on one node).
	failures gateway.FailureLog
}

// startGateway binds the gateway's listeners and builds the decision core;
// it returns nil when no gateway listener is configured.
func startGateway(cfg Config, d gatewayDeps) (*gatewayNode, error) {
	if len(cfg.gateway) == 0 {
		return nil, nil
	}
	n := &gatewayNode{}
	ok := false
	defer func() {
		if !ok {
			n.close()
		}
	}()
	var audit io.Writer = os.Stderr
	if cfg.GatewayAuditLog != "-" {
		f, err := openAuditFile(cfg.GatewayAuditLog)
		if err != nil {
			return nil, fmt.Errorf("--gateway-audit-log: %w", err)
		}
		n.audit, audit = f, f
	}
	g, err := gateway.New(gateway.Config{
		Vault:        d.vault,
		Watcher:      d.watcher,
		VaultTenant:  func(string) string { return d.tenantID },
		TenantKeys:   d.tokens,
		TenantIssuer: d.issuer,
		TenantID: func(ref string) (string, bool) {
			t, found := d.tokens.Snapshot().Tenant(ref)
			if !found {
				return "", false
			}
			return t.ID, true
		},
		TenantAudience: func(tenantID, audience string) (string, bool) {
			app, found := d.tokens.Snapshot().Resource(tenantID, audience)
			if !found {
				return "", false
			}
			return app.AppID, true
		},
		Clients:       d.tokens,
		HTTPClient:    &http.Client{Timeout: 10 * time.Second},
		TokenClient:   d.tokenClient,
		NewBackend:    gateway.NewProxyBackend,
		FailureLog:    d.failures,
		Logger:        d.log,
		Audit:         audit,
		Metrics:       d.reg,
		Dev:           cfg.Dev,
		PlainHTTPOnly: !slices.ContainsFunc(cfg.gateway, func(gl GatewayListener) bool { return gl.TLS }),
	})
	if err != nil {
		return nil, err
	}
	n.g = g

	certs := d.certs
	if cfg.GatewayTLSCertFile != "" {
		if certs, err = newCertificateReloader(cfg.GatewayTLSCertFile, cfg.GatewayTLSKeyFile, d.log); err != nil {
			return nil, fmt.Errorf("--gateway-tls-cert: %w", err)
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	for _, gl := range cfg.gateway {
		l := &Listener{Name: "gateway " + gl.URL(), Drain: true}
		if err := l.bind(gl.Addr, "--gateway-listen"); err != nil {
			return nil, err
		}
		n.listeners = append(n.listeners, l)
		srv := &proxy.Server{Decider: g.Decider(!gl.TLS), ErrorLog: d.log, TrustedProxies: cfg.gatewayTrusted,
			ReadBodyTimeout: cfg.GatewayReadBodyTimeout, SendTimeout: cfg.GatewaySendTimeout}
		svc := engine{s: srv}
		scheme := "http://"
		if gl.TLS {
			svc.tls = g.ListenerTLS(base)
			scheme = "https://"
		}
		l.Server = svc
		n.urls = append(n.urls, scheme+printableAddr(l.Addr()))
	}
	ok = true
	return n, nil
}

// printableAddr replaces a wildcard host by localhost, for the banner.
func printableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// Listeners returns the gateway's listener URLs (admin API, banner).
func (n *gatewayNode) Listeners() []string { return n.urls }

// reopenAudit reopens the audit log file (SIGHUP, after logrotate moved it).
func (n *gatewayNode) reopenAudit(log *slog.Logger) {
	if n.audit == nil {
		return
	}
	if err := n.audit.Reopen(); err != nil {
		log.Error("gateway audit log", "err", err)
		return
	}
	log.Info("gateway audit log reopened", "file", n.audit.path)
}

// close releases what startGateway opened, after the listeners stopped.
func (n *gatewayNode) close() {
	if n.g != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.g.Close(ctx)
		cancel()
	}
	if n.audit != nil {
		_ = n.audit.Close()
	}
}

// adminGateway is the gateway as the admin API sees it (explain, listeners,
// problems).
type adminGateway struct{ n *gatewayNode }

func (a adminGateway) ExplainHandler() http.Handler { return a.n.g.ExplainHandler() }
func (a adminGateway) Listeners() []string          { return a.n.Listeners() }
func (a adminGateway) Problems() []gateway.Problem  { return a.n.g.Problems() }

// gatewayComponent is the gateway as a Component of the reload loop: it
// recompiles its routes when APIs changed (the gateway keeps the compiled
// state of every API whose revision stands).
type gatewayComponent struct{ g *gateway.Gateway }

func (c gatewayComponent) Apply(u Update) error {
	full := u.Changes == nil
	apisChanged := full || len(u.Changes.APIs) > 0 || len(u.Changes.Tenants) > 0
	appsChanged := full || len(u.Changes.Applications) > 0 // audiences by identifier URI follow them
	switch {
	case apisChanged && appsChanged:
		return c.g.ApplyWithApplications(u.Directory.APIs())
	case apisChanged:
		return c.g.Apply(u.Directory.APIs())
	case appsChanged:
		return c.g.ApplicationsChanged()
	}
	return nil
}

// engine serves a Listener with the gateway's HTTP engine.
type engine struct {
	s   *proxy.Server
	tls *tls.Config // nil: plain HTTP
}

func (e engine) Serve(ln net.Listener) error {
	if e.tls != nil {
		return e.s.ServeTLS(ln, e.tls)
	}
	return e.s.Serve(ln)
}

func (e engine) Shutdown(ctx context.Context) error { return e.s.Shutdown(ctx) }
func (e engine) Close() error                       { return e.s.Close() }
