package kvapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
)

// newTestService is a real vault.Service on st under a fresh root key,
// with the default vault, closed when tb ends.
func newTestService(tb testing.TB, st vault.Store) *vault.Service {
	tb.Helper()
	kb := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(kb); err != nil {
		tb.Fatal(err)
	}
	rk, err := seal.ParseRootKey(hex.EncodeToString(kb))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(rk), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Close(context.Background()) })
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return svc
}
