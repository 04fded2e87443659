package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
)

func newConnectorCommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "connector",
		Short: "Manage API connectors: REST endpoints Portcullis calls with claims",
		Long: `Manage the API connectors of a tenant. A connector is a REST endpoint that
Portcullis calls with claims (in a JSON body, a form, headers or the query),
authenticated by HTTP Basic, an API-key header, a bearer token (static or
obtained by client credentials) or a client certificate, and whose answer
continues with output claims, blocks, or refuses with a validation error.
Attached to applications (--attach-resource, --attach-client), the token
service calls it before minting a client-credentials token and adds its
output claims to the token.

Credentials are never given literally: passwords, keys, tokens and client
secrets are vault secrets (vault://VAULT/secrets/NAME), certificates vault
certificates (vault://VAULT/certificates/NAME). Without a version a
reference follows the newest enabled, started and unexpired version as it
rotates. The vault refuses to delete an object a connector uses.
` + adminEnvHelp,
		Example: `  portcullis connector create hr --endpoint https://hr.example.com/enrich \
      --auth basic --username portcullis --password vault://default/secrets/hr-password \
      --input-claim appid=clientId --output-claim department
  portcullis connector list
  portcullis connector show hr
  portcullis connector update hr --timeout 5s --retries 2
  portcullis connector invoke hr --claim appid=11111111-2222-3333-4444-555555555555
  portcullis connector delete hr`,
	})
	f.register(cmd)
	cmd.AddCommand(newConnectorCreateCommand(&f), newConnectorUpdateCommand(&f), newConnectorShowCommand(&f),
		newConnectorListCommand(&f), newConnectorDeleteCommand(&f), newConnectorInvokeCommand(&f))
	return cmd
}

// connectorFlags are the flags that describe a connector; each replaces the
// element it names.
type connectorFlags struct {
	fromFile    string
	description string
	endpoint    string

	credentialFlags

	cas                 []string
	serverName          string
	pins                []string
	skipChainValidation bool
	noTLS               bool

	allowInsecureAuth bool
	sendClaimsIn      string
	inputClaims       []string
	outputClaims      []string
	noInputClaims     bool
	noOutputClaims    bool
	timeout           time.Duration
	retries           int

	attachResource []string
	attachClient   []string
	failurePolicy  string
	detach         bool
}

func (f *connectorFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.fromFile, "from-file", "", "read the whole connector from a JSON or YAML file (- for stdin), in the admin API's format; flags given alongside replace what they name")
	fs.StringVar(&f.description, "description", "", "what the connector is for")
	fs.StringVar(&f.endpoint, "endpoint", "", "the URL called, https://host[:port]/path[?query] (http:// only with --auth none or --allow-insecure-auth)")

	f.credentialFlags.register(fs, "")

	fs.StringArrayVar(&f.cas, "ca", nil, "CA the endpoint's certificate must chain to: a PEM file or vault://VAULT/certificates/NAME (repeatable; replaces the system roots and a stored --skip-chain-validation)")
	fs.StringVar(&f.serverName, "server-name", "", "name sent in SNI and verified in the endpoint's certificate, when it is not the URL's host")
	fs.StringArrayVar(&f.pins, "pin", nil, "accept only the endpoint certificate with this SHA-256 thumbprint (64 hex digits; repeatable, for rollover)")
	fs.BoolVar(&f.skipChainValidation, "skip-chain-validation", false, "accept an endpoint certificate that chains to no trusted CA (a self-signed endpoint; pair it with --pin); replaces the stored --ca")
	fs.BoolVar(&f.noTLS, "no-tls", false, "drop every TLS setting (system roots, the URL's host)")

	fs.BoolVar(&f.allowInsecureAuth, "allow-insecure-auth", false, "let a Basic, API-key or bearer credential go to an http:// endpoint (a trusted network or a test)")
	fs.StringVar(&f.sendClaimsIn, "send-claims-in", "", "where input claims go: body (a JSON object, the default), form, header or query")
	fs.StringArrayVar(&f.inputClaims, "input-claim", nil, "CLAIM[=NAME]: send CLAIM, named NAME on the wire when given (repeatable; replaces the input claims)")
	fs.StringArrayVar(&f.outputClaims, "output-claim", nil, "CLAIM[=NAME]: take CLAIM from a continuing response's field NAME when given (repeatable; replaces the output claims)")
	fs.BoolVar(&f.noInputClaims, "no-input-claims", false, "send no claims")
	fs.BoolVar(&f.noOutputClaims, "no-output-claims", false, "take no claims from the response")
	fs.DurationVar(&f.timeout, "timeout", 0, "time a call may take, up to 2m (default 10s)")
	fs.IntVar(&f.retries, "retries", 0, "times a call is repeated when the connection could not be made, 0 to 5 (never after the request was sent)")

	fs.StringArrayVar(&f.attachResource, "attach-resource", nil, "call the connector before a client-credentials token is minted for this resource application (app id or display name; repeatable; replaces the list)")
	fs.StringArrayVar(&f.attachClient, "attach-client", nil, "call the connector before a client-credentials token is minted for this client application (app id or display name; repeatable; replaces the list)")
	fs.StringVar(&f.failurePolicy, "failure-policy", "", "token issuance when the connector fails: failClosed (the default: no token) or failOpen (a token without its claims)")
	fs.BoolVar(&f.detach, "detach", false, "detach the connector from every application (no token-issuance call)")
}

