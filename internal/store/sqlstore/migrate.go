package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Component names with migrations registered by the store itself. "core"
// holds the global revision and the leases; "directory" holds tenants,
// applications, grants and signing keys.
const (
	ComponentCore      = "core"
	ComponentDirectory = "directory"
)

// componentOrder lists components whose migrations run before all others, in
// this order; the rest follow sorted by name. Later components may therefore
// reference the tables of earlier ones.
var componentOrder = []string{ComponentCore, ComponentDirectory}

// Migrations holds, per component, the ordered schema steps of one backend.
// Step i (counting from 1) is version i of the component; a step is applied
// once, in one transaction together with all other pending steps, and
// recorded in schema_migrations as (component, version). Steps are only ever
// appended: never edit or reorder a step that has shipped.
//
// Each backend package keeps one package-level Migrations, and each component
// registers its steps from an init function in its own file, so a new
// component needs no change to existing files:
//
//	// internal/store/sqlite/vault.go
//	func init() {
//		migrations.Register("vault",
//			`CREATE TABLE vault_secrets (...)`, // version 1
//			`CREATE INDEX ...`,                 // version 2
//		)
//	}
type Migrations struct {
	mu    sync.Mutex
	steps map[string][]string
}

// Register sets the ordered steps of component. It panics if the component
// is registered twice or has no steps: both are programming errors found at
// start-up, like registering a database/sql driver twice.
func (m *Migrations) Register(component string, steps ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if component == "" || len(steps) == 0 {
		panic("sqlstore: Migrations.Register needs a component name and at least one step")
	}
	if m.steps == nil {
		m.steps = make(map[string][]string)
	}
	if _, dup := m.steps[component]; dup {
		panic("sqlstore: migrations for component " + component + " registered twice")
	}
	m.steps[component] = append([]string(nil), steps...)
}

// Components returns the registered components in the order they are applied.
func (m *Migrations) Components() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out, rest []string
	seen := make(map[string]bool)
	for _, c := range componentOrder {
		if _, ok := m.steps[c]; ok {
			out = append(out, c)
			seen[c] = true
		}
	}
	for c := range m.steps {
		if !seen[c] {
			rest = append(rest, c)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// Steps returns a copy of the ordered steps of component (nil when none
// are registered): what a test needs to build a database at an earlier
// version and check that the later steps migrate it.
func (m *Migrations) Steps(component string) []string {
	return append([]string(nil), m.stepsOf(component)...)
}

func (m *Migrations) stepsOf(component string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.steps[component]
}

// MigrateOptions says how a backend prepares a migration transaction.
type MigrateOptions struct {
	// Lock statements run first in the transaction, to keep nodes starting
	// at the same time from migrating concurrently (PostgreSQL: an advisory
	// transaction lock; SQLite needs none because its write transactions
	// lock the database).
	Lock []string
	// CreateTable creates schema_migrations (component, version, applied_at)
	// if it does not exist.
	CreateTable string
	// Now is the time recorded as applied_at.
	Now time.Time
}

// Migrate applies every pending step of every registered component in one
// write transaction. It refuses to run against a database whose schema is
// newer than this binary knows, rather than misread it.
func Migrate(ctx context.Context, db DB, m *Migrations, opts MigrateOptions) error {
	return db.Write(ctx, func(q Querier) error {
		for _, stmt := range opts.Lock {
			if _, err := q.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		if _, err := q.Exec(ctx, opts.CreateTable); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		rows, err := q.Query(ctx, `SELECT component, MAX(version) FROM schema_migrations GROUP BY component`)
		if err != nil {
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		current := make(map[string]int64)
		for rows.Next() {
			var c string
			var v int64
			if err := rows.Scan(&c, &v); err != nil {
				rows.Close()
				return fmt.Errorf("migrate: read schema_migrations: %w", err)
			}
			current[c] = v
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		rows.Close()
		for _, c := range m.Components() {
			steps := m.stepsOf(c)
			have := current[c]
			if have > int64(len(steps)) {
				return fmt.Errorf("migrate: the database schema of component %q is at version %d but this binary knows only %d versions; run a newer portcullis against this database", c, have, len(steps))
			}
			for i := have; i < int64(len(steps)); i++ {
				if _, err := q.Exec(ctx, steps[i]); err != nil {
					return fmt.Errorf("migrate: component %q version %d: %w", c, i+1, err)
				}
				if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`, c, i+1, Time(opts.Now)); err != nil {
					return fmt.Errorf("migrate: record component %q version %d: %w", c, i+1, err)
				}
			}
		}
		return nil
	})
}
