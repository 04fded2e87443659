package vault_test

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// backupPurged backs up object n of type typ as the administrator, then
// deletes and purges it, and returns the blob.
func backupPurged(t *testing.T, e *env, typ vault.ObjectType, n string) []byte {
	t.Helper()
	var blob []byte
	var err error
	switch typ {
	case vault.Secrets:
		blob, err = e.svc.BackupSecret(e.ctx, admin, "default", n)
		if err == nil {
			_, err = e.svc.DeleteSecret(e.ctx, admin, "default", n)
		}
		if err == nil {
			err = e.svc.PurgeSecret(e.ctx, admin, "default", n)
		}
	case vault.Keys:
		blob, err = e.svc.BackupKey(e.ctx, admin, "default", n)
		if err == nil {
			_, err = e.svc.DeleteKey(e.ctx, admin, "default", n)
		}
		if err == nil {
			err = e.svc.PurgeKey(e.ctx, admin, "default", n)
		}
	case vault.Certificates:
		blob, err = e.svc.BackupCertificate(e.ctx, admin, "default", n)
		if err == nil {
			_, err = e.svc.DeleteCertificate(e.ctx, admin, "default", n)
		}
		if err == nil {
			err = e.svc.PurgeCertificate(e.ctx, admin, "default", n)
		}
	}
	if err != nil {
		t.Fatalf("backup, delete and purge %s %s: %v", typ, n, err)
	}
	return blob
}

