package guard

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OIDCKeySource limits and defaults.
const (
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultMaxKeys            = 100
	DefaultFetchTimeout       = 10 * time.Second
	maxDocumentBytes          = 1 << 20
)

// OIDCOptions tunes an OIDCKeySource; the zero value is a sound default.
type OIDCOptions struct {
	// HTTPClient fetches the discovery document and the JWKS (default: a
	// client with FetchTimeout). Its redirect policy is replaced by one
	// that refuses redirects away from https.
	HTTPClient *http.Client
	// RefreshInterval is how old the key set may grow before it is
	// refreshed in the background, on the next lookup (default 1 hour).
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two fetches, however
	// many unknown kids arrive (default 30 seconds).
	MinRefetchInterval time.Duration
	// MaxKeys bounds the keys kept from one JWKS (default 100).
	MaxKeys int
	// FetchTimeout bounds one refresh, discovery and JWKS together
	// (default 10 seconds).
	FetchTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives fetch failures and skipped keys (default slog.Default()).
	Logger *slog.Logger
}

// OIDCKeySource is a KeySource for one OpenID Connect issuer (Portcullis,
// Entra ID, any OIDC provider): it reads {issuer}/.well-known/openid-configuration,
// checks that the document names exactly that issuer, and loads the keys
// at its jwks_uri. An unknown kid triggers a refetch (one at a time, at
// most one per MinRefetchInterval); the key set is refreshed when older
// than RefreshInterval; when a fetch fails the last good key set is kept,
// and a kid it does not hold is answered ErrKeySourceUnavailable (503: it
// may be a rotation the outage hides) until a fetch succeeds again.
//
// NewJWKSKeySource makes one for an issuer without a discovery document:
// the same rules over a fixed JWKS URL.
type OIDCKeySource struct {
	issuer       string
	discovery    string // empty for a JWKS-only source
	jwksURI      string // fixed JWKS URL of a JWKS-only source (NewJWKSKeySource)
	loopbackHTTP bool   // the issuer (or fixed JWKS URL) is http:// on a loopback address (development)
	client       *http.Client
	refresh      time.Duration
	minRefetch   time.Duration
	maxKeys      int
	timeout      time.Duration
	now          func() time.Time
	log          *slog.Logger

	set atomic.Pointer[keySet]

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	inflight    *fetchCall
}

type keySet struct {
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

type fetchCall struct {
	done   chan struct{}
	err    error
	joined int // callers that joined this fetch instead of starting one (guarded by mu)
}

// NewOIDCKeySource returns a key source for issuerURL, for example
// "https://localhost:8443/{tenant}/v2.0" or
// "https://login.microsoftonline.com/{tenant}/v2.0". The issuer must be
// https, or http on a loopback address. It loads the key set once within
// ctx; if that fails the error is logged and the source still returned, so
// that a service can start while its identity provider is down: lookups
// then answer ErrKeySourceUnavailable until a fetch succeeds. Call Refresh
// to fail fast instead.
func NewOIDCKeySource(ctx context.Context, issuerURL string, opts OIDCOptions) (*OIDCKeySource, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("guard: issuer URL %q is not an absolute URL without query, fragment or user info", clip(issuerURL, 200))
	}
	s := newKeySource(issuerURL, opts)
	s.discovery = strings.TrimSuffix(issuerURL, "/") + "/.well-known/openid-configuration"
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		s.loopbackHTTP = true
	default:
		return nil, fmt.Errorf("guard: issuer URL %q must be https (http only on a loopback address)", clip(issuerURL, 200))
	}
	return s.open(ctx, opts)
}

