package outbound

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Options is what Compile needs besides the specs.
type Options struct {
	// Name says who uses the credential ("connector t1/validate-user",
	// "api t1/orders"); it prefixes Compile's errors and is in every log
	// line. The errors of Apply and Ready leave it out: their callers say
	// whose credential it is, in their own words.
	Name string
	// Target is the URL the credential is sent to (a connector's endpoint,
	// a backend's base URL): its scheme decides what is allowed, its host
	// is the name verified in the server's certificate.
	Target string
	// AllowInsecureAuth lets Basic, API-key and bearer credentials go to
	// an http:// target.
	AllowInsecureAuth bool
	// Watcher resolves the vault references; required when the spec has any.
	Watcher *vaultwatch.Watcher
	// TenantID and VaultTenant confine references to the owner's vaults:
	// VaultTenant returns the tenant that owns a vault ("" when none).
	// With VaultTenant nil any vault is accepted (tests, single-tenant
	// tools); the server always sets it.
	TenantID    string
	VaultTenant func(vault string) string
	// TokenClient sends client-credentials token requests; nil uses a
	// client with a 30 s timeout over the system roots.
	TokenClient *http.Client
	// ClientCertificateRotated, when set, is called (from the vault
	// watcher's goroutine; it must not block) after the client
	// certificate, or a CA certificate, changed from a value resolved
	// before (not on the first resolution): the owner closes its idle
	// connections so that new ones use the new certificate, while
	// requests in flight finish on the old one.
	ClientCertificateRotated func()
	Logger                   *slog.Logger     // nil: slog.Default()
	Now                      func() time.Time // nil: time.Now
}

// ErrNotReady wraps the error of Apply or Ready while a vault reference
// has not been resolved a first time, or a first token not obtained.
var ErrNotReady = errors.New("outbound credential not ready")

// Credential is a compiled, live outbound credential: Apply sets the
// request's credential header from the current vault values (one atomic
// load, no I/O), TLSConfig serves the current client certificate and
// verifies the server as the TLSSpec says. Close releases it.
type Credential struct {
	name   string
	typ    string
	log    *slog.Logger
	now    func() time.Time
	header string // the header Apply sets ("" for none and clientCertificate)

	// basic, apiKeyHeader, static bearer: the secret and the header value
	// derived from its current version.
	secret   *vaultwatch.Handle
	username string
	derived  atomic.Pointer[derivedHeader]

	// bearer by client credentials.
	tokens *tokenSource

	// clientCertificate.
	clientCert *vaultwatch.Handle

	tls     *tls.Config
	handles []*vaultwatch.Handle
	closed  atomic.Bool
}

// derivedHeader is a header value computed from one secret version.
type derivedHeader struct {
	version string
	value   string
	err     error
}

// Compile turns spec and tlsSpec (nil: system roots, no pins) into a live
// credential for opts.Target. It refuses what would send a credential in
// the clear (Basic, API key or bearer to an http:// target without
// AllowInsecureAuth) or make no sense (a client certificate or TLS
// settings toward http://). Vault references are registered with
// opts.Watcher and resolved in the background; Ready waits for them.
func Compile(spec CredentialSpec, tlsSpec *TLSSpec, opts Options) (*Credential, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Credential{name: opts.Name, typ: spec.Type, log: opts.Logger, now: opts.Now}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	u, err := url.Parse(opts.Target)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, c.errorf("target %q is not an absolute http(s) URL", clip(opts.Target, 200))
	}
	plain := u.Scheme == "http"
	switch spec.Type {
	case TypeBasic, TypeAPIKeyHeader, TypeBearer:
		if plain && !opts.AllowInsecureAuth {
			return nil, c.errorf("a %s credential would be sent in the clear to %s: use an https:// URL, or set allowInsecureAuth for a development endpoint", spec.Type, clip(opts.Target, 200))
		}
	case TypeClientCertificate:
		if plain {
			return nil, c.errorf("a client certificate needs TLS, but %s is http://: use an https:// URL", clip(opts.Target, 200))
		}
	case TypeNone, "":
		c.typ = TypeNone
	default:
		return nil, c.errorf("unknown authentication type %q; use none, basic, apiKeyHeader, bearer or clientCertificate", clip(spec.Type, 40))
	}
	if plain && tlsSpec != nil && !tlsSpec.empty() {
		return nil, c.errorf("TLS settings are given for %s, which is http://: use an https:// URL or drop them", clip(opts.Target, 200))
	}
	refs := refResolver{opts: opts, c: c}
	switch spec.Type {
	case TypeBasic:
		if spec.Username == "" || strings.Contains(spec.Username, ":") || hasControl(spec.Username) {
			return nil, c.errorf("basic: the username must be non-empty, without ':' or control characters (RFC 7617 section 2)")
		}
		c.header, c.username = "Authorization", spec.Username
		if c.secret, err = refs.acquire("basic.password", spec.Password, vault.Secrets, nil); err != nil {
			return nil, err
		}
	case TypeAPIKeyHeader:
		if !validHeaderName(spec.Header) {
			return nil, c.errorf("apiKeyHeader: header %q is not a valid HTTP header name (for example x-functions-key)", clip(spec.Header, 80))
		}
		if isReservedHeader(spec.Header) {
			return nil, c.errorf("apiKeyHeader: header %q is managed by HTTP itself; choose another name (for example x-api-key)", clip(spec.Header, 80))
		}
		c.header = http.CanonicalHeaderKey(spec.Header)
		if c.secret, err = refs.acquire("apiKeyHeader.key", spec.Key, vault.Secrets, nil); err != nil {
			return nil, err
		}
	case TypeBearer:
		c.header = "Authorization"
		switch {
		case (spec.Token == "") == (spec.ClientCredentials == nil):
			return nil, c.errorf("bearer: give exactly one of token (a vault secret reference) and clientCredentials")
		case spec.Token != "":
			if c.secret, err = refs.acquire("bearer.token", spec.Token, vault.Secrets, nil); err != nil {
				return nil, err
			}
		default:
			if c.tokens, err = newTokenSource(*spec.ClientCredentials, opts, &refs); err != nil {
				return nil, err
			}
		}
	case TypeClientCertificate:
		if c.clientCert, err = refs.acquire("clientCertificate.certificate", spec.Certificate, vault.Certificates, opts.ClientCertificateRotated); err != nil {
			return nil, err
		}
	}
	if !plain {
		if c.tls, err = c.tlsConfig(u, tlsSpec, &refs, opts); err != nil {
			return nil, err
		}
	}
	if c.tokens != nil {
		c.tokens.start()
	}
	ok = true
	return c, nil
}