func TestBackup_SecretRestoresEveryVersionWithIDsOrderAndAttributes(t *testing.T) {
	e := newEnv(t)
	nbf, exp := start.Add(-time.Hour), start.Add(24*time.Hour)
	inputs := []vault.SecretInput{
		{Value: vault.NewStringValue("first"), ContentType: "text/plain", Tags: map[string]string{"v": "1"}},
		{Value: vault.NewStringValue(""), NotBefore: nbf, Expires: exp},
		{Value: vault.NewStringValue("third"), Enabled: ptr(false)},
		{Value: vault.NewStringValue("newest")},
	}
	var want []vault.Secret
	for _, in := range inputs {
		want = append(want, must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "Db-Password", in)))
		e.clock.Advance(time.Minute)
	}
	blob := backupPurged(t, e, vault.Secrets, "db-password")
	if bytes.Contains(blob, []byte("newest")) || bytes.Contains(blob, []byte("first")) {
		t.Fatal("the backup blob holds a value in clear")
	}
	got := must[vault.Secret](t)(e.svc.RestoreSecret(e.ctx, admin, "default", blob))
	if got.Name != "Db-Password" || got.Version != want[3].Version || got.Value.Len() != 0 {
		t.Fatalf("restored %s/%s (value %d bytes), want Db-Password/%s without value", got.Name, got.Version, got.Value.Len(), want[3].Version)
	}
	page := must[vault.Page[vault.Secret]](t)(e.svc.ListSecretVersions(e.ctx, admin, "default", "db-password", vault.PageRequest{}))
	if len(page.Items) != len(want) {
		t.Fatalf("%d versions after restore, want %d", len(page.Items), len(want))
	}
	for i, w := range want {
		g := page.Items[i]
		if g.Version != w.Version || g.ContentType != w.ContentType || !slices.Equal(mapKeys(g.Tags), mapKeys(w.Tags)) ||
			g.Attributes.Enabled != w.Attributes.Enabled || !g.Attributes.NotBefore.Equal(w.Attributes.NotBefore) ||
			!g.Attributes.Expires.Equal(w.Attributes.Expires) || !g.Attributes.Created.Equal(w.Attributes.Created) {
			t.Fatalf("version %d: got %+v, want %+v", i, g, w)
		}
		if !w.Attributes.Enabled {
			continue
		}
		sec := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "db-password", w.Version))
		if sec.Value.Reveal() != inputs[i].Value.Reveal() {
			t.Fatalf("version %d value differs after restore", i)
		}
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func TestBackup_KeyAndCertificateRestoreUsable(t *testing.T) {
	e := newEnv(t)
	k1 := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "signer", vault.KeyCreate{KeyType: "EC"}))
	k2 := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "signer", vault.KeyCreate{KeyType: "RSA", KeyOps: []string{"sign", "verify"}}))
	digest := sha256.Sum256([]byte("message"))
	sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "signer", k1.Version, "ES256", digest[:]))

	blob := backupPurged(t, e, vault.Keys, "signer")
	got := must[vault.Key](t)(e.svc.RestoreKey(e.ctx, admin, "default", blob))
	if got.Version != k2.Version || !slices.Equal(got.JWK.KeyOps, []string{"sign", "verify"}) {
		t.Fatalf("restored key %s ops %v, want %s [sign verify]", got.Version, got.JWK.KeyOps, k2.Version)
	}
	if ok := must[bool](t)(e.svc.Verify(e.ctx, admin, "default", "signer", k1.Version, "ES256", digest[:], sig.Result.Bytes())); !ok {
		t.Fatal("a signature made before the backup does not verify with the restored key")
	}
	must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "signer", k1.Version, "ES256", digest[:]))

	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=api"}, KeyProperties: &vault.KeyProperties{KeyType: "EC", Exportable: ptr(true)}, SecretProperties: &vault.SecretProperties{ContentType: vault.ContentTypePEM}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "api", vault.CertificateCreate{Policy: &policy}))
	c2op := must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "api", vault.CertificateCreate{Policy: &policy}))
	before := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "api", ""))
	blob = backupPurged(t, e, vault.Certificates, "api")
	cert := must[vault.Certificate](t)(e.svc.RestoreCertificate(e.ctx, admin, "default", blob))
	if cert.Policy == nil || cert.Policy.X509Properties.Subject != "CN=api" || cert.Version != c2op.Version {
		t.Fatalf("restored certificate %s with policy %+v; want version %s and the policy", cert.Version, cert.Policy, c2op.Version)
	}
	after := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "api", ""))
	if after.Value.Reveal() != before.Value.Reveal() || !after.Managed {
		t.Fatal("the certificate's secret (PEM with its key) differs after restore")
	}
	if vs := must[vault.Page[vault.Certificate]](t)(e.svc.ListCertificateVersions(e.ctx, admin, "default", "api", vault.PageRequest{})); len(vs.Items) != 2 {
		t.Fatalf("%d certificate versions after restore, want 2", len(vs.Items))
	}
}

