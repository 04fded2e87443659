package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/portcullis/portcullis/internal/store/sqlstore"
)

// SQLite parses every statement it is given, and parsing costs more than
// running the vault's hot reads (a secret's newest version is one indexed
// lookup). QueryPrepared, the sqlstore.PreparedQuerier capability, runs
// such reads through statements prepared once per reader pool; database/sql
// prepares a statement on each connection it runs on and keeps it there.

// maxPreparedPools bounds the registry: a server opens one Store; tests
// open many. When it is full, pools that have been closed leave it; if
// none has, a new pool runs its statements unprepared.
const maxPreparedPools = 8

// preparedPools is the registry of prepared statements per reader pool. It
// lives here rather than in the db type because it serves only the vault's
// reads.
var preparedPools struct {
	mu    sync.Mutex
	pools []*pooledStatements
}

type pooledStatements struct {
	pool  *sql.DB
	stmts map[string]*sql.Stmt
}

var _ sqlstore.PreparedQuerier = (*db)(nil)

// QueryPrepared runs one read-only statement outside a transaction through a
// prepared statement kept for the reader pool.
func (d *db) QueryPrepared(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	stmt, err := preparedStatement(ctx, d.r, query)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if stmt != nil {
		rows, err = stmt.QueryContext(ctx, convertArgs(args)...)
	} else {
		rows, err = d.r.QueryContext(ctx, query, convertArgs(args)...)
	}
	if err != nil {
		return nil, err
	}
	return &rowsAdapter{rows}, nil
}

// preparedStatement returns the statement prepared for query on pool, or
// nil when the registry has no room for the pool.
func preparedStatement(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	preparedPools.mu.Lock()
	defer preparedPools.mu.Unlock()
	var ps *pooledStatements
	for _, p := range preparedPools.pools {
		if p.pool == pool {
			ps = p
			break
		}
	}
	if ps == nil {
		if len(preparedPools.pools) == maxPreparedPools {
			// Ping answers at once, without I/O, on a closed pool.
			kept := preparedPools.pools[:0]
			for _, p := range preparedPools.pools {
				if p.pool.PingContext(ctx) == nil {
					kept = append(kept, p)
				}
			}
			clear(preparedPools.pools[len(kept):])
			preparedPools.pools = kept
			if len(kept) == maxPreparedPools {
				return nil, nil
			}
		}
		ps = &pooledStatements{pool: pool, stmts: map[string]*sql.Stmt{}}
		preparedPools.pools = append(preparedPools.pools, ps)
	}
	if s, ok := ps.stmts[query]; ok {
		return s, nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ps.stmts[query] = s
	return s, nil
}
