package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portcullis/portcullis/internal/store/sqlstore"
)

// PoolOf exposes a Store's pool to the tests in package postgres_test.
func PoolOf(s *Store) *pgxpool.Pool { return s.pool }

// Rebind exposes rebind to the tests in package postgres_test.
var Rebind = rebind

// OpenAt opens a Store whose schema stops at version of component, as a
// binary of that version left it (the other components are up to date).
func OpenAt(ctx context.Context, url, component string, version int) (*Store, error) {
	var m sqlstore.Migrations
	for _, c := range migrations.Components() {
		steps := migrations.Steps(c)
		if c == component {
			steps = steps[:version]
		}
		m.Register(c, steps...)
	}
	return open(ctx, url, &m)
}
