package sts

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the token service's Prometheus collectors.
type metrics struct {
	issued   *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec

	issuedBy map[string]prometheus.Counter // pre-resolved per method: no label hashing per token
	okTime   prometheus.Observer
	failTime prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_sts_tokens_issued_total",
			Help: "Access tokens issued, by client authentication method.",
		}, []string{"method"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_sts_token_failures_total",
			Help: "Refused token requests, by client authentication method and AADSTS code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_sts_token_request_duration_seconds",
			Help:    "Token endpoint latency, by result (issued or refused).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"result"}),
		issuedBy: make(map[string]prometheus.Counter),
	}
	for _, method := range []string{MethodSecretBasic, MethodSecretPost, MethodPrivateKeyJWT} {
		m.issuedBy[method] = m.issued.WithLabelValues(method)
	}
	m.okTime = m.duration.WithLabelValues("issued")
	m.failTime = m.duration.WithLabelValues("refused")
	return m
}

func (m *metrics) success(method string, start time.Time) {
	if c, ok := m.issuedBy[method]; ok {
		c.Inc()
	}
	m.okTime.Observe(time.Since(start).Seconds())
}

func (m *metrics) failure(method string, code int, start time.Time) {
	if method == "" {
		method = "unknown"
	}
	m.failures.WithLabelValues(method, strconv.Itoa(code)).Inc()
	m.failTime.Observe(time.Since(start).Seconds())
}

// Collectors returns the token service's Prometheus collectors: tokens
// issued by method, failures by method and AADSTS code, and latency.
func (s *Server) Collectors() []prometheus.Collector {
	c := []prometheus.Collector{s.metrics.issued, s.metrics.failures, s.metrics.duration}
	if s.shared != nil {
		c = append(c, s.shared.unshared)
	}
	return c
}
