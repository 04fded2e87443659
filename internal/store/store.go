// Package store is the persistence seam of Portcullis: one Store interface with
// two implementations (store/sqlite, the embedded default, and store/postgres
// for clusters) that pass one shared conformance suite (store/storetest).
//
// The store never sees secret material in clear: private keys arrive sealed by
// package seal, client secrets arrive hashed.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
)

// ErrNotFound is returned when the named object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would violate uniqueness (a duplicate
// tenant name, identifier URI, display name or grant). Implementations wrap it
// with a message naming the conflicting value.
var ErrConflict = errors.New("conflict")

// Store persists the directory and the token service's signing keys.
//
// Every successful write increments the global revision, so that other nodes
// (and this one) know to rebuild their in-memory snapshot.
type Store interface {
	// CreateTenant adds a tenant; ErrConflict if the id or the name (compared
	// case-insensitively) exists.
	CreateTenant(ctx context.Context, t directory.Tenant) error
	// ListTenants returns all tenants ordered by creation time.
	ListTenants(ctx context.Context) ([]directory.Tenant, error)

	// CreateApplication adds an application with everything it holds (identifier
	// URIs, app roles, credentials). ErrConflict if an identifier URI is used
	// by another application of the tenant (case-insensitive) or the display
	// name is taken in the tenant (case-insensitive).
	CreateApplication(ctx context.Context, app directory.Application) error
	// GetApplication returns one application, with credentials.
	GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error)
	// ListApplications returns the tenant's applications ordered by creation.
	ListApplications(ctx context.Context, tenantID string) ([]directory.Application, error)
	// UpdateApplication loads the application, calls mutate on it and writes
	// the result back, all in one transaction, so concurrent updates are
	// serialised and none is lost. If mutate returns an error nothing is
	// written and that error is returned as is. TenantID, AppID and ObjectID
	// cannot be changed. Uniqueness is enforced as in CreateApplication.
	UpdateApplication(ctx context.Context, tenantID, appID string, mutate func(*directory.Application) error) (directory.Application, error)
	// DeleteApplication removes the application, its credentials, and every
	// grant in which it is the client or the resource.
	DeleteApplication(ctx context.Context, tenantID, appID string) error

	// CreateGrant records admin consent; ErrConflict if the same client,
	// resource and role are already granted.
	CreateGrant(ctx context.Context, g directory.Grant) error
	// ListGrants returns the tenant's grants ordered by creation.
	ListGrants(ctx context.Context, tenantID string) ([]directory.Grant, error)
	// DeleteGrant removes one grant.
	DeleteGrant(ctx context.Context, tenantID, grantID string) error

	// CreateSigningKey stores a new signing key (its private part sealed).
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns the tenant's signing keys ordered by ActivateAt.
	ListSigningKeys(ctx context.Context, tenantID string) ([]SigningKey, error)
	// DeleteSigningKey removes a signing key that is no longer published.
	DeleteSigningKey(ctx context.Context, tenantID, kid string) error
	// ReplaceSigningKeySealed sets the key's Sealed bytes to sealed only
	// where they still equal old (a compare-and-swap, so that concurrent
	// root-key rotations on several nodes cannot overwrite each other) and
	// reports whether it did; ErrNotFound if the key does not exist.
	ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error)

	// Load returns everything the token service serves from, read in one
	// consistent transaction, together with the revision it reflects.
	Load(ctx context.Context) (State, error)
	// Revision returns the current global revision; cheap enough to poll.
	Revision(ctx context.Context) (int64, error)

	// TryLease acquires or renews the named lease for holder until now+ttl.
	// It returns true when holder owns the lease afterwards. Used so that
	// exactly one node of a cluster runs a periodic job (key rotation).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)

	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// State is a consistent read of the whole directory and the signing keys.
type State struct {
	Revision     int64
	Tenants      []directory.Tenant
	Applications []directory.Application // all tenants, with credentials
	Grants       []directory.Grant       // all tenants
	SigningKeys  []SigningKey            // all tenants
}

// SigningKey is a tenant's token-signing key. Which key signs and which are
// published is derived from the times, never stored as a state: the signer is
// the key with the latest ActivateAt not after now; a key is published from
// its creation until the next key's ActivateAt plus the longest token
// lifetime, so tokens it signed keep verifying.
type SigningKey struct {
	TenantID   string
	KID        string
	Algorithm  string // "RS256"
	PublicDER  []byte // PKIX public key
	CertDER    []byte // self-signed certificate for x5c/x5t in JWKS
	Sealed     []byte // PKCS#8 private key sealed by package seal
	CreatedAt  time.Time
	ActivateAt time.Time
}
