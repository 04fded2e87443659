// Package sqlite is the embedded, single-node Store: one SQLite database file
// (pure Go, modernc.org/sqlite) created with mode 0600.
//
// The database runs in WAL mode with synchronous=FULL: every acknowledged
// write survives a SIGKILL of the process and also a power loss or kernel
// crash (NORMAL would already survive SIGKILL but may lose the last commits
// on power loss; writes here are rare admin operations, so the extra fsync
// per commit costs nothing noticeable). Foreign keys are on and busy_timeout
// is 5 s.
//
// Writes go through a pool of exactly one connection whose transactions begin
// IMMEDIATE, so read-modify-write transactions take the write lock up front
// instead of failing on lock upgrade; reads go through a separate pool of
// read-only connections and, thanks to WAL, never wait for the writer.
//
// Schema migrations are versioned per component and applied at Open inside
// one write transaction, recorded in schema_migrations (component, version).
// A component adds its own ordered steps from an init function in its own
// file of this package, without touching existing files:
//
//	// vault.go
//	func init() {
//		migrations.Register("vault",
//			`CREATE TABLE vault_secrets (
//				name TEXT NOT NULL PRIMARY KEY,
//				value BLOB NOT NULL
//			)`, // version 1; append new versions, never edit shipped ones
//		)
//	}
//
// Components "core" (revision, leases) and "directory" run first, the others
// in name order. The queries themselves live in package sqlstore, shared
// with the PostgreSQL backend; times are passed and scanned as time.Time and
// stored here as integer microseconds since the Unix epoch.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
)

// migrations holds this backend's schema steps per component; see the
// package documentation.
var migrations sqlstore.Migrations

// Store is the SQLite implementation of directory.Store, sts.KeyStore and vault.Store.
type Store struct {
	contract // the contract's methods, promoted from core

	core *sqlstore.Store
	db   *db
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

const busyTimeout = "5000" // milliseconds

// Open opens (creating it with mode 0600 if needed) the SQLite database at
// path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, &migrations)
}

// open is Open with the schema steps m (tests give the steps of an
// earlier version).
func open(ctx context.Context, path string, m *sqlstore.Migrations) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: the database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	// Create the file ourselves so that it, and the -wal and -shm files
	// SQLite derives from its mode, are readable by the owner only.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open database file: %w", err)
	}
	f.Close()

	common := []string{
		"_pragma=busy_timeout(" + busyTimeout + ")",
		"_pragma=foreign_keys(1)",
		// A page cache of 32 MiB per connection (the default is 2 MiB):
		// with tens of thousands of applications the indexes a write and
		// a delta read walk stay in memory instead of being read again
		// from the file on every transaction.
		"_pragma=cache_size(-32768)",
	}
	writer, err := sql.Open("sqlite", dsn(abs, append(common,
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_txlock=immediate",
	)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	d := &db{w: writer}
	if err := sqlstore.Migrate(ctx, d, m, sqlstore.MigrateOptions{
		CreateTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	component TEXT NOT NULL,
	version INTEGER NOT NULL,
	applied_at INTEGER NOT NULL,
	PRIMARY KEY (component, version)
)`,
		Now: time.Now(),
	}); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}

	reader, err := sql.Open("sqlite", dsn(abs, append(common, "_pragma=query_only(1)")))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	d.r = reader
	if err := reader.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	core := sqlstore.New(d)
	return &Store{contract: core, core: core, db: d}, nil
}

// dsn builds a SQLite URI filename; ?, # and % in the path are escaped so
// they are not taken for URI syntax.
func dsn(path string, params []string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	if !strings.HasPrefix(esc, "/") {
		esc = "/" + esc // a Windows drive path: file:/C:/...
	}
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// db adapts the two database/sql pools to sqlstore.DB.
type db struct {
	w *sql.DB // one connection, BEGIN IMMEDIATE
	r *sql.DB // read-only connections
}

func (d *db) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write transaction: %w", err)
	}
	if err := fn(querier{tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (d *db) Read(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback()
	if err := fn(querier{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

func (d *db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.r.QueryContext(ctx, query, convertArgs(args)...)
	if err != nil {
		return nil, err
	}
	return &rowsAdapter{rows}, nil
}

func (d *db) Constraint(err error) sqlstore.ConstraintKind {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.NoConstraint
	}
	switch se.Code() {
	case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
		return sqlstore.UniqueViolation
	case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.NoConstraint
}

func (d *db) ForUpdate() string { return "" } // the write transaction holds the database's write lock

func (d *db) Ping(ctx context.Context) error {
	var one int64
	if err := d.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

func (d *db) Close() error {
	var errs []error
	if d.r != nil {
		errs = append(errs, d.r.Close())
	}
	errs = append(errs, d.w.Close())
	return errors.Join(errs...)
}

type querier struct{ tx *sql.Tx }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.tx.ExecContext(ctx, query, convertArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.tx.QueryContext(ctx, query, convertArgs(args)...)
	if err != nil {
		return nil, err
	}
	return &rowsAdapter{rows}, nil
}

// convertArgs stores times as integer microseconds since the Unix epoch,
// which sort and compare correctly and keep the precision both backends
// share.
func convertArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = v.UnixMicro()
		case time.Duration:
			out[i] = int64(v)
		default:
			out[i] = a
		}
	}
	return out
}

type rowsAdapter struct{ rows *sql.Rows }

func (r *rowsAdapter) Next() bool   { return r.rows.Next() }
func (r *rowsAdapter) Err() error   { return r.rows.Err() }
func (r *rowsAdapter) Close() error { return r.rows.Close() }

func (r *rowsAdapter) Scan(dest ...any) error {
	type fix struct {
		t *time.Time
		v *int64
	}
	var fixes []fix
	d := make([]any, len(dest))
	for i, x := range dest {
		if t, ok := x.(*time.Time); ok {
			v := new(int64)
			fixes = append(fixes, fix{t, v})
			d[i] = v
			continue
		}
		d[i] = x
	}
	if err := r.rows.Scan(d...); err != nil {
		return err
	}
	for _, f := range fixes {
		*f.t = time.UnixMicro(*f.v).UTC()
	}
	return nil
}