// connectorFlagsHelp is appended to the Long text of create and update.
const connectorFlagsHelp = `
Each flag replaces the element it names and keeps the rest. --auth chooses
the credential type (a different type starts from nothing); the other
credential flags fill the current type's fields: --username and --password
for basic; --header and --key for apiKeyHeader; --token, or --token-authority
(or --token-endpoint), --client-id, --client-secret (or --client-certificate)
and --scope for bearer; --certificate for clientCertificate.

Store every credential in a vault first ('portcullis secret set NAME --value -',
'portcullis certificate import NAME cert.pfx') and give its reference.
A --ca that does not start with vault:// is read as a PEM file. Here --ca
is the endpoint's CA, not the admin server's: give that one with
$PORTCULLIS_CA (or the ca in DATA/admin.json).

Claims: --send-claims-in body posts {"CLAIM": "value", ...}; form posts
application/x-www-form-urlencoded; header sends each claim as a header (names
must be valid, unreserved header names: give one with CLAIM=X-Name); query
calls GET with ?CLAIM=value.`

// readConnectorFile reads a connector in the admin API's JSON form, or the
// same in YAML, refusing unknown fields.
func readConnectorFile(path string, stdin io.Reader) (directory.Connector, error) {
	return readObjectFile[directory.Connector](path, stdin, directory.CheckConnectorFields, "portcullis connector show NAME -o json")
}

// splitClaim reads CLAIM[=NAME].
func splitClaim(flag, v string) (directory.ConnectorClaim, error) {
	claim, partner, named := strings.Cut(v, "=")
	if claim == "" || named && partner == "" {
		return directory.ConnectorClaim{}, fmt.Errorf("--%s %q: use CLAIM or CLAIM=NAME, e.g. appid=clientId (without =NAME the claim keeps its own name)", flag, v)
	}
	return directory.ConnectorClaim{ClaimType: claim, PartnerClaimType: partner}, nil
}

