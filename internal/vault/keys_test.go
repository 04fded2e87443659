package vault_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

func publicKeyOf(t *testing.T, j vault.JSONWebKey) crypto.PublicKey {
	t.Helper()
	switch j.Kty {
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(new(big.Int).SetBytes(j.E).Int64())}
	case "EC":
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[j.Crv]
		size := (curve.Params().BitSize + 7) / 8
		pt := append([]byte{4}, append(make([]byte, size-len(j.X)), j.X...)...)
		pt = append(pt, append(make([]byte, size-len(j.Y)), j.Y...)...)
		k, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("kty %q", j.Kty)
	return nil
}

func TestKeys_SignVerifyEveryAlgorithmIndependently(t *testing.T) {
	e := newEnv(t)
	rsaKey := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "rsa", vault.KeyCreate{KeyType: "RSA"}))
	p256 := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "p256", vault.KeyCreate{KeyType: "EC"}))
	p384 := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "p384", vault.KeyCreate{KeyType: "EC", Curve: "P-384"}))
	if len(rsaKey.JWK.N)*8 != 2048 || len(rsaKey.JWK.D) != 0 || len(rsaKey.JWK.KeyOps) != 6 || p256.JWK.Crv != "P-256" || p384.JWK.Crv != "P-384" || len(p384.JWK.X) != 48 {
		t.Fatalf("keys: %+v %+v %+v", rsaKey.JWK, p256.JWK, p384.JWK)
	}
	msg := []byte("the message")
	d256, d384, d512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	for _, tc := range []struct {
		alg    string
		key    vault.Key
		digest []byte
		hash   crypto.Hash
	}{
		{"RS256", rsaKey, d256[:], crypto.SHA256}, {"RS384", rsaKey, d384[:], crypto.SHA384}, {"RS512", rsaKey, d512[:], crypto.SHA512},
		{"PS256", rsaKey, d256[:], crypto.SHA256}, {"PS384", rsaKey, d384[:], crypto.SHA384}, {"PS512", rsaKey, d512[:], crypto.SHA512},
		{"ES256", p256, d256[:], crypto.SHA256}, {"ES384", p384, d384[:], crypto.SHA384},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			res := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", tc.key.Name, "", tc.alg, tc.digest))
			if res.Version != tc.key.Version {
				t.Fatalf("signed with version %s", res.Version)
			}
			sig := res.Result.Bytes()
			var err error
			switch pub := publicKeyOf(t, tc.key.JWK).(type) {
			case *rsa.PublicKey:
				if tc.alg[0] == 'P' {
					err = rsa.VerifyPSS(pub, tc.hash, tc.digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				} else {
					err = rsa.VerifyPKCS1v15(pub, tc.hash, tc.digest, sig)
				}
			case *ecdsa.PublicKey:
				n := len(sig) / 2
				if !ecdsa.Verify(pub, tc.digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
					err = errVerify
				}
			}
			if err != nil {
				t.Fatalf("independent verification: %v", err)
			}
			if ok := must[bool](t)(e.svc.Verify(e.ctx, admin, "default", tc.key.Name, "", tc.alg, tc.digest, sig)); !ok {
				t.Fatal("vault verify rejected its own signature")
			}
			bad := append([]byte{}, sig...)
			bad[len(bad)/2] ^= 1
			if ok := must[bool](t)(e.svc.Verify(e.ctx, admin, "default", tc.key.Name, "", tc.alg, tc.digest, bad)); ok {
				t.Fatal("vault verify accepted a tampered signature")
			}
		})
	}
	for _, tc := range []struct{ name, key, alg, want string }{
		{"digest size", "rsa", "RS256", "32-byte"},
		{"EC alg on RSA", "rsa", "ES256", "EC key"},
		{"curve mismatch", "p256", "ES384", "P-384"},
		{"unknown alg", "rsa", "HS256", "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Sign(e.ctx, admin, "default", tc.key, "", tc.alg, []byte("short"))
			wantErr(t, err, vault.KindBadRequest, tc.want)
		})
	}
}

