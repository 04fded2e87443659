// Package store is what the persistence of Portcullis shares: the sentinel
// errors every store returns, and the documentation of the one store style
// that every domain follows. The two backends live below it: store/sqlite,
// the embedded default, and store/postgres for clusters, both thin adapters
// over store/sqlstore, where the SQL lives once.
//
// # One store style
//
// A domain defines the storage it needs where it is consumed, as a small
// interface in its own package, in its own types:
//
//   - directory.Store (tenants, applications, credentials, grants; with
//     UpdateDirectory, which runs the directory service's rules and writes
//     in one transaction),
//   - sts.KeyStore (the token service's signing keys and rotation lease),
//   - vault.Store (vaults, objects, versions, RBAC, audit).
//
// The backends implement every such interface; package store defines no
// domain type and imports no domain. Routes and connectors follow the same
// pattern: define gateway.Store (or connector.Store) in the consuming
// package, implement it in sqlstore with a migration component of its own
// (sqlstore.Migrations), and add its conformance suite to storetest.Run.
//
// Shared by all: the global revision (every write increments it; each node
// rebuilds its snapshots when it moves, woken on PostgreSQL by a
// notification the increment sends on commit, and polling it as a safety
// net), the directory change
// log (each directory write records which objects it changed, at its
// revision, so that a node reads only those: sqlstore.ChangesSince; a
// domain whose snapshot must follow its rows records its changes the same
// way), leases (one node of a
// cluster runs a periodic job), versioned migrations per component, and the
// sentinels below. ErrNotFound, ErrConflict and ErrUnavailable live here and only here:
// domains return and test these values, never aliases of them.
//
// # Rules that span rows
//
// A rule that involves several rows (the last administrator of a tenant, a
// role in use by a grant) is checked and acted on inside one write
// transaction. Every write transaction begins by incrementing the revision
// row; that row lock serialises all writers, on PostgreSQL across nodes too
// (SQLite's BEGIN IMMEDIATE serialises them per database file), so what the
// check read cannot change before the transaction commits. No rule relies
// on a process-local mutex: a cluster has many processes.
//
// # Tests
//
// storetest.Run(t, open) is the one conformance entry point per backend,
// composing the per-domain suites; sqlite/sqlitetest and postgres/pgtest
// open isolated stores for the tests of any package. No test helper lives
// in a production package, so the binary does not link package testing.
package store

import "errors"

// ErrNotFound is returned when the named object does not exist.
// Implementations wrap it with a message naming the object.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would violate uniqueness (a duplicate
// tenant name, identifier URI, display name or grant) or exclusivity.
// Implementations wrap it with a message naming the conflicting value.
var ErrConflict = errors.New("conflict")

// ErrUnavailable is returned when the database cannot be reached (refused
// or broken connections, connect timeouts, a server shutting down): the
// request was not served and can be retried once the database is back.
// Callers answer it with 503 and Retry-After, never 500, and serve what
// they can from memory (see docs/operations.md, "Failure modes").
// Implementations wrap it together with the driver's error.
var ErrUnavailable = errors.New("database unavailable")
