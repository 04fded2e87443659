package sts

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
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
//
// Entries are fixed-size (a SHA-256 of the key and the expiry in Unix
// nanoseconds), so the cache holds at most size × replayEntryBytes twice
// (map and queue), plus map and slice slack, whatever the jti length: on
// the order of 100 MiB at the default size, where 256-byte jti values as
// strings used to hold four times that.
type replayCache struct {
	mu    sync.Mutex
	size  int
	seen  map[replayKey]int64
	queue []replayEntry // FIFO; head at index head
	head  int
}

type replayKey [sha256.Size]byte

// replayKeyOf hashes appID NUL jti. The buffer fits a GUID and the longest
// jti verifyAssertion lets through, so a token request allocates nothing
// here.
func replayKeyOf(appID, jti string) replayKey {
	var buf [36 + 1 + 256]byte
	b := append(buf[:0], appID...)
	b = append(b, 0)
	b = append(b, jti...)
	return sha256.Sum256(b)
}

type replayEntry struct {
	key     replayKey
	expires int64 // Unix nanoseconds
}

// replayEntryBytes is what one remembered jti holds in the map or the queue.
const replayEntryBytes = int(unsafe.Sizeof(replayEntry{}))

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, seen: make(map[replayKey]int64)}
}

// add records an application's jti until expires and reports true, or
// reports false if it is already recorded and not expired at now.
func (c *replayCache) add(appID, jti string, expires, now time.Time) bool {
	k := replayKeyOf(appID, jti)
	exp, at := expires.UnixNano(), now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(at)
	if e, ok := c.seen[k]; ok && at < e {
		return false
	}
	for len(c.seen) >= c.size && c.head < len(c.queue) {
		c.evictHead()
	}
	c.seen[k] = exp
	c.queue = append(c.queue, replayEntry{k, exp})
	return true
}

// prune drops entries expired at now (Unix nanoseconds) from the head of
// the queue.
func (c *replayCache) prune(now int64) {
	for c.head < len(c.queue) && now >= c.queue[c.head].expires {
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
	if exp, ok := c.seen[e.key]; ok && exp == e.expires {
		delete(c.seen, e.key)
	}
}
