package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// auditLogSuite holds implementations to the one audit log: a change's
// record commits in the change's transaction (and only then), filters,
// paging, the shipping cursor and pruning.
var auditLogSuite = suite{
	{"ChangeCommitsWithItsRecord", testAuditChangeCommitsWithItsRecord},
	{"FailedChangeLeavesNoRecord", testAuditFailedChangeLeavesNoRecord},
	{"ListFiltersAndPages", testAuditListFiltersAndPages},
	{"ShipCursorAndSettling", testAuditShipCursor},
	{"PruneByAgeRowsAndCursor", testAuditPrune},
	{"RecordWrittenAgainTakesNoSeq", testAuditWrittenAgainTakesNoSeq},
}

// claimed returns a context whose audit.Change is claimed with a record of op.
func claimed(op string) (context.Context, *audit.Change, any) {
	c := audit.WithChange(ctx)
	ch := audit.ChangeFrom(c)
	owner := new(byte)
	ch.Claim(owner, audit.Record{AppID: "actor", Type: audit.TypeDirectory, Operation: op, Outcome: audit.OutcomeSuccess}, func() time.Time { return base }, false)
	return c, ch, owner
}

func auditOps(t *testing.T, s Backend, q audit.Query) []string {
	t.Helper()
	recs, err := s.ListAuditLog(ctx, q)
	if err != nil {
		t.Fatalf("ListAuditLog(%+v): %v", q, err)
	}
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Operation)
	}
	return ops
}

func testAuditChangeCommitsWithItsRecord(t *testing.T, s Backend) {
	cases := []struct {
		name   string
		change func(context.Context) error
	}{
		{"directory", func(c context.Context) error { return s.CreateTenant(c, tenant("t-"+newID(), base)) }},
		{"vault", func(c context.Context) error {
			return s.CreateVault(c, vault.Vault{Name: "v" + newID()[:8], SoftDeleteRetentionDays: 7, Created: base})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := "change " + tc.name
			c, ch, owner := claimed(op)
			if err := tc.change(c); err != nil {
				t.Fatalf("change: %v", err)
			}
			// A second transaction of the same operation adds no record.
			if err := tc.change(c); err != nil {
				t.Fatalf("second change: %v", err)
			}
			if written, held := ch.Release(owner); !written || !held {
				t.Fatalf("Release = written %v, held %v; want true, true", written, held)
			}
			recs, err := s.ListAuditLog(ctx, audit.Query{Operation: op})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records of %q, want exactly 1: %+v", len(recs), op, recs)
			}
			r := recs[0]
			if r.AppID != "actor" || r.Outcome != audit.OutcomeSuccess || !r.Time.Equal(base.Truncate(time.Microsecond)) || r.Seq <= 0 {
				t.Errorf("record = %+v; want actor, success, time %v, a seq", r, base)
			}
			// Without a claim, a change writes no record of its own.
			if err := tc.change(audit.WithChange(ctx)); err != nil {
				t.Fatal(err)
			}
			if n := len(auditOps(t, s, audit.Query{})); n != 1+countBefore(t, s, op) {
				t.Errorf("an unclaimed change added a record: %d records", n)
			}
		})
	}
}

// countBefore is the number of records other than those of op (records
// of the earlier cases of the table).
func countBefore(t *testing.T, s Backend, op string) int {
	n := 0
	for _, o := range auditOps(t, s, audit.Query{}) {
		if o != op {
			n++
		}
	}
	return n
}

