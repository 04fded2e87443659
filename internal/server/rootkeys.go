package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
)

// statusScanBatch is how many vault versions RootKeyStatus reads at a time.
const statusScanBatch = 500

// rootKeyManager re-seals the stored blobs under the node's current root key
// and counts them by root key, for the admin API's /rekey and /rootKeys.
type rootKeyManager struct {
	keys   *seal.Keyring
	store  database
	vstore vault.Store
	vault  *vault.Service
}

// Rekey re-seals the vault's blobs, then the signing keys. The signing keys
// go last on purpose: until the run has completed, at least one of them is
// still sealed under the previous key, so a node started without that key
// refuses to start (clearly) instead of failing vault reads later.
func (m rootKeyManager) Rekey(ctx context.Context) (admin.RekeyReport, error) {
	rep := admin.RekeyReport{RootKeyID: m.keys.RootKeyID()}
	vr, err := m.vault.Rekey(ctx, m.keys)
	rep.VaultBlobs = vr.Rewrapped
	rep.AlreadyCurrent = vr.Scanned - vr.Rewrapped
	if mk := (*seal.MissingRootKeyError)(nil); errors.As(err, &mk) {
		// The vault's own wording is meant for its Go callers; the operator
		// needs the key id and the flag.
		return rep, fmt.Errorf("rekey stopped at a vault blob: %w", mk)
	}
	if err != nil {
		return rep, err
	}
	keys, err := m.signingKeys(ctx)
	if err != nil {
		return rep, err
	}
	sk, err := sts.ResealSigningKeys(ctx, keys, m.keys, m.store)
	rep.SigningKeys += sk.Resealed
	rep.AlreadyCurrent += sk.AlreadyCurrent
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// signingKeys returns every tenant's signing keys.
func (m rootKeyManager) signingKeys(ctx context.Context) ([]sts.SigningKey, error) {
	tenants, err := m.store.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("rekey: list tenants: %w", err)
	}
	var out []sts.SigningKey
	for _, t := range tenants {
		ks, err := m.store.ListSigningKeys(ctx, t.ID)
		if err != nil {
			return nil, fmt.Errorf("rekey: list signing keys of tenant %s: %w", t.ID, err)
		}
		out = append(out, ks...)
	}
	return out, nil
}

// RootKeyStatus reads every vault version and signing key and counts them
// by the root key that sealed them.
func (m rootKeyManager) RootKeyStatus(ctx context.Context) (admin.RootKeyStatus, error) {
	st := admin.RootKeyStatus{CurrentRootKeyID: m.keys.RootKeyID(), PreviousRootKeyIDs: m.keys.PreviousRootKeyIDs()}
	counts := map[string]*admin.SealedCount{}
	count := func(blob []byte) *admin.SealedCount {
		id, err := seal.SealedBy(blob)
		if err != nil {
			st.Malformed++
			return nil
		}
		c, ok := counts[id]
		if !ok {
			c = &admin.SealedCount{RootKeyID: id, Held: m.keys.Holds(id)}
			counts[id] = c
		}
		return c
	}
	var after int64
	for {
		batch, err := m.vstore.ScanVersions(ctx, after, statusScanBatch)
		if err != nil {
			return st, fmt.Errorf("root key status: scan vault versions: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, v := range batch {
			after = v.Seq
			if len(v.Sealed) == 0 {
				continue
			}
			if c := count(v.Sealed); c != nil {
				c.VaultBlobs++
			}
		}
	}
	keys, err := m.signingKeys(ctx)
	if err != nil {
		return st, err
	}
	for _, k := range keys {
		if c := count(k.Sealed); c != nil {
			c.SigningKeys++
		}
	}
	if c, ok := counts[st.CurrentRootKeyID]; ok {
		st.SealedBy = append(st.SealedBy, *c)
		delete(counts, st.CurrentRootKeyID)
	}
	// Previous keys in the order given, then keys this node does not hold.
	for _, id := range st.PreviousRootKeyIDs {
		if c, ok := counts[id]; ok {
			st.SealedBy = append(st.SealedBy, *c)
			delete(counts, id)
		}
	}
	var unknown []string
	for id := range counts {
		unknown = append(unknown, id)
	}
	slices.Sort(unknown)
	for _, id := range unknown {
		st.SealedBy = append(st.SealedBy, *counts[id])
	}
	return st, nil
}
