package gateway

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// Verdict is the gateway's decision on one request. When Forward reports
// true the request (with the gateway's edits) goes to API.Upstream;
// otherwise Status, Header and Body are the answer. Done must be called
// exactly once, when the exchange has ended: it writes the audit line and
// counts the request.
type Verdict struct {
	// API is the matched API; nil when none matched.
	API *API
	// Principal is the admitted caller; nil on refusals. Read-only.
	Principal *guard.Principal
	// Status, Header and Body are the refusal; Status is 0 when the
	// request is forwarded.
	Status int
	Header http.Header
	Body   []byte
	// DecisionID names the decision in the audit log; it is sent to the
	// backend in X-Portcullis-Decision-Id and belongs in the response to
	// the client (on refusals it is already in Header).
	DecisionID string

	g      *Gateway
	reason reason
	detail string // the refusal's description, for the audit line
	start  time.Time
	method string
	path   string
	source netip.Addr
	// mayWait: asked for a decision that does not wait, evaluate found
	// that this one would (guard.ErrWouldWait). Nothing is decided,
	// audited or counted.
	mayWait bool
}

// Forward reports whether the request is admitted.
func (v Verdict) Forward() bool { return v.Status == 0 }

// Evaluate decides r. plainHTTP says the request came over a listener
// without TLS. It edits r: it removes what a client must not send
// (X-Portcullis-*, client-certificate headers, the API's principal
// headers), what the policy consumed (an API key), and, on admission, sets
// the principal headers and the decision id and strips the API's path
// prefix when it says so. Evaluate does not keep r.
func (g *Gateway) Evaluate(r *http.Request, plainHTTP bool) Verdict {
	return g.evaluate(r, plainHTTP, false, nil)
}

// noWaitContext is the context of decisions made on an event loop.
var noWaitContext = guard.WithoutWaiting(context.Background())

