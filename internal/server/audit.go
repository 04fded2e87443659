package server

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// auditLease elects the node that ships and prunes the audit log.
const auditLease = "audit-retention"

// newAuditKeeper builds the audit log's retention from the configuration;
// the shipping file is checked (created, mode 0600) now, so that a wrong
// path stops serve at start rather than failing later in the background.
func newAuditKeeper(cfg Config, st audit.LogStore) (*audit.Keeper, error) {
	k := &audit.Keeper{Store: st, MaxAge: cfg.auditMaxAge, MaxRows: cfg.AuditMaxRows, Pause: 20 * time.Millisecond}
	if cfg.AuditShip != "" {
		sink, err := audit.OpenSink(cfg.AuditShip)
		if err != nil {
			return nil, fmt.Errorf("--audit-ship: %w", err)
		}
		k.Sink = sink
	}
	return k, nil
}

// runAuditRetention ships and prunes the audit log every interval on the
// node holding the lease, until ctx ends.
func (s *Server) runAuditRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.auditRetention(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) auditRetention(ctx context.Context, interval time.Duration) {
	if s.auditKeeper.MaxAge == 0 && s.auditKeeper.MaxRows == 0 && s.auditKeeper.Sink == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
	defer cancel()
	ok, err := s.store.TryLease(rctx, auditLease, s.nodeID, 2*interval, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("audit retention: lease not acquired", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	rep, err := s.auditKeeper.RunOnce(rctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("audit retention: shipping or pruning failed; retried next run (records are never pruned before they are shipped)", "err", err, "shipped", rep.Shipped, "pruned", rep.Pruned)
		return
	}
	if rep.Shipped+rep.Pruned > 0 {
		s.log.Info("audit retention", "shipped", rep.Shipped, "pruned", rep.Pruned)
	}
}
