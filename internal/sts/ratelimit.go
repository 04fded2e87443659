package sts

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
)

// maxLimiterEntries bounds each failure limiter's map.
const maxLimiterEntries = 100_000

// limiterKey is the fixed-size key of a failure limiter: a client id's
// 16 GUID bytes or a source address's 16 IPv6(-mapped) bytes. Keys never
// hold request text, so the limiter's memory is bounded in bytes by its
// entry cap whatever clients send (see failureLimiter.bytes).
type limiterKey [16]byte

// clientKey is the limiter key of a client id. A client id is an
// application's appId, a GUID; anything else cannot name an application
// and gets no key (ok false), so it never enters the per-client map.
func clientKey(clientID string) (limiterKey, bool) {
	u, err := parseGUID(clientID)
	if err != nil {
		return limiterKey{}, false
	}
	return limiterKey(u), true
}

// sourceKey is the limiter key of a source address: the IP address, or for
// anything that is not one (a test's or a proxy's RemoteAddr), a hash of it.
// IPv4 and its IPv4-mapped IPv6 form share a key.
func sourceKey(addr string) (limiterKey, bool) {
	if addr == "" {
		return limiterKey{}, false
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return limiterKey(ip.As16()), true
	}
	h := sha256.Sum256([]byte(addr))
	return limiterKey(h[:16]), true
}

// failureLimiter throttles failed client authentications per key (client
// id or source address) with one token bucket per key. Only failures take
// tokens; a key whose bucket is empty is refused until it refills.
type failureLimiter struct {
	limit    rate.Limit
	burst    int
	disabled bool
	max      int

	mu      sync.Mutex
	buckets map[limiterKey]*rate.Limiter
}

// limiterEntryBytes is what one entry holds: key, pointer and bucket (map
// bookkeeping comes on top, a small constant factor).
const limiterEntryBytes = int(unsafe.Sizeof(limiterKey{})) + int(unsafe.Sizeof(uintptr(0))) + int(unsafe.Sizeof(rate.Limiter{}))

func newFailureLimiter(rl RateLimit, max int) *failureLimiter {
	return &failureLimiter{
		limit:    rate.Every(rl.Every),
		burst:    rl.Burst,
		disabled: rl.Burst < 0,
		max:      max,
		buckets:  make(map[limiterKey]*rate.Limiter),
	}
}

// blocked reports whether key has no failures left at now, and how long
// until it has one.
func (l *failureLimiter) blocked(key limiterKey, now time.Time) (time.Duration, bool) {
	if l.disabled {
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
func (l *failureLimiter) fail(key limiterKey, now time.Time) {
	if l.disabled {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(key, now).AllowN(now, 1)
}

// bucket returns key's bucket, made full if it has none; l.mu is held.
func (l *failureLimiter) bucket(key limiterKey, now time.Time) *rate.Limiter {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.prune(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b
}

// take takes n tokens from key's bucket for failures another node counted;
// unlike fail it may leave the bucket below zero (down to about minus the
// burst), so that the key stays blocked until the whole cluster's
// failures have refilled.
func (l *failureLimiter) take(key limiterKey, n int, now time.Time) {
	if l.disabled || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	// ReserveN refuses more than the burst at once; the overdraft stops
	// at minus the burst, so a key is never blocked for longer than two
	// full refills.
	for n > 0 && b.TokensAt(now) > -float64(l.burst) {
		c := min(n, l.burst)
		b.ReserveN(now, c)
		n -= c
	}
}

// bytes is the memory the limiter's entries hold, excluding map
// bookkeeping: at most max × limiterEntryBytes.
func (l *failureLimiter) bytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets) * limiterEntryBytes
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
