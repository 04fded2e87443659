package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// clock is an injectable, advanceable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var start = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

var admin = vault.Caller{Admin: true, RequestID: "req-admin"}

func rootKey(t testing.TB) seal.RootKey {
	t.Helper()
	b := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type env struct {
	svc   *vault.Service
	store *vaulttest.MemoryStore
	clock *clock
	ctx   context.Context
}

func newEnv(t testing.TB, opts ...func(*vault.Config)) *env {
	t.Helper()
	st := vaulttest.NewMemoryStore()
	clk := &clock{t: start}
	cfg := vault.Config{Store: st, Sealer: seal.NewSealer(rootKey(t)), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := vault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, store: st, clock: clk, ctx: context.Background()}
}

// wantErr checks err is a *vault.Error of kind with a message containing every part.
func wantErr(t testing.TB, err error, kind vault.ErrorKind, parts ...string) *vault.Error {
	t.Helper()
	var e *vault.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *vault.Error of kind %v", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("error kind %v (%q), want %v", e.Kind, e.Message, kind)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Fatalf("error %q does not mention %q", e.Message, p)
		}
	}
	return e
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func setSecret(t testing.TB, e *env, name, value string) vault.Secret {
	t.Helper()
	s, err := e.svc.SetSecret(e.ctx, admin, "default", name, vault.SecretInput{Value: vault.NewStringValue(value)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
