package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// certificatePollInterval is the wait between polls of a pending
// certificate creation; certificateWaitTimeout bounds the whole wait.
var (
	certificatePollInterval = time.Second
	certificateWaitTimeout  = 5 * time.Minute
)

// maxCertificateFileBytes bounds a certificate file read for import.
const maxCertificateFileBytes = 1 << 20

func newCertificateCommand() *cobra.Command {
	var f vaultFlags
	cmd := group(&cobra.Command{
		Use:   "certificate",
		Short: "Import, create, download and rotate vault certificates",
		Long: `Manage the certificates of a vault (--vault, default "default") through its
Azure Key Vault-compatible API. A certificate has versions and a policy
(subject, key, validity, lifetime actions); its private key is kept
encrypted in the vault, and it is also readable as a secret (the PFX or PEM
with the key) and as a key, both with the same name — like Key Vault.

Self-signed certificates created here renew themselves (a new version with
the same policy) at --renew-at-percent of their lifetime, and a notification
goes out --notify-days-before expiry (webhook and log; the vault's soonest
expiry is also a Prometheus metric, see 'portcullis serve --help'). Consumers
inside Portcullis refer to vault://VAULT/certificates/NAME and follow
renewals without restarting.

For local certificates that never touch a server, see 'portcullis cert'.
` + vaultEnvHelp,
		Example: `  portcullis certificate import gw-client gw-client.pfx --password -
  portcullis certificate create orders-tls --subject "CN=orders.example.com" --dns orders.example.com
  portcullis certificate download orders-tls --format pem --out orders-tls.pem
  portcullis certificate versions orders-tls`,
	})
	f.register(cmd)
	cmd.AddCommand(newCertificateImportCommand(&f), newCertificateCreateCommand(&f), newCertificateShowCommand(&f),
		newCertificateListCommand(&f), newCertificateVersionsCommand(&f), newCertificateDownloadCommand(&f),
		newCertificateDeleteCommand(&f), newCertificateRecoverCommand(&f), newCertificatePurgeCommand(&f),
		newBackupCommand(&f, "certificate", "its chain, private key (exportable or not) and policy", "Key Vault\nCertificates Officer or Administrator"), newRestoreCommand(&f, "certificate"))
	return cmd
}

