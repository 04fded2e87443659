package gateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// BenchmarkHotPath is one request through the whole gateway, as served:
// the HTTP engine reads the request from a keep-alive connection, the
// gateway decides it (strip, route, budget, policy, principal headers,
// decision id), the engine forwards it to a backend over a pooled
// connection and relays the answer, and Done counts and audits it. The
// client and the backend are raw sockets that allocate nothing, so
// allocs/op are the gateway's own.
func BenchmarkHotPath(b *testing.B) {
	backend := rawBackend(b)
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
				if err := exchange(c, br, req, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func basicCredentials(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// rawBackend answers every request with a fixed 100-byte JSON body.
func rawBackend(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	body := `{"status":"ok","service":"bench-backend","version":"1.0.0","items":[1,2,3,4,5],"message":"hello!!!"}`
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// exchange sends req and reads one response with a Content-Length body.
func exchange(c net.Conn, br *bufio.Reader, req, body []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	first, ok, n := true, false, -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			first, ok = false, bytes.HasPrefix(line, []byte("HTTP/1.1 200 "))
		}
		if len(line) == 2 {
			break
		}
		const cl = "Content-Length: "
		if len(line) > len(cl) && string(line[:len(cl)]) == cl {
			n, _ = strconv.Atoi(string(line[len(cl) : len(line)-2]))
		}
	}
	if n < 0 || n > len(body) {
		return io.ErrUnexpectedEOF
	}
	if _, err := io.ReadFull(br, body[:n]); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("refused: %s", body[:n])
	}
	return nil
}
