package seal

import (
	"errors"
	"fmt"
)

// RootKeyID returns the ID of the root key s seals under ("" for a Sealer
// built from the zero RootKey), so that a rekey can tell which blobs it
// still has to re-wrap.
func (s *Sealer) RootKeyID() string {
	if s == nil || s.wrap == nil {
		return ""
	}
	return fmt.Sprintf("%x", s.id[:])
}

// Keyring seals under a current root key and opens blobs sealed under the
// current key or any previous one, so that readers keep working while a
// root-key rotation re-wraps the stored blobs; it is safe for concurrent use.
type Keyring struct {
	current *Sealer
	byID    map[string]*Sealer
	ids     []string // current first, then previous keys in the order given
	hint    string   // see WithMissingKeyHint
}

// NewKeyring returns a Keyring that seals under current and also opens blobs
// sealed under each of previous; the zero RootKey is refused.
func NewKeyring(current RootKey, previous ...RootKey) (*Keyring, error) {
	if !current.set {
		return nil, errors.New("seal: keyring needs a current root key")
	}
	k := &Keyring{current: NewSealer(current), byID: map[string]*Sealer{}, ids: []string{current.ID()}}
	k.byID[current.ID()] = k.current
	for i, p := range previous {
		if !p.set {
			return nil, fmt.Errorf("seal: previous root key %d is the zero key", i+1)
		}
		if _, dup := k.byID[p.ID()]; !dup {
			k.byID[p.ID()] = NewSealer(p)
			k.ids = append(k.ids, p.ID())
		}
	}
	return k, nil
}

// RootKeyID returns the ID of the current root key, the one Seal uses.
func (k *Keyring) RootKeyID() string { return k.current.RootKeyID() }

// PreviousRootKeyIDs returns the IDs of the previous root keys the keyring
// opens but no longer seals with, in the order given to NewKeyring and
// without the current key or duplicates.
func (k *Keyring) PreviousRootKeyIDs() []string { return append([]string(nil), k.ids[1:]...) }

// Holds reports whether the keyring opens blobs sealed under the root key
// with this ID.
func (k *Keyring) Holds(id string) bool {
	_, ok := k.byID[id]
	return ok
}

// Seal seals plaintext under the current root key (see Sealer.Seal).
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.current.Seal(plaintext, aad)
}

// Open opens a blob sealed under the current or a previous root key; a blob
// of any other key fails with a *MissingRootKeyError (ErrRootKeyMismatch)
// naming the keys held.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, err := SealedBy(sealed)
	if err != nil {
		// Any sealer refuses it before using a key; the current one says
		// precisely why (too short, or which version).
		return k.current.Open(sealed, aad)
	}
	s, ok := k.byID[id]
	if !ok {
		return nil, &MissingRootKeyError{ID: id, Current: k.ids[0], Previous: k.PreviousRootKeyIDs(), Hint: k.hint}
	}
	return s.Open(sealed, aad)
}

// Opener opens sealed blobs; *Sealer and *Keyring implement it.
type Opener interface {
	Open(sealed, aad []byte) ([]byte, error)
}

// Rewrap returns blob sealed under to's root key, opening it with from (a
// Keyring holding the old key, or the old Sealer). It returns blob unchanged
// and false when blob is already sealed under to's key.
//
// The payload's GCM tag covers the blob header, wrapped data key included,
// so a new wrapping always needs a new payload tag; re-using the data key
// and nonce for it would be GCM nonce reuse. Rewrap therefore seals the
// plaintext again under a fresh data key: the blob's context (aad) is needed
// and checked, and the plaintext exists only transiently in memory.
func Rewrap(from Opener, to *Sealer, blob, aad []byte) ([]byte, bool, error) {
	id, err := SealedBy(blob)
	if err != nil {
		return nil, false, err
	}
	if to == nil || to.wrap == nil {
		return nil, false, errors.New("seal: rewrap: no target root key")
	}
	if id == to.RootKeyID() {
		return blob, false, nil
	}
	pt, err := from.Open(blob, aad)
	if err != nil {
		return nil, false, fmt.Errorf("seal: rewrap: %w", err)
	}
	defer clear(pt)
	out, err := to.Seal(pt, aad)
	if err != nil {
		return nil, false, fmt.Errorf("seal: rewrap: %w", err)
	}
	return out, true, nil
}

// Rewrap returns blob sealed under the keyring's current root key (opening
// it with whichever key sealed it), and whether it changed.
func (k *Keyring) Rewrap(blob, aad []byte) ([]byte, bool, error) {
	return Rewrap(k, k.current, blob, aad)
}
