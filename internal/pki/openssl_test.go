package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl runs the openssl command line tool in dir, skipping the test when
// it is not installed.
func openssl(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, lookErr := exec.LookPath("openssl")
	if lookErr != nil {
		t.Skip("openssl is not on PATH; PFX interoperability is not checked")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func mustOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, stderr, err := openssl(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func TestEncodePFX_OpenSSLReadsIt(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		m              material
	}{
		{"ec", "P@ss word", newMaterial(t, ecKey(t))},
		{"rsa", "P@ss word", newMaterial(t, rsaKey())},
		{"empty password", "", newMaterial(t, ecKey(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pfx := mustPFX(t, tc.m.leaf, tc.m.key, []*x509.Certificate{tc.m.ca}, tc.password)
			if err := os.WriteFile(filepath.Join(dir, "f.pfx"), pfx, 0o600); err != nil {
				t.Fatal(err)
			}
			out, info, err := openssl(t, dir, "pkcs12", "-in", "f.pfx", "-passin", "pass:"+tc.password, "-nodes", "-info")
			if err != nil {
				t.Fatalf("openssl cannot read our PFX: %v\n%s", err, info)
			}
			// Modern2023: HMAC-SHA-256 MAC, PBES2/AES-256-CBC for keys and certificates.
			for _, want := range []string{"MAC: sha256", "PBES2, PBKDF2, AES-256-CBC"} {
				if !strings.Contains(info, want) {
					t.Errorf("openssl -info lacks %q:\n%s", want, info)
				}
			}
			// What OpenSSL extracted must be the same leaf, chain and key.
			leaf, chain, key, err := ParseCertificateAndKey([]byte(out), "")
			if err != nil {
				t.Fatalf("parse openssl output: %v\n%s", err, out)
			}
			if !leaf.Equal(tc.m.leaf) || len(chain) != 1 || !chain[0].Equal(tc.m.ca) || !publicKeysEqual(key.Public(), tc.m.key.Public()) {
				t.Fatalf("openssl extracted different material")
			}
			if tc.password != "" {
				if _, stderr, err := openssl(t, dir, "pkcs12", "-in", "f.pfx", "-passin", "pass:wrong", "-nodes"); err == nil {
					t.Fatalf("openssl accepted a wrong password:\n%s", stderr)
				}
			}
		})
	}
}

func TestParseCertificateAndKey_ReadsOpenSSL3PFX(t *testing.T) {
	caPEM := EncodeCertificatePEM(selfSigned(t, "extra", ecKey(t)))
	for _, tc := range []struct {
		name   string
		newkey []string
		isRSA  bool
	}{
		{"rsa", []string{"-newkey", "rsa:2048"}, true},
		{"ec", []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"req", "-x509", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=openssl-leaf/O=Test", "-days", "2"}, tc.newkey...)
			mustOpenSSL(t, dir, args...)
			mustOpenSSL(t, dir, "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-certfile", "ca.pem", "-name", "friendly", "-out", "f.pfx", "-passout", "pass:s3cret")
			pfx, err := os.ReadFile(filepath.Join(dir, "f.pfx"))
			if err != nil {
				t.Fatal(err)
			}
			leaf, chain, key, err := ParseCertificateAndKey(pfx, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != "openssl-leaf" || len(chain) != 1 || chain[0].Subject.CommonName != "extra" {
				t.Fatalf("leaf %q chain %d", leaf.Subject, len(chain))
			}
			switch key.(type) {
			case *rsa.PrivateKey:
				if !tc.isRSA {
					t.Fatalf("key %T", key)
				}
			case *ecdsa.PrivateKey:
				if tc.isRSA {
					t.Fatalf("key %T", key)
				}
			}
			// The same files as PEM, and the public part alone.
			certPEM, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
			keyPEM, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
			if l, _, _, err := ParseCertificateAndKey(append(certPEM, keyPEM...), ""); err != nil || !l.Equal(leaf) {
				t.Fatalf("openssl PEM: %v", err)
			}
			if c, err := ParseCertificateFile(pfx, "s3cret"); err != nil || !c.Equal(leaf) {
				t.Fatalf("ParseCertificateFile(openssl PFX): %v", err)
			}
			if _, _, _, err := ParseCertificateAndKey(pfx, "wrong"); err == nil || !strings.Contains(err.Error(), "PFX password is wrong") {
				t.Fatalf("wrong password: %v", err)
			}
			mustOpenSSL(t, dir, "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.cer")
			der, _ := os.ReadFile(filepath.Join(dir, "cert.cer"))
			if c, err := ParseCertificateFile(der, ""); err != nil || !c.Equal(leaf) {
				t.Fatalf("ParseCertificateFile(openssl DER): %v", err)
			}
			mustOpenSSL(t, dir, "pkcs12", "-export", "-nokeys", "-in", "cert.pem", "-out", "nokey.pfx", "-passout", "pass:s3cret")
			nokey, _ := os.ReadFile(filepath.Join(dir, "nokey.pfx"))
			if _, err := ParseCertificateFile(nokey, "s3cret"); err == nil || !strings.Contains(err.Error(), "PFX without a private key is not supported") {
				t.Fatalf("key-less PFX: %v", err)
			}
			// openssl's SHA-1 fingerprint is the Entra thumbprint.
			fp := mustOpenSSL(t, dir, "x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1")
			if want := strings.ReplaceAll(strings.TrimSpace(fp[strings.Index(fp, "=")+1:]), ":", ""); ThumbprintSHA1Hex(leaf) != want {
				t.Fatalf("thumbprint %s, openssl says %s", ThumbprintSHA1Hex(leaf), want)
			}
		})
	}
}
