package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/store"
)

// Audit durability (see the package documentation, "Audit"): the audit
// record of an operation that may change something (set, update, delete,
// recover, purge, create, import, role and vault changes) is committed
// before the operation returns; the record of a read (get, list, read
// metadata, crypto operations with a key, denied or failed attempts at
// reads) is queued and committed by a background writer within
// DefaultAuditFlushInterval, many records per transaction. Both go through
// one FIFO queue, so the log keeps the order in which operations ended.

// Defaults of the audit writer.
const (
	// DefaultAuditFlushInterval is the longest a read's audit record waits
	// in memory before its batch is committed.
	DefaultAuditFlushInterval = 50 * time.Millisecond
	// DefaultAuditQueueSize bounds the records waiting in memory; when it
	// is full, operations wait for the writer (they are never dropped), up
	// to their deadline or maxAuditEnqueueWait.
	DefaultAuditQueueSize = 4096
	// maxAuditBatch caps the records committed in one transaction.
	maxAuditBatch = 512
	// maxAuditEnqueueWait bounds how long an operation waits for room in a
	// full queue when its context has no earlier deadline; a read that
	// finds none is refused (503).
	maxAuditEnqueueWait = 5 * time.Second
	// maxAuditRetryPause is the longest pause between two attempts to
	// reach the store (commit or spool replay): the writer notices the
	// database is back within it.
	maxAuditRetryPause = time.Second
	// maxReplayBatchesPerTurn bounds the spooled batches replayed before
	// the writer takes new records again.
	maxReplayBatchesPerTurn = 16
	// replayTimeout bounds one replayed batch, so that a database that
	// swallows connections (a network partition) holds the writer, and the
	// queue behind it, for at most this long per attempt.
	replayTimeout = 2 * time.Second
	// directWriteTimeout bounds the direct write of a change's record that
	// found no room in the queue before the caller's deadline.
	directWriteTimeout = 2 * time.Second
)

// Log causes of the audit writer (ratelog).
const (
	causeAuditStore  = "vault-audit-store"
	causeAuditSpool  = "vault-audit-spool"
	causeAuditReplay = "vault-audit-replay"
)

// readPermissions are the permissions of operations that change nothing;
// their audit records may be batched. Every other permission (including
// any not listed, to be safe) is audited synchronously.
var readPermissions = map[Permission]bool{
	PermSecretsReadMetadata: true, PermSecretsGet: true,
	PermCertificatesRead: true,
	PermKeysRead:         true, PermKeysSign: true, PermKeysVerify: true, PermKeysEncrypt: true,
	PermKeysDecrypt: true, PermKeysWrap: true, PermKeysUnwrap: true,
	PermVaultRead: true, PermRoleAssignmentsRead: true, PermRNG: true,
	PermIssuersRead: true, PermContactsRead: true,
}

// readOnly reports whether operations needing p change nothing.
func (p Permission) readOnly() bool { return readPermissions[p] }

// auditItem is one queued record, or a flush marker (flush set, no record).
type auditItem struct {
	rec   AuditRecord
	flush bool
	// done, when not nil, receives the outcome of the batch that holds the
	// item; the writer commits at once instead of waiting for more.
	done chan error
}

// auditWriter batches audit records into the store: a bounded queue and
// one goroutine that commits what is queued, one transaction per batch.
type auditWriter struct {
	store    Store
	log      *slog.Logger
	pace     *ratelog.Limiter
	interval time.Duration
	spool    *auditSpool // nil without a spool directory; used by run only
	// replayAt is when the writer next tries to replay the spool.
	replayAt time.Time
	// failures counts replays refused by a store that answers reads.
	failures int
	// replayed counts the records replayed since the spool was last empty.
	replayed int

	mu      sync.RWMutex // held for reading while sending to in; Close takes it to close in
	closed  bool
	in      chan auditItem
	stopped chan struct{}
}

func newAuditWriter(st Store, log *slog.Logger, pace *ratelog.Limiter, interval time.Duration, size int, spool *auditSpool) *auditWriter {
	if interval <= 0 {
		interval = DefaultAuditFlushInterval
	}
	if size <= 0 {
		size = DefaultAuditQueueSize
	}
	w := &auditWriter{store: st, log: log, pace: pace, interval: interval, spool: spool, in: make(chan auditItem, size), stopped: make(chan struct{})}
	go w.run()
	return w
}

// errAuditQueueFull is append's error when rec found no room in the queue
// before the caller's deadline.
var errAuditQueueFull = errors.New("the audit queue is full")

