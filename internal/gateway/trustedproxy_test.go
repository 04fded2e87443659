package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// Behind a trusted load balancer every request arrives from the
// balancer's address; the failure budget, the audit and the backend must
// still see each client. One client exhausting its budget does not 429
// the others behind the same balancer, and an untrusted peer cannot
// choose its address by sending X-Forwarded-For.
func TestEngine_TrustedProxyBudgetAndAuditCountTheRealClient(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NewBackend = NewProxyBackend
		c.FailureBudget = BudgetConfig{PerMinute: 30, Burst: 3} // the harness clock stands still: no refill
	})
	h.vault.set("main", "pw", testPassword)
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	})}
	go backend.Serve(bln)
	t.Cleanup(func() { backend.Close() })
	api := basicAPI("t1", "orders", "/orders", "alice", "vault://main/secrets/pw")
	api.Backend.URLs = []string{"http://" + bln.Addr().String()}
	h.apply(t, api)
	h.settle(t)

	s := &proxy.Server{Decider: h.g.Decider(false), ErrorLog: slog.New(slog.DiscardHandler),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })

	const lb, direct = "127.0.0.2", "127.0.0.1"
	send := func(t *testing.T, from, xff, password string) (int, string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /orders/1 HTTP/1.1\r\nHost: h\r\nAuthorization: %s\r\nX-Forwarded-For: %s\r\nConnection: close\r\n\r\n",
			basicAuth("alice", password), xff)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// auditLine returns the n-th audit line (from 1) once it is written.
	auditLine := func(t *testing.T, n int) map[string]any {
		t.Helper()
		var lines []string
		waitFor(t, "the audit line", func() bool {
			if err := h.g.FlushAudit(context.Background()); err != nil {
				t.Fatal(err)
			}
			lines = strings.Split(strings.TrimSpace(h.audit.String()), "\n")
			return len(lines) >= n && lines[0] != ""
		})
		var line map[string]any
		if err := json.Unmarshal([]byte(lines[n-1]), &line); err != nil {
			t.Fatalf("audit line %q: %v", lines[n-1], err)
		}
		return line
	}

	steps := []struct {
		name, from, xff, password string
		status                    int
		source                    string // the audit's sourceIp
		backendXFF                string // what the backend got, on 200
	}{
		{"client A fails 1", lb, "203.0.113.1", "wrong", 401, "203.0.113.1", ""},
		{"client A fails 2", lb, "198.51.100.9, 203.0.113.1", "wrong", 401, "203.0.113.1", ""},
		{"client A fails 3", lb, "203.0.113.1", "wrong", 401, "203.0.113.1", ""},
		{"client A is over its budget", lb, "203.0.113.1", testPassword, 429, "203.0.113.1", ""},
		{"client B behind the same balancer is not", lb, "203.0.113.2", testPassword, 200, "203.0.113.2", "203.0.113.2, " + lb},
		{"a client spoofing B from the left is still A", lb, "203.0.113.2, 203.0.113.1", testPassword, 429, "203.0.113.1", ""},
		{"an untrusted peer cannot claim to be B", direct, "203.0.113.2", testPassword, 200, direct, direct},
		{"garbage from the balancer counts against the balancer", lb, "not-an-ip", testPassword, 200, lb, "not-an-ip, " + lb},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, body := send(t, st.from, st.xff, st.password)
			if status != st.status {
				t.Fatalf("status %d (%s), want %d", status, body, st.status)
			}
			if st.status == 200 && body != st.backendXFF {
				t.Errorf("backend X-Forwarded-For %q, want %q", body, st.backendXFF)
			}
			line := auditLine(t, i+1)
			if line["status"] != float64(st.status) || line["sourceIp"] != st.source {
				t.Errorf("audit status %v sourceIp %v, want %d from %s: %v", line["status"], line["sourceIp"], st.status, st.source, line)
			}
		})
	}
}