func testAuditFailedChangeLeavesNoRecord(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "taken")
	v := vault.Vault{Name: "taken", SoftDeleteRetentionDays: 7, Created: base}
	if err := s.CreateVault(ctx, v); err != nil {
		t.Fatal(err)
	}
	mutateErr := errors.New("refused by the rule")
	cases := []struct {
		name   string
		change func(context.Context) error
		want   error
	}{
		{"directory conflict", func(c context.Context) error { return s.CreateTenant(c, tenant(tn.Name, base)) }, store.ErrConflict},
		{"vault conflict", func(c context.Context) error { return s.CreateVault(c, v) }, store.ErrConflict},
		{"vault mutate refuses", func(c context.Context) error {
			_, err := s.UpdateVault(c, v.Name, func(*vault.Vault) error { return mutateErr })
			return err
		}, mutateErr},
		{"cancelled context", func(c context.Context) error {
			c, cancel := context.WithCancel(c)
			cancel()
			return s.CreateTenant(c, tenant("never", base))
		}, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := "failed " + tc.name
			c, ch, owner := claimed(op)
			if err := tc.change(c); !errors.Is(err, tc.want) {
				t.Fatalf("change = %v, want %v", err, tc.want)
			}
			if written, _ := ch.Release(owner); written {
				t.Error("Release reports the record written after the transaction failed")
			}
			if ops := auditOps(t, s, audit.Query{Operation: op}); len(ops) != 0 {
				t.Errorf("the failed change left %d records", len(ops))
			}
		})
	}
}

func testAuditListFiltersAndPages(t *testing.T, s Backend) {
	t0 := base.UTC().Truncate(time.Microsecond)
	recs := []audit.Record{
		{Time: t0, TenantID: "T1", AppID: "App-A", Vault: "Alpha", Type: "secrets", Name: "Db", Operation: "secrets/setSecret", Outcome: audit.OutcomeSuccess},
		{Time: t0.Add(time.Minute), TenantID: "t1", AppID: "app-b", Vault: "alpha", Type: "secrets", Name: "db", Operation: "secrets/getSecret", Outcome: audit.OutcomeDenied, Code: "Forbidden"},
		{Time: t0.Add(2 * time.Minute), TenantID: "t2", AppID: "app-a", Type: audit.TypeDirectory, Name: "/admin/v1/tenants", Operation: "POST /admin/v1/tenants", Outcome: audit.OutcomeSuccess},
		{Time: t0.Add(3 * time.Minute), TenantID: "t2", AppID: "app-c", Vault: "beta", Type: "keys", Name: "k", Operation: "keys/sign", Outcome: audit.OutcomeFailed},
		{Time: t0.Add(4 * time.Minute), AppID: "anonymous", Vault: "beta", Operation: "authenticate", Outcome: audit.OutcomeRefused, Reason: "no token"},
		{Time: t0.Add(5 * time.Minute), TenantID: "t1", AppID: "app-a", Vault: "alpha", Type: "secrets", Name: "other", Operation: "secrets_x", Outcome: audit.OutcomeSuccess},
	}
	if err := s.AppendAuditLog(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		q    audit.Query
		want []string // operations, in the order returned
	}{
		{"all newest first", audit.Query{}, []string{"secrets_x", "authenticate", "keys/sign", "POST /admin/v1/tenants", "secrets/getSecret", "secrets/setSecret"}},
		{"time range", audit.Query{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []string{"POST /admin/v1/tenants", "secrets/getSecret"}},
		{"tenant any case", audit.Query{TenantID: "T2"}, []string{"keys/sign", "POST /admin/v1/tenants"}},
		{"vault any case", audit.Query{Vault: "ALPHA"}, []string{"secrets_x", "secrets/getSecret", "secrets/setSecret"}},
		{"actor any case", audit.Query{AppID: "APP-A"}, []string{"secrets_x", "POST /admin/v1/tenants", "secrets/setSecret"}},
		{"operation exact", audit.Query{Operation: "keys/sign"}, []string{"keys/sign"}},
		{"operation prefix", audit.Query{Operation: "secrets/*"}, []string{"secrets/getSecret", "secrets/setSecret"}},
		{"operation prefix escapes wildcards", audit.Query{Operation: "secrets_*"}, []string{"secrets_x"}},
		{"outcome", audit.Query{Outcome: audit.OutcomeRefused}, []string{"authenticate"}},
		{"name any case", audit.Query{Name: "DB"}, []string{"secrets/getSecret", "secrets/setSecret"}},
		{"combined", audit.Query{Vault: "alpha", Outcome: audit.OutcomeSuccess, AppID: "app-a"}, []string{"secrets_x", "secrets/setSecret"}},
		{"limit", audit.Query{Limit: 2}, []string{"secrets_x", "authenticate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := auditOps(t, s, tc.q); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ListAuditLog(%+v) = %q, want %q", tc.q, got, tc.want)
			}
		})
	}
	// Paging back with BeforeSeq and following with AfterSeq visit every
	// record once.
	var seen []string
	for before := int64(0); ; {
		page, err := s.ListAuditLog(ctx, audit.Query{BeforeSeq: before, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.Operation)
		}
		if len(page) < 4 {
			break
		}
		before = page[len(page)-1].Seq
	}
	if len(seen) != len(recs) {
		t.Errorf("paging back saw %d records, want %d: %q", len(seen), len(recs), seen)
	}
	all, _ := s.ListAuditLog(ctx, audit.Query{})
	oldest := all[len(all)-1].Seq
	fwd, err := s.ListAuditLog(ctx, audit.Query{AfterSeq: oldest, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd) != 2 || fwd[0].Operation != "secrets/getSecret" || fwd[1].Operation != "POST /admin/v1/tenants" {
		t.Errorf("AfterSeq = %+v, want the two records after the oldest, oldest first", fwd)
	}
}

