package sts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
)

// Config configures the token service. Zero values take the documented
// defaults.
type Config struct {
	// PublicURL is the "https://host[:port]" base of every URL the service
	// publishes (issuer, endpoints). Empty derives it from each request's
	// Host header ("https://"+r.Host); set it in production so that a
	// client-chosen Host cannot change the issuer it is told.
	PublicURL string
	// KeyPrepublish is how long a new signing key is in the JWKS before it
	// signs (default 24h), so that validators caching the JWKS know it.
	KeyPrepublish time.Duration
	// KeyRotationInterval is how often signing keys rotate (default 30 days).
	KeyRotationInterval time.Duration
	// Logger receives request failures and rotation events (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// NodeID names this node as holder of the rotation lease (default random).
	NodeID string
	// AssertionLeeway is the clock skew tolerated on client assertion
	// exp/nbf/iat (default 5 minutes).
	AssertionLeeway time.Duration
	// MaxAssertionLifetime bounds exp−nbf (or exp−iat) of a client assertion
	// (default 10 minutes; MSAL uses exactly 10).
	MaxAssertionLifetime time.Duration
	// DefaultTokenLifetime is the access-token lifetime when the resource sets
	// none (default 1h).
	DefaultTokenLifetime time.Duration
	// MaxTokenLifetime caps every access-token lifetime (default 24h); a
	// retired signing key stays published this long after its successor
	// activates.
	MaxTokenLifetime time.Duration
	// MaxBodyBytes limits the token request body (default 64 KiB).
	MaxBodyBytes int64
	// FailedAuthPerClient limits failed authentications per client id
	// (default one per 3 s, burst 20).
	FailedAuthPerClient RateLimit
	// FailedAuthPerSource limits failed authentications per source IP
	// address (default one per second, burst 100). The address is the TCP
	// peer: behind a reverse proxy all clients share the proxy's address.
	FailedAuthPerSource RateLimit
	// ReplayCacheSize bounds the remembered client-assertion jti values
	// (default 1,048,576).
	ReplayCacheSize int
	// Enricher, when set, adds claims to every token before it is minted,
	// or blocks issuance (the token-issuance connector's seam).
	Enricher Enricher
	// ReplayLog, when set, makes jti replay refusal cluster-wide: every
	// assertion this node's cache accepts is also recorded there (one
	// database write per assertion-authenticated token; secret-authenticated
	// clients write nothing). Nil: this node's cache alone.
	ReplayLog ReplayLog
	// FailureLog, when set, hears every failed authentication counted, to
	// share it with the other nodes (see TakeFailures).
	FailureLog FailureLog
	// FederationHTTPClient fetches external issuers' discovery documents
	// and JWKS for federated identity credentials (default: a client with
	// a 10-second timeout and the system's trusted roots).
	FederationHTTPClient *http.Client
	// MaxFederatedTokenLifetime bounds exp−nbf (or exp−iat) of a token from
	// an external issuer (default 24h: Kubernetes projected service-account
	// tokens commonly live one hour, up to a day).
	MaxFederatedTokenLifetime time.Duration
}

// RateLimit is a token bucket: Burst failures at once, then one more per
// Every. A negative Burst disables the limit; zero values take the default.
type RateLimit struct {
	Every time.Duration
	Burst int
}

