package gateway

import (
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
)

// BenchmarkEvaluate_APIKey is the hot path of an API-key API: strip,
// route, budget, policy, principal headers, decision id, metrics, audit.
func BenchmarkEvaluate_APIKey(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.Audit = io.Discard })
	h.vault.set("main", "k", testKey)
	api := apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k")
	api.Match.Hosts = []string{"api.example.com"}
	if err := h.g.Apply([]directory.API{api}); err != nil {
		b.Fatal(err)
	}
	h.settle(b)
	u, _ := url.Parse("https://api.example.com/orders/42")
	r := &http.Request{Method: "GET", URL: u, Host: "api.example.com", RemoteAddr: "192.0.2.1:4000", Header: http.Header{}}
	b.ReportAllocs()
	// CPU time, not only wall time: on a shared machine the wall clock
	// also counts other processes.
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	defer func() {
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	for b.Loop() {
		clear(r.Header)
		r.Header["X-Functions-Key"] = []string{testKey}
		r.Header["Accept"] = []string{"application/json"}
		v := h.g.Evaluate(r, false)
		if !v.Forward() {
			b.Fatalf("refused: %s", v.Body)
		}
		v.Done(200, 0, nil)
	}
}
