// Package server implements `portcullis serve`. It only wires: it opens the
// store, loads the root keys and TLS material (creating them in --dev mode),
// bootstraps the default tenant and the admin credential, and puts the
// components together; the rules and the state live in the packages that
// own them.
//
// Two seams are where later components (the gateway, connectors) plug in:
//
//   - Listener: each component serves on listeners of its own, each with
//     its TLS configuration and HTTP server settings. Today the clients'
//     HTTPS listener carries the token service, the admin API and the
//     vault's Key Vault-compatible API (package kvapi: vault URLs
//     https://{vault}.{host} and https://{host}/vaults/{vault}) with health
//     and readiness, and Prometheus metrics have a separate,
//     loopback-by-default listener. A gateway adds listeners whose
//     tls.Config requests client certificates.
//   - Component: the one reload loop (reloader) polls the store revision
//     and, when it moves, builds the next directory snapshot from the
//     previous one and the objects that changed (directory.Snapshot.Apply
//     over sqlstore's change log; a full read first and as a fallback) and
//     hands it to every Component, which swaps in its own state. Nothing on
//     a request path reads the store to resolve configuration (no
//     vault.Resolve per request): a component resolves what it needs when
//     it applies an Update.
//
// It also runs the vault's certificate lifetime actions and purges on one
// node, and shuts down gracefully.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// RootKeyEnv is the environment variable that may hold the root key (base64
// or hex of 32 bytes) instead of a file.
const RootKeyEnv = "PORTCULLIS_ROOT_KEY"

// PreviousRootKeysEnv is the environment variable that may hold previous
// root keys (comma-separated, each base64 or hex of 32 bytes), in addition
// to the --previous-root-key files.
const PreviousRootKeysEnv = "PORTCULLIS_PREVIOUS_ROOT_KEYS"