// NewJWKSKeySource returns a key source for an issuer that publishes no
// discovery document, only a JWK Set at jwksURL (a Kubernetes cluster
// whose service-account issuer is private, for example): tokens must name
// issuer as iss, and their keys are read from jwksURL with the same
// refetch, refresh and last-good rules as NewOIDCKeySource. issuer is not
// fetched and may be any non-empty string; jwksURL must be https, or http
// on a loopback address.
func NewJWKSKeySource(ctx context.Context, issuer, jwksURL string, opts OIDCOptions) (*OIDCKeySource, error) {
	if issuer == "" {
		return nil, errors.New("guard: the issuer of a JWKS key source is empty; give the iss value its tokens carry")
	}
	u, err := url.Parse(jwksURL)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("guard: JWKS URL %q is not an absolute URL without fragment or user info", clip(jwksURL, 200))
	}
	s := newKeySource(issuer, opts)
	s.jwksURI = jwksURL
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		s.loopbackHTTP = true
	default:
		return nil, fmt.Errorf("guard: JWKS URL %q must be https (http only on a loopback address)", clip(jwksURL, 200))
	}
	return s.open(ctx, opts)
}

func newKeySource(issuer string, opts OIDCOptions) *OIDCKeySource {
	s := &OIDCKeySource{
		issuer:     issuer,
		refresh:    cmp.Or(opts.RefreshInterval, DefaultRefreshInterval),
		minRefetch: cmp.Or(opts.MinRefetchInterval, DefaultMinRefetchInterval),
		maxKeys:    cmp.Or(opts.MaxKeys, DefaultMaxKeys),
		timeout:    cmp.Or(opts.FetchTimeout, DefaultFetchTimeout),
		now:        opts.Now,
		log:        cmp.Or(opts.Logger, slog.Default()),
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// open checks the options, sets up the HTTP client and loads the key
// set once.
func (s *OIDCKeySource) open(ctx context.Context, opts OIDCOptions) (*OIDCKeySource, error) {
	if s.refresh < 0 || s.minRefetch < 0 || s.maxKeys < 0 || s.timeout < 0 {
		return nil, errors.New("guard: OIDCOptions durations and MaxKeys must not be negative")
	}
	c := http.Client{Timeout: s.timeout}
	if opts.HTTPClient != nil {
		c = *opts.HTTPClient
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return s.checkURL(req.URL)
	}
	s.client = &c
	s.Refresh(ctx) // a failure is logged; Key answers ErrKeySourceUnavailable until a load succeeds
	return s, nil
}

// Issuer returns the issuer this source reads.
func (s *OIDCKeySource) Issuer() string { return s.issuer }

// Key implements KeySource.
func (s *OIDCKeySource) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	if issuer != s.issuer {
		return nil, fmt.Errorf("issuer %q is not %q, the issuer whose keys this source reads", clip(issuer, 100), s.issuer)
	}
	set := s.set.Load()
	if set != nil {
		if k, ok := set.keys[kid]; ok {
			if s.now().Sub(set.fetched) >= s.refresh {
				s.start(false) // refresh in the background; answer from the current set
			}
			return k, nil
		}
	}
	// Unknown kid (a rotation we have not seen yet) or never loaded.
	c := s.start(false)
	if c != nil && MustNotWait(ctx) {
		return nil, fmt.Errorf("%w: the key set of %s is being fetched (%w)", ErrKeySourceUnavailable, s.issuer, ErrWouldWait)
	}
	err := s.wait(ctx, c)
	if set = s.set.Load(); set == nil {
		if err == nil {
			err = s.lastError()
		}
		return nil, fmt.Errorf("%w: the signing keys of %s were never loaded (%v)", ErrKeySourceUnavailable, s.issuer, err)
	}
	if k, ok := set.keys[kid]; ok {
		return k, nil
	}
	if ferr := s.failing(); ferr != nil {
		// The kid may be a rotation we cannot see during the outage: the
		// caller is not at fault, so "cannot tell now" (503), not 401.
		return nil, fmt.Errorf("%w: kid %q is not in the last good key set of %s, which cannot be refreshed now (%v)",
			ErrKeySourceUnavailable, clip(kid, 64), s.issuer, ferr)
	}
	return nil, fmt.Errorf("kid %q is not in the key set of %s", clip(kid, 64), s.issuer)
}

// Refresh fetches the key set now (joining a fetch under way) and returns
// the fetch's error; on error the last good key set is kept.
func (s *OIDCKeySource) Refresh(ctx context.Context) error {
	c := s.start(true)
	if err := s.wait(ctx, c); err != nil {
		return err
	}
	return c.err
}

// start returns the fetch under way, or begins one unless the last began
// less than MinRefetchInterval ago (force ignores that limit); nil when
// no fetch runs.
func (s *OIDCKeySource) start(force bool) *fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		s.inflight.joined++
		return s.inflight
	}
	now := s.now()
	if !force && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minRefetch {
		return nil
	}
	c := &fetchCall{done: make(chan struct{})}
	s.inflight, s.lastAttempt = c, now
	go func() {
		// The fetch outlives the request that started it: other requests
		// wait for it too.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		err := s.load(ctx)
		if err != nil {
			s.log.Warn("guard: loading the issuer's signing keys failed; the last good keys stay in use (without any, tokens are refused with 503)", "issuer", s.issuer, "error", err)
		}
		s.mu.Lock()
		c.err, s.lastErr, s.inflight = err, err, nil
		s.mu.Unlock()
		close(c.done)
	}()
	return c
}

