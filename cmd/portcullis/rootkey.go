package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/server"
)

// rotationProcedure is the root-key rotation procedure, shown by the help
// of every command that takes part in it.
const rotationProcedure = `Rotating the root key, without downtime:

  1. Create the new key:      portcullis rootkey generate /etc/portcullis/root-new.key
  2. Single node: restart it with
         --root-key /etc/portcullis/root-new.key --previous-root-key /etc/portcullis/root.key
     Cluster: two rolling restarts, so that no node ever meets a blob it
     cannot open: first every node with the OLD key as --root-key and the
     new one as --previous-root-key (every node can now open both); then
     every node with the NEW key as --root-key and the old one as
     --previous-root-key (new blobs are sealed under the new key).
  3. Re-seal what is stored:  portcullis vault rekey
     Every vault secret value and private key and every token signing key
     is opened with whichever key sealed it and sealed again under the
     current key, with a fresh data key (the blob format authenticates the
     wrapped data key together with the value, so the data key cannot be
     re-wrapped alone). Readers keep working throughout. The run is
     idempotent and resumable; runs on several nodes at once are safe.
  4. Check:                   portcullis rootkey status   (or: vault rekey --check)
     When no blob is sealed under the old key any more, restart the nodes
     without --previous-root-key. Keep the old key file for as long as you
     keep database backups taken before the rekey: they need it.

A node that meets a blob sealed under a key it does not hold says so,
naming the key id (8 hex characters, never the key) and --previous-root-key.`

// newRootKeyClient is the admin client for the root-key routes; a rekey
// pass runs for up to the server's budget, so it gets twice the usual
// request timeout.
func newRootKeyClient(f adminclient.Flags) (*adminclient.Client, error) {
	cfg, err := adminclient.LoadConfig(f)
	if err != nil {
		return nil, err
	}
	hc, err := adminclient.NewHTTPClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 2 * hc.Timeout
	return adminclient.New(cfg, adminclient.WithHTTPClient(hc))
}

// count is "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// errRekeyNeeded makes `vault rekey --check` exit 1.
var errRekeyNeeded = errors.New("blobs are still sealed under a previous root key: run 'portcullis vault rekey'")

// printRootKeyStatus prints the status and what the operator can do next.
func printRootKeyStatus(p *printer, st adminclient.RootKeyStatus) error {
	if p.json {
		return p.JSON(st)
	}
	prev := "none"
	if len(st.PreviousRootKeyIDs) > 0 {
		prev = strings.Join(st.PreviousRootKeyIDs, ", ")
	}
	if err := p.fields("Current root key", st.CurrentRootKeyID, "Previous root keys", prev); err != nil {
		return err
	}
	p.linef("")
	rows := make([][]string, 0, len(st.SealedBy))
	for _, c := range st.SealedBy {
		role := "previous"
		switch {
		case c.Current:
			role = "current"
		case !c.Held:
			role = "NOT HELD by this node"
		}
		rows = append(rows, []string{c.RootKeyID, role, strconv.Itoa(c.VaultBlobs), strconv.Itoa(c.SigningKeys)})
	}
	if err := p.table([]string{"ROOT KEY", "ROLE", "VAULT BLOBS", "SIGNING KEYS"}, rows); err != nil {
		return err
	}
	p.linef("")
	if st.Malformed > 0 {
		p.linef("Stored values that are not sealed blobs at all (database damage; restore them from a backup): %d.", st.Malformed)
	}
	if !st.RekeyNeeded {
		p.linef("Every stored blob is sealed under the current root key %s.", st.CurrentRootKeyID)
		if len(st.PreviousRootKeyIDs) > 0 {
			p.linef("Once every node runs with this key as --root-key, restart the nodes without --previous-root-key")
			p.linef("(and without %s). Keep the old key file while backups taken before the rekey exist.", server.PreviousRootKeysEnv)
		}
		return nil
	}
	p.linef("Blobs are still sealed under root key(s) %s: run 'portcullis vault rekey' on a node", strings.Join(st.PreviousKeysInUse, ", "))
	p.linef("that holds them (as --root-key or --previous-root-key); do not remove those keys yet.")
	return nil
}

