package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/failureshare"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/sts"
)

// clusterStore is what a store shared by several nodes (PostgreSQL) adds:
// a notification when another node commits a change, the cluster's record
// of used client-assertion ids, and the shared failed-authentication
// counts. The SQLite store, one node's, has none of it.
type clusterStore interface {
	ListenRevision(ctx context.Context, changed func(), failed func(error))
	sts.ReplayLog
	PruneAssertionIDs(ctx context.Context, now time.Time) (int64, error)
	failureshare.Store
}

// changedInterval bounds how often the changed hooks run: under a stream
// of writes the vault's cache would otherwise be dropped, and the vault
// watcher resolve every reference, once per commit. The first change after
// a quiet period runs them at once; later ones within the interval run
// them once more at its end.
const changedInterval = 100 * time.Millisecond

// assertionPruneInterval is how often each node deletes expired
// client-assertion ids (an indexed DELETE; idempotent across nodes).
const assertionPruneInterval = time.Minute

// cluster is this node's part in the cluster-wide state; nil on SQLite.
type cluster struct {
	store    clusterStore
	failures *failureshare.Exchange
	log      *slog.Logger
	// changed are called, besides waking the reload loop, when another
	// node commits a change (the vault's cache of role assignments).
	changed []func()
}

// newCluster returns the cluster state of st, or nil when st serves one
// node only.
func newCluster(st database, nodeID string, log *slog.Logger) *cluster {
	cs, ok := st.(clusterStore)
	if !ok {
		return nil
	}
	return &cluster{store: cs, log: log, failures: failureshare.New(failureshare.Config{Store: cs, Node: nodeID, Logger: log})}
}

// stsConfig adds the cluster's replay log and failure sharing to cfg.
func (c *cluster) stsConfig(cfg sts.Config) sts.Config {
	if c != nil {
		cfg.ReplayLog, cfg.FailureLog = c.store, c.failures
	}
	return cfg
}

// onChange adds f to what runs when another node commits a change.
func (c *cluster) onChange(f func()) {
	if c != nil {
		c.changed = append(c.changed, f)
	}
}

// failureLog is the gateway's FailureLog (nil interface on one node).
func (c *cluster) failureLog() gateway.FailureLog {
	if c == nil {
		return nil
	}
	return c.failures
}

// register makes the token service's and the gateway's budgets take the
// failures other nodes count.
func (c *cluster) register(tokens *sts.Server, g *gateway.Gateway) {
	if c == nil {
		return
	}
	for _, scope := range []string{sts.FailureScopeClient, sts.FailureScopeSource} {
		c.failures.Register(scope, func(key [16]byte, n int, now time.Time) { tokens.TakeFailures(scope, key, n, now) })
	}
	if g != nil {
		c.failures.Register(gateway.FailureScopeSource, func(key [16]byte, n int, now time.Time) {
			g.TakeFailures(gateway.FailureScopeSource, key, n, now)
		})
	}
}

// run listens for revision notifications (waking the reload loop), and
// exchanges failure counts and prunes expired assertion ids, until ctx
// ends.
func (c *cluster) run(ctx context.Context, wake wakeSignal) {
	if c == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(4)
	hooks := newWakeSignal()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hooks:
			}
			for _, f := range c.changed {
				f()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(changedInterval):
			}
		}
	}()
	go func() {
		defer wg.Done()
		down := false
		c.store.ListenRevision(ctx, func() {
			if down {
				down = false
				c.log.Info("revision listener connected again; changes of other nodes arrive at once")
			}
			wake.wake()
			hooks.wake()
		}, func(err error) {
			if !down {
				down = true
				c.log.Warn("revision listener disconnected; changes of other nodes arrive by the revision poll until it reconnects", "err", err)
			}
		})
	}()
	go func() { defer wg.Done(); c.failures.Run(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(assertionPruneInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := c.store.PruneAssertionIDs(pctx, time.Now()); err != nil && ctx.Err() == nil {
				c.log.Debug("expired client assertion ids not pruned; retried in a minute", "err", err)
			}
			cancel()
		}
	}()
	wg.Wait()
}
