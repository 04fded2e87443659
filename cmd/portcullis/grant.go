package main

import (
	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
)

func newGrantCommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "grant",
		Short: "Grant app roles of APIs to client applications (admin consent)",
		Long: `A grant gives a client application one app role of a resource application
(admin consent to an application permission). A client-credentials token the
client gets for RESOURCE/.default carries exactly its granted role values.

APP is the appId (GUID) or the display name when exactly one application of
the tenant has it.
` + adminEnvHelp,
		Example: `  portcullis grant add --client orders-client --resource orders-api --role Orders.Read
  portcullis grant list
  portcullis grant remove 7b1c…`,
	})
	f.register(cmd)

	var client, resource, role string
	add := &cobra.Command{
		Use:   "add --client APP --resource APP --role VALUE",
		Short: "Grant a client an app role of a resource",
		Long:  "Grant the client application --client the app role --role (value or id) of the resource application --resource.",
		Example: `  portcullis grant add --client orders-client --resource orders-api --role Orders.Read
  portcullis grant add --client 0c4d5e6f-… --resource api-gw --role Gateway.Invoke -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				g, err := c.AddGrant(cmd.Context(), f.tenant, adminclient.NewGrant{Client: client, Resource: resource, Role: role})
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(g)
				}
				p.linef("granted %s of %s to %s", g.RoleValue, resource, client)
				return p.fields("ID", g.ID, "Client app ID", g.ClientAppID, "Resource app ID", g.ResourceAppID,
					"Role", g.RoleValue, "Role ID", g.AppRoleID, "Created", when(g.CreatedAt))
			})
		},
	}
	add.Flags().StringVar(&client, "client", "", "client application: appId or unique display name (required)")
	add.Flags().StringVar(&resource, "resource", "", "resource application (the API): appId or unique display name (required)")
	add.Flags().StringVar(&role, "role", "", "app role of the resource: value or id (required)")
	for _, n := range []string{"client", "resource", "role"} {
		_ = add.MarkFlagRequired(n)
	}

	ls := &cobra.Command{
		Use:   "list",
		Short: "List the grants of the tenant",
		Long: `List the grants of the tenant. Clients and resources are shown by display
name when the application list can be read, by appId otherwise; -o json
gives the ids.`,
		Example: `  portcullis grant list
  portcullis grant list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				gs, err := c.ListGrants(cmd.Context(), f.tenant)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(gs))
				}
				names := map[string]string{}
				if apps, err := c.ListApplications(cmd.Context(), f.tenant); err == nil {
					for _, a := range apps {
						names[a.AppID] = a.DisplayName
					}
				}
				name := func(id string) string {
					if n := names[id]; n != "" {
						return n
					}
					return id
				}
				rows := make([][]string, 0, len(gs))
				for _, g := range gs {
					rows = append(rows, []string{g.ID, name(g.ClientAppID), name(g.ResourceAppID), g.RoleValue, when(g.CreatedAt)})
				}
				return p.table([]string{"ID", "CLIENT", "RESOURCE", "ROLE", "CREATED"}, rows)
			})
		},
	}
	rm := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a grant",
		Long: `Remove the grant ID. New tokens of the client no longer carry the role. The
last grant of Portcullis.Admin cannot be removed.`,
		Example: `  portcullis grant remove 7b1c2d3e-…`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.RemoveGrant(cmd.Context(), f.tenant, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed grant %s", args[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}
