package kvapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestKeyVault_KeyRotationThroughAzkeys(t *testing.T) {
	onEveryBackend(t, keyRotationThroughAzkeys)
}

func keyRotationThroughAzkeys(t *testing.T, e *env) {
	ctx := context.Background()
	officer := e.newApp(t, "rotation-officer")
	e.assign(t, officer.AppID, vault.RoleCryptoOfficer, "")
	keys := e.keys(t, e.secretCredential(t, officer), hostForm)
	user := e.newApp(t, "rotation-user")
	e.assign(t, user.AppID, vault.RoleCryptoUser, "")
	userKeys := e.keys(t, e.secretCredential(t, user), pathForm)

	created, err := keys.CreateKey(ctx, "rotating", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072), KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify)}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("default policy", func(t *testing.T) {
		p, err := keys.GetKeyRotationPolicy(ctx, "rotating", nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == nil || !strings.HasSuffix(*p.ID, "/keys/rotating/rotationpolicy") || len(p.LifetimeActions) != 1 ||
			*p.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionNotify || *p.LifetimeActions[0].Trigger.TimeBeforeExpiry != "P30D" {
			t.Fatalf("default policy %+v", p.KeyRotationPolicy)
		}
		_, err = keys.GetKeyRotationPolicy(ctx, "absent", nil)
		respErr(t, err, http.StatusNotFound, "KeyNotFound")
	})

	t.Run("rotate without a policy", func(t *testing.T) {
		r, err := keys.RotateKey(ctx, "rotating", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Key.KID.Version() == created.Key.KID.Version() || *r.Key.Kty != azkeys.KeyTypeRSA || len(r.Key.N) != 384 || len(r.Key.KeyOps) != 2 || r.Attributes.Expires != nil {
			t.Fatalf("rotated %v kty %v n %d ops %d expires %v", *r.Key.KID, *r.Key.Kty, len(r.Key.N), len(r.Key.KeyOps), r.Attributes.Expires)
		}
		_, err = userKeys.RotateKey(ctx, "rotating", nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
		_, err = keys.RotateKey(ctx, "absent", nil)
		respErr(t, err, http.StatusNotFound, "KeyNotFound")
	})

	t.Run("set policy, rotate with its expiry", func(t *testing.T) {
		in := azkeys.KeyRotationPolicy{
			Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P1Y")},
			LifetimeActions: []*azkeys.LifetimeAction{
				{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P90D")}},
				{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyAction("notify"))}, Trigger: &azkeys.LifetimeActionTrigger{TimeBeforeExpiry: to.Ptr("P30D")}},
			},
		}
		set, err := keys.UpdateKeyRotationPolicy(ctx, "rotating", in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *set.Attributes.ExpiryTime != "P1Y" || set.Attributes.Created == nil || set.Attributes.Updated == nil || len(set.LifetimeActions) != 2 ||
			*set.LifetimeActions[1].Action.Type != azkeys.KeyRotationPolicyActionNotify {
			t.Fatalf("set policy %+v", set.KeyRotationPolicy)
		}
		got, err := keys.GetKeyRotationPolicy(ctx, "rotating", nil)
		if err != nil || *got.LifetimeActions[0].Trigger.TimeAfterCreate != "P90D" {
			t.Fatalf("read back: %v", err)
		}
		_, err = userKeys.UpdateKeyRotationPolicy(ctx, "rotating", in, nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")

		before := time.Now()
		r, err := keys.RotateKey(ctx, "rotating", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := before.AddDate(1, 0, 0)
		if r.Attributes.Expires == nil || r.Attributes.Expires.Before(want.Add(-time.Minute)) || r.Attributes.Expires.After(want.Add(time.Hour)) {
			t.Fatalf("expires %v, want about %s", r.Attributes.Expires, want)
		}
	})

	t.Run("policies refused as Key Vault refuses them", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			p    azkeys.KeyRotationPolicy
			want string
		}{
			{"expiry under 28 days", azkeys.KeyRotationPolicy{Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P20D")}}, "28 days"},
			{"rotation under 7 days", azkeys.KeyRotationPolicy{LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P2D")}}}}, "7 days"},
			{"not ISO 8601", azkeys.KeyRotationPolicy{LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("90 days")}}}}, "ISO 8601"},
			{"no trigger", azkeys.KeyRotationPolicy{LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}}}}, "trigger is missing"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := keys.UpdateKeyRotationPolicy(ctx, "rotating", tc.p, nil)
				if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, tc.want) {
					t.Fatalf("message %q does not say %q", msg, tc.want)
				}
			})
		}
	})

	t.Run("a certificate's key is not rotated as a key", func(t *testing.T) {
		certs := e.certificates(t, e.secretCredential(t, e.adminApp()), pathForm)
		policy := azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
			KeyProperties:             &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256)},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=rot")},
		}
		createCertificate(t, certs, "cert-rot", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy})
		_, err := keys.RotateKey(ctx, "cert-rot", nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
	})
}

