package gateway

import (
	"net/netip"
	"testing"
	"time"
)

// TestBudget_FailuresOfOtherNodesSpendTheBudget: failures another node
// counted (take) spend this node's budget like its own, may leave it below
// zero (down to minus the burst) so that the source waits for the whole
// cluster's failures to refill, and an IPv6 source counts as its /64.
func TestBudget_FailuresOfOtherNodesSpendTheBudget(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name     string
		local    int // failures counted here
		remote   int // failures taken from other nodes
		wantWait time.Duration
	}{
		{"under the budget", 10, 10, 0},
		{"spent by other nodes alone", 0, 30, 2 * time.Second},
		{"spent by both", 20, 10, 2 * time.Second},
		{"overdrawn: waits for the cluster's failures to refill", 0, 45, 32 * time.Second},
		{"overdraft bounded by the burst", 0, 500, 62 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBudget(BudgetConfig{}) // 30 per minute, burst 30
			if err != nil {
				t.Fatal(err)
			}
			src := netip.MustParseAddr("2001:db8::1")
			for range tc.local {
				b.fail(budgetKey(src), now)
			}
			b.take(budgetKey(netip.MustParseAddr("2001:db8::2")), tc.remote, now)
			if got := b.wait(budgetKey(src), now); got.Round(time.Second) != tc.wantWait {
				t.Fatalf("wait = %s; want %s", got, tc.wantWait)
			}
		})
	}
}
