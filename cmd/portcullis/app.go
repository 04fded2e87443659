package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/pki"
)

func newAppCommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "app",
		Short: "Manage applications: roles, secrets, certificates and federated credentials",
		Long: `Manage application registrations of a tenant. An application is both a client
(it authenticates with a client secret, a certificate, or a token of a
trusted external issuer) and possibly a
resource (an API exposing app roles, addressed by its identifier URIs).

APP is the appId (GUID) or the display name when exactly one application of
the tenant has it.
` + adminEnvHelp,
		Example: `  portcullis app create orders-api --identifier-uri api://orders --token-lifetime 30m
  portcullis app list
  portcullis app show orders-api -o json
  portcullis app role add orders-api --value Orders.Read
  portcullis app secret add orders-client --expires 90d
  portcullis app cert add orders-client client.cer
  portcullis app federated add orders-deploy --name github-main \
      --issuer https://token.actions.githubusercontent.com --subject repo:contoso/orders:ref:refs/heads/main`,
	})
	f.register(cmd)
	cmd.AddCommand(
		newAppCreateCommand(&f), newAppListCommand(&f), newAppShowCommand(&f),
		newAppDeleteCommand(&f), newAppUpdateCommand(&f),
		newAppRoleCommand(&f), newAppSecretCommand(&f), newAppCertCommand(&f),
		newAppFederatedCommand(&f),
	)
	return cmd
}

func newAppCreateCommand(f *adminFlags) *cobra.Command {
	var uris []string
	var lifetime string
	var bound bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Register an application",
		Long: `Register an application named NAME. Without --identifier-uri it gets
api://{appId}. Tokens issued for it (as a resource) last --token-lifetime
(5m to 24h; default 1h, set by the server).

With --require-certificate-bound-tokens, tokens for it are certificate-bound
(RFC 8705): only clients that authenticate with a certificate get one, and
it carries cnf["x5t#S256"], the thumbprint of that certificate; a gateway
API with --bearer-certificate-bound then accepts it only over TLS with that
certificate. Clients with a secret are refused (AADSTS7000230).`,
		Example: `  portcullis app create orders-api --identifier-uri api://orders
  portcullis app create orders-client
  portcullis app create reports --token-lifetime 15m -o json
  portcullis app create payments-api --identifier-uri api://payments --require-certificate-bound-tokens`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := adminclient.NewApplication{DisplayName: args[0], IdentifierURIs: uris, RequireCertificateBoundTokens: bound}
			if cmd.Flags().Changed("token-lifetime") {
				secs, err := parseTokenLifetime(lifetime)
				if err != nil {
					return err
				}
				body.AccessTokenLifetimeSeconds = secs
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				a, err := c.CreateApplication(cmd.Context(), f.tenant, body)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(a)
				}
				p.linef("created application %s", a.DisplayName)
				return showApp(p, a)
			})
		},
	}
	cmd.Flags().StringArrayVar(&uris, "identifier-uri", nil, "Application ID URI, e.g. api://orders (repeat for several)")
	cmd.Flags().StringVar(&lifetime, "token-lifetime", "", "lifetime of access tokens issued for this application, 5m to 24h (default 1h)")
	cmd.Flags().BoolVar(&bound, "require-certificate-bound-tokens", false, "issue only certificate-bound tokens (cnf x5t#S256, RFC 8705) for this application, to clients that authenticate with a certificate")
	return cmd
}

func newAppListCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the applications of the tenant",
		Long:  "List the applications of the tenant with their identifier URIs and how many roles, secrets and certificates each has.",
		Example: `  portcullis app list
  portcullis app list --tenant contoso -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				apps, err := c.ListApplications(cmd.Context(), f.tenant)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(apps))
				}
				rows := make([][]string, 0, len(apps))
				for _, a := range apps {
					rows = append(rows, []string{a.AppID, a.DisplayName, strings.Join(a.IdentifierURIs, ","),
						strconv.Itoa(len(a.AppRoles)), strconv.Itoa(len(a.PasswordCredentials)), strconv.Itoa(len(a.KeyCredentials))})
				}
				return p.table([]string{"APP ID", "DISPLAY NAME", "IDENTIFIER URIS", "ROLES", "SECRETS", "CERTIFICATES"}, rows)
			})
		},
	}
}

func newAppShowCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show APP",
		Short: "Show an application with its roles, secrets, certificates and federated credentials",
		Long:  "Show an application: ids, identifier URIs, token lifetime, app roles, client secrets (hint and expiry, never the secret), certificates and federated identity credentials.",
		Example: `  portcullis app show orders-api
  portcullis app show 0c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				a, err := c.GetApplication(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(a)
				}
				return showApp(p, a)
			})
		},
	}
}

