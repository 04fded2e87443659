package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// A connector is kept like an API: its JSON document with the columns
// that identify and version it beside it.

const changeConnector = "connector"

// connectorDocument is what the document column holds.
func connectorDocument(c directory.Connector) (string, error) {
	c.TenantID, c.Revision = "", 0
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode connector %q: %w", c.Name, err)
	}
	return string(b), nil
}

func listConnectors(ctx context.Context, q Querier, where string, args ...any) ([]directory.Connector, error) {
	return scanAll(ctx, q, `SELECT tenant_id, name, document, revision, created_at, updated_at FROM connectors WHERE `+where+` ORDER BY tenant_id, name`, args, func(r Rows) (directory.Connector, error) {
		var a directory.Connector
		var doc, tenantID, name string
		var rev int64
		if err := r.Scan(&tenantID, &name, &doc, &rev, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return a, err
		}
		created, updated := a.CreatedAt, a.UpdatedAt
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return a, fmt.Errorf("connector %q of tenant %s: the stored document does not decode: %w", name, tenantID, err)
		}
		a.TenantID, a.Name, a.Revision, a.CreatedAt, a.UpdatedAt = tenantID, name, rev, created, updated
		return a, nil
	})
}

// CreateConnector adds a connector to an existing tenant.
func (t dirTx) CreateConnector(ctx context.Context, c directory.Connector) (directory.Connector, error) {
	what := fmt.Sprintf("create connector %q", c.Name)
	if err := required(what, "tenant id", c.TenantID, "name", c.Name); err != nil {
		return directory.Connector{}, err
	}
	c.CreatedAt, c.UpdatedAt = Time(c.CreatedAt), Time(c.UpdatedAt)
	q := t.q
	err := func() error {
		if err := tenantExists(ctx, q, c.TenantID); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM connectors WHERE tenant_id = ? AND name = ?`, c.TenantID, c.Name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("connector %q exists in tenant %s: %w", c.Name, c.TenantID, store.ErrConflict)
		}
		doc, err := connectorDocument(c)
		if err != nil {
			return err
		}
		if c.Revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO connectors (tenant_id, name, document, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.TenantID, c.Name, doc, c.Revision, c.CreatedAt, c.UpdatedAt); err != nil {
			return err
		}
		return changed(ctx, q, changeConnector, c.TenantID, c.Name)
	}()
	if err != nil {
		return directory.Connector{}, t.s.writeError(what, err)
	}
	return c, nil
}

// GetConnector returns one API.
func (t dirTx) GetConnector(ctx context.Context, tenantID, name string) (directory.Connector, error) {
	cs, err := listConnectors(ctx, t.q, "tenant_id = ? AND name = ?", tenantID, name)
	if err != nil {
		return directory.Connector{}, fmt.Errorf("get connector %q: %w", name, err)
	}
	if len(cs) == 0 {
		return directory.Connector{}, fmt.Errorf("connector %q in tenant %q: %w", name, tenantID, store.ErrNotFound)
	}
	return cs[0], nil
}

// ListConnectors returns the tenant's connectors ordered by name.
func (t dirTx) ListConnectors(ctx context.Context, tenantID string) ([]directory.Connector, error) {
	cs, err := listConnectors(ctx, t.q, "tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list connectors of tenant %q: %w", tenantID, err)
	}
	return cs, nil
}

// ListAllConnectors returns every tenant's connectors ordered by tenant id, then name.
func (t dirTx) ListAllConnectors(ctx context.Context) ([]directory.Connector, error) {
	cs, err := listConnectors(ctx, t.q, "1 = 1")
	if err != nil {
		return nil, fmt.Errorf("list connectors: %w", err)
	}
	return cs, nil
}

// UpdateConnector replaces a connector, moving its revision to the transaction's.
func (t dirTx) UpdateConnector(ctx context.Context, c directory.Connector) (directory.Connector, error) {
	what := fmt.Sprintf("update connector %q", c.Name)
	if err := required(what, "tenant id", c.TenantID, "name", c.Name); err != nil {
		return directory.Connector{}, err
	}
	c.CreatedAt, c.UpdatedAt = Time(c.CreatedAt), Time(c.UpdatedAt)
	q := t.q
	err := func() error {
		doc, err := connectorDocument(c)
		if err != nil {
			return err
		}
		if c.Revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE connectors SET document = ?, revision = ?, created_at = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`,
			doc, c.Revision, c.CreatedAt, c.UpdatedAt, c.TenantID, c.Name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("connector %q in tenant %q: %w", c.Name, c.TenantID, store.ErrNotFound)
		}
		return changed(ctx, q, changeConnector, c.TenantID, c.Name)
	}()
	if err != nil {
		return directory.Connector{}, t.s.writeError(what, err)
	}
	return c, nil
}

// DeleteConnector removes one API.
func (t dirTx) DeleteConnector(ctx context.Context, tenantID, name string) error {
	q := t.q
	err := func() error {
		n, err := q.Exec(ctx, `DELETE FROM connectors WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("connector %q in tenant %q: %w", name, tenantID, store.ErrNotFound)
		}
		return changed(ctx, q, changeConnector, tenantID, name)
	}()
	if err != nil {
		return fmt.Errorf("delete connector: %w", err)
	}
	return nil
}

// connectorsChanged records a change of every API of the tenant, before the
// tenant's deletion removes them.
func connectorsChanged(ctx context.Context, q Querier, tenantID string) error {
	names, err := scanAll(ctx, q, `SELECT name FROM connectors WHERE tenant_id = ?`, []any{tenantID}, func(r Rows) (string, error) {
		var n string
		err := r.Scan(&n)
		return n, err
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := changed(ctx, q, changeConnector, tenantID, n); err != nil {
			return err
		}
	}
	return nil
}

// The directory.Tx API methods on Store run each in its own transaction.

// CreateConnector adds a connector to an existing tenant.
func (s *Store) CreateConnector(ctx context.Context, c directory.Connector) (directory.Connector, error) {
	var out directory.Connector
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = tx.CreateConnector(ctx, c)
		return err
	})
	return out, err
}

// GetConnector returns one API.
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
func (s *Store) UpdateConnector(ctx context.Context, c directory.Connector) (directory.Connector, error) {
	var out directory.Connector
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = tx.UpdateConnector(ctx, c)
		return err
	})
	return out, err
}

// DeleteConnector removes one API.
func (s *Store) DeleteConnector(ctx context.Context, tenantID, name string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteConnector(ctx, tenantID, name) })
}
