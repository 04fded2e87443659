package guard

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// tokenCache remembers verified tokens, keyed by their SHA-256 (it holds
// no usable token), so that a client reusing its token costs a hash, a map
// lookup and one KeySource call instead of a signature check. Entries are
// never used at or past the token's exp, and each hit asks the KeySource
// again for the key the token was verified with: a key that left the
// issuer's key set (or changed) drops the entry at once. It is bounded in
// entries and, because tokens are bounded by MaxTokenBytes, in bytes.
type tokenCache struct {
	size int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*cacheEntry
}

type cacheEntry struct {
	p   *Principal
	kid string
	key crypto.PublicKey
	exp time.Time
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, entries: make(map[[sha256.Size]byte]*cacheEntry)}
}

// hashToken hashes raw without copying it: sha256 only reads its input.
func hashToken(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

// get returns the cached Principal of the token with hash sum, or nil.
func (c *tokenCache) get(ctx context.Context, sum [sha256.Size]byte, now time.Time, keys KeySource) *Principal {
	c.mu.RLock()
	e := c.entries[sum]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	if now.Before(e.exp) {
		if k, err := keys.Key(ctx, e.p.Issuer, e.kid); err == nil && sameKey(k, e.key) {
			return e.p
		}
	}
	c.mu.Lock()
	if c.entries[sum] == e {
		delete(c.entries, sum)
	}
	c.mu.Unlock()
	return nil
}

func (c *tokenCache) put(sum [sha256.Size]byte, e *cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		// Drop expired entries, then arbitrary ones (map order) until a
		// tenth is free, so that eviction runs once per size/10 inserts.
		for k, old := range c.entries {
			if !now.Before(old.exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size-c.size/10 {
				break
			}
			delete(c.entries, k)
		}
		if len(c.entries) >= c.size { // size 1..9: size/10 is 0
			clear(c.entries)
		}
	}
	c.entries[sum] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// sameKey reports whether a and b are the same public key; the identical
// pointer (what an in-process source returns) is the cheap case.
func sameKey(a, b crypto.PublicKey) bool {
	switch x := a.(type) {
	case *rsa.PublicKey:
		y, ok := b.(*rsa.PublicKey)
		return ok && (x == y || x.Equal(y))
	case *ecdsa.PublicKey:
		y, ok := b.(*ecdsa.PublicKey)
		return ok && (x == y || x.Equal(y))
	case ed25519.PublicKey:
		return x.Equal(b)
	}
	if e, ok := a.(interface{ Equal(crypto.PublicKey) bool }); ok {
		return e.Equal(b)
	}
	return false
}