// showApp prints an application in table mode.
func showApp(p *printer, a adminclient.Application) error {
	if err := p.fields("App ID", a.AppID, "Object ID", a.ObjectID, "Display name", a.DisplayName,
		"Tenant", a.TenantID, "Identifier URIs", strings.Join(a.IdentifierURIs, ", "),
		"Token lifetime", lifetime(a.AccessTokenLifetimeSeconds), "Bound tokens", boundTokens(a.RequireCertificateBoundTokens),
		"Created", when(a.CreatedAt)); err != nil {
		return err
	}
	if len(a.AppRoles) > 0 {
		p.linef("\nApp roles:")
		if err := roleTable(p, a.AppRoles); err != nil {
			return err
		}
	}
	if len(a.PasswordCredentials) > 0 {
		p.linef("\nClient secrets:")
		if err := secretTable(p, a.PasswordCredentials); err != nil {
			return err
		}
	}
	if len(a.KeyCredentials) > 0 {
		p.linef("\nCertificates:")
		if err := certTable(p, a.KeyCredentials); err != nil {
			return err
		}
	}
	if len(a.FederatedIdentityCredentials) > 0 {
		p.linef("\nFederated identity credentials:")
		if err := federatedTable(p, a.FederatedIdentityCredentials); err != nil {
			return err
		}
	}
	return nil
}

// boundTokens shows RequireCertificateBoundTokens.
func boundTokens(on bool) string {
	if on {
		return "required: tokens for this application are bound to the client's certificate (cnf x5t#S256)"
	}
	return "no"
}

func lifetime(secs int) string {
	if secs <= 0 {
		return ""
	}
	return (time.Duration(secs) * time.Second).String()
}

func newAppDeleteCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete APP",
		Short: "Delete an application and its grants",
		Long: `Delete an application, its credentials, and every grant that names it as
client or resource. The management application cannot be deleted.`,
		Example: `  portcullis app delete orders-client`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.DeleteApplication(cmd.Context(), f.tenant, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("deleted application %s", args[0])
				}
				return nil
			})
		},
	}
}