func (c *Config) setDefaults() {
	if c.KeyPrepublish <= 0 {
		c.KeyPrepublish = 24 * time.Hour
	}
	if c.KeyRotationInterval <= 0 {
		c.KeyRotationInterval = 30 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NodeID == "" {
		c.NodeID = "sts-" + newID()
	}
	if c.AssertionLeeway <= 0 {
		c.AssertionLeeway = 5 * time.Minute
	}
	if c.MaxAssertionLifetime <= 0 {
		c.MaxAssertionLifetime = 10 * time.Minute
	}
	if c.DefaultTokenLifetime <= 0 {
		c.DefaultTokenLifetime = time.Hour
	}
	if c.MaxTokenLifetime <= 0 {
		c.MaxTokenLifetime = 24 * time.Hour
	}
	if c.DefaultTokenLifetime > c.MaxTokenLifetime {
		c.DefaultTokenLifetime = c.MaxTokenLifetime
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.FailedAuthPerClient.Every <= 0 {
		c.FailedAuthPerClient.Every = 3 * time.Second
	}
	if c.FailedAuthPerClient.Burst == 0 {
		c.FailedAuthPerClient.Burst = 20
	}
	if c.FailedAuthPerSource.Every <= 0 {
		c.FailedAuthPerSource.Every = time.Second
	}
	if c.FailedAuthPerSource.Burst == 0 {
		c.FailedAuthPerSource.Burst = 100
	}
	if c.MaxFederatedTokenLifetime <= 0 {
		c.MaxFederatedTokenLifetime = 24 * time.Hour
	}
	if c.ReplayCacheSize <= 0 {
		c.ReplayCacheSize = 1 << 20
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// KeyStore is what the token service needs from the store: its signing
// keys and the rotation lease. The store adapters (internal/store) implement it.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context, tenantID string) ([]SigningKey, error)
	DeleteSigningKey(ctx context.Context, tenantID, kid string) error
	TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
}

// Sealer seals and opens the signing keys' private keys at rest (aad
// "signing-key/<tenant>/<kid>"); *seal.Sealer implements it, and so does
// *seal.Keyring, which also opens keys sealed under previous root keys
// while a root-key rotation is under way.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Server is the token service. It is safe for concurrent use; the directory
// and keys it serves from are swapped atomically by Apply.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	st     KeyStore
	sealer Sealer

	cur atomic.Pointer[state]

	applyMu  sync.Mutex
	unsealed map[string]*signingKey // tenant/kid → key, reused across Apply calls

	issuer *Issuer

	replay        *replayCache
	shared        *sharedReplay // nil without Config.ReplayLog
	clientLimiter *failureLimiter
	sourceLimiter *failureLimiter
	certs         certCache
	federation    *issuerKeySources
	metrics       *metrics
}

// state is one immutable generation of what the service serves from.
type state struct {
	snap *directory.Snapshot
	keys map[string][]*signingKey // tenant id → keys ordered by activation
}

// New returns a token service that serves nothing until the first Apply.
func New(cfg Config, st KeyStore, sealer Sealer) *Server {
	cfg.setDefaults()
	if cfg.KeyPrepublish >= cfg.KeyRotationInterval {
		cfg.Logger.Warn("key prepublish period is not shorter than the rotation interval; using half the interval",
			"prepublish", cfg.KeyPrepublish, "rotation_interval", cfg.KeyRotationInterval)
		cfg.KeyPrepublish = cfg.KeyRotationInterval / 2
	}
	s := &Server{
		cfg:           cfg,
		log:           cfg.Logger,
		now:           cfg.Now,
		st:            st,
		sealer:        sealer,
		unsealed:      make(map[string]*signingKey),
		replay:        newReplayCache(cfg.ReplayCacheSize),
		clientLimiter: newFailureLimiter(cfg.FailedAuthPerClient, maxLimiterEntries),
		sourceLimiter: newFailureLimiter(cfg.FailedAuthPerSource, maxLimiterEntries),
		metrics:       newMetrics(),
	}
	if cfg.ReplayLog != nil {
		s.shared = newSharedReplay(cfg.ReplayLog, func(err error) {
			cfg.Logger.Warn("client assertion ids cannot be recorded for the cluster; accepting assertions on this node's replay cache alone until the database answers (an assertion could be replayed once on each other node meanwhile; see portcullis_sts_replay_unshared_total)", "err", err)
		}, func() {
			cfg.Logger.Info("client assertion ids are recorded for the cluster again")
		})
	}
	s.federation = newIssuerKeySources(cfg.FederationHTTPClient, cfg.Now, cfg.Logger)
	s.issuer = &Issuer{cur: &s.cur, log: cfg.Logger, defaultLifetime: cfg.DefaultTokenLifetime, maxLifetime: cfg.MaxTokenLifetime}
	s.cur.Store(&state{snap: directory.NewSnapshot(0, nil, nil, nil, nil), keys: map[string][]*signingKey{}})
	return s
}

// Issuer returns the service's token issuer (the minting phase), which
// signs with the keys of the state Apply installed last.
func (s *Server) Issuer() *Issuer { return s.issuer }

// Snapshot returns the directory snapshot currently served.
func (s *Server) Snapshot() *directory.Snapshot { return s.cur.Load().snap }

// Register adds the token service's routes to mux: discovery, JWKS and the
// token endpoint, each under /{tenant}/ (tenant id or name, any case).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
}

// baseURL is the public base for this request, without a trailing slash.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return "https://" + r.Host
}

// newID returns a random lower-case GUID.
func newID() string { return uuid.NewString() }

// randomToken returns 16 random bytes in base64url (the uti claim).
func randomToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// logLevelFor logs throttling and server-side problems as warnings and
// ordinary client mistakes at info.
func logLevelFor(e *Error) slog.Level {
	if e.Status >= 500 || e.Status == http.StatusTooManyRequests {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
