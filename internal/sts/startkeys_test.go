package sts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/sts"
)

// Nodes starting together on an empty database give each tenant one
// signing key, not one per node; a lease left by a node that stopped does
// not leave a tenant without a key.
func TestEnsureSigningKeysAtStart_OneKeyPerTenant(t *testing.T) {
	for _, tc := range []struct {
		name   string
		heldBy string // the rotation lease's holder before the nodes start
		nodes  int
		wait   time.Duration
	}{
		{"three nodes on an empty database", "", 3, 10 * time.Second},
		{"lease held by a node that stopped", "node-gone", 1, 200 * time.Millisecond},
		{"lease held by a node that stopped, three nodes", "node-gone", 3, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
			f := newFixture(t, clock.Now())
			keys := newMemKeyStore()
			if tc.heldBy != "" {
				if ok, err := keys.TryLease(ctx, "signing-key-rotation", tc.heldBy, time.Hour, clock.Now()); err != nil || !ok {
					t.Fatalf("TryLease: %v %v", ok, err)
				}
			}
			var wg sync.WaitGroup
			for i := range tc.nodes {
				srv := sts.New(sts.Config{Now: clock.Now, NodeID: fmt.Sprintf("node-%d", i)}, keys, testSealer(t))
				if err := srv.Apply(f.snapshot(1), nil); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := srv.EnsureSigningKeysAtStart(ctx, time.Minute, tc.wait); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			got, err := keys.ListSigningKeys(ctx, f.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			// Without a holder, exactly one key. With a stopped holder, the
			// waiting nodes fall back to creating a key each (at least one;
			// rotation retires the extra ones).
			if tc.heldBy == "" && len(got) != 1 || len(got) < 1 {
				t.Fatalf("%d signing keys for the tenant; want one", len(got))
			}
		})
	}
}
