// Package sqlstore is the one SQL implementation of every consumer's store
// seam (directory.Store, sts.KeyStore, vault.Store; together Contract) that
// the SQLite and PostgreSQL backends share. A backend supplies a DB: how to run a
// read transaction, a write transaction and a single query, how to classify
// constraint violations, and how to lock a row. Everything else (the queries,
// the uniqueness and existence rules, the global revision, the leases) lives
// here once, so both backends behave identically.
//
// SQL in this package, and in code handed a Querier, uses ? placeholders; the
// PostgreSQL backend rewrites them to $1, $2, …, so a literal question mark
// must not appear in a statement. Times are passed and scanned as time.Time
// (the SQLite backend stores them as integer microseconds since the Unix
// epoch, PostgreSQL as timestamptz) and always come back in UTC.
//
// Schema versions are kept per component by Migrations and applied by Migrate;
// see Migrations for how a component registers its own steps.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// Querier runs statements inside one transaction (or, for DB.Query, outside
// any).
type Querier interface {
	// Exec runs a statement that returns no rows and reports the rows affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a statement that returns rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows is the result of Querier.Query. Scan accepts *string, *int64, *bool,
// *[]byte and *time.Time destinations.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// ConstraintKind classifies a database error caused by a constraint.
type ConstraintKind int

const (
	// NoConstraint means the error is not a constraint violation.
	NoConstraint ConstraintKind = iota
	// UniqueViolation means a primary key or unique index rejected the write.
	UniqueViolation
	// ForeignKeyViolation means a referenced row does not exist (or is still referenced).
	ForeignKeyViolation
)

// DB is what a backend provides.
type DB interface {
	// Read runs fn in a read-only transaction that sees one consistent
	// snapshot of the database.
	Read(ctx context.Context, fn func(Querier) error) error
	// Write runs fn in a write transaction and commits when fn returns nil.
	// Write transactions are serialised with each other. An error from fn
	// is returned unchanged (not wrapped).
	Write(ctx context.Context, fn func(Querier) error) error
	// Query runs one read-only statement outside a transaction.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Constraint reports which constraint, if any, caused err.
	Constraint(err error) ConstraintKind
	// ForUpdate is the clause appended to a SELECT to lock the selected rows
	// until the transaction ends ("" where write transactions already hold
	// an exclusive lock on the database).
	ForUpdate() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Store implements Contract over a DB. Backends wrap it.
type Store struct {
	db DB
}

// New returns a Store over db, whose schema must have been migrated.
func New(db DB) *Store { return &Store{db: db} }

// DB returns the backend the Store runs on.
func (s *Store) DB() DB { return s.db }

// Write runs fn in one write transaction that also increments the global
// revision, so every node learns that something changed. The increment comes
// first: its row lock serialises all revision-bumping writers (on PostgreSQL
// too), so checks that fn makes before writing cannot race with another
// writer. If fn fails nothing is written, the revision included, and fn's
// error is returned unchanged.
//
// When ctx carries a claimed audit.Change whose record is not yet written,
// the record is appended in the same transaction, after fn: the change and
// its audit record commit together or not at all.
func (s *Store) Write(ctx context.Context, fn func(Querier) error) error {
	change := audit.ChangeFrom(ctx)
	err := s.db.Write(ctx, func(q Querier) error {
		if err := bumpRevision(ctx, q); err != nil {
			return err
		}
		if err := fn(q); err != nil {
			return err
		}
		if rec, ok := change.Pending(); ok {
			if err := appendAudit(ctx, q, []audit.Record{rec}); err != nil {
				return fmt.Errorf("append the audit record of the change: %w", err)
			}
		}
		return nil
	})
	if err == nil {
		change.Committed()
	}
	return err
}

// Read runs fn in one consistent read-only transaction.
func (s *Store) Read(ctx context.Context, fn func(Querier) error) error {
	return s.db.Read(ctx, fn)
}

// bumpRevision increments the global revision inside the caller's write
// transaction.
func bumpRevision(ctx context.Context, q Querier) error {
	n, err := q.Exec(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1`)
	if err != nil {
		return fmt.Errorf("increment store revision: %w", err)
	}
	if n != 1 {
		return errors.New("increment store revision: the revision row is missing; the schema was not migrated")
	}
	return nil
}

// Revision returns the current global revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	rows, err := s.db.Query(ctx, `SELECT value FROM revision WHERE id = 1`)
	if err != nil {
		return 0, fmt.Errorf("read store revision: %w", err)
	}
	var rev int64
	found, err := ScanOne(rows, &rev)
	if err != nil {
		return 0, fmt.Errorf("read store revision: %w", err)
	}
	if !found {
		return 0, errors.New("read store revision: the revision row is missing; the schema was not migrated")
	}
	return rev, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// ScanOne scans the first row of rows into dest, closes rows, and reports
// whether there was a row.
func ScanOne(rows Rows, dest ...any) (bool, error) {
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, rows.Close()
}

// QueryOne runs query and scans its first row into dest, reporting whether
// there was a row.
func QueryOne(ctx context.Context, q Querier, query string, args []any, dest ...any) (bool, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	return ScanOne(rows, dest...)
}

// Exists reports whether query returns at least one row.
func Exists(ctx context.Context, q Querier, query string, args ...any) (bool, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := rows.Next()
	if err := rows.Err(); err != nil {
		return false, err
	}
	return found, rows.Close()
}

// Time is how every time is written: UTC, truncated to microseconds (the
// precision both backends keep), so what is read back equals what was
// written on either backend.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Bytes returns b, or an empty non-nil slice for nil: values read from the
// store never hold nil slices, and NOT NULL columns never receive NULL.
func Bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
