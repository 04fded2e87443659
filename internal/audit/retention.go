package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Retention defaults (see docs/operations.md, "Audit log").
const (
	// DefaultMaxAge is how long records are kept when serve is given no
	// --audit-retention.
	DefaultMaxAge = 90 * 24 * time.Hour
	// DefaultMaxRows bounds the records kept when serve is given no
	// --audit-max-rows: about 3 GB at the measured ~300 bytes per record.
	DefaultMaxRows = 10_000_000
	// PruneBatch is the most records one pruning transaction deletes.
	PruneBatch = 1000
	// ShipBatch is the most records one shipping step reads.
	ShipBatch = 1000
	// ShipSettle is how long the shipper waits before it ships up to a
	// seq it saw as the newest: on PostgreSQL, seqs are taken in insert
	// order but become visible in commit order, so a record is shipped
	// only once every transaction that took an earlier seq has had this
	// long to commit, and the cursor never passes a record not yet
	// visible. (Audit transactions are bounded to 30 s.)
	ShipSettle = time.Minute
	// ShipCursor names the shipper's cursor in the store.
	ShipCursor = "ship"
)

// LogStore is the audit log as the Keeper uses it.
type LogStore interface {
	AuditToShip(ctx context.Context, afterSeq, throughSeq int64, limit int) ([]Record, error)
	AuditNewestSeq(ctx context.Context) (int64, error)
	AuditCursor(ctx context.Context, name string) (int64, error)
	SetAuditCursor(ctx context.Context, name string, seq int64) error
	PruneAudit(ctx context.Context, olderThan time.Time, keepRows, maxSeq int64, batch int) (int, error)
}

// A Sink receives shipped records, one JSON object per line. Sync makes
// what was written durable (a file's fsync); the shipper's cursor moves
// only after it returns.
type Sink interface {
	io.Writer
	Sync() error
}

// Keeper applies the retention policy: it ships records to Sink (when
// set), then prunes those past MaxAge or beyond the newest MaxRows, never
// one not yet shipped while shipping is on. One node of a cluster runs it
// (the server elects it with a lease); it works in small transactions so
// that requests never wait on it for long.
type Keeper struct {
	Store LogStore
	// MaxAge and MaxRows are the retention; 0 disables that bound (both 0:
	// records are kept forever).
	MaxAge  time.Duration
	MaxRows int64
	// Sink receives the records before they may be pruned; nil = no
	// shipping.
	Sink Sink
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Pause is the rest between two pruning transactions.
	Pause time.Duration
	// MaxBatches bounds the pruning transactions of one pass (0: 100).
	MaxBatches int

	// mark is the newest seq seen, and when: what the next pass may ship
	// once ShipSettle has passed. A Keeper is used by one goroutine.
	mark struct {
		seq int64
		at  time.Time
	}
}

// Report says what one pass did.
type Report struct {
	Shipped int
	Pruned  int
}

// RunOnce ships what has settled, then prunes. A pass prunes at most
// MaxBatches batches; a backlog is worked off over the following passes.
func (k *Keeper) RunOnce(ctx context.Context) (Report, error) {
	var rep Report
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	var shippedTo int64
	if k.Sink != nil {
		n, to, err := k.ship(ctx, now())
		rep.Shipped = n
		if err != nil {
			return rep, err
		}
		shippedTo = to
		if shippedTo == 0 {
			return rep, nil // nothing shipped yet: nothing may be pruned
		}
	}
	var olderThan time.Time
	if k.MaxAge > 0 {
		olderThan = now().Add(-k.MaxAge)
	}
	batches := k.MaxBatches
	if batches <= 0 {
		batches = 100
	}
	for range batches {
		n, err := k.Store.PruneAudit(ctx, olderThan, k.MaxRows, shippedTo, PruneBatch)
		rep.Pruned += n
		if err != nil {
			return rep, err
		}
		if n < PruneBatch {
			break
		}
		if k.Pause > 0 {
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-time.After(k.Pause):
			}
		}
	}
	return rep, nil
}

// ship writes every settled record after the cursor to the sink and moves
// the cursor; it returns how many it shipped and the cursor after. A
// record is settled once it is at or below the newest seq seen
// ShipSettle ago (see ShipSettle). Delivery is at least once: a crash
// between the sink's Sync and the cursor's move ships those records again
// (their seq tells them apart).
func (k *Keeper) ship(ctx context.Context, now time.Time) (int, int64, error) {
	cursor, err := k.Store.AuditCursor(ctx, ShipCursor)
	if err != nil {
		return 0, 0, err
	}
	// Ship up to the mark once it has settled; take a new mark when there
	// is none or this pass uses it.
	var through int64
	settled := !k.mark.at.IsZero() && !now.Before(k.mark.at.Add(ShipSettle))
	if settled {
		through = k.mark.seq
	}
	if settled || k.mark.at.IsZero() {
		newest, err := k.Store.AuditNewestSeq(ctx)
		if err != nil {
			return 0, cursor, err
		}
		k.mark.seq, k.mark.at = newest, now
	}
	n := 0
	for cursor < through {
		recs, err := k.Store.AuditToShip(ctx, cursor, through, ShipBatch)
		if err != nil || len(recs) == 0 {
			return n, cursor, err
		}
		if err := WriteJSONLines(k.Sink, recs); err != nil {
			return n, cursor, fmt.Errorf("ship audit records: %w", err)
		}
		if err := k.Sink.Sync(); err != nil {
			return n, cursor, fmt.Errorf("ship audit records: sync: %w", err)
		}
		last := recs[len(recs)-1].Seq
		if err := k.Store.SetAuditCursor(ctx, ShipCursor, last); err != nil {
			return n, cursor, err
		}
		cursor = last
		n += len(recs)
	}
	return n, cursor, nil
}

// WriteJSONLines writes each record as one JSON object and a newline.
func WriteJSONLines(w io.Writer, recs []Record) error {
	buf := make([]byte, 0, 512*len(recs))
	for _, r := range recs {
		r.Time = r.Time.UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	_, err := w.Write(buf)
	return err
}

// FileSink appends to a file, or writes to standard output for "-". The
// file is opened for each batch and closed by Sync, so a log rotation
// (rename, as logrotate does) needs no signal: the next batch creates the
// file anew.
type FileSink struct {
	path string
	f    *os.File
}

// OpenSink checks that path can be appended to (creating it with mode
// 0600) and returns its sink; "-" is standard output.
func OpenSink(path string) (*FileSink, error) {
	if path == "" {
		return nil, errors.New("audit: no sink path")
	}
	s := &FileSink{path: path}
	if path == "-" {
		return s, nil
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, s.Sync()
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.f = f
	return nil
}

func (s *FileSink) Write(p []byte) (int, error) {
	if s.path == "-" {
		return os.Stdout.Write(p)
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return 0, err
		}
	}
	return s.f.Write(p)
}

// Sync makes a file's batch durable and closes it; standard output (a
// pipe, a terminal, the journal) is not synced.
func (s *FileSink) Sync() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
