// Package vaultwatch keeps vault references resolved in the background for
// the components that use them on their request path: the gateway (inbound
// secrets, backend CAs) and outbound credentials (Basic passwords, API keys,
// bearer tokens, client certificates).
//
// A [Watcher] polls the vault's revision (vault.Service.Revision) every
// [PollInterval] and resolves every registered reference again when it moves,
// and every [FullRefreshInterval] regardless, since a version's start or
// expiry date passing changes what a version-less reference names without
// any write. Resolution follows vault.Service.Resolve: a version-less
// reference is the newest version that is enabled, started and not expired;
// a pinned version stays pinned. A consumer holds a [Handle] (from
// [Watcher.Acquire]) whose [Handle.Load] is one atomic load: no I/O ever
// happens on the request path. Handles are reference counted; the last
// [Handle.Release] of a reference stops watching it.
package vaultwatch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/vault"
)

// Vault is what a Watcher reads of the vault: the current version of a
// referenced object, and a cheap number that moves whenever anything in
// the vault is written. *vault.Service implements it.
type Vault interface {
	Resolve(ctx context.Context, ref vault.Ref) (vault.Resolved, error)
	Revision(ctx context.Context) (int64, error)
}

// Watcher timing.
const (
	// PollInterval is how often the vault's revision is read: a rotated
	// secret or certificate is served at most about this late.
	PollInterval = time.Second
	// FullRefreshInterval re-resolves everything even when the revision
	// stands still (nbf and exp pass without a write).
	FullRefreshInterval = time.Minute
	resolveTimeout      = 10 * time.Second
)

// NotResolvedYet ends the Problem of a reference that the watcher has not
// resolved a first time: a transient state worth a retry, not an alarm.
const NotResolvedYet = " is not resolved yet; retry in a moment"

// Value is one resolution of a reference; immutable: a new version is a new
// Value. Exactly one of Secret, Certificate and Err is set.
type Value struct {
	// Version is the version id the reference resolved to.
	Version     string
	Secret      *guard.SecretValue
	Certificate *Certificate
	// Err says why the reference has no usable value; its text names the
	// object, never a value.
	Err error
}

// Certificate is a resolved certificate version.
type Certificate struct {
	Leaf *x509.Certificate
	// Chain is the issuing chain stored with the certificate (leaf excluded).
	Chain []*x509.Certificate
	// TLS is the leaf, its chain and private key ready to present in a
	// handshake; nil when the vault holds no private key for it.
	TLS *tls.Certificate
}

// Config configures a Watcher.
type Config struct {
	Vault  Vault
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// Changed, when set, is called after a pass that changed at least one
	// reference; certificates says whether a certificate was among them.
	Changed func(certificates bool)
	// PollInterval is how often the vault's revision is read (0:
	// PollInterval, the constant).
	PollInterval time.Duration
}

// Watcher owns a set of vault references and keeps their values current.
type Watcher struct {
	cfg  Config
	kick chan struct{}
	// moved asks for a revision check now (StoreChanged).
	moved chan struct{}
	// pace keeps an outage of the vault's database to one log line per
	// cause and interval.
	pace *ratelog.Limiter

	mu      sync.Mutex
	entries map[string]*entry // by Ref.String()
}

// entry is one watched reference, shared by the handles on it.
type entry struct {
	ref   vault.Ref
	state atomic.Pointer[Value]
	gen   atomic.Int64
	refs  int                // handles alive; guarded by Watcher.mu
	subs  map[*Handle]func() // handles with a change callback; guarded by Watcher.mu
}

// New returns a Watcher; Run drives it.
func New(cfg Config) *Watcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Watcher{cfg: cfg, kick: make(chan struct{}, 1), moved: make(chan struct{}, 1), entries: map[string]*entry{},
		pace: ratelog.New(cfg.Logger, ratelog.DefaultInterval, nil)}
}

// Handle is one consumer's hold on a watched reference.
type Handle struct {
	w        *Watcher
	e        *entry
	released atomic.Bool
}

