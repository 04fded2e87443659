package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/guard"
)

// reason is why a request ended as it did: the reason label of
// portcullis_gateway_requests_total and of the audit line.
type reason uint8

const (
	reasonOK reason = iota
	reasonNoCredentials
	reasonInvalidCredentials
	reasonForbidden
	reasonRateLimited
	reasonInsecureTransport
	reasonNotFound
	reasonUnavailable
	reasonUpstreamError
	reasonMethodNotAllowed
	reasonInvalidRequest
	reasonClientError
	numReasons
)

var reasonNames = [numReasons]string{"ok", "no_credentials", "invalid_credentials", "forbidden", "rate_limited",
	"insecure_transport", "not_found", "unavailable", "upstream_error", "method_not_allowed", "invalid_request",
	"client_error"}

func (r reason) String() string { return reasonNames[r] }

// allowed reports whether the reason belongs to a forwarded request. client_error is an admitted
// request whose exchange the client broke off (it left, or its body was malformed or stalled).
func (r reason) allowed() bool {
	return r == reasonOK || r == reasonUpstreamError || r == reasonClientError
}

func (r reason) outcome() string {
	if r.allowed() {
		return "allowed"
	}
	return "refused"
}

type metrics struct {
	requests     *prometheus.CounterVec
	upstream     *prometheus.HistogramVec
	auditDropped prometheus.Counter
	revocation   *prometheus.CounterVec
	unrouted     *apiCounters // requests no API matched
}

// apiCounters are one API's series, resolved at compile time so the
// request path does no label lookup.
type apiCounters struct {
	requests [numReasons]prometheus.Counter
	upstream prometheus.Observer
	// revocation counts client-certificate revocation checks by outcome
	// (guard.RevocationGood, ...); nil when the API checks none.
	revocation map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_gateway_requests_total",
			Help: "Gateway requests by API, outcome (allowed, refused) and reason.",
		}, []string{"tenant", "api", "outcome", "reason"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_gateway_upstream_seconds",
			Help:    "Time from forwarding a request to the backend's response head.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tenant", "api"}),
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_gateway_audit_dropped_total",
			Help: "Gateway audit lines dropped because the audit writer could not keep up.",
		}),
		revocation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_gateway_revocation_checks_total",
			Help: "Client-certificate revocation checks (CRL, OCSP) by API and outcome (good, revoked, unknown, unavailable).",
		}, []string{"tenant", "api", "outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.upstream, m.auditDropped, m.revocation} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	m.unrouted = m.api("", "")
	return m, nil
}

func (m *metrics) api(tenant, api string) *apiCounters {
	c := &apiCounters{upstream: m.upstream.WithLabelValues(tenant, api)}
	for r := reason(0); r < numReasons; r++ {
		c.requests[r] = m.requests.WithLabelValues(tenant, api, r.outcome(), r.String())
	}
	return c
}

// forget drops the series of an API that no longer exists.
func (m *metrics) forget(tenant, api string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"tenant": tenant, "api": api})
	m.upstream.DeletePartialMatch(prometheus.Labels{"tenant": tenant, "api": api})
	m.revocation.DeletePartialMatch(prometheus.Labels{"tenant": tenant, "api": api})
}

// revocationCounters are the revocation series of an API that checks
// revocation (other APIs have none).
func (m *metrics) revocationCounters(tenant, api string) map[string]prometheus.Counter {
	c := map[string]prometheus.Counter{}
	for _, o := range revocationOutcomes {
		c[o] = m.revocation.WithLabelValues(tenant, api, o)
	}
	return c
}

var revocationOutcomes = []string{guard.RevocationGood, guard.RevocationRevoked, guard.RevocationUnknown, guard.RevocationUnavailable}