// apply changes c by the flags set in fs.
func (f *connectorFlags) apply(fs *pflag.FlagSet, c *directory.Connector) error {
	set := fs.Changed
	if set("description") {
		c.Description = f.description
	}
	if set("endpoint") {
		c.Endpoint = f.endpoint
	}
	if err := f.credentialFlags.apply(fs, &c.Authentication); err != nil {
		return err
	}
	if err := f.applyTLS(fs, c); err != nil {
		return err
	}
	if set("allow-insecure-auth") {
		c.AllowInsecureAuth = f.allowInsecureAuth
	}
	if set("send-claims-in") {
		c.SendClaimsIn = f.sendClaimsIn
	}
	for _, l := range []struct {
		flag, none string
		values     []string
		dst        *[]directory.ConnectorClaim
	}{{"input-claim", "no-input-claims", f.inputClaims, &c.InputClaims}, {"output-claim", "no-output-claims", f.outputClaims, &c.OutputClaims}} {
		if set(l.flag) && set(l.none) {
			return fmt.Errorf("--%s and --%s contradict each other; give one", l.flag, l.none)
		}
		if set(l.none) {
			*l.dst = nil
		}
		if set(l.flag) {
			*l.dst = nil
			for _, v := range l.values {
				claim, err := splitClaim(l.flag, v)
				if err != nil {
					return err
				}
				*l.dst = append(*l.dst, claim)
			}
		}
	}
	if set("timeout") {
		if f.timeout < 0 || f.timeout > directory.MaxConnectorTimeout*time.Second {
			return fmt.Errorf("--timeout %s: use a duration from 0 (the default, 10s) to 2m", f.timeout)
		}
		c.TimeoutSeconds = f.timeout.Seconds()
	}
	if set("retries") {
		c.Retries = f.retries
	}
	attach := set("attach-resource") || set("attach-client") || set("failure-policy")
	if set("detach") && attach {
		return errors.New("--detach and --attach-resource, --attach-client or --failure-policy contradict each other; give one")
	}
	if set("detach") && f.detach {
		c.TokenIssuance = nil
	}
	if attach {
		ti := directory.ConnectorTokenIssuance{}
		if c.TokenIssuance != nil {
			ti = *c.TokenIssuance
		}
		if set("attach-resource") {
			ti.ResourceApps = f.attachResource
		}
		if set("attach-client") {
			ti.ClientApps = f.attachClient
		}
		if set("failure-policy") {
			ti.FailurePolicy = f.failurePolicy
		}
		c.TokenIssuance = &ti
	}
	return nil
}

func (f *connectorFlags) applyTLS(fs *pflag.FlagSet, c *directory.Connector) error {
	set := fs.Changed
	tlsSet := set("ca") || set("server-name") || set("pin") || set("skip-chain-validation")
	if set("no-tls") && tlsSet {
		return errors.New("--no-tls and --ca, --server-name, --pin or --skip-chain-validation contradict each other; give one")
	}
	if set("no-tls") && f.noTLS {
		c.TLS = nil
		return nil
	}
	if !tlsSet {
		return nil
	}
	t := outbound.TLSSpec{}
	if c.TLS != nil {
		t = *c.TLS
	}
	if set("ca") {
		t.CACertificates = nil
		for _, v := range f.cas {
			src, err := certificateSource("ca", v)
			if err != nil {
				return err
			}
			t.CACertificates = append(t.CACertificates, src)
		}
	}
	if set("server-name") {
		t.ServerName = f.serverName
	}
	if set("pin") {
		t.PinnedThumbprints = f.pins
	}
	if set("skip-chain-validation") {
		t.SkipChainValidation = f.skipChainValidation
	}
	// The trust in the endpoint is either CAs or no chain validation (the
	// pair is refused): one flag replaces the other stored before it.
	switch {
	case set("skip-chain-validation") && f.skipChainValidation && !set("ca"):
		t.CACertificates = nil
	case set("ca") && len(t.CACertificates) > 0 && !set("skip-chain-validation"):
		t.SkipChainValidation = false
	}
	c.TLS = &t
	if len(t.CACertificates) == 0 && t.ServerName == "" && len(t.PinnedThumbprints) == 0 && !t.SkipChainValidation {
		c.TLS = nil
	}
	return nil
}

