package proxy

import "time"

// setPoolSweep sets how often loops sweep their pools (for loops started after the call) and returns the
// previous period.
func setPoolSweep(d time.Duration) time.Duration {
	old := evPoolSweep
	evPoolSweep = d
	return old
}