// wait waits for c (nil: nothing to wait for) or ctx.
func (s *OIDCKeySource) wait(ctx context.Context, c *fetchCall) error {
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failing returns the error of the last fetch, nil when it succeeded.
func (s *OIDCKeySource) failing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *OIDCKeySource) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return errors.New("no fetch succeeded yet")
	}
	return s.lastErr
}

// load fetches discovery (unless the JWKS URL is fixed) and the JWKS and
// swaps the key set in.
func (s *OIDCKeySource) load(ctx context.Context) error {
	ju, err := s.jwksURL(ctx)
	if err != nil {
		return err
	}
	b, err := s.get(ctx, ju.String())
	if err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	keys, skipped, err := parseJWKS(b, s.maxKeys)
	if err != nil {
		return fmt.Errorf("JWKS at %s: %w", ju, err)
	}
	if len(skipped) > 0 {
		s.log.Info("guard: some keys of the issuer's JWKS were skipped", "issuer", s.issuer, "skipped", skipped)
	}
	if len(keys) == 0 {
		return fmt.Errorf("JWKS at %s has no usable signature key", ju)
	}
	s.set.Store(&keySet{keys: keys, fetched: s.now()})
	return nil
}

// jwksURL returns the fixed JWKS URL, or the one the discovery document
// names.
func (s *OIDCKeySource) jwksURL(ctx context.Context) (*url.URL, error) {
	if s.jwksURI != "" {
		return url.Parse(s.jwksURI)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	b, err := s.get(ctx, s.discovery)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("discovery document at %s is not JSON: %s", s.discovery, clip(err.Error(), 100))
	}
	// OpenID Connect Discovery 1.0 §4.3: the issuer must be identical to
	// the one the document was fetched for.
	if doc.Issuer != s.issuer {
		return nil, fmt.Errorf("discovery document at %s names issuer %q, not %q; configure the issuer exactly as the provider names it", s.discovery, clip(doc.Issuer, 200), s.issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || doc.JWKSURI == "" {
		return nil, fmt.Errorf("discovery document at %s has no valid jwks_uri", s.discovery)
	}
	if err := s.checkURL(ju); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return ju, nil
}

// checkURL allows https, and http to a loopback host when the issuer
// itself is http on loopback.
func (s *OIDCKeySource) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && s.loopbackHTTP && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s is not https", clip(u.Redacted(), 200))
}

func (s *OIDCKeySource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocumentBytes {
		return nil, fmt.Errorf("GET %s: the response is larger than %d bytes", u, maxDocumentBytes)
	}
	return b, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
