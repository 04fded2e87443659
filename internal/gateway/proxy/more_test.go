package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProxy_EarlyBackendAnswerDoesNotHang(t *testing.T) {
	_, f, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"+strings.Repeat("x", 1000))
	resp, err := http.ReadResponse(newBufReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The exchange must end (the body goroutine is cut) even though the client never sends the rest.
	if res := f.wait(t, 1); res[0].Status != 413 {
		t.Fatalf("result %+v", res[0])
	}
}

func TestProxy_H2Inbound(t *testing.T) {
	cert, pool := testCA(t)
	b := startBackend(t, http.HandlerFunc(echoHandler))
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	downUp := newUpstream(t, UpstreamConfig{URLs: []*url.URL{dead}})
	d := deciderFunc(func(r *http.Request) Decision {
		switch r.URL.Path {
		case "/deny":
			return Decision{Status: 403, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"error":"insufficient_scope"}`)}
		case "/down":
			return Decision{Upstream: downUp}
		}
		return Decision{Upstream: up}
	})
	addr := startProxy(t, &Server{Decider: d, ErrorLog: discardLog}, &tls.Config{Certificates: []tls.Certificate{cert}})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/deny", 403, `{"error":"insufficient_scope"}`},
		{"GET", "/down", 502, `"error":"bad_gateway"`},
		{"GET", "/get", 200, `"Path":"/get"`},
		{"TRACE", "/get", 405, `"error":"method_not_allowed"`},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "https://"+addr+tc.path, nil)
			for _, line := range strings.Split(strings.TrimSuffix(spoofedForwarding, "\r\n"), "\r\n") {
				k, v, _ := strings.Cut(line, ": ")
				req.Header.Add(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("HTTP/%d %d %s", resp.ProtoMajor, resp.StatusCode, body)
			}
			if tc.path == "/get" && tc.method == "GET" {
				var e echoed
				json.Unmarshal(body, &e)
				if len(e.TE) != 0 {
					t.Fatalf("backend saw %+v", e)
				}
				checkForwarding(t, e.Header, "https", addr)
			}
		})
	}
}

func TestProxy_ShutdownEndsHTTP2Connections(t *testing.T) {
	cert, pool := testCA(t)
	b := startBackend(t, http.HandlerFunc(echoHandler))
	s := &Server{Decider: &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/%d", resp.ProtoMajor)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle HTTP/2 connection: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("ServeTLS: %v", err)
	}
}

func TestProxy_HTTPSBackendWithoutH2UsesThePool(t *testing.T) {
	cert, pool := testCA(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var conns, requests int
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	bs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-mu
			requests++
			mu <- struct{}{}
			if r.ProtoMajor != 1 || r.TLS == nil {
				http.Error(w, "want HTTP/1.1 over TLS", 400)
				return
			}
			io.WriteString(w, "ok")
		}),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no h2
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				<-mu
				conns++
				mu <- struct{}{}
			}
		},
	}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	u := &url.URL{Scheme: "https", Host: ln.Addr().String()}
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{u}, TLS: &tls.Config{RootCAs: pool}})}
	addr := startProxy(t, &Server{Decider: f}, nil)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for i := 0; i < 5; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
	<-mu
	defer func() { mu <- struct{}{} }()
	// TLS 1.3 session tickets arrive after the handshake (before the first response, which consumes
	// them); the liveness probe must not mistake them for a closing backend.
	if requests != 5 || conns != 1 {
		t.Fatalf("%d requests over %d backend connections", requests, conns)
	}
}

func TestProxy_DeciderSeesClientCertificate(t *testing.T) {
	cert, pool := testCA(t)
	b := startBackend(t, http.HandlerFunc(echoHandler))
	peers := make(chan int, 2)
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}}), seen: func(r *http.Request) {
		if r.TLS != nil {
			peers <- len(r.TLS.PeerCertificates)
		}
	}}
	addr := startProxy(t, &Server{Decider: f}, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if n := <-peers; n != 1 {
			t.Fatalf("h2=%v: Decider saw %d peer certificates, want 1", h2, n)
		}
	}
}

func TestProxy_HTTP10KeepAliveWhenAsked(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), UpstreamConfig{})
	resp, body, br, c := rawExchange(t, addr, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("%d %q close=%v %v", resp.StatusCode, body, resp.Close, resp.Header)
	}
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("second request on the kept connection: %v %v", resp, err)
	}
}

func TestProxy_LocalAnswerToRequestWithBodyCloses(t *testing.T) {
	d := deciderFunc(func(r *http.Request) Decision {
		return Decision{Status: 401, Body: []byte(`{"error":"unauthorized"}`)}
	})
	addr := startProxy(t, &Server{Decider: d}, nil)
	resp, body, br, _ := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 401 || string(body) != `{"error":"unauthorized"}` || !resp.Close {
		t.Fatalf("%d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	// The unread body must never be parsed as a request.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection kept open after a refusal with an unread body: %v", err)
	}
}
