package gateway

import (
	"net/http"
	"strings"

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

// MayWait reports the requests whose decision may wait for an OIDC issuer's signing keys to be fetched
// (a bearer token while some API trusts an external issuer), which the engine then decides off its event
// loop (proxy.WaitingDecider). Tenant tokens are checked against the token service's keys in memory.
func (d decider) MayWait(r *http.Request) bool {
	a := r.Header["Authorization"]
	if len(a) == 0 || len(a[0]) < 6 || !strings.EqualFold(a[0][:6], "bearer") {
		return false
	}
	o := d.g.oidc
	o.mu.Lock()
	n := len(o.m)
	o.mu.Unlock()
	return n > 0
}

func (d decider) Decide(r *http.Request) proxy.Decision {
	v := d.g.Evaluate(r, d.plain)
	done := func(res proxy.Result) { v.done(res.Status, res.UpstreamLatency, res.Err, res.ClientErr) }
	if !v.Forward() {
		return proxy.Decision{Status: v.Status, Header: v.Header, Body: v.Body, Done: done}
	}
	up, ok := v.API.Backend.(*proxy.Upstream)
	if !ok {
		return proxy.Decision{Status: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"application/json"}},
			Body: unavailableBody, Done: done}
	}
	return proxy.Decision{Upstream: up, ResponseHeader: http.Header{DecisionIDHeader: {v.DecisionID}}, Done: done}
}
