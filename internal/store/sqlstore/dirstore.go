package sqlstore

import (
	"context"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
)

// The seams Store implements, each defined by its consumer.
var (
	_ directory.Store = (*Store)(nil)
	_ sts.KeyStore    = (*Store)(nil)
	_ vault.Store     = (*Store)(nil)
)

// dirTx is directory.Tx over one transaction's Querier.
type dirTx struct {
	s *Store
	q Querier
}

var _ directory.Tx = dirTx{}

// UpdateDirectory runs fn in one write transaction (see Write: it holds
// the revision row lock from its first statement, which serialises it with
// every other writer on every node) and returns fn's error as is.
func (s *Store) UpdateDirectory(ctx context.Context, fn func(directory.Tx) error) error {
	return s.Write(ctx, func(q Querier) error {
		if err := fn(dirTx{s: s, q: q}); err != nil {
			return err
		}
		return pruneChanges(ctx, q)
	})
}

// readDir runs get over a dirTx in one consistent read-only transaction.
func readDir[T any](ctx context.Context, s *Store, get func(dirTx) (T, error)) (T, error) {
	return readValue(ctx, s, func(q Querier) (T, error) { return get(dirTx{s: s, q: q}) })
}

// The directory.Tx methods on Store run each in its own transaction.

// CreateTenant adds a tenant.
func (s *Store) CreateTenant(ctx context.Context, t directory.Tenant) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.CreateTenant(ctx, t) })
}

// ListTenants returns all tenants ordered by creation time, then id.
func (s *Store) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Tenant, error) { return tx.ListTenants(ctx) })
}

// DeleteTenant removes the tenant and everything that hangs on it.
func (s *Store) DeleteTenant(ctx context.Context, tenantID string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteTenant(ctx, tenantID) })
}

// CreateApplication adds an application with everything it holds.
func (s *Store) CreateApplication(ctx context.Context, app directory.Application) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.CreateApplication(ctx, app) })
}

// GetApplication returns one application with credentials.
func (s *Store) GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error) {
	return readDir(ctx, s, func(tx dirTx) (directory.Application, error) { return tx.GetApplication(ctx, tenantID, appID) })
}

// ListApplications returns the tenant's applications ordered by creation
// time, then app id.
func (s *Store) ListApplications(ctx context.Context, tenantID string) ([]directory.Application, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Application, error) { return tx.ListApplications(ctx, tenantID) })
}

// FindApplications returns the tenant's applications matching q.
func (s *Store) FindApplications(ctx context.Context, tenantID string, q directory.ApplicationQuery) ([]directory.Application, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Application, error) { return tx.FindApplications(ctx, tenantID, q) })
}

// UpdateApplication loads the application, calls mutate on it and writes
// the result back in one transaction.
func (s *Store) UpdateApplication(ctx context.Context, tenantID, appID string, mutate func(*directory.Application) error) (directory.Application, error) {
	var out directory.Application
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = tx.UpdateApplication(ctx, tenantID, appID, mutate)
		return err
	})
	if err != nil {
		return directory.Application{}, err
	}
	return out, nil
}

// DeleteApplication removes the application and everything that hangs on it.
func (s *Store) DeleteApplication(ctx context.Context, tenantID, appID string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteApplication(ctx, tenantID, appID) })
}

// CreateGrant records admin consent.
func (s *Store) CreateGrant(ctx context.Context, g directory.Grant) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.CreateGrant(ctx, g) })
}

// ListGrants returns the tenant's grants ordered by creation time, then id.
func (s *Store) ListGrants(ctx context.Context, tenantID string) ([]directory.Grant, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Grant, error) { return tx.ListGrants(ctx, tenantID) })
}

// FindGrants returns the tenant's grants matching q.
func (s *Store) FindGrants(ctx context.Context, tenantID string, q directory.GrantQuery) ([]directory.Grant, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Grant, error) { return tx.FindGrants(ctx, tenantID, q) })
}

// DeleteGrant removes one grant.
func (s *Store) DeleteGrant(ctx context.Context, tenantID, grantID string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteGrant(ctx, tenantID, grantID) })
}

// Contract is every method a backend promotes from Store: each consumer's
// seam (directory.Store, sts.KeyStore, vault.Store) and what the stores
// share (revision, leases, health, one consistent Load for the snapshots).
type Contract interface {
	directory.Store
	sts.KeyStore
	vault.Store
	// Load returns everything the token service serves from, read in one
	// consistent transaction, together with the revision it reflects.
	Load(ctx context.Context) (State, error)
	// ChangesSince returns the directory objects changed after revision
	// since, as they are now, and every signing key, read in one
	// consistent transaction; false when the change log cannot answer or
	// more than limit objects changed (then Load).
	ChangesSince(ctx context.Context, since int64, limit int) (Delta, bool, error)
	// Revision returns the current global revision; cheap enough to poll.
	Revision(ctx context.Context) (int64, error)
	// TryLease acquires or renews the named lease for holder until now+ttl
	// and reports whether holder owns it afterwards, so that exactly one
	// node of a cluster runs a periodic job.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	// ReplaceSigningKeySealed sets a signing key's sealed bytes to sealed
	// only where they still equal old (a compare-and-swap across nodes) and
	// reports whether it did; ErrNotFound if the key does not exist.
	ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error)
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	// The one audit log (package audit; see auditlog.go). A change's
	// record is written by Write, from the audit.Change of its context.
	AppendAuditLog(ctx context.Context, records ...audit.Record) error
	ListAuditLog(ctx context.Context, q audit.Query) ([]audit.Record, error)
	AuditToShip(ctx context.Context, afterSeq, throughSeq int64, limit int) ([]audit.Record, error)
	AuditNewestSeq(ctx context.Context) (int64, error)
	AuditCursor(ctx context.Context, name string) (int64, error)
	SetAuditCursor(ctx context.Context, name string, seq int64) error
	PruneAudit(ctx context.Context, olderThan time.Time, keepRows, maxSeq int64, batch int) (int, error)
}

var _ Contract = (*Store)(nil)
