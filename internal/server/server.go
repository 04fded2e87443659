package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Server is a running Portcullis node.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store database
	sts   *sts.Server
	vault *vault.Service
	// https is the clients' listener: token service, admin API, vault.
	https *Listener
	// metrics serves /metrics on its own listener; nil when off.
	metrics *Listener
	// listeners is every listener of every component, https first.
	listeners listeners
	// nodeID names this node as holder of the vault maintenance lease.
	nodeID string
	// auditKeeper ships and prunes the audit log (on the lease holder).
	auditKeeper *audit.Keeper

	// reloader rebuilds every component's snapshot when the store moves.
	reloader *reloader
	// gateway serves the stored APIs on its own listeners; nil when off.
	gateway *gatewayNode
	// vaultRefs is the node's one vault watcher, shared by the gateway and
	// the connectors.
	vaultRefs *vaultWatcher
	// connectors are the compiled connectors of every tenant; the token
	// service calls the token-issuance ones through its Enricher.
	connectors *connectorsComponent
	// cluster is the state shared with other nodes; nil on SQLite.
	cluster *cluster
	// devCerts keeps the development TLS certificate naming every vault;
	// nil unless --dev issues the certificate.
	devCerts *devCertificates
}

// NewLogger builds the process logger from --log-format and --log-level.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(orDefault(level, "info"))))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Start prepares everything and starts listening; it returns once the
// listener is bound. Banner lines for the operator go to out. Serve then
// serves until ctx ends.
func Start(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data %s: %w", cfg.DataDir, err)
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)

	keyring, rootCreated, err := newRootKeyring(&cfg)
	if err != nil {
		return nil, err
	}
	log.Info("root keys loaded", "current", keyring.RootKeyID(), "previous", strings.Join(keyring.PreviousRootKeyIDs(), ","))
	st, err := openStore(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, nodeID: newGUID()}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	if s.auditKeeper, err = newAuditKeeper(cfg, st); err != nil {
		return nil, err
	}

	certFile, keyFile, caFile := cfg.TLSCertFile, cfg.TLSKeyFile, ""
	if cfg.Dev && certFile == "" {
		s.devCerts = &devCertificates{dataDir: cfg.DataDir, listenHost: host, vaults: st, log: log}
		p, err := s.devCerts.ensure(ctx, now)
		if err != nil {
			return nil, fmt.Errorf("dev TLS: %w", err)
		}
		certFile, keyFile, caFile = p.CertFile, p.KeyFile, p.CAFile
	}
	certs, err := newCertificateReloader(certFile, keyFile, log)
	if err != nil {
		return nil, err
	}

	s.https = &Listener{Name: "https", Essential: true, Drain: true}
	if err := s.https.bind(cfg.Listen, "--listen"); err != nil {
		return nil, err
	}
	s.listeners = listeners{s.https}
	defer func() {
		if !ok {
			s.listeners.close()
		}
	}()
	// One canonical public URL: --public-url, else for a development
	// server on its own database https://localhost:PORT (every issuer and
	// URL the service prints). Nodes sharing a database need the same
	// --public-url; without it each request's Host names the issuer.
	public := cfg.PublicURL
	if public == "" && cfg.Dev && cfg.DatabaseURL == "" {
		public = devPublicURL(s.https.Addr())
	}
	addr := baseURL(public, s.https.Addr())

	dir := directory.NewService(st, nil)
	boot, err := bootstrap(ctx, dir, &cfg, addr, caFile)
	if err != nil {
		return nil, err
	}

	s.cluster = newCluster(st, s.nodeID, log)
	enricher := connector.NewEnricher(log)
	s.sts = sts.New(s.cluster.stsConfig(sts.Config{
		Enricher:            enricher,
		PublicURL:           public,
		KeyPrepublish:       cfg.KeyPrepublish,
		KeyRotationInterval: cfg.RotationInterval,
		Logger:              log,
	}), st, keyring)
	s.reloader = &reloader{store: st, components: []Component{tokenService{s.sts}}, log: log}
	// The first load opens the signing keys: a node without the root key
	// that sealed them stops here, before it writes anything of its own
	// (such as its address among the vault app's identifier URIs).
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	bases := vaultBases(cfg, addr)
	vaultApp, err := ensureVaultApp(ctx, dir, boot.Tenant.ID, bases)
	if err != nil {
		return nil, err
	}
	// The rotation lease RunRotation takes (3 × its 1-minute interval)
	// makes one of several nodes starting together create missing keys.
	if err := s.sts.EnsureSigningKeysAtStart(ctx, 3*time.Minute, 10*time.Second); err != nil {
		return nil, err
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(s.sts.Collectors()...)

	notifier, err := vaultNotifier(cfg, log)
	if err != nil {
		return nil, err
	}
	// The audit spool lives in the data directory: read records that the
	// database cannot take during an outage wait there (docs/operations.md).
	s.vault, err = vault.New(vault.Config{Store: st, Sealer: keyring, Logger: log, Notifier: notifier, Registerer: reg, MetricsObjectNames: cfg.MetricsObjectNames,
		AuditSpoolDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	if _, err := s.vault.EnsureDefault(ctx); err != nil {
		return nil, err
	}
	if err := assignVaultAdministrators(ctx, s.vault, boot.AdminAppIDs); err != nil {
		return nil, err
	}
	// APIs and connectors stored before their vault references were
	// recorded get them now (a no-op for those already recorded).
	// Every vault belongs to the bootstrap tenant: the rule the gateway
	// applies (gatewayDeps.tenantID), and the admin API checks.
	vaultTenant := func(string) string { return boot.Tenant.ID }
	if err := dir.WithVaultReferences(admin.NewVaultReferences(s.vault, vaultTenant, log)).RecordAllVaultReferences(ctx); err != nil {
		log.Warn("not every vault reference of the APIs and connectors could be recorded; an object named below is not protected from deletion, or does not exist and cannot be used until it is created", "error", err)
	}
	vaultCallers, err := bearerAuthenticator(s.sts, vaultApp.AppID)
	if err != nil {
		return nil, err
	}
	adminCallers, err := bearerAuthenticator(s.sts, boot.ManagementAppID)
	if err != nil {
		return nil, err
	}
	kv, err := kvapi.New(kvapi.Config{
		Vault: s.vault, Authenticator: vaultCallers, Sealer: keyring, TenantID: boot.Tenant.ID, ResourceAppID: vaultApp.AppID,
		PublicURL: cfg.PublicURL, BaseHosts: baseHosts(bases), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	// One vault watcher for the node: the gateway's references and the
	// connectors' credentials; a change reaches the gateway through it.
	var gw atomic.Pointer[gateway.Gateway]
	s.vaultRefs = startVaultWatcher(vaultwatch.Config{Vault: s.vault, Logger: log, Changed: func(certificates bool) {
		if g := gw.Load(); g != nil {
			g.VaultChanged(certificates)
		}
	}})
	defer func() {
		if !ok {
			s.vaultRefs.stop()
		}
	}()
	tokenClient, err := selfTrustingClient(caFile)
	if err != nil {
		return nil, err
	}
	s.connectors = newConnectorsComponent(enricher, connector.Options{
		Watcher: s.vaultRefs.w, VaultTenant: vaultTenant, TokenClient: tokenClient, Logger: log,
	}, cfg.Dev, log)
	if err := s.reloader.add(s.connectors); err != nil {
		return nil, fmt.Errorf("connectors: %w", err)
	}
	defer func() {
		if !ok {
			s.connectors.close()
		}
	}()
	if cfg.Dev {
		warnInsecureAPIs(log, s.sts.Snapshot().APIs())
	}
	s.gateway, err = startGateway(cfg, gatewayDeps{
		watcher: s.vaultRefs.w,
		tokens:  s.sts, vault: s.vault, tenantID: boot.Tenant.ID, reg: reg, certs: certs, log: log,
		tokenClient: tokenClient,
		failures:    s.cluster.failureLog(),
		issuer:      func(tenantID string) string { return addr + "/" + tenantID + "/v2.0" },
	})
	if err != nil {
		return nil, err
	}
	if s.gateway != nil {
		defer func() {
			if !ok {
				s.gateway.close()
			}
		}()
		gw.Store(s.gateway.g)
		s.listeners = append(s.listeners, s.gateway.listeners...)
		if err := s.reloader.add(gatewayComponent{s.gateway.g}); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	var g *gateway.Gateway
	if s.gateway != nil {
		g = s.gateway.g
	}
	s.cluster.register(s.sts, g)
	s.cluster.onChange(s.vault.StoreChanged)
	s.cluster.onChange(s.vaultRefs.w.StoreChanged)
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	reg.MustRegister(reqs)

	mux := http.NewServeMux()
	s.sts.Register(mux)
	var adminGW admin.Gateway // a nil interface when the gateway is off, never a typed nil
	if s.gateway != nil {
		adminGW = adminGateway{s.gateway}
	}
	admin.New(admin.Config{
		Gateway:         adminGW,
		Store:           st,
		Snapshot:        s.reloader.snapshot,
		Authenticator:   adminCallers,
		Keys:            s.sts,
		ManagementAppID: boot.ManagementAppID,
		Vaults:          s.vault,
		VaultTenant:     vaultTenant,
		TokenClient:     tokenClient,
		PublicURL:       public,
		Changed:         s.reloader.reloadLogged,
		Logger:          log,
		RootKeys:        rootKeyManager{keys: keyring, store: st, vstore: st, vault: s.vault},
	}).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	registerStartPage(mux, public, boot.Tenant.ID)
	if s.metrics, err = listenMetrics(cfg, reg, log); err != nil {
		return nil, err
	}
	if s.metrics != nil {
		s.listeners = append(s.listeners, s.metrics)
	}

	s.https.TLS = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	s.https.Server = &http.Server{
		Handler:           countRequests(reqs, kv.Wrap(refuseUncleanPaths(mux))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         s.https.TLS,
	}

	printBanner(out, cfg, s.https.Addr(), addr, boot, caFile, rootCreated, vaultApp, bases, s.gateway)
	ok = true
	return s, nil
}

// Addr returns the bound listener address (useful with --listen :0).
func (s *Server) Addr() string { return s.https.Addr() }

// Vault returns the vault service (for the admin API, the CLI's in-process
// uses and tests).
func (s *Server) Vault() *vault.Service { return s.vault }

// Serve serves every listener until ctx ends, then shuts down gracefully:
// the listeners close at once and in-flight requests on the HTTPS listener
// get ShutdownTimeout to finish (metrics scrapes are cut).
func (s *Server) Serve(ctx context.Context) error {
	defer s.store.Close()
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(5)
	wake := newWakeSignal()
	go func() { defer wg.Done(); s.reloader.run(bg, s.cfg.ReloadInterval, wake) }()
	go func() { defer wg.Done(); s.cluster.run(bg, wake) }()
	go func() { defer wg.Done(); s.sts.RunRotation(bg, time.Minute) }()
	go func() { defer wg.Done(); s.runVaultMaintenance(bg, s.cfg.VaultMaintenanceInterval) }()
	go func() { defer wg.Done(); s.runAuditRetention(bg, s.cfg.AuditInterval) }()
	if s.devCerts != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.devCerts.run(bg, 2*time.Second) }()
	}
	defer func() { stopBG(); wg.Wait() }()
	// After the listeners stopped (deferred calls run last first): the
	// gateway closes its backends, then the connectors and the watcher.
	defer s.vaultRefs.stop()
	defer s.connectors.close()
	if s.gateway != nil {
		defer s.gateway.close() // after the listeners stopped: flushes the audit log
		// SIGHUP reopens the audit log (logrotate); the watcher ends
		// before the gateway closes the file.
		hup, stop, stopped := make(chan os.Signal, 1), make(chan struct{}), make(chan struct{})
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			defer close(stopped)
			for {
				select {
				case <-hup:
					s.gateway.reopenAudit(s.log)
				case <-stop:
					return
				}
			}
		}()
		defer func() { signal.Stop(hup); close(stop); <-stopped }()
	}

	err := s.listeners.serve(ctx, s.log, func() (context.Context, context.CancelFunc) {
		s.log.Info("shutting down: finishing in-flight requests", "timeout", s.cfg.ShutdownTimeout)
		return context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	})
	if err != nil {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// bearerAuthenticator admits bearer tokens that this node's token service
// issued (its published keys are the key source, in process: no HTTP hop)
// for audience, RS256 only, and refuses at once the tokens of a client
// application deleted since.
func bearerAuthenticator(tokens *sts.Server, audience string) (guard.Authenticator, error) {
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: tokens, Audiences: []string{audience}, Algorithms: []string{"RS256"}})
	if err != nil {
		return nil, fmt.Errorf("bearer verifier for %s: %w", audience, err)
	}
	return guard.RequireExistingClient(guard.Bearer(v), tokens), nil
}

// database is what serve needs of its store: every consumer's seam
// (directory.Store, sts.KeyStore, vault.Store) and what stores share; both
// SQL backends implement it.
type database interface {
	sqlstore.Contract
}

func openStore(ctx context.Context, cfg *Config) (database, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("--database: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "portcullis.db"))
	if err != nil {
		return nil, fmt.Errorf("SQLite database in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

// baseURL is the URL printed for users and written into the admin
// credential: the public URL if set, else https://<listen address> with a
// wildcard host replaced by localhost.
func baseURL(public, listen string) string {
	if public != "" {
		return public
	}
	host, port, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// reload brings every component to the store's current revision.
func (s *Server) reload(ctx context.Context) error { return s.reloader.reload(ctx) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "database unreachable; serving tokens, the gateway and vault reads of recently read objects from memory; changes are refused (503)\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// countRequests records one counter per matched route pattern (never the
// raw path, which would explode cardinality).
func countRequests(c *prometheus.CounterVec, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		c.WithLabelValues(routeLabel(r.Pattern), statusText(sw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int)        { w.code = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hostOf is the host name of a base URL, without port.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Hostname()
}

func statusText(code int) string {
	if code >= 100 && code < 600 {
		return fmt.Sprint(code)
	}
	return "other"
}

func printBanner(out io.Writer, cfg Config, listen, addr string, boot bootstrapResult, caFile string, rootCreated bool, vaultApp directory.Application, bases []string, gw *gatewayNode) {
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	if cfg.Dev {
		p("")
		p("  *** DEVELOPMENT MODE: do not use for production ***")
		if rootCreated {
			p("  Created a root encryption key in %s (production keeps it outside the data directory).", filepath.Join(cfg.DataDir, "root.key"))
		}
	}
	p("")
	p("  Listening on:            %s (--listen)", listen)
	p("  Public URL:              %s (--public-url; the issuer and every URL below)", addr)
	p("  Start page:              %s/", addr)
	p("  Issuer (default tenant): %s/%s/v2.0", addr, boot.Tenant.ID)
	p("  Token endpoint:          %s/%s/oauth2/v2.0/token", addr, boot.Tenant.ID)
	p("  Key Vault (default):     %s   (path form: curl, Python, any HTTP client; Key Vault SDKs need DisableChallengeResourceVerification)", kvapi.PathVaultURL(addr, vault.DefaultVault))
	named := "" // the host form needs a DNS name, not an IP address
	for _, b := range bases {
		if net.ParseIP(hostOf(b)) == nil {
			named = b
			break
		}
	}
	if named != "" {
		host := hostOf(named)
		how := "the name must resolve to this server"
		if strings.EqualFold(host, "localhost") {
			how = "curl resolves *.localhost itself; for Go and Python add \"127.0.0.1 " + vault.DefaultVault + ".localhost\" to /etc/hosts"
		}
		p("                           %s   (host form: Key Vault SDKs with default options; %s)", kvapi.VaultURL(named, vault.DefaultVault), how)
	}
	p("  Vault resource:          %s (appId %s)", strings.Join(bases, ", "), vaultApp.AppID)
	if gw != nil {
		for i, u := range gw.Listeners() {
			label := "Gateway (APIs):"
			if i > 0 {
				label = ""
			}
			p("  %-24s %s", label, u)
		}
		p("  Gateway audit log:       %s", cfg.GatewayAuditLog)
	}
	if cfg.MetricsListen != "" {
		p("  Prometheus metrics:      http://%s/metrics", cfg.MetricsListen)
	}
	if caFile != "" {
		p("  TLS CA certificate:      %s", caFile)
		p("  Trust it in clients:     export SSL_CERT_FILE=%s   (Go, Python, OpenSSL)", caFile)
		p("                           curl --cacert %s   (Debian's curl ignores SSL_CERT_FILE)", caFile)
	}
	switch {
	case boot.AdminCreated:
		p("  Admin credential:        %s (mode 0600; the CLI reads it from --data)", cfg.AdminCredentialFile)
	case fileExists(cfg.AdminCredentialFile):
		p("  Admin credential:        %s", cfg.AdminCredentialFile)
	default:
		// Another node bootstrapped the shared database, or the file was
		// moved to where administrators keep secrets, as the docs advise.
		p("  Admin credential:        none on this node: the first start on this database wrote it to that node's --admin-credential-file; the CLI takes it from there or from PORTCULLIS_CLIENT_ID/PORTCULLIS_CLIENT_SECRET")
	}
	p("")
}

// fileExists reports whether path names something that exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
