package main

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/portcullis/portcullis/internal/pki"
)

// The vault commands against a real dev server: the Key Vault API through
// the challenge and a token from the server's own token service, and the
// admin API's vault routes.

// wantFailure runs the CLI, expects exit 1 and returns stderr.
func (s *devServer) wantFailure(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, _, errOut := s.cli(t, stdin, args...)
	if code != 1 || !strings.HasPrefix(errOut, "error: ") {
		t.Fatalf("portcullis %s: exit %d, stderr %q; want exit 1 with an error", strings.Join(args, " "), code, errOut)
	}
	return errOut
}

func TestE2E_VaultSecretsThroughCLI(t *testing.T) {
	s := startDevServer(t)
	const v1, v2 = "first-Secret-value-9f3k", "second-Secret-value-2m8q"
	s.addSecret(v1)
	s.addSecret(v2)

	set := s.okJSON(t, v1+"\n", "secret", "set", "db-password", "--value", "-", "--tag", "env=dev", "--content-type", "text/plain")
	if set["value"] != v1 || !strings.Contains(str(set["id"]), "/secrets/db-password/") || set["contentType"] != "text/plain" {
		t.Fatalf("set: %v", set)
	}
	for _, f := range []string{"id", "value", "attributes", "tags", "contentType"} {
		if _, ok := set[f]; !ok {
			t.Errorf("secret JSON lacks Key Vault field %q: %v", f, set)
		}
	}
	_, firstVersion := objectName(str(set["id"]))

	file := filepath.Join(s.dir, "v2.txt")
	if err := os.WriteFile(file, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(t, "", "secret", "set", "db-password", "--file", file, "--expires", "90d")
	if out := s.ok(t, "", "secret", "show", "db-password"); !strings.Contains(out, v2) || strings.Contains(out, v1) {
		t.Errorf("show (newest) =\n%s", out)
	}
	if got := s.okJSON(t, "", "secret", "show", "db-password", "--version", firstVersion); got["value"] != v1 {
		t.Errorf("show --version %s: %v", firstVersion, got)
	}
	versions := values(t, "secret versions", s.okJSON(t, "", "secret", "versions", "db-password"))
	if len(versions) != 2 {
		t.Fatalf("versions: %v", versions)
	}
	for _, v := range versions {
		if _, has := v["value"]; has {
			t.Errorf("a version listing shows a value: %v", v)
		}
	}
	if out := s.ok(t, "", "secret", "list"); !strings.Contains(out, "db-password") || strings.Contains(out, v2) {
		t.Errorf("list:\n%s", out)
	}

	del := s.okJSON(t, "", "secret", "delete", "db-password")
	if str(del["recoveryId"]) == "" || del["scheduledPurgeDate"] == nil {
		t.Errorf("delete: %v", del)
	}
	if e := s.wantFailure(t, "", "secret", "show", "db-password"); !strings.Contains(e, "SecretNotFound") {
		t.Errorf("show after delete: %s", e)
	}
	if e := s.wantFailure(t, "x\n", "secret", "set", "db-password", "--value", "-"); !strings.Contains(e, "deleted") {
		t.Errorf("set over a deleted secret: %s", e)
	}
	s.ok(t, "", "secret", "recover", "db-password")
	if got := s.okJSON(t, "", "secret", "show", "db-password"); got["value"] != v2 {
		t.Errorf("after recover: %v", got)
	}
	s.ok(t, "", "secret", "delete", "db-password")
	if out := s.ok(t, "", "secret", "purge", "db-password"); !strings.Contains(out, "purged secret db-password") {
		t.Errorf("purge: %q", out)
	}
	if e := s.wantFailure(t, "", "secret", "recover", "db-password"); !strings.Contains(e, "not found") {
		t.Errorf("recover after purge: %s", e)
	}
	if e := s.wantFailure(t, "", "secret", "show", "bad_name"); !strings.Contains(e, "invalid name") {
		t.Errorf("invalid name: %s", e)
	}
}

func TestE2E_VaultCertificatesAndKeysThroughCLI(t *testing.T) {
	s := startDevServer(t)
	created := s.okJSON(t, "", "certificate", "create", "orders-tls", "--subject", "CN=orders.example.com", "--dns", "orders.example.com", "--validity-months", "6")
	for _, f := range []string{"id", "kid", "sid", "x5t", "cer", "attributes", "policy"} {
		if _, ok := created[f]; !ok {
			t.Errorf("certificate JSON lacks Key Vault field %q", f)
		}
	}
	der, err := base64.StdEncoding.DecodeString(str(created["cer"]))
	if err != nil {
		t.Fatalf("cer: %v", err)
	}

	pemFile := filepath.Join(s.dir, "orders-tls.pem")
	s.ok(t, "", "certificate", "download", "orders-tls", "--format", "pem", "--out", pemFile)
	if st, err := os.Stat(pemFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pem file: %v %v", st, err)
	}
	leaf, _, key, err := pki.ParseCertificateAndKey(mustRead(t, pemFile), "")
	if err != nil || !bytes.Equal(leaf.Raw, der) || key == nil || leaf.Subject.CommonName != "orders.example.com" || leaf.DNSNames[0] != "orders.example.com" {
		t.Fatalf("downloaded PEM: %v, %v", leaf, err)
	}
	if e := s.wantFailure(t, "", "certificate", "download", "orders-tls", "--format", "pem", "--out", pemFile); !strings.Contains(e, "--force") {
		t.Errorf("overwrite: %s", e)
	}
	cerFile := filepath.Join(s.dir, "orders-tls.cer")
	s.ok(t, "", "certificate", "download", "orders-tls", "--format", "cer", "--out", cerFile)
	if !bytes.Equal(mustRead(t, cerFile), der) {
		t.Error("the .cer is not the certificate's DER")
	}
	pfxFile := filepath.Join(s.dir, "orders-tls.pfx")
	s.ok(t, "pfx-pass-7d2\n", "certificate", "download", "orders-tls", "--format", "pfx", "--out", pfxFile, "--password", "-")
	if leaf, _, _, err := pki.ParseCertificateAndKey(mustRead(t, pfxFile), "pfx-pass-7d2"); err != nil || !bytes.Equal(leaf.Raw, der) {
		t.Fatalf("downloaded PFX: %v", err)
	}

	// Import a PFX made locally; read it back as certificate and as secret.
	s.ok(t, "", "cert", "create", "--subject", "CN=imported", "--out", filepath.Join(s.dir, "imp"), "--password", "imp-pass-3k9")
	local, err := pki.ParseCertificateFile(mustRead(t, filepath.Join(s.dir, "imp.cer")), "")
	if err != nil {
		t.Fatal(err)
	}
	if e := s.wantFailure(t, "", "certificate", "import", "imported", filepath.Join(s.dir, "imp.pfx"), "--password", "wrong"); !strings.Contains(e, "password is wrong") {
		t.Errorf("wrong password: %s", e)
	}
	imp := s.okJSON(t, "imp-pass-3k9\n", "certificate", "import", "imported", filepath.Join(s.dir, "imp.pfx"), "--password", "-")
	if imp["x5t"] != pki.X5T(local) {
		t.Errorf("imported x5t %v, want %s", imp["x5t"], pki.X5T(local))
	}
	if sec := s.okJSON(t, "", "secret", "show", "imported"); sec["contentType"] != "application/x-pkcs12" || sec["kid"] == nil {
		t.Errorf("the certificate's secret: contentType %v kid %v", sec["contentType"], sec["kid"])
	}
	if out := s.ok(t, "", "certificate", "list"); !strings.Contains(out, "imported") || !strings.Contains(out, "orders-tls") {
		t.Errorf("certificate list:\n%s", out)
	}
	if len(values(t, "certificate versions", s.okJSON(t, "", "certificate", "versions", "orders-tls"))) != 1 {
		t.Error("want one version")
	}

	// Keys.
	k := s.okJSON(t, "", "key", "create", "signing", "--kty", "EC", "--curve", "P-256", "--ops", "sign,verify")
	jwk, _ := k["key"].(map[string]any)
	if jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["d"] != nil {
		t.Errorf("created key: %v", k)
	}
	if out := s.ok(t, "", "key", "show", "signing"); !strings.Contains(out, "EC P-256") || !strings.Contains(out, "sign, verify") {
		t.Errorf("key show:\n%s", out)
	}
	imported := s.okJSON(t, "", "key", "import", "legacy", filepath.Join(s.dir, "imp.pem"))
	if jwk, _ := imported["key"].(map[string]any); jwk["kty"] != "RSA" || jwk["d"] != nil {
		t.Errorf("imported key: %v", imported)
	}
	// P-256K from an OpenSSL-style PKCS#8 file (the standard library cannot parse it).
	k256, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	k256DER, err := pki.MarshalSecp256k1PKCS8(k256)
	if err != nil {
		t.Fatal(err)
	}
	k256File := filepath.Join(s.dir, "k256.pem")
	if err := os.WriteFile(k256File, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k256DER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if jwk, _ := s.okJSON(t, "", "key", "import", "chain-signing", k256File)["key"].(map[string]any); jwk["crv"] != "P-256K" || jwk["d"] != nil {
		t.Errorf("imported P-256K key: %v", jwk)
	}
	if out := s.ok(t, "", "key", "list"); !strings.Contains(out, "signing") || !strings.Contains(out, "legacy") {
		t.Errorf("key list:\n%s", out)
	}
	s.ok(t, "", "key", "create", "signing", "--kty", "EC", "--curve", "P-384")
	if vs := values(t, "key versions", s.okJSON(t, "", "key", "versions", "signing")); len(vs) != 2 {
		t.Errorf("key versions: %d versions, want 2", len(vs))
	}
	if out := s.ok(t, "", "key", "versions", "signing"); strings.Count(out, "\n") != 3 || !strings.Contains(out, "VERSION") {
		t.Errorf("key versions table, want a header and 2 rows:\n%s", out)
	}
	if out := s.ok(t, "", "key", "delete", "legacy"); !strings.Contains(out, "portcullis key recover legacy") {
		t.Errorf("key delete does not say how to recover: %q", out)
	}
	if out := s.ok(t, "", "key", "recover", "legacy"); !strings.Contains(out, "recovered key legacy") || !strings.Contains(out, "RSA 2048") {
		t.Errorf("key recover:\n%s", out)
	}
	s.ok(t, "", "key", "delete", "legacy")
	if out := s.ok(t, "", "key", "purge", "legacy"); !strings.Contains(out, "purged key legacy") {
		t.Errorf("key purge: %q", out)
	}
	if e := s.wantFailure(t, "", "key", "recover", "legacy"); !strings.Contains(e, "not found") {
		t.Errorf("key recover after purge: %s", e)
	}

	s.ok(t, "", "certificate", "delete", "imported")
	s.ok(t, "", "certificate", "recover", "imported")
	s.ok(t, "", "certificate", "delete", "imported")
	s.ok(t, "", "certificate", "purge", "imported")
}

func TestE2E_VaultAdministrationThroughCLI(t *testing.T) {
	s := startDevServer(t)
	if vs := values(t, "vault list", s.okJSON(t, "", "vault", "list")); len(vs) != 1 || vs[0]["name"] != "default" {
		t.Fatalf("vault list: %v", vs)
	}
	created := s.okJSON(t, "", "vault", "create", "team-a", "--retention-days", "30")
	if created["name"] != "team-a" || created["softDeleteRetentionDays"] != float64(30) || !strings.HasSuffix(str(created["vaultUri"]), "/vaults/team-a") {
		t.Fatalf("vault create: %v", created)
	}
	// The creator is Key Vault Administrator of the new vault at once.
	s.addSecret("team-a-value-5h1z")
	s.ok(t, "team-a-value-5h1z\n", "secret", "set", "s1", "--vault", "team-a", "--value", "-")

	s.ok(t, "", "app", "create", "reader")
	ra := s.okJSON(t, "", "vault", "role", "assign", "--app", "reader", "--role", "Secrets User", "--vault", "team-a", "--object", "secrets/s1")
	if ra["role"] != "Key Vault Secrets User" || ra["scope"] != "secrets/s1" || ra["principalName"] != "reader" {
		t.Errorf("role assign: %v", ra)
	}
	if e := s.wantFailure(t, "", "vault", "role", "assign", "--app", "reader", "--role", "Owner", "--vault", "team-a"); !strings.Contains(e, "unknown role") {
		t.Errorf("unknown role: %s", e)
	}
	roles := values(t, "role list", s.okJSON(t, "", "vault", "role", "list", "--vault", "team-a"))
	if len(roles) != 2 || find(roles, "principalName", "reader") == nil {
		t.Errorf("role list: %v", roles)
	}
	s.ok(t, "", "vault", "role", "remove", str(ra["id"]), "--vault", "team-a")
	audit := values(t, "audit", s.okJSON(t, "", "vault", "audit", "--vault", "team-a", "--limit", "50"))
	if find(audit, "operation", "secrets/setSecret") == nil {
		t.Errorf("audit lacks the secret write: %v", audit)
	}
	for _, rec := range audit {
		if strings.Contains(rec["name"].(string)+rec["code"].(string), "team-a-value") {
			t.Errorf("audit shows a value: %v", rec)
		}
	}
	if out := s.ok(t, "", "vault", "show", "team-a"); !strings.Contains(out, "30 days") {
		t.Errorf("vault show:\n%s", out)
	}
}
