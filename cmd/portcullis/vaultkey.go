package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/vaultclient"
)

// keyOperations are Key Vault's key operation names.
var keyOperations = []string{"sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"}

// maxKeyFileBytes bounds a PEM key file read for import.
const maxKeyFileBytes = 64 << 10

func newKeyCommand() *cobra.Command {
	var f vaultFlags
	cmd := group(&cobra.Command{
		Use:   "key",
		Short: "Create, import, inspect and delete vault keys (private keys never leave the vault)",
		Long: `Manage the cryptographic keys of a vault (--vault, default "default") through
its Azure Key Vault-compatible API: RSA (2048, 3072, 4096 bits), EC
(P-256, P-384, P-521, P-256K) and oct (AES 128, 192, 256 bits, as Managed HSM
offers them). The private key never leaves the vault; applications sign,
verify, encrypt, decrypt, wrap and unwrap with it through the Key Vault API
(e.g. the azkeys SDK). 'key rotate' and 'key rotation-policy' make new
versions by hand or on a schedule. Certificates' keys are listed here too,
marked managed.

Not to be confused with 'portcullis keys', the token service's signing keys.
` + vaultEnvHelp,
		Example: `  portcullis key create signing --kty EC --curve P-256 --ops sign,verify
  portcullis key import legacy-rsa legacy.pem
  portcullis key show signing -o json`,
	})
	f.register(cmd)
	cmd.AddCommand(newKeyCreateCommand(&f), newKeyImportCommand(&f), newKeyShowCommand(&f), newKeyListCommand(&f),
		newKeyVersionsCommand(&f), newKeyDeleteCommand(&f), newKeyRecoverCommand(&f), newKeyPurgeCommand(&f),
		newBackupCommand(&f, "key", "its key_ops and private key", "Key Vault Crypto\nOfficer, Crypto User or Administrator"), newRestoreCommand(&f, "key"),
		newKeyRotateCommand(&f), newKeyRotationPolicyCommand(&f))
	return cmd
}

// parseKeyOps reads --ops (comma-separated, any case) into Key Vault's
// operation names.
func parseKeyOps(ops []string) ([]string, error) {
	var out []string
	for _, group := range ops {
		for _, op := range strings.Split(group, ",") {
			op = strings.TrimSpace(op)
			if op == "" {
				continue
			}
			found := ""
			for _, k := range keyOperations {
				if strings.EqualFold(k, op) {
					found = k
				}
			}
			if found == "" {
				return nil, fmt.Errorf("--ops %q: unknown operation; use %s", op, strings.Join(keyOperations, ", "))
			}
			out = append(out, found)
		}
	}
	return out, nil
}