// Type returns the credential type (TypeNone when the spec had none).
func (c *Credential) Type() string { return c.typ }

// SensitiveHeaders lists the request headers Apply sets, which carry the
// credential and must be redacted wherever a request is shown.
func (c *Credential) SensitiveHeaders() []string {
	if c.header == "" {
		return nil
	}
	return []string{c.header}
}

// TLSConfig returns the TLS configuration toward the target (nil for an
// http:// target). Share it; do not modify it.
func (c *Credential) TLSConfig() *tls.Config { return c.tls }

// Apply sets the credential on r from the current values: one atomic load
// and no I/O, except for a client-credentials bearer whose very first token
// is still being obtained, where Apply waits for it within r's context
// (later refreshes happen in the background, ahead of expiry).
func (c *Credential) Apply(r *http.Request) error {
	switch {
	case c.secret != nil:
		d, err := c.headerValue()
		if err != nil {
			return err
		}
		r.Header.Set(c.header, d)
	case c.tokens != nil:
		v, err := c.tokens.header(r.Context())
		if err != nil {
			return err
		}
		r.Header.Set(c.header, v)
	}
	return nil
}

// headerValue derives (once per secret version) the header value.
func (c *Credential) headerValue() (string, error) {
	v := c.secret.Load()
	switch {
	case v == nil:
		return "", fmt.Errorf("%w: %s", ErrNotReady, c.secret.Problem())
	case v.Secret == nil:
		return "", errors.New(c.secret.Problem())
	}
	if d := c.derived.Load(); d != nil && d.version == v.Secret.Version {
		return d.value, d.err
	}
	d := &derivedHeader{version: v.Secret.Version}
	text := string(v.Secret.Value)
	switch {
	case c.typ == TypeBasic:
		d.value = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.username+":"+text))
	case hasControl(text) || text == "" || strings.TrimSpace(text) != text:
		// Never the value itself: only where it is.
		d.err = fmt.Errorf("secret %s version %s is empty, has surrounding spaces or control characters, so it cannot be sent in an HTTP header; set a new version", c.secret.Ref().String(), v.Secret.Version)
	case c.typ == TypeBearer:
		d.value = "Bearer " + text
	default:
		d.value = text
	}
	c.derived.Store(d)
	return d.value, d.err
}

// Ready waits until every vault reference has been resolved (and, for a
// client-credentials bearer, a first token obtained), or ctx ends; it
// returns why the credential cannot be used, or nil.
func (c *Credential) Ready(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		pending := ""
		for _, h := range c.handles {
			if h.Load() == nil {
				pending = h.Problem()
				break
			}
		}
		if pending == "" {
			for _, h := range c.handles {
				if p := h.Problem(); p != "" {
					return errors.New(p)
				}
			}
			if c.clientCert != nil {
				if v := c.clientCert.Load(); v.Certificate == nil || v.Certificate.TLS == nil {
					return fmt.Errorf("client certificate %s version %s has no private key in the vault; import it with its key", c.clientCert.Ref(), v.Version)
				}
			}
			if c.tokens != nil {
				if _, err := c.tokens.header(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrNotReady, pending)
		case <-t.C:
		}
	}
}

// Close stops the token refresher and releases the vault references.
func (c *Credential) Close() {
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return
	}
	if c.tokens != nil {
		c.tokens.stop()
	}
	for _, h := range c.handles {
		h.Release()
	}
}

