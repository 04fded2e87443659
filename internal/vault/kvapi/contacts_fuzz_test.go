package kvapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// FuzzContactsBody decodes arbitrary SetContacts bodies and stores them
// through a real Service: a success or a 4xx with a message, never more
// than vault.MaxContacts stored.
func FuzzContactsBody(f *testing.F) {
	ctx := context.Background()
	kb := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(kb); err != nil {
		f.Fatal(err)
	}
	rk, err := seal.ParseRootKey(hex.EncodeToString(kb))
	if err != nil {
		f.Fatal(err)
	}
	svc, err := vault.New(vault.Config{Store: vaulttest.NewMemoryStore(), Sealer: seal.NewSealer(rk), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close(ctx) })
	if _, err := svc.EnsureDefault(ctx); err != nil {
		f.Fatal(err)
	}
	f.Add(`{"contacts":[{"email":"a@b.test","name":"A","phone":"1"}]}`)
	f.Add(`{"contacts":[]}`)
	f.Add(`{"contacts":null}`)
	f.Add(`{"contacts":[{"email":"no-at"}]}`)
	f.Add(`{"contacts":[{"email":1}]}`)
	f.Add(`{"id":"x","contacts":[{}]} trailing`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := parseContacts([]byte(body))
		isClientError(t, err)
		if err != nil {
			return
		}
		out, err := svc.SetContacts(ctx, vault.Caller{Admin: true}, vault.DefaultVault, in)
		isClientError(t, err)
		if err == nil && (len(out) == 0 || len(out) > vault.MaxContacts) {
			t.Fatalf("%d contacts stored", len(out))
		}
	})
}