type verifyError struct{}

func (verifyError) Error() string { return "ECDSA verification failed" }

var errVerify = verifyError{}

func TestKeys_EncryptDecryptWrapUnwrapRoundTrips(t *testing.T) {
	e := newEnv(t)
	k := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "enc", vault.KeyCreate{KeyType: "RSA"}))
	pub := publicKeyOf(t, k.JWK).(*rsa.PublicKey)
	for _, alg := range []string{"RSA-OAEP", "RSA-OAEP-256", "RSA1_5"} {
		t.Run(alg, func(t *testing.T) {
			ct := must[vault.KeyOperationResult](t)(e.svc.Encrypt(e.ctx, admin, "default", "enc", "", alg, vault.NewStringValue("plain text"), vault.SymmetricParams{}))
			pt := must[vault.KeyOperationResult](t)(e.svc.Decrypt(e.ctx, admin, "default", "enc", "", alg, ct.Result.Bytes(), vault.SymmetricParams{}))
			if pt.Result.Reveal() != "plain text" {
				t.Fatalf("round trip = %q", pt.Result.Reveal())
			}
			// Encrypt outside with the public JWK; the vault decrypts.
			var outside []byte
			var err error
			switch alg {
			case "RSA-OAEP":
				outside, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, []byte("cek"), nil)
			case "RSA-OAEP-256":
				outside, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, []byte("cek"), nil)
			default:
				//lint:ignore SA1019 Key Vault's RSA1_5 algorithm
				outside, err = rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("cek"))
			}
			if err != nil {
				t.Fatal(err)
			}
			un := must[vault.KeyOperationResult](t)(e.svc.UnwrapKey(e.ctx, admin, "default", "enc", k.Version, alg, outside, vault.SymmetricParams{}))
			if un.Result.Reveal() != "cek" {
				t.Fatalf("unwrap = %q", un.Result.Reveal())
			}
			w := must[vault.KeyOperationResult](t)(e.svc.WrapKey(e.ctx, admin, "default", "enc", "", alg, vault.NewStringValue("cek2"), vault.SymmetricParams{}))
			if u := must[vault.KeyOperationResult](t)(e.svc.UnwrapKey(e.ctx, admin, "default", "enc", "", alg, w.Result.Bytes(), vault.SymmetricParams{})); u.Result.Reveal() != "cek2" {
				t.Fatal("wrap round trip")
			}
		})
	}
	_, err := e.svc.Decrypt(e.ctx, admin, "default", "enc", "", "RSA-OAEP", []byte("junk"), vault.SymmetricParams{})
	wantErr(t, err, vault.KindBadRequest, "decryption failed")
	_, err = e.svc.Encrypt(e.ctx, admin, "default", "enc", "", "A256GCM", vault.NewStringValue("x"), vault.SymmetricParams{})
	wantErr(t, err, vault.KindBadRequest, "A256GCM needs a symmetric (oct) key")
	_, err = e.svc.Encrypt(e.ctx, admin, "default", "enc", "", "RSA-OAEP", vault.NewStringValue("x"), vault.SymmetricParams{IV: make([]byte, 16)})
	wantErr(t, err, vault.KindBadRequest, "iv, aad and tag belong to the AES algorithms")
}

