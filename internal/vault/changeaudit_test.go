package vault_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
)

// changeAuditService is a Service over a real SQLite store whose read
// records wait a long time in the queue, so that only a record committed
// with its change is in the store when the operation returns.
func changeAuditService(t *testing.T) (*vault.Service, *sqlite.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(rootKey(t)), Logger: slog.New(slog.DiscardHandler), AuditFlushInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc, st
}

func TestChangeAudit_TheRecordCommitsWithTheChange(t *testing.T) {
	cases := []struct {
		name        string
		ctx         func() (context.Context, func() (held bool))
		vault       string
		wantOutcome string
		wantVersion bool
	}{
		{"change in a request context", func() (context.Context, func() bool) { return audit.WithChange(context.Background()), nil }, "default", vault.OutcomeSuccess, true},
		{"change without one (written on its own)", func() (context.Context, func() bool) { return context.Background(), nil }, "default", vault.OutcomeSuccess, true},
		{"failed change", func() (context.Context, func() bool) { return audit.WithChange(context.Background()), nil }, "missing", vault.OutcomeFailed, false},
		{"vault takes over the admin API's claim", func() (context.Context, func() bool) {
			ctx := audit.WithChange(context.Background())
			ch, owner := audit.ChangeFrom(ctx), new(byte)
			ch.Claim(owner, audit.Record{Type: audit.TypeDirectory, Operation: "PUT /admin/v1/x"}, nil, true)
			return ctx, func() bool { _, held := ch.Release(owner); return held }
		}, "default", vault.OutcomeSuccess, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc, st := changeAuditService(t)
			ctx, release := tc.ctx()
			name := "s" + string(rune('a'+i))
			sec, err := svc.SetSecret(ctx, admin, tc.vault, name, vault.SecretInput{Value: vault.NewStringValue("v")})
			if (err == nil) != (tc.wantOutcome == vault.OutcomeSuccess) {
				t.Fatalf("SetSecret = %v", err)
			}
			if release != nil && release() {
				t.Error("the outer claim was still held: the vault operation did not take it over")
			}
			// No Flush: the change's record is in the store already.
			recs, err := st.ListAuditLog(context.Background(), audit.Query{Operation: string(vault.PermSecretsSet)})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records of setSecret, want exactly 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.Outcome != tc.wantOutcome || r.Name != name || r.RequestID != admin.RequestID || r.Vault != tc.vault {
				t.Errorf("record %+v; want outcome %s for %s in vault %s", r, tc.wantOutcome, name, tc.vault)
			}
			if tc.wantVersion && r.Version != sec.Version {
				t.Errorf("record version %q, want the new version %q", r.Version, sec.Version)
			}
			if all, _ := st.ListAuditLog(context.Background(), audit.Query{Operation: "PUT /admin/v1/x"}); len(all) != 0 {
				t.Errorf("the admin API's record was written too: %+v", all)
			}
		})
	}
}