// Acquire starts (or joins) watching ref and returns a handle on it. When
// onChange is not nil it is called, from the watcher's goroutine, after
// each pass that changed the reference's value; it must not block. The
// first resolution of a new reference happens in the background soon
// after (the watcher is woken); until then Load returns nil.
func (w *Watcher) Acquire(ref vault.Ref, onChange func()) *Handle {
	key := ref.String()
	w.mu.Lock()
	e, ok := w.entries[key]
	if !ok {
		e = &entry{ref: ref}
		w.entries[key] = e
	}
	e.refs++
	h := &Handle{w: w, e: e}
	if onChange != nil {
		if e.subs == nil {
			e.subs = map[*Handle]func(){}
		}
		e.subs[h] = onChange
	}
	w.mu.Unlock()
	if !ok {
		w.Wake()
	}
	return h
}

// Release gives the handle up; the reference stops being watched when its
// last handle is released. Releasing twice is harmless.
func (h *Handle) Release() {
	if h == nil || !h.released.CompareAndSwap(false, true) {
		return
	}
	w := h.w
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(h.e.subs, h)
	h.e.refs--
	if h.e.refs <= 0 && w.entries[h.e.ref.String()] == h.e {
		delete(w.entries, h.e.ref.String())
	}
}

// Ref returns the reference the handle watches.
func (h *Handle) Ref() vault.Ref { return h.e.ref }

// Load returns the current value, or nil before the first resolution: one
// atomic load, no I/O.
func (h *Handle) Load() *Value { return h.e.state.Load() }

// Generation counts the value's changes, so that a consumer that compiled
// something from a value can tell it must compile again.
func (h *Handle) Generation() int64 { return h.e.gen.Load() }

// Current implements guard.SecretRef: the current secret version, or nil.
func (h *Handle) Current() *guard.SecretValue {
	if v := h.e.state.Load(); v != nil {
		return v.Secret
	}
	return nil
}

// Problem says why the reference cannot be used now, or "" when it can.
func (h *Handle) Problem() string {
	v := h.e.state.Load()
	switch {
	case v == nil:
		return h.e.ref.String() + NotResolvedYet
	case v.Err != nil:
		return fmt.Sprintf("%s cannot be resolved: %v", h.e.ref, v.Err)
	}
	return ""
}

// Len returns how many references are watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.entries)
}

// Settled reports whether every watched reference has been resolved at
// least once (successfully or not).
func (w *Watcher) Settled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.entries {
		if e.state.Load() == nil {
			return false
		}
	}
	return true
}

// Wake asks for a pass now (new references to resolve).
func (w *Watcher) Wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// StoreChanged asks for a check of the vault revision now instead of at the
// next poll: another node committed a change (a PostgreSQL notification),
// so a rotated credential is served as soon as this node hears of it.
func (w *Watcher) StoreChanged() {
	select {
	case w.moved <- struct{}{}:
	default:
	}
}

// Run resolves until ctx ends: a pass over the unresolved references when
// woken, and over all of them when the vault revision moves (read once per
// PollInterval, and at once after StoreChanged) or every
// FullRefreshInterval.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(w.cfg.PollInterval, PollInterval))
	defer t.Stop()
	rev, haveRev := int64(0), false
	var last time.Time
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-w.moved:
			all = true
		case <-t.C:
			all = true
		}
		if all {
			r, err := w.cfg.Vault.Revision(ctx)
			switch {
			case err != nil:
				w.pace.Warn("vaultwatch-revision", "vault references: vault revision unreadable; keeping the resolved credentials", "err", err)
				continue
			case haveRev && r == rev && w.cfg.Now().Sub(last) < FullRefreshInterval:
				continue
			}
			w.pace.Reset("vaultwatch-revision", "vault references: vault revision readable again")
			rev, haveRev, all = r, true, true
		}
		if all {
			last = w.cfg.Now()
		}
		w.pass(ctx, all)
	}
}

