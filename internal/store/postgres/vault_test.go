package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

func TestVault_RoundTripKeepsNilEmptyAndZero(t *testing.T) {
	vaulttest.RoundTripKeepsNilEmptyAndZero(t, pgtest.Open(t))
}

func TestVault_AuditRefusesUpdates(t *testing.T) {
	ctx := context.Background()
	s := pgtest.Open(t)
	if err := s.AppendAudit(ctx, vault.AuditRecord{Vault: "v1", Operation: "secrets/getSecret", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.PoolOf(s).Exec(ctx, `UPDATE vault_audit SET outcome = 'denied'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE vault_audit = %v, want the append-only refusal", err)
	}
}

// TestVault_TwoNodesAddingToOneNameLoseNothing runs concurrent AddVersion
// calls for one name (and a certificate racing for it) from two nodes, each
// with its own connection pool.
func TestVault_TwoNodesAddingToOneNameLoseNothing(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	if err := nodes[0].CreateVault(ctx, vault.Vault{Name: "v1", SoftDeleteRetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := nodes[i%2].AddVersion(ctx, vault.ObjectVersion{Vault: "v1", Type: vault.Secrets, Name: "Hot", Version: fmt.Sprintf("%032x", i+1), Sealed: []byte{byte(i)}},
				vault.AddOptions{Exclusive: []vault.ObjectType{vault.Certificates}})
			errs <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A certificate of the same name must never coexist with the secret.
		_, err := nodes[1].AddVersion(ctx, vault.ObjectVersion{Vault: "v1", Type: vault.Certificates, Name: "hot", Version: fmt.Sprintf("%032x", 999)},
			vault.AddOptions{Exclusive: []vault.ObjectType{vault.Secrets, vault.Keys}})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	var conflicts int
	for err := range errs {
		if errors.Is(err, store.ErrConflict) {
			conflicts++ // the secret lost the race to the certificate
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	vers, err := nodes[0].ListVersions(ctx, "v1", vault.Secrets, "HOT")
	_, certErr := nodes[0].GetObject(ctx, "v1", vault.Certificates, "hot")
	switch {
	case certErr == nil:
		// The certificate won: no secret version may exist.
		if !errors.Is(err, store.ErrNotFound) || conflicts != n {
			t.Fatalf("certificate and secret coexist: %d secret versions (%v), %d conflicts", len(vers), err, conflicts)
		}
	case errors.Is(certErr, store.ErrNotFound):
		if err != nil || len(vers) != n || conflicts != 0 {
			t.Fatalf("ListVersions = %d versions, %v; %d conflicts; want %d versions", len(vers), err, conflicts, n)
		}
		ids, seqs := map[string]bool{}, map[int64]bool{}
		for i, v := range vers {
			ids[v.Version], seqs[v.Seq] = true, true
			if i > 0 && v.Seq <= vers[i-1].Seq {
				t.Fatalf("versions out of Seq order: %d after %d", v.Seq, vers[i-1].Seq)
			}
		}
		if len(ids) != n || len(seqs) != n {
			t.Fatalf("%d distinct ids, %d distinct seqs; want %d", len(ids), len(seqs), n)
		}
	default:
		t.Fatal(certErr)
	}
}

const vaultKillChildEnv = "PORTCULLIS_POSTGRES_VAULT_KILL_CHILD_URL"

// TestVaultKill_AcknowledgedVersionsSurviveSIGKILL runs a child process that
// adds secret versions and reports each acknowledged one, kills it with
// SIGKILL while it writes (its open transaction is rolled back by the
// server), and checks that every acknowledged version is in the database,
// intact, and that the store still takes writes.
func TestVaultKill_AcknowledgedVersionsSurviveSIGKILL(t *testing.T) {
	if u := os.Getenv(vaultKillChildEnv); u != "" {
		ctx := context.Background()
		s, err := postgres.Open(ctx, u)
		vaulttest.ExitOnError(err)
		vaulttest.WriteVersionsUntilKilled(ctx, s)
		return
	}
	u := pgtest.NewDatabaseURL(t)
	acked := vaulttest.KillChild(t, "^TestVaultKill_AcknowledgedVersionsSurviveSIGKILL$", vaultKillChildEnv+"="+u, "versions")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vaulttest.CheckAckedVersions(t, s, acked, "after the kill")
}
