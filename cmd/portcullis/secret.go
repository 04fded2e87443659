package main

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/vaultclient"
)

func newSecretCommand() *cobra.Command {
	var f vaultFlags
	cmd := group(&cobra.Command{
		Use:   "secret",
		Short: "Store, read, version and delete vault secrets",
		Long: `Manage the secrets of a vault (--vault, default "default") through its Azure
Key Vault-compatible API. Every 'secret set' creates a new immutable
version; reading without --version returns the newest one. Deleted secrets
stay recoverable for the vault's retention period ('secret recover') unless
purged ('secret purge', refused while the vault's purge protection holds).

Values are at most 25 KiB of UTF-8 text. Consumers inside Portcullis refer
to a secret as vault://VAULT/secrets/NAME (the newest enabled, started, not
expired version) or vault://VAULT/secrets/NAME/VERSION.

With -o json the output is exactly Key Vault's JSON (id, value,
contentType, attributes, tags, …).
` + vaultEnvHelp,
		Example: `  portcullis secret set db-password --value -          # reads the value from standard input
  portcullis secret show db-password
  portcullis secret versions db-password
  portcullis secret delete db-password && portcullis secret recover db-password`,
	})
	f.register(cmd)
	cmd.AddCommand(newSecretSetCommand(&f), newSecretShowCommand(&f), newSecretListCommand(&f), newSecretVersionsCommand(&f),
		newSecretDeleteCommand(&f), newSecretRecoverCommand(&f), newSecretPurgeCommand(&f),
		newBackupCommand(&f, "secret", "its content type and tags", "Key Vault Secrets\nOfficer or Administrator"), newRestoreCommand(&f, "secret"))
	return cmd
}

// showSecret prints one secret version, value included.
func showSecret(p *printer, s vaultclient.Secret, withValue bool) error {
	name, version := objectName(s.ID)
	kv := []string{"Name", name, "Version", version}
	if withValue {
		kv = append(kv, "Value", s.Value)
	}
	kv = append(kv, "Content type", s.ContentType, "Enabled", enabledText(s.Attributes))
	if s.Attributes != nil {
		kv = append(kv, "Not before", unixWhen(s.Attributes.NotBefore), "Expires", unixWhen(s.Attributes.Expires),
			"Created", unixWhen(s.Attributes.Created), "Updated", unixWhen(s.Attributes.Updated))
	}
	kv = append(kv, "Tags", tagsText(s.Tags))
	if s.Managed {
		kv = append(kv, "Managed", "yes (the secret of certificate "+name+"; change it with 'portcullis certificate')")
	}
	kv = append(kv, "ID", s.ID)
	return p.fields(kv...)
}

func newSecretSetCommand(f *vaultFlags) *cobra.Command {
	var value, file, contentType, expires, notBefore string
	var tags []string
	cmd := &cobra.Command{
		Use:   "set NAME (--value V | --value - | --file F)",
		Short: "Store a new version of a secret",
		Long: `Store a new version of secret NAME (1-127 letters, digits and dashes),
creating the secret if needed. The value comes from exactly one of:

  --value V   the text V. Visible to other local users (ps) and in shell
              history: prefer the two forms below for real secrets.
  --value -   standard input, without one trailing newline
  --file F    the file's content exactly ("-" for standard input as is)

--expires takes a validity from now (90d, 26w, 1y, 720h) or a time
(2030-01-31T12:00:00Z or 2030-01-31); --not-before a time. Consumers that
follow the newest version skip versions not yet started or expired. The
new version is printed without its value (with -o json it is Key Vault's
SecretBundle, which holds the value).`,
		Example: `  printf %s "$DB_PASSWORD" | portcullis secret set db-password --value -
  portcullis secret set tls-bundle --file bundle.pem --content-type application/x-pem-file
  portcullis secret set api-key --value - --expires 90d --tag owner=payments --tag env=prod < key.txt
  portcullis secret set db-password --vault payments --value - -o json < pw.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tagMap, err := parseTags(tags)
			if err != nil {
				return err
			}
			attrs, err := dateAttributes(cmd, notBefore, expires, time.Now())
			if err != nil {
				return err
			}
			v, err := readSecretValue(cmd, value, file)
			if err != nil {
				return err
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				s, err := c.SetSecret(cmd.Context(), f.vault, args[0], vaultclient.SecretSetParameters{Value: v, ContentType: contentType, Attributes: attrs, Tags: tagMap})
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(s.Raw)
				}
				_, version := objectName(s.ID)
				p.linef("stored secret %s version %s", args[0], version)
				return showSecret(p, s, false)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&value, "value", "", `the value, or "-" to read it from standard input`)
	fl.StringVar(&file, "file", "", "read the value from this file (exactly its bytes)")
	fl.StringVar(&contentType, "content-type", "", "content type of the value, e.g. text/plain or application/x-pem-file")
	fl.StringArrayVar(&tags, "tag", nil, "tag NAME=VALUE (repeat for several)")
	fl.StringVar(&expires, "expires", "", "expiry: a validity from now (90d, 26w, 1y, 720h) or a time (2030-01-31T12:00:00Z)")
	fl.StringVar(&notBefore, "not-before", "", "activation time (2030-01-31T12:00:00Z or 2030-01-31)")
	return cmd
}

func newSecretShowCommand(f *vaultFlags) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "show NAME [--version ID]",
		Short: "Show a secret with its value",
		Long: `Show secret NAME, its value included — that is what this command is for;
use 'secret versions' or 'secret list' to see metadata only. Without
--version it is the newest version (Key Vault's rule; a disabled newest
version is refused). With -o json it is Key Vault's SecretBundle, so
'-o json | jq -r .value' gives the value alone.`,
		Example: `  portcullis secret show db-password
  portcullis secret show db-password --version 3f1c0b7e9a2d4c5f8e6a1b2c3d4e5f60
  portcullis secret show db-password -o json | jq -r .value`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				s, err := c.GetSecret(cmd.Context(), f.vault, args[0], version)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(s.Raw)
				}
				return showSecret(p, s, true)
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "version id (default: the newest)")
	return cmd
}

func newSecretListCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the secrets of the vault (no values)",
		Long: `List the secrets of the vault with their newest version's attributes, never
their values. Secrets that hold a certificate with its key are listed too,
marked managed.`,
		Example: `  portcullis secret list
  portcullis secret list --vault payments -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ss, err := c.ListSecrets(cmd.Context(), f.vault)
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, ss, func(s vaultclient.Secret) json.RawMessage { return s.Raw })
				}
				rows := make([][]string, 0, len(ss))
				for _, s := range ss {
					name, _ := objectName(s.ID)
					var exp, upd *int64
					if s.Attributes != nil {
						exp, upd = s.Attributes.Expires, s.Attributes.Updated
					}
					rows = append(rows, []string{name, enabledText(s.Attributes), s.ContentType, unixWhen(exp), unixWhen(upd), yesNo(s.Managed)})
				}
				return p.table([]string{"NAME", "ENABLED", "CONTENT TYPE", "EXPIRES", "UPDATED", "MANAGED"}, rows)
			})
		},
	}
}

func newSecretVersionsCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a secret (no values)",
		Long: `List every version of secret NAME, oldest first, with its attributes (never
its value). Show one with 'secret show NAME --version ID'.`,
		Example: `  portcullis secret versions db-password
  portcullis secret versions db-password -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ss, err := c.ListSecretVersions(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, ss, func(s vaultclient.Secret) json.RawMessage { return s.Raw })
				}
				sort.SliceStable(ss, func(i, j int) bool { return created(ss[i].Attributes) < created(ss[j].Attributes) })
				rows := make([][]string, 0, len(ss))
				for _, s := range ss {
					_, version := objectName(s.ID)
					a := s.Attributes
					if a == nil {
						a = &vaultclient.Attributes{}
					}
					rows = append(rows, []string{version, enabledText(a), unixWhen(a.NotBefore), unixWhen(a.Expires), unixWhen(a.Created), s.ContentType})
				}
				return p.table([]string{"VERSION", "ENABLED", "NOT BEFORE", "EXPIRES", "CREATED", "CONTENT TYPE"}, rows)
			})
		},
	}
}

// created returns the creation time of attributes for sorting.
func created(a *vaultclient.Attributes) int64 {
	if a == nil || a.Created == nil {
		return 0
	}
	return *a.Created
}

func newSecretDeleteCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a secret (recoverable until purged)",
		Long: `Soft-delete secret NAME with all its versions. It stays recoverable for the
vault's retention period ('secret recover NAME'); meanwhile its name cannot
be reused. 'secret purge NAME' removes it for good. A secret that other
Portcullis configuration references cannot be deleted.`,
		Example: `  portcullis secret delete db-password
  portcullis secret delete db-password -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				s, err := c.DeleteSecret(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(s.Raw)
				}
				deletedHint(p, "secret", args[0], s.Deletion)
				return nil
			})
		},
	}
}

func newSecretRecoverCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "recover NAME",
		Short: "Recover a deleted secret",
		Long:  "Recover the deleted secret NAME with all its versions, as it was when deleted.",
		Example: `  portcullis secret recover db-password
  portcullis secret recover db-password --vault payments -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				s, err := c.RecoverSecret(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(s.Raw)
				}
				p.linef("recovered secret %s", args[0])
				return showSecret(p, s, false)
			})
		},
	}
}

func newSecretPurgeCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Permanently remove a deleted secret",
		Long: `Permanently remove the deleted secret NAME and all its versions; this
cannot be undone. Refused while the vault's purge protection holds (until
the scheduled purge date). The secret must be deleted first.`,
		Example: `  portcullis secret delete old-token && portcullis secret purge old-token`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				if err := c.PurgeSecret(cmd.Context(), f.vault, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("purged secret %s", args[0])
				}
				return nil
			})
		},
	}
}
