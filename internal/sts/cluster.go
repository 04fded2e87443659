package sts

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A ReplayLog records the client assertions accepted by every node of a
// cluster, so that an assertion accepted on one node is refused on all
// others (the PostgreSQL store implements it; a single node needs none).
type ReplayLog interface {
	// RecordAssertionID records id (a SHA-256 of the client id and the
	// jti) until expires and reports true, or false when it is recorded
	// already and not expired at now.
	RecordAssertionID(ctx context.Context, id []byte, expires, now time.Time) (bool, error)
}

// A FailureLog hears every failed authentication this node counts, to
// share it with the other nodes of a cluster; they apply it with
// TakeFailures. RecordFailure is called on the request path: it must not
// block or do I/O.
type FailureLog interface {
	RecordFailure(scope string, key [16]byte)
}

// Failure scopes of the token service, as named to a FailureLog.
const (
	FailureScopeClient = "sts.client" // key: the client id's 16 GUID bytes
	FailureScopeSource = "sts.source" // key: the source address's 16 bytes (see sourceKey)
)

// Shared replay timing: how long a token request waits for the cluster's
// jti record, and how long after a failure the node relies on its own
// cache alone before it asks the database again.
const (
	sharedReplayTimeout  = 500 * time.Millisecond
	sharedReplayDegraded = 5 * time.Second
)

// sharedReplay puts the cluster's ReplayLog behind the node's replayCache.
// When the database does not answer, the node accepts assertions on its
// own cache alone (static stability: tokens keep being issued) and counts
// them in portcullis_sts_replay_unshared_total; for sharedReplayDegraded
// after a failure it does not ask again, so an outage costs one slow
// request per interval, not one per request.
type sharedReplay struct {
	log      ReplayLog
	unshared prometheus.Counter

	mu        sync.Mutex
	downUntil time.Time // no database call before this
	down      bool      // the last call failed; logged once until one succeeds
	logDown   func(err error)
	logUp     func()
}

func newSharedReplay(l ReplayLog, logDown func(error), logUp func()) *sharedReplay {
	return &sharedReplay{log: l, logDown: logDown, logUp: logUp, unshared: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portcullis_sts_replay_unshared_total",
		Help: "Client assertions accepted on this node's jti cache alone because the cluster's record (the database) did not answer.",
	})}
}

// record reports false when another node accepted the assertion already.
func (r *sharedReplay) record(ctx context.Context, key replayKey, expires, now time.Time) bool {
	r.mu.Lock()
	skip := time.Now().Before(r.downUntil)
	r.mu.Unlock()
	if skip {
		r.unshared.Inc()
		return true
	}
	// Not the request's context: a client that hangs up must not make the
	// node stop asking the database.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedReplayTimeout)
	defer cancel()
	fresh, err := r.log.RecordAssertionID(ctx, key[:], expires, now)
	r.mu.Lock()
	wasDown := r.down
	r.down = err != nil
	if err != nil {
		r.downUntil = time.Now().Add(sharedReplayDegraded)
	}
	r.mu.Unlock()
	switch {
	case err != nil && !wasDown:
		r.logDown(err)
	case err == nil && wasDown:
		r.logUp()
	}
	if err != nil {
		r.unshared.Inc()
		return true
	}
	return fresh
}

// TakeFailures applies n failed authentications that another node counted
// for key in scope (FailureScopeClient or FailureScopeSource) to this
// node's budget, so that the budgets are cluster-wide. Unknown scopes are
// ignored.
func (s *Server) TakeFailures(scope string, key [16]byte, n int, now time.Time) {
	switch scope {
	case FailureScopeClient:
		s.clientLimiter.take(limiterKey(key), n, now)
	case FailureScopeSource:
		s.sourceLimiter.take(limiterKey(key), n, now)
	}
}
