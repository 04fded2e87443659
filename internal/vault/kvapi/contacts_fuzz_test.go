package kvapi

import (
	"context"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// FuzzContactsBody decodes arbitrary SetContacts bodies and stores them
// through a real Service: a success or a 4xx with a message, never more
// than vault.MaxContacts stored.
func FuzzContactsBody(f *testing.F) {
	ctx := context.Background()
	svc := newTestService(f, vaulttest.NewMemoryStore())
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
