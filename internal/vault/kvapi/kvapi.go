package kvapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/vault"
)

// Sealer authenticates paging cursors (Seal/Open with an aad binding the
// listing) so that any node holding the root key accepts them and a
// tampered one is refused; *seal.Sealer implements it.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Config is what New needs. Vault, Authenticator, Sealer, TenantID and
// ResourceAppID are required.
type Config struct {
	Vault *vault.Service
	// Authenticator admits callers: guard.Bearer over a guard.Verifier
	// whose audience is the vault resource application (and whose key
	// source is the token service), wrapped by guard.RequireExistingClient
	// so that a deleted application's tokens stop at once. Its Principal's
	// TenantID must be TenantID.
	Authenticator guard.Authenticator
	Sealer        Sealer
	// TenantID is the tenant of the vault resource application: the
	// challenge names it and tokens must come from it.
	TenantID string
	// ResourceAppID is the appId of the vault resource application; tokens
	// must carry it as aud.
	ResourceAppID string
	// PublicURL ("https://host[:port]") is the base of every challenge and
	// identifier when set; else each request's Host is used.
	PublicURL string
	// BaseHosts lists the host[:port] values under which {vault}.{host}
	// names a vault (host form), besides PublicURL's host; e.g.
	// "localhost:8443" in development.
	BaseHosts []string
	// MaxBodyBytes limits request bodies (default 256 KiB; secret values
	// are at most 25 KiB, PFX files a few KiB).
	MaxBodyBytes int64
	// Logger receives failures (never values); slog.Default when nil.
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 256 << 10

// Handler serves the Key Vault REST API.
type Handler struct {
	cfg       Config
	log       *slog.Logger
	publicURL *url.URL
	baseHosts map[string]bool
	// nameHost is the first base host that is a DNS name: object ids of
	// requests that reached an IP address use it, because {vault}.{IP} is
	// no host name.
	nameHost string
	// refusals paces the audit records and log lines of refused requests.
	refusals        *rate.Limiter
	refusalsSkipped atomic.Int64
	// pace rate-limits the log lines of requests the node cannot serve now.
	pace *ratelog.Limiter
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Vault == nil:
		return nil, errors.New("kvapi: Config.Vault is required")
	case cfg.Authenticator == nil:
		return nil, errors.New("kvapi: Config.Authenticator is required")
	case cfg.Sealer == nil:
		return nil, errors.New("kvapi: Config.Sealer is required")
	case cfg.TenantID == "" || cfg.ResourceAppID == "":
		return nil, errors.New("kvapi: Config.TenantID and Config.ResourceAppID (the vault resource application) are required")
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, baseHosts: map[string]bool{}, refusals: rate.NewLimiter(refusalAuditRate, refusalAuditBurst)}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.pace = ratelog.New(h.log, ratelog.DefaultInterval, nil)
	if h.cfg.MaxBodyBytes <= 0 {
		h.cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("kvapi: PublicURL %q: want https://host[:port] without a path", cfg.PublicURL)
		}
		h.publicURL = u
		h.baseHosts[strings.ToLower(u.Host)] = true
	}
	for _, b := range cfg.BaseHosts {
		if b != "" {
			h.baseHosts[strings.ToLower(b)] = true
			if h.nameHost == "" && net.ParseIP(hostOnly(b)) == nil {
				h.nameHost = strings.ToLower(b)
			}
		}
	}
	return h, nil
}

// VaultURL returns the URL of a vault in host form under base
// ("https://host[:port]"): https://{vault}.host[:port].
func VaultURL(base, vaultName string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return base + "/vaults/" + vaultName
	}
	return u.Scheme + "://" + strings.ToLower(vaultName) + "." + u.Host
}

// PathVaultURL returns the URL of a vault in path form under base:
// {base}/vaults/{vault}.
func PathVaultURL(base, vaultName string) string {
	return strings.TrimRight(base, "/") + "/vaults/" + strings.ToLower(vaultName)
}

// target is a matched request: which vault, and the URL bases to answer with.
type target struct {
	vault string
	// link is the prefix of URLs the client can reach (nextLink):
	// https://{vault}.{base} or https://{base}/vaults/{vault}.
	link string
	// id is the prefix of object identifiers: https://{vault}.{base}.
	id string
	// resource is the challenge resource and authority base: https://{base}.
	resource string
	// segs are the path segments after the vault prefix, unescaped.
	segs []string
}

