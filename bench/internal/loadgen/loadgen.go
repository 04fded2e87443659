// Package loadgen is the shared core of the bench load generators
// (bench/tokenload, bench/vaultload): it refuses targets that are not on
// the loopback interface, builds a keep-alive HTTPS client, drives a request
// function from a fixed number of workers for a bounded time and count, and
// reports throughput, failures by HTTP status and latency percentiles.
package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsLoopbackHost reports whether host (a URL's hostname, without port or
// brackets) is "localhost" or a loopback IP address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckLoopbackURL parses raw and returns it when it is an https URL whose
// host is on the loopback interface; anything else is refused, because the
// load generators must only ever send traffic to this machine.
func CheckLoopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an https URL (want e.g. https://127.0.0.1:8443/…)", raw)
	}
	if !IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%q must point at a loopback address (127.0.0.0/8, ::1 or localhost), not %q", raw, u.Hostname())
	}
	return u, nil
}

// NewHTTPClient returns an HTTP/1.1 client that keeps up to conns idle
// keep-alive connections per host and trusts the PEM CA bundle caFile
// ("" = the system roots). Each request times out after 10 seconds.
func NewHTTPClient(caFile string, conns int) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// Send sends req with hc, then drains and closes the response body so that
// the keep-alive connection is reused, and returns the response's status.
func Send(hc *http.Client, req *http.Request) (int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, nil
}

// Options bound a run: Workers goroutines (one keep-alive connection each)
// send requests until Duration has passed or MaxRequests have been sent.
type Options struct {
	Workers     int
	Duration    time.Duration
	MaxRequests int64
}

// Validate checks that the options bound the run.
func (o Options) Validate() error {
	switch {
	case o.Workers < 1 || o.Workers > 1024:
		return fmt.Errorf("-c %d: want 1 to 1024 connections", o.Workers)
	case o.Duration <= 0 || o.Duration > time.Hour:
		return fmt.Errorf("-d %s: want a duration above 0 and at most 1h", o.Duration)
	case o.MaxRequests < 1:
		return fmt.Errorf("-n %d: want at least 1 request", o.MaxRequests)
	}
	return nil
}

// Request sends one request for worker w and returns the response's HTTP
// status code once its body has been drained and closed, or an error when
// no response arrived.
type Request func(ctx context.Context, w int) (status int, err error)

// Result is the outcome of Run.
type Result struct {
	Workers int
	Elapsed time.Duration
	// Latencies are those of the successful (2xx) requests, sorted.
	Latencies []time.Duration
	// Failed counts the failed requests by kind: "HTTP 401", "transport error".
	Failed map[string]int64
}

// OK returns the number of successful requests.
func (r Result) OK() int { return len(r.Latencies) }

// Failures returns the number of failed requests.
func (r Result) Failures() int64 {
	var n int64
	for _, c := range r.Failed {
		n += c
	}
	return n
}

// transportError is the Failed key of requests that got no response.
const transportError = "transport error"

// Run calls req from o.Workers goroutines until ctx is done, o.Duration has
// passed or o.MaxRequests have been started. A 2xx status is a success; any
// other status, or an error while the run is still going, is a failure.
// Requests cut short by the end of the run are not counted.
func Run(ctx context.Context, o Options, req Request) Result {
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var sent atomic.Int64
	lat := make([][]time.Duration, o.Workers)
	failed := make([]map[string]int64, o.Workers)
	perWorker := min(o.MaxRequests/int64(o.Workers)+1, 1<<16)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Workers {
		lat[w] = make([]time.Duration, 0, perWorker)
		failed[w] = map[string]int64{}
		wg.Go(func() {
			for ctx.Err() == nil && sent.Add(1) <= o.MaxRequests {
				t0 := time.Now()
				status, err := req(ctx, w)
				d := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						failed[w][transportError]++
					}
				case status >= 200 && status < 300:
					lat[w] = append(lat[w], d)
				default:
					failed[w]["HTTP "+strconv.Itoa(status)]++
				}
			}
		})
	}
	wg.Wait()
	res := Result{Workers: o.Workers, Elapsed: time.Since(start), Failed: map[string]int64{}}
	for w := range o.Workers {
		res.Latencies = append(res.Latencies, lat[w]...)
		for k, n := range failed[w] {
			res.Failed[k] += n
		}
	}
	slices.Sort(res.Latencies)
	return res
}

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of sorted latencies by the
// nearest-rank rule: the smallest latency that at least p of all latencies
// do not exceed (rank ⌈p·n⌉); p = 0 is the minimum and p = 1 the maximum.
// It returns 0 for no latencies.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[max(0, min(len(sorted)-1, rank-1))]
}

// Report writes the result in the load generators' format; unit names what
// one successful request is, e.g. "tokens/s" or "req/s".
func (r Result) Report(w io.Writer, unit string) {
	secs := r.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	fmt.Fprintf(w, "requests ok: %d  failed: %d  duration: %s  concurrency: %d\n", r.OK(), r.Failures(), r.Elapsed.Round(time.Millisecond), r.Workers)
	if len(r.Failed) > 0 {
		kinds := make([]string, 0, len(r.Failed))
		for k := range r.Failed {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%s: %d", k, r.Failed[k])
		}
		fmt.Fprintf(w, "failures: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "throughput: %.0f %s\n", float64(r.OK())/secs, unit)
	l := r.Latencies
	fmt.Fprintf(w, "latency p50: %s  p90: %s  p99: %s  max: %s\n", Percentile(l, 0.50), Percentile(l, 0.90), Percentile(l, 0.99), Percentile(l, 1))
}
