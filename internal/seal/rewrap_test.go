package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestKeyring_OpensCurrentAndPreviousSealsUnderCurrent(t *testing.T) {
	oldKey, newKey, otherKey := randomRootKey(t), randomRootKey(t), randomRootKey(t)
	oldBlob, err := NewSealer(oldKey).Seal([]byte("value"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if ring.RootKeyID() != newKey.ID() || NewSealer(newKey).RootKeyID() != newKey.ID() || NewSealer(RootKey{}).RootKeyID() != "" {
		t.Fatal("root key ids")
	}
	if pt, err := ring.Open(oldBlob, []byte("ctx")); err != nil || string(pt) != "value" {
		t.Fatalf("open old blob: %q, %v", pt, err)
	}
	newBlob, err := ring.Seal([]byte("fresh"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := SealedBy(newBlob); id != newKey.ID() {
		t.Fatalf("sealed by %s", id)
	}
	if _, err := ring.Open(oldBlob, []byte("other")); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("wrong aad: %v", err)
	}
	foreign, _ := NewSealer(otherKey).Seal([]byte("x"), nil)
	if _, err := ring.Open(foreign, nil); !errors.Is(err, ErrRootKeyMismatch) {
		t.Fatalf("foreign blob: %v", err)
	}
	if _, err := ring.Open([]byte{1, 2}, nil); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "2 bytes") {
		t.Fatalf("short blob: %v", err)
	}
	future := bytes.Clone(newBlob)
	future[0] = 2
	if _, err := ring.Open(future, []byte("ctx")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := NewKeyring(RootKey{}); err == nil {
		t.Fatal("zero current key accepted")
	}
}

func TestRewrap_MovesABlobToTheNewRootKey(t *testing.T) {
	oldKey, newKey := randomRootKey(t), randomRootKey(t)
	blob, _ := NewSealer(oldKey).Seal([]byte("secret"), []byte("ctx"))
	ring, _ := NewKeyring(newKey, oldKey)
	out, changed, err := ring.Rewrap(blob, []byte("ctx"))
	if err != nil || !changed {
		t.Fatalf("rewrap: %v, %v", changed, err)
	}
	if pt, err := NewSealer(newKey).Open(out, []byte("ctx")); err != nil || string(pt) != "secret" {
		t.Fatalf("new key opens: %q, %v", pt, err)
	}
	if _, err := NewSealer(oldKey).Open(out, []byte("ctx")); !errors.Is(err, ErrRootKeyMismatch) {
		t.Fatalf("old key still opens: %v", err)
	}
	same, changed, err := ring.Rewrap(out, []byte("ctx"))
	if err != nil || changed || !bytes.Equal(same, out) {
		t.Fatal("rewrap of a current blob changed it")
	}
	if _, _, err := ring.Rewrap(blob, []byte("wrong")); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("rewrap with wrong aad: %v", err)
	}
	if _, _, err := Rewrap(NewSealer(oldKey), nil, blob, []byte("ctx")); err == nil {
		t.Fatal("rewrap to no key")
	}
}

func TestKeyring_NamesItsKeys(t *testing.T) {
	cur, p1, p2, other := randomRootKey(t), randomRootKey(t), randomRootKey(t), randomRootKey(t)
	for _, tc := range []struct {
		name     string
		previous []RootKey
		want     []string
	}{
		{"none", nil, nil},
		{"in order", []RootKey{p2, p1}, []string{p2.ID(), p1.ID()}},
		{"current and duplicates dropped", []RootKey{p1, cur, p1, p2}, []string{p1.ID(), p2.ID()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring, err := NewKeyring(cur, tc.previous...)
			if err != nil {
				t.Fatal(err)
			}
			got := ring.PreviousRootKeyIDs()
			if len(got) != len(tc.want) {
				t.Fatalf("previous = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("previous = %v, want %v", got, tc.want)
				}
			}
			if !ring.Holds(cur.ID()) || ring.Holds(other.ID()) || ring.Holds("") {
				t.Fatal("Holds: wrong answer for the current or a foreign key")
			}
			for _, id := range tc.want {
				if !ring.Holds(id) {
					t.Fatalf("Holds(%s) = false", id)
				}
			}
		})
	}
	if _, err := NewKeyring(cur, RootKey{}); err == nil {
		t.Fatal("zero previous key accepted")
	}
}