func newAppUpdateCommand(f *adminFlags) *cobra.Command {
	var displayName, lifetime string
	var uris []string
	var bound bool
	cmd := &cobra.Command{
		Use:   "update APP",
		Short: "Change an application's name, identifier URIs, token lifetime or token binding",
		Long: `Change the display name, the identifier URIs (the given list replaces the
current one), the access token lifetime of an application, or whether its
tokens are certificate-bound (--require-certificate-bound-tokens=true|false;
see 'app create'). Only the flags given are changed.`,
		Example: `  portcullis app update orders-api --display-name orders
  portcullis app update orders-api --identifier-uri api://orders --identifier-uri https://orders.example.com
  portcullis app update orders-api --token-lifetime 2h
  portcullis app update payments-api --require-certificate-bound-tokens
  portcullis app update payments-api --require-certificate-bound-tokens=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u adminclient.ApplicationUpdate
			fl := cmd.Flags()
			if fl.Changed("display-name") {
				if strings.TrimSpace(displayName) == "" {
					return fmt.Errorf("--display-name: must not be empty")
				}
				u.DisplayName = &displayName
			}
			if fl.Changed("identifier-uri") {
				u.IdentifierURIs = uris
			}
			if fl.Changed("token-lifetime") {
				secs, err := parseTokenLifetime(lifetime)
				if err != nil {
					return err
				}
				u.AccessTokenLifetimeSeconds = &secs
			}
			if fl.Changed("require-certificate-bound-tokens") {
				u.RequireCertificateBoundTokens = &bound
			}
			if u.DisplayName == nil && u.IdentifierURIs == nil && u.AccessTokenLifetimeSeconds == nil && u.RequireCertificateBoundTokens == nil {
				return fmt.Errorf("nothing to update: give --display-name, --identifier-uri, --token-lifetime or --require-certificate-bound-tokens")
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				a, err := c.UpdateApplication(cmd.Context(), f.tenant, args[0], u)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(a)
				}
				p.linef("updated application %s", a.DisplayName)
				return showApp(p, a)
			})
		},
	}
	cmd.Flags().StringVar(&displayName, "display-name", "", "new display name")
	cmd.Flags().StringArrayVar(&uris, "identifier-uri", nil, "Application ID URI (repeat for several; replaces the current list)")
	cmd.Flags().StringVar(&lifetime, "token-lifetime", "", "access token lifetime, 5m to 24h")
	cmd.Flags().BoolVar(&bound, "require-certificate-bound-tokens", false, "issue only certificate-bound tokens for this application (=false to stop)")
	return cmd
}

// --- app roles ---

func newAppRoleCommand(f *adminFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "role",
		Short: "Manage the app roles (application permissions) an API exposes",
		Long: `App roles are the application permissions an API (resource application)
exposes. A grant gives a client one role; tokens for RESOURCE/.default carry
the granted role values in the "roles" claim.`,
		Example: `  portcullis app role add orders-api --value Orders.Read --display-name "Read orders"
  portcullis app role list orders-api
  portcullis app role remove orders-api Orders.Read`,
	})
	var value, displayName, description string
	add := &cobra.Command{
		Use:   "add APP --value VALUE",
		Short: "Add an app role",
		Long:  `Add an app role to APP. VALUE is what appears in the "roles" claim (e.g. Orders.Read).`,
		Example: `  portcullis app role add orders-api --value Orders.Read
  portcullis app role add orders-api --value Orders.Write --display-name "Write orders" --description "Create and change orders"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(value) == "" {
				return fmt.Errorf("--value is required: the role value that appears in the roles claim, e.g. Orders.Read")
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				r, err := c.AddAppRole(cmd.Context(), f.tenant, args[0], adminclient.NewAppRole{Value: value, DisplayName: displayName, Description: description})
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(r)
				}
				p.linef("added app role %s to %s", r.Value, args[0])
				return roleTable(p, []adminclient.AppRole{r})
			})
		},
	}
	add.Flags().StringVar(&value, "value", "", "role value as it appears in the roles claim (required)")
	add.Flags().StringVar(&displayName, "display-name", "", "human-readable name")
	add.Flags().StringVar(&description, "description", "", "what the role allows")
	_ = add.MarkFlagRequired("value")

	ls := &cobra.Command{
		Use:     "list APP",
		Short:   "List the app roles of an application",
		Long:    "List the app roles of APP with their ids and values.",
		Example: `  portcullis app role list orders-api`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				rs, err := c.ListAppRoles(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(rs))
				}
				return roleTable(p, rs)
			})
		},
	}
	rm := &cobra.Command{
		Use:   "remove APP ROLE",
		Short: "Remove an app role",
		Long: `Remove the app role ROLE (its id or value) from APP. The server refuses while
a grant uses the role and names the grants to remove first.`,
		Example: `  portcullis app role remove orders-api Orders.Read`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.RemoveAppRole(cmd.Context(), f.tenant, args[0], args[1]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed app role %s from %s", args[1], args[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}

func roleTable(p *printer, rs []adminclient.AppRole) error {
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		rows = append(rows, []string{r.ID, r.Value, r.DisplayName, strconv.FormatBool(r.IsEnabled), r.Description})
	}
	return p.table([]string{"ID", "VALUE", "DISPLAY NAME", "ENABLED", "DESCRIPTION"}, rows)
}

// --- client secrets ---

func newAppSecretCommand(f *adminFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "secret",
		Short: "Manage client secrets",
		Long: `Client secrets are generated by the server, stored only as a hash, and shown
once, when created. Listing shows their id, hint (first characters) and
expiry only.`,
		Example: `  portcullis app secret add orders-client --expires 90d --description ci
  portcullis app secret list orders-client
  portcullis app secret remove orders-client 3f2b…`,
	})
	var expires, description string
	add := &cobra.Command{
		Use:   "add APP",
		Short: "Create a client secret and show it once",
		Long: `Create a client secret for APP and print it. It is shown only this once:
store it right away (e.g. in a vault). --expires accepts days (180d), weeks
(26w), years (1y = 365d) or a Go duration (720h); the default is 180 days and
the server allows at most 2 years. With -o json the secret is in the
"secretText" field.`,
		Example: `  portcullis app secret add orders-client
  portcullis app secret add orders-client --expires 1y --description "ci pipeline"
  SECRET=$(portcullis app secret add orders-client -o json | jq -r .secretText)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := adminclient.NewSecret{Description: description}
			if cmd.Flags().Changed("expires") {
				secs, err := parseExpires(expires)
				if err != nil {
					return err
				}
				body.ExpiresInSeconds = secs
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				s, err := c.AddSecret(cmd.Context(), f.tenant, args[0], body)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(s)
				}
				p.linef("created client secret %s for %s, valid until %s", s.ID, args[0], when(s.EndDateTime))
				p.linef("WARNING: copy the secret now; it will not be shown again.")
				p.linef("")
				p.linef("%s", s.SecretText)
				return nil
			})
		},
	}
	add.Flags().StringVar(&expires, "expires", "180d", "validity: Nd, Nw, Ny or a Go duration such as 720h (server maximum 2y)")
	add.Flags().StringVar(&description, "description", "", "what the secret is for")

	ls := &cobra.Command{
		Use:     "list APP",
		Short:   "List client secrets (id, hint and expiry; never the secret)",
		Long:    "List the client secrets of APP: id, hint (first characters) and expiry. The secrets themselves are not stored and cannot be shown.",
		Example: `  portcullis app secret list orders-client`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				ss, err := c.ListSecrets(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(ss))
				}
				return secretTable(p, ss)
			})
		},
	}
	rm := &cobra.Command{
		Use:     "remove APP ID",
		Short:   "Remove a client secret",
		Long:    "Remove the client secret ID from APP; clients using it can no longer get tokens.",
		Example: `  portcullis app secret remove orders-client 3f2b8c1e-…`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.RemoveSecret(cmd.Context(), f.tenant, args[0], args[1]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed client secret %s from %s", args[1], args[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}

func secretTable(p *printer, ss []adminclient.PasswordCredential) error {
	rows := make([][]string, 0, len(ss))
	for _, s := range ss {
		rows = append(rows, []string{s.ID, s.Hint, when(s.EndDateTime)})
	}
	return p.table([]string{"ID", "HINT", "EXPIRES"}, rows)
}

// --- certificates ---

func newAppCertCommand(f *adminFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "cert",
		Short: "Manage certificates (key credentials)",
		Long: `Certificates let a client authenticate with a signed client assertion
instead of a secret. Only the public certificate is registered; the private
key stays with the client. Create one with 'portcullis cert create'.`,
		Example: `  portcullis app cert add orders-client client.cer
  portcullis app cert list orders-client
  portcullis app cert remove orders-client 3A8F…`,
	})
	var password, description string
	add := &cobra.Command{
		Use:   "add APP FILE",
		Short: "Register a certificate from a .cer, PEM or .pfx file",
		Long: `Register the certificate in FILE on APP. FILE may be DER (.cer), PEM or
PKCS#12 (.pfx, with --password). The CLI reads the file locally and uploads
the public certificate only: a private key in the file never leaves this
machine. Note that --password on the command line is visible to other local
users (ps): prefer --password - (read from standard input), or a .cer or PEM
certificate file.`,
		Example: `  portcullis app cert add orders-client client.cer
  portcullis app cert add orders-client client.pfx --password - --description "2026 rollover" < pfx-password.txt`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, password)
			if err != nil {
				return err
			}
			cert, err := pki.ParseCertificateFile(data, pw)
			if err != nil {
				return pfxOpenError("--password", args[1], pw, err)
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				k, err := c.AddCertificate(cmd.Context(), f.tenant, args[0], adminclient.NewCertificate{Certificate: cert.Raw, Description: description})
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(k)
				}
				p.linef("registered certificate %s on %s", k.Thumbprint, args[0])
				return certTable(p, []adminclient.KeyCredential{k})
			})
		},
	}
	add.Flags().StringVar(&password, "password", "", `password of a .pfx file ("-" reads it from standard input)`)
	add.Flags().StringVar(&description, "description", "", "what the certificate is for")

	ls := &cobra.Command{
		Use:     "list APP",
		Short:   "List registered certificates",
		Long:    "List the certificates of APP: id, SHA-1 thumbprint (hex), x5t#S256, subject and validity.",
		Example: `  portcullis app cert list orders-client`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				ks, err := c.ListCertificates(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(ks))
				}
				return certTable(p, ks)
			})
		},
	}
	rm := &cobra.Command{
		Use:   "remove APP ID|THUMBPRINT",
		Short: "Remove a certificate",
		Long:  "Remove a certificate from APP, named by its credential id or its SHA-1 thumbprint (hex).",
		Example: `  portcullis app cert remove orders-client 3A8F0C…
  portcullis app cert remove orders-client 5d1e2f3a-…`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.RemoveCertificate(cmd.Context(), f.tenant, args[0], args[1]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed certificate %s from %s", args[1], args[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}

func certTable(p *printer, ks []adminclient.KeyCredential) error {
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, []string{k.ID, k.Thumbprint, k.X5TS256, k.Subject, when(k.StartDateTime), when(k.EndDateTime)})
	}
	return p.table([]string{"ID", "THUMBPRINT (SHA-1)", "X5T#S256", "SUBJECT", "NOT BEFORE", "NOT AFTER"}, rows)
}
