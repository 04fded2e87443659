package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

func TestChange_ClaimPendingCommittedRelease(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	type step func(t *testing.T, ch *audit.Change)
	outer, inner := new(byte), new(byte)
	claim := func(owner any, op string, yield, want bool) step {
		return func(t *testing.T, ch *audit.Change) {
			if got := ch.Claim(owner, audit.Record{Operation: op}, now, yield); got != want {
				t.Fatalf("Claim(%s) = %v, want %v", op, got, want)
			}
		}
	}
	pending := func(op string, ok bool) step {
		return func(t *testing.T, ch *audit.Change) {
			r, got := ch.Pending()
			if got != ok || r.Operation != op || ok && !r.Time.Equal(at) {
				t.Fatalf("Pending = %+v, %v; want %q, %v", r, got, op, ok)
			}
		}
	}
	release := func(owner any, written, held bool) step {
		return func(t *testing.T, ch *audit.Change) {
			if w, h := ch.Release(owner); w != written || h != held {
				t.Fatalf("Release = %v, %v; want %v, %v", w, h, written, held)
			}
		}
	}
	committed := func(t *testing.T, ch *audit.Change) { ch.Committed() }
	cases := []struct {
		name  string
		steps []step
	}{
		{"unclaimed: nothing pending", []step{pending("", false), committed, release(outer, false, false)}},
		{"claimed, committed once", []step{claim(outer, "a", false, true), pending("a", true), committed, pending("", false), release(outer, true, true)}},
		{"a failed transaction leaves it pending", []step{claim(outer, "a", false, true), pending("a", true), pending("a", true), release(outer, false, true)}},
		{"a nested operation cannot claim", []step{claim(outer, "a", false, true), claim(inner, "b", false, false), pending("a", true), release(inner, false, false), release(outer, false, true)}},
		{"a yielding claim is taken over", []step{claim(outer, "a", true, true), claim(inner, "b", false, true), pending("b", true), committed, release(inner, true, true), release(outer, false, false)}},
		{"a written yielding claim is kept", []step{claim(outer, "a", true, true), committed, claim(inner, "b", false, false), release(outer, true, true)}},
		{"free again after release", []step{claim(outer, "a", false, true), release(outer, false, true), claim(inner, "b", false, true), pending("b", true)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := audit.ChangeFrom(audit.WithChange(context.Background()))
			for _, s := range tc.steps {
				s(t, ch)
			}
		})
	}
}

func TestChange_DescribeFillsOnlyWhatIsMissing(t *testing.T) {
	ctx := audit.WithChange(context.Background())
	if audit.WithChange(ctx) != ctx {
		t.Error("WithChange replaced the Change its context carries")
	}
	ch := audit.ChangeFrom(ctx)
	ch.Claim(1, audit.Record{Name: "kept"}, nil, false)
	ch.Describe("other", "v1")
	ch.Describe("other", "v2")
	r, _ := ch.Pending()
	if r.Name != "kept" || r.Version != "v1" {
		t.Errorf("record %+v; want name kept, version v1", r)
	}
	dir := audit.ChangeFrom(audit.WithChange(context.Background()))
	dir.Claim(2, audit.Record{Type: audit.TypeDirectory, Name: "/admin/v1/tenants"}, nil, true)
	dir.Creates("a b")
	dir.Creates("second")
	if r, ok := dir.Record(2); !ok || r.Name != "/admin/v1/tenants/a%20b" {
		t.Errorf("after Creates the record names %q, want /admin/v1/tenants/a%%20b", r.Name)
	}
	if _, ok := dir.Record(3); ok {
		t.Error("Record answers for an operation that does not hold the change")
	}
	var none *audit.Change // a context without a Change
	none.Describe("x", "y")
	none.Committed()
	if _, ok := none.Pending(); ok || audit.ChangeFrom(context.Background()) != nil {
		t.Error("a missing Change has a pending record")
	}
}
