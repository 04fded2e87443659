package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

func newCACommand() *cobra.Command {
	var f vaultFlags
	cmd := group(&cobra.Command{
		Use:   "ca",
		Short: "Make certificate authorities kept in the vault and download their certificates",
		Long: `A CA kept in the vault (--vault, default "default") signs certificates for
mTLS between gateways, APIs and clients. Its private key is a vault key that
is not exportable: it never leaves the vault. Its certificate is a vault
certificate of the same name, and a certificate issuer of the same name and
provider "Portcullis" (Key Vault's SetIssuer) makes it usable: certificates
whose policy names that issuer are signed by the CA, renewed by their
lifetime actions like self-signed ones, and carry the chain up to the root
in their secret (PEM or PFX).

A CA is a root (self-signed) or an intermediate signed by another CA of the
same vault (--intermediate-of). Issue certificates from it with
'portcullis certificate create NAME --issuer CA …', or with any Key Vault
SDK by naming the issuer in the policy. Give the relying parties (gateway
routes, APIs, clients) the root's certificate: 'portcullis ca show ROOT
--out root.pem'.
` + vaultEnvHelp,
		Example: `  portcullis ca create root-ca --subject "CN=Example Root CA, O=Example" --validity-months 120
  portcullis ca create issuing-ca --intermediate-of root-ca --validity-months 36
  portcullis certificate create orders-api --issuer issuing-ca --subject "CN=orders.internal" --dns orders.internal --eku server
  portcullis ca show root-ca --out root-ca.pem`,
	})
	f.register(cmd)
	cmd.AddCommand(newCACreateCommand(&f), newCAShowCommand(&f))
	return cmd
}

type caCreateOptions struct {
	subject, parent, key string
	validityMonths       int
}

// caPolicy is the certificate policy of a vault CA: a non-exportable key,
// key usage keyCertSign (which makes the certificate a CA) and cRLSign,
// and a notification, not a renewal, before expiry: a renewed CA has a new
// key that relying parties must be given.
func (o caCreateOptions) policy(name string) (*vaultclient.CertificatePolicy, error) {
	subject := o.subject
	if subject == "" {
		subject = "CN=" + name
	}
	if _, err := pki.ParseSubject(subject); err != nil {
		return nil, fmt.Errorf("--subject: %w", err)
	}
	if o.validityMonths < 1 || o.validityMonths > 1200 {
		return nil, fmt.Errorf("--validity-months %d: must be between 1 and 1200", o.validityMonths)
	}
	kp := &vaultclient.KeyProperties{Exportable: boolPtr(false), ReuseKey: boolPtr(false)}
	switch strings.ToLower(o.key) {
	case "ec256":
		kp.KeyType, kp.Curve = "EC", "P-256"
	case "ec384":
		kp.KeyType, kp.Curve = "EC", "P-384"
	case "rsa2048", "rsa3072", "rsa4096":
		kp.KeyType = "RSA"
		_, _ = fmt.Sscanf(o.key[3:], "%d", &kp.KeySize)
	default:
		return nil, fmt.Errorf("--key %q: use ec256, ec384, rsa2048, rsa3072 or rsa4096", o.key)
	}
	issuer := "Self"
	if o.parent != "" {
		issuer = o.parent
	}
	return &vaultclient.CertificatePolicy{
		KeyProperties:    kp,
		SecretProperties: &vaultclient.SecretProperties{ContentType: vaultclient.ContentTypePEM},
		X509Properties: &vaultclient.X509Properties{
			Subject: subject, ValidityMonths: o.validityMonths,
			KeyUsage: []string{"keyCertSign", "cRLSign", "digitalSignature"},
		},
		LifetimeActions: []vaultclient.LifetimeAction{{Trigger: vaultclient.LifetimeTrigger{LifetimePercentage: 80}, Action: vaultclient.Action{ActionType: "EmailContacts"}}},
		Issuer:          &vaultclient.IssuerParameters{Name: issuer},
	}, nil
}

