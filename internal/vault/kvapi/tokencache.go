package kvapi

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/sts"
)

// Token cache bounds.
const (
	// DefaultTokenCacheSize is how many verified tokens are remembered.
	DefaultTokenCacheSize = 10000
	// TokenCacheMaxAge bounds how long a verification is reused, so that a
	// signing key or tenant the token service stops serving stops being
	// accepted here within this time too.
	TokenCacheMaxAge = 30 * time.Second
)

// tokenCache remembers successful token verifications, so that a client
// reusing its access token (as the SDKs do) costs one RSA verification per
// TokenCacheMaxAge instead of one per request. Only successes are kept; a
// token that failed is verified again every time. Entries are keyed by the
// token's SHA-256 (the cache holds no usable token) and used until the
// earlier of the token's exp and TokenCacheMaxAge after the verification.
type tokenCache struct {
	now  func() time.Time
	size int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	claims sts.Claims
	until  time.Time
}

func newTokenCache(size int, now func() time.Time) *tokenCache {
	return &tokenCache{now: now, size: size, entries: make(map[[sha256.Size]byte]tokenEntry)}
}

// verify returns the claims of raw, from the cache or from v.
func (c *tokenCache) verify(v TokenVerifier, raw string) (sts.Claims, error) {
	if c == nil {
		return v.VerifyAccessToken(raw)
	}
	k := sha256.Sum256([]byte(raw))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && !now.Before(e.until) {
		delete(c.entries, k)
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return e.claims, nil
	}
	claims, err := v.VerifyAccessToken(raw)
	if err != nil {
		return claims, err
	}
	until := now.Add(TokenCacheMaxAge)
	if claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt
	}
	if !now.Before(until) {
		return claims, nil // within the verifier's leeway past exp: valid, not worth keeping
	}
	claims.Roles = slices.Clone(claims.Roles) // the cached copy is shared by requests
	c.mu.Lock()
	if len(c.entries) >= c.size {
		c.evictLocked(now)
	}
	c.entries[k] = tokenEntry{claims: claims, until: until}
	c.mu.Unlock()
	return claims, nil
}

// evictLocked drops expired entries and, if that freed less than a tenth of
// the cache, arbitrary others (map order) until it did.
func (c *tokenCache) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.size-c.size/10 {
			break
		}
		delete(c.entries, k)
	}
}
