package outbound

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Client-credentials token timing.
const (
	// refreshAhead is the most a token is refreshed ahead of its expiry;
	// a short-lived token is refreshed at half its lifetime instead.
	refreshAhead = 5 * time.Minute
	// unknownLifetime is assumed when the token endpoint gives no expiry.
	unknownLifetime = 5 * time.Minute
	// Backoff after a failed token request: doubled from minBackoff up to
	// maxBackoff, with ±20% jitter so that many callers do not retry at once.
	minBackoff   = time.Second
	maxBackoff   = time.Minute
	tokenTimeout = 30 * time.Second
	// notReadyRetry is how soon a token is asked for again when the
	// credential was not resolved from the vault yet.
	notReadyRetry = 100 * time.Millisecond
	// tokenCheckInterval is how often the refresher looks at the clock.
	tokenCheckInterval = time.Second
)

// tokenSource obtains, caches and refreshes a client-credentials token.
// The current token is read with one atomic load; the background loop
// refreshes it ahead of expiry; a failure keeps the old token while it is
// valid and backs off with jitter. Requests are single-flight.
type tokenSource struct {
	tokenURL, clientID, scope string
	secret, cert              *vaultwatch.Handle
	client                    *oauthclient.Client
	now                       func() time.Time
	owner                     string
	log                       *slog.Logger

	cur atomic.Pointer[cachedToken]

	mu       sync.Mutex
	flight   *tokenFlight
	failures int
	lastErr  error
	retryAt  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
}

// cachedToken is a token as Apply uses it; its String never shows it.
type cachedToken struct {
	header    string // "Bearer " + access token
	expiresAt time.Time
	refreshAt time.Time
}

func (t *cachedToken) String() string {
	return "bearer token expiring at " + t.expiresAt.UTC().Format(time.RFC3339)
}

type tokenFlight struct {
	done chan struct{}
	err  error
}

func newTokenSource(spec ClientCredentialsSpec, opts Options, refs *refResolver) (*tokenSource, error) {
	c := refs.c
	ts := &tokenSource{clientID: spec.ClientID, scope: spec.Scope, now: opts.Now, owner: opts.Name, log: opts.Logger, kick: make(chan struct{}, 1)}
	switch {
	case spec.ClientID == "":
		return nil, c.errorf("bearer.clientCredentials.clientId is required")
	case spec.Scope == "":
		return nil, c.errorf("bearer.clientCredentials.scope is required (for example api://orders/.default)")
	case (spec.Authority == "") == (spec.TokenEndpoint == ""):
		return nil, c.errorf("bearer.clientCredentials: give exactly one of authority and tokenEndpoint")
	case spec.Authority != "":
		ts.tokenURL = strings.TrimRight(spec.Authority, "/") + "/oauth2/v2.0/token"
	default:
		ts.tokenURL = spec.TokenEndpoint
	}
	u, err := url.Parse(ts.tokenURL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, c.errorf("bearer.clientCredentials: token endpoint %q is not an absolute http(s) URL", clip(ts.tokenURL, 200))
	}
	if u.Scheme == "http" && !opts.AllowInsecureAuth {
		return nil, c.errorf("bearer.clientCredentials: the client credential would be sent in the clear to %s: use https, or set allowInsecureAuth for a development authority", clip(ts.tokenURL, 200))
	}
	switch {
	case (spec.ClientSecret == "") == (spec.ClientCertificate == ""):
		return nil, c.errorf("bearer.clientCredentials: give exactly one of clientSecret and clientCertificate")
	case spec.ClientSecret != "":
		if ts.secret, err = refs.acquire("bearer.clientCredentials.clientSecret", spec.ClientSecret, vault.Secrets, ts.credentialChanged); err != nil {
			return nil, err
		}
	default:
		if ts.cert, err = refs.acquire("bearer.clientCredentials.clientCertificate", spec.ClientCertificate, vault.Certificates, ts.credentialChanged); err != nil {
			return nil, err
		}
	}
	hc := opts.TokenClient
	if hc == nil {
		hc = &http.Client{Timeout: tokenTimeout}
	}
	ts.client = &oauthclient.Client{HTTPClient: hc, Now: opts.Now}
	ts.ctx, ts.cancel = context.WithCancel(context.Background())
	return ts, nil
}