// append queues rec, giving it an ID if it has none; with wait, it returns once rec is committed or
// spooled (or the commit failed). It waits for room in a full queue, and
// for the commit, only until ctx ends or maxAuditEnqueueWait passed: then
// it returns an error, and rec is not queued if it found no room (the
// caller refuses the operation or logs). After Close, records are written
// directly.
func (w *auditWriter) append(ctx context.Context, rec AuditRecord, wait bool) error {
	if rec.ID == "" {
		// Fixed before the first attempt: every later attempt (a retry, the
		// spool's replay) writes the same record, which the store keeps once.
		rec.ID = audit.NewRecordID()
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return w.write(rec)
	}
	// The caller's deadline and cancellation, when earlier, win.
	ctx, cancel := context.WithTimeout(ctx, maxAuditEnqueueWait)
	defer cancel()
	it := auditItem{rec: rec}
	if wait {
		it.done = make(chan error, 1)
	}
	select {
	case w.in <- it: // waits while the queue is full: backpressure, never a drop
		w.mu.RUnlock()
	default:
		select {
		case w.in <- it:
			w.mu.RUnlock()
		case <-ctx.Done():
			w.mu.RUnlock()
			err := fmt.Errorf("%w (%d records wait for the store): %w", errAuditQueueFull, cap(w.in), ctx.Err())
			if wait {
				// A change's record: try the store directly rather than
				// lose it (the caller refuses a read instead).
				if werr := w.writeWithin(directWriteTimeout, rec); werr != nil {
					return fmt.Errorf("%w; written directly: %w", err, werr)
				}
				return nil
			}
			return err
		}
	}
	if !wait {
		return nil
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit record queued, not yet committed: %w", ctx.Err())
	}
}

// flush returns once every record queued before the call is committed.
func (w *auditWriter) flush(ctx context.Context) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return w.wait(ctx)
	}
	done := make(chan error, 1)
	select {
	case w.in <- auditItem{flush: true, done: done}:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return fmt.Errorf("vault: flush the audit log: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("vault: flush the audit log: %w", ctx.Err())
	}
}

// close stops the queue, commits what it holds and stops the writer; later
// records are written directly.
func (w *auditWriter) close(ctx context.Context) error {
	locked := make(chan struct{})
	go func() {
		w.mu.Lock()
		if !w.closed {
			w.closed = true
			close(w.in)
		}
		w.mu.Unlock()
		close(locked)
	}()
	select {
	case <-locked:
	case <-ctx.Done():
		return fmt.Errorf("vault: close the audit log: %w", ctx.Err())
	}
	return w.wait(ctx)
}

func (w *auditWriter) wait(ctx context.Context) error {
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("vault: close the audit log: %d records not yet written: %w", len(w.in), ctx.Err())
	}
}

