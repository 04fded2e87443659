package vault_test

import (
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestP256K_CreateSignVerifyRotateBackup(t *testing.T) {
	e := newEnv(t)
	k := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "k1", vault.KeyCreate{KeyType: "EC", Curve: "P-256K"}))
	if k.JWK.Crv != "P-256K" || len(k.JWK.X) != 32 || len(k.JWK.Y) != 32 || len(k.JWK.D) != 0 {
		t.Fatalf("created %+v", k.JWK)
	}
	digest := sha256.Sum256([]byte("to be signed"))
	sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "k1", "", "ES256K", digest[:]))
	if len(sig.Result.Bytes()) != 64 {
		t.Fatalf("signature of %d bytes", len(sig.Result.Bytes()))
	}
	if !must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "k1", "", "ES256K", digest[:], sig.Result.Bytes())) {
		t.Fatal("own signature does not verify")
	}
	bad := append([]byte(nil), sig.Result.Bytes()...)
	bad[5] ^= 1
	if must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "k1", "", "ES256K", digest[:], bad)) {
		t.Fatal("tampered signature verifies")
	}
	_, err := e.svc.Sign(e.ctx, admin, "default", "k1", "", "ES256", digest[:])
	wantErr(t, err, vault.KindBadRequest, "use ES256K")
	p256 := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "p256", vault.KeyCreate{KeyType: "EC"}))
	_, err = e.svc.Sign(e.ctx, admin, "default", p256.Name, "", "ES256K", digest[:])
	wantErr(t, err, vault.KindBadRequest, "needs curve P-256K")

	r := must[vault.Key](t)(e.svc.RotateKey(e.ctx, admin, "default", "k1"))
	if r.JWK.Crv != "P-256K" || string(r.JWK.X) == string(k.JWK.X) {
		t.Fatalf("rotated %+v", r.JWK)
	}
	blob := backupPurged(t, e, vault.Keys, "k1")
	must[vault.Key](t)(e.svc.RestoreKey(e.ctx, admin, "default", blob))
	if !must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "k1", k.Version, "ES256K", digest[:], sig.Result.Bytes())) {
		t.Fatal("a signature made before backup does not verify after restore")
	}

	// A JWK import checks d against x and y.
	_, err = e.svc.ImportKey(e.ctx, admin, "default", "mismatch", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "EC", Crv: "P-256K", D: []byte{1}, X: k.JWK.X, Y: k.JWK.Y}})
	wantErr(t, err, vault.KindBadRequest, "do not match")
	_, err = e.svc.ImportKey(e.ctx, admin, "default", "zero", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "EC", Crv: "P-256K", D: []byte{0}}})
	wantErr(t, err, vault.KindBadRequest, "not in [1, n-1]")
}

// OpenSSL, an independent secp256k1 implementation: a key it generates
// imports as PEM, and the vault's ES256K signatures verify with openssl.
func TestP256K_InteroperatesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed: the OpenSSL interoperability check of P-256K is skipped")
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		return out
	}
	keyFile, pubFile := filepath.Join(dir, "k.pem"), filepath.Join(dir, "pub.pem")
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", keyFile)
	run("pkey", "-in", keyFile, "-pubout", "-out", pubFile)
	sec1File := filepath.Join(dir, "sec1.pem")
	run("ec", "-in", keyFile, "-out", sec1File)

	e := newEnv(t)
	for _, f := range []string{keyFile, sec1File} {
		pemData, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		k := must[vault.Key](t)(e.svc.ImportKey(e.ctx, admin, "default", "from-openssl", vault.KeyImport{PEM: pemData}))
		if k.JWK.Crv != "P-256K" {
			t.Fatalf("imported %+v", k.JWK)
		}
	}
	digest := sha256.Sum256([]byte("interop"))
	sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "from-openssl", "", "ES256K", digest[:])).Result.Bytes()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	digestFile, sigFile := filepath.Join(dir, "digest"), filepath.Join(dir, "sig.der")
	if err := os.WriteFile(digestFile, digest[:], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigFile, der, 0o600); err != nil {
		t.Fatal(err)
	}
	run("pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-in", digestFile, "-sigfile", sigFile)

	// And the other way: OpenSSL's signature verifies in the vault.
	osslSig := filepath.Join(dir, "ossl.der")
	run("pkeyutl", "-sign", "-inkey", keyFile, "-in", digestFile, "-out", osslSig)
	raw, err := os.ReadFile(osslSig)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	rsBytes := make([]byte, 64)
	rs.R.FillBytes(rsBytes[:32])
	rs.S.FillBytes(rsBytes[32:])
	if !must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "from-openssl", "", "ES256K", digest[:], rsBytes)) {
		t.Fatal("OpenSSL's signature does not verify in the vault")
	}
}
