package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopbackURL_RefusesAnythingOffThisMachine(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"IPv4 loopback", "https://127.0.0.1:8443/vaults/default", true},
		{"other 127/8 address", "https://127.3.4.5:8443/x", true},
		{"localhost", "https://localhost:8443/x", true},
		{"localhost in capitals", "https://LOCALHOST/x", true},
		{"IPv6 loopback", "https://[::1]:8443/x", true},
		{"plain http", "http://127.0.0.1:8443/x", false},
		{"private address", "https://10.0.0.1:8443/x", false},
		{"private 192.168", "https://192.168.1.10/x", false},
		{"public name", "https://example.com/x", false},
		{"name that starts with localhost", "https://localhost.example.com/x", false},
		{"subdomain of localhost", "https://default.localhost:8443/x", false},
		{"unspecified address", "https://0.0.0.0:8443/x", false},
		{"no host", "https:///x", false},
		{"not a URL", "::", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckLoopbackURL(tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckLoopbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

func TestPercentile_NearestRankOnSortedLatencies(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no latencies", nil, 0.5, 0},
		{"one latency, median", []time.Duration{7}, 0.5, 7},
		{"one latency, max", []time.Duration{7}, 1, 7},
		// Nearest rank: p50 of 1..100 is the 50th value, p99 the 99th (not
		// the maximum, which floor(p·n) used to give).
		{"p50 of 1..100ms", hundred, 0.50, 50 * time.Millisecond},
		{"p90 of 1..100ms", hundred, 0.90, 90 * time.Millisecond},
		{"p99 of 1..100ms", hundred, 0.99, 99 * time.Millisecond},
		{"p50 of two is the lower", []time.Duration{1, 2}, 0.5, 1},
		{"p51 of two is the upper", []time.Duration{1, 2}, 0.51, 2},
		{"max of 1..100ms", hundred, 1, 100 * time.Millisecond},
		{"p0 is the minimum", hundred, 0, 1 * time.Millisecond},
		{"out of range p is clamped", hundred, 2, 100 * time.Millisecond},
		{"negative p is clamped", hundred, -1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestRun_StopsAtMaxRequestsAndCountsFailuresByStatus(t *testing.T) {
	// Request i (in any order) answers by i mod 4: 200, 200, 404, transport
	// error. The run ends by count: the duration is far longer than needed.
	seq := make(chan int, 1000)
	for i := range 1000 {
		seq <- i
	}
	res := Run(context.Background(), Options{Workers: 4, Duration: time.Hour, MaxRequests: 100}, func(ctx context.Context, w int) (int, error) {
		switch <-seq % 4 {
		case 0, 1:
			return 200, nil
		case 2:
			return 404, nil
		default:
			return 0, errors.New("connection reset")
		}
	})
	if res.OK() != 50 || res.Failed["HTTP 404"] != 25 || res.Failed["transport error"] != 25 || res.Failures() != 50 {
		t.Fatalf("ok %d, failed %v; want 50 ok, 25 HTTP 404, 25 transport errors", res.OK(), res.Failed)
	}
	var out strings.Builder
	res.Report(&out, "req/s")
	for _, want := range []string{"requests ok: 50  failed: 50", "failures: HTTP 404: 25, transport error: 25", "req/s", "latency p50:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestOptionsValidate_RequiresBoundedRuns(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"typical", Options{Workers: 16, Duration: 10 * time.Second, MaxRequests: 1000}, true},
		{"no workers", Options{Workers: 0, Duration: time.Second, MaxRequests: 1}, false},
		{"no duration", Options{Workers: 1, Duration: 0, MaxRequests: 1}, false},
		{"over an hour", Options{Workers: 1, Duration: 2 * time.Hour, MaxRequests: 1}, false},
		{"no requests", Options{Workers: 1, Duration: time.Second, MaxRequests: 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.o.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
