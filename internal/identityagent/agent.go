package identityagent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// TokenPath is the path of the token endpoint; IDENTITY_ENDPOINT is
// http://{listen address}{TokenPath}.
const TokenPath = "/msi/token"

// HeaderName is the request header that carries IDENTITY_HEADER (MSAL Go
// sends "X-IDENTITY-HEADER").
const HeaderName = "X-Identity-Header"

// NewHeaderValue returns a fresh per-host header value: 32 random bytes,
// base64url.
func NewHeaderValue() oauthclient.Secret {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return oauthclient.NewSecret(base64.RawURLEncoding.EncodeToString(b[:]))
}

// Config is what an Agent needs.
type Config struct {
	Identities Identities
	// Tokens obtains tokens from the token service (ClientCredentials).
	Tokens TokenSource
	// Header is the per-host value callers must present (NewHeaderValue).
	Header oauthclient.Secret
	// HeaderFile is where callers find Header; named in refusal messages.
	HeaderFile string
	// Log receives refusals (rate-limited) and token service failures;
	// nil: slog.Default().
	Log *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Agent serves the App Service managed-identity protocol on loopback.
type Agent struct {
	ids      Identities
	byClient map[string]Identity
	byName   map[string]Identity
	header   [sha256.Size]byte
	file     string
	log      *slog.Logger
	refusals refusalLog
	cache    *tokenCache
	cancel   context.CancelFunc
}

// New returns an Agent; Close stops its background token requests.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Identities.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tokens == nil {
		return nil, errors.New("identity agent: no token source")
	}
	if len(cfg.Header.Reveal()) < 16 {
		return nil, errors.New("identity agent: the header value is missing or shorter than 16 characters")
	}
	a := &Agent{
		ids:      cfg.Identities,
		byClient: map[string]Identity{},
		byName:   map[string]Identity{},
		header:   sha256.Sum256([]byte(cfg.Header.Reveal())),
		file:     cfg.HeaderFile,
		log:      cfg.Log,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a.refusals.now = now
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.cache = newTokenCache(ctx, cfg.Tokens, now)
	for _, id := range cfg.Identities.UserAssigned {
		a.byClient[strings.ToLower(id.ClientID)] = id
		if id.Name != "" {
			a.byName[strings.ToLower(id.Name)] = id
		}
	}
	if s := cfg.Identities.SystemAssigned; s != nil {
		a.byClient[strings.ToLower(s.ClientID)] = *s
	}
	return a, nil
}

// Close cancels token requests still running.
func (a *Agent) Close() { a.cancel() }

// Serve answers requests on ln until ctx ends, then shuts down gracefully.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done
	return err
}

// agentError is a refusal on the wire: {"error", "error_description"}
// (and the token service's error_codes when passed through), which
// azidentity prints in its AuthenticationFailedError.
type agentError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	ErrorCodes  []int  `json:"error_codes,omitempty"`
	reason      string // for the log
}

func refuse(status int, code, reason, format string, args ...any) *agentError {
	return &agentError{Status: status, Code: code, reason: reason, Description: fmt.Sprintf(format, args...)}
}

// tokenResponse is the App Service protocol's answer (expires_on in Unix
// seconds, as a string).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// ServeHTTP answers one managed-identity token request.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, e := a.handle(r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if e != nil {
		a.logRefusal(r, e)
		if e.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodGet)
		}
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(e)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (a *Agent) handle(r *http.Request) (tokenResponse, *agentError) {
	if !loopbackPeer(r.RemoteAddr) {
		return tokenResponse{}, refuse(http.StatusForbidden, "access_denied", "remote address is not loopback",
			"the identity agent answers callers on this host only")
	}
	if !loopbackHost(r.Host) {
		// A page in a browser on this host may reach loopback through a
		// DNS name that resolves to 127.0.0.1; it cannot name loopback.
		return tokenResponse{}, refuse(http.StatusForbidden, "access_denied", "Host header is not loopback",
			"the request names host %q; call the agent at the address in IDENTITY_ENDPOINT (127.0.0.1 or [::1])", printable(r.Host, 100))
	}
	if r.URL.Path != TokenPath {
		return tokenResponse{}, refuse(http.StatusNotFound, "not_found", "unknown path",
			"no such endpoint %q: the token endpoint is %s (IDENTITY_ENDPOINT)", printable(r.URL.Path, 100), TokenPath)
	}
	if r.Method != http.MethodGet {
		return tokenResponse{}, refuse(http.StatusMethodNotAllowed, "invalid_request", "method not GET",
			"method %s is not allowed: request tokens with GET", printable(r.Method, 20))
	}
	got, present := r.Header[http.CanonicalHeaderKey(HeaderName)]
	switch {
	case !present || len(got) == 0 || got[0] == "":
		return tokenResponse{}, refuse(http.StatusUnauthorized, "unauthorized_client", "no header value",
			"the request has no %s header: set IDENTITY_HEADER to the content of %s (readable by the agent's group)", "X-IDENTITY-HEADER", a.headerFile())
	case len(got) > 1 || !a.headerMatches(got[0]):
		return tokenResponse{}, refuse(http.StatusUnauthorized, "unauthorized_client", "wrong header value",
			"the %s header does not match this host's value: set IDENTITY_HEADER to the current content of %s (the agent writes a new value at every start)", "X-IDENTITY-HEADER", a.headerFile())
	}
	req, perr := parseTokenRequest(r.URL.RawQuery)
	if perr != nil {
		return tokenResponse{}, refuse(http.StatusBadRequest, "invalid_request", "malformed request", "%s", perr.msg)
	}
	id, e := a.identity(req)
	if e != nil {
		return tokenResponse{}, e
	}
	tok, err := a.cache.Get(r.Context(), id.ClientID, req.Resource)
	if err != nil {
		return tokenResponse{}, a.tokenError(id, req.Resource, err)
	}
	exp := tok.ExpiresAt
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return tokenResponse{
		AccessToken: tok.AccessToken,
		ExpiresOn:   strconv.FormatInt(exp.Unix(), 10),
		Resource:    req.Resource,
		TokenType:   typ,
		ClientID:    id.ClientID,
	}, nil
}

