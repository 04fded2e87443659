package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// The one audit log (package audit) lives in the table vault_audit, which
// the vault created first and which every component now shares: vault
// operations, directory changes through the admin API, refused requests.
// Keeping one table keeps one order (seq), one retention and one shipping
// cursor; the table keeps its name so that no migration has to copy a log
// of millions of rows. Component ComponentAudit adds audit_cursors, the
// shipped-up-to cursor.

// ComponentAudit names the audit log's own migrations (its cursors).
const ComponentAudit = "audit"

const auditColumns = `at, request_id, tenant_id, app_id, object_id, vault, type, name, version, operation, outcome, code, reason`

// auditRowsPerStatement caps the rows of one INSERT (15 parameters each,
// well under both backends' parameter limits) and the ids of one lookup.
const auditRowsPerStatement = 64

const insertAudit = `INSERT INTO vault_audit (vault_key, record_id, ` + auditColumns + `) VALUES `
const auditRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// auditOnConflict makes an insert of a record already stored (same
// record_id) a no-op; the predicate names the partial unique index
// vault_audit_record_id (rows written before record_id existed have none).
const auditOnConflict = ` ON CONFLICT (record_id) WHERE record_id IS NOT NULL DO NOTHING`

func auditArgs(a audit.Record) []any {
	id := a.ID
	if id == "" { // a caller that did not fix one: no retry can be recognised
		id = audit.NewRecordID()
	}
	return []any{key(a.Vault), id, Time(a.Time), a.RequestID, a.TenantID, a.AppID, a.ObjectID, a.Vault, a.Type, a.Name, a.Version, a.Operation, a.Outcome, a.Code, a.Reason}
}

// appendAudit inserts records, in order, inside the caller's transaction,
// with one multi-row INSERT per auditRowsPerStatement records (measured on
// SQLite: as fast per record as one prepared INSERT run per record). A
// record whose ID is stored already is skipped by the unique index; see
// unstoredAudit for why callers that may retry look first.
func appendAudit(ctx context.Context, q Querier, records []audit.Record) error {
	for rest := records; len(rest) > 0; {
		n := min(len(rest), auditRowsPerStatement)
		var sb strings.Builder
		sb.Grow(len(insertAudit) + n*(len(auditRow)+2) + len(auditOnConflict))
		sb.WriteString(insertAudit)
		args := make([]any, 0, n*15)
		for i, a := range rest[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(auditRow)
			args = append(args, auditArgs(a)...)
		}
		sb.WriteString(auditOnConflict)
		if _, err := q.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// unstoredAudit returns records without those whose ID the log holds
// already or that repeat the ID of an earlier one: the records of a batch
// written again because its commit may have happened (the connection was
// cut during COMMIT), or replayed from the spool. Leaving them out of the
// INSERT, rather than letting ON CONFLICT drop them, keeps them from
// taking a seq: both backends draw a row's seq before they find the
// conflict, so a dropped duplicate would leave a gap in seq.
func unstoredAudit(ctx context.Context, q Querier, records []audit.Record) ([]audit.Record, error) {
	seen := make(map[string]bool, len(records))
	var ids []string
	for _, a := range records {
		if a.ID != "" && !seen[a.ID] {
			seen[a.ID] = true
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return records, nil
	}
	stored := make(map[string]bool)
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), auditRowsPerStatement)
		args := make([]any, n)
		for i, id := range rest[:n] {
			args[i] = id
		}
		query := `SELECT record_id FROM vault_audit WHERE record_id IS NOT NULL AND record_id IN (?` + strings.Repeat(`, ?`, n-1) + `)`
		found, err := scanAll(ctx, q, query, args, func(r Rows) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			stored[id] = true
		}
		rest = rest[n:]
	}
	if len(stored) == 0 && len(ids) == len(records) {
		return records, nil // the common case: nothing stored, no repeats, every record has an ID
	}
	out := make([]audit.Record, 0, len(records))
	clear(seen)
	for _, a := range records {
		if a.ID != "" {
			if stored[a.ID] || seen[a.ID] {
				continue
			}
			seen[a.ID] = true
		}
		out = append(out, a)
	}
	return out, nil
}

// AppendAuditLog appends records, in order, in one transaction of their
// own: all of them or none. It does not change the global revision. A
// change's record is not appended here but in the change's transaction
// (see Write); this is for reads and for attempts that changed nothing.
// A record whose ID is in the log already is left out (it was written by
// an earlier attempt whose commit reported an error but happened), so a
// caller may retry a batch it is not sure about: each record is stored
// once, with one seq.
func (s *Store) AppendAuditLog(ctx context.Context, records ...audit.Record) error {
	if len(records) == 0 {
		return nil
	}
	err := s.db.Write(ctx, func(q Querier) error {
		recs, err := unstoredAudit(ctx, q, records)
		if err != nil {
			return fmt.Errorf("look up audit records already stored: %w", err)
		}
		return appendAudit(ctx, q, recs)
	})
	if err != nil {
		if len(records) == 1 {
			return fmt.Errorf("append audit record of operation %q: %w", records[0].Operation, err)
		}
		return fmt.Errorf("append %d audit records: %w", len(records), err)
	}
	return nil
}

