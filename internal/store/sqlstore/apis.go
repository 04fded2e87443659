package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// An API is kept as its JSON document with the columns that identify and
// version it beside it: the document's own tenantId, name, revision and
// times are overwritten from the columns when it is read.

const changeAPI = "api"

// apiDocument is what the document column holds.
func apiDocument(api directory.API) (string, error) {
	api.TenantID, api.Revision = "", 0
	b, err := json.Marshal(api)
	if err != nil {
		return "", fmt.Errorf("encode API %q: %w", api.Name, err)
	}
	return string(b), nil
}

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

func listAPIs(ctx context.Context, q Querier, where string, args ...any) ([]directory.API, error) {
	return scanAll(ctx, q, `SELECT tenant_id, name, document, revision, created_at, updated_at FROM apis WHERE `+where+` ORDER BY tenant_id, name`, args, func(r Rows) (directory.API, error) {
		var a directory.API
		var doc, tenantID, name string
		var rev int64
		if err := r.Scan(&tenantID, &name, &doc, &rev, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return a, err
		}
		created, updated := a.CreatedAt, a.UpdatedAt
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return a, fmt.Errorf("API %q of tenant %s: the stored document does not decode: %w", name, tenantID, err)
		}
		a.TenantID, a.Name, a.Revision, a.CreatedAt, a.UpdatedAt = tenantID, name, rev, created, updated
		return a, nil
	})
}

// CreateAPI adds an API to an existing tenant.
func (t dirTx) CreateAPI(ctx context.Context, api directory.API) (directory.API, error) {
	what := fmt.Sprintf("create API %q", api.Name)
	if err := required(what, "tenant id", api.TenantID, "name", api.Name); err != nil {
		return directory.API{}, err
	}
	api.CreatedAt, api.UpdatedAt = Time(api.CreatedAt), Time(api.UpdatedAt)
	q := t.q
	err := func() error {
		if err := tenantExists(ctx, q, api.TenantID); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM apis WHERE tenant_id = ? AND name = ?`, api.TenantID, api.Name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("API %q exists in tenant %s: %w", api.Name, api.TenantID, store.ErrConflict)
		}
		doc, err := apiDocument(api)
		if err != nil {
			return err
		}
		if api.Revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO apis (tenant_id, name, document, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			api.TenantID, api.Name, doc, api.Revision, api.CreatedAt, api.UpdatedAt); err != nil {
			return err
		}
		return changed(ctx, q, changeAPI, api.TenantID, api.Name)
	}()
	if err != nil {
		return directory.API{}, t.s.writeError(what, err)
	}
	return api, nil
}

// GetAPI returns one API.
func (t dirTx) GetAPI(ctx context.Context, tenantID, name string) (directory.API, error) {
	apis, err := listAPIs(ctx, t.q, "tenant_id = ? AND name = ?", tenantID, name)
	if err != nil {
		return directory.API{}, fmt.Errorf("get API %q: %w", name, err)
	}
	if len(apis) == 0 {
		return directory.API{}, fmt.Errorf("API %q in tenant %q: %w", name, tenantID, store.ErrNotFound)
	}
	return apis[0], nil
}

// ListAPIs returns the tenant's APIs ordered by name.
func (t dirTx) ListAPIs(ctx context.Context, tenantID string) ([]directory.API, error) {
	apis, err := listAPIs(ctx, t.q, "tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list APIs of tenant %q: %w", tenantID, err)
	}
	return apis, nil
}

// ListAllAPIs returns every tenant's APIs ordered by tenant id, then name.
func (t dirTx) ListAllAPIs(ctx context.Context) ([]directory.API, error) {
	apis, err := listAPIs(ctx, t.q, "1 = 1")
	if err != nil {
		return nil, fmt.Errorf("list APIs: %w", err)
	}
	return apis, nil
}

// UpdateAPI replaces an API, moving its revision to the transaction's.
func (t dirTx) UpdateAPI(ctx context.Context, api directory.API) (directory.API, error) {
	what := fmt.Sprintf("update API %q", api.Name)
	if err := required(what, "tenant id", api.TenantID, "name", api.Name); err != nil {
		return directory.API{}, err
	}
	api.CreatedAt, api.UpdatedAt = Time(api.CreatedAt), Time(api.UpdatedAt)
	q := t.q
	err := func() error {
		doc, err := apiDocument(api)
		if err != nil {
			return err
		}
		if api.Revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE apis SET document = ?, revision = ?, created_at = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`,
			doc, api.Revision, api.CreatedAt, api.UpdatedAt, api.TenantID, api.Name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("API %q in tenant %q: %w", api.Name, api.TenantID, store.ErrNotFound)
		}
		return changed(ctx, q, changeAPI, api.TenantID, api.Name)
	}()
	if err != nil {
		return directory.API{}, t.s.writeError(what, err)
	}
	return api, nil
}

// DeleteAPI removes one API.
func (t dirTx) DeleteAPI(ctx context.Context, tenantID, name string) error {
	q := t.q
	err := func() error {
		n, err := q.Exec(ctx, `DELETE FROM apis WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("API %q in tenant %q: %w", name, tenantID, store.ErrNotFound)
		}
		return changed(ctx, q, changeAPI, tenantID, name)
	}()
	if err != nil {
		return fmt.Errorf("delete API: %w", err)
	}
	return nil
}

// apisChanged records a change of every API of the tenant, before the
// tenant's deletion removes them.
func apisChanged(ctx context.Context, q Querier, tenantID string) error {
	names, err := scanAll(ctx, q, `SELECT name FROM apis WHERE tenant_id = ?`, []any{tenantID}, func(r Rows) (string, error) {
		var n string
		err := r.Scan(&n)
		return n, err
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := changed(ctx, q, changeAPI, tenantID, n); err != nil {
			return err
		}
	}
	return nil
}

// The directory.Tx API methods on Store run each in its own transaction.

// CreateAPI adds an API to an existing tenant.
func (s *Store) CreateAPI(ctx context.Context, api directory.API) (directory.API, error) {
	var out directory.API
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = tx.CreateAPI(ctx, api)
		return err
	})
	return out, err
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
func (s *Store) UpdateAPI(ctx context.Context, api directory.API) (directory.API, error) {
	var out directory.API
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = tx.UpdateAPI(ctx, api)
		return err
	})
	return out, err
}

// DeleteAPI removes one API.
func (s *Store) DeleteAPI(ctx context.Context, tenantID, name string) error {
	return s.UpdateDirectory(ctx, func(tx directory.Tx) error { return tx.DeleteAPI(ctx, tenantID, name) })
}
