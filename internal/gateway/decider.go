package gateway

import (
	"net/http"
	"sync"

	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// Decider is the gateway as the HTTP engine's proxy.Decider on one
// listener; plainHTTP says the listener has no TLS.
func (g *Gateway) Decider(plainHTTP bool) proxy.Decider { return decider{g, plainHTTP} }

// NewProxyBackend makes the engine's connection pool for an API's
// upstream; it is Config.NewBackend for a gateway served by package proxy.
func NewProxyBackend(u Upstream) (Backend, error) {
	return proxy.NewUpstream(proxy.UpstreamConfig{
		URLs: u.URLs, TLS: u.TLS,
		ConnectTimeout: u.ConnectTimeout, ResponseHeaderTimeout: u.ResponseHeaderTimeout, IdleTimeout: u.IdleTimeout,
	})
}

type decider struct {
	g     *Gateway
	plain bool
}

// unavailableBody answers an admitted request whose API has no connection
// pool: Apply makes one for every API it admits to, so this is a bug, told
// to the client as the backend being unavailable.
var unavailableBody = []byte(`{"error":"temporarily_unavailable","error_description":"this API has no backend connection pool; see the server log"}` + "\n")

// Decide decides r, waiting when it must: for an OIDC issuer's signing keys
// or an OCSP responder.
func (d decider) Decide(r *http.Request) proxy.Decision {
	dec, _ := d.decide(r, false)
	return dec
}

// DecideNow decides r on an event loop, unless the decision would wait on
// the network: for an OIDC issuer's key set (a token naming a key not seen
// yet) or an OCSP responder (a certificate without a cached answer). Then
// the fetch or question is started, DecideNow reports false, and the
// engine has Decide decide r off the loop, where it joins the fetch. Steady
// traffic with tokens from Entra ID or any OIDC issuer, and certificates
// whose OCSP answers are cached, stays on the loop.
func (d decider) DecideNow(r *http.Request) (proxy.Decision, bool) {
	return d.decide(r, true)
}

func (d decider) decide(r *http.Request, now bool) (proxy.Decision, bool) {
	x := exchanges.Get().(*exchange)
	x.live = true
	x.v = d.g.evaluate(r, d.plain, now, x.vals[:])
	v := &x.v
	if v.mayWait {
		x.done(proxy.Result{})
		return proxy.Decision{}, false
	}
	if !v.Forward() {
		return proxy.Decision{Status: v.Status, Header: v.Header, Body: v.Body, Done: x.done}, true
	}
	up, ok := v.API.Backend.(*proxy.Upstream)
	if !ok {
		return proxy.Decision{Status: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"application/json"}},
			Body: unavailableBody, Done: x.done}, true
	}
	x.id[0] = v.DecisionID
	return proxy.Decision{Upstream: up, ResponseHeader: x.respHeader, Done: x.done}, true
}

// An exchange carries one decided request through the engine: the
// verdict, the field that returns the decision id to the client, the
// principal header values and the Done callback. Exchanges are pooled, as
// a request would otherwise allocate each of them. The engine calls Done
// once, after its last use of the Decision and of the request's header,
// and Done hands the exchange back to the pool.
type exchange struct {
	v    Verdict
	live bool // between Decide and Done: a second Done must not pool it twice
	id   [1]string
	// respHeader is {DecisionIDHeader: id[:]}, made once per exchange.
	respHeader http.Header
	vals       [pooledPrincipalValues]string
	done       func(proxy.Result)
}

// pooledPrincipalValues covers the decision id and the default principal
// headers with room to spare; an API configured with more allocates.
const pooledPrincipalValues = 8

var exchanges sync.Pool

func init() { exchanges.New = newExchange }

func newExchange() any {
	x := &exchange{}
	x.respHeader = http.Header{DecisionIDHeader: x.id[:]}
	x.done = func(res proxy.Result) {
		if !x.live {
			return
		}
		x.v.done(res.Status, res.UpstreamLatency, res.Err, res.ClientErr)
		x.live = false
		x.v = Verdict{}
		x.id[0] = ""
		clear(x.vals[:])
		exchanges.Put(x)
	}
	return x
}
