package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
)

func newTenantCommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "tenant",
		Short: "List, create, show and delete tenants",
		Long: `A tenant owns applications, grants and its own token signing keys; its
issuer is ADDR/{tenant id}/v2.0. The "default" tenant exists from the first
start. Tenants are named by id (GUID) or name, in any case.
` + adminEnvHelp,
		Example: `  portcullis tenant list
  portcullis tenant create contoso
  portcullis tenant show contoso -o json
  portcullis tenant delete contoso --yes`,
	})
	f.register(cmd)

	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List all tenants",
		Long:  "List all tenants with their id, name and creation time.",
		Example: `  portcullis tenant list
  portcullis tenant list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				ts, err := c.ListTenants(cmd.Context())
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(ts))
				}
				rows := make([][]string, 0, len(ts))
				for _, t := range ts {
					rows = append(rows, []string{t.ID, t.Name, when(t.CreatedAt)})
				}
				return p.table([]string{"ID", "NAME", "CREATED"}, rows)
			})
		},
	})

	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant (with its signing key)",
		Long: `Create a tenant named NAME. Portcullis gives it a GUID id and a first token
signing key at once, so that its token endpoint works immediately.`,
		Example: `  portcullis tenant create contoso`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				t, err := c.CreateTenant(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(t)
				}
				p.linef("created tenant %s", t.Name)
				return p.fields("ID", t.ID, "Name", t.Name, "Created", when(t.CreatedAt))
			})
		},
	})

	cmd.AddCommand(&cobra.Command{
		Use:   "show [TENANT]",
		Short: "Show a tenant with its issuer and endpoints",
		Long: `Show a tenant (by id or name; default: the --tenant flag) with the issuer,
token endpoint and JWKS URI that clients and APIs configure.`,
		Example: `  portcullis tenant show
  portcullis tenant show contoso -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := f.tenant
			if len(args) == 1 {
				name = args[0]
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				t, err := c.GetTenant(cmd.Context(), name)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(t)
				}
				return p.fields("ID", t.ID, "Name", t.Name, "Created", when(t.CreatedAt),
					"Issuer", t.Issuer, "Token endpoint", t.TokenEndpoint, "JWKS URI", t.JwksURI)
			})
		},
	})
	cmd.AddCommand(newTenantDeleteCommand(&f))
	return cmd
}

func newTenantDeleteCommand(f *adminFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete TENANT",
		Short: "Delete a tenant and everything it holds",
		Long: `Delete a tenant (by id or name) with everything it holds: its applications
with their secrets, certificates, app roles and grants, their vault role
assignments, its gateway APIs, and its token signing keys. This cannot be
undone. Its
applications get no more tokens, and its token endpoint, discovery document
and JWKS answer as for a tenant that never existed (AADSTS90002). The
tenant holding the management API (normally "default") cannot be deleted.

Without --yes nothing is deleted: the command says what would be removed
and exits with an error.`,
		Example: `  portcullis tenant delete contoso          # shows what would be removed
  portcullis tenant delete contoso --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				ctx := cmd.Context()
				t, err := c.GetTenant(ctx, args[0])
				if err != nil {
					return err
				}
				apps, err := c.ListApplications(ctx, t.ID)
				if err != nil {
					return err
				}
				apis, err := c.ListAPIs(ctx, t.ID)
				if err != nil {
					return err
				}
				held := fmt.Sprintf("%s with their credentials, grants and vault role assignments, %s, and its signing keys", count(len(apps), "application"), count(len(apis), "gateway API"))
				if !yes {
					return fmt.Errorf("not deleted: tenant %s (id %s) holds %s, all of which would be removed for good; add --yes to delete it", t.Name, t.ID, held)
				}
				if err := c.DeleteTenant(ctx, t.ID); err != nil {
					return err
				}
				if !p.json {
					p.linef("deleted tenant %s (id %s): %s", t.Name, t.ID, held)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "delete the tenant and everything it holds (without it, only say what would be removed)")
	return cmd
}
