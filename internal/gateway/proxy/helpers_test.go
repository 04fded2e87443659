package proxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real net/http server on loopback that counts its connections.
type backend struct {
	srv   *http.Server
	ln    net.Listener
	url   *url.URL
	conns atomic.Int64
	mu    sync.Mutex
	open  map[net.Conn]struct{}
}

func startBackend(t *testing.T, h http.Handler) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, open: map[net.Conn]struct{}{}}
	b.srv = &http.Server{Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch s {
		case http.StateNew:
			b.conns.Add(1)
			b.open[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(b.open, c)
		}
	}}
	b.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// closeAll closes every open backend connection, as a backend reaping idle keep-alive connections does.
func (b *backend) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.open {
		c.Close()
	}
}

// forwardTo is a Decider that forwards everything to one upstream and records results.
type forwardTo struct {
	up      *Upstream
	mu      sync.Mutex
	results []Result
	edit    func(r *http.Request)
	seen    func(r *http.Request)
}

func (f *forwardTo) Decide(r *http.Request) Decision {
	if f.seen != nil {
		f.seen(r)
	}
	if f.edit != nil {
		f.edit(r)
	}
	return Decision{Upstream: f.up, Done: func(res Result) {
		f.mu.Lock()
		f.results = append(f.results, res)
		f.mu.Unlock()
	}}
}

func newUpstream(t *testing.T, cfg UpstreamConfig) *Upstream {
	t.Helper()
	up, err := NewUpstream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	up.probeAfter = 0 // probe every reuse: tests close backend connections and reuse at once
	t.Cleanup(up.Close)
	return up
}

// startProxy serves s on a loopback listener (TLS when cfg is set) and shuts it down at the end.
func startProxy(t *testing.T, s *Server, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if cfg != nil {
			done <- s.ServeTLS(ln, cfg)
		} else {
			done <- s.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		s.Shutdown(t.Context())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// rawExchange writes raw bytes on a new connection and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, []byte, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body, br, c
}

// testCA returns a server certificate for 127.0.0.1 and a pool trusting it.
func testCA(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "proxy test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newBufReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// wait returns the results once n exchanges have ended (Done runs after the response is sent).
func (f *forwardTo) wait(t *testing.T, n int) []Result {
	t.Helper()
	waitFor(t, "Done calls", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.results) >= n })
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Result(nil), f.results...)
}

// cannedBackend answers the first request on every connection with the same raw bytes and closes.
func cannedBackend(t *testing.T, raw string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.WriteString(c, raw)
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// rawBackend starts a cannedBackend and returns the address of a proxy forwarding to it.
func rawBackend(t *testing.T, raw string) string {
	t.Helper()
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{cannedBackend(t, raw)}})}
	return startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
}

var discardLog = slog.New(slog.DiscardHandler)