func newVaultRekeyCommand(f *vaultFlags) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-seal every stored secret, private key and signing key under the current root key",
		Long: `Re-seal every stored blob under the server's current root key (--root-key):
all versions of every secret, certificate and key of every vault, and the
token signing keys of every tenant. Blobs already under the current key are
skipped, so the command can be run again at any time; a run that stops half
way is resumed by the next. The server works in passes of up to 30 seconds;
the command repeats them until everything is done, then prints which root
keys still seal anything (as 'portcullis rootkey status' does).

--check only prints that status, and exits 1 while any blob is still sealed
under another key than the current one.

` + rotationProcedure + `
` + adminEnvHelp,
		Example: `  # after restarting with --root-key new.key --previous-root-key old.key
  portcullis vault rekey
  portcullis vault rekey --check && echo "old.key can be dropped"
  portcullis vault rekey -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("vault") {
				return errors.New("--vault: rekey re-seals every vault and the signing keys together; drop --vault")
			}
			p, err := f.printer(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := newRootKeyClient(f.flags())
			if err != nil {
				return err
			}
			if !check {
				total, err := runRekey(ctx, c, p)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(total)
				}
				p.linef("Re-sealed %s and %s under root key %s (%s already under it).",
					count(total.VaultBlobs, "vault blob"), count(total.SigningKeys, "signing key"), total.RootKeyID, count(total.AlreadyCurrent, "blob"))
				p.linef("")
			}
			st, err := c.RootKeyStatus(ctx)
			if err != nil {
				return err
			}
			if check || !p.json {
				if err := printRootKeyStatus(p, st); err != nil {
					return err
				}
			}
			if check && st.RekeyNeeded {
				return errRekeyNeeded
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only report which root keys seal the stored blobs; exit 1 while a rekey is needed")
	return cmd
}

// runRekey repeats rekey passes until the server reports completion, and
// returns the totals.
func runRekey(ctx context.Context, c *adminclient.Client, p *printer) (adminclient.RekeyResult, error) {
	var total adminclient.RekeyResult
	for pass := 1; ; pass++ {
		r, err := c.Rekey(ctx)
		if err != nil {
			return total, err
		}
		total.RootKeyID = r.RootKeyID
		total.VaultBlobs += r.VaultBlobs
		total.SigningKeys += r.SigningKeys
		total.AlreadyCurrent += r.AlreadyCurrent
		if r.Complete {
			total.Complete = true
			return total, nil
		}
		if r.VaultBlobs+r.SigningKeys+r.AlreadyCurrent == 0 {
			return total, fmt.Errorf("rekey pass %d made no progress within the server's time budget; check the server log and the database", pass)
		}
		if !p.json {
			p.linef("pass %d: re-sealed %s and %s so far; continuing…", pass, count(total.VaultBlobs, "vault blob"), count(total.SigningKeys, "signing key"))
		}
	}
}

func newRootKeyStatusCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which root keys seal the stored blobs",
		Long: `Ask the server which root keys seal the stored blobs: its current root key,
the previous keys it also holds, and for each key how many vault blobs and
signing keys it seals. While any blob is sealed under another key than the
current one, that key must stay available (--previous-root-key) and
'portcullis vault rekey' has work to do. The key ids are short hashes
(8 hex characters), never the keys.

` + rotationProcedure,
		Example: `  portcullis rootkey status
  portcullis rootkey status -o json --addr https://portcullis.example.com:8443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := f.printer(cmd)
			if err != nil {
				return err
			}
			c, err := newRootKeyClient(f.flags())
			if err != nil {
				return err
			}
			st, err := c.RootKeyStatus(cmd.Context())
			if err != nil {
				return err
			}
			return printRootKeyStatus(p, st)
		},
	}
	f.register(cmd.Flags())
	return cmd
}
