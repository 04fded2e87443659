package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/seal"
)

// DefaultRekeyBudget is how long one POST /admin/v1/rekey works before it
// answers with what it did so far (complete=false), well inside the
// server's write timeout and the CLI's request timeout; the caller repeats
// the request until complete.
const DefaultRekeyBudget = 30 * time.Second

// RootKeys re-seals the stored blobs under the node's current root key and
// reports which root keys seal them; the server implements it over the
// store, the vault and its root-key keyring.
type RootKeys interface {
	// Rekey re-seals every vault blob and signing key that is not sealed
	// under the current root key, each with a compare-and-swap so that runs
	// on several nodes are safe together. It is resumable: when ctx ends it
	// returns the counts so far with an error, and a later run carries on.
	Rekey(ctx context.Context) (RekeyReport, error)
	// RootKeyStatus counts the stored blobs by the root key that sealed them.
	RootKeyStatus(ctx context.Context) (RootKeyStatus, error)
}

// RekeyReport counts what one Rekey run did.
type RekeyReport struct {
	// RootKeyID is the current root key, the one everything is re-sealed under.
	RootKeyID string
	// VaultBlobs and SigningKeys count the blobs this run re-sealed.
	VaultBlobs  int
	SigningKeys int
	// AlreadyCurrent counts the blobs found already sealed under the current
	// root key (including those another node re-sealed meanwhile).
	AlreadyCurrent int
}

// RootKeyStatus says which root keys seal the stored blobs.
type RootKeyStatus struct {
	// CurrentRootKeyID is the key this node seals with; PreviousRootKeyIDs
	// are the keys it also opens with (--previous-root-key).
	CurrentRootKeyID   string
	PreviousRootKeyIDs []string
	// SealedBy has one entry per root key that seals at least one blob,
	// the current key first.
	SealedBy []SealedCount
	// Malformed counts stored blobs that are not sealed blobs at all.
	Malformed int
}

// SealedCount is how many blobs one root key seals.
type SealedCount struct {
	RootKeyID   string
	Held        bool // this node holds the key (current or previous)
	VaultBlobs  int
	SigningKeys int
}

// rootKeyRoutes are the root-key rotation operations.
func rootKeyRoutes() []route {
	return []route{
		{"POST", basePath + "/rekey", false, func(a *API) handlerFunc { return a.rekey }},
		{"GET", basePath + "/rootKeys", false, func(a *API) handlerFunc { return a.rootKeyStatus }},
	}
}

type rekeyJSON struct {
	RootKeyID      string `json:"rootKeyId"`
	VaultBlobs     int    `json:"vaultBlobs"`
	SigningKeys    int    `json:"signingKeys"`
	AlreadyCurrent int    `json:"alreadyCurrent"`
	Complete       bool   `json:"complete"`
}

type sealedCountJSON struct {
	RootKeyID   string `json:"rootKeyId"`
	Current     bool   `json:"current"`
	Held        bool   `json:"held"`
	VaultBlobs  int    `json:"vaultBlobs"`
	SigningKeys int    `json:"signingKeys"`
}

type rootKeyStatusJSON struct {
	CurrentRootKeyID   string            `json:"currentRootKeyId"`
	PreviousRootKeyIDs []string          `json:"previousRootKeyIds"`
	SealedBy           []sealedCountJSON `json:"sealedBy"`
	Malformed          int               `json:"malformed"`
	RekeyNeeded        bool              `json:"rekeyNeeded"`
	PreviousKeysInUse  []string          `json:"previousKeysInUse"`
}

func (a *API) withRootKeys(r *http.Request) error {
	if a.rootKeys == nil {
		return errorf(http.StatusServiceUnavailable, "this server was started without root-key management, so %s is not available", r.URL.Path)
	}
	return nil
}

// rekey runs one budgeted rekey pass. A pass cut short by the budget is a
// success with complete=false: everything it re-sealed is committed and the
// next pass resumes.
func (a *API) rekey(w http.ResponseWriter, r *http.Request) error {
	if err := a.withRootKeys(r); err != nil {
		return err
	}
	var none struct{}
	if err := decodeJSON(w, r, &none, true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.rekeyBudget)
	defer cancel()
	rep, err := a.rootKeys.Rekey(ctx)
	complete := err == nil
	if err != nil {
		switch {
		case ctx.Err() != nil && r.Context().Err() == nil:
			// The budget ran out: report progress, the caller repeats.
		case errors.Is(err, seal.ErrRootKeyMismatch):
			return conflict("%s", err.Error())
		default:
			return err
		}
	}
	if rep.SigningKeys > 0 {
		// The token service caches unsealed keys by their sealed bytes.
		a.notifyChanged(r.Context())
	}
	a.log.Info("admin rekey", "root_key_id", rep.RootKeyID, "vault_blobs", rep.VaultBlobs, "signing_keys", rep.SigningKeys,
		"already_current", rep.AlreadyCurrent, "complete", complete)
	writeJSON(w, http.StatusOK, rekeyJSON{
		RootKeyID: rep.RootKeyID, VaultBlobs: rep.VaultBlobs, SigningKeys: rep.SigningKeys,
		AlreadyCurrent: rep.AlreadyCurrent, Complete: complete,
	})
	return nil
}

func (a *API) rootKeyStatus(w http.ResponseWriter, r *http.Request) error {
	if err := a.withRootKeys(r); err != nil {
		return err
	}
	st, err := a.rootKeys.RootKeyStatus(r.Context())
	if err != nil {
		return err
	}
	out := rootKeyStatusJSON{
		CurrentRootKeyID:   st.CurrentRootKeyID,
		PreviousRootKeyIDs: append([]string{}, st.PreviousRootKeyIDs...),
		SealedBy:           []sealedCountJSON{},
		Malformed:          st.Malformed,
		PreviousKeysInUse:  []string{},
	}
	for _, c := range st.SealedBy {
		cur := c.RootKeyID == st.CurrentRootKeyID
		out.SealedBy = append(out.SealedBy, sealedCountJSON{
			RootKeyID: c.RootKeyID, Current: cur, Held: c.Held, VaultBlobs: c.VaultBlobs, SigningKeys: c.SigningKeys,
		})
		if !cur && c.VaultBlobs+c.SigningKeys > 0 {
			out.RekeyNeeded = true
			out.PreviousKeysInUse = append(out.PreviousKeysInUse, c.RootKeyID)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
