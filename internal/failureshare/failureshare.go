// Package failureshare makes failed-authentication budgets cluster-wide.
// Each node keeps counting failures in its own budgets (the token
// service's per client id and per source address, the gateway's per
// source address) and answers from them alone, with no I/O on the request
// path; an Exchange hears every failure it counts (RecordFailure, a map
// increment) and, every Interval (default 250 ms), writes this node's
// increments as one row to the shared database and reads back the rows
// the other nodes wrote since, applying their counts to the local budgets
// (a Sink per scope). A successful request writes nothing; an interval
// without failures writes nothing either and reads one indexed query.
//
// The bound: a budget of B failures (refilled at rate r) admits on N nodes
// at most B + r·t failures over t plus what the other N−1 nodes admit
// within one exchange (Interval plus the database round trip): each node's
// bucket holds the whole cluster's failures once exchanged, and may go
// below zero, so the refill is not multiplied by N. In the worst case of a
// burst spread over every node inside one interval, that is N·B failures
// instead of B.
//
// When the database does not answer, every node keeps its own budgets
// (per-node limits, as a single node has) and the increments wait, bounded,
// until it answers again.
package failureshare

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Batch is one node's counts of one interval, as stored.
type Batch struct {
	ID     int64
	Counts []byte
}

// Store is the shared database (the PostgreSQL store implements it).
type Store interface {
	// AppendFailures stores one batch of node's counts.
	AppendFailures(ctx context.Context, node string, at time.Time, counts []byte) error
	// FailuresAfter returns the batches of nodes other than node with an
	// id greater than after and not in skip, in id order, at most limit.
	FailuresAfter(ctx context.Context, node string, after int64, skip []int64, limit int) ([]Batch, error)
	// LastFailureID returns the greatest batch id stored, 0 when none.
	LastFailureID(ctx context.Context) (int64, error)
	// PruneFailures deletes the batches recorded before before.
	PruneFailures(ctx context.Context, before time.Time) (int64, error)
}

// A Sink applies n failures counted by another node for key to a local
// budget.
type Sink func(key [16]byte, n int, now time.Time)

// Config configures an Exchange.
type Config struct {
	Store Store
	// Node names this node's rows (any unique string).
	Node string
	// Interval is how often counts are exchanged (default 250 ms).
	Interval time.Duration
	// Retention is how long rows are kept (default 1 minute); each node
	// prunes older ones.
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Limits of one exchange.
const (
	// maxPending bounds the distinct (scope, key) pairs waiting to be
	// written; beyond it new keys are counted locally only.
	maxPending = 20000
	// readLimit bounds the batches applied per exchange.
	readLimit = 1000
	// idLag is how far behind the newest id seen an exchange looks again
	// for rows committed out of id order (ids are drawn at insert, rows
	// become visible at commit).
	idLag = 256
	// maxScopeLen bounds a scope name in the encoding.
	maxScopeLen = 64
	// entryFixed is an entry's size beyond its scope name: length byte,
	// key, count.
	entryFixed = 1 + 16 + 4
)

type pendingKey struct {
	scope string
	key   [16]byte
}

// Exchange shares this node's failure counts and applies the others'.
type Exchange struct {
	cfg Config

	mu      sync.Mutex
	pending map[pendingKey]uint32
	sinks   map[string]Sink

	// Owned by the goroutine that runs Sync.
	started bool
	cursor  int64
	seen    []int64 // ids applied that are > cursor-idLag
	down    bool    // the last exchange failed (logged once)
}

// New returns an Exchange; Register the sinks, then Run it.
func New(cfg Config) *Exchange {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Retention <= 0 {
		cfg.Retention = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Exchange{cfg: cfg, pending: map[pendingKey]uint32{}, sinks: map[string]Sink{}}
}

// Register names the Sink that applies other nodes' failures of scope.
func (x *Exchange) Register(scope string, s Sink) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sinks[scope] = s
}

// RecordFailure counts one failure of key in scope, to be written at the
// next exchange. It never blocks on I/O.
func (x *Exchange) RecordFailure(scope string, key [16]byte) {
	if len(scope) > maxScopeLen {
		return
	}
	k := pendingKey{scope, key}
	x.mu.Lock()
	defer x.mu.Unlock()
	if n, ok := x.pending[k]; ok {
		if n < 1<<31 {
			x.pending[k] = n + 1
		}
		return
	}
	if len(x.pending) < maxPending {
		x.pending[k] = 1
	}
}

// Run exchanges every Interval, and prunes old rows every Retention, until
// ctx ends.
func (x *Exchange) Run(ctx context.Context) {
	t := time.NewTicker(x.cfg.Interval)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := x.Sync(sctx)
		if now := x.cfg.Now(); err == nil && now.Sub(pruned) >= x.cfg.Retention {
			if _, err := x.cfg.Store.PruneFailures(sctx, now.Add(-x.cfg.Retention)); err == nil {
				pruned = now
			}
		}
		cancel()
		x.report(ctx, err)
	}
}