func newConnectorCreateCommand(f *adminFlags) *cobra.Command {
	var cf connectorFlags
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create an API connector",
		Long: `Create a connector named NAME (1-63 lower-case letters, digits and '-',
starting with a letter) from the flags, or from --from-file with the flags
replacing what they name. It needs at least --endpoint. Every vault
reference must name an existing object.
` + connectorFlagsHelp,
		Example: `  # Basic: a user name and a password from the vault
  portcullis secret set hr-password --value - < password.txt
  portcullis connector create hr --endpoint https://hr.example.com/enrich \
      --auth basic --username portcullis --password vault://default/secrets/hr-password \
      --input-claim appid=clientId --output-claim department=dept

  # client certificate from the vault, presented in the TLS handshake; the
  # endpoint's certificate must chain to a private CA
  portcullis certificate import hr-client hr-client.pfx --password - < pfx-password.txt
  portcullis connector create hr-mtls --endpoint https://hr.internal:8443/enrich \
      --auth clientCertificate --certificate vault://default/certificates/hr-client \
      --ca hr-ca.pem --output-claim department

  # bearer token obtained by client credentials (cached, refreshed before it expires)
  portcullis connector create risk --endpoint https://risk.example.com/score \
      --auth bearer --token-authority https://login.microsoftonline.com/$TENANT_ID \
      --client-id $CLIENT_ID --client-secret vault://default/secrets/risk-client-secret \
      --scope api://risk/.default --output-claim riskLevel

  # API key header (Azure Functions), claims sent as headers, attached to a
  # resource: its client-credentials tokens carry the connector's claims
  portcullis connector create claims --endpoint https://claims.azurewebsites.net/api/claims \
      --auth apiKeyHeader --header x-functions-key --key vault://default/secrets/functions-key \
      --send-claims-in header --input-claim appid=X-Client-Id \
      --output-claim tier --attach-resource orders --failure-policy failClosed

  # from a file (JSON or YAML, the fields of 'connector show -o json')
  portcullis connector create --from-file hr.yaml`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c directory.Connector
			if cf.fromFile != "" {
				var err error
				if c, err = readConnectorFile(cf.fromFile, cmd.InOrStdin()); err != nil {
					return err
				}
			}
			switch {
			case len(args) == 1 && c.Name != "" && c.Name != args[0]:
				return fmt.Errorf("the name %q differs from the name %q in --from-file %s; give one", args[0], c.Name, cf.fromFile)
			case len(args) == 1:
				c.Name = args[0]
			case c.Name == "":
				return errors.New("give the connector's NAME (or a name in --from-file)")
			}
			if err := cf.apply(cmd.Flags(), &c); err != nil {
				return err
			}
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				created, err := cl.CreateConnector(cmd.Context(), f.tenant, c)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(created)
				}
				p.linef("created connector %s", created.Name)
				return showConnector(p, created)
			})
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

func newConnectorUpdateCommand(f *adminFlags) *cobra.Command {
	var cf connectorFlags
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change an API connector",
		Long: `Change a connector: read it, replace what the given flags name, and write
it back only if nobody changed it in between (else run the command again).
With --from-file the file replaces the whole connector first. References the
connector no longer uses are released in the vault.
` + connectorFlagsHelp,
		Example: `  # point the password at a new secret (the old one can then be deleted)
  portcullis connector update hr --password vault://default/secrets/hr-password-2026

  # move from Basic to a client certificate
  portcullis connector update hr --auth clientCertificate --certificate vault://default/certificates/hr-client

  # trust a self-signed endpoint by its pinned certificate only
  portcullis connector update hr --skip-chain-validation --pin $SHA256_THUMBPRINT

  portcullis connector update hr --timeout 5s --retries 2
  portcullis connector update claims --attach-client billing --failure-policy failOpen
  portcullis connector update claims --detach`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := 0
			cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
				if fl.Changed {
					changed++
				}
			})
			if changed == 0 {
				return fmt.Errorf("nothing to change: give the flags of what to change, or --from-file (see 'portcullis connector update --help')")
			}
			var file *directory.Connector
			if cf.fromFile != "" {
				c, err := readConnectorFile(cf.fromFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				if c.Name != "" && c.Name != args[0] {
					return fmt.Errorf("--from-file %s names the connector %q, not %q: a connector cannot be renamed", cf.fromFile, c.Name, args[0])
				}
				file = &c
			}
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				cur, err := cl.GetConnector(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				c := cur
				if file != nil {
					c = *file
				}
				c.Name = cur.Name
				if err := cf.apply(cmd.Flags(), &c); err != nil {
					return err
				}
				updated, err := cl.UpdateConnector(cmd.Context(), f.tenant, c, cur.Revision)
				var ae *adminclient.APIError
				if errors.As(err, &ae) && ae.Code == "PreconditionFailed" {
					return fmt.Errorf("%s (connector %s changed while this update ran; run the command again)", ae.Message, cur.Name)
				}
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(updated)
				}
				p.linef("updated connector %s (revision %d)", updated.Name, updated.Revision)
				return showConnector(p, updated)
			})
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

func newConnectorShowCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show an API connector",
		Long: `Show a connector: its endpoint, how it authenticates (credentials as their
vault references: a connector holds no secret), how it trusts the endpoint's
certificate, the claims it sends and takes back, and the applications it is
attached to. A connector that skips the validation of the endpoint's
certificate chain says so on a line of its own.`,
		Example: `  portcullis connector show hr
  portcullis connector show hr -o json > hr.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				c, err := cl.GetConnector(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(c)
				}
				return showConnector(p, c)
			})
		},
	}
}

func newConnectorListCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the API connectors of the tenant",
		Long:  "List the connectors of the tenant with their endpoint, authentication type, where claims go and the applications they are attached to.",
		Example: `  portcullis connector list
  portcullis connector list --tenant contoso -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				cs, err := cl.ListConnectors(cmd.Context(), f.tenant)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(cs))
				}
				rows := make([][]string, 0, len(cs))
				for _, c := range cs {
					rows = append(rows, []string{c.Name, c.Endpoint, c.Authentication.Type, c.SendClaimsIn, attachedText(c.TokenIssuance), strconv.FormatInt(c.Revision, 10)})
				}
				return p.table([]string{"NAME", "ENDPOINT", "AUTH", "CLAIMS IN", "TOKEN ISSUANCE", "REVISION"}, rows)
			})
		},
	}
}

func newConnectorDeleteCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API connector",
		Long: `Delete a connector: it is no longer called (a token-issuance connector stops
enriching tokens at once), and the vault objects it referenced may be
deleted again. The objects themselves stay in their vault.`,
		Example: `  portcullis connector delete hr`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				if err := cl.DeleteConnector(cmd.Context(), f.tenant, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("deleted connector %s", args[0])
				}
				return nil
			})
		},
	}
}

func attachedText(ti *directory.ConnectorTokenIssuance) string {
	if ti == nil {
		return "-"
	}
	var parts []string
	if len(ti.ResourceApps) > 0 {
		parts = append(parts, "resources "+strings.Join(ti.ResourceApps, ","))
	}
	if len(ti.ClientApps) > 0 {
		parts = append(parts, "clients "+strings.Join(ti.ClientApps, ","))
	}
	return strings.Join(parts, "; ") + " (" + ti.FailurePolicy + ")"
}

