package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// A client that breaks off an admitted exchange (a malformed, short or
// stalled body) is counted and audited as client_error, never blamed on
// the backend; refusals before routing have reasons of their own.
func TestEngine_ClientFailuresAreNotBlamedOnTheBackend(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NewBackend = NewProxyBackend })
	h.vault.set("main", "k", testKey)
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the whole body first, as most backends do
	})}
	go backend.Serve(bln)
	t.Cleanup(func() { backend.Close() })
	orders := apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k")
	orders.Backend.URLs = []string{"http://" + bln.Addr().String()}
	orders.Match.Methods = []string{"GET", "POST"}
	down := apiKeyAPI("t1", "down", "/down", "vault://main/secrets/k") // its backend, 127.0.0.1:9, refuses
	h.apply(t, orders, down)
	h.settle(t)

	s := &proxy.Server{Decider: h.g.Decider(false), ReadBodyTimeout: 100 * time.Millisecond, ErrorLog: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })

	key := "x-functions-key: " + testKey + "\r\n"
	tests := []struct {
		name, raw  string
		closeWrite bool // the client shuts its side after raw
		status     int
		reason     string
	}{
		{name: "malformed chunked body", raw: "POST /orders HTTP/1.1\r\nHost: h\r\n" + key + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
			status: 400, reason: "client_error"},
		{name: "body shorter than declared", raw: "POST /orders HTTP/1.1\r\nHost: h\r\n" + key + "Content-Length: 10\r\n\r\nabc",
			closeWrite: true, status: 400, reason: "client_error"},
		{name: "stalled body", raw: "POST /orders HTTP/1.1\r\nHost: h\r\n" + key + "Content-Length: 10\r\n\r\nabc",
			status: 408, reason: "client_error"},
		{name: "method not allowed", raw: "DELETE /orders HTTP/1.1\r\nHost: h\r\n" + key + "\r\n", status: 405, reason: "method_not_allowed"},
		{name: "empty path segment", raw: "GET //orders HTTP/1.1\r\nHost: h\r\n" + key + "\r\n", status: 400, reason: "invalid_request"},
		{name: "backend down", raw: "GET /down HTTP/1.1\r\nHost: h\r\n" + key + "\r\n", status: 502, reason: "upstream_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logsBefore := h.logs.String()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.raw)
			if tc.closeWrite {
				c.(*net.TCPConn).CloseWrite()
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), `"error_description":`) {
				t.Fatalf("%s %s, want %d with a JSON description", resp.Status, body, tc.status)
			}
			var line map[string]any
			waitFor(t, "the audit line", func() bool {
				if err := h.g.FlushAudit(context.Background()); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSpace(h.audit.String()), "\n")
				line = nil
				json.Unmarshal([]byte(lines[len(lines)-1]), &line)
				return line["status"] == float64(tc.status)
			})
			if line["reason"] != tc.reason {
				t.Errorf("audit reason %v, want %s: %v", line["reason"], tc.reason, line)
			}
			if detail, _ := line["detail"].(string); strings.Contains(detail, testKey) {
				t.Errorf("the audit line holds the key: %v", line)
			}
			if newLogs := strings.TrimPrefix(h.logs.String(), logsBefore); tc.reason == "client_error" && strings.Contains(newLogs, "backend") {
				t.Errorf("a client's failure was logged as the backend's:\n%s", newLogs)
			}
			if got := requestsWithReason(t, h, tc.reason); got < 1 {
				t.Errorf("no requests_total series with reason %s", tc.reason)
			}
		})
	}
}

// requestsWithReason sums portcullis_gateway_requests_total over the
// series of one reason.
func requestsWithReason(t *testing.T, h *harness, rs string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "portcullis_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == rs {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}