// report logs the first failure of a series and the recovery.
func (x *Exchange) report(ctx context.Context, err error) {
	switch {
	case err != nil && !x.down && ctx.Err() == nil:
		x.down = true
		x.cfg.Logger.Warn("failed-authentication counts are not shared with the other nodes; each node applies its own budgets until the database answers", "err", err)
	case err == nil && x.down:
		x.down = false
		x.cfg.Logger.Info("failed-authentication counts are shared with the other nodes again")
	}
}

// Sync runs one exchange: it writes this node's pending counts and applies
// the rows the other nodes wrote since the last exchange. Counts that could
// not be written stay pending.
func (x *Exchange) Sync(ctx context.Context) error {
	if !x.started {
		id, err := x.cfg.Store.LastFailureID(ctx)
		if err != nil {
			return err
		}
		x.cursor, x.started = id, true
	}
	x.mu.Lock()
	pending := x.pending
	if len(pending) > 0 {
		x.pending = make(map[pendingKey]uint32, len(pending))
	}
	x.mu.Unlock()
	if len(pending) > 0 {
		if err := x.cfg.Store.AppendFailures(ctx, x.cfg.Node, x.cfg.Now(), encode(pending)); err != nil {
			x.restore(pending)
			return err
		}
	}
	batches, err := x.cfg.Store.FailuresAfter(ctx, x.cfg.Node, max(0, x.cursor-idLag), x.seen, readLimit)
	if err != nil {
		return err
	}
	now := x.cfg.Now()
	x.mu.Lock()
	sinks := x.sinks
	x.mu.Unlock()
	var bad error
	for _, b := range batches {
		err := decode(b.Counts, func(scope string, key [16]byte, n uint32) {
			if s := sinks[scope]; s != nil {
				s(key, int(min(n, 1<<30)), now)
			}
		})
		if err != nil && bad == nil {
			bad = err
		}
		x.seen = append(x.seen, b.ID)
		x.cursor = max(x.cursor, b.ID)
	}
	x.seen = slices.DeleteFunc(x.seen, func(id int64) bool { return id <= x.cursor-idLag })
	return bad
}

// restore puts counts that were not written back into pending.
func (x *Exchange) restore(counts map[pendingKey]uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, n := range counts {
		if _, ok := x.pending[k]; !ok && len(x.pending) >= maxPending {
			continue
		}
		x.pending[k] = uint32(min(uint64(x.pending[k])+uint64(n), 1<<31))
	}
}

// encode writes each entry as: scope length (1 byte), scope, key (16
// bytes), count (4 bytes, big endian).
func encode(counts map[pendingKey]uint32) []byte {
	out := make([]byte, 0, len(counts)*(entryFixed+16))
	for k, n := range counts {
		out = append(out, byte(len(k.scope)))
		out = append(out, k.scope...)
		out = append(out, k.key[:]...)
		out = binary.BigEndian.AppendUint32(out, n)
	}
	return out
}

// errMalformed reports a batch that does not decode; the entries before
// the damage were applied.
var errMalformed = errors.New("failureshare: a stored batch of failure counts is malformed; its remaining entries were skipped")

// decode calls fn for each entry of b, in order.
func decode(b []byte, fn func(scope string, key [16]byte, n uint32)) error {
	for len(b) > 0 {
		l := int(b[0])
		if l > maxScopeLen || len(b) < entryFixed+l {
			return errMalformed
		}
		scope := string(b[1 : 1+l])
		var key [16]byte
		copy(key[:], b[1+l:1+l+16])
		n := binary.BigEndian.Uint32(b[1+l+16 : entryFixed+l])
		fn(scope, key, n)
		b = b[entryFixed+l:]
	}
	return nil
}
