package sqlstore

import (
	"context"
	"errors"

	"github.com/portcullis/portcullis/internal/directory"
)

// Gateway APIs are kept in the apis table as JSON documents (docTable).

const changeAPI = "api"

var apiTable = docTable[directory.API]{table: "apis", noun: "API", plural: "APIs", change: changeAPI,
	fields: func(v *directory.API) docFields {
		return docFields{&v.TenantID, &v.Name, &v.Revision, &v.CreatedAt, &v.UpdatedAt}
	}}

func listAPIs(ctx context.Context, q Querier, where string, args ...any) ([]directory.API, error) {
	return apiTable.list(ctx, q, where, args...)
}

// apisChanged records a change of every API of the tenant, before the
// tenant's deletion removes them.
func apisChanged(ctx context.Context, q Querier, tenantID string) error {
	return apiTable.tenantDeleted(ctx, q, tenantID)
}

// CreateAPI adds an API to an existing tenant.
func (t dirTx) CreateAPI(ctx context.Context, v directory.API) (directory.API, error) {
	return apiTable.create(ctx, t, v)
}

// GetAPI returns one API.
func (t dirTx) GetAPI(ctx context.Context, tenantID, name string) (directory.API, error) {
	return apiTable.get(ctx, t, tenantID, name)
}

// ListAPIs returns the tenant's APIs ordered by name.
func (t dirTx) ListAPIs(ctx context.Context, tenantID string) ([]directory.API, error) {
	return apiTable.listTenant(ctx, t, tenantID)
}

// ListAllAPIs returns every tenant's APIs ordered by tenant id, then name.
func (t dirTx) ListAllAPIs(ctx context.Context) ([]directory.API, error) {
	return apiTable.listAll(ctx, t)
}

// UpdateAPI replaces an API, moving its revision to the transaction's.
func (t dirTx) UpdateAPI(ctx context.Context, v directory.API) (directory.API, error) {
	return apiTable.update(ctx, t, v)
}

// DeleteAPI removes one API.
func (t dirTx) DeleteAPI(ctx context.Context, tenantID, name string) error {
	return apiTable.delete(ctx, t, tenantID, name)
}

// The directory.Tx API methods on Store run each in its own transaction.

// CreateAPI adds an API to an existing tenant.
func (s *Store) CreateAPI(ctx context.Context, v directory.API) (directory.API, error) {
	return writeDir(ctx, s, func(tx directory.Tx) (directory.API, error) { return tx.CreateAPI(ctx, v) })
}

// GetAPI returns one API.
func (s *Store) GetAPI(ctx context.Context, tenantID, name string) (directory.API, error) {
	return readDir(ctx, s, func(tx dirTx) (directory.API, error) { return tx.GetAPI(ctx, tenantID, name) })
}

// ListAPIs returns the tenant's APIs ordered by name.
func (s *Store) ListAPIs(ctx context.Context, tenantID string) ([]directory.API, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.API, error) { return tx.ListAPIs(ctx, tenantID) })
}

// ListAllAPIs returns every tenant's APIs ordered by tenant id, then name.
func (s *Store) ListAllAPIs(ctx context.Context) ([]directory.API, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.API, error) { return tx.ListAllAPIs(ctx) })
}

// UpdateAPI replaces an API.
func (s *Store) UpdateAPI(ctx context.Context, v directory.API) (directory.API, error) {
	return writeDir(ctx, s, func(tx directory.Tx) (directory.API, error) { return tx.UpdateAPI(ctx, v) })
}

// DeleteAPI removes one API.
func (s *Store) DeleteAPI(ctx context.Context, tenantID, name string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteAPI(ctx, tenantID, name) })
}

// currentRevision is the store revision a write in this transaction gets.
func currentRevision(ctx context.Context, q Querier) (int64, error) {
	var rev int64
	found, err := QueryOne(ctx, q, `SELECT value FROM revision WHERE id = 1`, nil, &rev)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("the revision row is missing; the schema was not migrated")
	}
	return rev, nil
}