// readPassword returns --password, reading it from standard input when it
// is "-".
func readPassword(cmd *cobra.Command, password string) (string, error) {
	if password != "-" {
		return password, nil
	}
	b, err := readLimited(cmd.InOrStdin(), 4096)
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// pfxOpenError says why file could not be opened: a PFX opened without a
// password is missing one (not a wrong one); otherwise it wraps err.
func pfxOpenError(flag, file, password string, err error) error {
	switch {
	case errors.Is(err, pki.ErrWrongPassword) && password == "":
		return fmt.Errorf("%s is a password-protected PFX and no password was given: add %s PASSWORD, or %s - to read it from standard input", file, flag, flag)
	case errors.Is(err, pki.ErrWrongPassword):
		return fmt.Errorf("%s: the PFX password is wrong (give it with %s, or %s - to read it from standard input)", file, flag, flag)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// x509Of parses a certificate bundle's DER, nil if it has none.
func x509Of(c vaultclient.Certificate) *x509.Certificate {
	if len(c.CER) == 0 {
		return nil
	}
	cert, err := x509.ParseCertificate(c.CER)
	if err != nil {
		return nil
	}
	return cert
}

// thumbprintHex turns Key Vault's x5t (base64url SHA-1) into upper-case hex.
func thumbprintHex(x5t string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(x5t, "="))
	if err != nil {
		return x5t
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

func showCertificate(p *printer, c vaultclient.Certificate) error {
	name, version := objectName(c.ID)
	kv := []string{"Name", name, "Version", version}
	if cert := x509Of(c); cert != nil {
		kv = append(kv, "Subject", cert.Subject.String(), "Issuer", cert.Issuer.String(), "DNS names", strings.Join(cert.DNSNames, ", "),
			"Not before", when(cert.NotBefore), "Expires", when(cert.NotAfter))
	}
	kv = append(kv, "Thumbprint (SHA-1)", thumbprintHex(c.X5T), "Enabled", enabledText(c.Attributes))
	if c.Attributes != nil {
		kv = append(kv, "Created", unixWhen(c.Attributes.Created), "Updated", unixWhen(c.Attributes.Updated))
	}
	if pol := c.Policy; pol != nil {
		if pol.Issuer != nil {
			kv = append(kv, "Policy issuer", pol.Issuer.Name)
		}
		if kp := pol.KeyProperties; kp != nil {
			key := kp.KeyType
			if kp.KeySize != 0 {
				key += fmt.Sprintf(" %d", kp.KeySize)
			}
			if kp.Curve != "" {
				key += " " + kp.Curve
			}
			if kp.Exportable != nil && !*kp.Exportable {
				key += " (not exportable)"
			}
			kv = append(kv, "Policy key", key)
		}
		if sp := pol.SecretProperties; sp != nil {
			kv = append(kv, "Secret content type", sp.ContentType)
		}
		if xp := pol.X509Properties; xp != nil && xp.ValidityMonths != 0 {
			kv = append(kv, "Validity", fmt.Sprintf("%d months", xp.ValidityMonths))
		}
		var actions []string
		for _, la := range pol.LifetimeActions {
			at := fmt.Sprintf("%d%% of lifetime", la.Trigger.LifetimePercentage)
			if la.Trigger.DaysBeforeExpiry > 0 {
				at = fmt.Sprintf("%d days before expiry", la.Trigger.DaysBeforeExpiry)
			}
			actions = append(actions, la.Action.ActionType+" at "+at)
		}
		kv = append(kv, "Lifetime actions", strings.Join(actions, "; "))
	}
	kv = append(kv, "Tags", tagsText(c.Tags), "ID", c.ID, "Secret ID", c.Sid, "Key ID", c.Kid)
	return p.fields(kv...)
}

func newCertificateImportCommand(f *vaultFlags) *cobra.Command {
	var password string
	var tags []string
	cmd := &cobra.Command{
		Use:   "import NAME FILE [--password P]",
		Short: "Import a certificate with its private key (PFX or PEM)",
		Long: `Import FILE as a new version of certificate NAME: a PKCS#12 file (.pfx/.p12,
with --password) or PEM with the certificate, its chain and the private key
(PKCS#8, PKCS#1 or SEC1). The file is checked locally first (password,
presence of the key, key matches certificate); its secret keeps the file's
format (application/x-pkcs12 or application/x-pem-file).

--password - reads the password from standard input; a password given on
the command line is visible to other local users (ps) and in shell history.`,
		Example: `  portcullis certificate import gw-client gw-client.pfx --password - < pfx-password.txt
  portcullis certificate import orders-tls orders-tls.pem --tag owner=orders
  portcullis certificate import gw-client renewed.pfx --password - --vault payments -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			tagMap, err := parseTags(tags)
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, password)
			if err != nil {
				return err
			}
			params, err := certificateImportBody(file, pw)
			if err != nil {
				return err
			}
			params.Tags = tagMap
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cert, err := c.ImportCertificate(cmd.Context(), f.vault, name, params)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				_, version := objectName(cert.ID)
				p.linef("imported certificate %s version %s", name, version)
				return showCertificate(p, cert)
			})
		},
	}
	cmd.Flags().StringVar(&password, "password", "", `password of the PFX file ("-" reads it from standard input)`)
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag NAME=VALUE (repeat for several)")
	return cmd
}

// certificateImportBody reads and checks a PFX or PEM file and returns the
// Key Vault import body for it.
func certificateImportBody(file, password string) (vaultclient.CertificateImportParameters, error) {
	st, err := os.Stat(file)
	if err != nil {
		return vaultclient.CertificateImportParameters{}, err
	}
	if st.Size() > maxCertificateFileBytes {
		return vaultclient.CertificateImportParameters{}, fmt.Errorf("%s is %d bytes; a certificate file is at most 1 MiB", file, st.Size())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return vaultclient.CertificateImportParameters{}, err
	}
	if _, _, _, err := pki.ParseCertificateAndKey(data, password); err != nil {
		if errors.Is(err, pki.ErrNoPrivateKey) {
			return vaultclient.CertificateImportParameters{}, fmt.Errorf("%s: %v; a vault certificate needs its private key: import a PFX or a PEM file with the key", file, err)
		}
		return vaultclient.CertificateImportParameters{}, pfxOpenError("--password", file, password, err)
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		if password != "" {
			return vaultclient.CertificateImportParameters{}, fmt.Errorf("%s is PEM: --password applies to PFX files only (encrypted PEM keys are not supported)", file)
		}
		return vaultclient.CertificateImportParameters{Value: string(data),
			Policy: &vaultclient.CertificatePolicy{SecretProperties: &vaultclient.SecretProperties{ContentType: vaultclient.ContentTypePEM}}}, nil
	}
	return vaultclient.CertificateImportParameters{Value: base64.StdEncoding.EncodeToString(data), Password: password,
		Policy: &vaultclient.CertificatePolicy{SecretProperties: &vaultclient.SecretProperties{ContentType: vaultclient.ContentTypePFX}}}, nil
}

type certificateCreateOptions struct {
	subject, key, contentType string
	dns, tags                 []string
	issuer                    string
	ekus                      []string
	validityMonths            int
	renewPercent, renewDays   int
	notifyDays                int
	noAutoRenew               bool
}

// policy builds the Key Vault certificate policy of `certificate create`.
func (o certificateCreateOptions) policy(cmd *cobra.Command) (*vaultclient.CertificatePolicy, error) {
	if _, err := pki.ParseSubject(o.subject); err != nil {
		return nil, fmt.Errorf("--subject: %w", err)
	}
	kp := &vaultclient.KeyProperties{Exportable: boolPtr(true), ReuseKey: boolPtr(false)}
	switch strings.ToLower(o.key) {
	case "rsa2048", "rsa3072", "rsa4096":
		kp.KeyType = "RSA"
		fmt.Sscanf(o.key[3:], "%d", &kp.KeySize)
	case "ec256":
		kp.KeyType, kp.Curve = "EC", "P-256"
	case "ec384":
		kp.KeyType, kp.Curve = "EC", "P-384"
	default:
		return nil, fmt.Errorf("--key %q: use rsa2048, rsa3072, rsa4096, ec256 or ec384", o.key)
	}
	ct := ""
	switch strings.ToLower(o.contentType) {
	case "pfx", "pkcs12", vaultclient.ContentTypePFX:
		ct = vaultclient.ContentTypePFX
	case "pem", vaultclient.ContentTypePEM:
		ct = vaultclient.ContentTypePEM
	default:
		return nil, fmt.Errorf("--content-type %q: use pfx or pem", o.contentType)
	}
	if o.validityMonths < 1 || o.validityMonths > 1200 {
		return nil, fmt.Errorf("--validity-months %d: must be between 1 and 1200", o.validityMonths)
	}
	var actions []vaultclient.LifetimeAction
	renewDaysSet, renewPercentSet := cmd.Flags().Changed("renew-days-before"), cmd.Flags().Changed("renew-at-percent")
	switch {
	case o.noAutoRenew && (renewDaysSet || renewPercentSet):
		return nil, errors.New("--no-auto-renew cannot be combined with --renew-at-percent or --renew-days-before")
	case renewDaysSet && renewPercentSet:
		return nil, errors.New("give either --renew-at-percent or --renew-days-before, not both")
	case o.noAutoRenew:
	case renewDaysSet:
		if o.renewDays < 1 || o.renewDays >= o.validityMonths*28 {
			return nil, fmt.Errorf("--renew-days-before %d: must be at least 1 and less than the validity (%d months)", o.renewDays, o.validityMonths)
		}
		actions = append(actions, vaultclient.LifetimeAction{Trigger: vaultclient.LifetimeTrigger{DaysBeforeExpiry: o.renewDays}, Action: vaultclient.Action{ActionType: "AutoRenew"}})
	default:
		if o.renewPercent < 1 || o.renewPercent > 99 {
			return nil, fmt.Errorf("--renew-at-percent %d: must be between 1 and 99", o.renewPercent)
		}
		actions = append(actions, vaultclient.LifetimeAction{Trigger: vaultclient.LifetimeTrigger{LifetimePercentage: o.renewPercent}, Action: vaultclient.Action{ActionType: "AutoRenew"}})
	}
	if o.notifyDays < 0 || o.notifyDays >= o.validityMonths*28 {
		return nil, fmt.Errorf("--notify-days-before %d: must be 0 (no notification) or less than the validity (%d months)", o.notifyDays, o.validityMonths)
	}
	if o.notifyDays > 0 {
		actions = append(actions, vaultclient.LifetimeAction{Trigger: vaultclient.LifetimeTrigger{DaysBeforeExpiry: o.notifyDays}, Action: vaultclient.Action{ActionType: "EmailContacts"}})
	}
	if actions == nil {
		actions = []vaultclient.LifetimeAction{}
	}
	xp := &vaultclient.X509Properties{Subject: o.subject, ValidityMonths: o.validityMonths}
	if len(o.dns) > 0 {
		for _, d := range o.dns {
			if d == "" || strings.ContainsAny(d, " ,/\\@") {
				return nil, fmt.Errorf("--dns %q is not a DNS name", d)
			}
		}
		xp.SANs = &vaultclient.SubjectAlternativeNames{DNSNames: o.dns}
	}
	for _, e := range o.ekus {
		switch strings.ToLower(e) {
		case "server", "serverauth":
			xp.EKUs = append(xp.EKUs, "1.3.6.1.5.5.7.3.1")
		case "client", "clientauth":
			xp.EKUs = append(xp.EKUs, "1.3.6.1.5.5.7.3.2")
		default:
			if e == "" || strings.Trim(e, "0123456789.") != "" || !strings.Contains(e, ".") {
				return nil, fmt.Errorf("--eku %q: use server, client or an object identifier such as 1.3.6.1.5.5.7.3.3", e)
			}
			xp.EKUs = append(xp.EKUs, e)
		}
	}
	issuer := o.issuer
	if issuer == "" {
		issuer = "Self"
	}
	return &vaultclient.CertificatePolicy{
		KeyProperties: kp, SecretProperties: &vaultclient.SecretProperties{ContentType: ct}, X509Properties: xp,
		LifetimeActions: actions, Issuer: &vaultclient.IssuerParameters{Name: issuer},
	}, nil
}

func boolPtr(b bool) *bool { return &b }

// registerCertificateCreateFlags adds the policy flags of `certificate
// create` to cmd, bound to o.
func registerCertificateCreateFlags(cmd *cobra.Command, o *certificateCreateOptions) {
	fl := cmd.Flags()
	fl.StringVar(&o.subject, "subject", "", `subject distinguished name, e.g. "CN=orders.example.com, O=Example" (required)`)
	fl.StringArrayVar(&o.dns, "dns", nil, "DNS subject alternative name (repeat for several)")
	fl.IntVar(&o.validityMonths, "validity-months", 12, "validity in months, 1-1200")
	fl.StringVar(&o.key, "key", "rsa2048", "key type: rsa2048, rsa3072, rsa4096, ec256 or ec384")
	fl.IntVar(&o.renewPercent, "renew-at-percent", 80, "renew automatically at this percentage of the lifetime, 1-99")
	fl.IntVar(&o.renewDays, "renew-days-before", 0, "renew automatically this many days before expiry (instead of --renew-at-percent)")
	fl.BoolVar(&o.noAutoRenew, "no-auto-renew", false, "do not renew automatically")
	fl.IntVar(&o.notifyDays, "notify-days-before", 30, "send an expiry notification this many days before expiry (0: none)")
	fl.StringVar(&o.contentType, "content-type", "pfx", "format of the certificate's secret: pfx (application/x-pkcs12) or pem (application/x-pem-file)")
	fl.StringArrayVar(&o.tags, "tag", nil, "tag NAME=VALUE (repeat for several)")
	fl.StringVar(&o.issuer, "issuer", "Self", `issuer: "Self" (self-signed) or a CA of the vault made with 'portcullis ca create'`)
	fl.StringArrayVar(&o.ekus, "eku", nil, "extended key usage: server, client or an OID (repeat for several; default server and client)")
}

func newCertificateCreateCommand(f *vaultFlags) *cobra.Command {
	var o certificateCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME --subject \"CN=…\"",
		Short: "Create a certificate in the vault, self-signed or from a vault CA",
		Long: `Create a certificate NAME in the vault from a policy: the key is generated
inside the vault and never leaves it unless downloaded. It is self-signed,
or signed by a CA of the vault with --issuer CA ('portcullis ca create'),
in which case its secret (PEM or PFX) carries the chain up to the root. The
policy is kept, so renewals produce new versions of the same kind.

Lifetime actions: by default the certificate renews itself at 80% of its
lifetime (--renew-at-percent, or --renew-days-before N; --no-auto-renew
turns it off), and a notification is sent 30 days before expiry
(--notify-days-before, 0 for none). The vault issues the certificate in
the background, as Key Vault does (a creation operation, inProgress then
completed); the command follows the operation until the certificate is
issued, then prints it, or says why the operation failed.`,
		Example: `  portcullis certificate create orders-tls --subject "CN=orders.example.com" --dns orders.example.com --dns orders
  portcullis certificate create gw-client --subject "CN=gw-client, O=Example" --key ec256 --validity-months 6 --renew-days-before 30
  portcullis certificate create legacy --subject "CN=legacy" --key rsa4096 --content-type pem --no-auto-renew -o json
  portcullis certificate create orders-api --issuer issuing-ca --subject "CN=orders.internal" --dns orders.internal --eku server --key ec256`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := o.policy(cmd)
			if err != nil {
				return err
			}
			tagMap, err := parseTags(o.tags)
			if err != nil {
				return err
			}
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				ctx := cmd.Context()
				op, err := c.CreateCertificate(ctx, f.vault, args[0], vaultclient.CertificateCreateParameters{Policy: pol, Tags: tagMap})
				if err != nil {
					return err
				}
				wctx, cancel := context.WithTimeout(ctx, certificateWaitTimeout)
				defer cancel()
				if _, err := c.WaitCertificateOperation(wctx, f.vault, args[0], op, certificatePollInterval); err != nil {
					return err
				}
				cert, err := c.GetCertificate(ctx, f.vault, args[0], "")
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				_, version := objectName(cert.ID)
				p.linef("created certificate %s version %s", args[0], version)
				return showCertificate(p, cert)
			})
		},
	}
	registerCertificateCreateFlags(cmd, &o)
	_ = cmd.MarkFlagRequired("subject")
	return cmd
}

func newCertificateShowCommand(f *vaultFlags) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "show NAME [--version ID]",
		Short: "Show a certificate and its policy",
		Long: `Show certificate NAME (the newest version unless --version): subject,
issuer, DNS names, validity, SHA-1 thumbprint, policy and lifetime actions,
and the ids of its secret and key. The private key is not shown; see
'certificate download'.`,
		Example: `  portcullis certificate show orders-tls
  portcullis certificate show orders-tls --version 3f1c0b7e9a2d4c5f8e6a1b2c3d4e5f60 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cert, err := c.GetCertificate(cmd.Context(), f.vault, args[0], version)
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				return showCertificate(p, cert)
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "version id (default: the newest)")
	return cmd
}

func certificateRows(cs []vaultclient.Certificate, byVersion bool) [][]string {
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		name, version := objectName(c.ID)
		col := name
		if byVersion {
			col = version
		}
		a := c.Attributes
		if a == nil {
			a = &vaultclient.Attributes{}
		}
		rows = append(rows, []string{col, thumbprintHex(c.X5T), enabledText(a), unixWhen(a.NotBefore), unixWhen(a.Expires), unixWhen(a.Created)})
	}
	return rows
}

func newCertificateListCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the certificates of the vault",
		Long:  "List the certificates of the vault with the thumbprint and validity of their newest version.",
		Example: `  portcullis certificate list
  portcullis certificate list --vault payments -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cs, err := c.ListCertificates(cmd.Context(), f.vault)
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, cs, func(c vaultclient.Certificate) json.RawMessage { return c.Raw })
				}
				return p.table([]string{"NAME", "THUMBPRINT", "ENABLED", "NOT BEFORE", "EXPIRES", "CREATED"}, certificateRows(cs, false))
			})
		},
	}
}

func newCertificateVersionsCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a certificate",
		Long:  "List every version of certificate NAME, oldest first: thumbprint, enabled, validity, creation time.",
		Example: `  portcullis certificate versions orders-tls
  portcullis certificate versions orders-tls -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cs, err := c.ListCertificateVersions(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return rawList(p, cs, func(c vaultclient.Certificate) json.RawMessage { return c.Raw })
				}
				sort.SliceStable(cs, func(i, j int) bool { return created(cs[i].Attributes) < created(cs[j].Attributes) })
				return p.table([]string{"VERSION", "THUMBPRINT", "ENABLED", "NOT BEFORE", "EXPIRES", "CREATED"}, certificateRows(cs, true))
			})
		},
	}
}

type certificateDownloadOptions struct {
	format, out, version, password string
	force                          bool
}

func newCertificateDownloadCommand(f *vaultFlags) *cobra.Command {
	var o certificateDownloadOptions
	cmd := &cobra.Command{
		Use:   "download NAME --format cer|pem|pfx --out FILE",
		Short: "Download a certificate as .cer, .pem or .pfx",
		Long: `Download certificate NAME (the newest version unless --version) to FILE:

  cer  the certificate alone, DER (mode 0644)
  pem  the private key (PKCS#8) and the certificate with its chain, PEM
       (mode 0600; the certificate alone when the key is not exportable)
  pfx  key, certificate and chain in PKCS#12 (mode 0600). Key Vault
       delivers it without a password; with --password the file is
       re-encoded (AES-256) under that password ("-" reads it from standard
       input).

pem and pfx read the certificate's secret, so they need a role that may read
secrets (Key Vault Certificate User, Secrets User or Administrator). An
existing FILE is not overwritten unless --force.`,
		Example: `  portcullis certificate download orders-tls --format pem --out orders-tls.pem
  portcullis certificate download gw-client --format pfx --out gw-client.pfx --password - < pw.txt
  portcullis certificate download orders-tls --format cer --out orders-tls.cer --version 3f1c0b7e9a2d4c5f8e6a1b2c3d4e5f60`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return downloadCertificate(cmd, f, args[0], o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.format, "format", "", "file format: cer, pem or pfx (required)")
	fl.StringVar(&o.out, "out", "", "file to write (required)")
	fl.StringVar(&o.version, "version", "", "version id (default: the newest)")
	fl.StringVar(&o.password, "password", "", `protect the .pfx with this password ("-" reads it from standard input)`)
	fl.BoolVar(&o.force, "force", false, "overwrite FILE if it exists")
	_ = cmd.MarkFlagRequired("format")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func downloadCertificate(cmd *cobra.Command, f *vaultFlags, name string, o certificateDownloadOptions) error {
	format := strings.ToLower(strings.TrimPrefix(o.format, "."))
	if format != "cer" && format != "pem" && format != "pfx" {
		return fmt.Errorf("--format %q: use cer, pem or pfx", o.format)
	}
	if strings.TrimSpace(o.out) == "" {
		return errors.New("--out: give the file to write")
	}
	if o.password != "" && format != "pfx" {
		return fmt.Errorf("--password applies to --format pfx only")
	}
	if !o.force {
		if _, err := os.Lstat(o.out); err == nil {
			return fmt.Errorf("%s already exists: choose another --out or add --force to overwrite", o.out)
		}
	}
	pw, err := readPassword(cmd, o.password)
	if err != nil {
		return err
	}
	return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
		ctx := cmd.Context()
		cert, err := c.GetCertificate(ctx, f.vault, name, o.version)
		if err != nil {
			return err
		}
		_, version := objectName(cert.ID)
		var data []byte
		mode := fs.FileMode(0o600)
		what := ""
		switch format {
		case "cer":
			if len(cert.CER) == 0 {
				return fmt.Errorf("certificate %s version %s has no cer field; the server's answer is incomplete", name, version)
			}
			data, mode, what = cert.CER, 0o644, "certificate (DER)"
		default:
			sec, err := c.GetSecret(ctx, f.vault, name, version)
			if err != nil {
				return err
			}
			data, what, err = certificateFileFromSecret(cert, sec, format, pw)
			if err != nil {
				return fmt.Errorf("certificate %s: %w", name, err)
			}
			if format == "pem" && !bytes.Contains(data, []byte("PRIVATE KEY")) {
				mode = 0o644
			}
		}
		if err := writeNewFile(o.out, data, mode, o.force); err != nil {
			return err
		}
		if p.json {
			return p.JSON(map[string]any{"file": o.out, "format": format, "id": cert.ID, "x5t": cert.X5T, "mode": fmt.Sprintf("%04o", mode)})
		}
		p.linef("wrote %s: %s of certificate %s version %s (mode %04o)", o.out, what, name, version, mode)
		if format == "pfx" && pw == "" {
			p.linef("the PFX has no password (as Key Vault delivers it); protect the file, or download again with --password")
		}
		return nil
	})
}

// certificateFileFromSecret turns a certificate's secret (base64 PFX or
// PEM) into a PEM or PFX file.
func certificateFileFromSecret(cert vaultclient.Certificate, sec vaultclient.Secret, format, password string) ([]byte, string, error) {
	var raw []byte
	isPEM := strings.EqualFold(sec.ContentType, vaultclient.ContentTypePEM) || strings.Contains(sec.Value, "-----BEGIN ")
	if isPEM {
		raw = []byte(sec.Value)
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sec.Value))
		if err != nil {
			return nil, "", fmt.Errorf("its secret (content type %q) is neither PEM nor base64 PKCS#12", sec.ContentType)
		}
		raw = b
	}
	leaf, chain, key, err := pki.ParseCertificateAndKey(raw, "")
	if errors.Is(err, pki.ErrNoPrivateKey) {
		if format == "pfx" {
			return nil, "", errors.New("its private key is not exportable (the policy says so); download --format cer or pem for the certificate alone")
		}
		c := x509Of(cert)
		if c == nil {
			return nil, "", errors.New("the server sent no certificate")
		}
		return pki.EncodeCertificatePEM(c), "certificate only (the key is not exportable), PEM", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("its secret cannot be read as a certificate with its key: %w", err)
	}
	switch format {
	case "pem":
		keyPEM, err := pki.EncodePrivateKeyPEM(key)
		if err != nil {
			return nil, "", err
		}
		return append(keyPEM, pki.EncodeCertificatePEM(append([]*x509.Certificate{leaf}, chain...)...)...), "private key and certificate chain, PEM", nil
	}
	if !isPEM && password == "" {
		return raw, "PKCS#12 without password", nil
	}
	pfx, err := pki.EncodePFX(leaf, key, chain, password)
	if err != nil {
		return nil, "", err
	}
	if password == "" {
		return pfx, "PKCS#12 without password", nil
	}
	return pfx, "PKCS#12 protected by the given password", nil
}

func newCertificateDeleteCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a certificate (recoverable until purged)",
		Long: `Soft-delete certificate NAME with all its versions, its secret and its key.
It stays recoverable for the vault's retention period ('certificate recover
NAME'); meanwhile its name cannot be reused. A certificate that other
Portcullis configuration references cannot be deleted.`,
		Example: `  portcullis certificate delete old-client
  portcullis certificate delete old-client -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cert, err := c.DeleteCertificate(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				deletedHint(p, "certificate", args[0], cert.Deletion)
				return nil
			})
		},
	}
}

func newCertificateRecoverCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "recover NAME",
		Short: "Recover a deleted certificate",
		Long:  "Recover the deleted certificate NAME with all its versions, its secret and its key.",
		Example: `  portcullis certificate recover old-client
  portcullis certificate recover old-client -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				cert, err := c.RecoverCertificate(cmd.Context(), f.vault, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.rawJSON(cert.Raw)
				}
				p.linef("recovered certificate %s", args[0])
				return showCertificate(p, cert)
			})
		},
	}
}

func newCertificatePurgeCommand(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Permanently remove a deleted certificate",
		Long: `Permanently remove the deleted certificate NAME, its versions, secret and
key; this cannot be undone. Refused while the vault's purge protection
holds. The certificate must be deleted first.`,
		Example: `  portcullis certificate delete old-client && portcullis certificate purge old-client`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *vaultclient.Client, p *printer) error {
				if err := c.PurgeCertificate(cmd.Context(), f.vault, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("purged certificate %s", args[0])
				}
				return nil
			})
		},
	}
}