// pass resolves the entries (all of them, or only those never resolved)
// and then calls the callbacks of those that changed.
func (w *Watcher) pass(ctx context.Context, all bool) {
	w.mu.Lock()
	todo := make([]*entry, 0, len(w.entries))
	for _, e := range w.entries {
		if all || e.state.Load() == nil {
			todo = append(todo, e)
		}
	}
	w.mu.Unlock()
	var changed []*entry
	certChanged := false
	for _, e := range todo {
		if w.resolve(ctx, e) {
			changed = append(changed, e)
			certChanged = certChanged || e.ref.Type == vault.Certificates
		}
	}
	if len(changed) == 0 {
		return
	}
	var calls []func()
	w.mu.Lock()
	for _, e := range changed {
		for _, f := range e.subs {
			calls = append(calls, f)
		}
	}
	w.mu.Unlock()
	for _, f := range calls {
		f()
	}
	if w.cfg.Changed != nil {
		w.cfg.Changed(certChanged)
	}
}

// resolve refreshes one entry and reports whether its value changed.
func (w *Watcher) resolve(ctx context.Context, e *entry) bool {
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	res, err := w.cfg.Vault.Resolve(rctx, e.ref)
	cancel()
	old := e.state.Load()
	if err != nil {
		if !definitive(err) && old != nil && old.Err == nil {
			// The vault cannot answer now: keep serving what was resolved.
			w.pace.Warn("vaultwatch-reresolve/"+e.ref.String(), "vault reference: cannot re-resolve; keeping its last value", "ref", e.ref.String(), "err", err)
			return false
		}
		// The vault's message names the object, never its value; a store
		// failure becomes "internal vault error" and its cause is logged.
		msg := vault.AsError(err).Message
		if !definitive(err) {
			w.pace.Warn("vaultwatch-resolve/"+e.ref.String(), "vault reference: cannot resolve", "ref", e.ref.String(), "err", err)
		}
		if old == nil || old.Err == nil || old.Err.Error() != msg {
			e.state.Store(&Value{Err: errors.New(msg)})
			e.gen.Add(1)
			return true
		}
		return false
	}
	next := &Value{Version: res.Ref.Version}
	switch {
	case res.Secret != nil:
		if old != nil && old.Secret != nil && old.Secret.Version == res.Secret.Version {
			return false
		}
		next.Version = res.Secret.Version
		next.Secret = &guard.SecretValue{Value: bytes.Clone(res.Secret.Value.Bytes()), Version: res.Secret.Version}
	case res.Certificate != nil && res.Certificate.Leaf != nil:
		if old != nil && old.Certificate != nil && old.Version == next.Version && old.Certificate.Leaf.Equal(res.Certificate.Leaf) {
			return false
		}
		next.Certificate = certificateOf(res.Certificate)
	default:
		next.Err = fmt.Errorf("%s is not a secret or a certificate", e.ref)
	}
	e.state.Store(next)
	e.gen.Add(1)
	return true
}

func certificateOf(rc *vault.ResolvedCertificate) *Certificate {
	c := &Certificate{Leaf: rc.Leaf, Chain: rc.Chain}
	if rc.PrivateKey != nil {
		chain := make([][]byte, 0, 1+len(rc.Chain))
		chain = append(chain, rc.Leaf.Raw)
		for _, x := range rc.Chain {
			if !x.Equal(rc.Leaf) {
				chain = append(chain, x.Raw)
			}
		}
		c.TLS = &tls.Certificate{Certificate: chain, PrivateKey: rc.PrivateKey, Leaf: rc.Leaf}
	}
	return c
}

// definitive reports whether a Resolve error is the vault's answer about
// the object (gone, disabled, malformed) rather than "cannot answer now".
func definitive(err error) bool {
	for _, k := range []vault.ErrorKind{vault.KindNotFound, vault.KindForbidden, vault.KindBadRequest, vault.KindUnsupported} {
		if vault.IsKind(err, k) {
			return true
		}
	}
	return false
}