// evaluate is Evaluate with scratch space for the principal header values
// (see setPrincipalHeaders): the values must outlive the forwarding of r.
// With noWait, a decision that would wait on the network (for an OIDC
// issuer's keys, or an OCSP responder: guard.ErrWouldWait) is not taken:
// the Verdict says mayWait, nothing is audited or counted, and r has at
// most lost what evaluate removes again when it decides r once more (the
// fields a client must not send, API keys sent along with the token).
func (g *Gateway) evaluate(r *http.Request, plainHTTP, noWait bool, scratch []string) Verdict {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if r.URL == nil {
		r.URL = &url.URL{}
	}
	stripClientHeaders(r.Header)
	now := g.now()
	v := Verdict{g: g, start: now, DecisionID: g.ids.next(), method: internMethod(r.Method)}
	if g.audit != nil {
		// r's strings may live in the engine's reused buffers.
		v.path = strings.Clone(clip(r.URL.Path, maxAuditPath))
	}
	v.source = sourceAddr(r.RemoteAddr)
	src := budgetKey(v.source)

	if !cleanPath(r.URL.Path) || r.URL.Path == "" || r.URL.Path[0] != '/' {
		return v.refuse(http.StatusBadRequest, reasonInvalidRequest, "invalid_request",
			"the request path has an empty, \".\" or \"..\" segment (or is not absolute); send the normalised path", nil)
	}
	rt := g.routes.Load()
	api, allow := rt.router.lookup(r.Host, r.URL.Path, r.Method)
	if api == nil {
		if allow != "" {
			return v.refuse(http.StatusMethodNotAllowed, reasonMethodNotAllowed, "method_not_allowed",
				"this API does not accept "+clip(r.Method, 20)+"; it accepts "+allow, http.Header{"Allow": {allow}})
		}
		return v.refuse(http.StatusNotFound, reasonNotFound, "not_found",
			"no API matches "+clip(r.Method, 20)+" "+clip(hostKey(r.Host), 100)+clip(r.URL.Path, 200), nil)
	}
	v.API = api
	api.stripPrincipalHeaders(r.Header)

	if p := api.problem(); p != "" || !api.compiled {
		if p == "" {
			p = "the API is not ready"
		}
		retry := "5"
		if strings.HasSuffix(p, vaultwatch.NotResolvedYet) {
			retry = "1" // the refresher is on it
		}
		h := http.Header{"Retry-After": {retry}}
		return v.refuse(http.StatusServiceUnavailable, reasonUnavailable, "temporarily_unavailable",
			"API "+api.Name+" cannot serve: "+p, h)
	}
	if plainHTTP && api.insecure && !api.allowHTTP {
		if !g.cfg.Dev {
			return v.refuse(http.StatusForbidden, reasonInsecureTransport, "insecure_transport",
				"API "+api.Name+" accepts a password or an API key, which must not cross the network in clear: call it over HTTPS, or set allowInsecureAuth on the API", nil)
		}
		if api.warnedHTTP.CompareAndSwap(false, true) {
			g.log.Warn("gateway: admitting Basic or API key credentials over plain HTTP (dev mode); set allowInsecureAuth or use HTTPS in production",
				"tenant", api.TenantID, "api", api.Name)
		}
	}
	if plainHTTP && api.tlsOnly {
		return v.refuse(http.StatusForbidden, reasonInsecureTransport, "insecure_transport",
			"API "+api.Name+" accepts only certificate-bound tokens, which need the client certificate of a TLS connection: call it over HTTPS with the certificate the token is bound to", nil)
	}
	if wait := g.budget.wait(src, now); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return v.refuse(http.StatusTooManyRequests, reasonRateLimited, "too_many_requests",
			"too many failed authentications from this address; retry in "+strconv.Itoa(secs)+" s",
			http.Header{"Retry-After": {strconv.Itoa(secs)}})
	}

	ctx := r.Context()
	if noWait {
		ctx = noWaitContext
	}
	p, gerr := api.policy.DecideWithin(ctx, r)
	if noWait && gerr != nil && errors.Is(gerr, guard.ErrWouldWait) {
		return Verdict{mayWait: true}
	}
	if gerr == nil && p == nil {
		gerr = &guard.Error{Status: http.StatusUnauthorized, Code: guard.CodeInvalidToken, Description: "the credentials were not accepted"}
	}
	if gerr != nil {
		rs := guardReason(gerr)
		if rs == reasonInvalidCredentials {
			g.budget.fail(src, now)
			if g.cfg.FailureLog != nil && src.IsValid() {
				g.cfg.FailureLog.RecordFailure(FailureScopeSource, src.As16())
			}
		}
		h := http.Header{}
		if gerr.Status == http.StatusServiceUnavailable {
			h.Set("Retry-After", "5")
		} else {
			h.Set("WWW-Authenticate", gerr.Challenge(api.realm))
		}
		code := gerr.Code
		if code == "" {
			code = "unauthorized"
		}
		return v.refuse(gerr.Status, rs, code, gerr.Description, h)
	}
	v.Principal = p
	if p.Method == guard.MethodBasic {
		// The backend trusts the gateway's principal headers; the password
		// has no business travelling further.
		delete(r.Header, "Authorization")
	}
	api.setPrincipalHeaders(r.Header, p, v.DecisionID, scratch)
	if api.cred != nil {
		// Set, not added: a header of the same name sent by the caller is
		// replaced by the configured credential. A bearer credential is
		// applied under a context already done, so that a first token still
		// being obtained is a 503 with Retry-After rather than a wait: the
		// event-loop engine decides on its loop.
		ar := r
		if api.cred.Type() == outbound.TypeBearer {
			ar = r.WithContext(doneContext)
		}
		if err := api.cred.Apply(ar); err != nil {
			return v.refuse(http.StatusServiceUnavailable, reasonUnavailable, "temporarily_unavailable",
				"API "+api.Name+" cannot authenticate to its backend: "+err.Error(), http.Header{"Retry-After": {"1"}})
		}
	}
	if api.StripPrefix != "" {
		stripPrefix(r, api.StripPrefix)
	}
	v.reason = reasonOK
	return v
}

// doneContext is a context that is already done.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// maxAuditPath bounds the path kept for the audit line.
const maxAuditPath = 512

func guardReason(e *guard.Error) reason {
	switch {
	case e.Status == http.StatusServiceUnavailable:
		return reasonUnavailable
	case e.Status == http.StatusForbidden:
		return reasonForbidden
	case e.Code == "" && e.Status == http.StatusUnauthorized:
		return reasonNoCredentials
	}
	return reasonInvalidCredentials
}

