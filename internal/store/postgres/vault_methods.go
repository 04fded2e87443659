package postgres

import (
	"context"

	"github.com/portcullis/portcullis/internal/vault"
)

// The methods below are the vault.Store contract, implemented once in
// package sqlstore; their documentation is on vault.Store.

var _ vault.Store = (*Store)(nil)

// CreateVault implements vault.Store.
func (s *Store) CreateVault(ctx context.Context, v vault.Vault) error {
	return s.core.CreateVault(ctx, v)
}

// GetVault implements vault.Store.
func (s *Store) GetVault(ctx context.Context, name string) (vault.Vault, error) {
	return s.core.GetVault(ctx, name)
}

// ListVaults implements vault.Store.
func (s *Store) ListVaults(ctx context.Context) ([]vault.Vault, error) {
	return s.core.ListVaults(ctx)
}

// UpdateVault implements vault.Store.
func (s *Store) UpdateVault(ctx context.Context, name string, mutate func(*vault.Vault) error) (vault.Vault, error) {
	return s.core.UpdateVault(ctx, name, mutate)
}

// DeleteVault implements vault.Store.
func (s *Store) DeleteVault(ctx context.Context, name string) error {
	return s.core.DeleteVault(ctx, name)
}

// AddVersion implements vault.Store.
func (s *Store) AddVersion(ctx context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	return s.core.AddVersion(ctx, v, opts)
}

// GetObject implements vault.Store.
func (s *Store) GetObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string) (vault.Object, error) {
	return s.core.GetObject(ctx, vaultName, typ, name)
}

// UpdateObject implements vault.Store.
func (s *Store) UpdateObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string, mutate func(*vault.Object) error) (vault.Object, error) {
	return s.core.UpdateObject(ctx, vaultName, typ, name, mutate)
}

// ListObjects implements vault.Store.
func (s *Store) ListObjects(ctx context.Context, vaultName string, typ vault.ObjectType, q vault.ObjectQuery) ([]vault.ObjectEntry, error) {
	return s.core.ListObjects(ctx, vaultName, typ, q)
}

// GetObjectVersion implements vault.Store.
func (s *Store) GetObjectVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string) (vault.Object, vault.ObjectVersion, error) {
	return s.core.GetObjectVersion(ctx, vaultName, typ, name, version)
}

// GetVersion implements vault.Store.
func (s *Store) GetVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string) (vault.ObjectVersion, error) {
	return s.core.GetVersion(ctx, vaultName, typ, name, version)
}

// ListVersions implements vault.Store.
func (s *Store) ListVersions(ctx context.Context, vaultName string, typ vault.ObjectType, name string) ([]vault.ObjectVersion, error) {
	return s.core.ListVersions(ctx, vaultName, typ, name)
}

// UpdateVersion implements vault.Store.
func (s *Store) UpdateVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string, mutate func(*vault.ObjectVersion) error) (vault.ObjectVersion, error) {
	return s.core.UpdateVersion(ctx, vaultName, typ, name, version, mutate)
}

// PurgeObject implements vault.Store.
func (s *Store) PurgeObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string) error {
	return s.core.PurgeObject(ctx, vaultName, typ, name)
}

// ScanVersions implements vault.Store.
func (s *Store) ScanVersions(ctx context.Context, afterSeq int64, limit int) ([]vault.ObjectVersion, error) {
	return s.core.ScanVersions(ctx, afterSeq, limit)
}

// ReplaceSealed implements vault.Store.
func (s *Store) ReplaceSealed(ctx context.Context, updates []vault.SealedUpdate) (int, error) {
	return s.core.ReplaceSealed(ctx, updates)
}

// CreateRoleAssignment implements vault.Store.
func (s *Store) CreateRoleAssignment(ctx context.Context, a vault.RoleAssignment) error {
	return s.core.CreateRoleAssignment(ctx, a)
}

// ListRoleAssignments implements vault.Store.
func (s *Store) ListRoleAssignments(ctx context.Context, vaultName, principalID string) ([]vault.RoleAssignment, error) {
	return s.core.ListRoleAssignments(ctx, vaultName, principalID)
}

// DeleteRoleAssignment implements vault.Store.
func (s *Store) DeleteRoleAssignment(ctx context.Context, vaultName, id string) error {
	return s.core.DeleteRoleAssignment(ctx, vaultName, id)
}

// AddReference implements vault.Store.
func (s *Store) AddReference(ctx context.Context, r vault.Reference) error {
	return s.core.AddReference(ctx, r)
}

// RemoveReference implements vault.Store.
func (s *Store) RemoveReference(ctx context.Context, r vault.Reference) error {
	return s.core.RemoveReference(ctx, r)
}

// ListReferences implements vault.Store.
func (s *Store) ListReferences(ctx context.Context, vaultName string, typ vault.ObjectType, name string) ([]vault.Reference, error) {
	return s.core.ListReferences(ctx, vaultName, typ, name)
}

// AppendAudit implements vault.Store.
func (s *Store) AppendAudit(ctx context.Context, records ...vault.AuditRecord) error {
	return s.core.AppendAudit(ctx, records...)
}

// ListAudit implements vault.Store.
func (s *Store) ListAudit(ctx context.Context, q vault.AuditQuery) ([]vault.AuditRecord, error) {
	return s.core.ListAudit(ctx, q)
}

// MarkLifetimeAction implements vault.Store.
func (s *Store) MarkLifetimeAction(ctx context.Context, m vault.LifetimeMarker) (bool, error) {
	return s.core.MarkLifetimeAction(ctx, m)
}

// UnmarkLifetimeAction implements vault.Store.
func (s *Store) UnmarkLifetimeAction(ctx context.Context, m vault.LifetimeMarker) error {
	return s.core.UnmarkLifetimeAction(ctx, m)
}
