// Package postgres is the clustered Store: any number of Portcullis nodes
// share one PostgreSQL database (github.com/jackc/pgx/v5, pgxpool).
//
// Write transactions run at READ COMMITTED and begin by incrementing the
// single global revision row; that row lock serialises all revision-bumping
// writers across nodes, so the uniqueness and existence checks a write makes
// cannot race with another writer, and UpdateApplication additionally locks
// the application row (SELECT … FOR UPDATE) before its read-modify-write.
// Unique indexes (on lower-cased key columns for tenant names, identifier
// URIs and display names) back every rule. Reads that span several
// statements, and Load, run in one REPEATABLE READ read-only transaction.
// TryLease is a single INSERT … ON CONFLICT DO UPDATE … WHERE expired OR
// same holder RETURNING statement.
//
// Open honours every runtime parameter in the URL, search_path included
// (postgres://…/db?search_path=portcullis puts the tables in schema
// portcullis, which must exist).
//
// Schema migrations are versioned per component and applied at Open in one
// transaction that first takes a transaction-scoped advisory lock (keyed by
// the current schema), so nodes starting together do not race; they are
// recorded in schema_migrations (component, version). A component adds its
// own ordered steps from an init function in its own file of this package,
// without touching existing files:
//
//	// vault.go
//	func init() {
//		migrations.Register("vault",
//			`CREATE TABLE vault_secrets (
//				name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
//				value BYTEA NOT NULL
//			)`, // version 1; append new versions, never edit shipped ones
//		)
//	}
//
// Component "cluster" (cluster.go) holds what nodes share beyond the
// configuration: the trigger that NOTIFYs RevisionChannel on every commit
// that moves the revision (ListenRevision), the used client-assertion ids
// (RecordAssertionID) and the failed-authentication counts
// (AppendFailures, FailuresAfter).
//
// Components "core" (revision, leases) and "directory" run first, the others
// in name order. The queries themselves live in package sqlstore, shared
// with the SQLite backend, and use ? placeholders (rewritten to $n here).
//
// Package pgtest gives tests of any package an isolated schema in the
// database named by PORTCULLIS_TEST_POSTGRES.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
)

// migrations holds this backend's schema steps per component; see the
// package documentation.
var migrations sqlstore.Migrations

// Store is the PostgreSQL implementation of directory.Store, sts.KeyStore and vault.Store.
type Store struct {
	contract // the contract's methods, promoted from a sqlstore.Store

	pool *pgxpool.Pool
}

// contract is the methods of every consumer's seam, implemented once by
// sqlstore.Store (their documentation is on those interfaces). Embedding it
// promotes exactly these methods, not the helpers sqlstore.Store offers
// backends (DB, Read, Write).
type contract interface {
	sqlstore.Contract
}

var (
	_ directory.Store = (*Store)(nil)
	_ sts.KeyStore    = (*Store)(nil)
	_ vault.Store     = (*Store)(nil)
)

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// keyword/value connection string) and brings its schema up to date.
func Open(ctx context.Context, url string) (*Store, error) {
	return open(ctx, url, &migrations)
}

// open is Open with the schema steps m (tests give the steps of an
// earlier version).
func open(ctx context.Context, url string, m *sqlstore.Migrations) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	applyPoolDefaults(cfg, url)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", describe(cfg), err)
	}
	d := &db{pool: pool}
	if err := sqlstore.Migrate(ctx, d, m, sqlstore.MigrateOptions{
		Lock: []string{`SELECT pg_advisory_xact_lock(hashtext('portcullis.schema_migrations.' || coalesce(current_schema(), '')))`},
		CreateTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	component TEXT COLLATE "C" NOT NULL,
	version BIGINT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (component, version)
)`,
		Now: time.Now(),
	}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", describe(cfg), err)
	}
	return &Store{contract: sqlstore.New(d), pool: pool}, nil
}

// describe names the database without credentials.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	s := fmt.Sprintf("database %q on %s:%d", c.Database, c.Host, c.Port)
	if sp := c.RuntimeParams["search_path"]; sp != "" {
		s += fmt.Sprintf(" (search_path %q)", sp)
	}
	return s
}

// db adapts a pgx pool to sqlstore.DB.
type db struct{ pool *pgxpool.Pool }

func (d *db) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return d.tx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

func (d *db) Read(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return d.tx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (d *db) tx(ctx context.Context, opts pgx.TxOptions, fn func(sqlstore.Querier) error) error {
	tx, err := d.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", unavailable(err))
	}
	if err := fn(querier{tx}); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", unavailable(err))
	}
	return nil
}

func (d *db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.pool.Query(ctx, rebind(query), convertArgs(args)...)
	if err != nil {
		return nil, unavailable(err)
	}
	return &rowsAdapter{rows}, nil
}

func (d *db) Constraint(err error) sqlstore.ConstraintKind {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqlstore.NoConstraint
	}
	switch pe.Code {
	case "23505": // unique_violation
		return sqlstore.UniqueViolation
	case "23503": // foreign_key_violation
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.NoConstraint
}

func (d *db) ForUpdate() string { return " FOR UPDATE" }

func (d *db) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", unavailable(err))
	}
	return nil
}

func (d *db) Close() error {
	d.pool.Close()
	return nil
}

type querier struct{ tx pgx.Tx }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.tx.Exec(ctx, rebind(query), convertArgs(args)...)
	if err != nil {
		return 0, unavailable(err)
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.tx.Query(ctx, rebind(query), convertArgs(args)...)
	if err != nil {
		return nil, unavailable(err)
	}
	return &rowsAdapter{rows}, nil
}

// convertArgs passes durations as integer nanoseconds (pgx would send an
// interval), as the SQLite backend does.
func convertArgs(args []any) []any {
	for i, a := range args {
		if d, ok := a.(time.Duration); ok {
			out := append([]any(nil), args...)
			out[i] = int64(d)
			for j := i + 1; j < len(out); j++ {
				if d, ok := out[j].(time.Duration); ok {
					out[j] = int64(d)
				}
			}
			return out
		}
	}
	return args
}

// rebind rewrites the ? placeholders of package sqlstore to $1, $2, ….
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

type rowsAdapter struct{ rows pgx.Rows }

func (r *rowsAdapter) Next() bool { return r.rows.Next() }
func (r *rowsAdapter) Err() error { return unavailable(r.rows.Err()) }

func (r *rowsAdapter) Close() error {
	r.rows.Close()
	return unavailable(r.rows.Err())
}

func (r *rowsAdapter) Scan(dest ...any) error {
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	for _, x := range dest {
		if t, ok := x.(*time.Time); ok {
			*t = t.UTC()
		}
	}
	return nil
}
