package vault

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// Static stability (see the package documentation, "Outages"): while the
// database cannot be reached, reads are served from what this node last
// read. heldStore sits between the Service and its Store and keeps, for
// the reads a read operation makes (a vault's settings, a principal's role
// assignments on a vault, an object with one of its versions — sealed, as
// in the store — and the answer "absent"), the last answer the store gave,
// for at most maxAge. It answers from them only when the store fails with
// store.ErrUnavailable; otherwise every read goes to the store, as before.
// Every write made through it drops what it held of the written object (or
// vault, or role assignments) first, so a node never serves from memory
// what it changed itself.

// Defaults of the held reads.
const (
	// DefaultHeldReadMaxAge is how old a held answer may be and still be
	// served during an outage.
	DefaultHeldReadMaxAge = 15 * time.Minute
	// DefaultHeldReadEntries bounds the answers held per kind (object
	// versions; vaults; role assignments).
	DefaultHeldReadEntries = 4096
)

type heldVersionKey struct {
	vault   string
	typ     ObjectType
	name    string // folded
	version string // "" = the newest
}

type heldVersion struct {
	at  time.Time
	obj Object
	ver ObjectVersion
	err error // store.ErrNotFound when the store said absent
}

type heldRoleKey struct{ vault, principal string }

type heldVault struct {
	at  time.Time
	v   Vault
	err error
}

type heldRoles struct {
	at time.Time
	as []RoleAssignment
}

// heldStore is a Store that remembers the answers of read operations'
// reads and serves them while the store is unavailable.
type heldStore struct {
	Store
	now     func() time.Time
	maxAge  time.Duration
	entries int

	mu       sync.Mutex
	gen      uint64 // bumped by every drop: a read begun before it is not kept
	versions map[heldVersionKey]heldVersion
	vaults   map[string]heldVault
	roles    map[heldRoleKey]heldRoles
	served   func() // counts an answer served from memory (metrics, logs)
}

func newHeldStore(st Store, now func() time.Time, maxAge time.Duration, entries int, served func()) *heldStore {
	return &heldStore{Store: st, now: now, maxAge: maxAge, entries: entries, served: served,
		versions: map[heldVersionKey]heldVersion{}, vaults: map[string]heldVault{}, roles: map[heldRoleKey]heldRoles{}}
}

func (h *heldStore) generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// fresh reports whether a held answer taken at at may still be served.
func (h *heldStore) fresh(at time.Time) bool {
	age := h.now().Sub(at)
	return age >= 0 && age <= h.maxAge
}

// keep stores an answer unless a drop happened since gen; when the map is
// full, an arbitrary entry makes room.
func keep[K comparable, V any](h *heldStore, gen uint64, m map[K]V, k K, v V) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return
	}
	if _, ok := m[k]; !ok && len(m) >= h.entries {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}

// answerable reports whether err is a store answer worth holding.
func answerable(err error) bool { return err == nil || errors.Is(err, store.ErrNotFound) }

func (h *heldStore) GetObjectVersion(ctx context.Context, vault string, typ ObjectType, name, version string) (Object, ObjectVersion, error) {
	k := heldVersionKey{vault: strings.ToLower(vault), typ: typ, name: foldName(name), version: version}
	gen := h.generation()
	obj, ver, err := h.Store.GetObjectVersion(ctx, vault, typ, name, version)
	if answerable(err) {
		keep(h, gen, h.versions, k, heldVersion{at: h.now(), obj: obj, ver: ver, err: err})
		return obj, ver, err
	}
	if errors.Is(err, store.ErrUnavailable) {
		h.mu.Lock()
		e, ok := h.versions[k]
		h.mu.Unlock()
		if ok && h.fresh(e.at) {
			h.served()
			return e.obj, e.ver, e.err
		}
	}
	return obj, ver, err
}

func (h *heldStore) GetVault(ctx context.Context, name string) (Vault, error) {
	k := strings.ToLower(name)
	gen := h.generation()
	v, err := h.Store.GetVault(ctx, name)
	if answerable(err) {
		keep(h, gen, h.vaults, k, heldVault{at: h.now(), v: v, err: err})
		return v, err
	}
	if errors.Is(err, store.ErrUnavailable) {
		h.mu.Lock()
		e, ok := h.vaults[k]
		h.mu.Unlock()
		if ok && h.fresh(e.at) {
			h.served()
			return e.v, e.err
		}
	}
	return v, err
}

