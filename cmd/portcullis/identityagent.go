package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/identityagent"
	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

// envCertPassword holds the password of the agent's PFX file when
// --password-file is not given.
const envCertPassword = "PORTCULLIS_CERT_PASSWORD"

// defaultAgentListen is the identity agent's default address.
const defaultAgentListen = "127.0.0.1:40380"

type identityAgentOptions struct {
	addr, ca, data, tenant string
	certFile, passwordFile string
	systemAssigned         string
	userAssigned           []string
	listen                 string
	headerFile, envFile    string
	group                  string
	logFormat, logLevel    string
}

func newIdentityAgentCommand() *cobra.Command {
	var o identityAgentOptions
	cmd := &cobra.Command{
		Use:   "identity-agent --cert FILE --header-file FILE (--system-assigned APPID | --user-assigned [NAME=]APPID)…",
		Short: "Serve managed-identity tokens to applications on this host (IDENTITY_ENDPOINT)",
		Long: `Run the managed-identity endpoint of an application host, so that applications
on it get tokens with no secret of their own: azidentity's
ManagedIdentityCredential and DefaultAzureCredential (and MSAL's managed
identity client) find it through IDENTITY_ENDPOINT and IDENTITY_HEADER and
speak the App Service managed-identity protocol to it.

The agent holds the host's credential, --cert: a certificate and its private
key (PEM, or PFX with --password-file or $` + envCertPassword + `). Register
that certificate on every application the host may hand out
('portcullis app cert add APP host.cer'); the agent requests each token from
the token endpoint (ADDR/TENANT/oauth2/v2.0/token) with the client-credentials
grant as that application, signing a client assertion with the host's key. The
key is never given to applications.

Identities:
  --system-assigned APPID         the identity applications get when they name
                                  none (ManagedIdentityCredential without ID)
  --user-assigned [NAME=]APPID    an identity applications select by client id
                                  (azidentity.ClientID, or AZURE_CLIENT_ID for
                                  DefaultAzureCredential) or by NAME through
                                  mi_res_id (azidentity.ResourceID ending in
                                  /NAME); repeatable

Callers: the agent listens on loopback only (--listen; any other address is
refused) over plain HTTP, answers only callers on this host, and only those that
send the per-host header value. It generates that value at every start and
writes it to --header-file with mode 0640 and group --group: applications run
with that group (or as the agent's user) and set IDENTITY_HEADER to the file's
content. --env-file also writes both variables as KEY=VALUE lines (same mode and
group) for systemd's EnvironmentFile=. Any process that can read the file can
get every identity of this host: see docs/managed-identity.md.

Tokens are cached per identity and resource and renewed 5 minutes before they
expire (at half their lifetime when shorter). Refusals of the token service
(unknown resource, host certificate not registered on the application) are
passed to the caller with their status and description. The server address,
CA and tenant come from --addr, --ca, --tenant or the environment as for
'portcullis token get'.`,
		Example: `  # once: a host certificate, registered on the application it hands out
  portcullis cert create --subject "CN=web-01" --out /etc/portcullis/web-01
  portcullis app cert add orders-worker /etc/portcullis/web-01.cer

  # on the host (as a service user in group "apps")
  portcullis identity-agent --addr https://sts.example.com --ca /etc/portcullis/ca.pem \
    --tenant contoso --cert /etc/portcullis/web-01.pem \
    --system-assigned 0c4d5e6f-1111-2222-3333-444455556666 \
    --user-assigned reports=7a8b9c0d-1111-2222-3333-444455556666 \
    --header-file /run/portcullis-identity/header --group apps \
    --env-file /run/portcullis-identity/env

  # in the application's environment
  IDENTITY_ENDPOINT=http://127.0.0.1:40380/msi/token
  IDENTITY_HEADER=$(cat /run/portcullis-identity/header)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runIdentityAgent(ctx, cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.addr, "addr", "", "Portcullis base URL, e.g. https://sts.example.com (default $"+adminclient.EnvAddr+", else the addr in DATA/admin.json)")
	fl.StringVar(&o.ca, "ca", "", "PEM file of the CA that issued Portcullis' TLS certificate (default $"+adminclient.EnvCA+", else the ca in DATA/admin.json, else the system roots)")
	fl.StringVar(&o.data, "data", "", "data directory of 'portcullis serve --dev' holding admin.json (default $"+adminclient.EnvData+", else ./"+adminclient.DefaultDataDir+")")
	fl.StringVar(&o.tenant, "tenant", "", `tenant of the identities: id or name (default $`+adminclient.EnvTenant+` or "default")`)
	fl.StringVar(&o.certFile, "cert", "", "the host's certificate with its private key: PEM, or PFX (required)")
	fl.StringVar(&o.passwordFile, "password-file", "", "file holding the password of a PFX --cert (default $"+envCertPassword+")")
	fl.StringVar(&o.systemAssigned, "system-assigned", "", "application (client) id handed out when a caller names no identity")
	fl.StringArrayVar(&o.userAssigned, "user-assigned", nil, "user-assigned identity: APPID or NAME=APPID (repeatable)")
	fl.StringVar(&o.listen, "listen", defaultAgentListen, "loopback address to listen on: 127.0.0.1:PORT or [::1]:PORT")
	fl.StringVar(&o.headerFile, "header-file", "", "file the per-host header value is written to at start, mode 0640 (required)")
	fl.StringVar(&o.envFile, "env-file", "", "also write IDENTITY_ENDPOINT and IDENTITY_HEADER as KEY=VALUE lines to this file, mode 0640")
	fl.StringVar(&o.group, "group", "", "group (name or id) of --header-file and --env-file: the applications' group (default: the agent's group)")
	fl.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func runIdentityAgent(ctx context.Context, cmd *cobra.Command, o identityAgentOptions) error {
	listen, err := identityagent.LoopbackAddress(o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	var ids identityagent.Identities
	if o.systemAssigned != "" {
		id, err := identityagent.ParseIdentity(o.systemAssigned)
		if err != nil {
			return fmt.Errorf("--system-assigned: %w", err)
		}
		ids.SystemAssigned = &id
	}
	for _, s := range o.userAssigned {
		id, err := identityagent.ParseIdentity(s)
		if err != nil {
			return fmt.Errorf("--user-assigned: %w", err)
		}
		ids.UserAssigned = append(ids.UserAssigned, id)
	}
	if err := ids.Validate(); err != nil {
		return err
	}
	if o.headerFile == "" {
		return errors.New("--header-file is required: the file applications read IDENTITY_HEADER from, e.g. /run/portcullis-identity/header")
	}
	// Absolute paths in what the agent prints and says to callers.
	if o.headerFile, err = filepath.Abs(o.headerFile); err != nil {
		return fmt.Errorf("--header-file: %w", err)
	}
	gid, err := identityagent.LookupGroup(o.group)
	if err != nil {
		return fmt.Errorf("--group: %w", err)
	}
	cred, err := agentCredential(o)
	if err != nil {
		return err
	}
	e, err := adminclient.LoadEndpoint(adminclient.Flags{Addr: o.addr, CA: o.ca, DataDir: o.data})
	if err != nil {
		return err
	}
	hc, err := adminclient.NewHTTPClient(e.CAFile)
	if err != nil {
		return err
	}
	tenant := first(o.tenant, os.Getenv(adminclient.EnvTenant), adminclient.DefaultTenant)
	log := server.NewLogger(cmd.ErrOrStderr(), o.logFormat, o.logLevel)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--listen %s: %w (is another identity agent running? give another port with --listen, and the applications the IDENTITY_ENDPOINT it prints)", listen, err)
		}
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	defer ln.Close()
	endpoint := "http://" + ln.Addr().String() + identityagent.TokenPath
	header := identityagent.NewHeaderValue()
	if err := identityagent.WriteSecretFile(o.headerFile, []byte(header.Reveal()), gid); err != nil {
		return fmt.Errorf("--header-file: %w", err)
	}
	defer func() { _ = identityagent.RemoveSecretFile(o.headerFile) }()
	if o.envFile != "" {
		env := "IDENTITY_ENDPOINT=" + endpoint + "\nIDENTITY_HEADER=" + header.Reveal() + "\n"
		if err := identityagent.WriteSecretFile(o.envFile, []byte(env), gid); err != nil {
			return fmt.Errorf("--env-file: %w", err)
		}
		defer func() { _ = identityagent.RemoveSecretFile(o.envFile) }()
	}

	agent, err := identityagent.New(identityagent.Config{
		Identities: ids,
		Tokens:     identityagent.ClientCredentials{TokenURL: e.TokenURL(tenant), Credential: cred, Client: &oauthclient.Client{HTTPClient: hc}},
		Header:     header,
		HeaderFile: o.headerFile,
		Log:        log,
	})
	if err != nil {
		return err
	}
	defer agent.Close()

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "# identity agent for %s (tenant %s) as %s\n", e.Addr, tenant, cred)
	fmt.Fprintf(out, "# identities: %s\n", ids)
	fmt.Fprintf(out, "# application environment (the header value is in %s, mode 0640):\n", o.headerFile)
	fmt.Fprintf(out, "IDENTITY_ENDPOINT=%s\n", endpoint)
	fmt.Fprintf(out, "IDENTITY_HEADER=$(cat %s)\n", o.headerFile)
	if c := cred.Certificate(); c != nil && time.Until(c.NotAfter) < 30*24*time.Hour {
		log.Warn("identity agent: the host certificate expires soon; register its successor on the applications and restart the agent with it",
			"subject", c.Subject.String(), "notAfter", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return agent.Serve(ctx, ln)
}

// agentCredential reads the host's certificate and key.
func agentCredential(o identityAgentOptions) (oauthclient.Credential, error) {
	if o.certFile == "" {
		return oauthclient.Credential{}, errors.New("--cert is required: the host's certificate with its private key (PEM, or PFX), registered on each identity's application")
	}
	data, err := os.ReadFile(o.certFile)
	if err != nil {
		return oauthclient.Credential{}, fmt.Errorf("--cert: %w", err)
	}
	password := os.Getenv(envCertPassword)
	if o.passwordFile != "" {
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return oauthclient.Credential{}, fmt.Errorf("--password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	cert, _, key, err := pki.ParseCertificateAndKey(data, password)
	if errors.Is(err, pki.ErrWrongPassword) && password == "" {
		return oauthclient.Credential{}, fmt.Errorf("--cert %s: the PFX is protected by a password: give it with --password-file FILE or $%s", o.certFile, envCertPassword)
	}
	if err != nil {
		return oauthclient.Credential{}, fmt.Errorf("--cert %s: %w", o.certFile, err)
	}
	if time.Now().After(cert.NotAfter) {
		return oauthclient.Credential{}, fmt.Errorf("--cert %s: the certificate expired at %s; create a new one and register it on the applications", o.certFile, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return oauthclient.CertificateCredential(cert, key)
}