// start runs the background refresher.
func (ts *tokenSource) start() { ts.wg.Go(ts.run) }

func (ts *tokenSource) stop() {
	ts.cancel()
	ts.wg.Wait()
}

// header returns the Authorization value of a valid token; without one
// it joins (or starts) a token request and waits for it within ctx (also
// while the vault has not resolved the client credential yet), unless the
// last request failed less than a backoff ago: then its error returns at
// once, so that requests do not hammer a failing authority.
func (ts *tokenSource) header(ctx context.Context) (string, error) {
	for {
		if t := ts.cur.Load(); t != nil && ts.now().Before(t.expiresAt) {
			return t.header, nil
		}
		ts.mu.Lock()
		if ts.flight == nil && ts.lastErr != nil && !errors.Is(ts.lastErr, ErrNotReady) && ts.now().Before(ts.retryAt) {
			err := ts.lastErr
			ts.mu.Unlock()
			return "", err
		}
		f := ts.startFlightLocked()
		ts.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", ts.notYet(ctx)
		}
		switch {
		case errors.Is(f.err, ErrNotReady):
			// The vault has not resolved the client credential yet.
			select {
			case <-time.After(notReadyRetry):
				continue
			case <-ctx.Done():
				return "", f.err
			}
		case f.err != nil:
			return "", f.err
		}
		if t := ts.cur.Load(); t != nil && ts.now().Before(t.expiresAt) {
			return t.header, nil
		}
		return "", fmt.Errorf("the token from %s expired as it arrived; check the clocks", ts.tokenURL)
	}
}

// credentialChanged is called (from the vault watcher; it does not block)
// when a new client secret or certificate version replaces the one the
// last request was made with. After a refused request that new version is
// most often the fix: it is tried at once rather than after a backoff of up
// to a minute. A valid token is kept: the change does not revoke it.
func (ts *tokenSource) credentialChanged() {
	ts.mu.Lock()
	failing := ts.lastErr != nil && !errors.Is(ts.lastErr, ErrNotReady)
	if failing {
		ts.failures, ts.retryAt = 0, ts.now()
	}
	ts.mu.Unlock()
	if failing {
		select {
		case ts.kick <- struct{}{}:
		default:
		}
	}
}

// notYet says why no token could be had before ctx ended. When the last
// request failed, the failure says it (the request under way is a retry);
// otherwise a token is on its way. ctx.Err() itself is not shown: the
// gateway applies the credential under a context that is already done so
// that it never waits, and "context canceled" would tell its callers
// nothing.
func (ts *tokenSource) notYet(ctx context.Context) error {
	ts.mu.Lock()
	last := ts.lastErr
	ts.mu.Unlock()
	switch {
	case last != nil && !errors.Is(last, ErrNotReady):
		return last
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: no token from %s within the call's time limit; the request goes on in the background", ErrNotReady, ts.tokenURL)
	}
	return fmt.Errorf("%w: a token is being requested from %s; retry in a moment", ErrNotReady, ts.tokenURL)
}

// startFlightLocked returns the token request in flight, starting one.
func (ts *tokenSource) startFlightLocked() *tokenFlight {
	if ts.flight != nil {
		return ts.flight
	}
	f := &tokenFlight{done: make(chan struct{})}
	ts.flight = f
	ts.wg.Go(func() {
		err := ts.fetch()
		ts.mu.Lock()
		f.err = err
		ts.flight = nil
		switch {
		case errors.Is(err, ErrNotReady):
			// The vault has not resolved the credential yet: soon, not a failure.
			ts.lastErr, ts.retryAt = err, ts.now().Add(notReadyRetry)
		case err != nil:
			ts.failures++
			ts.lastErr = err
			ts.retryAt = ts.now().Add(backoff(ts.failures, rand.Float64()))
		default:
			ts.failures, ts.lastErr = 0, nil
		}
		ts.mu.Unlock()
		close(f.done)
		select {
		case ts.kick <- struct{}{}: // the refresher re-plans
		default:
		}
	})
	return f
}