// run is the writer: it takes the first queued item, gathers more until a
// waiter (synchronous record or flush) arrives, the batch is full or the
// flush interval has passed, commits the batch and reports to the waiters.
// While the spool holds records, it also tries to replay them at least
// every maxAuditRetryPause.
func (w *auditWriter) run() {
	defer close(w.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	replay := time.NewTimer(time.Hour)
	replay.Stop()
	batch := make([]auditItem, 0, maxAuditBatch)
	for {
		var it auditItem
		var ok bool
		if w.spooling() {
			replay.Reset(max(time.Until(w.replayAt), time.Millisecond))
			select {
			case it, ok = <-w.in:
				replay.Stop()
			case <-replay.C:
				w.replay(false)
				continue
			}
		} else {
			it, ok = <-w.in
		}
		if !ok {
			w.finish()
			return
		}
		batch = append(batch[:0], it)
		open := true
		urgent := it.done != nil
		if !urgent {
			timer.Reset(w.interval)
		gather:
			for len(batch) < maxAuditBatch {
				select {
				case it, ok := <-w.in:
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, it)
					if it.done != nil {
						break gather
					}
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		// Whatever else is already queued joins the batch (group commit).
	drain:
		for open && len(batch) < maxAuditBatch {
			select {
			case it, ok := <-w.in:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, it)
			default:
				break drain
			}
		}
		w.commit(batch)
		clear(batch) // drop references to the records
		if !open {
			w.finish()
			return // in is closed and empty: everything queued before Close is written
		}
	}
}

// spooling reports whether records wait in the spool: new ones go there too.
func (w *auditWriter) spooling() bool { return w.spool != nil && w.spool.pending() }

// finish runs when the queue is closed and empty: a last replay, then the
// spool is closed; what it still holds is replayed by the next start.
func (w *auditWriter) finish() {
	if w.spool == nil {
		return
	}
	if w.spooling() {
		w.replay(true)
	}
	if w.spooling() {
		w.log.Warn("vault audit records stay in the spool until the next start reaches the database", "spool", w.spool.path, "bytes", w.spool.size-w.spool.pos)
	}
	_ = w.spool.close()
}

// commit writes the records of batch in one transaction and reports to its
// waiters. While the spool holds records (or when the store cannot be
// reached), the records are appended to the spool instead, and the
// waiters are told they are recorded once the spool is synced. When the
// transaction fails but the store answers, each record is tried alone, and
// records the store refuses while others succeed are logged and dropped.
// Without a spool (or when it cannot be written), a batch the store does
// not take is retried with a pause of at most maxAuditRetryPause, holding
// the queue (and so, once it is full, the operations, until their
// deadline): until the store answers again, or, if it answers reads but
// keeps refusing these records (a full disk), for three attempts, after
// which they are logged and dropped — never silently. Every attempt
// (and the spool's replay) writes the same records, IDs included: a commit
// that reported an error may have happened all the same (the connection
// was cut during COMMIT), and the store keeps one record per ID.
func (w *auditWriter) commit(batch []auditItem) {
	recs := make([]AuditRecord, 0, len(batch))
	flush := false
	for _, it := range batch {
		if it.flush {
			flush = true
		} else {
			recs = append(recs, it.rec)
		}
	}
	notified := false
	notify := func(err error) {
		if notified {
			return
		}
		notified = true
		for _, it := range batch {
			if it.done != nil {
				it.done <- err
			}
		}
	}
	if w.spooling() && (flush || !time.Now().Before(w.replayAt)) {
		w.replay(flush)
	}
	if w.spooling() && w.toSpool(recs) {
		notify(nil)
		return
	}
	pause := 50 * time.Millisecond
	for attempt := 1; len(recs) > 0; attempt++ {
		err := w.write(recs...)
		if err == nil {
			w.pace.Reset(causeAuditStore, "vault audit records are written to the store again")
			break
		}
		answers := !errors.Is(err, store.ErrUnavailable) && w.storeAnswers()
		if !answers && w.toSpool(recs) {
			w.pace.Warn(causeAuditStore, "vault database unavailable; audit records are spooled locally and replayed when it is back", "spool", w.spool.path, "error", err)
			break
		}
		if answers && len(recs) > 1 {
			if recs = w.writeEach(recs); len(recs) == 0 {
				break
			}
		}
		if attempt == 1 {
			w.pace.Error(causeAuditStore, "vault audit records could not be written; retrying", "records", len(recs), "error", err)
			notify(fmt.Errorf("append %d audit records: %w", len(recs), err))
		}
		if attempt >= 3 && answers {
			for _, r := range recs {
				w.log.Error("vault audit record refused by the store; it is dropped", "operation", r.Operation, "vault", r.Vault, "request_id", r.RequestID, "error", err)
			}
			break
		}
		time.Sleep(pause) // retry pacing, not a wait for a condition
		pause = min(2*pause, maxAuditRetryPause)
	}
	notify(nil)
}

// toSpool appends recs to the spool and reports whether they are there.
func (w *auditWriter) toSpool(recs []AuditRecord) bool {
	if w.spool == nil {
		return false
	}
	if len(recs) == 0 {
		return true
	}
	first := !w.spool.pending()
	if err := w.spool.append(recs); err != nil {
		w.pace.Error(causeAuditSpool, "vault audit records cannot be spooled; they wait in the queue for the store", "error", err)
		return false
	}
	if first {
		w.replayAt = time.Now().Add(maxAuditRetryPause)
	}
	return true
}

// replay writes spooled records into the store, oldest first, one batch
// per transaction, until the spool is empty, the store fails, or (unless
// all) maxReplayBatchesPerTurn batches were written. Records the store
// refuses three turns in a row while it answers reads are logged and
// dropped, as in commit.
func (w *auditWriter) replay(all bool) {
	w.replayAt = time.Now().Add(maxAuditRetryPause)
	for n := 0; w.spooling() && (all || n < maxReplayBatchesPerTurn); n++ {
		recs, end, err := w.spool.next(maxAuditBatch)
		if err != nil {
			w.pace.Error(causeAuditReplay, "vault audit spool cannot be read; retrying", "error", err)
			return
		}
		if err := w.writeWithin(replayTimeout, recs...); err != nil {
			if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || !w.storeAnswers() {
				w.pace.Warn(causeAuditStore, "vault database still unavailable; audit records stay in the spool", "spool", w.spool.path, "error", err)
				return
			}
			if w.failures++; w.failures < 3 {
				w.pace.Error(causeAuditReplay, "vault audit spool replay refused by the store; retrying", "error", err)
				return
			}
			if len(recs) > 1 {
				recs = w.writeEach(recs)
			}
			for _, r := range recs {
				w.log.Error("vault audit record refused by the store; it is dropped", "operation", r.Operation, "vault", r.Vault, "request_id", r.RequestID, "error", err)
			}
		}
		w.failures = 0
		w.replayed += len(recs)
		if err := w.spool.advance(end); err != nil {
			w.pace.Error(causeAuditReplay, "vault audit spool replay position cannot be recorded; the records will be replayed again (the store keeps one of each)", "error", err)
		}
	}
	if !w.spooling() {
		w.pace.Reset(causeAuditStore, "vault database reachable again")
		w.log.Info("vault audit records spooled during the database outage are in the store", "records", w.replayed)
		w.replayed = 0
	}
}

// write appends recs in one transaction.
func (w *auditWriter) write(recs ...AuditRecord) error { return w.writeWithin(30*time.Second, recs...) }

// writeWithin appends recs in one transaction, giving up after timeout.
func (w *auditWriter) writeWithin(timeout time.Duration, recs ...AuditRecord) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return w.store.AppendAudit(ctx, recs...)
}

// writeEach writes recs one by one and returns those that failed, unless
// some succeeded: then the failures are records the store refuses, logged
// and dropped, and nil is returned.
func (w *auditWriter) writeEach(recs []AuditRecord) []AuditRecord {
	var failed []AuditRecord
	var errs []error
	for _, r := range recs {
		if err := w.write(r); err != nil {
			failed = append(failed, r)
			errs = append(errs, err)
		}
	}
	if len(failed) == len(recs) {
		return failed
	}
	for i, r := range failed {
		w.log.Error("vault audit record refused by the store; it is dropped", "operation", r.Operation, "vault", r.Vault, "request_id", r.RequestID, "error", errs[i])
	}
	return nil
}

// storeAnswers reports whether the store serves reads, telling a record
// the store refuses from a store that is down.
func (w *auditWriter) storeAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := w.store.Revision(ctx)
	return err == nil
}

