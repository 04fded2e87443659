package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
	"github.com/portcullis/portcullis/internal/gateway/proxy/rawhttp"
)

// An HTTP/2 client may send requests for several hosts on one connection
// (RFC 7540 §9.1.1). A connection opened without a client certificate must
// not reach an API that needs one just because another host's API did not.
func TestEngine_HTTP2ConnectionWithoutCertificateIsRefusedByACertificateAPIOfAnotherHost(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NewBackend = NewProxyBackend })
	h.vault.set("main", "k", testKey)
	backend := rawhttp.Backend(t).String()
	keys := apiKeyAPI("t1", "keys", "/", "vault://main/secrets/k")
	keys.Match.Hosts = []string{"a.test"}
	keys.Backend.URLs = []string{backend}
	certs := apiKeyAPI("t1", "certs", "/", "unused")
	certs.Match.Hosts = []string{"b.test"}
	certs.Backend.URLs = []string{backend}
	certs.Policy.Methods = []guard.MethodSpec{certMethod()}
	h.apply(t, keys, certs)
	h.settle(t)

	ca, issue := newCA(t, "Server CA")
	srvCert := issue("gateway", x509.ExtKeyUsageServerAuth, "a.test", "b.test")
	s := &proxy.Server{Decider: h.g.Decider(false)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeTLS(ln, h.g.ListenerTLS(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	t.Cleanup(func() { s.Close() })

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	dials := 0
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
			dials++
			return net.Dial(network, ln.Addr().String())
		},
	}}
	send := func(host string, hdr ...string) (*http.Response, string) {
		t.Helper()
		// The URL names a.test, so every request takes the one connection
		// made for it; Host (":authority") names the API, as a coalescing
		// client does.
		req, _ := http.NewRequest(http.MethodGet, "https://a.test/x", nil)
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := send("a.test", "x-functions-key", testKey); resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("API key API: %s HTTP/%d %s", resp.Status, resp.ProtoMajor, body)
	}
	resp, body := send("b.test")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "presented none") {
		t.Fatalf("certificate API on the same connection: %s %s", resp.Status, body)
	}
	if dials != 1 {
		t.Fatalf("%d connections, want the one shared by both hosts", dials)
	}
}
