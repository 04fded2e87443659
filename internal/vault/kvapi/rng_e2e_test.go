package kvapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestKeyVault_RandomBytesThroughAzkeys(t *testing.T) {
	onEveryBackend(t, randomBytesThroughAzkeys)
}

func randomBytesThroughAzkeys(t *testing.T, e *env) {
	ctx := context.Background()
	crypto := e.newApp(t, "rng-crypto-user")
	e.assign(t, crypto.AppID, vault.RoleCryptoUser, "")
	officer := e.newApp(t, "rng-secrets-officer")
	e.assign(t, officer.AppID, vault.RoleSecretsOfficer, "")
	keys := e.keys(t, e.secretCredential(t, crypto), pathForm)

	t.Run("count bytes, fresh each time", func(t *testing.T) {
		a, err := keys.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](32)}, nil)
		if err != nil {
			t.Fatalf("GetRandomBytes: %v", err)
		}
		b, err := keys.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](32)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Value) != 32 || len(b.Value) != 32 || bytes.Equal(a.Value, b.Value) {
			t.Fatalf("%d and %d bytes, equal: %v", len(a.Value), len(b.Value), bytes.Equal(a.Value, b.Value))
		}
	})
	for _, tc := range []struct {
		name  string
		count int32
	}{{"zero", 0}, {"too many", 129}, {"negative", -1}} {
		t.Run("count "+tc.name+" is BadParameter", func(t *testing.T) {
			_, err := keys.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr(tc.count)}, nil)
			if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "between 1 and 128") {
				t.Fatalf("message %q", msg)
			}
		})
	}
	t.Run("a secrets role may not draw", func(t *testing.T) {
		_, err := e.keys(t, e.secretCredential(t, officer), pathForm).GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](8)}, nil)
		if msg := respErr(t, err, http.StatusForbidden, "Forbidden"); !strings.Contains(msg, vault.RoleCryptoUser) {
			t.Fatalf("message %q", msg)
		}
	})
}