func TestKeys_OperationsEnforced(t *testing.T) {
	e := newEnv(t)
	digest := sha256.Sum256([]byte("x"))
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "signer", vault.KeyCreate{KeyType: "EC", KeyOps: []string{"sign"}}))
	_, err := e.svc.Verify(e.ctx, admin, "default", "signer", "", "ES256", digest[:], make([]byte, 64))
	wantErr(t, err, vault.KindForbidden, "verify is not permitted", "[sign]")
	_, err = e.svc.CreateKey(e.ctx, admin, "default", "bad", vault.KeyCreate{KeyType: "EC", KeyOps: []string{"encrypt"}})
	wantErr(t, err, vault.KindBadRequest, "not valid for this key type")
	for _, tc := range []struct {
		name string
		in   vault.KeyCreate
		kind vault.ErrorKind
		want string
	}{
		{"RSA 1024", vault.KeyCreate{KeyType: "RSA", KeySize: 1024}, vault.KindBadRequest, "2048, 3072 or 4096"},
		{"no kty", vault.KeyCreate{}, vault.KindBadRequest, "kty is required"},
		{"oct 512", vault.KeyCreate{KeyType: "oct", KeySize: 512}, vault.KindBadRequest, "128, 192 or 256"},
		{"oct with curve", vault.KeyCreate{KeyType: "oct", Curve: "P-256"}, vault.KindBadRequest, "crv applies to EC keys"},
		{"HSM", vault.KeyCreate{KeyType: "EC-HSM"}, vault.KindUnsupported, "HSM"},
		{"P-521 wrong size", vault.KeyCreate{KeyType: "EC", Curve: "P-521", KeySize: 512}, vault.KindBadRequest, "does not match curve P-521"},
		{"secp384k1", vault.KeyCreate{KeyType: "EC", Curve: "secp384k1"}, vault.KindBadRequest, "P-256, P-384, P-521 or P-256K"},
		{"P-256K wrong size", vault.KeyCreate{KeyType: "EC", Curve: "P-256K", KeySize: 384}, vault.KindBadRequest, "does not match curve P-256K"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateKey(e.ctx, admin, "default", "k", tc.in)
			wantErr(t, err, tc.kind, tc.want)
		})
	}
	// Update key_ops, disable, dates.
	must[vault.Key](t)(e.svc.UpdateKey(e.ctx, admin, "default", "signer", "", vault.Update{KeyOps: []string{"sign", "verify"}}))
	must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "signer", "", "ES256", digest[:], make([]byte, 64)))
	must[vault.Key](t)(e.svc.UpdateKey(e.ctx, admin, "default", "signer", "", vault.Update{Enabled: ptr(false)}))
	_, err = e.svc.Sign(e.ctx, admin, "default", "signer", "", "ES256", digest[:])
	if ve := wantErr(t, err, vault.KindForbidden, "disabled key"); ve.InnerCode != vault.CodeKeyDisabled {
		t.Fatal(ve.InnerCode)
	}
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "dated", vault.KeyCreate{KeyType: "EC", NotBefore: start.Add(-2 * time.Hour), Expires: start.Add(-time.Hour)}))
	_, err = e.svc.Sign(e.ctx, admin, "default", "dated", "", "ES256", digest[:])
	wantErr(t, err, vault.KindForbidden, "expired")
	must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "dated", "", "ES256", digest[:], make([]byte, 64)))
	// Soft delete like secrets.
	must[vault.Key](t)(e.svc.DeleteKey(e.ctx, admin, "default", "dated"))
	_, err = e.svc.CreateKey(e.ctx, admin, "default", "dated", vault.KeyCreate{KeyType: "EC"})
	wantErr(t, err, vault.KindConflict, "Key dated is currently in a deleted but recoverable state")
	must[vault.Key](t)(e.svc.RecoverKey(e.ctx, admin, "default", "dated"))
	vers := must[vault.Page[vault.Key]](t)(e.svc.ListKeyVersions(e.ctx, admin, "default", "dated", vault.PageRequest{}))
	if len(vers.Items) != 1 {
		t.Fatal(len(vers.Items))
	}
}