// identity picks the identity a request selects: client_id, mi_res_id, or
// the system-assigned one when it names none.
func (a *Agent) identity(req tokenRequest) (Identity, *agentError) {
	switch {
	case req.ClientID != "":
		if id, ok := a.byClient[req.ClientID]; ok {
			return id, nil
		}
		return Identity{}, refuse(http.StatusBadRequest, "invalid_request", "unknown identity",
			"Identity not found: this host may not hand out the identity with client_id %s; it may hand out %s", req.ClientID, a.describe())
	case req.Name != "":
		if id, ok := a.byName[strings.ToLower(req.Name)]; ok {
			return id, nil
		}
		return Identity{}, refuse(http.StatusBadRequest, "invalid_request", "unknown identity",
			"Identity not found: this host has no user-assigned identity named %q; it may hand out %s", req.Name, a.describe())
	case a.ids.SystemAssigned != nil:
		return *a.ids.SystemAssigned, nil
	}
	return Identity{}, refuse(http.StatusBadRequest, "invalid_request", "no system-assigned identity",
		"this host has no system-assigned identity: select a user-assigned one with client_id (azidentity.ClientID, or AZURE_CLIENT_ID for DefaultAzureCredential); it may hand out %s", a.describe())
}

// describe lists the identities of this host for error messages.
func (a *Agent) describe() string { return a.ids.String() }

// tokenError turns a failed token request into the agent's refusal: the
// token service's own refusal passes through with its status and
// description; anything else is 503 (azidentity's pipeline retries it).
func (a *Agent) tokenError(id Identity, resource string, err error) *agentError {
	var oe *oauthclient.Error
	if errors.As(err, &oe) {
		status := oe.StatusCode
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		return &agentError{
			Status: status, Code: oe.Code, ErrorCodes: oe.ErrorCodes, reason: "token service refused",
			Description: fmt.Sprintf("the token service refused a token for identity %s and resource %s: %s",
				id.ClientID, printable(resource, 200), oe.Description),
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return refuse(http.StatusServiceUnavailable, "temporarily_unavailable", "token request cancelled",
			"the token request for identity %s did not complete in time; try again", id.ClientID)
	}
	a.log.Warn("identity agent: token request failed", "identity", id.ClientID, "resource", printable(resource, 200), "error", err)
	return refuse(http.StatusServiceUnavailable, "temporarily_unavailable", "token service unavailable",
		"the identity agent could not obtain a token for identity %s from the token service: %s", id.ClientID, printable(err.Error(), 300))
}

func (a *Agent) headerMatches(v string) bool {
	h := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(h[:], a.header[:]) == 1
}

func (a *Agent) headerFile() string {
	if a.file == "" {
		return "the agent's header file"
	}
	return a.file
}

// loopbackPeer reports whether a connection's remote address is loopback.
func loopbackPeer(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// loopbackHost reports whether a Host header names loopback.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// refusalLogInterval is the least time between two refusal log lines;
// refusals in between are counted and reported with the next line.
const refusalLogInterval = time.Second

type refusalLog struct {
	now        func() time.Time
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// logRefusal writes one line per refusal, at most one per
// refusalLogInterval: never the header value, only what was refused and
// why.
func (a *Agent) logRefusal(r *http.Request, e *agentError) {
	l := &a.refusals
	l.mu.Lock()
	now := l.now()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.next = now.Add(refusalLogInterval)
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	a.log.Warn("identity agent: request refused",
		"reason", e.reason, "status", e.Status, "error", e.Code,
		"remote", r.RemoteAddr, "path", printable(r.URL.Path, 100),
		"resource", printable(r.URL.Query().Get("resource"), 200),
		"client_id", printable(r.URL.Query().Get("client_id"), 60),
		"suppressed_since_last", n)
}
