package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/seal"
)

// RekeyBatchSize is how many versions Rekey reads and rewrites per transaction.
const RekeyBatchSize = 100

// RekeyReport summarises a Rekey run.
type RekeyReport struct {
	// Scanned counts versions read; Rewrapped those re-sealed under the new key.
	Scanned   int
	Rewrapped int
	// RootKeyID is the root key every blob is now sealed under.
	RootKeyID string
}

// Rekey rotates the root key: it switches the service to next — which must
// also open blobs of the current root key (a seal.Keyring holding the new
// key and the old one) — and re-seals every stored value and private key
// under next's root key, RekeyBatchSize versions per store transaction.
// Readers keep working throughout because next opens both keys. Rekey is
// resumable: blobs already under next's key are skipped, so a run that
// stopped part-way can simply be started again. In a cluster, give every
// node the keyring first, then run Rekey once, then drop the old key.
func (s *Service) Rekey(ctx context.Context, next Sealer) (RekeyReport, error) {
	s.rekeyMu.Lock()
	defer s.rekeyMu.Unlock()
	if next == nil || next.RootKeyID() == "" {
		return RekeyReport{}, errors.New("vault rekey: the new sealer has no root key")
	}
	rep := RekeyReport{RootKeyID: next.RootKeyID()}
	// Prove next can open what is stored before any reader depends on it.
	if err := s.probe(ctx, next); err != nil {
		return rep, err
	}
	s.sealer.Store(&sealerBox{next})
	var after int64
	for {
		batch, err := s.store.ScanVersions(ctx, after, RekeyBatchSize)
		if err != nil {
			return rep, fmt.Errorf("vault rekey: scan: %w", err)
		}
		if len(batch) == 0 {
			return rep, nil
		}
		var updates []SealedUpdate
		for _, ver := range batch {
			rep.Scanned++
			after = ver.Seq
			if len(ver.Sealed) == 0 {
				continue
			}
			if id, err := seal.SealedBy(ver.Sealed); err == nil && id == rep.RootKeyID {
				continue
			}
			a := aad(ver.Vault, ver.Type, ver.Name, ver.Version)
			pt, err := next.Open(ver.Sealed, a)
			if err != nil {
				return rep, fmt.Errorf("vault rekey: open %s %s version %s: %w", ver.Type.singular(), ver.Name, ver.Version, err)
			}
			nb, err := next.Seal(pt, a)
			clear(pt)
			if err != nil {
				return rep, fmt.Errorf("vault rekey: seal %s %s: %w", ver.Type.singular(), ver.Name, err)
			}
			updates = append(updates, SealedUpdate{Seq: ver.Seq, Old: ver.Sealed, New: nb})
		}
		if len(updates) > 0 {
			n, err := s.store.ReplaceSealed(ctx, updates)
			if err != nil {
				return rep, fmt.Errorf("vault rekey: write: %w", err)
			}
			rep.Rewrapped += n
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
}

// probe opens the first blob not sealed under next's key with next.
func (s *Service) probe(ctx context.Context, next Sealer) error {
	var after int64
	for {
		batch, err := s.store.ScanVersions(ctx, after, RekeyBatchSize)
		if err != nil {
			return fmt.Errorf("vault rekey: scan: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, ver := range batch {
			after = ver.Seq
			if len(ver.Sealed) == 0 {
				continue
			}
			if id, err := seal.SealedBy(ver.Sealed); err == nil && id == next.RootKeyID() {
				continue
			}
			pt, err := next.Open(ver.Sealed, aad(ver.Vault, ver.Type, ver.Name, ver.Version))
			if err != nil {
				return fmt.Errorf("vault rekey: the new sealer cannot open what is stored (%w); build it with seal.NewKeyring(newKey, currentKey)", err)
			}
			clear(pt)
			return nil
		}
	}
}