// ListAuditLog returns the records q selects: newest first, or oldest
// first when q.AfterSeq is set.
func (s *Store) ListAuditLog(ctx context.Context, aq audit.Query) ([]audit.Record, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !aq.From.IsZero() {
		add(`at >= ?`, Time(aq.From))
	}
	if !aq.To.IsZero() {
		add(`at < ?`, Time(aq.To))
	}
	if aq.TenantID != "" {
		add(`lower(tenant_id) = ?`, key(aq.TenantID))
	}
	if aq.Vault != "" {
		add(`vault_key = ?`, key(aq.Vault))
	}
	if aq.AppID != "" {
		add(`lower(app_id) = ?`, key(aq.AppID))
	}
	if op, prefix := strings.CutSuffix(aq.Operation, "*"); prefix {
		if op != "" {
			esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(op)
			add(`operation LIKE ? ESCAPE '\'`, esc+"%")
		}
	} else if op != "" {
		add(`operation = ?`, op)
	}
	if aq.Outcome != "" {
		add(`outcome = ?`, aq.Outcome)
	}
	if aq.Name != "" {
		add(`lower(name) = ?`, key(aq.Name))
	}
	if aq.BeforeSeq > 0 {
		add(`seq < ?`, aq.BeforeSeq)
	}
	order := ` ORDER BY seq DESC`
	if aq.AfterSeq > 0 {
		add(`seq > ?`, aq.AfterSeq)
		order = ` ORDER BY seq`
	}
	query := `SELECT seq, ` + auditColumns + ` FROM vault_audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query, args = withLimit(query+order, args, aq.Limit)
	out, err := readValue(ctx, s, func(q Querier) ([]audit.Record, error) {
		return scanAll(ctx, q, query, args, scanAuditRecord)
	})
	if err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	return out, nil
}

func scanAuditRecord(rows Rows) (audit.Record, error) {
	var a audit.Record
	err := rows.Scan(&a.Seq, &a.Time, &a.RequestID, &a.TenantID, &a.AppID, &a.ObjectID, &a.Vault, &a.Type, &a.Name, &a.Version, &a.Operation, &a.Outcome, &a.Code, &a.Reason)
	return a, err
}

// AuditToShip returns up to limit records with afterSeq < Seq <=
// throughSeq, oldest first.
func (s *Store) AuditToShip(ctx context.Context, afterSeq, throughSeq int64, limit int) ([]audit.Record, error) {
	query, args := withLimit(`SELECT seq, `+auditColumns+` FROM vault_audit WHERE seq > ? AND seq <= ? ORDER BY seq`, []any{afterSeq, throughSeq}, limit)
	recs, err := readValue(ctx, s, func(q Querier) ([]audit.Record, error) {
		return scanAll(ctx, q, query, args, scanAuditRecord)
	})
	if err != nil {
		return nil, fmt.Errorf("read audit records to ship: %w", err)
	}
	return recs, nil
}

// AuditNewestSeq returns the highest seq of a committed record, 0 when the
// log is empty.
func (s *Store) AuditNewestSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.Read(ctx, func(q Querier) error {
		_, err := QueryOne(ctx, q, `SELECT COALESCE(MAX(seq), 0) FROM vault_audit`, nil, &seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read the newest audit seq: %w", err)
	}
	return seq, nil
}

// AuditCursor returns the named cursor's seq, 0 when it was never set.
func (s *Store) AuditCursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.Read(ctx, func(q Querier) error {
		_, err := QueryOne(ctx, q, `SELECT seq FROM audit_cursors WHERE name = ?`, []any{name}, &seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read audit cursor %q: %w", name, err)
	}
	return seq, nil
}

// SetAuditCursor moves the named cursor forward to seq (never back).
func (s *Store) SetAuditCursor(ctx context.Context, name string, seq int64) error {
	err := s.db.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO audit_cursors (name, seq) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET seq = excluded.seq WHERE audit_cursors.seq < excluded.seq`, name, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("set audit cursor %q: %w", name, err)
	}
	return nil
}

// PruneAudit deletes up to batch of the oldest records, in seq order,
// while each is older than olderThan (when not zero) or lies beyond the
// newest keepRows records (when keepRows > 0), never one with Seq >
// maxSeq (the shipped-up-to cursor; 0 for no bound). It returns how many
// it deleted: 0 when the oldest record is to be kept. One short
// transaction per call, so that pruning never holds writers up for long.
// keepRows counts seqs, not rows: seqs a rolled-back transaction took
// are counted too, so a little fewer than keepRows may remain.
func (s *Store) PruneAudit(ctx context.Context, olderThan time.Time, keepRows int64, maxSeq int64, batch int) (int, error) {
	if olderThan.IsZero() && keepRows <= 0 || batch <= 0 {
		return 0, nil
	}
	var n int64
	err := s.db.Write(ctx, func(q Querier) error {
		var newest int64
		if _, err := QueryOne(ctx, q, `SELECT COALESCE(MAX(seq), 0) FROM vault_audit`, nil, &newest); err != nil {
			return err
		}
		type row struct {
			seq int64
			at  time.Time
		}
		rows, err := scanAll(ctx, q, `SELECT seq, at FROM vault_audit ORDER BY seq LIMIT ?`, []any{int64(batch)}, func(r Rows) (row, error) {
			var x row
			return x, r.Scan(&x.seq, &x.at)
		})
		if err != nil {
			return err
		}
		var first, last int64
		for _, r := range rows {
			if maxSeq > 0 && r.seq > maxSeq {
				break
			}
			old := !olderThan.IsZero() && r.at.Before(olderThan)
			excess := keepRows > 0 && r.seq <= newest-keepRows
			if !old && !excess {
				break
			}
			if first == 0 {
				first = r.seq
			}
			last = r.seq
		}
		if first == 0 {
			return nil
		}
		n, err = q.Exec(ctx, `DELETE FROM vault_audit WHERE seq >= ? AND seq <= ?`, first, last)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune the audit log: %w", err)
	}
	return int(n), nil
}
