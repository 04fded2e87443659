package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/server"
)

func newServeCommand() *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Portcullis server (token service, vault and admin API)",
		Long: `Run the Portcullis server: the Entra-compatible token service, the Key Vault-compatible
vault, the admin API, /healthz and /readyz on one HTTPS listener (HTTP/1.1 and HTTP/2).
Prometheus /metrics is served apart, in plain HTTP on --metrics-listen (default
` + server.DefaultMetricsListen + `, loopback only; "off" turns it off). Binding it to another
address needs --metrics-allow-remote, since it has neither TLS nor authentication.
Certificate expiry is reported per vault; --metrics-object-names adds one series
per certificate, labelled with its name.

With --dev, everything a laptop needs is created on first start in the data
directory and reused later: the SQLite database, a root encryption key, a local
CA with a server certificate for localhost, 127.0.0.1 and VAULT.localhost of
every vault (re-issued when a vault is created), and an admin credential
(admin.json) that the CLI on the same machine picks up without flags (each
start writes the current address into it). The public URL defaults to
https://localhost:PORT: every issuer and URL the server prints uses it.
It also warns about every connector that sends Basic, an API key or a bearer
token over plain HTTP (allowInsecureAuth) or skips its endpoint's chain
validation, and about gateway APIs that admit Basic or API keys over plain
HTTP or skip their backend's certificate validation.

Connectors (portcullis connector --help) run in the server: those attached to
an application are called before its client-credentials tokens are minted.
A connector's bearer token by client credentials may come from this server
itself: its token client trusts this server's CA (the development CA with
--dev) besides the system roots.

Without --dev (production), serve needs --tls-cert/--tls-key and a root key
(--root-key FILE or ` + server.RootKeyEnv + `), and refuses to start without them.
Several nodes may share one PostgreSQL database (--database postgres://…).

The root key seals every secret value, private key and token signing key.
To rotate it, give the new key as --root-key and the old one as
--previous-root-key (repeatable; or comma-separated keys in
` + server.PreviousRootKeysEnv + `): the server seals with the new key and still
opens what the old one sealed. Then 'portcullis vault rekey' re-seals
everything; see 'portcullis vault rekey --help' for the whole procedure.

Behind an HTTP load balancer, name it with --gateway-trusted-proxy (an
address or CIDR range, repeatable): the gateway then takes the client's
address from the X-Forwarded-For it sends (the rightmost address that is not
itself trusted) for the failed-authentication budget, the audit log and the
backend, and appends the balancer to X-Forwarded-For. From other peers such
headers are dropped, as at the edge. The PROXY protocol is not read.

On Linux, gateway connections (HTTP/1.1, plain or after the TLS handshake)
are served by event loops that batch their socket reads and writes with
io_uring where the kernel allows it. PORTCULLIS_GATEWAY_IO_URING=off turns
that off (on: the gateway listeners stop with an error without it);
PORTCULLIS_GATEWAY_ENGINE=goroutine serves them one goroutine per
connection instead. See docs/operations.md, "The gateway's HTTP engines".

Flags are read at start: change them with a restart. SIGHUP reopens the
gateway audit log; certificates are reloaded when their files change.
SIGINT or SIGTERM stop the server gracefully: in-flight requests finish.`,
		Example: `  # laptop
  portcullis serve --dev

  # laptop, another port (the CLI follows: admin.json is updated)
  portcullis serve --dev --listen 127.0.0.1:9443

  # production node of a cluster
  portcullis serve --listen 0.0.0.0:8443 --public-url https://sts.example.com \
    --tls-cert /etc/portcullis/tls.pem --tls-key /etc/portcullis/tls-key.pem \
    --root-key /etc/portcullis/root.key --database postgres://portcullis@db/portcullis

  # audit log: keep 30 days, ship every record first to a file that a log
  # forwarder (vector, fluent-bit) tails
  portcullis serve ... --audit-retention 30d --audit-ship /var/log/portcullis/audit.jsonl

  # gateway behind HAProxy/nginx on 10.0.1.0/24 (option forwardfor)
  portcullis serve ... --gateway-listen http://0.0.0.0:8080 --gateway-trusted-proxy 10.0.1.0/24

  # during a root-key rotation
  portcullis serve --tls-cert tls.pem --tls-key tls-key.pem \
    --root-key /etc/portcullis/root-new.key --previous-root-key /etc/portcullis/root.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				cfg.DataDir = envOr("PORTCULLIS_DATA", "portcullis-data")
			}
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = os.Getenv("PORTCULLIS_DATABASE")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := server.NewLogger(cmd.ErrOrStderr(), cfg.LogFormat, cfg.LogLevel)
			srv, err := server.Start(ctx, cfg, log, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "address of the HTTPS listener (host:port)")
	f.BoolVar(&cfg.Dev, "dev", false, "development mode: create root key, local CA and admin credential in --data")
	f.StringVar(&cfg.DataDir, "data", "", "data directory: SQLite database, dev key material, admin.json (default ./portcullis-data or $PORTCULLIS_DATA)")
	f.StringVar(&cfg.DatabaseURL, "database", "", "PostgreSQL URL for a cluster (postgres://…; default: SQLite in --data, or $PORTCULLIS_DATABASE)")
	f.StringVar(&cfg.PublicURL, "public-url", "", "the one base URL clients use: issuer, discovery and vault URLs, e.g. https://sts.example.com; give every node of a cluster the same (default with --dev and no --database: https://localhost:PORT; else from each request's Host)")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate chain for the listener (required without --dev; reloaded when it changes)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key for the listener (required without --dev)")
	f.StringVar(&cfg.RootKeyFile, "root-key", "", "root encryption key file, mode 0600 (or set "+server.RootKeyEnv+"; required without --dev)")
	f.StringArrayVar(&cfg.PreviousRootKeyFiles, "previous-root-key", nil, "file of a previous root key whose blobs the server still opens during a rotation (repeatable; or comma-separated keys in "+server.PreviousRootKeysEnv+")")
	f.StringVar(&cfg.AdminCredentialFile, "admin-credential-file", "", "where the first start writes the bootstrap admin credential (default DATA/admin.json)")
	f.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&cfg.RotationInterval, "key-rotation-interval", 0, "how often signing keys rotate automatically (default 720h)")
	f.DurationVar(&cfg.KeyPrepublish, "key-prepublish", 0, "how long a new signing key is published before it signs (default 24h)")
	f.StringVar(&cfg.VaultWebhookURL, "vault-webhook-url", "", "URL that receives certificate lifetime notifications (JSON, HMAC-SHA256 in X-Portcullis-Signature); https, or http to a loopback address")
	f.StringVar(&cfg.VaultWebhookSecretFile, "vault-webhook-secret-file", "", "file holding the webhook's HMAC secret, at least 16 bytes (or set "+server.VaultWebhookSecretEnv+")")
	f.DurationVar(&cfg.VaultMaintenanceInterval, "vault-maintenance-interval", 0, "how often certificate lifetime actions and purges of expired deletions run (default 10m)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", server.DefaultMetricsListen, `address of the plain-HTTP Prometheus /metrics listener (host:port), or "off"`)
	f.BoolVar(&cfg.MetricsAllowRemote, "metrics-allow-remote", false, "allow --metrics-listen on a non-loopback address (metrics have no TLS and no authentication)")
	f.BoolVar(&cfg.MetricsProfiling, "metrics-pprof", false, "also serve Go's runtime profiles under /debug/pprof/ on the metrics listener (CPU: /debug/pprof/profile?seconds=30)")
	f.BoolVar(&cfg.MetricsObjectNames, "metrics-object-names", false, "add per-certificate expiry series labelled with vault and certificate names (default: per vault only)")
	f.StringArrayVar(&cfg.GatewayListen, "gateway-listen", nil, `gateway listener: https://host:port (HTTP/1.1 and HTTP/2), http://host:port (plain HTTP/1.1) or host:port (https); repeatable; "off" for none (default with --dev: https on the port after --listen)`)
	f.StringVar(&cfg.GatewayTLSCertFile, "gateway-tls-cert", "", "PEM certificate chain the gateway's HTTPS listeners present (default: --tls-cert; reloaded when it changes)")
	f.StringVar(&cfg.GatewayTLSKeyFile, "gateway-tls-key", "", "PEM private key for --gateway-tls-cert")
	f.StringVar(&cfg.GatewayAuditLog, "gateway-audit-log", "", `file every gateway decision is appended to as one JSON line, reopened on SIGHUP (logrotate), or "-" for standard error (default DATA/gateway-audit.log)`)
	f.StringArrayVar(&cfg.GatewayTrustedProxies, "gateway-trusted-proxy", nil, "IP address or CIDR range of a load balancer in front of the gateway (repeatable, or comma-separated): a request it forwards is counted, audited and forwarded as from the client its X-Forwarded-For names (the rightmost address not itself trusted); default none: every peer is the client")
	cfg.GatewayReadBodyTimeout = server.DefaultGatewayIOTimeout
	f.Var((*positiveDuration)(&cfg.GatewayReadBodyTimeout), "gateway-read-body-timeout", "how long the gateway waits for more of a request body it streams to a backend before answering 408 (nginx's client_body_timeout)")
	cfg.GatewaySendTimeout = server.DefaultGatewayIOTimeout
	f.Var((*positiveDuration)(&cfg.GatewaySendTimeout), "gateway-send-timeout", "how long the gateway waits for a client to take more of a response before disconnecting it (nginx's send_timeout)")
	f.StringVar(&cfg.AuditRetention, "audit-retention", "90d", `how long audit records are kept: days (90d), a duration (720h, at least 1h), or "off"; pruned in the background in batches of 1000 on one node`)
	f.Int64Var(&cfg.AuditMaxRows, "audit-max-rows", audit.DefaultMaxRows, "most audit records kept (the newest; about 400 bytes each); 0 = no bound")
	f.StringVar(&cfg.AuditShip, "audit-ship", "", `ship audit records as JSON lines, before they may be pruned, to this file (appended; logrotate may rename it) or "-" for standard output; default off`)
	f.DurationVar(&cfg.AuditInterval, "audit-interval", 0, "how often audit records are shipped and pruned (default 1m; one node of a cluster does it, elected by a store lease)")
	return cmd
}

