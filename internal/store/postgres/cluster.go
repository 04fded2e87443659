package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portcullis/portcullis/internal/failureshare"
)

// The cluster component holds what the nodes of a cluster share beyond the
// stored configuration: the revision notification, the client-assertion
// jti values already used, and the failed-authentication counts. None of
// its writes moves the global revision.
func init() {
	migrations.Register("cluster",
		// version 1: a NOTIFY on channel RevisionChannel in every
		// transaction that increments the revision (it fires on commit, and
		// not at all on rollback); the payload is the schema, a space and
		// the new revision, so that nodes of other schemas in the same
		// database ignore it.
		`CREATE FUNCTION portcullis_revision_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('`+RevisionChannel+`', TG_TABLE_SCHEMA || ' ' || NEW.value);
	RETURN NULL;
END
$$;
CREATE TRIGGER revision_notify AFTER UPDATE ON revision FOR EACH ROW EXECUTE FUNCTION portcullis_revision_notify();
CREATE TABLE sts_assertion_ids (
	id BYTEA NOT NULL PRIMARY KEY,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sts_assertion_ids_expires ON sts_assertion_ids (expires_at);
CREATE TABLE auth_failures (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	node TEXT COLLATE "C" NOT NULL,
	recorded_at TIMESTAMPTZ NOT NULL,
	counts BYTEA NOT NULL
);
CREATE INDEX auth_failures_recorded ON auth_failures (recorded_at);`,
	)
}

// RevisionChannel is the PostgreSQL notification channel on which every
// commit that moves the revision is announced.
const RevisionChannel = "portcullis_revision"

// listenRetry is the pause between two attempts to (re)connect the
// revision listener.
const listenRetry = time.Second

// ListenRevision holds one connection that LISTENs on RevisionChannel and
// calls changed for every commit that moved the revision of this store's
// schema, and once each time the listener (re)connects, since notifications
// sent while it was not connected are lost. It returns when ctx ends. A
// notification is only a wake-up: the caller reads the revision itself, so
// a lost or late notification delays a change at most until the caller's
// next poll. Errors (database unreachable) are reported to failed, at most
// one per attempt, and retried every second.
func (s *Store) ListenRevision(ctx context.Context, changed func(), failed func(error)) {
	cfg := s.pool.Config().ConnConfig.Copy()
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg, changed)
		if ctx.Err() != nil {
			return
		}
		if failed != nil && err != nil {
			failed(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, changed func()) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("revision listener: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return fmt.Errorf("revision listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+RevisionChannel); err != nil {
		return fmt.Errorf("revision listener: LISTEN: %w", err)
	}
	changed() // whatever was announced while not listening
	prefix := schema + " "
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("revision listener: %w", err)
		}
		if strings.HasPrefix(n.Payload, prefix) {
			changed()
		}
	}
}

// asyncCommit starts a statement whose transaction commits without waiting
// for its WAL to reach disk (synchronous_commit off for that transaction
// only; the statement selects FROM async). The rows it writes are
// short-lived cluster state, not configuration: a database crash loses at
// most the last few hundred milliseconds of them (PostgreSQL flushes the
// WAL at least every 3 × wal_writer_delay), which is a replay window or a
// few uncounted failures, while every token obtained with an assertion
// saves a disk flush (about 3 ms on a loaded test machine, more on
// network storage).
const asyncCommit = `WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) `

// RecordAssertionID records the hash of a client assertion's (client id,
// jti) until expires and reports true, or reports false when another node
// (or this one) recorded it before and it has not expired at now. One
// INSERT … ON CONFLICT statement, outside the revision.
func (s *Store) RecordAssertionID(ctx context.Context, id []byte, expires, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, asyncCommit+`INSERT INTO sts_assertion_ids (id, expires_at) SELECT $1, $2 FROM async
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE sts_assertion_ids.expires_at <= $3`,
		id, expires.UTC(), now.UTC())
	if err != nil {
		return false, fmt.Errorf("record client assertion id: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneAssertionIDs deletes the assertion ids expired before now.
func (s *Store) PruneAssertionIDs(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sts_assertion_ids WHERE expires_at < $1`, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune client assertion ids: %w", err)
	}
	return tag.RowsAffected(), nil
}

// AppendFailures stores one batch of this node's failure counts.
func (s *Store) AppendFailures(ctx context.Context, node string, at time.Time, counts []byte) error {
	if _, err := s.pool.Exec(ctx, asyncCommit+`INSERT INTO auth_failures (node, recorded_at, counts) SELECT $1, $2, $3 FROM async`, node, at.UTC(), counts); err != nil {
		return fmt.Errorf("share failed-authentication counts: %w", err)
	}
	return nil
}

// FailuresAfter returns the batches of other nodes than node whose id is
// greater than after and not in skip, in id order, at most limit.
func (s *Store) FailuresAfter(ctx context.Context, node string, after int64, skip []int64, limit int) ([]failureshare.Batch, error) {
	if skip == nil {
		skip = []int64{}
	}
	rows, err := s.pool.Query(ctx, `SELECT id, counts FROM auth_failures WHERE id > $1 AND node <> $2 AND id <> ALL($3) ORDER BY id LIMIT `+strconv.Itoa(limit),
		after, node, skip)
	if err != nil {
		return nil, fmt.Errorf("read failed-authentication counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (failureshare.Batch, error) {
		var b failureshare.Batch
		err := r.Scan(&b.ID, &b.Counts)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("read failed-authentication counts: %w", err)
	}
	return out, nil
}

// LastFailureID returns the greatest batch id stored (0 when none): where a
// node that starts begins reading.
func (s *Store) LastFailureID(ctx context.Context) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM auth_failures`).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read failed-authentication counts: %w", err)
	}
	return id, nil
}

// PruneFailures deletes batches recorded before before.
func (s *Store) PruneFailures(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_failures WHERE recorded_at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune failed-authentication counts: %w", err)
	}
	return tag.RowsAffected(), nil
}