func (h *heldStore) ListRoleAssignments(ctx context.Context, vault, principalID string) ([]RoleAssignment, error) {
	k := heldRoleKey{vault: strings.ToLower(vault), principal: principalID}
	gen := h.generation()
	as, err := h.Store.ListRoleAssignments(ctx, vault, principalID)
	if err == nil {
		keep(h, gen, h.roles, k, heldRoles{at: h.now(), as: as})
		return as, nil
	}
	if errors.Is(err, store.ErrUnavailable) {
		h.mu.Lock()
		e, ok := h.roles[k]
		h.mu.Unlock()
		if ok && h.fresh(e.at) {
			h.served()
			return e.as, nil
		}
	}
	return as, err
}

// dropObject forgets every held answer about name in vault, whatever its
// type (a certificate's secret and key views share its name).
func (h *heldStore) dropObject(vault, name string) {
	vault, name = strings.ToLower(vault), foldName(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	for k := range h.versions {
		if k.vault == vault && k.name == name {
			delete(h.versions, k)
		}
	}
}

// dropVault forgets everything held about vault.
func (h *heldStore) dropVault(vault string) {
	vault = strings.ToLower(vault)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	delete(h.vaults, vault)
	for k := range h.versions {
		if k.vault == vault {
			delete(h.versions, k)
		}
	}
	for k := range h.roles {
		if k.vault == vault {
			delete(h.roles, k)
		}
	}
}

// dropRoles forgets the role assignments held for vault.
func (h *heldStore) dropRoles(vault string) {
	vault = strings.ToLower(vault)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	for k := range h.roles {
		if k.vault == vault {
			delete(h.roles, k)
		}
	}
}

// dropAll forgets everything (a change of the sealed blobs: rekey).
func (h *heldStore) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	clear(h.versions)
	clear(h.vaults)
	clear(h.roles)
}

// The writes: each drops what it changes before it runs (and so before a
// read that starts later could keep the old answer), and again after, for
// reads that were in flight.

func (h *heldStore) UpdateVault(ctx context.Context, name string, mutate func(*Vault) error) (Vault, error) {
	h.dropVault(name)
	defer h.dropVault(name)
	return h.Store.UpdateVault(ctx, name, mutate)
}

func (h *heldStore) DeleteVault(ctx context.Context, name string) error {
	h.dropVault(name)
	defer h.dropVault(name)
	return h.Store.DeleteVault(ctx, name)
}

func (h *heldStore) CreateVault(ctx context.Context, v Vault) error {
	h.dropVault(v.Name)
	defer h.dropVault(v.Name)
	return h.Store.CreateVault(ctx, v)
}

func (h *heldStore) AddVersion(ctx context.Context, v ObjectVersion, opts AddOptions) (ObjectVersion, error) {
	h.dropObject(v.Vault, v.Name)
	defer h.dropObject(v.Vault, v.Name)
	return h.Store.AddVersion(ctx, v, opts)
}

func (h *heldStore) RestoreObject(ctx context.Context, obj Object, vers []ObjectVersion, exclusive []ObjectType) ([]ObjectVersion, error) {
	h.dropObject(obj.Vault, obj.Name)
	defer h.dropObject(obj.Vault, obj.Name)
	return h.Store.RestoreObject(ctx, obj, vers, exclusive)
}

func (h *heldStore) UpdateObject(ctx context.Context, vault string, typ ObjectType, name string, mutate func(*Object) error) (Object, error) {
	h.dropObject(vault, name)
	defer h.dropObject(vault, name)
	return h.Store.UpdateObject(ctx, vault, typ, name, mutate)
}

func (h *heldStore) UpdateVersion(ctx context.Context, vault string, typ ObjectType, name, version string, mutate func(*ObjectVersion) error) (ObjectVersion, error) {
	h.dropObject(vault, name)
	defer h.dropObject(vault, name)
	return h.Store.UpdateVersion(ctx, vault, typ, name, version, mutate)
}

func (h *heldStore) PurgeObject(ctx context.Context, vault string, typ ObjectType, name string) error {
	h.dropObject(vault, name)
	defer h.dropObject(vault, name)
	return h.Store.PurgeObject(ctx, vault, typ, name)
}

func (h *heldStore) ReplaceSealed(ctx context.Context, updates []SealedUpdate) (int, error) {
	h.dropAll()
	defer h.dropAll()
	return h.Store.ReplaceSealed(ctx, updates)
}

func (h *heldStore) CreateRoleAssignment(ctx context.Context, a RoleAssignment) error {
	h.dropRoles(a.Vault)
	defer h.dropRoles(a.Vault)
	return h.Store.CreateRoleAssignment(ctx, a)
}

func (h *heldStore) DeleteRoleAssignment(ctx context.Context, vault, id string) error {
	h.dropRoles(vault)
	defer h.dropRoles(vault)
	return h.Store.DeleteRoleAssignment(ctx, vault, id)
}
