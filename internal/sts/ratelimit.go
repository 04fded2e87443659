package sts

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterEntries bounds each failure limiter's map.
const maxLimiterEntries = 100_000

// failureLimiter throttles failed client authentications per key (client
// id or source address) with one token bucket per key. Only failures take
// tokens; a key whose bucket is empty is refused until it refills.
type failureLimiter struct {
	limit    rate.Limit
	burst    int
	disabled bool
	max      int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newFailureLimiter(rl RateLimit, max int) *failureLimiter {
	return &failureLimiter{
		limit:    rate.Every(rl.Every),
		burst:    rl.Burst,
		disabled: rl.Burst < 0,
		max:      max,
		buckets:  make(map[string]*rate.Limiter),
	}
}

// blocked reports whether key has no failures left at now, and how long
// until it has one.
func (l *failureLimiter) blocked(key string, now time.Time) (time.Duration, bool) {
	if l.disabled || key == "" {
		return 0, false
	}
	l.mu.Lock()
	b, ok := l.buckets[key]
	l.mu.Unlock()
	if !ok {
		return 0, false
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
	if wait < time.Second {
		wait = time.Second
	}
	return wait, true
}

// fail takes one token from key's bucket.
func (l *failureLimiter) fail(key string, now time.Time) {
	if l.disabled || key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.prune(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	b.AllowN(now, 1)
}

// prune drops buckets that have refilled (they hold no state worth
// keeping); if that is not enough, it drops arbitrary ones, which at worst
// forgets some throttling.
func (l *failureLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max*3/4 {
			break
		}
		delete(l.buckets, k)
	}
}
