package sqlstore

import (
	"context"

	"github.com/portcullis/portcullis/internal/directory"
)

// API connectors are kept in the connectors table like gateway APIs (docTable).

const changeConnector = "connector"

var connectorTable = docTable[directory.Connector]{table: "connectors", noun: "connector", plural: "connectors", change: changeConnector,
	fields: func(v *directory.Connector) docFields {
		return docFields{&v.TenantID, &v.Name, &v.Revision, &v.CreatedAt, &v.UpdatedAt}
	}}

func listConnectors(ctx context.Context, q Querier, where string, args ...any) ([]directory.Connector, error) {
	return connectorTable.list(ctx, q, where, args...)
}

// connectorsChanged records a change of every connector of the tenant, before the
// tenant's deletion removes them.
func connectorsChanged(ctx context.Context, q Querier, tenantID string) error {
	return connectorTable.tenantDeleted(ctx, q, tenantID)
}

// CreateConnector adds a connector to an existing tenant.
func (t dirTx) CreateConnector(ctx context.Context, v directory.Connector) (directory.Connector, error) {
	return connectorTable.create(ctx, t, v)
}

// GetConnector returns one connector.
func (t dirTx) GetConnector(ctx context.Context, tenantID, name string) (directory.Connector, error) {
	return connectorTable.get(ctx, t, tenantID, name)
}

// ListConnectors returns the tenant's connectors ordered by name.
func (t dirTx) ListConnectors(ctx context.Context, tenantID string) ([]directory.Connector, error) {
	return connectorTable.listTenant(ctx, t, tenantID)
}

// ListAllConnectors returns every tenant's connectors ordered by tenant id, then name.
func (t dirTx) ListAllConnectors(ctx context.Context) ([]directory.Connector, error) {
	return connectorTable.listAll(ctx, t)
}

// UpdateConnector replaces a connector, moving its revision to the transaction's.
func (t dirTx) UpdateConnector(ctx context.Context, v directory.Connector) (directory.Connector, error) {
	return connectorTable.update(ctx, t, v)
}

// DeleteConnector removes one connector.
func (t dirTx) DeleteConnector(ctx context.Context, tenantID, name string) error {
	return connectorTable.delete(ctx, t, tenantID, name)
}

// The directory.Tx connector methods on Store run each in its own transaction.

// CreateConnector adds a connector to an existing tenant.
func (s *Store) CreateConnector(ctx context.Context, v directory.Connector) (directory.Connector, error) {
	return writeDir(ctx, s, func(tx directory.Tx) (directory.Connector, error) { return tx.CreateConnector(ctx, v) })
}

// GetConnector returns one connector.
func (s *Store) GetConnector(ctx context.Context, tenantID, name string) (directory.Connector, error) {
	return readDir(ctx, s, func(tx dirTx) (directory.Connector, error) { return tx.GetConnector(ctx, tenantID, name) })
}

// ListConnectors returns the tenant's connectors ordered by name.
func (s *Store) ListConnectors(ctx context.Context, tenantID string) ([]directory.Connector, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Connector, error) { return tx.ListConnectors(ctx, tenantID) })
}

// ListAllConnectors returns every tenant's connectors ordered by tenant id, then name.
func (s *Store) ListAllConnectors(ctx context.Context) ([]directory.Connector, error) {
	return readDir(ctx, s, func(tx dirTx) ([]directory.Connector, error) { return tx.ListAllConnectors(ctx) })
}

// UpdateConnector replaces a connector.
func (s *Store) UpdateConnector(ctx context.Context, v directory.Connector) (directory.Connector, error) {
	return writeDir(ctx, s, func(tx directory.Tx) (directory.Connector, error) { return tx.UpdateConnector(ctx, v) })
}

// DeleteConnector removes one connector.
func (s *Store) DeleteConnector(ctx context.Context, tenantID, name string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteConnector(ctx, tenantID, name) })
}