func newCACreateCommand(f *vaultFlags) *cobra.Command {
	var o caCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME [--intermediate-of CA] [--subject \"CN=…\"] [--validity-months N]",
		Short: "Create a root or intermediate CA in the vault, and its issuer",
		Long: `Create CA NAME: a certificate NAME whose key is generated in the vault and
never leaves it (not exportable), with basic constraints CA:TRUE and key
usage keyCertSign and cRLSign, self-signed (a root) or signed by CA
--intermediate-of of the same vault; then the issuer NAME of provider
"Portcullis" that signs with it. The command waits until the vault has
issued the CA certificate and prints it.

The CA is not renewed automatically (a new CA key must reach every relying
party first); a notification goes out at 80% of its lifetime. Certificates
it signs never outlive it: their expiry is cut at the CA's.`,
		Example: `  portcullis ca create root-ca --subject "CN=Example Root CA, O=Example" --validity-months 120
  portcullis ca create issuing-ca --intermediate-of root-ca --subject "CN=Example Issuing CA" --validity-months 36 --key ec256`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			pol, err := o.policy(name)
			if err != nil {
				return err
			}
			if strings.EqualFold(o.parent, name) {
				return errors.New("--intermediate-of names the CA itself: give another CA of the vault, or leave it out for a root")
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ctx := cmd.Context()
				if o.parent != "" {
					if _, err := c.GetIssuer(ctx, f.vault, o.parent); err != nil {
						return fmt.Errorf("--intermediate-of %s: %w (make it first with 'portcullis ca create %s')", o.parent, err, o.parent)
					}
				}
				op, err := c.CreateCertificate(ctx, f.vault, name, vaultclient.CertificateCreateParameters{Policy: pol})
				if err != nil {
					return err
				}
				wctx, cancel := context.WithTimeout(ctx, certificateWaitTimeout)
				defer cancel()
				if _, err := c.WaitCertificateOperation(wctx, f.vault, name, op, certificatePollInterval); err != nil {
					return err
				}
				if _, err := c.SetIssuer(ctx, f.vault, name, vaultclient.IssuerSetParameters{Provider: "Portcullis"}); err != nil {
					return fmt.Errorf("the CA certificate %s was created, but its issuer was not: %w (run 'portcullis ca create %s' again to retry)", name, err, name)
				}
				cert, err := c.GetCertificate(ctx, f.vault, name, "")
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				kind := "root CA"
				if o.parent != "" {
					kind = "intermediate CA under " + o.parent
				}
				p.linef("created %s %s and its issuer %s (provider Portcullis)", kind, name, name)
				if err := showCertificate(p, cert); err != nil {
					return err
				}
				p.linef("issue certificates from it: portcullis certificate create NAME --issuer %s --subject \"CN=…\"", name)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.subject, "subject", "", `subject distinguished name (default "CN=NAME")`)
	fl.StringVar(&o.parent, "intermediate-of", "", "make an intermediate CA signed by this CA of the vault (default: a root CA)")
	fl.IntVar(&o.validityMonths, "validity-months", 60, "validity in months, 1-1200")
	fl.StringVar(&o.key, "key", "ec384", "key type: ec256, ec384, rsa2048, rsa3072 or rsa4096")
	return cmd
}

func newCAShowCommand(f *vaultFlags) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "show NAME [--out FILE]",
		Short: "Show a vault CA, or download its certificate",
		Long: `Show CA NAME: its issuer and the newest version of its certificate. With
--out, write the CA certificate (PEM, mode 0644; no key: a CA's key never
leaves the vault) to FILE, for gateway routes, APIs and clients to trust.
Relying parties usually trust the root; an intermediate is sent by the
servers and clients it signed for, in their chain. An existing FILE is not
overwritten unless --force.`,
		Example: `  portcullis ca show root-ca
  portcullis ca show root-ca --out root-ca.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ctx := cmd.Context()
				is, err := c.GetIssuer(ctx, f.vault, name)
				if err != nil {
					return fmt.Errorf("%w (a CA is made with 'portcullis ca create %s')", err, name)
				}
				caName := name
				if is.Credentials != nil && is.Credentials.AccountID != "" {
					caName = is.Credentials.AccountID
				}
				cert, err := c.GetCertificate(ctx, f.vault, caName, "")
				if err != nil {
					return err
				}
				x := x509Of(cert)
				if x == nil {
					return fmt.Errorf("CA certificate %s: the server sent no certificate", caName)
				}
				if out != "" {
					if err := writeNewFile(out, pki.EncodeCertificatePEM(x), 0o644, force); err != nil {
						return err
					}
					if p.json {
						return p.JSON(map[string]any{"file": out, "id": cert.ID, "x5t": cert.X5T, "subject": x.Subject.String()})
					}
					p.linef("wrote %s: CA certificate %s (%s), PEM", out, caName, x.Subject)
					return nil
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				p.linef("issuer %s: provider %s, CA certificate %s", name, is.Provider, caName)
				return showCertificate(p, cert)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the CA certificate (PEM) to this file")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	return cmd
}
