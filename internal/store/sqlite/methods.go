package sqlite

import (
	"context"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// The methods below are the store.Store contract, implemented once in
// package sqlstore; their documentation is on store.Store.

var _ store.Store = (*Store)(nil)

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, t directory.Tenant) error {
	return s.core.CreateTenant(ctx, t)
}

// ListTenants implements store.Store.
func (s *Store) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	return s.core.ListTenants(ctx)
}

// CreateApplication implements store.Store.
func (s *Store) CreateApplication(ctx context.Context, app directory.Application) error {
	return s.core.CreateApplication(ctx, app)
}

// GetApplication implements store.Store.
func (s *Store) GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error) {
	return s.core.GetApplication(ctx, tenantID, appID)
}

// ListApplications implements store.Store.
func (s *Store) ListApplications(ctx context.Context, tenantID string) ([]directory.Application, error) {
	return s.core.ListApplications(ctx, tenantID)
}

// UpdateApplication implements store.Store.
func (s *Store) UpdateApplication(ctx context.Context, tenantID, appID string, mutate func(*directory.Application) error) (directory.Application, error) {
	return s.core.UpdateApplication(ctx, tenantID, appID, mutate)
}

// DeleteApplication implements store.Store.
func (s *Store) DeleteApplication(ctx context.Context, tenantID, appID string) error {
	return s.core.DeleteApplication(ctx, tenantID, appID)
}

// CreateGrant implements store.Store.
func (s *Store) CreateGrant(ctx context.Context, g directory.Grant) error {
	return s.core.CreateGrant(ctx, g)
}

// ListGrants implements store.Store.
func (s *Store) ListGrants(ctx context.Context, tenantID string) ([]directory.Grant, error) {
	return s.core.ListGrants(ctx, tenantID)
}

// DeleteGrant implements store.Store.
func (s *Store) DeleteGrant(ctx context.Context, tenantID, grantID string) error {
	return s.core.DeleteGrant(ctx, tenantID, grantID)
}

// CreateSigningKey implements store.Store.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.core.CreateSigningKey(ctx, k)
}

// ListSigningKeys implements store.Store.
func (s *Store) ListSigningKeys(ctx context.Context, tenantID string) ([]store.SigningKey, error) {
	return s.core.ListSigningKeys(ctx, tenantID)
}

// DeleteSigningKey implements store.Store.
func (s *Store) DeleteSigningKey(ctx context.Context, tenantID, kid string) error {
	return s.core.DeleteSigningKey(ctx, tenantID, kid)
}

// ReplaceSigningKeySealed implements store.Store.
func (s *Store) ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error) {
	return s.core.ReplaceSigningKeySealed(ctx, tenantID, kid, old, sealed)
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context) (store.State, error) {
	return s.core.Load(ctx)
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	return s.core.Revision(ctx)
}

// TryLease implements store.Store.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	return s.core.TryLease(ctx, name, holder, ttl, now)
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.core.Ping(ctx)
}

// Close implements store.Store.
func (s *Store) Close() error {
	return s.core.Close()
}