// Config is what `portcullis serve` is given. It is validated once by
// Validate and not changed afterwards.
type Config struct {
	Listen      string // host:port of the HTTPS listener
	Dev         bool   // create root key, CA and server certificate in DataDir
	DataDir     string // SQLite database, dev key material, admin credential
	DatabaseURL string // "" = SQLite in DataDir; postgres://… = PostgreSQL
	PublicURL   string // base URL clients use (issuer base); "" = from each request's Host

	TLSCertFile string // PEM certificate chain (required without --dev)
	TLSKeyFile  string // PEM private key (required without --dev)
	RootKeyFile string // root key file; else RootKeyEnv; required without --dev
	// PreviousRootKeyFiles (and PreviousRootKeysEnv) hold root keys the
	// node no longer seals with but still opens blobs of, while a root-key
	// rotation re-seals them (`portcullis vault rekey`).
	PreviousRootKeyFiles []string

	AdminCredentialFile string // where the bootstrap admin credential is written; default DataDir/admin.json

	LogFormat string // text | json
	LogLevel  string // debug | info | warn | error

	ReloadInterval   time.Duration // how often the store revision is polled (default 1s)
	RotationInterval time.Duration // signing-key rotation period (default 30 days)
	KeyPrepublish    time.Duration // how long a new key is published before it signs (default 24h)
	ShutdownTimeout  time.Duration // how long in-flight requests may take to finish (default 30s)

	// VaultWebhookURL receives certificate lifetime notifications (JSON,
	// signed with HMAC-SHA256 in the X-Portcullis-Signature header); "" =
	// log only. https, or http to a loopback address.
	VaultWebhookURL string
	// VaultWebhookSecretFile holds the webhook's HMAC secret (at least 16
	// bytes); else VaultWebhookSecretEnv. Required with VaultWebhookURL.
	VaultWebhookSecretFile string
	// VaultMaintenanceInterval is how often certificate lifetime actions
	// and purges of expired deletions run (default 10m; one node of a
	// cluster runs them, elected by a store lease).
	VaultMaintenanceInterval time.Duration

	// MetricsListen is the host:port of the plain-HTTP listener that serves
	// GET /metrics; "" or "off" = no metrics listener. `portcullis serve`
	// defaults it to DefaultMetricsListen. /metrics is never served on
	// Listen.
	MetricsListen string
	// MetricsAllowRemote permits a MetricsListen that is not a loopback
	// address: metrics have no TLS and no authentication.
	MetricsAllowRemote bool
	// MetricsObjectNames adds per-certificate series labelled with vault
	// and certificate names; by default names stay out of the metrics and
	// certificate expiry is reported per vault only.
	MetricsObjectNames bool
	// MetricsProfiling serves Go's runtime profiles (net/http/pprof, under
	// /debug/pprof/) on the metrics listener.
	MetricsProfiling bool

	// GatewayListen lists the gateway's listeners: https://host:port,
	// http://host:port or host:port (https); "off" = none. --dev defaults
	// it to one HTTPS listener on the port after --listen.
	GatewayListen []string
	// GatewayTLSCertFile and GatewayTLSKeyFile are the certificate the
	// gateway's HTTPS listeners present; default: the --tls-cert pair.
	GatewayTLSCertFile string
	GatewayTLSKeyFile  string
	// GatewayAuditLog is the file every gateway decision is appended to as
	// a JSON line; "-" = standard error. Default DATA/gateway-audit.log.
	GatewayAuditLog string
	// GatewayTrustedProxies are the addresses or CIDR ranges (comma-separated
	// lists allowed) of the load balancers in front of the gateway, whose
	// X-Forwarded-For names the client (see proxy.Server.TrustedProxies).
	GatewayTrustedProxies []string
	// GatewayReadBodyTimeout bounds each wait for more of a request body the
	// gateway streams to a backend; GatewaySendTimeout each wait for a client
	// to take more of a response. 0 = the default, 60s; negative is refused.
	GatewayReadBodyTimeout time.Duration
	GatewaySendTimeout     time.Duration

	// AuditRetention is how long audit records are kept: a duration such
	// as 2160h or 90d, or "off" for no age bound. Default 90d.
	AuditRetention string
	// AuditMaxRows bounds the audit records kept (the newest); 0 = no
	// bound. `portcullis serve` defaults it to audit.DefaultMaxRows.
	AuditMaxRows int64
	// AuditShip is where audit records are shipped as JSON lines before
	// they may be pruned: a file (appended to; reopened for every batch,
	// so logrotate can rename it) or "-" for standard output; "" = off.
	AuditShip string
	// AuditInterval is how often the node holding the audit lease ships
	// and prunes (default 1m).
	AuditInterval time.Duration

	gateway        []GatewayListener // parsed GatewayListen
	gatewayTrusted []netip.Prefix    // parsed GatewayTrustedProxies
	auditMaxAge    time.Duration     // parsed AuditRetention (0 = no age bound)
}

// VaultWebhookSecretEnv is the environment variable that may hold the vault
// webhook's HMAC secret instead of --vault-webhook-secret-file.
const VaultWebhookSecretEnv = "PORTCULLIS_VAULT_WEBHOOK_SECRET"

