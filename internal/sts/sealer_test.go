package sts_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/sts"
)

// TestNew_KeyringOpensKeysOfThePreviousRootKey is the token service's side
// of a root-key rotation: a node given a keyring (new current key, old
// previous key) serves the keys sealed under the old key and seals new ones
// under the new key; a node holding only the new key refuses the old keys.
func TestNew_KeyringOpensKeysOfThePreviousRootKey(t *testing.T) {
	e := newEnvNoTLS(t) // keys sealed by testSealer's root key
	e.base = "https://sts.example"
	oldKey, err := seal.ParseRootKey(strings.Repeat("5a", 32))
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := seal.ParseRootKey(strings.Repeat("6b", 32))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.issueInProcess(t)

	b := sts.New(sts.Config{Now: e.clock.Now, NodeID: "node-b"}, e.keys, ring)
	if err := b.Apply(e.snapshot(e.rev), e.keys.all()); err != nil {
		t.Fatalf("Apply with the keyring: %v", err)
	}
	if _, err := e.newVerifierOver(t, b).Verify(context.Background(), tok); err != nil {
		t.Fatalf("token signed before the rotation, verified with node b's keys: %v", err)
	}
	kid, err := b.RotateSigningKeys(context.Background(), e.tenant.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range e.keys.all() {
		id, err := seal.SealedBy(k.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		want := oldKey.ID()
		if k.KID == kid {
			want = newKey.ID()
		}
		if id != want {
			t.Fatalf("key %s sealed by %s, want %s", k.KID, id, want)
		}
	}
	if err := b.Apply(e.snapshot(e.rev+1), e.keys.all()); err != nil {
		t.Fatalf("Apply after rotation: %v", err)
	}

	onlyNew := sts.New(sts.Config{Now: e.clock.Now, NodeID: "node-c"}, e.keys, seal.NewSealer(newKey))
	err = onlyNew.Apply(e.snapshot(e.rev+1), e.keys.all())
	if !errors.Is(err, seal.ErrRootKeyMismatch) || !strings.Contains(err.Error(), oldKey.ID()) {
		t.Fatalf("Apply without the old key: %v; want ErrRootKeyMismatch naming %s", err, oldKey.ID())
	}
}