func TestKeys_ImportJWKAndPEM(t *testing.T) {
	e := newEnv(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaJWK := vault.JSONWebKey{Kty: "RSA", N: rk.N.Bytes(), E: big.NewInt(int64(rk.E)).Bytes(), D: rk.D.Bytes(), P: rk.Primes[0].Bytes(), Q: rk.Primes[1].Bytes(), KeyOps: []string{"sign", "verify"}}
	ecPub, _ := ek.PublicKey.Bytes()
	ecD, _ := ek.Bytes()
	ecJWK := vault.JSONWebKey{Kty: "EC", Crv: "P-256", X: ecPub[1:33], Y: ecPub[33:], D: ecD}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	sec1Der, _ := x509.MarshalECPrivateKey(ek)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1Der})
	p8, _ := x509.MarshalPKCS8PrivateKey(ek)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	digest := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		name string
		in   vault.KeyImport
		pub  crypto.PublicKey
		ops  int
	}{
		{"RSA JWK", vault.KeyImport{JWK: &rsaJWK}, &rk.PublicKey, 2},
		{"EC JWK", vault.KeyImport{JWK: &ecJWK}, &ek.PublicKey, 2},
		{"PKCS#1 PEM", vault.KeyImport{PEM: pkcs1}, &rk.PublicKey, 6},
		{"SEC1 PEM", vault.KeyImport{PEM: sec1}, &ek.PublicKey, 2},
		{"PKCS#8 PEM", vault.KeyImport{PEM: pkcs8}, &ek.PublicKey, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := must[vault.Key](t)(e.svc.ImportKey(e.ctx, admin, "default", "imp", tc.in))
			if got := publicKeyOf(t, k.JWK); !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) || len(k.JWK.D) != 0 || len(k.JWK.KeyOps) != tc.ops {
				t.Fatalf("imported %+v", k.JWK)
			}
			alg := "ES256"
			if k.JWK.Kty == "RSA" {
				alg = "PS256"
			}
			sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "imp", k.Version, alg, digest[:]))
			if !must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "imp", k.Version, alg, digest[:], sig.Result.Bytes())) {
				t.Fatal("verify")
			}
		})
	}
	wrongXY := ecJWK
	wrongXY.X = append([]byte{}, ecJWK.Y...)
	for _, tc := range []struct {
		name string
		in   vault.KeyImport
		want string
	}{
		{"nothing", vault.KeyImport{}, "no key to import"},
		{"public JWK only", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "RSA", N: rk.N.Bytes(), E: []byte{1, 0, 1}}}, "n, e, d, p and q"},
		{"EC x/y mismatch", vault.KeyImport{JWK: &wrongXY}, "do not match"},
		{"oct without k", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "oct"}}, "must carry k"},
		{"oct of 20 bytes", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "oct", K: make([]byte, 20)}}, "key_size 160"},
		{"oct-HSM", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "oct-HSM"}}, "cannot be imported"},
		{"malformed PEM", vault.KeyImport{PEM: []byte("-----BEGIN PRIVATE KEY-----\nnope")}, "malformed PEM"},
		{"certificate PEM", vault.KeyImport{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})}, "not a private key"},
		{"encrypted PEM", vault.KeyImport{PEM: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})}, "encrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.ImportKey(e.ctx, admin, "default", "bad", tc.in)
			if !vault.IsKind(err, vault.KindBadRequest) && !vault.IsKind(err, vault.KindUnsupported) {
				t.Fatalf("error %v", err)
			}
			wantErr(t, err, vault.AsError(err).Kind, tc.want)
		})
	}
	j, _ := json.Marshal(rsaJWK)
	parsed := must[vault.JSONWebKey](t)(vault.ParseJWK(j))
	if string(parsed.N) != string(rsaJWK.N) {
		t.Fatal("JWK JSON round trip")
	}
}

func FuzzImportJWK(f *testing.F) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := ek.PublicKey.Bytes()
	d, _ := ek.Bytes()
	good, _ := json.Marshal(vault.JSONWebKey{Kty: "EC", Crv: "P-256", X: pub[1:33], Y: pub[33:], D: d})
	f.Add(good)
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQ","p":"Aw","q":"BQ"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-384","x":"","y":"","d":"AA"}`))
	f.Add([]byte(`{}`))
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := vault.ParseJWK(data)
		if err != nil {
			return
		}
		_, err = e.svc.ImportKey(e.ctx, admin, "default", "fuzz", vault.KeyImport{JWK: &j})
		if err != nil && !vault.IsKind(err, vault.KindBadRequest) && !vault.IsKind(err, vault.KindUnsupported) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