func (c *Credential) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c.name == "" {
		return errors.New(msg)
	}
	return errors.New(c.name + ": " + msg)
}

// refResolver parses references, confines them to the owner's vaults and
// registers them with the watcher.
type refResolver struct {
	opts Options
	c    *Credential
}

func (rr *refResolver) acquire(field, s string, want vault.ObjectType, onChange func()) (*vaultwatch.Handle, error) {
	if s == "" {
		return nil, rr.c.errorf("%s: a vault reference (vault://VAULT/%s/NAME) is required", field, want)
	}
	ref, err := vault.ParseReference(s)
	if err != nil {
		return nil, rr.c.errorf("%s: %s", field, vault.AsError(err).Message)
	}
	if ref.Type != want {
		return nil, rr.c.errorf("%s: %s names %s; reference vault://%s/%s/%s", field, ref, ref.Type, ref.Vault, want, ref.Name)
	}
	if rr.opts.VaultTenant != nil {
		if owner := rr.opts.VaultTenant(ref.Vault); owner == "" || !strings.EqualFold(owner, rr.opts.TenantID) {
			return nil, rr.c.errorf("%s: vault %q does not belong to tenant %s; reference one of its own vaults", field, ref.Vault, rr.opts.TenantID)
		}
	}
	if rr.opts.Watcher == nil {
		return nil, rr.c.errorf("%s: no vault watcher to resolve %s", field, ref)
	}
	if onChange == nil {
		h := rr.opts.Watcher.Acquire(ref, nil)
		rr.c.handles = append(rr.c.handles, h)
		return h, nil
	}
	// onChange is for a value replacing one that connections may have
	// been made with: not the first resolution, not one after an error,
	// nor a change before Compile returns (no connection exists yet).
	var hp atomic.Pointer[vaultwatch.Handle]
	var prev atomic.Pointer[vaultwatch.Value]
	h := rr.opts.Watcher.Acquire(ref, func() {
		h := hp.Load()
		if h == nil {
			return
		}
		v := h.Load()
		// A value that failed to resolve served no connection either.
		if old := prev.Swap(v); old != nil && old.Err == nil && old != v {
			onChange()
		}
	})
	hp.Store(h)
	prev.CompareAndSwap(nil, h.Load())
	rr.c.handles = append(rr.c.handles, h)
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0) {
			return false
		}
	}
	return true
}

func isReservedHeader(s string) bool {
	switch http.CanonicalHeaderKey(s) {
	case "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Cookie", "Proxy-Authorization", "Keep-Alive":
		return true
	}
	return false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// minRedactLength is the shortest value Redact looks for: replacing every
// "a" because a test secret is "a" would mangle text and protect nothing.
const minRedactLength = 6

// Redact replaces the credential's current secret values (the secret text,
// the header value Apply sets, a cached bearer token) in s with
// [redacted], for text that came back from the other side and is shown:
// a server that echoes what it got must not make Portcullis print it.
func (c *Credential) Redact(s string) string {
	for _, v := range c.secretValues() {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// Reveals reports whether s holds one of the credential's current secret
// values (as Redact would replace them): for values that would travel on,
// such as a connector's output claims, which go into tokens.
func (c *Credential) Reveals(s string) bool {
	for _, v := range c.secretValues() {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// secretValues lists the current secret values Redact and Reveals look for.
func (c *Credential) secretValues() []string {
	var vals []string
	if c.secret != nil {
		if v := c.secret.Load(); v != nil && v.Secret != nil {
			vals = append(vals, string(v.Secret.Value))
		}
		if d := c.derived.Load(); d != nil && d.value != "" {
			vals = append(vals, d.value, strings.TrimPrefix(strings.TrimPrefix(d.value, "Basic "), "Bearer "))
		}
	}
	if c.tokens != nil {
		if t := c.tokens.cur.Load(); t != nil {
			vals = append(vals, strings.TrimPrefix(t.header, "Bearer "))
		}
	}
	return slices.DeleteFunc(vals, func(v string) bool { return len(v) < minRedactLength })
}

// String describes the credential by its references, never its values.
func (c *Credential) String() string {
	var b strings.Builder
	b.WriteString(c.typ)
	b.WriteString(" credential")
	switch {
	case c.typ == TypeBasic:
		fmt.Fprintf(&b, " (user %q, password %s)", c.username, c.secret.Ref())
	case c.secret != nil:
		fmt.Fprintf(&b, " (%s from %s)", c.header, c.secret.Ref())
	case c.tokens != nil:
		fmt.Fprintf(&b, " (client credentials of %s at %s)", c.tokens.clientID, c.tokens.tokenURL)
	case c.clientCert != nil:
		fmt.Fprintf(&b, " (%s)", c.clientCert.Ref())
	}
	if c.name != "" {
		b.WriteString(" of ")
		b.WriteString(c.name)
	}
	return b.String()
}

// GoString describes the credential like String.
func (c *Credential) GoString() string { return c.String() }
