package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

func TestVault_RoundTripKeepsNilEmptyAndZero(t *testing.T) {
	vaulttest.RoundTripKeepsNilEmptyAndZero(t, openTest(t))
}

func TestVault_RevisionMovesForObjectsNotForAudit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	rev := func() int64 {
		r, err := s.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := rev()
	if err := s.CreateVault(ctx, vault.Vault{Name: "v1", SoftDeleteRetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	if rev() != before+1 {
		t.Fatalf("CreateVault moved the revision from %d to %d, want +1", before, rev())
	}
	before = rev()
	if err := s.AppendAudit(ctx, vault.AuditRecord{Vault: "v1", Operation: "secrets/getSecret", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkLifetimeAction(ctx, vault.LifetimeMarker{Vault: "v1", Name: "c", Version: "1", Action: "AutoRenew", Trigger: "daysBeforeExpiry=30"}); err != nil {
		t.Fatal(err)
	}
	if rev() != before {
		t.Fatalf("audit and markers moved the revision from %d to %d", before, rev())
	}
	// A refused write leaves the revision alone.
	if err := s.CreateVault(ctx, vault.Vault{Name: "V1"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate vault: %v", err)
	}
	if rev() != before {
		t.Fatalf("a refused write moved the revision")
	}
}

func TestVault_AuditRefusesUpdates(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.AppendAudit(ctx, vault.AuditRecord{Vault: "v1", Operation: "secrets/getSecret", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.w.ExecContext(ctx, `UPDATE vault_audit SET outcome = 'denied'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE vault_audit = %v, want the append-only refusal", err)
	}
}

const vaultKillChildEnv = "PORTCULLIS_SQLITE_VAULT_KILL_CHILD_DB"

// TestVaultKill_AcknowledgedVersionsSurviveSIGKILL runs a child process that
// adds secret versions and reports each acknowledged one, kills it with
// SIGKILL while it writes, and checks that every acknowledged version is in
// the database, intact.
func TestVaultKill_AcknowledgedVersionsSurviveSIGKILL(t *testing.T) {
	if path := os.Getenv(vaultKillChildEnv); path != "" {
		ctx := context.Background()
		s, err := Open(ctx, path)
		vaulttest.ExitOnError(err)
		vaulttest.WriteVersionsUntilKilled(ctx, s)
		return
	}
	path := filepath.Join(t.TempDir(), "portcullis.db")
	acked := vaulttest.KillChild(t, "^TestVaultKill_AcknowledgedVersionsSurviveSIGKILL$", vaultKillChildEnv+"="+path, "versions")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vaulttest.CheckAckedVersions(t, s, acked, "after reopen")
}
