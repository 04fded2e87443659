package sts

import (
	"sync"
	"time"
)

// replayCache remembers client-assertion jti values until the assertion
// expires, so that an assertion is accepted once.
//
// It is per node and in memory: in a cluster an assertion captured in
// transit could be replayed once on each other node within its lifetime
// (at most MaxAssertionLifetime plus leeway). Closing that gap needs a
// shared store of jti values, a database write per certificate-authenticated
// token that this service deliberately avoids; TLS and the short assertion
// lifetime bound the exposure.
//
// Entries expire in roughly insertion order (every assertion lives at most
// MaxAssertionLifetime), so a FIFO queue prunes them in amortised O(1).
// When full, the oldest entry is evicted even if still valid: memory stays
// bounded, and only an assertion older than size newer ones could replay.
type replayCache struct {
	mu    sync.Mutex
	size  int
	seen  map[string]time.Time
	queue []replayEntry // FIFO; head at index head
	head  int
}

type replayEntry struct {
	key     string
	expires time.Time
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, seen: make(map[string]time.Time)}
}

// add records key until expires and reports true, or reports false if key
// is already recorded and not expired at now.
func (c *replayCache) add(key string, expires, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return false
	}
	for len(c.seen) >= c.size && c.head < len(c.queue) {
		c.evictHead()
	}
	c.seen[key] = expires
	c.queue = append(c.queue, replayEntry{key, expires})
	return true
}

// prune drops expired entries from the head of the queue.
func (c *replayCache) prune(now time.Time) {
	for c.head < len(c.queue) && !now.Before(c.queue[c.head].expires) {
		c.evictHead()
	}
	// Compact once the consumed prefix dominates, keeping appends amortised O(1).
	if c.head > 1024 && c.head*2 > len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}

func (c *replayCache) evictHead() {
	e := c.queue[c.head]
	c.queue[c.head] = replayEntry{}
	c.head++
	// A key re-added later has a newer expiry; only delete the entry this
	// queue slot recorded.
	if exp, ok := c.seen[e.key]; ok && exp.Equal(e.expires) {
		delete(c.seen, e.key)
	}
}
