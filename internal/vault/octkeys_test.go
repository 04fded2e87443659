package vault_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestOctKeys_CreateImportEncryptWrap(t *testing.T) {
	e := newEnv(t)
	k := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "aes", vault.KeyCreate{KeyType: "oct-HSM"}))
	if k.JWK.Kty != "oct-HSM" || len(k.JWK.K) != 0 || !slices.Equal(k.JWK.KeyOps, []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}) {
		t.Fatalf("created %+v", k.JWK)
	}
	secret := []byte("sixteen byte key plus some more.")
	for _, tc := range []struct {
		alg string
		in  vault.SymmetricParams
	}{
		{"A256GCM", vault.SymmetricParams{AAD: []byte("header")}},
		{"A256GCM", vault.SymmetricParams{}},
		{"A256CBCPAD", vault.SymmetricParams{}},
		{"A256CBCPAD", vault.SymmetricParams{IV: bytes.Repeat([]byte{7}, 16)}},
		{"A256CBC", vault.SymmetricParams{}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			ct := must[vault.KeyOperationResult](t)(e.svc.Encrypt(e.ctx, admin, "default", "aes", "", tc.alg, vault.NewValue(secret), tc.in))
			if ct.Version != k.Version || bytes.Contains(ct.Result.Bytes(), secret) {
				t.Fatalf("encrypted under %s: %X", ct.Version, ct.Result.Bytes())
			}
			if tc.in.IV != nil && !bytes.Equal(ct.IV, tc.in.IV) {
				t.Fatalf("iv %X, given %X", ct.IV, tc.in.IV)
			}
			p := vault.SymmetricParams{IV: ct.IV, AAD: ct.AdditionalAuthenticatedData, Tag: ct.AuthenticationTag}
			pt := must[vault.KeyOperationResult](t)(e.svc.Decrypt(e.ctx, admin, "default", "aes", k.Version, tc.alg, ct.Result.Bytes(), p))
			if !bytes.Equal(pt.Result.Bytes(), secret) {
				t.Fatalf("decrypted %q", pt.Result.Bytes())
			}
		})
	}
	w := must[vault.KeyOperationResult](t)(e.svc.WrapKey(e.ctx, admin, "default", "aes", "", "A256KW", vault.NewValue(secret), vault.SymmetricParams{}))
	u := must[vault.KeyOperationResult](t)(e.svc.UnwrapKey(e.ctx, admin, "default", "aes", "", "A256KW", w.Result.Bytes(), vault.SymmetricParams{}))
	if !bytes.Equal(u.Result.Bytes(), secret) {
		t.Fatalf("unwrapped %q", u.Result.Bytes())
	}

	// An imported oct key gives the answers any AES implementation gives:
	// RFC 3394 section 4.1.
	kek := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	must[vault.Key](t)(e.svc.ImportKey(e.ctx, admin, "default", "imported", vault.KeyImport{JWK: &vault.JSONWebKey{Kty: "oct", K: kek}}))
	data := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}
	w = must[vault.KeyOperationResult](t)(e.svc.WrapKey(e.ctx, admin, "default", "imported", "", "A128KW", vault.NewValue(data), vault.SymmetricParams{}))
	want := []byte{0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47, 0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82, 0x9D, 0x3E, 0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5}
	if !bytes.Equal(w.Result.Bytes(), want) {
		t.Fatalf("wrapped %X", w.Result.Bytes())
	}
	if got := must[vault.Key](t)(e.svc.GetKey(e.ctx, admin, "default", "imported", "")); len(got.JWK.K) != 0 || got.JWK.Kty != "oct" {
		t.Fatalf("GetKey returned %+v", got.JWK)
	}

	gcm := must[vault.KeyOperationResult](t)(e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A256GCM", vault.NewValue(secret), vault.SymmetricParams{}))
	for _, tc := range []struct {
		name string
		err  func() error
		kind vault.ErrorKind
		want string
	}{
		{"caller's GCM nonce", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A256GCM", vault.NewValue(secret), vault.SymmetricParams{IV: make([]byte, 12)})
			return err
		}, vault.KindBadRequest, "iv must not be set"},
		{"algorithm of another size", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A128GCM", vault.NewValue(secret), vault.SymmetricParams{})
			return err
		}, vault.KindBadRequest, "needs a 128-bit key; this key has 256 bits"},
		{"RSA algorithm", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "RSA-OAEP", vault.NewValue(secret), vault.SymmetricParams{})
			return err
		}, vault.KindBadRequest, "cannot encrypt with an oct key"},
		{"KW to encrypt", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A256KW", vault.NewValue(secret), vault.SymmetricParams{})
			return err
		}, vault.KindBadRequest, "cannot encrypt with an oct key"},
		{"GCM to wrap", func() error {
			_, err := e.svc.WrapKey(e.ctx, admin, "default", "aes", "", "A256GCM", vault.NewValue(secret), vault.SymmetricParams{})
			return err
		}, vault.KindBadRequest, "A256KW"},
		{"tampered tag", func() error {
			tag := bytes.Clone(gcm.AuthenticationTag)
			tag[0] ^= 1
			_, err := e.svc.Decrypt(e.ctx, admin, "default", "aes", "", "A256GCM", gcm.Result.Bytes(), vault.SymmetricParams{IV: gcm.IV, Tag: tag})
			return err
		}, vault.KindBadRequest, "decryption failed"},
		{"missing tag", func() error {
			_, err := e.svc.Decrypt(e.ctx, admin, "default", "aes", "", "A256GCM", gcm.Result.Bytes(), vault.SymmetricParams{IV: gcm.IV})
			return err
		}, vault.KindBadRequest, "16-byte tag"},
		{"CBC with aad", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A256CBCPAD", vault.NewValue(secret), vault.SymmetricParams{AAD: []byte("x")})
			return err
		}, vault.KindBadRequest, "aad and tag belong to the GCM"},
		{"CBC without padding, partial block", func() error {
			_, err := e.svc.Encrypt(e.ctx, admin, "default", "aes", "", "A256CBC", vault.NewValue([]byte("short")), vault.SymmetricParams{})
			return err
		}, vault.KindBadRequest, "whole 16-byte blocks"},
		{"sign with an oct key", func() error {
			_, err := e.svc.Sign(e.ctx, admin, "default", "aes", "", "ES256", make([]byte, 32))
			return err
		}, vault.KindForbidden, "sign is not permitted"},
		{"sign op on an oct key", func() error {
			_, err := e.svc.CreateKey(e.ctx, admin, "default", "aes2", vault.KeyCreate{KeyType: "oct", KeyOps: []string{"sign"}})
			return err
		}, vault.KindBadRequest, "not valid for this key type"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.err(), tc.kind, tc.want) })
	}
}