// Match reports whether r is a Key Vault request: a path under /vaults/,
// or a Host that is {vault}.{base} for a configured base host.
func (h *Handler) Match(r *http.Request) bool {
	_, ok := h.match(r)
	return ok
}

func (h *Handler) match(r *http.Request) (target, bool) {
	raw := r.URL.EscapedPath()
	host := strings.ToLower(r.Host)
	if label, rest, ok := strings.Cut(host, "."); ok && h.baseHosts[rest] && label != "" && net.ParseIP(hostOnly(host)) == nil {
		base := h.base(rest)
		return target{vault: label, link: "https://" + host, id: VaultURL(base, label), resource: base, segs: splitPath(raw)}, true
	}
	rest, ok := strings.CutPrefix(raw, "/vaults/")
	if !ok {
		return target{}, false
	}
	name, after, _ := strings.Cut(rest, "/")
	if name == "v2.0" || name == "oauth2" && after == "v2.0/token" || name == "discovery" && after == "v2.0/keys" {
		return target{}, false // the token service of a tenant named "vaults"
	}
	if unescaped, err := url.PathUnescape(name); err == nil {
		name = unescaped
	}
	base := h.base(host)
	idBase := base
	if h.publicURL == nil && net.ParseIP(hostOnly(host)) != nil && h.nameHost != "" {
		idBase = "https://" + h.nameHost
	}
	return target{
		vault: strings.ToLower(name), link: "https://" + host + "/vaults/" + url.PathEscape(strings.ToLower(name)),
		id: VaultURL(idBase, name), resource: base, segs: splitPath("/" + after),
	}, true
}

// base is PublicURL, or https:// + host.
func (h *Handler) base(host string) string {
	if h.publicURL != nil {
		return h.publicURL.Scheme + "://" + h.publicURL.Host
	}
	return "https://" + host
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// splitPath splits an escaped path into unescaped segments; a segment that
// does not unescape is kept escaped (and fails name validation later).
func splitPath(raw string) []string {
	raw = strings.TrimPrefix(raw, "/")
	if raw == "" {
		return nil
	}
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return segs
}

// Wrap returns a handler that serves Key Vault requests itself and passes
// everything else to next.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := h.match(r); ok {
			r.Pattern = metricsRoute(r.Method, t.segs)
			h.serve(w, r, t)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsRoute names a Key Vault request for request metrics (the role
// http.ServeMux's pattern plays for other routes): method and collection,
// both from closed sets so that clients cannot inflate label cardinality.
func metricsRoute(method string, segs []string) string {
	switch method {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
	default:
		method = "OTHER"
	}
	coll := "other"
	if len(segs) > 0 {
		switch segs[0] {
		case "secrets", "certificates", "keys", "deletedsecrets", "deletedcertificates", "deletedkeys":
			coll = segs[0]
		}
	}
	return "keyvault " + method + " " + coll
}

// ServeHTTP serves a Key Vault request; anything else gets 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := h.match(r)
	if !ok {
		h.writeError(w, "", errNotFoundPath(r))
		return
	}
	h.serve(w, r, t)
}

// request is one Key Vault request in flight.
type request struct {
	h       *Handler
	w       http.ResponseWriter
	r       *http.Request
	t       target
	caller  vault.Caller
	version string // api-version
	// listQuery is a listing's own query parameter that every nextLink of the listing carries
	// (includePending=true), or "".
	listQuery string
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, t target) {
	reqID := requestID(r)
	hd := w.Header()
	hd.Set("x-ms-request-id", reqID)
	if c := r.Header.Get("x-ms-client-request-id"); c != "" && c == reqID {
		hd.Set("x-ms-client-request-id", c)
	}
	hd.Set("Cache-Control", "no-cache")
	p, err := h.authenticate(r)
	if err != nil {
		if vault.AsError(err).Kind == vault.KindUnauthorized {
			hd.Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, t.resource, h.cfg.TenantID, t.resource))
		}
		h.refused(r, t, p, reqID, err)
		h.writeError(w, reqID, err)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A change's audit record commits in the change's transaction.
		orig := r
		r = r.WithContext(audit.WithChange(r.Context()))
		defer func() { orig.Pattern = r.Pattern }() // the route, for the metrics that hold orig
	}
	rq := &request{h: h, w: w, r: r, t: t, caller: vault.Caller{Principal: *p, RequestID: reqID}}
	if err := vault.ValidateVaultName(t.vault); err != nil {
		h.writeError(w, reqID, err)
		return
	}
	v, err := apiVersion(r.URL.Query())
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	rq.version = v
	rq.dispatch()
}

