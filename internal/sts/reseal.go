package sts

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
)

// RootKeys seals signing keys under the node's current root key and opens
// them under any root key it holds (*seal.Keyring).
type RootKeys interface {
	RootKeyID() string
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// SealedKeyStore replaces a signing key's sealed bytes where they still
// equal old (a compare-and-swap across nodes), reporting whether it did;
// store.ErrNotFound when the key no longer exists.
type SealedKeyStore interface {
	ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error)
}

// ResealReport counts what ResealSigningKeys did.
type ResealReport struct {
	Resealed       int // sealed again under the current root key by this run
	AlreadyCurrent int // sealed under it already, or by another node meanwhile
}

// ResealSigningKeys seals every key of keys that is not yet sealed under the
// current root key again under it (with its AAD, SigningKeyAAD), through a
// compare-and-swap so that concurrent runs on several nodes re-seal each
// key once. A key deleted meanwhile (retired by rotation) is skipped.
func ResealSigningKeys(ctx context.Context, keys []SigningKey, ring RootKeys, st SealedKeyStore) (ResealReport, error) {
	var rep ResealReport
	current := ring.RootKeyID()
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		id, err := seal.SealedBy(k.Sealed)
		if err != nil {
			return rep, fmt.Errorf("rekey signing key %s of tenant %s: the stored private key is not a sealed blob (%w)", k.KID, k.TenantID, err)
		}
		if id == current {
			rep.AlreadyCurrent++
			continue
		}
		aad := SigningKeyAAD(k.TenantID, k.KID)
		pt, err := ring.Open(k.Sealed, aad)
		if err != nil {
			return rep, fmt.Errorf("rekey signing key %s of tenant %s: %w", k.KID, k.TenantID, err)
		}
		resealed, err := ring.Seal(pt, aad)
		clear(pt)
		if err != nil {
			return rep, fmt.Errorf("rekey signing key %s of tenant %s: %w", k.KID, k.TenantID, err)
		}
		ok, err := st.ReplaceSigningKeySealed(ctx, k.TenantID, k.KID, k.Sealed, resealed)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Retired and deleted by key rotation meanwhile: nothing to re-seal.
		case err != nil:
			return rep, fmt.Errorf("rekey signing key %s of tenant %s: %w", k.KID, k.TenantID, err)
		case ok:
			rep.Resealed++
		default:
			// Another node re-sealed it first (compare-and-swap lost).
			rep.AlreadyCurrent++
		}
	}
	return rep, nil
}
