package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// TestVaultCommands_RefuseBadFlagsBeforeContactingAServer runs each command
// without any server or credential: the flag error must come first and
// name the flag and the fix.
func TestVaultCommands_RefuseBadFlagsBeforeContactingAServer(t *testing.T) {
	dir := isolate(t)
	notUTF8 := filepath.Join(dir, "bin")
	os.WriteFile(notUTF8, []byte{0xff, 0xfe, 0x00}, 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat("x", maxSecretValueBytes+1)), 0o600)
	existing := filepath.Join(dir, "exists.pem")
	os.WriteFile(existing, []byte("x"), 0o600)
	junk := filepath.Join(dir, "junk.txt")
	os.WriteFile(junk, []byte("not a key"), 0o600)

	// A local certificate for the import checks.
	if code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=c", "--out", filepath.Join(dir, "c"), "--password", "right", "--key", "ec256"); code != 0 {
		t.Fatalf("cert create: %s", errOut)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"secret set without value", []string{"secret", "set", "n"}, "no value: give --value"},
		{"secret set with value and file", []string{"secret", "set", "n", "--value", "a", "--file", "f"}, "either --value or --file"},
		{"secret set bad tag", []string{"secret", "set", "n", "--value", "a", "--tag", "novalue"}, `--tag "novalue": use NAME=VALUE`},
		{"secret set duplicate tag", []string{"secret", "set", "n", "--value", "a", "--tag", "a=1", "--tag", "a=2"}, "given twice"},
		{"secret set bad expires", []string{"secret", "set", "n", "--value", "a", "--expires", "soon"}, `--expires "soon"`},
		{"secret set bad not-before", []string{"secret", "set", "n", "--value", "a", "--not-before", "tomorrow"}, `--not-before "tomorrow"`},
		{"secret set expiry before start", []string{"secret", "set", "n", "--value", "a", "--not-before", "2031-01-01", "--expires", "2030-01-01"}, "--expires must be after --not-before"},
		{"secret set binary file", []string{"secret", "set", "n", "--file", notUTF8}, "not UTF-8"},
		{"secret set big file", []string{"secret", "set", "n", "--file", big}, "at most 25600 bytes"},
		{"secret set missing file", []string{"secret", "set", "n", "--file", filepath.Join(dir, "nope")}, "--file"},
		{"secret show bad output", []string{"secret", "show", "n", "-o", "yaml"}, `--output "yaml"`},
		{"secret show two names", []string{"secret", "show", "a", "b"}, "accepts 1 arg"},
		{"certificate create without subject", []string{"certificate", "create", "c"}, `"subject" not set`},
		{"certificate create bad subject", []string{"certificate", "create", "c", "--subject", "nonsense"}, "--subject"},
		{"certificate create bad key", []string{"certificate", "create", "c", "--subject", "CN=c", "--key", "dsa"}, `--key "dsa"`},
		{"certificate create bad content type", []string{"certificate", "create", "c", "--subject", "CN=c", "--content-type", "der"}, `--content-type "der"`},
		{"certificate create both triggers", []string{"certificate", "create", "c", "--subject", "CN=c", "--renew-at-percent", "70", "--renew-days-before", "10"}, "not both"},
		{"certificate create no renew with trigger", []string{"certificate", "create", "c", "--subject", "CN=c", "--no-auto-renew", "--renew-days-before", "10"}, "--no-auto-renew cannot be combined"},
		{"certificate create percent out of range", []string{"certificate", "create", "c", "--subject", "CN=c", "--renew-at-percent", "100"}, "between 1 and 99"},
		{"certificate create renew beyond validity", []string{"certificate", "create", "c", "--subject", "CN=c", "--validity-months", "1", "--renew-days-before", "40"}, "less than the validity"},
		{"certificate create validity", []string{"certificate", "create", "c", "--subject", "CN=c", "--validity-months", "0"}, "--validity-months 0"},
		{"certificate create bad dns", []string{"certificate", "create", "c", "--subject", "CN=c", "--dns", "a b"}, `--dns "a b"`},
		{"certificate download bad format", []string{"certificate", "download", "c", "--format", "p7b", "--out", "x"}, `--format "p7b"`},
		{"certificate download password with pem", []string{"certificate", "download", "c", "--format", "pem", "--out", "x", "--password", "p"}, "--password applies to --format pfx only"},
		{"certificate download existing file", []string{"certificate", "download", "c", "--format", "pem", "--out", existing}, "already exists"},
		{"certificate download no out", []string{"certificate", "download", "c", "--format", "pem"}, `"out" not set`},
		{"certificate import wrong password", []string{"certificate", "import", "c", filepath.Join(dir, "c.pfx"), "--password", "wrong"}, "PFX password is wrong"},
		{"certificate import DER", []string{"certificate", "import", "c", filepath.Join(dir, "c.cer")}, "needs its private key"},
		{"certificate import PEM with password", []string{"certificate", "import", "c", filepath.Join(dir, "c.pem"), "--password", "x"}, "--password applies to PFX files only"},
		{"certificate import junk", []string{"certificate", "import", "c", junk}, "junk.txt"},
		{"key create RSA with curve", []string{"key", "create", "k", "--curve", "P-384"}, "--curve applies to EC keys"},
		{"key create EC with size", []string{"key", "create", "k", "--kty", "EC", "--size", "2048"}, "--size applies to RSA and oct keys"},
		{"key create bad size", []string{"key", "create", "k", "--size", "1024"}, "--size 1024"},
		{"key create bad curve", []string{"key", "create", "k", "--kty", "EC", "--curve", "P-512"}, `--curve "P-512"`},
		{"key create bad kty", []string{"key", "create", "k", "--kty", "DSA"}, `--kty "DSA"`},
		{"key create oct bad size", []string{"key", "create", "k", "--kty", "oct", "--size", "2048"}, "oct (AES) keys are 128, 192 or 256 bits"},
		{"key create oct with curve", []string{"key", "create", "k", "--kty", "oct", "--curve", "P-256"}, "--curve applies to EC keys"},
		{"key rotation-policy set two rotations", []string{"key", "rotation-policy", "set", "k", "--rotate-after", "P90D", "--rotate-before-expiry", "P30D"}, "give one"},
		{"key create bad op", []string{"key", "create", "k", "--ops", "sign,launch"}, `--ops "launch"`},
		{"key import not PEM", []string{"key", "import", "k", junk}, "no PEM data"},
		{"key import certificate only", []string{"key", "import", "k", filepath.Join(dir, "c.cer")}, "no PEM data"},
		{"vault create bad retention", []string{"vault", "create", "v1", "--retention-days", "5"}, "--retention-days 5"},
		{"vault update nothing", []string{"vault", "update", "v1"}, "nothing to change"},
		{"vault update purge off", []string{"vault", "update", "v1", "--purge-protection=false"}, "cannot be turned off"},
		{"vault audit limit", []string{"vault", "audit", "--limit", "0"}, "--limit 0"},
		{"vault role assign bad object", []string{"vault", "role", "assign", "--app", "a", "--role", "Secrets User", "--object", "vaults/x"}, `--object "vaults/x"`},
		{"vault role assign no role", []string{"vault", "role", "assign", "--app", "a"}, `"role" not set`},
		{"unknown subcommand", []string{"secret", "sett"}, "did you mean set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := exec(t, "", tc.args...)
			if code != 1 || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q on error", out)
			}
		})
	}
}