func TestBackup_RestoreRefusals(t *testing.T) {
	root := rootKey(t)
	withRoot := func(c *vault.Config) { c.Sealer = seal.NewSealer(root) }
	e := newEnv(t, withRoot)
	stranger := newEnv(t) // another root key
	setSecret(t, e, "live", "v")
	secretBlob := must[[]byte](t)(e.svc.BackupSecret(e.ctx, admin, "default", "live"))
	setSecret(t, e, "gone", "v")
	goneBlob := must[[]byte](t)(e.svc.BackupSecret(e.ctx, admin, "default", "gone"))
	must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", "gone"))
	cert, key := testCert(t, "c", pki.KeyTypeEC256)
	must[vault.Certificate](t)(e.svc.ImportCertificate(e.ctx, admin, "default", "cert", vault.CertificateImport{Data: pemOf(t, cert, key)}))
	certBlob := must[[]byte](t)(e.svc.BackupCertificate(e.ctx, admin, "default", "cert"))
	// A secret named like the certificate, backed up in another instance
	// with the same root key.
	other := newEnv(t, withRoot)
	same := newEnv(t, withRoot)
	setSecret(t, other, "cert", "v")
	clashBlob := must[[]byte](t)(other.svc.BackupSecret(other.ctx, admin, "default", "cert"))

	tampered := bytes.Clone(secretBlob)
	tampered[len(tampered)-1] ^= 1
	asKey := bytes.Clone(secretBlob)
	asKey[5] = 'k'
	newer := bytes.Clone(secretBlob)
	newer[4] = 2
	unknown := bytes.Clone(secretBlob)
	unknown[4] = 0

	for _, tc := range []struct {
		name  string
		run   func() error
		kind  vault.ErrorKind
		inner string
		parts []string
	}{
		{"live name", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", secretBlob); return err }, vault.KindConflict, "", []string{"already exists", "delete and purge"}},
		{"soft-deleted name", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", goneBlob); return err }, vault.KindConflict, vault.CodeObjectIsDeletedButRecoverable, []string{"deleted but recoverable"}},
		{"certificate over its name", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", clashBlob); return err }, vault.KindConflict, "", []string{"certificate cert"}},
		{"secret blob as a key", func() error { _, err := e.svc.RestoreKey(e.ctx, admin, "default", secretBlob); return err }, vault.KindBadRequest, "", []string{"holds a secret", "secret restore"}},
		{"type byte changed", func() error { _, err := e.svc.RestoreKey(e.ctx, admin, "default", asKey); return err }, vault.KindBadRequest, "", []string{"damaged or was altered"}},
		{"tampered", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", tampered); return err }, vault.KindBadRequest, "", []string{"damaged or was altered"}},
		{"newer format", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", newer); return err }, vault.KindBadRequest, "", []string{"format 2 is newer"}},
		{"unknown format", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", unknown); return err }, vault.KindBadRequest, "", []string{"format 0 is unknown"}},
		{"not a backup", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", []byte("hello")); return err }, vault.KindBadRequest, "", []string{"not a Portcullis backup"}},
		{"empty", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "default", nil); return err }, vault.KindBadRequest, "", []string{"not a Portcullis backup"}},
		{"another root key", func() error {
			_, err := stranger.svc.RestoreSecret(stranger.ctx, admin, "default", secretBlob)
			return err
		}, vault.KindBadRequest, "", []string{"another root key"}},
		{"managed secret", func() error { _, err := e.svc.BackupSecret(e.ctx, admin, "default", "cert"); return err }, vault.KindForbidden, "", []string{"backup", "certificate"}},
		{"managed key", func() error { _, err := e.svc.BackupKey(e.ctx, admin, "default", "cert"); return err }, vault.KindForbidden, "", []string{"backup", "certificate"}},
		{"missing object", func() error { _, err := e.svc.BackupSecret(e.ctx, admin, "default", "nope"); return err }, vault.KindNotFound, "", nil},
		{"deleted object", func() error { _, err := e.svc.BackupSecret(e.ctx, admin, "default", "gone"); return err }, vault.KindNotFound, "", nil},
		{"unknown vault", func() error { _, err := e.svc.RestoreSecret(e.ctx, admin, "novault", secretBlob); return err }, vault.KindNotFound, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wantErr(t, tc.run(), tc.kind, tc.parts...)
			if err.InnerCode != tc.inner {
				t.Fatalf("inner code %q, want %q", err.InnerCode, tc.inner)
			}
		})
	}

	t.Run("another vault of the instance, and another instance with the root key", func(t *testing.T) {
		must[vault.Vault](t)(e.svc.CreateVault(e.ctx, admin, vault.VaultInput{Name: "second"}))
		for _, target := range []struct {
			e     *env
			vault string
		}{{e, "second"}, {same, "default"}} {
			blob := certBlob
			if target.e == same {
				blob = clashBlob
			}
			if target.e == e {
				must[vault.Certificate](t)(target.e.svc.RestoreCertificate(target.e.ctx, admin, target.vault, blob))
				must[vault.Secret](t)(target.e.svc.GetSecret(target.e.ctx, admin, target.vault, "cert", ""))
				continue
			}
			must[vault.Secret](t)(target.e.svc.RestoreSecret(target.e.ctx, admin, target.vault, blob))
			if got := must[vault.Secret](t)(target.e.svc.GetSecret(target.e.ctx, admin, target.vault, "cert", "")); got.Value.Reveal() != "v" {
				t.Fatal("value differs after restore on another instance")
			}
		}
	})
}

func TestBackup_RestoreNeedsAVaultScopedRoleAndIsAudited(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "s", "v")
	scoped := vault.Caller{Principal: guard.Principal{AppID: "scoped"}, RequestID: "req-scoped"}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", Scope: "secrets/s", PrincipalID: "scoped", Role: vault.RoleSecretsOfficer}))
	blob := must[[]byte](t)(e.svc.BackupSecret(e.ctx, scoped, "default", "s"))
	must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, scoped, "default", "s"))
	must[struct{}](t)(struct{}{}, e.svc.PurgeSecret(e.ctx, scoped, "default", "s"))
	_, err := e.svc.RestoreSecret(e.ctx, scoped, "default", blob)
	wantErr(t, err, vault.KindForbidden, "secrets/restore", vault.RoleSecretsOfficer)
	must[vault.Secret](t)(e.svc.RestoreSecret(e.ctx, admin, "default", blob))

	recs := must[[]vault.AuditRecord](t)(e.svc.AuditLog(e.ctx, admin, "default", 0))
	var ops []string
	for _, r := range slices.Backward(recs) {
		if r.Operation == string(vault.PermSecretsBackup) || r.Operation == string(vault.PermSecretsRestore) {
			ops = append(ops, r.Operation+" "+r.Outcome+" "+r.Name)
		}
	}
	want := []string{"secrets/backup success s", "secrets/restore denied ", "secrets/restore success s"}
	if !slices.Equal(ops, want) {
		t.Fatalf("audit %q, want %q", ops, want)
	}
}

// A backup sealed under a previous root key restores while the keyring
// holds that key, and is refused, naming the key, once it does not.
func TestBackup_RestorableAfterRootKeyRotationWithTheOldKeyInTheKeyring(t *testing.T) {
	oldKey, newKey := rootKey(t), rootKey(t)
	st := vaulttest.NewMemoryStore()
	svc := func(s vault.Sealer) *vault.Service {
		v, err := vault.New(vault.Config{Store: st, Sealer: s, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := svc(seal.NewSealer(oldKey))
	must[vault.Vault](t)(before.EnsureDefault(t.Context()))
	must[vault.Secret](t)(before.SetSecret(t.Context(), admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	blob := must[[]byte](t)(before.BackupSecret(t.Context(), admin, "default", "s"))
	ring, err := seal.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	after := svc(ring)
	must[vault.Secret](t)(after.DeleteSecret(t.Context(), admin, "default", "s"))
	must[struct{}](t)(struct{}{}, after.PurgeSecret(t.Context(), admin, "default", "s"))
	must[vault.Secret](t)(after.RestoreSecret(t.Context(), admin, "default", blob))
	if got := must[vault.Secret](t)(after.GetSecret(t.Context(), admin, "default", "s", "")); got.Value.Reveal() != "v" {
		t.Fatal("value differs")
	}
	_, err = svc(seal.NewSealer(newKey)).RestoreSecret(t.Context(), admin, "default", blob)
	wantErr(t, err, vault.KindBadRequest, "another root key")
}

func TestBackup_AnObjectLargerThanABackupMayHoldIsRefused(t *testing.T) {
	e := newEnv(t)
	value := strings.Repeat("x", vault.MaxSecretValueBytes)
	for range vault.MaxBackupBytes/vault.MaxSecretValueBytes + 1 {
		setSecret(t, e, "big", value)
	}
	_, err := e.svc.BackupSecret(e.ctx, admin, "default", "big")
	wantErr(t, err, vault.KindBadRequest, "too large to back up", "back up the database")
}