func TestKeyVault_OctAndP521KeysThroughAzkeys(t *testing.T) {
	onEveryBackend(t, octAndP521KeysThroughAzkeys)
}

func octAndP521KeysThroughAzkeys(t *testing.T, e *env) {
	ctx := context.Background()
	officer := e.newApp(t, "oct-officer")
	e.assign(t, officer.AppID, vault.RoleCryptoOfficer, "")
	keys := e.keys(t, e.secretCredential(t, officer), hostForm)
	secret := []byte("a data encryption key, 32 bytes!")

	for _, size := range []int32{128, 192, 256} {
		name := "aes-" + big.NewInt(int64(size)).String()
		suffix := big.NewInt(int64(size)).String()
		t.Run(name, func(t *testing.T) {
			created, err := keys.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr(size)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *created.Key.Kty != azkeys.KeyTypeOctHSM || created.Key.K != nil || len(created.Key.KeyOps) != 4 {
				t.Fatalf("created kty %v k present %v ops %d", *created.Key.Kty, created.Key.K != nil, len(created.Key.KeyOps))
			}
			got, err := keys.GetKey(ctx, name, "", nil)
			if err != nil || got.Key.K != nil {
				t.Fatalf("GetKey: %v (k present: %v)", err, got.Key.K != nil)
			}

			gcm := azkeys.EncryptionAlgorithm("A" + suffix + "GCM")
			enc, err := keys.Encrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &gcm, Value: secret, AdditionalAuthenticatedData: []byte("context")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(enc.IV) != 12 || len(enc.AuthenticationTag) != 16 || !bytes.Equal(enc.AdditionalAuthenticatedData, []byte("context")) || len(enc.Result) != len(secret) {
				t.Fatalf("GCM result iv %d tag %d aad %q ct %d", len(enc.IV), len(enc.AuthenticationTag), enc.AdditionalAuthenticatedData, len(enc.Result))
			}
			dec, err := keys.Decrypt(ctx, name, enc.KID.Version(), azkeys.KeyOperationParameters{Algorithm: &gcm, Value: enc.Result, IV: enc.IV, AuthenticationTag: enc.AuthenticationTag, AdditionalAuthenticatedData: enc.AdditionalAuthenticatedData}, nil)
			if err != nil || !bytes.Equal(dec.Result, secret) {
				t.Fatalf("GCM decrypt: %v", err)
			}
			_, err = keys.Decrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &gcm, Value: enc.Result, IV: enc.IV, AuthenticationTag: enc.AuthenticationTag, AdditionalAuthenticatedData: []byte("other")}, nil)
			respErr(t, err, http.StatusBadRequest, "BadParameter")

			cbc := azkeys.EncryptionAlgorithm("A" + suffix + "CBCPAD")
			iv := bytes.Repeat([]byte{9}, 16)
			enc, err = keys.Encrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &cbc, Value: secret, IV: iv}, nil)
			if err != nil || !bytes.Equal(enc.IV, iv) || len(enc.Result) != 48 {
				t.Fatalf("CBCPAD encrypt: %v", err)
			}
			dec, err = keys.Decrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &cbc, Value: enc.Result, IV: iv}, nil)
			if err != nil || !bytes.Equal(dec.Result, secret) {
				t.Fatalf("CBCPAD decrypt: %v", err)
			}

			kw := azkeys.EncryptionAlgorithm("A" + suffix + "KW")
			w, err := keys.WrapKey(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &kw, Value: secret}, nil)
			if err != nil || len(w.Result) != 40 {
				t.Fatalf("wrap: %v", err)
			}
			u, err := keys.UnwrapKey(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: &kw, Value: w.Result}, nil)
			if err != nil || !bytes.Equal(u.Result, secret) {
				t.Fatalf("unwrap: %v", err)
			}
			_, err = keys.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: make([]byte, 32)}, nil)
			respErr(t, err, http.StatusForbidden, "Forbidden")
			r, err := keys.RotateKey(ctx, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.WrapKey(ctx, name, r.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: &kw, Value: secret}, nil); err != nil {
				t.Fatalf("rotated key of another size: %v", err)
			}
		})
	}

	t.Run("import oct: RFC 3394 4.1", func(t *testing.T) {
		kek := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
		imp, err := keys.ImportKey(ctx, "imported-aes", azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeOct), K: kek}}, nil)
		if err != nil || imp.Key.K != nil {
			t.Fatalf("import: %v", err)
		}
		data := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}
		w, err := keys.WrapKey(ctx, "imported-aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA128KW), Value: data}, nil)
		want := []byte{0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47, 0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82, 0x9D, 0x3E, 0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5}
		if err != nil || !bytes.Equal(w.Result, want) {
			t.Fatalf("wrap = %X, %v", w.Result, err)
		}
	})

	t.Run("P-521 create, ES512 sign, local verify", func(t *testing.T) {
		created, err := keys.CreateKey(ctx, "ec-p521", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP521)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha512.Sum512([]byte("payload"))
		sig, err := keys.Sign(ctx, "ec-p521", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES512), Value: digest[:]}, nil)
		if err != nil || len(sig.Result) != 132 {
			t.Fatalf("sign: %v", err)
		}
		v, err := keys.Verify(ctx, "ec-p521", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES512), Digest: digest[:], Signature: sig.Result}, nil)
		if err != nil || !*v.Value {
			t.Fatalf("verify: %v", err)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P521(), append(append([]byte{4}, created.Key.X...), created.Key.Y...))
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig.Result[:66]), new(big.Int).SetBytes(sig.Result[66:])) {
			t.Fatal("the ES512 signature does not verify with the published key")
		}
		priv, _ := ecdsa.GenerateKey(elliptic.P521(), nil)
		d, _ := priv.Bytes()
		xy, _ := priv.PublicKey.Bytes()
		if _, err := keys.ImportKey(ctx, "imported-p521", azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{
			Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP521), D: d, X: xy[1:67], Y: xy[67:],
		}}, nil); err != nil {
			t.Fatalf("import P-521: %v", err)
		}
	})

	t.Run("P-256K create, ES256K sign and verify, rotate", func(t *testing.T) {
		created, err := keys.CreateKey(ctx, "secp256k1", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256K)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *created.Key.Crv != azkeys.CurveNameP256K || len(created.Key.X) != 32 || created.Key.D != nil {
			t.Fatalf("created %v", created.Key)
		}
		digest := sha256.Sum256([]byte("payload"))
		sig, err := keys.Sign(ctx, "secp256k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Value: digest[:]}, nil)
		if err != nil || len(sig.Result) != 64 {
			t.Fatalf("sign: %v", err)
		}
		v, err := keys.Verify(ctx, "secp256k1", created.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Digest: digest[:], Signature: sig.Result}, nil)
		if err != nil || !*v.Value {
			t.Fatalf("verify: %v", err)
		}
		r, err := keys.RotateKey(ctx, "secp256k1", nil)
		if err != nil || *r.Key.Crv != azkeys.CurveNameP256K {
			t.Fatalf("rotate: %v", err)
		}
		_, err = keys.Sign(ctx, "secp256k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
		respErr(t, err, http.StatusBadRequest, "BadParameter")
	})
}