func TestVaultCommands_WithoutCredentialNameWhereTheyLooked(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{{"secret", "list"}, {"vault", "list"}, {"key", "show", "k"}} {
		code, _, errOut := exec(t, "", args...)
		if code != 1 || !strings.Contains(errOut, "admin.json") || !strings.Contains(errOut, "PORTCULLIS_CLIENT_ID") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestCertificateCreate_PolicyIsKeyVaultsShape(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"defaults", []string{"--subject", "CN=a"},
			`{"key_props":{"exportable":true,"kty":"RSA","key_size":2048,"reuse_key":false},"secret_props":{"contentType":"application/x-pkcs12"},"x509_props":{"subject":"CN=a","validity_months":12},"lifetime_actions":[{"trigger":{"lifetime_percentage":80},"action":{"action_type":"AutoRenew"}},{"trigger":{"days_before_expiry":30},"action":{"action_type":"EmailContacts"}}],"issuer":{"name":"Self"}}`},
		{"ec, pem, days, sans", []string{"--subject", "CN=b", "--key", "ec384", "--content-type", "pem", "--renew-days-before", "20", "--notify-days-before", "0", "--dns", "b.example", "--dns", "b", "--validity-months", "3"},
			`{"key_props":{"exportable":true,"kty":"EC","reuse_key":false,"crv":"P-384"},"secret_props":{"contentType":"application/x-pem-file"},"x509_props":{"subject":"CN=b","sans":{"dns_names":["b.example","b"]},"validity_months":3},"lifetime_actions":[{"trigger":{"days_before_expiry":20},"action":{"action_type":"AutoRenew"}}],"issuer":{"name":"Self"}}`},
		{"no renewal, rsa4096", []string{"--subject", "CN=c", "--key", "rsa4096", "--no-auto-renew", "--notify-days-before", "0"},
			`{"key_props":{"exportable":true,"kty":"RSA","key_size":4096,"reuse_key":false},"secret_props":{"contentType":"application/x-pkcs12"},"x509_props":{"subject":"CN=c","validity_months":12},"issuer":{"name":"Self"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o certificateCreateOptions
			cmd := &cobra.Command{Use: "x"}
			registerCertificateCreateFlags(cmd, &o)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			pol, err := o.policy(cmd)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(pol)
			if string(b) != tc.want {
				t.Errorf("policy\n got %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestReadSecretValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "v")
	os.WriteFile(file, []byte("line1\nline2\n"), 0o600)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"value", []string{"--value", "abc"}, "", "abc"},
		{"stdin drops one trailing newline", []string{"--value", "-"}, "abc\n\n", "abc\n"},
		{"stdin CRLF", []string{"--value", "-"}, "abc\r\n", "abc"},
		{"file exactly", []string{"--file", file}, "", "line1\nline2\n"},
		{"file from stdin as is", []string{"--file", "-"}, "abc\n", "abc\n"},
		{"empty value", []string{"--value", ""}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var value, f string
			cmd := &cobra.Command{Use: "x"}
			cmd.Flags().StringVar(&value, "value", "", "")
			cmd.Flags().StringVar(&f, "file", "", "")
			cmd.SetIn(strings.NewReader(tc.stdin))
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := readSecretValue(cmd, value, f)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct{ in, want string }{
		{"90d", "2030-04-01T00:00:00Z"},
		{"1y", "2031-01-01T00:00:00Z"},
		{"36h", "2030-01-02T12:00:00Z"},
		{"2030-06-30", "2030-06-30T00:00:00Z"},
		{"2030-06-30T08:00:00+02:00", "2030-06-30T06:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseExpiry(tc.in, now)
			if err != nil || got.Format(time.RFC3339) != tc.want {
				t.Errorf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := parseExpiry("-3d", now); err == nil {
		t.Error("a negative validity was accepted")
	}
}

func TestCertificateFileFromSecret(t *testing.T) {
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pki.ParseSubject("CN=dl")
	cert, err := pki.SelfSigned(subject, key, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pfx, _ := pki.EncodePFX(cert, key, nil, "")
	keyPEM, _ := pki.EncodePrivateKeyPEM(key)
	bundle := vaultclient.Certificate{CER: cert.Raw}
	pfxSecret := vaultclient.Secret{ContentType: vaultclient.ContentTypePFX, Value: encodeStd(pfx)}
	pemSecret := vaultclient.Secret{ContentType: vaultclient.ContentTypePEM, Value: string(keyPEM) + string(pki.EncodeCertificatePEM(cert))}
	certOnly := vaultclient.Secret{ContentType: vaultclient.ContentTypePEM, Value: string(pki.EncodeCertificatePEM(cert))}

	tests := []struct {
		name, format, password string
		sec                    vaultclient.Secret
		wantKey                bool
		wantErr                string
	}{
		{"pfx secret to pem", "pem", "", pfxSecret, true, ""},
		{"pem secret to pem", "pem", "", pemSecret, true, ""},
		{"pfx secret to pfx as is", "pfx", "", pfxSecret, true, ""},
		{"pfx secret to pfx with password", "pfx", "pw-1", pfxSecret, true, ""},
		{"pem secret to pfx with password", "pfx", "pw-2", pemSecret, true, ""},
		{"no exportable key to pem", "pem", "", certOnly, false, ""},
		{"no exportable key to pfx", "pfx", "", certOnly, false, "not exportable"},
		{"garbage", "pem", "", vaultclient.Secret{ContentType: vaultclient.ContentTypePFX, Value: "%%%"}, false, "neither PEM nor base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, _, err := certificateFileFromSecret(bundle, tc.sec, tc.format, tc.password)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantKey {
				c, err := pki.ParseCertificateFile(data, "")
				if err != nil || !c.Equal(cert) || strings.Contains(string(data), "PRIVATE KEY") {
					t.Fatalf("certificate-only file: %v", err)
				}
				return
			}
			leaf, _, k, err := pki.ParseCertificateAndKey(data, tc.password)
			if err != nil || !leaf.Equal(cert) || k == nil {
				t.Fatalf("file does not hold the certificate and key: %v", err)
			}
		})
	}
}

func encodeStd(b []byte) string {
	out, _ := json.Marshal(b) // []byte marshals as standard base64
	return strings.Trim(string(out), `"`)
}

func TestRoleName_AddsTheKeyVaultPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"Secrets User":               "Key Vault Secrets User",
		"key vault administrator":    "key vault administrator",
		" Key Vault Crypto User ":    "Key Vault Crypto User",
		"Certificates Officer":       "Key Vault Certificates Officer",
		"Key Vault Certificate User": "Key Vault Certificate User",
		"":                           "",
	} {
		if got := roleName(in); got != want {
			t.Errorf("roleName(%q) = %q, want %q", in, got, want)
		}
	}
}
