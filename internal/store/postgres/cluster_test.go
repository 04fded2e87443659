package postgres_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/tcpproxy"
)

// within waits for one value on ch, failing after a generous bound.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

// TestListenRevision_WakesOnCommitsOfItsSchemaAndAgainOnReconnect: the
// listener calls changed once when it connects, once per commit that
// moves the revision of its own schema (not another schema's in the same
// database), and again after its connection broke and came back, since
// what was committed meanwhile was announced to nobody.
func TestListenRevision_WakesOnCommitsOfItsSchemaAndAgainOnReconnect(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Skipf("%s is not a postgres:// URL: %v", pgtest.DatabaseEnv, err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	listener := pgtest.OpenURL(t, u.String())
	writer := pgtest.OpenURL(t, dbURL)
	other := pgtest.Open(t) // another schema of the same database

	changed, failed := make(chan struct{}, 100), make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.ListenRevision(ctx, func() { changed <- struct{}{} }, func(err error) { failed <- err })
	}()
	t.Cleanup(func() { cancel(); <-done })

	within(t, changed, "wake-up when the listener connects")
	tenant := func() directory.Tenant {
		return directory.Tenant{ID: uuid.NewString(), Name: uuid.NewString(), CreatedAt: time.Now()}
	}
	if err := other.CreateTenant(context.Background(), tenant()); err != nil {
		t.Fatal(err)
	}
	if err := writer.CreateTenant(context.Background(), tenant()); err != nil {
		t.Fatal(err)
	}
	// Notifications arrive in commit order: the other schema's first.
	within(t, changed, "wake-up for a commit of another node")
	if n := len(changed); n != 0 {
		t.Fatalf("%d extra wake-ups: the other schema's commit woke the listener", n)
	}

	proxy.Reset()
	if err := within(t, failed, "report of the broken connection"); err == nil {
		t.Fatal("failed was called with a nil error")
	}
	within(t, changed, "wake-up after the listener reconnected")
	if err := writer.CreateTenant(context.Background(), tenant()); err != nil {
		t.Fatal(err)
	}
	within(t, changed, "wake-up for a commit after the reconnect")
}

// TestRecordAssertionID_OnceAcrossNodes: an assertion id recorded through
// one node is refused through another until it expires; expired ids are
// pruned.
func TestRecordAssertionID_OnceAcrossNodes(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	a, b := pgtest.OpenURL(t, dbURL), pgtest.OpenURL(t, dbURL)
	ctx := context.Background()
	t0 := time.Now()
	id, other := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	for _, tc := range []struct {
		name string
		rec  func(ctx context.Context, id []byte, expires, now time.Time) (bool, error)
		id   []byte
		now  time.Time
		want bool
	}{
		{"first use on node a", a.RecordAssertionID, id, t0, true},
		{"replay on node b", b.RecordAssertionID, id, t0.Add(time.Second), false},
		{"replay on node a", a.RecordAssertionID, id, t0.Add(time.Second), false},
		{"another id on node b", b.RecordAssertionID, other, t0, true},
		{"reuse after expiry on node b", b.RecordAssertionID, id, t0.Add(11 * time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rec(ctx, tc.id, tc.now.Add(10*time.Minute), tc.now)
			if err != nil || got != tc.want {
				t.Fatalf("RecordAssertionID = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	n, err := a.PruneAssertionIDs(ctx, t0.Add(15*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneAssertionIDs = %d, %v; want 1 (the other id; the reused one lives to +21 min)", n, err)
	}
}

// TestFailures_OtherNodesBatchesInIDOrderWithSkipAndPrune covers the
// failure-count table: a node reads only other nodes' batches, after a
// cursor, minus those it has applied; old batches are pruned.
func TestFailures_OtherNodesBatchesInIDOrderWithSkipAndPrune(t *testing.T) {
	st := pgtest.Open(t)
	ctx := context.Background()
	t0 := time.Now()
	if id, err := st.LastFailureID(ctx); err != nil || id != 0 {
		t.Fatalf("LastFailureID on an empty table = %d, %v", id, err)
	}
	for i, node := range []string{"a", "b", "a", "c"} {
		if err := st.AppendFailures(ctx, node, t0.Add(time.Duration(i)*time.Minute), []byte(node)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.FailuresAfter(ctx, "a", 0, nil, 100)
	if err != nil || len(all) != 2 || string(all[0].Counts) != "b" || string(all[1].Counts) != "c" || all[0].ID >= all[1].ID {
		t.Fatalf("FailuresAfter(a) = %+v, %v; want b's then c's batch", all, err)
	}
	rest, err := st.FailuresAfter(ctx, "a", 0, []int64{all[0].ID}, 100)
	if err != nil || len(rest) != 1 || string(rest[0].Counts) != "c" {
		t.Fatalf("FailuresAfter skipping b's = %+v, %v", rest, err)
	}
	if last, err := st.LastFailureID(ctx); err != nil || last != all[1].ID {
		t.Fatalf("LastFailureID = %d, %v; want %d", last, err, all[1].ID)
	}
	if n, err := st.PruneFailures(ctx, t0.Add(150*time.Second)); err != nil || n != 3 {
		t.Fatalf("PruneFailures = %d, %v; want 3", n, err)
	}
}

// BenchmarkRecordAssertionID is the database cost a certificate-authenticated
// token adds in a cluster: one INSERT … ON CONFLICT per assertion.
func BenchmarkRecordAssertionID(b *testing.B) {
	st := pgtest.Open(b)
	ctx := context.Background()
	now := time.Now()
	var id [32]byte
	i := 0
	for b.Loop() {
		i++
		id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
		if _, err := st.RecordAssertionID(ctx, id[:], now.Add(15*time.Minute), now); err != nil {
			b.Fatal(err)
		}
	}
}
