package kvapi_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestKeyVault_BackupPurgeRestoreThroughSDKs(t *testing.T) {
	onEveryBackend(t, backupPurgeRestoreThroughSDKs)
}

func backupPurgeRestoreThroughSDKs(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	secrets := e.secrets(t, admin, pathForm)
	keys := e.keys(t, admin, pathForm)
	certs := e.certificates(t, admin, pathForm)

	var secretBlob []byte
	t.Run("secret: backup, delete, purge, restore keeps every version", func(t *testing.T) {
		var want []string
		for i := range 3 {
			r, err := secrets.SetSecret(ctx, "db", azsecrets.SetSecretParameters{Value: to.Ptr(fmt.Sprintf("v%d", i)), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"i": to.Ptr(fmt.Sprint(i))}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, r.ID.Version())
		}
		if _, err := secrets.UpdateSecretProperties(ctx, "db", want[1], azsecrets.UpdateSecretPropertiesParameters{SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
			t.Fatal(err)
		}
		b, err := secrets.BackupSecret(ctx, "db", nil)
		if err != nil {
			t.Fatalf("BackupSecret: %v", err)
		}
		secretBlob = b.Value
		_, err = secrets.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: secretBlob}, nil)
		if msg := respErr(t, err, http.StatusConflict, "Conflict"); !strings.Contains(msg, "already exists") {
			t.Fatalf("restore over a live secret: %s", msg)
		}
		if _, err := secrets.DeleteSecret(ctx, "db", nil); err != nil {
			t.Fatal(err)
		}
		_, err = secrets.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: secretBlob}, nil)
		if msg := respErr(t, err, http.StatusConflict, "Conflict"); !strings.Contains(msg, "deleted but recoverable") {
			t.Fatalf("restore over a deleted secret: %s", msg)
		}
		if _, err := secrets.PurgeDeletedSecret(ctx, "db", nil); err != nil {
			t.Fatal(err)
		}
		restored, err := secrets.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: secretBlob}, nil)
		if err != nil {
			t.Fatalf("RestoreSecret: %v", err)
		}
		if restored.ID.Version() != want[2] || restored.Value != nil {
			t.Fatalf("restored %s (value %v), want version %s without value", *restored.ID, restored.Value, want[2])
		}
		var got []string
		for pager := secrets.NewListSecretPropertiesVersionsPager("db", nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Value {
				got = append(got, p.ID.Version())
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("versions after restore %v, want %v", got, want)
		}
		for i, v := range want {
			s, err := secrets.GetSecret(ctx, "db", v, nil)
			if i == 1 {
				respErr(t, err, http.StatusForbidden, "Forbidden") // still disabled
				continue
			}
			if err != nil || *s.Value != fmt.Sprintf("v%d", i) || *s.Tags["i"] != fmt.Sprint(i) || *s.ContentType != "text/plain" {
				t.Fatalf("version %d after restore: %+v %v", i, s.Secret, err)
			}
		}
	})

	t.Run("key: every version restored, old signatures verify", func(t *testing.T) {
		k1, err := keys.CreateKey(ctx, "signer", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := keys.CreateKey(ctx, "signer", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256([]byte("payload"))
		sig, err := keys.Sign(ctx, "signer", k1.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keys.BackupKey(ctx, "signer", nil)
		if err != nil {
			t.Fatalf("BackupKey: %v", err)
		}
		if _, err := keys.DeleteKey(ctx, "signer", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.PurgeDeletedKey(ctx, "signer", nil); err != nil {
			t.Fatal(err)
		}
		restored, err := keys.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: b.Value}, nil)
		if err != nil {
			t.Fatalf("RestoreKey: %v", err)
		}
		if restored.Key.KID.Version() != k2.Key.KID.Version() || *restored.Key.Kty != azkeys.KeyTypeRSA {
			t.Fatalf("restored %s, want %s", *restored.Key.KID, *k2.Key.KID)
		}
		v, err := keys.Verify(ctx, "signer", k1.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Digest: digest[:], Signature: sig.Result}, nil)
		if err != nil || v.Value == nil || !*v.Value {
			t.Fatalf("verify with the restored first version: %v %v", v.Value, err)
		}
		_, err = keys.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: secretBlob}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "holds a secret") {
			t.Fatalf("secret blob restored as a key: %s", msg)
		}
	})

	t.Run("certificate: policy, versions, secret and key restored", func(t *testing.T) {
		policy := azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
			KeyProperties:             &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256), Exportable: to.Ptr(true)},
			SecretProperties:          &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=restored.example.test")},
		}
		var versions []string
		for range 2 {
			createCertificate(t, certs, "edge", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy})
			c, err := certs.GetCertificate(ctx, "edge", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, c.ID.Version())
		}
		before, err := secrets.GetSecret(ctx, "edge", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = secrets.BackupSecret(ctx, "edge", nil)
		if msg := respErr(t, err, http.StatusForbidden, "Forbidden"); !strings.Contains(msg, "certificate") {
			t.Fatalf("backup of a certificate's secret: %s", msg)
		}
		b, err := certs.BackupCertificate(ctx, "edge", nil)
		if err != nil {
			t.Fatalf("BackupCertificate: %v", err)
		}
		if _, err := certs.DeleteCertificate(ctx, "edge", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := certs.PurgeDeletedCertificate(ctx, "edge", nil); err != nil {
			t.Fatal(err)
		}
		restored, err := certs.RestoreCertificate(ctx, azcertificates.RestoreCertificateParameters{CertificateBackup: b.Value}, nil)
		if err != nil {
			t.Fatalf("RestoreCertificate: %v", err)
		}
		if restored.ID.Version() != versions[1] || restored.Policy == nil || *restored.Policy.X509CertificateProperties.Subject != "CN=restored.example.test" {
			t.Fatalf("restored %s policy %+v", *restored.ID, restored.Policy)
		}
		for _, v := range versions {
			if _, err := certs.GetCertificate(ctx, "edge", v, nil); err != nil {
				t.Fatalf("version %s after restore: %v", v, err)
			}
		}
		after, err := secrets.GetSecret(ctx, "edge", "", nil)
		if err != nil || *after.Value != *before.Value {
			t.Fatalf("certificate secret after restore differs: %v", err)
		}
		if _, err := keys.GetKey(ctx, "edge", versions[0], nil); err != nil {
			t.Fatalf("certificate key after restore: %v", err)
		}
	})

	t.Run("RBAC: backup needs the backup permission", func(t *testing.T) {
		user := e.newApp(t, "backup-user")
		e.assign(t, user.AppID, vault.RoleSecretsUser, "")
		crypto := e.newApp(t, "backup-crypto")
		e.assign(t, crypto.AppID, vault.RoleCryptoUser, "")
		_, err := e.secrets(t, e.secretCredential(t, user), pathForm).BackupSecret(ctx, "db", nil)
		if msg := respErr(t, err, http.StatusForbidden, "Forbidden"); !strings.Contains(msg, "secrets/backup") {
			t.Fatalf("denial: %s", msg)
		}
		if _, err := e.keys(t, e.secretCredential(t, crypto), pathForm).BackupKey(ctx, "signer", nil); err != nil {
			t.Fatalf("Crypto User backup: %v", err)
		}
	})

	t.Run("wire errors of restore", func(t *testing.T) {
		tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, "https://localhost:"+e.port+"/.default")
		u := e.pathURL("default") + "/secrets/restore?api-version=7.6"
		for _, tc := range []struct {
			name, body, code, part string
			status                 int
		}{
			{"value missing", `{}`, "BadParameter", "missing", 400},
			{"not base64url", `{"value":"!!"}`, "BadParameter", "base64url", 400},
			{"not a backup", `{"value":"aGVsbG8"}`, "BadParameter", "not a Portcullis backup", 400},
			{"malformed JSON", `{"value":`, "BadParameter", "", 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := e.raw(t, http.MethodPost, u, tok, "application/json", []byte(tc.body))
				code, msg := errCode(body)
				if status != tc.status || code != tc.code || !strings.Contains(msg, tc.part) {
					t.Fatalf("%d %s %q", status, code, msg)
				}
			})
		}
	})
}
