package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// cutCommitStore is a real store whose next UpdateDirectory commits (the
// change with the request's audit record) and then reports the error a
// connection cut during COMMIT gives: the caller cannot tell that it
// happened.
type cutCommitStore struct {
	directory.Store
	cut atomic.Bool
}

func (c *cutCommitStore) UpdateDirectory(ctx context.Context, fn func(directory.Tx) error) error {
	if !c.cut.CompareAndSwap(true, false) {
		return c.Store.UpdateDirectory(ctx, fn)
	}
	// Commit through a Change of its own, so that the request's Change is
	// not told its record was written.
	commitCtx := ctx
	if rec, ok := audit.ChangeFrom(ctx).Pending(); ok {
		commitCtx = audit.WithChange(context.Background())
		audit.ChangeFrom(commitCtx).Claim(c, rec, nil, false)
	}
	if err := c.Store.UpdateDirectory(commitCtx, fn); err != nil {
		return err
	}
	return fmt.Errorf("commit: %w: connection reset by peer (test)", store.ErrUnavailable)
}

// TestAudit_AChangeWhoseCommitWasCutHasOneRecord: a write whose commit
// happened although the API saw an error appends its own record with the
// claimed record's ID, so the log keeps one record of the request: the
// one that committed with the change.
func TestAudit_AChangeWhoseCommitWasCutHasOneRecord(t *testing.T) {
	var cs *cutCommitStore
	e := newEnvWith(t, func(cfg *Config) {
		cfg.AuditLog = cfg.Store.(AuditLog)
		cs = &cutCommitStore{Store: cfg.Store}
		cfg.Store = cs
	})
	for _, tc := range []struct {
		name, tenant string
		cut          bool
	}{
		{"commit cut but happened", "cut-contoso", true},
		{"commit reported", "fabrikam", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs.cut.Store(tc.cut)
			r := e.do("POST", "/admin/v1/tenants", map[string]any{"name": tc.tenant})
			if tc.cut && r.status < 500 || !tc.cut && r.status != http.StatusCreated {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			tenants, err := e.st.ListTenants(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(tenants, func(tn directory.Tenant) bool { return tn.Name == tc.tenant }) {
				t.Fatalf("the tenant was not created: %+v", tenants)
			}
			id := r.header.Get("X-Request-Id")
			recs, err := e.st.ListAuditLog(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var mine []string
			for _, rec := range recs {
				if rec.RequestID == id {
					mine = append(mine, rec.Outcome+" "+rec.Code)
				}
			}
			if len(mine) != 1 || mine[0] != audit.OutcomeSuccess+" " {
				t.Fatalf("records of request %s: %q; want one, success", id, mine)
			}
		})
	}
}