// refuse fills v as a local answer: a small JSON body with the decision id.
func (v Verdict) refuse(status int, rs reason, code, desc string, h http.Header) Verdict {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set(DecisionIDHeader, v.DecisionID)
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		DecisionID  string `json:"decision_id"`
	}{code, desc, v.DecisionID})
	v.Status, v.Header, v.Body, v.reason, v.detail = status, h, append(body, '\n'), rs, desc
	return v
}

// Done records how the exchange ended: status is what the client got,
// upstreamLatency the time to the backend's response head (0 when not
// forwarded), err a backend or client failure.
func (v *Verdict) Done(status int, upstreamLatency time.Duration, err error) {
	v.done(status, upstreamLatency, err, false)
}

// done is Done where clientErr says err is the client's failure (it left, or its body was malformed or
// stalled), which is counted as client_error and never blamed on the backend.
func (v *Verdict) done(status int, upstreamLatency time.Duration, err error, clientErr bool) {
	g := v.g
	if g == nil {
		return
	}
	rs := v.reason
	switch {
	case !v.Forward():
	case clientErr && err != nil:
		rs = reasonClientError
	case err != nil || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		rs = reasonUpstreamError
	}
	c := g.metrics.unrouted
	if v.API != nil {
		c = v.API.counters
	}
	c.requests[rs].Inc()
	if rs == reasonUpstreamError && err != nil && v.API != nil {
		// The engine's errors name addresses, never header values.
		g.upstreamLog.Log(slog.LevelWarn, v.API.TenantID+"/"+v.API.Name, "gateway: the backend of an API failed",
			"tenant", v.API.TenantID, "api", v.API.Name, "status", status, "err", clip(err.Error(), 300))
	}
	if v.Forward() && upstreamLatency > 0 {
		c.upstream.Observe(upstreamLatency.Seconds())
	}
	if g.audit == nil {
		return
	}
	rec := auditRecord{at: v.start, id: v.DecisionID, method: v.method, path: v.path, outcome: rs.outcome(),
		status: status, reason: rs, detail: v.detail, upstream: upstreamLatency, source: v.source}
	if (rs == reasonUpstreamError || rs == reasonClientError) && err != nil {
		rec.detail = clip(err.Error(), 300) // the engine's errors name addresses, never header values
	}
	if v.API != nil {
		rec.tenant, rec.api = v.API.TenantID, v.API.Name
	}
	if p := v.Principal; p != nil {
		rec.credential, rec.subject, rec.appID, rec.tenantID, rec.credID = string(p.Method), p.Subject, p.AppID, p.TenantID, p.CredentialID
	}
	g.audit.add(rec)
}

// stripPrefix removes an API's path prefix, keeping the path absolute.
func stripPrefix(r *http.Request, prefix string) {
	u := r.URL
	rest := strings.TrimPrefix(u.Path, prefix)
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	if u.RawPath != "" {
		if raw, ok := strings.CutPrefix(u.RawPath, prefix); ok && (raw == "" || raw[0] == '/') {
			if raw == "" {
				raw = "/"
			}
			u.RawPath = raw
		} else {
			u.RawPath = ""
		}
	}
	u.Path = rest
}

var methods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// internMethod returns a constant for a standard method, so the audit
// record need not copy the request's (possibly reused) bytes.
func internMethod(m string) string {
	for _, c := range methods {
		if c == m {
			return c
		}
	}
	return strings.Clone(clip(m, 20))
}

// decisionIDs hands out 16-hex-digit decision ids: a per-process random
// key and a counter through a bijective mixer (splitmix64), so ids are
// unique in the process, look random and cost no system call.
type decisionIDs struct {
	key uint64
	n   atomic.Uint64
}

func (d *decisionIDs) init() {
	var b [8]byte
	rand.Read(b[:])
	d.key = binary.LittleEndian.Uint64(b[:])
}

func (d *decisionIDs) next() string {
	z := d.key + d.n.Add(1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], z)
	return hex.EncodeToString(b[:])
}