// fetch requests a token with the current credential.
func (ts *tokenSource) fetch() error {
	var cred oauthclient.Credential
	switch {
	case ts.secret != nil:
		v := ts.secret.Load()
		if v == nil || v.Secret == nil {
			return fmt.Errorf("%w: client secret %s", ErrNotReady, ts.secret.Problem())
		}
		cred = oauthclient.SecretCredential(oauthclient.NewSecret(string(v.Secret.Value)))
	default:
		v := ts.cert.Load()
		if v == nil || v.Certificate == nil {
			return fmt.Errorf("%w: client certificate %s", ErrNotReady, ts.cert.Problem())
		}
		if v.Certificate.TLS == nil {
			return fmt.Errorf("client certificate %s version %s has no private key in the vault", ts.cert.Ref(), v.Version)
		}
		key, ok := v.Certificate.TLS.PrivateKey.(crypto.Signer)
		if !ok {
			return fmt.Errorf("client certificate %s version %s: its private key cannot sign", ts.cert.Ref(), v.Version)
		}
		var err error
		if cred, err = oauthclient.CertificateCredential(v.Certificate.Leaf, key); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ts.ctx, tokenTimeout)
	defer cancel()
	sent := ts.now()
	tok, err := ts.client.RequestToken(ctx, ts.tokenURL, ts.clientID, cred, ts.scope)
	if err != nil {
		return err
	}
	if !strings.EqualFold(tok.TokenType, "bearer") {
		return fmt.Errorf("token from %s has type %q, want Bearer", ts.tokenURL, clip(tok.TokenType, 40))
	}
	if hasControl(tok.AccessToken) || strings.ContainsAny(tok.AccessToken, " ") {
		return fmt.Errorf("token from %s cannot be sent in an HTTP header (spaces or control characters)", ts.tokenURL)
	}
	exp := tok.ExpiresAt
	if exp.IsZero() {
		exp = sent.Add(unknownLifetime)
	}
	ts.cur.Store(&cachedToken{header: "Bearer " + tok.AccessToken, expiresAt: exp, refreshAt: refreshTime(sent, exp)})
	return nil
}

// refreshTime is when a token obtained at issued and expiring at exp is
// refreshed: refreshAhead before expiry, or at half its lifetime when
// that is sooner.
func refreshTime(issued, exp time.Time) time.Time {
	life := exp.Sub(issued)
	if life <= 0 {
		return issued
	}
	return exp.Add(-min(refreshAhead, life/2))
}

// backoff is the wait after the n-th consecutive failure (n ≥ 1); r in
// [0,1) draws the ±20% jitter.
func backoff(n int, r float64) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// run is the refresher: it gets a first token, then refreshes each one
// once its refresh time has passed, retrying after a backoff when a request
// fails (the old token keeps being served while it is valid). It checks
// the clock every tokenCheckInterval rather than sleeping until a planned
// instant, so that a clock that jumps (a suspended host) is followed.
func (ts *tokenSource) run() {
	tick := time.NewTicker(tokenCheckInterval)
	defer tick.Stop()
	for {
		if ts.due() {
			ts.mu.Lock()
			f := ts.startFlightLocked()
			ts.mu.Unlock()
			select {
			case <-f.done:
			case <-ts.ctx.Done():
				return
			}
			if f.err != nil && !errors.Is(f.err, ErrNotReady) {
				if t := ts.cur.Load(); t != nil && ts.now().Before(t.expiresAt) {
					ts.log.Warn("outbound: token refresh failed; keeping the current token while it is valid", "owner", ts.owner, "expires", t.expiresAt, "err", f.err)
				} else {
					ts.log.Warn("outbound: token request failed", "owner", ts.owner, "err", f.err)
				}
			}
		}
		select {
		case <-ts.ctx.Done():
			return
		case <-ts.kick:
		case <-tick.C:
		}
	}
}

// due reports whether a token request should start now: no token, or its
// refresh time has passed, and no backoff is running.
func (ts *tokenSource) due() bool {
	now := ts.now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.flight != nil || ts.lastErr != nil && now.Before(ts.retryAt) {
		return false
	}
	t := ts.cur.Load()
	return t == nil || !now.Before(t.refreshAt)
}
