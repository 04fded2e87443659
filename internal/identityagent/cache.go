package identityagent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// A TokenSource obtains an access token for an application identity from
// the token service; scope is "{resource}/.default".
type TokenSource interface {
	Token(ctx context.Context, clientID, scope string) (oauthclient.Token, error)
}

// ClientCredentials is the TokenSource of a real agent: the
// client-credentials grant at TokenURL for the identity's application,
// authenticated with the host's certificate (a client assertion).
type ClientCredentials struct {
	TokenURL   string
	Credential oauthclient.Credential
	Client     *oauthclient.Client // nil: the default client
}

// Token requests a token for clientID and scope.
func (c ClientCredentials) Token(ctx context.Context, clientID, scope string) (oauthclient.Token, error) {
	cl := c.Client
	if cl == nil {
		cl = &oauthclient.Client{}
	}
	return cl.RequestToken(ctx, c.TokenURL, clientID, c.Credential, scope)
}

const (
	// refreshAhead is how long before expiry a cached token is replaced;
	// for tokens living less than twice as long, half their lifetime.
	refreshAhead = 5 * time.Minute
	// minRemaining is the least lifetime a token handed out from the cache
	// has left, so that the caller can still use it.
	minRemaining = time.Minute
	// fetchTimeout bounds one token request to the token service.
	fetchTimeout = 30 * time.Second
	// retryAfterFailure is how long a failed refresh is not retried while
	// the cached token is still usable.
	retryAfterFailure = 10 * time.Second
	// maxCacheEntries bounds the cache (identities × resources).
	maxCacheEntries = 4096
)

type cacheKey struct{ clientID, resource string }

// flight is one token request in progress; its result is readable once
// done is closed.
type flight struct {
	done chan struct{}
	tok  oauthclient.Token
	err  error
}

type cacheEntry struct {
	tok       oauthclient.Token
	have      bool
	refreshAt time.Time
	flight    *flight
}

// tokenCache keeps one token per (identity, resource) and refreshes it
// ahead of expiry with at most one request in flight per key: callers that
// arrive while a refresh runs get the still-valid cached token, or wait for
// the refresh when there is none.
type tokenCache struct {
	src  TokenSource
	now  func() time.Time
	base context.Context // token requests outlive the caller that started them, not the agent

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
}

func newTokenCache(base context.Context, src TokenSource, now func() time.Time) *tokenCache {
	return &tokenCache{src: src, now: now, base: base, entries: map[cacheKey]*cacheEntry{}}
}

// Get returns a token of clientID for resource.
func (c *tokenCache) Get(ctx context.Context, clientID, resource string) (oauthclient.Token, error) {
	k := cacheKey{clientID, resource}
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		c.evictLocked()
		e = &cacheEntry{}
		c.entries[k] = e
	}
	now := c.now()
	if e.have && now.Before(e.refreshAt) {
		tok := e.tok
		c.mu.Unlock()
		return tok, nil
	}
	usable := e.have && now.Before(e.tok.ExpiresAt.Add(-minRemaining))
	cached := e.tok
	f := e.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.flight = f
		go c.fetch(k, e, f)
	}
	c.mu.Unlock()
	if usable {
		return cached, nil
	}
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return oauthclient.Token{}, ctx.Err()
	}
}

// fetch runs one token request and publishes its result.
func (c *tokenCache) fetch(k cacheKey, e *cacheEntry, f *flight) {
	ctx, cancel := context.WithTimeout(c.base, fetchTimeout)
	defer cancel()
	tok, err := c.src.Token(ctx, k.clientID, scopeOf(k.resource))
	if err == nil && tok.AccessToken == "" {
		err = errors.New("the token service answered without an access token")
	}
	if err == nil && tok.ExpiresAt.IsZero() {
		err = errors.New("the token service answered without expires_in")
	}
	c.mu.Lock()
	now := c.now()
	switch {
	case err == nil:
		e.tok, e.have = tok, true
		e.refreshAt = refreshTime(now, tok.ExpiresAt)
	case e.have:
		// Keep handing out the cached token while it is usable, and ask
		// the token service again no sooner than retryAfterFailure.
		e.refreshAt = minTime(now.Add(retryAfterFailure), e.tok.ExpiresAt.Add(-minRemaining))
	}
	e.flight = nil
	f.tok, f.err = tok, err
	c.mu.Unlock()
	close(f.done)
}

// refreshTime is when a token expiring at exp, received at now, is
// replaced: refreshAhead before expiry, or at half its lifetime.
func refreshTime(now, exp time.Time) time.Time {
	ahead := min(refreshAhead, exp.Sub(now)/2)
	return exp.Add(-ahead)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// evictLocked makes room for a new entry: expired entries go first, then
// any entry without a request in flight.
func (c *tokenCache) evictLocked() {
	if len(c.entries) < maxCacheEntries {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		if e.flight == nil && (!e.have || !now.Before(e.tok.ExpiresAt)) {
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < maxCacheEntries {
			return
		}
		if e.flight == nil {
			delete(c.entries, k)
		}
	}
}

// scopeOf turns a managed-identity resource into the client-credentials
// scope: azidentity strips "/.default" from the scope its caller asked
// for; the token endpoint wants it back.
func scopeOf(resource string) string {
	return strings.TrimSuffix(resource, "/.default") + "/.default"
}
