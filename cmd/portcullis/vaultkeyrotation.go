package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/vaultclient"
)

func newKeyRotateCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate NAME",
		Short: "Create a new version of a key with the same type, size and operations",
		Long: `Rotate key NAME now: the vault generates a new version of the same type and
size or curve, with the newest version's permitted operations and tags. If
the key's rotation policy sets an expiry time (see 'key rotation-policy'),
the new version expires that long from now. Older versions stay usable by
version id (to decrypt, unwrap and verify what they made) until they are
disabled or the key is purged. A certificate's key is rotated by renewing
the certificate instead. Needs the keys/rotate permission (Key Vault
Crypto Officer or Administrator).`,
		Example: `  portcullis key rotate data-key
  portcullis key rotate data-key --vault payments -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				k, err := c.RotateKey(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(k.Raw)
				}
				_, version := objectName(k.ID())
				p.linef("rotated key %s: new version %s", args[0], version)
				return showKey(p, k)
			})
		},
	}
}

func newKeyRotationPolicyCommand(f *vaultFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "rotation-policy",
		Short: "Show or set a key's rotation policy (scheduled rotation and expiry notices)",
		Long: `A key's rotation policy, as in Azure Key Vault: at most one Rotate action,
triggered a duration after the newest version's creation or before its
expiry, at most one Notify action before expiry, and an expiry time given
to every version that rotation creates. Durations are ISO 8601: P90D (90
days), P3M (3 months), P1Y, PT48H. Key Vault's bounds apply: the expiry
time at least 28 days, a rotation at least 7 days after creation and at
least 7 days before the expiry.

The policy is carried out by the server's maintenance run (once per
cluster, the run that also renews certificates): a rotation makes a new
version exactly as 'key rotate' does; notifications go where certificate
notifications go (log, metric and --vault-webhook-url). A key without a
policy of its own has Key Vault's default: notify 30 days before expiry.`,
		Example: `  portcullis key rotation-policy show data-key
  portcullis key rotation-policy set data-key --rotate-after P90D --expiry P1Y --notify-before-expiry P30D`,
	})
	cmd.AddCommand(newKeyRotationPolicyShowCommand(f), newKeyRotationPolicySetCommand(f))
	return cmd
}

func showRotationPolicy(p *printer, name string, pol vaultclient.KeyRotationPolicy) error {
	var actions []string
	for _, a := range pol.LifetimeActions {
		when := a.Trigger.TimeAfterCreate + " after creation"
		if a.Trigger.TimeBeforeExpiry != "" {
			when = a.Trigger.TimeBeforeExpiry + " before expiry"
		}
		actions = append(actions, a.Action.Type+" "+when)
	}
	expiry, created, updated := "none", "none (Key Vault's default policy: none was set)", unixWhen(nil)
	if a := pol.Attributes; a != nil {
		if a.ExpiryTime != "" {
			expiry = a.ExpiryTime
		}
		if a.Created != nil {
			created, updated = unixWhen(a.Created), unixWhen(a.Updated)
		}
	}
	if len(actions) == 0 {
		actions = []string{"none"}
	}
	return p.fields("Key", name, "Actions", strings.Join(actions, "; "), "Expiry of rotated versions", expiry, "Created", created, "Updated", updated)
}

func newKeyRotationPolicyShowCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's rotation policy",
		Long: `Show the rotation policy of key NAME: its actions with their triggers and
the expiry given to rotated versions. -o json gives Key Vault's
KeyRotationPolicy.`,
		Example: `  portcullis key rotation-policy show data-key -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				pol, err := c.GetKeyRotationPolicy(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(pol.Raw)
				}
				return showRotationPolicy(p, args[0], pol)
			})
		},
	}
}

func newKeyRotationPolicySetCommand(f *vaultFlags) *cobra.Command {
	var rotateAfter, rotateBefore, notifyBefore, expiry string
	cmd := &cobra.Command{
		Use:   "set NAME [--rotate-after D | --rotate-before-expiry D] [--notify-before-expiry D] [--expiry D]",
		Short: "Replace a key's rotation policy",
		Long: `Replace the rotation policy of key NAME with the one the flags describe
(flags not given are not kept from the old policy; with no flag at all the
policy has no action). Durations are ISO 8601 (P90D, P3M, P1Y, PT48H).
Needs the keys/setrotationpolicy permission (Key Vault Crypto Officer or
Administrator).`,
		Example: `  portcullis key rotation-policy set data-key --rotate-after P90D --expiry P1Y
  portcullis key rotation-policy set data-key --rotate-before-expiry P30D --notify-before-expiry P7D --expiry P6M`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rotateAfter != "" && rotateBefore != "" {
				return errors.New("--rotate-after and --rotate-before-expiry: give one (a policy has one Rotate action)")
			}
			pol := vaultclient.KeyRotationPolicy{LifetimeActions: []vaultclient.KeyLifetimeAction{}}
			if rotateAfter != "" || rotateBefore != "" {
				pol.LifetimeActions = append(pol.LifetimeActions, vaultclient.KeyLifetimeAction{
					Trigger: vaultclient.KeyLifetimeTrigger{TimeAfterCreate: rotateAfter, TimeBeforeExpiry: rotateBefore},
					Action:  vaultclient.KeyLifetimeType{Type: "Rotate"},
				})
			}
			if notifyBefore != "" {
				pol.LifetimeActions = append(pol.LifetimeActions, vaultclient.KeyLifetimeAction{
					Trigger: vaultclient.KeyLifetimeTrigger{TimeBeforeExpiry: notifyBefore},
					Action:  vaultclient.KeyLifetimeType{Type: "Notify"},
				})
			}
			if expiry != "" {
				pol.Attributes = &vaultclient.KeyRotationPolicyAttributes{ExpiryTime: expiry}
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				got, err := c.SetKeyRotationPolicy(cmd.Context(), f.vault, args[0], pol)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(got.Raw)
				}
				p.linef("set the rotation policy of key %s", args[0])
				return showRotationPolicy(p, args[0], got)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rotateAfter, "rotate-after", "", "rotate this long after the newest version's creation (ISO 8601, at least P7D)")
	fl.StringVar(&rotateBefore, "rotate-before-expiry", "", "rotate this long before the newest version's expiry (ISO 8601, at least P7D)")
	fl.StringVar(&notifyBefore, "notify-before-expiry", "", "notify this long before the newest version's expiry (ISO 8601, at least P7D)")
	fl.StringVar(&expiry, "expiry", "", "expiry of each version that rotation creates (ISO 8601, at least P28D)")
	return cmd
}
