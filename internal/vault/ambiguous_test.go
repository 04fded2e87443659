package vault_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
)

// ambiguousStore is a real store whose commits may happen although they
// report an error, as when the connection to PostgreSQL is cut while it
// runs COMMIT: the next appendFails AppendAudit calls, and the next
// addFails AddVersion calls, commit and then return failure.
type ambiguousStore struct {
	vault.Store
	failure     error
	appendFails atomic.Int32
	addFails    atomic.Int32
}

func (a *ambiguousStore) AppendAudit(ctx context.Context, recs ...vault.AuditRecord) error {
	if a.appendFails.Add(-1) < 0 {
		a.appendFails.Add(1)
		return a.Store.AppendAudit(ctx, recs...)
	}
	if err := a.Store.AppendAudit(ctx, recs...); err != nil {
		return err
	}
	return a.failure
}

// AddVersion commits the version with the change's audit record, and then
// reports failure without telling the change that its record is written:
// the caller cannot know the commit happened.
func (a *ambiguousStore) AddVersion(ctx context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	if a.addFails.Add(-1) < 0 {
		a.addFails.Add(1)
		return a.Store.AddVersion(ctx, v, opts)
	}
	commitCtx := ctx
	if rec, ok := audit.ChangeFrom(ctx).Pending(); ok {
		commitCtx = audit.WithChange(context.WithoutCancel(context.Background()))
		audit.ChangeFrom(commitCtx).Claim(a, rec, nil, false)
	}
	if _, err := a.Store.AddVersion(commitCtx, v, opts); err != nil {
		return vault.ObjectVersion{}, err
	}
	return vault.ObjectVersion{}, a.failure
}

// Revision fails like the database it stands for while calls are set to fail.
func (a *ambiguousStore) Revision(ctx context.Context) (int64, error) {
	if errors.Is(a.failure, store.ErrUnavailable) && (a.appendFails.Load() > 0 || a.addFails.Load() > 0) {
		return 0, a.failure
	}
	return a.Store.Revision(ctx)
}

// TestAudit_ACommitThatFailedButHappenedIsStoredOnce: whatever path the
// audit writer takes after a commit that reported an error but happened
// (the batch spooled and replayed, the replay's own commit ambiguous, the
// batch retried in place, its records retried one by one, a change's
// record appended again by the operation), each record is in the store
// exactly once, on SQLite and on PostgreSQL.
func TestAudit_ACommitThatFailedButHappenedIsStoredOnce(t *testing.T) {
	cut := fmt.Errorf("commit: %w: connection reset by peer (test)", store.ErrUnavailable)
	backends := []struct {
		name string
		open func(t *testing.T) vault.Store
	}{
		{"sqlite", func(t *testing.T) vault.Store { return sqlitetest.Open(t) }},
		{"postgres", func(t *testing.T) vault.Store { return pgtest.Open(t) }},
	}
	cases := []struct {
		name        string
		spool       bool
		failure     error
		appendFails int32 // AppendAudit calls that commit and report failure
		addFails    int32 // AddVersion calls that commit and report failure
		reads       int
		sets        int
	}{
		{name: "batch spooled and replayed", spool: true, failure: cut, appendFails: 1, reads: 20},
		{name: "replay's commit failed too", spool: true, failure: cut, appendFails: 3, reads: 20},
		{name: "no spool: batch retried in place", failure: cut, appendFails: 2, reads: 20},
		{name: "store answers: records retried one by one", failure: errors.New("commit: unexpected EOF (test)"), appendFails: 1, reads: 20},
		{name: "change's record appended again by the operation", failure: cut, addFails: 1, sets: 1},
		{name: "change's record appended again and spooled", spool: true, failure: cut, addFails: 1, appendFails: 1, sets: 1},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					st := &ambiguousStore{Store: b.open(t), failure: tc.failure}
					dir := ""
					if tc.spool {
						dir = t.TempDir()
					}
					svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(rootKey(t)), Logger: slog.New(slog.DiscardHandler), AuditSpoolDir: dir})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = svc.Close(context.Background()) })
					if _, err := svc.EnsureDefault(ctx); err != nil {
						t.Fatal(err)
					}
					must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
					if err := svc.Flush(ctx); err != nil {
						t.Fatal(err)
					}

					st.appendFails.Store(tc.appendFails)
					st.addFails.Store(tc.addFails)
					var want []string
					for i := range tc.sets {
						id := fmt.Sprint("set-", i)
						want = append(want, id)
						// The commit happened; the caller is told it failed. The
						// context carries a Change, as the Key Vault API's does.
						_, _ = svc.SetSecret(audit.WithChange(ctx), vault.Caller{Admin: true, RequestID: id}, "default", "s", vault.SecretInput{Value: vault.NewStringValue("w")})
					}
					for i := range tc.reads {
						id := fmt.Sprintf("read-%02d", i)
						want = append(want, id)
						must[vault.Secret](t)(svc.GetSecret(ctx, vault.Caller{Admin: true, RequestID: id}, "default", "s", ""))
					}
					// Each Flush replays the spool once more; a replay whose
					// commit failed leaves its batch there for the next.
					// Without a spool, the Flush that waited for the failed
					// batch is told so, and the next one waits for its retries.
					for i := 0; i < 5 && (i == 0 || spoolHolds(t, dir)); i++ {
						if err := svc.Flush(ctx); err != nil && tc.spool {
							t.Fatal(err)
						}
					}
					if err := svc.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					if spoolHolds(t, dir) {
						t.Fatal("the spool still holds records after five flushes")
					}
					if n := st.appendFails.Load() + st.addFails.Load(); n > 0 {
						t.Fatalf("%d ambiguous commits left unused: the case did not run as meant", n)
					}

					perRequest := map[string]int{}
					for _, r := range auditOf(t, st) {
						perRequest[r.RequestID]++
						if r.ID == "" {
							t.Errorf("record %+v has no ID", r)
						}
						if r.Operation == string(vault.PermSecretsSet) && r.RequestID != admin.RequestID && r.Outcome != vault.OutcomeSuccess {
							t.Errorf("the change that committed is recorded as %s, want %s", r.Outcome, vault.OutcomeSuccess)
						}
					}
					for _, id := range want {
						if perRequest[id] != 1 {
							t.Errorf("request %s has %d records, want 1", id, perRequest[id])
						}
					}
				})
			}
		})
	}
}

// spoolHolds reports whether the audit spool in dir holds records ("" for
// no spool: false).
func spoolHolds(t *testing.T, dir string) bool {
	t.Helper()
	if dir == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, vault.AuditSpoolFile))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size() > 0
}
