package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// The decider pools what it hands the engine per request (the verdict, the
// decision id field of the answer, the principal header values). Under
// concurrent load on both engines (event loop on plain HTTP, goroutines and
// HTTP/2 on TLS) every answer must carry its own decision id, the one the
// backend got with the request, and the backend the caller's own identity.
func TestDecider_ConcurrentRequestsKeepTheirOwnDecisionAndPrincipal(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get(DecisionIDHeader), r.Header.Get("X-Portcullis-Subject"))
	}))
	t.Cleanup(backend.Close)
	h := newHarness(t, func(c *Config) { c.NewBackend = NewProxyBackend })
	keys := []string{testKey, "second-" + testKey}
	h.vault.set("main", "k1", keys[0])
	h.vault.set("main", "k2", keys[1])
	api := apiKeyAPI("t1", "orders", "/", "vault://main/secrets/k1", "vault://main/secrets/k2")
	api.Backend.URLs = []string{backend.URL}
	api.AllowInsecureAuth = true // the plain-HTTP listener
	h.apply(t, api)
	h.settle(t)

	ca, issue := newCA(t, "Server CA")
	srvCert := issue("gateway", x509.ExtKeyUsageServerAuth, "gw.test")
	plain, tlsLn := listen(t), listen(t)
	sp := &proxy.Server{Decider: h.g.Decider(true)}
	go sp.Serve(plain)
	st := &proxy.Server{Decider: h.g.Decider(false)}
	go st.ServeTLS(tlsLn, h.g.ListenerTLS(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	t.Cleanup(func() { sp.Close(); st.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	for _, tc := range []struct {
		name  string
		url   string
		proto int
		tr    *http.Transport
	}{
		{"HTTP/1.1 event loop", "http://" + plain.Addr().String() + "/o", 1, &http.Transport{MaxIdleConnsPerHost: 8}},
		{"HTTP/2 over TLS", "https://gw.test/o", 2, &http.Transport{ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
				return net.Dial(network, tlsLn.Addr().String())
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: tc.tr, Timeout: 10 * time.Second}
			t.Cleanup(tc.tr.CloseIdleConnections)
			var mu sync.Mutex
			seen := map[string]bool{}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 40 {
						k := (w + i) % 2
						req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
						req.Header.Set("x-functions-key", keys[k])
						resp, err := client.Do(req)
						if err != nil {
							errs <- err
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						id := resp.Header.Get(DecisionIDHeader)
						want := fmt.Sprintf("%s|key%d", id, k+1)
						if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto || len(id) != 16 || string(body) != want {
							errs <- fmt.Errorf("%s HTTP/%d, decision id %q, backend got %q, want %q", resp.Status, resp.ProtoMajor, id, body, want)
							return
						}
						mu.Lock()
						dup := seen[id]
						seen[id] = true
						mu.Unlock()
						if dup {
							errs <- fmt.Errorf("decision id %s answered twice", id)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
