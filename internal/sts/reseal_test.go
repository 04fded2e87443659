package sts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
)

// casStore is a SealedKeyStore over a map, with keys that vanish or are
// re-sealed by another node before the compare-and-swap.
type casStore struct {
	sealed  map[string][]byte
	gone    map[string]bool
	overrun map[string]bool
}

func (s *casStore) ReplaceSigningKeySealed(_ context.Context, tenantID, kid string, old, sealed []byte) (bool, error) {
	k := tenantID + "/" + kid
	if s.gone[k] {
		return false, fmt.Errorf("signing key %q: %w", kid, store.ErrNotFound)
	}
	if s.overrun[k] || string(s.sealed[k]) != string(old) {
		return false, nil
	}
	s.sealed[k] = sealed
	return true, nil
}

func TestResealSigningKeys_ResealsOnlyWhatTheCurrentKeyDidNotSeal(t *testing.T) {
	oldKey, _ := seal.ParseRootKey(strings.Repeat("5a", 32))
	newKey, _ := seal.ParseRootKey(strings.Repeat("6b", 32))
	oldRing, _ := seal.NewKeyring(oldKey)
	ring, _ := seal.NewKeyring(newKey, oldKey)
	st := &casStore{sealed: map[string][]byte{}, gone: map[string]bool{"t/gone": true}, overrun: map[string]bool{"t/overrun": true}}
	var keys []SigningKey
	for _, kid := range []string{"old", "gone", "overrun", "current"} {
		r := oldRing
		if kid == "current" {
			r = ring
		}
		sealed, err := r.Seal([]byte("pkcs8-"+kid), SigningKeyAAD("t", kid))
		if err != nil {
			t.Fatal(err)
		}
		st.sealed["t/"+kid] = sealed
		keys = append(keys, SigningKey{TenantID: "t", KID: kid, Sealed: sealed})
	}
	rep, err := ResealSigningKeys(context.Background(), keys, ring, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (ResealReport{Resealed: 1, AlreadyCurrent: 2}) {
		t.Fatalf("report = %+v; want 1 re-sealed (old), 2 already current (current, overrun by another node), the deleted one skipped", rep)
	}
	if by, _ := seal.SealedBy(st.sealed["t/old"]); by != newKey.ID() {
		t.Fatalf("the old key is sealed by %s; want the current root key", by)
	}
	pt, err := ring.Open(st.sealed["t/old"], SigningKeyAAD("t", "old"))
	if err != nil || string(pt) != "pkcs8-old" {
		t.Fatalf("re-sealed key opens to %q, %v", pt, err)
	}

	// A key of a root key the node does not hold stops the run and says so.
	foreign, _ := seal.ParseRootKey(strings.Repeat("7c", 32))
	foreignRing, _ := seal.NewKeyring(foreign)
	sealed, _ := foreignRing.Seal([]byte("x"), SigningKeyAAD("t", "foreign"))
	_, err = ResealSigningKeys(context.Background(), []SigningKey{{TenantID: "t", KID: "foreign", Sealed: sealed}}, ring.WithMissingKeyHint("pass it with --previous-root-key"), st)
	if err == nil || !strings.Contains(err.Error(), foreign.ID()) || !strings.Contains(err.Error(), "--previous-root-key") {
		t.Fatalf("foreign key: %v; want an error naming the missing root key and the hint", err)
	}
}
