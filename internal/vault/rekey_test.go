package vault_test

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestRekey_RewrapsEverythingAndReadersKeepWorking(t *testing.T) {
	oldKey, newKey := rootKey(t), rootKey(t)
	e := newEnv(t, func(c *vault.Config) { c.Sealer = seal.NewSealer(oldKey) })
	for i := range 3 {
		setSecret(t, e, "s", string(rune('a'+i)))
	}
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=c"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "c", vault.CertificateCreate{Policy: &policy}))
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "k", vault.KeyCreate{KeyType: "EC"}))

	// A sealer that cannot open the stored blobs is refused before use.
	_, err := e.svc.Rekey(e.ctx, seal.NewSealer(newKey))
	if err == nil {
		t.Fatal("rekey with a sealer that cannot open the old blobs succeeded")
	}
	must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "s", ""))

	ring, err := seal.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	rep := must[vault.RekeyReport](t)(e.svc.Rekey(e.ctx, ring))
	if rep.Rewrapped != 5 || rep.Scanned != 5 || rep.RootKeyID != newKey.ID() {
		t.Fatalf("report = %+v", rep)
	}
	if again := must[vault.RekeyReport](t)(e.svc.Rekey(e.ctx, ring)); again.Rewrapped != 0 {
		t.Fatalf("second run rewrapped %d", again.Rewrapped)
	}
	var after int64
	for {
		batch := must[[]vault.ObjectVersion](t)(e.store.ScanVersions(e.ctx, after, 2))
		if len(batch) == 0 {
			break
		}
		for _, v := range batch {
			after = v.Seq
			if id, err := seal.SealedBy(v.Sealed); err != nil || id != newKey.ID() {
				t.Fatalf("%s %s still sealed by %s", v.Type, v.Name, id)
			}
		}
	}
	// A fresh service holding only the new key reads everything.
	svc, err := vault.New(vault.Config{Store: e.store, Sealer: seal.NewSealer(newKey), Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if got := must[vault.Secret](t)(svc.GetSecret(e.ctx, admin, "default", "s", "")); got.Value.Reveal() != "c" {
		t.Fatalf("value after rekey %q", got.Value.Reveal())
	}
	must[vault.Secret](t)(svc.GetSecret(e.ctx, admin, "default", "c", ""))
	d := sha256.Sum256([]byte("x"))
	must[vault.KeyOperationResult](t)(svc.Sign(e.ctx, admin, "default", "k", "", "ES256", d[:]))
	must[vault.KeyOperationResult](t)(svc.Sign(e.ctx, admin, "default", "c", "", "ES256", d[:]))
}

func TestRekey_ValueSealedUnderAnUnheldRootKeyIsUnavailableNamingTheKey(t *testing.T) {
	e := newEnv(t)
	must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "db", vault.SecretInput{Value: vault.NewValue([]byte("v1"))}))

	ring, err := seal.NewKeyring(rootKey(t), rootKey(t)) // a rotated node, without the key that sealed "db"
	if err != nil {
		t.Fatal(err)
	}
	other, err := vault.New(vault.Config{Store: e.store, Sealer: ring, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.GetSecret(e.ctx, admin, "default", "db", "")
	ve := wantErr(t, err, vault.KindUnavailable, `secret "db"`, "root key")
	if ve.Kind.HTTPStatus() != 503 || ve.Code != vault.CodeServiceUnavailable {
		t.Fatalf("status %d code %q; want 503 ServiceUnavailable", ve.Kind.HTTPStatus(), ve.Code)
	}
	if !errors.Is(err, seal.ErrRootKeyMismatch) {
		t.Fatal("the error no longer matches seal.ErrRootKeyMismatch")
	}
}