// describeCredential is an outbound credential for people, with its
// references (never a secret: a credential holds none).
func describeCredential(a outbound.CredentialSpec) string {
	switch a.Type {
	case outbound.TypeBasic:
		return fmt.Sprintf("basic: user %s, password %s", a.Username, a.Password)
	case outbound.TypeAPIKeyHeader:
		return fmt.Sprintf("apiKeyHeader: header %s, key %s", a.Header, a.Key)
	case outbound.TypeBearer:
		if cc := a.ClientCredentials; cc != nil {
			from := "authority " + cc.Authority
			if cc.TokenEndpoint != "" {
				from = "token endpoint " + cc.TokenEndpoint
			}
			proof := "secret " + cc.ClientSecret
			if cc.ClientCertificate != "" {
				proof = "certificate " + cc.ClientCertificate
			}
			return fmt.Sprintf("bearer by client credentials: %s, client %s (%s), scope %s", from, cc.ClientID, proof, cc.Scope)
		}
		return "bearer: static token " + a.Token
	case outbound.TypeClientCertificate:
		return "clientCertificate: " + a.Certificate
	}
	return "none"
}

func claimsText(cs []directory.ConnectorClaim) string {
	if len(cs) == 0 {
		return "none"
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ClaimType
		if c.PartnerClaimType != "" {
			out[i] += " as " + c.PartnerClaimType
		}
	}
	return strings.Join(out, ", ")
}

// showConnector prints a connector for people: references as they are, PEM
// certificates counted, not dumped, and a skipped chain validation loud.
func showConnector(p *printer, c directory.Connector) error {
	tls := "system roots"
	if t := c.TLS; t != nil {
		var parts []string
		if len(t.CACertificates) > 0 {
			parts = append(parts, "CAs "+certSources(t.CACertificates))
		}
		if t.ServerName != "" {
			parts = append(parts, "server name "+t.ServerName)
		}
		if len(t.PinnedThumbprints) > 0 {
			parts = append(parts, "pinned to "+strings.Join(t.PinnedThumbprints, ", "))
		}
		if t.SkipChainValidation {
			parts = append(parts, "chain NOT validated")
		}
		if len(parts) > 0 {
			tls = strings.Join(parts, "; ")
		}
	}
	timeout := seconds(c.TimeoutSeconds, directory.DefaultConnectorTimeout)
	if err := p.fields(
		"Name", c.Name,
		"Tenant", c.TenantID,
		"Description", c.Description,
		"Endpoint", c.Endpoint,
		"Authentication", describeCredential(c.Authentication),
		"TLS", tls,
		"Insecure auth", yesNo(c.AllowInsecureAuth),
		"Claims sent in", c.SendClaimsIn,
		"Input claims", claimsText(c.InputClaims),
		"Output claims", claimsText(c.OutputClaims),
		"Timeout", timeout,
		"Retries", strconv.Itoa(c.Retries),
		"Token issuance", attachedText(c.TokenIssuance),
		"Revision", strconv.FormatInt(c.Revision, 10),
		"Created", when(c.CreatedAt),
		"Updated", when(c.UpdatedAt),
	); err != nil {
		return err
	}
	if c.TLS != nil && c.TLS.SkipChainValidation {
		if len(c.TLS.PinnedThumbprints) > 0 {
			p.linef("WARNING: the endpoint's certificate chain is not validated (skipChainValidation); only the pinned thumbprints are checked")
		} else {
			p.linef("WARNING: the endpoint's certificate is not validated at all (skipChainValidation without a pin): anyone on the path can impersonate it; add --pin")
		}
	}
	return nil
}