// Flush returns once every audit record of an operation that ended before
// the call is in the store. AuditLog flushes first, so it always shows the
// caller's own earlier operations.
func (s *Service) Flush(ctx context.Context) error { return s.audit.flush(ctx) }

// Close waits for the certificate operations issuing in the background
// (until ctx ends: one cut short stays inProgress and is resumed by
// ResumeCertificateOperations), then commits the queued audit records and
// stops the audit writer; the server calls it on graceful shutdown, after
// in-flight requests finished and before the store closes. Operations after Close still work and are
// audited synchronously. It returns ctx's error if the records could not
// all be written in time.
func (s *Service) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.ops.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("vault certificate operations still issuing at shutdown are left for the next maintenance pass to resume")
	}
	return s.audit.close(ctx)
}

// OperationAuthenticate names, in the audit log, a request refused before
// it reached any vault operation.
const OperationAuthenticate = "authenticate"

// AuditRefusal records a request refused before any vault operation: no
// valid credential, a token of another tenant, a deleted client. c holds
// what is known of the caller (nothing when the token did not verify);
// code is the refusal's error code and reason its words (clipped to 512
// bytes), never the credential. Callers pace refusals, so that a flood of
// bad tokens cannot flood the audit log.
func (s *Service) AuditRefusal(c Caller, vaultName, code, reason string) {
	if ValidateVaultName(vaultName) != nil {
		vaultName = ""
	}
	rec := AuditRecord{
		Time: s.now().UTC(), RequestID: c.RequestID, TenantID: c.TenantID, AppID: c.principal(), ObjectID: c.ObjectID,
		Vault: strings.ToLower(vaultName), Operation: OperationAuthenticate, Outcome: OutcomeRefused, Code: code, Reason: clipReason(reason),
	}
	if err := s.audit.append(context.Background(), rec, false); err != nil {
		s.pace.Error("vault-audit-append", "vault audit record not queued", "operation", OperationAuthenticate, "request_id", c.RequestID, "error", err)
	}
}

// clipReason bounds a refusal's reason to 512 bytes on a rune boundary.
func clipReason(s string) string {
	const max = 512
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