// Validate checks the configuration and fills in defaults. Errors name the
// flag and say how to fix it.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8443: %w", c.Listen, err)
	}
	if c.DataDir == "" {
		c.DataDir = "portcullis-data"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("--data %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.AdminCredentialFile == "" {
		c.AdminCredentialFile = filepath.Join(c.DataDir, "admin.json")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("--database: only postgres:// URLs are supported; leave it empty for the embedded SQLite database in --data")
	}
	if c.PublicURL != "" {
		if !strings.HasPrefix(c.PublicURL, "https://") {
			return fmt.Errorf("--public-url %q: must start with https:// (Microsoft clients refuse other schemes)", c.PublicURL)
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if !c.Dev {
		if c.TLSCertFile == "" || c.TLSKeyFile == "" {
			return errors.New("production mode needs a TLS certificate: pass --tls-cert FILE and --tls-key FILE (or --dev to create a local CA for development)")
		}
		if c.RootKeyFile == "" && !rootKeyInEnv() {
			return fmt.Errorf("production mode needs a root encryption key: pass --root-key FILE or set %s (32 random bytes, base64); create one with `portcullis rootkey generate FILE`, or use --dev", RootKeyEnv)
		}
	} else if c.TLSCertFile != "" || c.TLSKeyFile != "" {
		if c.TLSCertFile == "" || c.TLSKeyFile == "" {
			return errors.New("--tls-cert and --tls-key go together")
		}
	}
	for _, f := range c.PreviousRootKeyFiles {
		if strings.TrimSpace(f) == "" {
			return errors.New("--previous-root-key: empty file name; give the file of a root key this node should still open blobs of")
		}
	}
	if c.ReloadInterval <= 0 {
		c.ReloadInterval = time.Second
	}
	if c.RotationInterval <= 0 {
		c.RotationInterval = 30 * 24 * time.Hour
	}
	if c.KeyPrepublish <= 0 {
		c.KeyPrepublish = 24 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.VaultMaintenanceInterval <= 0 {
		c.VaultMaintenanceInterval = 10 * time.Minute
	}
	if err := c.validateAudit(); err != nil {
		return err
	}
	if err := c.validateMetrics(); err != nil {
		return err
	}
	if err := c.validateGateway(); err != nil {
		return err
	}
	if err := c.validateListenerClash(); err != nil {
		return err
	}
	return c.validateVaultWebhook()
}

// validateVaultWebhook checks the webhook flags go together and the URL
// is usable; the secret itself is read at start (vaultNotifier).
func (c *Config) validateVaultWebhook() error {
	secretInEnv := os.Getenv(VaultWebhookSecretEnv) != ""
	if c.VaultWebhookURL == "" {
		if c.VaultWebhookSecretFile != "" {
			return errors.New("--vault-webhook-secret-file is set without --vault-webhook-url: give the URL that receives certificate notifications, or drop the secret")
		}
		return nil
	}
	u, err := url.Parse(c.VaultWebhookURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return fmt.Errorf("--vault-webhook-url %q: want an absolute https:// URL without credentials, e.g. https://alerts.example.com/portcullis", c.VaultWebhookURL)
	}
	if u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--vault-webhook-url %q: plain http is allowed only to a loopback address; use https", c.VaultWebhookURL)
		}
	}
	if c.VaultWebhookSecretFile == "" && !secretInEnv {
		return fmt.Errorf("--vault-webhook-url needs the HMAC secret that signs each notification: pass --vault-webhook-secret-file FILE or set %s (at least 16 bytes)", VaultWebhookSecretEnv)
	}
	return nil
}

// validateAudit parses the audit log's retention flags.
func (c *Config) validateAudit() error {
	switch r := strings.ToLower(strings.TrimSpace(c.AuditRetention)); r {
	case "":
		c.auditMaxAge = audit.DefaultMaxAge
	case "off", "0":
		c.auditMaxAge = 0
	default:
		d, err := parseRetention(r)
		if err != nil {
			return fmt.Errorf("--audit-retention %q: %v", c.AuditRetention, err)
		}
		c.auditMaxAge = d
	}
	if c.AuditMaxRows < 0 {
		return fmt.Errorf("--audit-max-rows %d: want 0 (no bound) or a positive number of records, e.g. %d", c.AuditMaxRows, audit.DefaultMaxRows)
	}
	if c.AuditInterval < 0 {
		return fmt.Errorf("--audit-interval %s: want a positive duration, e.g. 1m", c.AuditInterval)
	}
	if c.AuditInterval == 0 {
		c.AuditInterval = time.Minute
	}
	return nil
}

// parseRetention reads a retention such as 90d, 36h or 2160h; at least an
// hour, so that a typo cannot empty the log.
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 36500 {
			return 0, errors.New("want a whole number of days such as 90d, a duration such as 720h, or off")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want a whole number of days such as 90d, a duration such as 720h, or off")
		}
	}
	if d < time.Hour {
		return 0, fmt.Errorf("%s is shorter than the shortest retention, 1h; give 1h or more, or off", d)
	}
	return d, nil
}
