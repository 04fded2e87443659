package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/vaultclient"
)

// maxAuditLimit is the server's largest audit page.
const maxAuditLimit = 1000

func newVaultCommand() *cobra.Command {
	var f vaultFlags
	cmd := group(&cobra.Command{
		Use:   "vault",
		Short: "Manage vaults, their role assignments and audit log",
		Long: `Manage vaults: containers of secrets, certificates and keys, each with its own
soft-delete retention (7-90 days) and purge protection, and its role
assignments (who may do what). A "default" vault always exists.

The objects themselves are managed with 'portcullis secret', 'portcullis
certificate' and 'portcullis key', or with the Azure Key Vault SDKs at the
vault URL that 'vault show' prints. These commands use the admin API
(/admin/v1/vaults) and need an admin credential.
` + vaultEnvHelp,
		Example: `  portcullis vault list
  portcullis vault create payments --retention-days 30 --purge-protection
  portcullis vault role assign --app orders-api --role "Key Vault Secrets User" --vault payments
  portcullis vault audit --vault payments --limit 20`,
	})
	f.register(cmd)
	cmd.AddCommand(newVaultListCommand(&f), newVaultCreateCommand(&f), newVaultShowCommand(&f),
		newVaultUpdateCommand(&f), newVaultRoleCommand(&f), newVaultAuditCommand(&f), newVaultRekeyCommand(&f))
	return cmd
}

// printVault prints the vault an admin call answered (or its error): as
// JSON, or as a "VERB vault NAME" line (none when verb is "") and its settings.
func printVault(p *printer, v vaultclient.Vault, err error, verb string) error {
	if err != nil {
		return err
	}
	if p.json {
		return p.JSON(v)
	}
	if verb != "" {
		p.linef("%s vault %s", verb, v.Name)
	}
	return p.fields("Name", v.Name, "Vault URL", v.VaultURI, "Soft-delete retention", fmt.Sprintf("%d days", v.SoftDeleteRetentionDays),
		"Purge protection", yesNo(v.PurgeProtection), "Recovery level", v.RecoveryLevel, "Created", when(v.CreatedAt))
}

func newVaultListCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the vaults",
		Long:  "List every vault with its soft-delete retention, purge protection and Key Vault URL.",
		Example: `  portcullis vault list
  portcullis vault list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				vs, err := c.ListVaults(cmd.Context())
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(vs))
				}
				rows := make([][]string, 0, len(vs))
				for _, v := range vs {
					rows = append(rows, []string{v.Name, strconv.Itoa(v.SoftDeleteRetentionDays) + "d", yesNo(v.PurgeProtection), v.VaultURI, when(v.CreatedAt)})
				}
				return p.table([]string{"NAME", "RETENTION", "PURGE PROTECTION", "URL", "CREATED"}, rows)
			})
		},
	}
}

func newVaultCreateCommand(f *vaultFlags) *cobra.Command {
	var retention int
	var purgeProtection bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a vault",
		Long: `Create a vault named NAME (3-24 letters, digits and dashes, starting with a
letter). Deleted objects stay recoverable for --retention-days (7-90,
default 90). With --purge-protection they cannot be purged before that
time; purge protection cannot be turned off later.

The application whose credential the command uses becomes Key Vault
Administrator of the new vault, so it can use the vault at once.`,
		Example: `  portcullis vault create payments
  portcullis vault create audit-logs --retention-days 30 --purge-protection -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("retention-days") && (retention < 7 || retention > 90) {
				return fmt.Errorf("--retention-days %d: must be between 7 and 90", retention)
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				v, err := c.CreateVault(cmd.Context(), vaultclient.NewVault{Name: args[0], SoftDeleteRetentionDays: retention, PurgeProtection: purgeProtection})
				return printVault(p, v, err, "created")
			})
		},
	}
	cmd.Flags().IntVar(&retention, "retention-days", 0, "days a deleted object stays recoverable, 7-90 (default 90)")
	cmd.Flags().BoolVar(&purgeProtection, "purge-protection", false, "refuse purges until the retention has passed (cannot be turned off later)")
	return cmd
}

func newVaultShowCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show [NAME]",
		Short: "Show a vault's settings and its Key Vault URL",
		Long: `Show a vault (default: --vault): its Key Vault URL for SDK clients,
soft-delete retention, purge protection and recovery level.`,
		Example: `  portcullis vault show
  portcullis vault show payments -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := f.vault
			if len(args) == 1 {
				name = args[0]
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				v, err := c.GetVault(cmd.Context(), name)
				return printVault(p, v, err, "")
			})
		},
	}
}

func newVaultUpdateCommand(f *vaultFlags) *cobra.Command {
	var retention int
	var purgeProtection bool
	cmd := &cobra.Command{
		Use:   "update NAME [--retention-days N] [--purge-protection]",
		Short: "Change a vault's retention or turn purge protection on",
		Long: `Change the soft-delete retention of vault NAME (7-90 days; applies to objects
deleted from now on) or turn its purge protection on. Purge protection
cannot be turned off.`,
		Example: `  portcullis vault update payments --retention-days 60
  portcullis vault update payments --purge-protection`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u vaultclient.VaultUpdate
			if cmd.Flags().Changed("retention-days") {
				if retention < 7 || retention > 90 {
					return fmt.Errorf("--retention-days %d: must be between 7 and 90", retention)
				}
				u.SoftDeleteRetentionDays = &retention
			}
			if cmd.Flags().Changed("purge-protection") {
				if !purgeProtection {
					return fmt.Errorf("--purge-protection=false: purge protection cannot be turned off")
				}
				u.PurgeProtection = &purgeProtection
			}
			if u.SoftDeleteRetentionDays == nil && u.PurgeProtection == nil {
				return fmt.Errorf("nothing to change: give --retention-days N or --purge-protection")
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				v, err := c.UpdateVault(cmd.Context(), args[0], u)
				return printVault(p, v, err, "updated")
			})
		},
	}
	cmd.Flags().IntVar(&retention, "retention-days", 0, "days a deleted object stays recoverable, 7-90")
	cmd.Flags().BoolVar(&purgeProtection, "purge-protection", false, "turn purge protection on (cannot be turned off)")
	return cmd
}

// roleName accepts a built-in role name with or without its "Key Vault "
// prefix.
func roleName(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !strings.HasPrefix(strings.ToLower(s), "key vault ") {
		return "Key Vault " + s
	}
	return s
}

// vaultRoleHelp lists the built-in roles.
const vaultRoleHelp = `Built-in roles (the "Key Vault " prefix may be omitted):
  Key Vault Administrator           everything, including role assignments
  Key Vault Secrets Officer         every action on secrets
  Key Vault Secrets User            read secret values
  Key Vault Certificates Officer    every action on certificates (not their secret/key)
  Key Vault Certificate User        read certificates with their secret and key
  Key Vault Crypto Officer          every action on keys
  Key Vault Crypto User             read keys, sign/verify, encrypt/decrypt, wrap/unwrap
  Key Vault Crypto Service Encryption User   read keys, wrap/unwrap
  Key Vault Reader                  read metadata, never values`

func newVaultRoleCommand(f *vaultFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "role",
		Short: "Give applications Key Vault roles on a vault or one object",
		Long: `Role assignments say which application may do what in a vault (--vault,
default "default"): a built-in Key Vault role, on the whole vault or on one
object (--object secrets/NAME, certificates/NAME or keys/NAME; a
certificate's assignment also covers its secret and key). An application
without a suitable role gets 403 naming the role it needs.

` + vaultRoleHelp,
		Example: `  portcullis vault role assign --app orders-api --role "Key Vault Secrets User"
  portcullis vault role assign --app gateway --role "Certificate User" --object certificates/gw-client
  portcullis vault role list --vault payments
  portcullis vault role remove 3f2a…`,
	})

	var app, role, object, tenant string
	assign := &cobra.Command{
		Use:   "assign --app APP --role ROLE [--object TYPE/NAME]",
		Short: "Give an application a role on the vault or one object",
		Long: `Give the application --app (appId or unique display name in --tenant,
default "default") the built-in role --role on the vault, or on the one
object --object (secrets/NAME, certificates/NAME, keys/NAME).

` + vaultRoleHelp,
		Example: `  portcullis vault role assign --app orders-api --role "Key Vault Secrets User"
  portcullis vault role assign --app deployer --role "Secrets Officer" --vault payments
  portcullis vault role assign --app gateway --role "Key Vault Certificate User" --object certificates/gw-client -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if object != "" {
				typ, name, ok := strings.Cut(strings.Trim(object, "/"), "/")
				if !ok || name == "" || (typ != "secrets" && typ != "certificates" && typ != "keys") {
					return fmt.Errorf("--object %q: use secrets/NAME, certificates/NAME or keys/NAME", object)
				}
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ra, err := c.AssignRole(cmd.Context(), f.vault, vaultclient.NewRoleAssignment{Principal: app, Role: roleName(role), Scope: object, Tenant: tenant})
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(ra)
				}
				p.linef("assigned %s to %s on %s", ra.Role, first(ra.PrincipalName, ra.PrincipalID), scopeText(ra))
				return p.fields("ID", ra.ID, "Principal", ra.PrincipalID, "Role", ra.Role, "Vault", ra.Vault, "Scope", first(ra.Scope, "(whole vault)"), "Created", when(ra.CreatedAt))
			})
		},
	}
	assign.Flags().StringVar(&app, "app", "", "application: appId or unique display name (required)")
	assign.Flags().StringVar(&role, "role", "", `built-in role, e.g. "Key Vault Secrets User" (required)`)
	assign.Flags().StringVar(&object, "object", "", "limit the role to one object: secrets/NAME, certificates/NAME or keys/NAME")
	assign.Flags().StringVar(&tenant, "tenant", "default", "tenant of the application: id or name")
	_ = assign.MarkFlagRequired("app")
	_ = assign.MarkFlagRequired("role")

	ls := &cobra.Command{
		Use:   "list",
		Short: "List the role assignments of the vault",
		Long:  "List the role assignments of the vault (--vault): id, application, role and scope.",
		Example: `  portcullis vault role list
  portcullis vault role list --vault payments -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				as, err := c.ListRoleAssignments(cmd.Context(), f.vault)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(as))
				}
				rows := make([][]string, 0, len(as))
				for _, a := range as {
					rows = append(rows, []string{a.ID, first(a.PrincipalName, a.PrincipalID), a.Role, first(a.Scope, "(vault)"), when(a.CreatedAt)})
				}
				return p.table([]string{"ID", "APPLICATION", "ROLE", "SCOPE", "CREATED"}, rows)
			})
		},
	}
	rm := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a role assignment",
		Long:    "Remove the role assignment ID (see 'vault role list') from the vault (--vault).",
		Example: `  portcullis vault role remove 3f2a9c1e-… --vault payments`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				if err := c.RemoveRoleAssignment(cmd.Context(), f.vault, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed role assignment %s from vault %s", args[0], f.vault)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(assign, ls, rm)
	return cmd
}

func scopeText(ra vaultclient.RoleAssignment) string {
	if ra.Scope == "" {
		return "vault " + ra.Vault
	}
	return ra.Scope + " in vault " + ra.Vault
}

func newVaultAuditCommand(f *vaultFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--limit N]",
		Short: "Show the vault's audit log, newest first",
		Long: `Show the newest --limit (1-1000, default 100) records of the vault's audit
log: every access with time, caller (appId), operation, object, version,
outcome (success, denied, failed) and request id. Values are never
recorded.`,
		Example: `  portcullis vault audit
  portcullis vault audit --vault payments --limit 20 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > maxAuditLimit {
				return fmt.Errorf("--limit %d: must be between 1 and %d", limit, maxAuditLimit)
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				recs, err := c.Audit(cmd.Context(), f.vault, limit)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(recs))
				}
				rows := make([][]string, 0, len(recs))
				for _, r := range recs {
					obj := r.Name
					if r.Type != "" {
						obj = r.Type + "/" + r.Name
					}
					outcome := r.Outcome
					if r.Code != "" {
						outcome += " (" + r.Code + ")"
					}
					rows = append(rows, []string{when(r.Time), r.AppID, r.Operation, obj, r.Version, outcome, r.RequestID, clipText(r.Reason, 100)})
				}
				return p.table([]string{"TIME", "CALLER", "OPERATION", "OBJECT", "VERSION", "OUTCOME", "REQUEST ID", "REASON"}, rows)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "number of records, 1-1000")
	return cmd
}

// clipText shortens s to n bytes (on a rune boundary) for a table cell.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
