package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// DefaultTimeout bounds one attempt of a call when the connector sets
// none.
const DefaultTimeout = 10 * time.Second

// maxRetries bounds Connector.Retries whatever the stored value says.
const maxRetries = 5

// Options is what Compile needs besides the connector.
type Options struct {
	// Watcher resolves the credential's vault references.
	Watcher *vaultwatch.Watcher
	// VaultTenant returns the tenant owning a vault, confining references
	// to the connector's tenant (see outbound.Options).
	VaultTenant func(vault string) string
	// TokenClient sends client-credentials token requests (nil: default).
	TokenClient *http.Client
	Logger      *slog.Logger     // nil: slog.Default()
	Now         func() time.Time // nil: time.Now
}

// Connector is a compiled, callable API connector. Close releases it.
type Connector struct {
	def      directory.Connector
	endpoint *url.URL
	cred     *outbound.Credential
	// client is swapped for one over a fresh transport when the client
	// certificate (or a CA) rotates, so that no call after a rotation
	// reuses a connection made with the old certificate, busy or idle.
	client  atomic.Pointer[http.Client]
	timeout time.Duration
	now     func() time.Time
	// unusable, when set, is why the connector could not be compiled:
	// every call fails with it (see Unusable).
	unusable error
}

// Unusable returns a Connector standing for d, which could not be compiled
// (err says why): every Invoke fails with that reason, so that a
// token-issuance connector that cannot run stops issuance (fail closed)
// rather than vanishing, unless its failure policy is failOpen.
func Unusable(d directory.Connector, err error) *Connector {
	return &Connector{def: d, timeout: DefaultTimeout, now: time.Now, unusable: err}
}

// Err returns why the connector could not be compiled (see Unusable), or
// nil.
func (c *Connector) Err() error { return c.unusable }

