package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/vaultclient"
)

// maxBackupFileBytes bounds what 'restore' reads: a backup holds at most
// 1 MiB (the server refuses larger ones), with room to spare.
const maxBackupFileBytes = 2 << 20

// backupHelp is shared by the backup commands of secrets, keys and
// certificates.
const backupHelp = `The file holds Portcullis's opaque backup blob (Key Vault's backup value,
base64url-decoded): every version of the %[1]s with its attributes and
%[2]s.
It is encrypted and authenticated under the server's root key.

It restores ('portcullis %[1]s restore FILE') only as a %[1]s, into any
vault of a Portcullis that holds the same root key: this instance, another
node of its cluster, or another instance given the same root key file.

The file is written with mode 0600; --force overwrites an existing one.
Backing up needs the %[1]ss/backup permission: %[3]s.`

func newBackupCommand(f *vaultFlags, kind, extra, roles string) *cobra.Command {
	var out string
	var force bool
	collection := kind + "s"
	cmd := &cobra.Command{
		Use:   "backup NAME --out FILE",
		Short: fmt.Sprintf("Back up a %s with every version to a file", kind),
		Long: fmt.Sprintf("Back up %s NAME, all its versions, to FILE.\n\n", kind) +
			fmt.Sprintf(backupHelp, kind, extra, roles),
		Example: fmt.Sprintf(`  portcullis %[1]s backup orders --out orders.%[1]s.backup
  portcullis %[1]s backup orders --vault payments --out /backups/orders.backup --force`, kind),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(out) == "" {
				return errors.New("--out: give the file to write")
			}
			if !force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s already exists: choose another --out or add --force to overwrite", out)
				}
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				blob, err := c.Backup(cmd.Context(), f.vault, collection, args[0])
				if err != nil {
					return err
				}
				if err := writeNewFile(out, blob, 0o600, force); err != nil {
					return err
				}
				if p.json {
					return p.JSON(map[string]any{"file": out, "vault": f.vault, "name": args[0], "type": collection, "bytes": len(blob)})
				}
				p.linef("wrote %s: backup of %s %s (%d bytes, mode 0600)", out, kind, args[0], len(blob))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "file to write (required)")
	fl.BoolVar(&force, "force", false, "overwrite FILE if it exists")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newRestoreCommand(f *vaultFlags, kind string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: fmt.Sprintf("Restore a %s from a backup file", kind),
		Long: fmt.Sprintf(`Restore the %[1]s held by FILE (written by 'portcullis %[1]s backup', or
the base64url-decoded value of Key Vault's backup operation against
Portcullis; "-" reads standard input) into the vault, with every version,
its id, order and attributes. The name is taken from the backup; it must
be free: a live %[1]s of that name, or a deleted one not yet purged, makes
the restore fail with 409 Conflict (delete and purge it first, or restore
into another vault with --vault). Restoring needs the %[1]ss/restore
permission on the whole vault.`, kind),
		Example: fmt.Sprintf(`  portcullis %[1]s restore orders.%[1]s.backup
  portcullis %[1]s restore orders.%[1]s.backup --vault staging -o json`, kind),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			blob, err := readBackupFile(cmd, args[0])
			if err != nil {
				return err
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				var raw json.RawMessage
				var id string
				switch kind {
				case "secret":
					s, err := c.RestoreSecret(cmd.Context(), f.vault, blob)
					if err != nil {
						return err
					}
					raw, id = s.Raw, s.ID
				case "key":
					k, err := c.RestoreKey(cmd.Context(), f.vault, blob)
					if err != nil {
						return err
					}
					raw, id = k.Raw, k.ID()
				case "certificate":
					ct, err := c.RestoreCertificate(cmd.Context(), f.vault, blob)
					if err != nil {
						return err
					}
					raw, id = ct.Raw, ct.ID
				}
				if p.json {
					return p.rawJSON(raw)
				}
				name, version := objectName(id)
				p.linef("restored %s %s in vault %s (newest version %s)", kind, name, f.vault, version)
				return nil
			})
		},
	}
	return cmd
}

// readBackupFile reads a backup file ("-" for standard input), refusing
// an empty or oversized one before anything is sent.
func readBackupFile(cmd *cobra.Command, path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBackupFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%s is empty: give a file written by 'backup'", path)
	case len(b) > maxBackupFileBytes:
		return nil, fmt.Errorf("%s is larger than %d bytes: it is not a Portcullis backup", path, maxBackupFileBytes)
	}
	return b, nil
}
