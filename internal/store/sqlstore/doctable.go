package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// A docTable keeps tenant-scoped objects of type T (gateway APIs,
// connectors) as JSON documents with the columns that identify and version
// them beside: tenant_id, name, document, revision, created_at, updated_at.
// The document's own tenant id, name, revision and times are overwritten
// from the columns when it is read.
type docTable[T any] struct {
	table  string // SQL table
	noun   string // what an object is called in errors: "API", "connector"
	plural string // "APIs", "connectors"
	change string // the change-log kind
	// fields gives the columns' counterparts in an object.
	fields func(*T) docFields
}

// docFields points at the fields of an object that the columns hold.
type docFields struct {
	tenantID, name       *string
	revision             *int64
	createdAt, updatedAt *time.Time
}

// document is what the document column holds.
func (d docTable[T]) document(v T) (string, error) {
	f := d.fields(&v)
	*f.tenantID, *f.revision = "", 0
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s %q: %w", d.noun, *f.name, err)
	}
	return string(b), nil
}

func (d docTable[T]) list(ctx context.Context, q Querier, where string, args ...any) ([]T, error) {
	return scanAll(ctx, q, `SELECT tenant_id, name, document, revision, created_at, updated_at FROM `+d.table+` WHERE `+where+` ORDER BY tenant_id, name`, args, func(r Rows) (T, error) {
		var v T
		var doc, tenantID, name string
		var rev int64
		var created, updated time.Time
		if err := r.Scan(&tenantID, &name, &doc, &rev, &created, &updated); err != nil {
			return v, err
		}
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return v, fmt.Errorf("%s %q of tenant %s: the stored document does not decode: %w", d.noun, name, tenantID, err)
		}
		f := d.fields(&v)
		*f.tenantID, *f.name, *f.revision, *f.createdAt, *f.updatedAt = tenantID, name, rev, created, updated
		return v, nil
	})
}

// create adds v to an existing tenant.
func (d docTable[T]) create(ctx context.Context, t dirTx, v T) (T, error) {
	var zero T
	f := d.fields(&v)
	what := fmt.Sprintf("create %s %q", d.noun, *f.name)
	if err := required(what, "tenant id", *f.tenantID, "name", *f.name); err != nil {
		return zero, err
	}
	*f.createdAt, *f.updatedAt = Time(*f.createdAt), Time(*f.updatedAt)
	q := t.q
	err := func() error {
		if err := tenantExists(ctx, q, *f.tenantID); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM `+d.table+` WHERE tenant_id = ? AND name = ?`, *f.tenantID, *f.name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%s %q exists in tenant %s: %w", d.noun, *f.name, *f.tenantID, store.ErrConflict)
		}
		doc, err := d.document(v)
		if err != nil {
			return err
		}
		if *f.revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO `+d.table+` (tenant_id, name, document, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			*f.tenantID, *f.name, doc, *f.revision, *f.createdAt, *f.updatedAt); err != nil {
			return err
		}
		return changed(ctx, q, d.change, *f.tenantID, *f.name)
	}()
	if err != nil {
		return zero, t.s.writeError(what, err)
	}
	return v, nil
}

// get returns one object.
func (d docTable[T]) get(ctx context.Context, t dirTx, tenantID, name string) (T, error) {
	var zero T
	vs, err := d.list(ctx, t.q, "tenant_id = ? AND name = ?", tenantID, name)
	if err != nil {
		return zero, fmt.Errorf("get %s %q: %w", d.noun, name, err)
	}
	if len(vs) == 0 {
		return zero, fmt.Errorf("%s %q in tenant %q: %w", d.noun, name, tenantID, store.ErrNotFound)
	}
	return vs[0], nil
}

// listTenant returns the tenant's objects ordered by name.
func (d docTable[T]) listTenant(ctx context.Context, t dirTx, tenantID string) ([]T, error) {
	vs, err := d.list(ctx, t.q, "tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list %s of tenant %q: %w", d.plural, tenantID, err)
	}
	return vs, nil
}

// listAll returns every tenant's objects ordered by tenant id, then name.
func (d docTable[T]) listAll(ctx context.Context, t dirTx) ([]T, error) {
	vs, err := d.list(ctx, t.q, "1 = 1")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.plural, err)
	}
	return vs, nil
}

// update replaces an object, moving its revision to the transaction's.
func (d docTable[T]) update(ctx context.Context, t dirTx, v T) (T, error) {
	var zero T
	f := d.fields(&v)
	what := fmt.Sprintf("update %s %q", d.noun, *f.name)
	if err := required(what, "tenant id", *f.tenantID, "name", *f.name); err != nil {
		return zero, err
	}
	*f.createdAt, *f.updatedAt = Time(*f.createdAt), Time(*f.updatedAt)
	q := t.q
	err := func() error {
		doc, err := d.document(v)
		if err != nil {
			return err
		}
		if *f.revision, err = currentRevision(ctx, q); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE `+d.table+` SET document = ?, revision = ?, created_at = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`,
			doc, *f.revision, *f.createdAt, *f.updatedAt, *f.tenantID, *f.name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s %q in tenant %q: %w", d.noun, *f.name, *f.tenantID, store.ErrNotFound)
		}
		return changed(ctx, q, d.change, *f.tenantID, *f.name)
	}()
	if err != nil {
		return zero, t.s.writeError(what, err)
	}
	return v, nil
}

// delete removes one object.
func (d docTable[T]) delete(ctx context.Context, t dirTx, tenantID, name string) error {
	q := t.q
	err := func() error {
		n, err := q.Exec(ctx, `DELETE FROM `+d.table+` WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s %q in tenant %q: %w", d.noun, name, tenantID, store.ErrNotFound)
		}
		return changed(ctx, q, d.change, tenantID, name)
	}()
	if err != nil {
		return fmt.Errorf("delete %s: %w", d.noun, err)
	}
	return nil
}

// tenantDeleted records a change of every object of the tenant, before the
// tenant's deletion removes them.
func (d docTable[T]) tenantDeleted(ctx context.Context, q Querier, tenantID string) error {
	names, err := scanAll(ctx, q, `SELECT name FROM `+d.table+` WHERE tenant_id = ?`, []any{tenantID}, func(r Rows) (string, error) {
		var n string
		err := r.Scan(&n)
		return n, err
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := changed(ctx, q, d.change, tenantID, n); err != nil {
			return err
		}
	}
	return nil
}

// writeDir runs write in a directory transaction of its own and returns its result.
func writeDir[T any](ctx context.Context, s *Store, write func(directory.Tx) (T, error)) (T, error) {
	var out T
	err := s.UpdateDirectory(ctx, func(tx directory.Tx) error {
		var err error
		out, err = write(tx)
		return err
	})
	return out, err
}
