package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/sts"
)

// maxDeltaObjects is the most changed objects a reload applies to the
// previous snapshot; beyond it reading everything is as cheap.
const maxDeltaObjects = 1000

// fullReloadInterval bounds how long a node builds its snapshot from deltas
// alone: when the revision moves and the last full read is older than this,
// the node reads everything again. It is the safety net for writes that left
// no change record (a node of an older version writing during a rolling
// upgrade): they are served at most this late.
const fullReloadInterval = 10 * time.Minute

// Update is one new view of the store, handed to every component by the
// reload loop: the directory snapshot at a revision, what changed since the
// previous Update (nil after a full load, when a component must rebuild
// from Directory), and every signing key.
type Update struct {
	Directory   *directory.Snapshot
	Changes     *directory.Changes
	SigningKeys []sts.SigningKey
}

// A Component serves from the directory and swaps in its own state for each
// Update: the token service today; the gateway's routes and resolved
// outbound credentials next. Apply must not change the component's served
// state when it fails (the loop retries the same revision), must be cheap
// when Changes touch nothing the component uses, and must not call
// vault.Resolve or anything else that writes.
type Component interface {
	Apply(Update) error
}

// tokenService is the token service as a Component.
type tokenService struct{ *sts.Server }

func (t tokenService) Apply(u Update) error { return t.Server.Apply(u.Directory, u.SigningKeys) }

// changeSource is what the reload loop reads of the store.
type changeSource interface {
	Revision(ctx context.Context) (int64, error)
	Load(ctx context.Context) (sqlstore.State, error)
	ChangesSince(ctx context.Context, since int64, limit int) (sqlstore.Delta, bool, error)
}

// reloader is the one reload loop: when the store revision moves it builds
// the next directory snapshot (from the previous one and the changed
// objects; from a full Load on the first run, when the change log cannot
// answer, when too much changed, and at most every fullReloadInterval) and
// hands it to every component. The
// revision advances only when every component took the update.
type reloader struct {
	store      changeSource
	components []Component
	log        *slog.Logger
	now        func() time.Time                   // nil: time.Now
	current    atomic.Pointer[directory.Snapshot] // snap, for readers that must not wait on mu
	paceOnce   sync.Once
	pace       *ratelog.Limiter // log lines of failed reloads

	mu     sync.Mutex
	snap   *directory.Snapshot // what every component serves; nil before the first load
	fullAt time.Time           // when the snapshot's lineage last read everything
}

// add gives c the current snapshot and then every later Update.
func (r *reloader) add(c Component) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap != nil {
		if err := c.Apply(Update{Directory: r.snap}); err != nil {
			return err
		}
	}
	r.components = append(r.components, c)
	return nil
}

// reload brings every component to the store's current revision.
func (r *reloader) reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rev, err := r.store.Revision(ctx)
	if err != nil {
		return err // the store's error says "read store revision"
	}
	if r.snap != nil && rev == r.snap.Revision {
		return nil
	}
	u, fullAt, err := r.next(ctx)
	if err != nil {
		return err
	}
	for _, c := range r.components {
		if err := c.Apply(u); err != nil {
			return fmt.Errorf("apply directory revision %d: %w", u.Directory.Revision, err)
		}
	}
	r.snap, r.fullAt = u.Directory, fullAt
	r.current.Store(u.Directory)
	return nil
}

func (r *reloader) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// next builds the update to the store's current state, with when its
// lineage last read everything (now after a full load).
func (r *reloader) next(ctx context.Context) (Update, time.Time, error) {
	now := r.clock()
	if r.snap != nil && now.Sub(r.fullAt) < fullReloadInterval {
		d, ok, err := r.store.ChangesSince(ctx, r.snap.Revision, maxDeltaObjects)
		if err != nil {
			return Update{}, time.Time{}, err
		}
		if ok {
			return Update{Directory: r.snap.Apply(d.Changes), Changes: &d.Changes, SigningKeys: d.SigningKeys}, r.fullAt, nil
		}
		r.log.Info("directory changed too much for an incremental reload; reading all of it", "revision", r.snap.Revision)
	}
	state, err := r.store.Load(ctx)
	if err != nil {
		return Update{}, time.Time{}, fmt.Errorf("load directory: %w", err)
	}
	return Update{
		Directory:   directory.NewSnapshot(state.Revision, state.Tenants, state.Applications, state.Grants, state.APIs).WithConnectors(state.Connectors),
		SigningKeys: state.SigningKeys,
	}, now, nil
}

// snapshot returns the snapshot every component serves; nil before the
// first load. It never waits for a reload (which may be waiting for an
// unreachable database).
func (r *reloader) snapshot() *directory.Snapshot { return r.current.Load() }

func (r *reloader) reloadLogged(ctx context.Context) {
	r.paceOnce.Do(func() { r.pace = ratelog.New(r.log, ratelog.DefaultInterval, nil) })
	if err := r.reload(ctx); err != nil {
		// Once per interval during an outage, with the count of failures.
		r.pace.Warn("directory-reload", "directory reload failed; still serving the previous snapshot", "err", err)
		return
	}
	r.pace.Reset("directory-reload", "directory reload works again; the snapshot is current")
}

// run reloads when the store revision moves: on every wake-up (a
// PostgreSQL notification that another node committed a change, or the
// listener reconnecting) and, as the safety net for a lost notification, by
// polling the revision every interval. If the database is unreachable the
// node keeps serving from its snapshot (static stability).
func (r *reloader) run(ctx context.Context, interval time.Duration, wake <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r.reloadLogged(rctx)
		cancel()
	}
}

// wakeSignal is a wake-up channel that never blocks its sender: wake-ups
// that arrive while one is pending merge into it.
type wakeSignal chan struct{}

func newWakeSignal() wakeSignal { return make(wakeSignal, 1) }

func (w wakeSignal) wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}
