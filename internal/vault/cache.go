package vault

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// DefaultCacheRevalidate is how long cached vault settings and role
// assignments are used before the store's revision is read again.
const DefaultCacheRevalidate = time.Second

// maxCacheEntries bounds each map of the cache; past it the map starts
// over (entries are only made for vaults and principals that exist).
const maxCacheEntries = 10000

// authCache holds vault settings and role assignments for read operations,
// so that a read does not query them every time. Every change this Service
// makes to them clears it at once (after the store committed); a change
// made elsewhere (another node, or another Service on the same store) is
// noticed through the store's revision, read at most every ttl: a read
// never uses data older than the last revision check, which is at most ttl
// old. Operations that change something do not use it.
type authCache struct {
	store Store
	now   func() time.Time
	ttl   time.Duration

	revMu sync.Mutex // one revision check at a time

	mu      sync.RWMutex
	gen     uint64 // bumped by every clear; a load started before a clear is not kept
	rev     int64
	checked time.Time // start of the last revision check that kept or refilled the cache
	valid   bool      // checked and rev are set
	vaults  map[string]Vault
	roles   map[roleKey][]RoleAssignment
}

type roleKey struct{ vault, principal string }

func newAuthCache(st Store, now func() time.Time, ttl time.Duration) *authCache {
	return &authCache{store: st, now: now, ttl: ttl, vaults: map[string]Vault{}, roles: map[roleKey][]RoleAssignment{}}
}

// enabled reports whether caching is on (ttl > 0).
func (c *authCache) enabled() bool { return c.ttl > 0 }

// fresh reports whether the last revision check is recent enough.
func (c *authCache) fresh(now time.Time) bool {
	age := now.Sub(c.checked)
	return c.valid && age >= 0 && age < c.ttl
}

// revalidate reads the store's revision when the last check is ttl old
// and clears the cache if it moved (or cannot be read).
func (c *authCache) revalidate(ctx context.Context) {
	c.mu.RLock()
	ok := c.fresh(c.now())
	c.mu.RUnlock()
	if ok {
		return
	}
	c.revMu.Lock()
	defer c.revMu.Unlock()
	start := c.now()
	c.mu.RLock()
	ok = c.fresh(start)
	c.mu.RUnlock()
	if ok {
		return // another request checked meanwhile
	}
	rev, err := c.store.Revision(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, store.ErrUnavailable) && c.valid {
		// The database is down: nothing can change in it meanwhile, so
		// keep serving what is cached (static stability) and check again
		// after ttl, not on every request.
		c.checked = start
		return
	}
	if err != nil {
		c.clearLocked()
		c.valid = false
		return
	}
	if !c.valid || rev != c.rev {
		c.clearLocked()
	}
	c.rev, c.checked, c.valid = rev, start, true
}

// clear drops everything; called after every local change of vaults or
// role assignments.
func (c *authCache) clear() {
	c.mu.Lock()
	c.clearLocked()
	c.mu.Unlock()
}

func (c *authCache) clearLocked() {
	c.gen++
	clear(c.vaults)
	clear(c.roles)
}

// generation returns the current generation, to be passed to a put after a load.
func (c *authCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *authCache) vault(name string) (Vault, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.vaults[name]
	return v, ok
}

func (c *authCache) putVault(gen uint64, name string, v Vault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.vaults) >= maxCacheEntries {
		clear(c.vaults)
	}
	c.vaults[name] = v
}

func (c *authCache) assignments(k roleKey) ([]RoleAssignment, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	as, ok := c.roles[k]
	return as, ok
}

func (c *authCache) putAssignments(gen uint64, k roleKey, as []RoleAssignment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.roles) >= maxCacheEntries {
		clear(c.roles)
	}
	c.roles[k] = as
}

// vaultRecord returns a vault's settings: from the cache for read
// operations (cached), else from the store.
func (s *Service) vaultRecord(ctx context.Context, name string, cached bool) (Vault, error) {
	name = strings.ToLower(name)
	if !cached || !s.cache.enabled() {
		return s.store.GetVault(ctx, name)
	}
	s.cache.revalidate(ctx)
	if v, ok := s.cache.vault(name); ok {
		return v, nil
	}
	gen := s.cache.generation()
	v, err := s.store.GetVault(ctx, name)
	if err == nil {
		s.cache.putVault(gen, name, v)
	}
	return v, err
}

// roleAssignments returns the assignments of principal on vault: from the
// cache for read operations (cached), else from the store. The slice is
// shared and must not be modified.
func (s *Service) roleAssignments(ctx context.Context, vault, principal string, cached bool) ([]RoleAssignment, error) {
	if !cached || !s.cache.enabled() {
		return s.store.ListRoleAssignments(ctx, vault, principal)
	}
	s.cache.revalidate(ctx)
	k := roleKey{vault: strings.ToLower(vault), principal: principal}
	if as, ok := s.cache.assignments(k); ok {
		return as, nil
	}
	gen := s.cache.generation()
	as, err := s.store.ListRoleAssignments(ctx, vault, principal)
	if err == nil {
		s.cache.putAssignments(gen, k, as)
	}
	return as, err
}

// invalidate drops everything and forgets the last revision check, so the
// next read checks the revision again.
func (c *authCache) invalidate() {
	c.mu.Lock()
	c.clearLocked()
	c.valid = false
	c.mu.Unlock()
}

// StoreChanged tells the Service that the store changed elsewhere (another
// node's commit, announced by a PostgreSQL notification): the cached vault
// settings and role assignments are dropped at once instead of at the next
// revision check (at most CacheRevalidate later), so that a removed role
// assignment stops working on this node as soon as it hears of it.
func (s *Service) StoreChanged() { s.cache.invalidate() }