func TestBackup_OctKeyWithRotationPolicyRestores(t *testing.T) {
	e := newEnv(t)
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "aes", vault.KeyCreate{KeyType: "oct", KeySize: 128}))
	must[vault.KeyRotationPolicy](t)(e.svc.UpdateKeyRotationPolicy(e.ctx, admin, "default", "aes", vault.KeyRotationPolicy{
		ExpiryTime: "P1Y", LifetimeActions: []vault.KeyLifetimeAction{{Action: "Rotate", TimeAfterCreate: "P90D"}},
	}))
	w := must[vault.KeyOperationResult](t)(e.svc.WrapKey(e.ctx, admin, "default", "aes", "", "A128KW", vault.NewValue(make([]byte, 16)), vault.SymmetricParams{}))
	blob := backupPurged(t, e, vault.Keys, "aes")
	must[vault.Key](t)(e.svc.RestoreKey(e.ctx, admin, "default", blob))
	u := must[vault.KeyOperationResult](t)(e.svc.UnwrapKey(e.ctx, admin, "default", "aes", "", "A128KW", w.Result.Bytes(), vault.SymmetricParams{}))
	if !bytes.Equal(u.Result.Bytes(), make([]byte, 16)) {
		t.Fatal("restored key unwraps differently")
	}
	p := must[vault.KeyRotationPolicy](t)(e.svc.GetKeyRotationPolicy(e.ctx, admin, "default", "aes"))
	if p.ExpiryTime != "P1Y" || len(p.LifetimeActions) != 1 || p.LifetimeActions[0].TimeAfterCreate != "P90D" {
		t.Fatalf("restored policy %+v", p)
	}
}
