package gateway

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
	"github.com/portcullis/portcullis/internal/gateway/proxy/rawhttp"
)

// BenchmarkHotPath is one request through the whole gateway, as served:
// the HTTP engine reads the request from a keep-alive connection, the
// gateway decides it (strip, route, budget, policy, principal headers,
// decision id), the engine forwards it to a backend over a pooled
// connection and relays the answer, and Done counts and audits it. The
// client and the backend are raw sockets that allocate nothing, so
// allocs/op are the gateway's own.
func BenchmarkHotPath(b *testing.B) {
	backend := rawhttp.Backend(b).String()
	for _, tc := range []struct {
		name   string
		policy guard.PolicySpec
		header string
	}{
		{"anonymous", guard.PolicySpec{Anonymous: true}, ""},
		{"apiKey", guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecAPIKey, Header: "x-functions-key",
			Keys: []guard.APIKeySpec{{Name: "k1", Secret: "vault://main/secrets/k"}}}}}, "X-Functions-Key: " + testKey + "\r\n"},
		{"basic", guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBasic,
			Users: []guard.BasicUserSpec{{Name: "bench", Password: "vault://main/secrets/k"}}}}}, "Authorization: Basic " + basicCredentials("bench", testKey) + "\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, func(c *Config) { c.Audit = io.Discard; c.NewBackend = NewProxyBackend })
			h.vault.set("main", "k", testKey)
			api := apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k")
			api.Backend.URLs = []string{backend}
			api.Policy = tc.policy
			if err := h.g.Apply([]directory.API{api}); err != nil {
				b.Fatal(err)
			}
			h.settle(b)
			s := &proxy.Server{Decider: h.g.Decider(false)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(ln)
			defer s.Shutdown(b.Context())
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /orders/42 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n" + tc.header + "\r\n")
			br := bufio.NewReader(c)
			body := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				if err := rawhttp.Exchange(c, br, req, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func basicCredentials(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