// requestID takes the client's x-ms-client-request-id when it is a sane
// token, else makes one.
func requestID(r *http.Request) string {
	c := r.Header.Get("x-ms-client-request-id")
	if c == "" || len(c) > 128 {
		return uuid.NewString()
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return uuid.NewString()
		}
	}
	return c
}

// authenticate admits the request's caller through Config.Authenticator
// and checks that the token comes from the vault's tenant. Refusals are
// Key Vault errors: 401 Unauthorized (with the challenge), 400 for a
// malformed request (two Authorization headers), 503 when keys cannot be
// checked now. The returned Principal is shared: callers copy it.
func (h *Handler) authenticate(r *http.Request) (*guard.Principal, error) {
	p, err := h.cfg.Authenticator.Authenticate(r)
	if err != nil {
		if errors.Is(err, guard.ErrNoCredentials) {
			return nil, unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
		}
		ge := guard.AsError(err)
		switch ge.Status {
		case http.StatusBadRequest:
			return nil, badParameter("%s.", ge.Description)
		case http.StatusServiceUnavailable:
			return nil, &vault.Error{Kind: vault.KindUnavailable, Code: vault.CodeServiceUnavailable, Message: "The bearer token cannot be checked now: " + ge.Description + ". Retry shortly."}
		}
		return nil, unauthorized("AKV10032: The bearer token was rejected: %s. Request a new token for the resource named in the WWW-Authenticate challenge (scope \"{resource}/.default\").", ge.Description)
	}
	if !containsFold(p.Audience, h.cfg.ResourceAppID) {
		return nil, unauthorized("AKV10022: Invalid audience. Expected %s (the Portcullis vault resource), found: %s. Request the token for the resource named in the WWW-Authenticate challenge (scope \"{resource}/.default\").", h.cfg.ResourceAppID, clip(strings.Join(p.Audience, " "), 100))
	}
	if !strings.EqualFold(p.TenantID, h.cfg.TenantID) {
		return p, unauthorized("AKV10032: Invalid tenant %s: tokens for the vault must come from tenant %s.", clip(p.TenantID, 64), h.cfg.TenantID)
	}
	return p, nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Accepted api-version values: Key Vault's 7.0 to 7.6 and the dated versions
// the current SDKs send, each also with a preview suffix, "-preview" or
// "-preview.N" (7.4-preview.1 is what Debian's azure-keyvault-keys 4.8.0b3
// sends).
var apiVersions = map[string]bool{
	"7.0": true, "7.1": true, "7.2": true, "7.3": true, "7.4": true, "7.5": true, "7.6": true,
	"2025-07-01": true, "2026-04-01": true,
}

// LatestAPIVersion is named in errors about api-version.
const LatestAPIVersion = "2025-07-01"

func apiVersion(q url.Values) (string, error) {
	vs, ok := q["api-version"]
	if !ok || len(vs) == 0 || vs[0] == "" {
		return "", badParameter("The 'api-version' query parameter is missing: add ?api-version=%s (Key Vault 7.x versions are accepted too).", LatestAPIVersion)
	}
	if len(vs) > 1 {
		return "", badParameter("The 'api-version' query parameter is given %d times: give it once.", len(vs))
	}
	v := vs[0]
	if base := stripPreview(v); apiVersions[base] || isSevenX(base) {
		return v, nil
	}
	return "", badParameter("The specified version (%s) is not recognized: use %s, or a Key Vault 7.x version such as 7.6.", clip(v, 40), LatestAPIVersion)
}

// stripPreview removes a preview suffix, "-preview" or "-preview.N" with N
// of one or two digits, and returns v unchanged without one.
func stripPreview(v string) string {
	i := strings.LastIndex(v, "-preview")
	if i < 0 {
		return v
	}
	suffix := v[i+len("-preview"):]
	if suffix == "" {
		return v[:i]
	}
	n, ok := strings.CutPrefix(suffix, ".")
	if !ok || !allDigits(n) || len(n) > 2 {
		return v
	}
	return v[:i]
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isSevenX accepts 7.N for N of one or two digits.
func isSevenX(v string) bool {
	rest, ok := strings.CutPrefix(v, "7.")
	if !ok || len(rest) == 0 || len(rest) > 2 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// unix converts a time to Key Vault's Unix seconds, nil for the zero time.
func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := t.Unix()
	return &s
}