// Compile builds a Connector from its stored form: the outbound credential
// (refusing credentials in the clear without allowInsecureAuth), the TLS
// configuration and a transport of its own, replaced by a fresh one
// when the client certificate rotates (the old one's connections close as
// their calls end), whose idle connections are
// closed when the client certificate rotates.
func Compile(d directory.Connector, opts Options) (*Connector, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	name := "connector " + d.TenantID + "/" + d.Name
	u, err := url.Parse(d.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%s: endpoint %q is not an absolute http(s) URL without user info or fragment", name, clip(d.Endpoint, 200))
	}
	switch d.SendClaimsIn {
	case "", directory.ClaimsInBody, directory.ClaimsInForm, directory.ClaimsInQuery:
	case directory.ClaimsInHeader:
		for _, c := range d.InputClaims {
			if !validHeaderName(wireName(c)) {
				return nil, fmt.Errorf("%s: input claim %q cannot be sent as header %q: not a valid header name", name, clip(c.ClaimType, 80), clip(wireName(c), 80))
			}
		}
	default:
		return nil, fmt.Errorf("%s: sendClaimsIn %q: use body, form, header or query", name, clip(d.SendClaimsIn, 40))
	}
	c := &Connector{def: d, endpoint: u, timeout: DefaultTimeout, now: opts.Now}
	if d.TimeoutSeconds > 0 {
		c.timeout = time.Duration(d.TimeoutSeconds * float64(time.Second))
	}
	transport := &http.Transport{
		Proxy:                 nil, // a credential goes straight to the endpoint
		DialContext:           (&net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   c.timeout,
		ResponseHeaderTimeout: c.timeout,
	}
	c.cred, err = outbound.Compile(d.Authentication, d.TLS, outbound.Options{
		Name: name, Target: d.Endpoint, AllowInsecureAuth: d.AllowInsecureAuth,
		Watcher: opts.Watcher, TenantID: d.TenantID, VaultTenant: opts.VaultTenant, TokenClient: opts.TokenClient,
		ClientCertificateRotated: c.rotated, Logger: opts.Logger, Now: opts.Now,
	})
	if err != nil {
		return nil, err
	}
	transport.TLSClientConfig = c.cred.TLSConfig()
	c.client.Store(newClient(transport))
	return c, nil
}

func newClient(t *http.Transport) *http.Client {
	return &http.Client{Transport: t,
		// A redirect would carry the claims and the credential elsewhere:
		// a 3xx is reported as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// rotated is the credential's ClientCertificateRotated callback: later
// calls go through a fresh transport (new connections, new handshakes with
// the current certificate); the calls in flight finish on the old one,
// whose connections are closed as soon as they are idle. Closing only the
// idle connections of one long-lived transport would miss a connection
// busy at that instant, which a steady caller then reuses for ever.
func (c *Connector) rotated() {
	old := c.client.Load()
	if old == nil {
		return // still compiling: the first transport gets the current certificate
	}
	t := old.Transport.(*http.Transport)
	c.client.Store(newClient(t.Clone()))
	t.CloseIdleConnections()
	time.AfterFunc(c.LongestCall(), t.CloseIdleConnections)
}

// LongestCall bounds how long a call of the connector may last (every
// attempt with its timeout, and a second): after that, no call that took
// the connector, or one of its transports, before a swap is still running.
func (c *Connector) LongestCall() time.Duration {
	return c.timeout*time.Duration(min(max(c.def.Retries, 0), maxRetries)+1) + time.Second
}

// Definition returns the stored form the connector was compiled from.
func (c *Connector) Definition() directory.Connector { return c.def }

// Credential returns the connector's outbound credential (nil for an
// Unusable one).
func (c *Connector) Credential() *outbound.Credential { return c.cred }

// Close releases the credential and closes idle connections.
func (c *Connector) Close() {
	if c.unusable != nil {
		return
	}
	c.cred.Close()
	c.client.Load().Transport.(*http.Transport).CloseIdleConnections()
}

// Ready waits until the credential's vault references are resolved.
func (c *Connector) Ready(ctx context.Context) error {
	if c.unusable != nil {
		return c.unusable
	}
	return c.cred.Ready(ctx)
}

// Invoke calls the connector with claims (by claim type; only declared
// input claims are sent, absent ones are left out) and reads the answer.
// The returned Invocation is always filled in; the error is non-nil
// exactly when its Decision is Failed. A call is repeated, up to
// Retries times, only when the connection could not be made: never once
// the request was written.
func (c *Connector) Invoke(ctx context.Context, claims map[string]any) (Invocation, error) {
	start := c.now()
	inv := Invocation{Connector: c.def.Name}
	if c.unusable != nil {
		inv.Decision, inv.Error = Failed, "cannot be called as stored: "+c.unusable.Error()
		return inv, fmt.Errorf("connector %s: %s", c.def.Name, inv.Error)
	}
	fail := func(format string, args ...any) (Invocation, error) {
		inv.Decision = Failed
		inv.Error = c.cred.Redact(fmt.Sprintf(format, args...))
		inv.Duration = c.now().Sub(start)
		return inv, fmt.Errorf("connector %s: %s", c.def.Name, inv.Error)
	}
	method, target, body, header, err := c.build(claims)
	if err != nil {
		return fail("%v", err)
	}
	inv.Request = Request{Method: method, URL: redactedURL(target), Body: string(body)}
	retries := min(max(c.def.Retries, 0), maxRetries)
	var resp *http.Response
	var cancels []context.CancelFunc
	defer func() {
		for _, f := range cancels {
			f()
		}
	}()
	for attempt := 0; ; attempt++ {
		inv.Attempts = attempt + 1
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		cancels = append(cancels, cancel)
		var wrote atomic.Bool
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
		req, err := http.NewRequestWithContext(actx, method, target, bytes.NewReader(body))
		if err != nil {
			return fail("cannot build the request: %v", err)
		}
		req.Header = header.Clone()
		if err := c.cred.Apply(req); err != nil {
			inv.Request.Headers = c.shownHeaders(req.Header)
			return fail("%v", err)
		}
		inv.Request.Headers = c.shownHeaders(req.Header)
		resp, err = c.client.Load().Do(req)
		if err == nil {
			break
		}
		if !wrote.Load() && isDialError(err) && attempt < retries && ctx.Err() == nil {
			continue
		}
		return fail("%s", describeTransportError(err, c.timeout))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	ct := resp.Header.Get("Content-Type")
	inv.Response = &Response{Status: resp.StatusCode, ContentType: clean(ct, 200), Size: len(raw)}
	shown := raw[:min(len(raw), shownBodyBytes)]
	// The line break most bodies end with would print as a trailing space.
	inv.Response.Body = c.cred.Redact(clean(strings.TrimRight(string(shown), " \t\r\n"), shownBodyBytes))
	inv.Response.BodyTruncated = len(raw) > shownBodyBytes
	switch {
	case err != nil:
		return fail("reading the response (HTTP %d) failed: %s", resp.StatusCode, describeTransportError(err, c.timeout))
	case len(raw) > MaxResponseBytes:
		return fail("the response (HTTP %d, %s) is larger than %d bytes", resp.StatusCode, clean(ct, 100), MaxResponseBytes)
	}
	o := parseResponse(resp.StatusCode, ct, raw, c.def.OutputClaims)
	if o.decision == Failed {
		return fail("%s", o.err)
	}
	for _, name := range slices.Sorted(maps.Keys(o.claims)) {
		// Output claims go into tokens: an endpoint that echoes what it got
		// must not make the token service hand out the connector's secret.
		if v, _ := json.Marshal(o.claims[name]); c.cred.Reveals(string(v)) || c.cred.Reveals(fmt.Sprint(o.claims[name])) {
			return fail("the endpoint's answer puts the connector's own credential in output claim %q (it echoes what it received); "+
				"nothing of this answer is used: fix the endpoint", name)
		}
	}
	inv.Decision, inv.UserMessage, inv.OutputClaims, inv.IgnoredClaims = o.decision, c.cred.Redact(o.message), o.claims, o.ignored
	if len(inv.OutputClaims) == 0 {
		inv.OutputClaims = nil
	}
	inv.Duration = c.now().Sub(start)
	return inv, nil
}

// build encodes the input claims as the connector sends them.
func (c *Connector) build(claims map[string]any) (method, target string, body []byte, header http.Header, err error) {
	header = http.Header{"Accept": {"application/json"}, "User-Agent": {"Portcullis-Connector/1"}}
	u := *c.endpoint
	switch c.def.SendClaimsIn {
	case "", directory.ClaimsInBody:
		obj := map[string]any{}
		for _, ic := range c.def.InputClaims {
			if v, ok := claims[ic.ClaimType]; ok {
				obj[wireName(ic)] = v
			}
		}
		if body, err = json.Marshal(obj); err != nil {
			return "", "", nil, nil, fmt.Errorf("input claims cannot be encoded as JSON: %v", err)
		}
		header.Set("Content-Type", "application/json")
		return http.MethodPost, u.String(), body, header, nil
	case directory.ClaimsInForm, directory.ClaimsInQuery:
		vals := url.Values{}
		for _, ic := range c.def.InputClaims {
			if v, ok := claims[ic.ClaimType]; ok {
				ss, err := texts(v)
				if err != nil {
					return "", "", nil, nil, fmt.Errorf("input claim %q: %v", clip(ic.ClaimType, 80), err)
				}
				vals[wireName(ic)] = append(vals[wireName(ic)], ss...)
			}
		}
		if c.def.SendClaimsIn == directory.ClaimsInForm {
			header.Set("Content-Type", "application/x-www-form-urlencoded")
			return http.MethodPost, u.String(), []byte(vals.Encode()), header, nil
		}
		q := u.Query()
		for k, vs := range vals {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
		return http.MethodGet, u.String(), nil, header, nil
	default: // header
		for _, ic := range c.def.InputClaims {
			if v, ok := claims[ic.ClaimType]; ok {
				ss, err := texts(v)
				if err != nil {
					return "", "", nil, nil, fmt.Errorf("input claim %q: %v", clip(ic.ClaimType, 80), err)
				}
				for _, s := range ss {
					if strings.ContainsAny(s, "\r\n\x00") || hasControl(s) {
						return "", "", nil, nil, fmt.Errorf("input claim %q has control characters and cannot be sent in a header", clip(ic.ClaimType, 80))
					}
				}
				header[http.CanonicalHeaderKey(wireName(ic))] = ss
			}
		}
		return http.MethodPost, u.String(), nil, header, nil
	}
}

// texts turns a claim value into the strings of a form, query or header:
// a string as is, a list as one value per element, anything else as JSON.
func texts(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := text(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := text(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func text(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot be encoded: %v", err)
	}
	return string(b), nil
}

// shownHeaders is the request's headers as shown, the credential's
// headers redacted.
func (c *Connector) shownHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	for _, k := range c.cred.SensitiveHeaders() {
		if _, ok := out[k]; ok {
			out[k] = []string{"[redacted]"}
		}
	}
	return out
}

// isDialError reports whether err means the connection could not be
// made (nothing was sent).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// describeTransportError says what went wrong without a URL's query (the
// url.Error wrapper repeats the URL, which may carry claims).
func describeTransportError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %s (timeoutSeconds): %s", timeout, clean(err.Error(), 300))
	case isDialError(err):
		return "cannot connect: " + clean(err.Error(), 300)
	}
	return clean(err.Error(), 300)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

func wireName(c directory.ConnectorClaim) string {
	if c.PartnerClaimType != "" {
		return c.PartnerClaimType
	}
	return c.ClaimType
}

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
	switch http.CanonicalHeaderKey(s) {
	case "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Authorization", "Proxy-Authorization", "Cookie":
		return false
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' || s[i] == 0x7f {
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
