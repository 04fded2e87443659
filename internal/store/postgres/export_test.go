package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// PoolOf exposes a Store's pool to the tests in package postgres_test.
func PoolOf(s *Store) *pgxpool.Pool { return s.pool }

// Rebind exposes rebind to the tests in package postgres_test.
var Rebind = rebind
