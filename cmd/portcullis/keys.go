package main

import (
	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
)

func newKeysCommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "keys",
		Short: "List and rotate a tenant's token signing keys",
		Long: `Each tenant signs its tokens with its own RSA key. Keys rotate automatically:
a new key is published in the JWKS ("next") before it starts signing
("active"), and the old one stays published for a while ("retired") so that
APIs can still validate tokens it signed.
` + adminEnvHelp,
		Example: `  portcullis keys list
  portcullis keys rotate --tenant contoso`,
	})
	f.register(cmd)

	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List signing keys with their status",
		Long:  "List the signing keys of the tenant: kid, status (next, active or retired), when each was created, activates, and stays published until.",
		Example: `  portcullis keys list
  portcullis keys list --tenant contoso -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				ks, err := c.ListSigningKeys(cmd.Context(), f.tenant)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(ks))
				}
				rows := make([][]string, 0, len(ks))
				for _, k := range ks {
					rows = append(rows, []string{k.Kid, k.Status, when(k.CreatedAt), when(k.ActivateAt), when(k.PublishedUntil)})
				}
				return p.table([]string{"KID", "STATUS", "CREATED", "ACTIVATES", "PUBLISHED UNTIL"}, rows)
			})
		},
	})

	var immediate bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key",
		Long: `Create a new signing key for the tenant. By default it is published first
and starts signing after the pre-publication period, so that APIs caching the
JWKS know it in time. --immediate makes it sign at once (for a suspected key
compromise; APIs with a cached JWKS reject new tokens until they refresh it).`,
		Example: `  portcullis keys rotate
  portcullis keys rotate --immediate --tenant contoso`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				r, err := c.RotateSigningKeys(cmd.Context(), f.tenant, immediate)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(r)
				}
				if immediate {
					p.linef("new signing key %s signs from now on", r.Kid)
				} else {
					p.linef("new signing key %s is published and will start signing after the pre-publication period", r.Kid)
				}
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&immediate, "immediate", false, "sign with the new key at once instead of after pre-publication")
	cmd.AddCommand(rotate)
	return cmd
}
