package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/pki"
)

// maxCertDays bounds --days (about 100 years).
const maxCertDays = 36500

func newCertCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "cert",
		Short: "Create certificates locally (no server needed)",
		Long: `Create self-signed client certificates for certificate authentication,
entirely on this machine: nothing is sent to a server. Register the public
part with 'portcullis app cert add APP NAME.cer'.`,
		Example: `  portcullis cert create --subject "CN=orders-client" --out orders-client`,
	})
	cmd.AddCommand(newCertCreateCommand())
	return cmd
}

type certCreateOptions struct {
	subject, out, key, password string
	days                        int
	force                       bool
}

func newCertCreateCommand() *cobra.Command {
	var o certCreateOptions
	cmd := &cobra.Command{
		Use:   "create --subject \"CN=…\" --out NAME",
		Short: "Create a self-signed certificate: NAME.cer, NAME.pem and NAME.pfx",
		Long: `Create a new key and a self-signed certificate for it (usable for client and
server authentication) and write:

  NAME.cer  the certificate, DER: register it with 'portcullis app cert add'
  NAME.pem  the certificate and its PKCS#8 private key, mode 0600
  NAME.pfx  both in a password-protected PKCS#12 file (AES-256), mode 0600

Without --password a strong random PFX password is generated and printed once;
--password - reads it from standard input. Passing it on the command line makes it visible to other local users
(ps) and in shell history. Existing files are not overwritten unless --force.
The SHA-1 and SHA-256 thumbprints (hex; the SHA-256 one is what pins of
client certificates, such as examples/connector-api's --pin, name) and the
x5t#S256 value are printed for reference.`,
		Example: `  portcullis cert create --subject "CN=orders-client" --out orders-client
  portcullis cert create --subject "CN=gw, O=Example, C=DE" --out certs/gw --days 730 --key ec256
  portcullis app cert add orders-client orders-client.cer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return createCertificate(cmd, o, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.subject, "subject", "", `subject distinguished name, e.g. "CN=orders-client, O=Example" (required)`)
	fl.StringVar(&o.out, "out", "", "base name of the files to write, e.g. certs/orders-client (required)")
	fl.IntVar(&o.days, "days", 365, "validity in days")
	fl.StringVar(&o.key, "key", "rsa2048", "key type: rsa2048, rsa3072, rsa4096, ec256 or ec384 (RSA works with every client library)")
	fl.StringVar(&o.password, "password", "", `password of the .pfx file ("-" reads it from standard input; default: generate one and print it)`)
	fl.BoolVar(&o.force, "force", false, "overwrite existing files")
	_ = cmd.MarkFlagRequired("subject")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func createCertificate(cmd *cobra.Command, o certCreateOptions, now time.Time) error {
	subject, err := pki.ParseSubject(o.subject)
	if err != nil {
		return fmt.Errorf("--subject: %w", err)
	}
	kt, err := pki.ParseKeyType(o.key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if o.days <= 0 || o.days > maxCertDays {
		return fmt.Errorf("--days %d: must be between 1 and %d", o.days, maxCertDays)
	}
	if strings.TrimSpace(o.out) == "" {
		return errors.New("--out: give the base name of the files to write, e.g. orders-client")
	}
	files := []string{o.out + ".cer", o.out + ".pem", o.out + ".pfx"}
	if !o.force {
		var existing []string
		for _, f := range files {
			if _, err := os.Lstat(f); err == nil {
				existing = append(existing, f)
			}
		}
		if len(existing) > 0 {
			return fmt.Errorf("%s already exist%s: choose another --out or add --force to overwrite", strings.Join(existing, ", "), map[bool]string{true: "s", false: ""}[len(existing) == 1])
		}
	}
	if o.password == "-" {
		pw, err := readPassword(cmd, o.password)
		if err != nil {
			return err
		}
		if pw == "" {
			return errors.New("--password -: standard input is empty; pipe the PFX password in, or leave --password out to generate one")
		}
		o.password = pw
	}
	generated := o.password == ""
	if generated {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		o.password = base64.RawURLEncoding.EncodeToString(b)
	}

	key, err := pki.GenerateKey(kt)
	if err != nil {
		return err
	}
	cert, err := pki.SelfSigned(subject, key, time.Duration(o.days)*24*time.Hour, now)
	if err != nil {
		return err
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return err
	}
	pfx, err := pki.EncodePFX(cert, key, nil, o.password)
	if err != nil {
		return err
	}
	contents := []struct {
		data []byte
		mode fs.FileMode
	}{
		{cert.Raw, 0o644},
		{append(pki.EncodeCertificatePEM(cert), keyPEM...), 0o600},
		{pfx, 0o600},
	}
	var written []string
	for i, c := range contents {
		if err := writeNewFile(files[i], c.data, c.mode, o.force); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		written = append(written, files[i])
	}

	out := cmd.OutOrStdout()
	p := &printer{w: out}
	p.linef("wrote %s (certificate, DER), %s (certificate and private key, mode 0600), %s (PKCS#12, mode 0600)", files[0], files[1], files[2])
	if err := p.fields("Subject", cert.Subject.String(), "Key", string(kt),
		"Not before", when(cert.NotBefore), "Not after", when(cert.NotAfter),
		"SHA-1 thumbprint", pki.ThumbprintSHA1Hex(cert), "SHA-256 thumbprint", sha256Hex(cert), "x5t#S256", pki.X5TS256(cert)); err != nil {
		return err
	}
	if generated {
		p.linef("")
		p.linef("PFX password (generated; shown only this once, store it safely): %s", o.password)
	}
	p.linef("")
	p.linef("Register it: portcullis app cert add APP %s", files[0])
	return nil
}

// writeNewFile writes data to path with mode; unless overwrite, it fails if
// path exists (O_EXCL, so a file appearing meanwhile is not clobbered).
func writeNewFile(path string, data []byte, mode fs.FileMode, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: choose another --out or add --force to overwrite", path)
		}
		return err
	}
	if overwrite {
		// An existing file keeps its mode on O_TRUNC; a key must not stay
		// world-readable.
		if err := f.Chmod(mode); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sha256Hex is the SHA-256 thumbprint of cert in upper-case hex, the form
// certificate pins take.
func sha256Hex(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
