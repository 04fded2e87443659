//go:build !linux

package proxy

import "time"

// setPoolSweep does nothing where there are no event loops.
func setPoolSweep(time.Duration) time.Duration { return 0 }
