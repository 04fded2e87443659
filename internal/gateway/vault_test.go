package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/vault"
)

// TestVault_RealServiceRotationOverSQLite runs the resolver against the
// real vault over a real SQLite store: a new secret version is served
// after the refresher sees the revision move, and the old key stops.
func TestVault_RealServiceRotationOverSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := make([]byte, seal.RootKeySize)
	rand.Read(b)
	root, err := seal.ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(root), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(ctx) })
	admin := vault.Caller{Admin: true, RequestID: "gateway-test"}
	if _, err := svc.CreateVault(ctx, admin, vault.VaultInput{Name: "orders-kv"}); err != nil {
		t.Fatal(err)
	}
	set := func(v string) {
		t.Helper()
		if _, err := svc.SetSecret(ctx, admin, "orders-kv", "functions-key", vault.SecretInput{Value: vault.NewStringValue(v)}); err != nil {
			t.Fatal(err)
		}
	}
	set("first-key-8d1e")

	h := newHarness(t, func(c *Config) {
		c.Vault = svc
		c.VaultTenant = func(name string) string {
			if name == "orders-kv" {
				return "t1"
			}
			return ""
		}
		c.Now = time.Now
	})
	h.apply(t, apiKeyAPI("t1", "orders", "/", "vault://orders-kv/secrets/functions-key"), apiKeyAPI("t1", "missing", "/missing", "vault://orders-kv/secrets/nope"))
	h.settle(t)
	admit := func(key string) bool {
		return h.g.Evaluate(request("GET", "https://h.test/x", "x-functions-key", key), false).Forward()
	}
	if !admit("first-key-8d1e") {
		t.Fatal("the current key is refused")
	}
	if p := h.g.routes.Load().byKey["t1/missing"].problem(); p == "" {
		t.Error("an API on a secret that does not exist serves")
	}
	e := h.g.routes.Load().byKey["t1/orders"].secrets[0]
	first := e.Current().Version
	set("second-key-41c0")
	// Wait on the resolver, not on admissions: failed tries would spend
	// the source's failure budget.
	waitFor(t, "the rotated version resolved", func() bool { return e.Current().Version != first })
	if !admit("second-key-41c0") || admit("first-key-8d1e") {
		t.Error("after rotation the new key must be admitted and the old one refused")
	}
}
