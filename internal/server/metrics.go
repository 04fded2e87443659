package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMetricsListen is the address `portcullis serve` serves Prometheus
// metrics on unless told otherwise: loopback only, plain HTTP, the port the
// OpenTelemetry Prometheus exporter uses by convention.
const DefaultMetricsListen = "127.0.0.1:9464"

// listenMetrics binds the metrics listener, which serves GET /metrics apart
// from the clients' HTTPS listener: metrics describe the vault's contents
// and the service's traffic, which are not for every client that can reach
// the token endpoint. Nil when cfg disables it. A failure of this listener
// is logged, not fatal (clients do not depend on metrics), and a scrape cut
// short at shutdown is retried by Prometheus.
func listenMetrics(cfg Config, reg *prometheus.Registry, log *slog.Logger) (*Listener, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	l := &Listener{Name: "metrics"}
	if err := l.bind(cfg.MetricsListen, "--metrics-listen"); err != nil {
		return nil, fmt.Errorf("%w (choose another port, or \"off\")", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	writeTimeout := 30 * time.Second
	if cfg.MetricsProfiling {
		// Go's profiles: what an operator (or `go build -pgo`) needs to see
		// where a node spends its CPU. They hold stack traces and the command
		// line, no secrets, but they are for the operator only: the same
		// loopback-only rule as /metrics applies. A CPU profile runs for its
		// ?seconds= (default 30), hence the longer write timeout.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		writeTimeout = 5 * time.Minute
	}
	l.Server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return l, nil
}

// MetricsAddr returns the bound address of the metrics listener (useful
// with --metrics-listen 127.0.0.1:0), or "" when metrics are off.
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.Addr()
}

// validateMetrics normalises --metrics-listen and refuses a non-loopback
// address unless --metrics-allow-remote says the operator means it.
func (c *Config) validateMetrics() error {
	if strings.EqualFold(c.MetricsListen, "off") {
		c.MetricsListen = ""
	}
	if c.MetricsListen == "" {
		if c.MetricsAllowRemote {
			return errors.New("--metrics-allow-remote is set but metrics are off: give --metrics-listen an address, or drop --metrics-allow-remote")
		}
		if c.MetricsProfiling {
			return errors.New("--metrics-pprof is set but metrics are off: the profiles are served on the --metrics-listen listener; give it an address, or drop --metrics-pprof")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(c.MetricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q: want host:port, e.g. %s, or \"off\": %w", c.MetricsListen, DefaultMetricsListen, err)
	}
	if !isLoopbackHost(host) && !c.MetricsAllowRemote {
		return fmt.Errorf("--metrics-listen %q is reachable from other machines, and metrics are served without TLS or authentication: bind it to 127.0.0.1 (and scrape through a local agent or an authenticating proxy), or pass --metrics-allow-remote if the network is trusted", c.MetricsListen)
	}
	return nil
}

// isLoopbackHost reports whether a listen host binds loopback only; an
// empty host or a wildcard binds every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// routeLabel is the "route" label of a request: its pattern, with the
// method it names (ServeMux's "GET /x", kvapi's "kvapi GET /x", kvapi's
// "keyvault GET secrets") replaced by OTHER unless it is a standard method.
// Handlers may build the pattern from the method the client sent, and a
// client may send any token as a method; labels must come from a closed set.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	prefix, rest := "", pattern
	for _, p := range [...]string{"kvapi ", "keyvault "} {
		if strings.HasPrefix(rest, p) {
			prefix, rest = p, rest[len(p):]
			break
		}
	}
	method, path, found := strings.Cut(rest, " ")
	if !found || strings.HasPrefix(method, "/") {
		return pattern // no method in it
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, "OTHER":
		return pattern
	}
	return prefix + "OTHER " + path
}