func appendN(t *testing.T, s Backend, n int, at func(i int) time.Time) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for i := range n {
		recs = append(recs, audit.Record{Time: at(i), AppID: "a", Operation: fmt.Sprint("op", i), Outcome: audit.OutcomeSuccess})
	}
	if err := s.AppendAuditLog(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	return oldestFirst(t, s)
}

// oldestFirst returns every record, oldest first.
func oldestFirst(t *testing.T, s Backend) []audit.Record {
	t.Helper()
	out, err := s.ListAuditLog(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(out)
	return out
}

func testAuditShipCursor(t *testing.T, s Backend) {
	t0 := base.UTC().Truncate(time.Microsecond)
	if n, err := s.AuditNewestSeq(ctx); err != nil || n != 0 {
		t.Fatalf("AuditNewestSeq of an empty log = %d, %v; want 0", n, err)
	}
	all := appendN(t, s, 5, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	if n, err := s.AuditNewestSeq(ctx); err != nil || n != all[4].Seq {
		t.Fatalf("AuditNewestSeq = %d, %v; want %d", n, err, all[4].Seq)
	}
	if c, err := s.AuditCursor(ctx, "ship"); err != nil || c != 0 {
		t.Fatalf("AuditCursor of a new cursor = %d, %v; want 0", c, err)
	}
	recs, err := s.AuditToShip(ctx, 0, all[2].Seq, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Operation != "op0" || recs[2].Operation != "op2" {
		t.Fatalf("AuditToShip through the third = %+v, want op0..op2", recs)
	}
	if err := s.SetAuditCursor(ctx, "ship", recs[2].Seq); err != nil {
		t.Fatal(err)
	}
	// The cursor never moves back.
	if err := s.SetAuditCursor(ctx, "ship", recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	c, err := s.AuditCursor(ctx, "ship")
	if err != nil || c != recs[2].Seq {
		t.Fatalf("AuditCursor = %d, %v; want %d", c, err, recs[2].Seq)
	}
	rest, err := s.AuditToShip(ctx, c, all[4].Seq, 1)
	if err != nil || len(rest) != 1 || rest[0].Operation != "op3" {
		t.Fatalf("AuditToShip after the cursor, limit 1 = %+v, %v; want op3", rest, err)
	}
}

func testAuditPrune(t *testing.T, s Backend) {
	t0 := base.UTC().Truncate(time.Microsecond)
	all := appendN(t, s, 10, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) })
	seq := func(i int) int64 { return all[i].Seq }
	left := func() []string {
		var ops []string
		for _, r := range oldestFirst(t, s) {
			ops = append(ops, r.Operation)
		}
		return ops
	}
	steps := []struct {
		name      string
		olderThan time.Time
		keepRows  int64
		maxSeq    int64
		batch     int
		deleted   int
		first     string // the oldest record left
	}{
		{"nothing to prune without a policy", time.Time{}, 0, 0, 100, 0, "op0"},
		{"age, in a small batch", t0.Add(3*time.Hour + time.Minute), 0, 0, 2, 2, "op2"},
		{"age, the rest of it", t0.Add(3*time.Hour + time.Minute), 0, 0, 100, 2, "op4"},
		{"age, held back by the shipping cursor", t0.Add(100 * time.Hour), 0, seq(5), 100, 2, "op6"},
		{"rows: keep the newest 2", time.Time{}, 2, 0, 100, 2, "op8"},
		{"rows: already within the bound", time.Time{}, 2, 0, 100, 0, "op8"},
	}
	for _, st := range steps {
		n, err := s.PruneAudit(ctx, st.olderThan, st.keepRows, st.maxSeq, st.batch)
		if err != nil {
			t.Fatalf("%s: PruneAudit: %v", st.name, err)
		}
		got := left()
		if n != st.deleted || len(got) == 0 || got[0] != st.first {
			t.Fatalf("%s: PruneAudit deleted %d (want %d), left %q (want %s first)", st.name, n, st.deleted, got, st.first)
		}
	}
}

// testAuditWrittenAgainTakesNoSeq: records appended again with their IDs
// (a batch retried or replayed after a commit that reported an error but
// happened) are left out without taking a seq, so the seqs of what is
// stored have no gap for the shipping cursor or pruning's row count to
// trip on; and the record an operation appends, with its change's record
// ID, when it cannot tell whether the change committed, leaves the
// committed change's record alone.
func testAuditWrittenAgainTakesNoSeq(t *testing.T, s Backend) {
	t0 := base.UTC().Truncate(time.Microsecond)
	rec := func(i int) audit.Record {
		return audit.Record{ID: fmt.Sprint("again-", i), Time: t0.Add(time.Duration(i) * time.Second), AppID: "a", Operation: fmt.Sprint("op", i), Outcome: audit.OutcomeSuccess}
	}
	c, ch, owner := claimed("change written again")
	appends := []struct {
		name string
		do   func() error
	}{
		{"a batch", func() error { return s.AppendAuditLog(ctx, rec(0), rec(1), rec(2)) }},
		{"the batch again", func() error { return s.AppendAuditLog(ctx, rec(0), rec(1), rec(2)) }},
		{"part of it again with a new record", func() error { return s.AppendAuditLog(ctx, rec(1), rec(2), rec(3)) }},
		{"a change with its record", func() error { return s.CreateTenant(c, tenant("t-again", base)) }},
		{"the operation's own record of the change", func() error {
			r, held := ch.Record(owner)
			if !held || r.ID == "" {
				return fmt.Errorf("the claimed record = %+v, held %v; want an ID", r, held)
			}
			ch.Release(owner)
			r.Time, r.Outcome, r.Code = t0, audit.OutcomeFailed, "503"
			return s.AppendAuditLog(ctx, r)
		}},
		{"a new record", func() error { return s.AppendAuditLog(ctx, rec(4)) }},
	}
	for _, a := range appends {
		if err := a.do(); err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
	}
	all := oldestFirst(t, s)
	var got []string
	for i, r := range all {
		got = append(got, r.Operation+"/"+r.Outcome)
		if i > 0 && r.Seq != all[i-1].Seq+1 {
			t.Errorf("record %s has seq %d after %d: a record left out took a seq", r.Operation, r.Seq, all[i-1].Seq)
		}
	}
	want := []string{"op0/success", "op1/success", "op2/success", "op3/success", "change written again/success", "op4/success"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	shipped, err := s.AuditToShip(ctx, 0, all[len(all)-1].Seq, 100)
	if err != nil || len(shipped) != len(want) {
		t.Fatalf("AuditToShip of the whole log = %d records, %v; want %d", len(shipped), err, len(want))
	}
}
