package sts

import (
	"testing"
	"time"
)

// TestFailureLimiter_TakeAppliesOtherNodesFailures: failures another node
// counted block a key like local ones, and may overdraw the bucket so the
// key stays blocked until the cluster's failures have refilled.
func TestFailureLimiter_TakeAppliesOtherNodesFailures(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name        string
		local, take int
		blocked     bool
		wait        time.Duration
	}{
		{"under the budget", 5, 10, false, 0},
		{"spent by another node", 0, 20, true, 3 * time.Second},
		{"overdrawn by local and remote", 20, 20, true, 63 * time.Second},
		{"the overdraft stops at minus the burst", 0, 1000, true, 63 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFailureLimiter(RateLimit{Every: 3 * time.Second, Burst: 20}, 100)
			k := limiterKey{1}
			for range tc.local {
				l.fail(k, now)
			}
			l.take(k, tc.take, now)
			wait, blocked := l.blocked(k, now)
			if blocked != tc.blocked || wait.Round(time.Second) != tc.wait {
				t.Fatalf("blocked = %v, wait %s; want %v, %s", blocked, wait, tc.blocked, tc.wait)
			}
		})
	}
}