// keySize returns the RSA modulus size of a JWK in bits, 0 if unknown.
func keySize(k *vaultclient.JSONWebKey) int {
	if k == nil || k.N == "" {
		return 0
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	if err != nil {
		return 0
	}
	return new(big.Int).SetBytes(b).BitLen()
}

func showKey(p *printer, k vaultclient.Key) error {
	name, version := objectName(k.ID())
	kv := []string{"Name", name, "Version", version}
	if jwk := k.Key; jwk != nil {
		typ := jwk.Kty
		if n := keySize(jwk); n > 0 {
			typ += fmt.Sprintf(" %d", n)
		}
		if jwk.Crv != "" {
			typ += " " + jwk.Crv
		}
		kv = append(kv, "Type", typ, "Operations", strings.Join(jwk.KeyOps, ", "))
	}
	kv = append(kv, "Enabled", enabledText(k.Attributes))
	if a := k.Attributes; a != nil {
		kv = append(kv, "Not before", unixWhen(a.NotBefore), "Expires", unixWhen(a.Expires), "Created", unixWhen(a.Created), "Updated", unixWhen(a.Updated))
	}
	kv = append(kv, "Tags", tagsText(k.Tags))
	if k.Managed {
		kv = append(kv, "Managed", "yes (the key of certificate "+name+")")
	}
	kv = append(kv, "ID", k.ID())
	return p.fields(kv...)
}

func newKeyCreateCommand(f *vaultFlags) *cobra.Command {
	var kty, curve string
	var size int
	var ops, tags []string
	cmd := &cobra.Command{
		Use:   "create NAME [--kty RSA|EC|oct]",
		Short: "Create a key (or a new version of one) in the vault",
		Long: `Create a new key NAME, or a new version of it, generated inside the vault:
--kty RSA with --size 2048, 3072 or 4096 (default 2048), --kty EC with
--curve P-256, P-384, P-521 or P-256K (secp256k1; default P-256), or --kty oct (an AES key for
A*GCM, A*CBC, A*CBCPAD encryption and A*KW key wrap) with --size 128, 192
or 256 (default 256). --ops limits what the key may be used for (sign,
verify, encrypt, decrypt, wrapKey, unwrapKey; default: all that suit the
key type; oct keys encrypt, decrypt, wrapKey and unwrapKey).`,
		Example: `  portcullis key create data-key --size 3072 --ops encrypt,decrypt,wrapKey,unwrapKey
  portcullis key create signing --kty EC --curve P-384 --ops sign,verify
  portcullis key create signing --kty EC --tag owner=payments -o json
  portcullis key create kek --kty oct --size 256 --ops wrapKey,unwrapKey`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := vaultclient.KeyCreateParameters{}
			switch strings.ToUpper(kty) {
			case "RSA":
				params.Kty = "RSA"
				if cmd.Flags().Changed("curve") {
					return fmt.Errorf("--curve applies to EC keys; RSA keys take --size")
				}
				if size != 2048 && size != 3072 && size != 4096 {
					return fmt.Errorf("--size %d: RSA keys are 2048, 3072 or 4096 bits", size)
				}
				params.KeySize = size
			case "EC":
				params.Kty = "EC"
				if cmd.Flags().Changed("size") {
					return fmt.Errorf("--size applies to RSA and oct keys; EC keys take --curve")
				}
				switch strings.ToUpper(curve) {
				case "P-256", "P256":
					params.Curve = "P-256"
				case "P-384", "P384":
					params.Curve = "P-384"
				case "P-521", "P521":
					params.Curve = "P-521"
				case "P-256K", "P256K", "SECP256K1":
					params.Curve = "P-256K"
				default:
					return fmt.Errorf("--curve %q: use P-256, P-384, P-521 or P-256K", curve)
				}
			case "OCT", "OCT-HSM":
				params.Kty = "oct"
				if cmd.Flags().Changed("curve") {
					return fmt.Errorf("--curve applies to EC keys; oct keys take --size")
				}
				params.KeySize = 256
				if cmd.Flags().Changed("size") {
					params.KeySize = size
				}
				if params.KeySize != 128 && params.KeySize != 192 && params.KeySize != 256 {
					return fmt.Errorf("--size %d: oct (AES) keys are 128, 192 or 256 bits", params.KeySize)
				}
			default:
				return fmt.Errorf("--kty %q: use RSA, EC or oct", kty)
			}
			var err error
			if params.KeyOps, err = parseKeyOps(ops); err != nil {
				return err
			}
			if params.Tags, err = parseTags(tags); err != nil {
				return err
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.CreateKey(cmd.Context(), f.vault, args[0], params)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				_, version := objectName(k.ID())
				p.linef("created key %s version %s", args[0], version)
				return showKey(p, k)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kty, "kty", "RSA", "key type: RSA, EC or oct")
	fl.IntVar(&size, "size", 2048, "key size in bits: RSA 2048, 3072 or 4096; oct 128, 192 or 256 (default 256)")
	fl.StringVar(&curve, "curve", "P-256", "EC curve: P-256, P-384, P-521 or P-256K (secp256k1)")
	fl.StringSliceVar(&ops, "ops", nil, "permitted operations, comma-separated: sign,verify,encrypt,decrypt,wrapKey,unwrapKey")
	fl.StringArrayVar(&tags, "tag", nil, "tag NAME=VALUE (repeat for several)")
	return cmd
}

func newKeyImportCommand(f *vaultFlags) *cobra.Command {
	var ops, tags []string
	cmd := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import a private key from a PEM file",
		Long: `Import the private key in FILE (PEM: PKCS#8 "PRIVATE KEY", PKCS#1 "RSA
PRIVATE KEY" or SEC1 "EC PRIVATE KEY"; unencrypted; RSA, or EC on P-256,
P-384, P-521 or P-256K) as a new version of key NAME. The key is sent to the vault in JWK form over TLS and kept encrypted;
delete FILE afterwards if the vault is to be its only home.`,
		Example: `  portcullis key import legacy-rsa legacy.pem
  portcullis key import partner-signing partner.pem --ops sign,verify -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := os.Stat(args[1])
			if err != nil {
				return err
			}
			if st.Size() > maxKeyFileBytes {
				return fmt.Errorf("%s is %d bytes; a PEM key file is at most 64 KiB", args[1], st.Size())
			}
			data, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			key, err := vaultclient.ParsePrivateKeyPEM(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			jwk, err := vaultclient.PrivateJWK(key)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			if jwk.KeyOps, err = parseKeyOps(ops); err != nil {
				return err
			}
			tagMap, err := parseTags(tags)
			if err != nil {
				return err
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.ImportKey(cmd.Context(), f.vault, args[0], vaultclient.KeyImportParameters{Key: jwk, Tags: tagMap})
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				_, version := objectName(k.ID())
				p.linef("imported key %s version %s", args[0], version)
				return showKey(p, k)
			})
		},
	}
	cmd.Flags().StringSliceVar(&ops, "ops", nil, "permitted operations, comma-separated: sign,verify,encrypt,decrypt,wrapKey,unwrapKey")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag NAME=VALUE (repeat for several)")
	return cmd
}

func newKeyShowCommand(f *vaultFlags) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "show NAME [--version ID]",
		Short: "Show a key (public part only)",
		Long: `Show key NAME (the newest version unless --version): type, size or curve,
permitted operations and attributes. -o json gives Key Vault's KeyBundle
with the public JWK (n and e, or crv, x and y); the private key never
leaves the vault.`,
		Example: `  portcullis key show signing
  portcullis key show signing --version 3f1c0b7e9a2d4c5f8e6a1b2c3d4e5f60 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.GetKey(cmd.Context(), f.vault, args[0], version)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				return showKey(p, k)
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "version id (default: the newest)")
	return cmd
}

func newKeyListCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keys of the vault",
		Long:  "List the keys of the vault with their newest version's attributes; certificates' keys are marked managed.",
		Example: `  portcullis key list
  portcullis key list --vault payments -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ks, err := c.ListKeys(cmd.Context(), f.vault)
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, ks, func(k vaultclient.Key) json.RawMessage { return k.Raw })
				}
				rows := make([][]string, 0, len(ks))
				for _, k := range ks {
					name, _ := objectName(k.ID())
					a := k.Attributes
					if a == nil {
						a = &vaultclient.Attributes{}
					}
					rows = append(rows, []string{name, enabledText(a), unixWhen(a.Expires), unixWhen(a.Updated), yesNo(k.Managed)})
				}
				return p.table([]string{"NAME", "ENABLED", "EXPIRES", "UPDATED", "MANAGED"}, rows)
			})
		},
	}
}

func newKeyVersionsCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a key",
		Long: `List every version of key NAME, oldest first, with its attributes. Show one
with 'key show NAME --version ID'.`,
		Example: `  portcullis key versions signing
  portcullis key versions signing -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ks, err := c.ListKeyVersions(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, ks, func(k vaultclient.Key) json.RawMessage { return k.Raw })
				}
				sort.SliceStable(ks, func(i, j int) bool { return created(ks[i].Attributes) < created(ks[j].Attributes) })
				rows := make([][]string, 0, len(ks))
				for _, k := range ks {
					_, version := objectName(k.ID())
					a := k.Attributes
					if a == nil {
						a = &vaultclient.Attributes{}
					}
					rows = append(rows, []string{version, enabledText(a), unixWhen(a.NotBefore), unixWhen(a.Expires), unixWhen(a.Created)})
				}
				return p.table([]string{"VERSION", "ENABLED", "NOT BEFORE", "EXPIRES", "CREATED"}, rows)
			})
		},
	}
}

func newKeyDeleteCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key (recoverable until purged)",
		Long: `Soft-delete key NAME with all its versions. It stays recoverable for the
vault's retention period ('key recover NAME'); meanwhile its name cannot be
reused. 'key purge NAME' removes it for good. Keys of certificates are
deleted with their certificate.`,
		Example: `  portcullis key delete old-signing
  portcullis key delete old-signing -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.DeleteKey(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				deletedHint(p, "key", args[0], k.Deletion)
				return nil
			})
		},
	}
}

func newKeyRecoverCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "recover NAME",
		Short: "Recover a deleted key",
		Long:  "Recover the deleted key NAME with all its versions, as it was when deleted.",
		Example: `  portcullis key recover old-signing
  portcullis key recover old-signing --vault payments -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.RecoverKey(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				p.linef("recovered key %s", args[0])
				return showKey(p, k)
			})
		},
	}
}

func newKeyPurgeCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Permanently remove a deleted key",
		Long: `Permanently remove the deleted key NAME and all its versions; this cannot be
undone. Refused while the vault's purge protection holds (until the
scheduled purge date). The key must be deleted first.`,
		Example: `  portcullis key delete old-signing && portcullis key purge old-signing`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				if err := c.PurgeKey(cmd.Context(), f.vault, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("purged key %s", args[0])
				}
				return nil
			})
		},
	}
}