func newConnectorInvokeCommand(f *adminFlags) *cobra.Command {
	var claims []string
	cmd := &cobra.Command{
		Use:   "invoke NAME [--claim CLAIM=VALUE]...",
		Short: "Call an API connector for real and explain its answer",
		Long: `Call a connector as the runtime would: the server resolves its credential in
the vault, sends the input claims given with --claim (by claim type; claims
the connector does not declare are not sent; a claim given twice is a list),
and reads the answer. It prints the request as sent (credentials redacted),
the response (status, content type, first bytes), the decision and the
output claims:

  continue          200 with a JSON object: the flow goes on, with the output
                    claims found in the answer
  block             200 with "action": "ShowBlockPage": the flow stops and the
                    user sees the connector's userMessage
  validation error  400 with "action": "ValidationError": the flow stops with
                    the connector's userMessage
  error             anything else (another status, a body that is not a JSON
                    object, a timeout, a refused connection): the flow fails;
                    a token-issuance connector with failurePolicy failOpen
                    lets the token be issued without its claims

The exit code is 0 for continue and 1 otherwise. -o json prints the
invocation as the admin API returns it.`,
		Example: `  portcullis connector invoke hr --claim appid=11111111-2222-3333-4444-555555555555 --claim tid=default
  portcullis connector invoke claims --claim roles=Orders.Read --claim roles=Orders.Write -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{}
			for _, c := range claims {
				k, v, ok := strings.Cut(c, "=")
				if !ok || k == "" {
					return fmt.Errorf("--claim %q: use CLAIM=VALUE, e.g. appid=11111111-2222-3333-4444-555555555555", c)
				}
				switch prev := in[k].(type) {
				case nil:
					in[k] = v
				case string:
					in[k] = []any{prev, v}
				case []any:
					in[k] = append(prev, v)
				}
			}
			return f.run(cmd, func(cl *adminclient.Client, p *printer) error {
				inv, err := cl.InvokeConnector(cmd.Context(), f.tenant, args[0], in)
				if err != nil {
					return err
				}
				if p.json {
					if err := p.JSON(inv); err != nil {
						return err
					}
				} else {
					showInvocation(p, inv)
				}
				switch inv.Decision {
				case connector.Continue:
					return nil
				case connector.Block:
					return fmt.Errorf("connector %s blocked: %s", inv.Connector, inv.UserMessage)
				case connector.ValidationError:
					return fmt.Errorf("connector %s refused with a validation error: %s", inv.Connector, inv.UserMessage)
				}
				return fmt.Errorf("connector %s failed: %s", inv.Connector, inv.Error)
			})
		},
	}
	cmd.Flags().StringArrayVar(&claims, "claim", nil, "CLAIM=VALUE: an input claim by its claim type (repeatable; twice the same CLAIM sends a list)")
	return cmd
}

// showInvocation prints an invocation for people.
func showInvocation(p *printer, inv adminclient.Invocation) {
	r := inv.Request
	p.linef("Request:   %s %s", r.Method, r.URL)
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Headers[k] {
			p.linef("  %s: %s", k, v)
		}
	}
	if r.Body != "" {
		p.linef("  body: %s", r.Body)
	}
	if resp := inv.Response; resp != nil {
		ct := resp.ContentType
		if ct == "" {
			ct = "no content type"
		}
		p.linef("Response:  %d %s, %s, %d bytes", resp.Status, http.StatusText(resp.Status), ct, resp.Size)
		if resp.Body != "" {
			more := ""
			if resp.BodyTruncated {
				more = " …"
			}
			p.linef("  body: %s%s", resp.Body, more)
		}
	} else {
		p.linef("Response:  none")
	}
	switch inv.Decision {
	case connector.Continue:
		p.linef("Decision:  continue — the flow goes on with the output claims")
	case connector.Block:
		p.linef("Decision:  block — the flow stops; the user sees: %s", inv.UserMessage)
	case connector.ValidationError:
		p.linef("Decision:  validation error — the flow stops with: %s", inv.UserMessage)
	default:
		p.linef("Decision:  error — %s", inv.Error)
	}
	if len(inv.OutputClaims) > 0 {
		keys := make([]string, 0, len(inv.OutputClaims))
		for k := range inv.OutputClaims {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		p.linef("Output claims:")
		for _, k := range keys {
			b, _ := json.Marshal(inv.OutputClaims[k])
			p.linef("  %s = %s", k, b)
		}
	}
	if len(inv.IgnoredClaims) > 0 {
		p.linef("Ignored (not declared output claims): %s", strings.Join(inv.IgnoredClaims, ", "))
	}
	p.linef("Attempts:  %d, %s", inv.Attempts, inv.Duration.Round(time.Microsecond))
}