// positiveDuration is a duration flag that refuses zero and negative
// values: the timeouts it sets have no "off".
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

func (d *positiveDuration) Type() string { return "duration" }

func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 60s, 2m or 1h30m")
	}
	if v <= 0 {
		return fmt.Errorf("want a positive duration such as 60s; there is no unbounded wait")
	}
	*d = positiveDuration(v)
	return nil
}

func newRootKeyCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "rootkey",
		Short: "Create root encryption keys and check which ones seal the stored data",
		Long: `The root key seals (encrypts and authenticates) every secret value, private
key and token signing key at rest. 'rootkey generate' writes a new key;
'rootkey status' asks the server which keys seal the stored blobs.

` + rotationProcedure,
		Example: `  portcullis rootkey generate /etc/portcullis/root-new.key
  portcullis rootkey status`,
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "generate FILE",
		Short: "Write a new random root key to FILE (mode 0600)",
		Long: `Write 32 random bytes, base64-encoded, to FILE with mode 0600. The file must
not exist. Keep it outside the data directory and the database backups; give it to
serve with --root-key FILE, or its content in ` + server.RootKeyEnv + `. To replace the
current key, see 'portcullis rootkey --help'.`,
		Example: `  portcullis rootkey generate /etc/portcullis/root.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := seal.GenerateRootKeyFile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a new root key to %s\n", args[0])
			return nil
		},
	}, newRootKeyStatusCommand())
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
