package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"github.com/portcullis/portcullis/internal/logbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProxy_ResponseHeaderOnH2Backend(t *testing.T) {
	cert, pool := testCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Decision-Id", "forged-by-the-backend")
		w.Header().Set("X-Other", "kept")
		io.WriteString(w, "ok")
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	u := &url.URL{Scheme: "https", Host: ln.Addr().String()}
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{u}, TLS: &tls.Config{RootCAs: pool}})
	addr := startProxy(t, &Server{Decider: withResponseHeader{up}}, nil)
	for i := 0; i < 2; i++ { // first request discovers h2, second uses the h2 transport directly
		resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%s: %q", resp.Status, body)
		}
		if got := resp.Header.Values("X-Decision-Id"); len(got) != 1 || got[0] != "d-1" {
			t.Errorf("request %d: X-Decision-Id = %q, want only the Decider's", i, got)
		}
		if resp.Header.Get("X-Other") != "kept" {
			t.Errorf("request %d: the backend's other fields were lost: %v", i, resp.Header)
		}
	}
}

func TestProxy_BackendDyingDuringStreamedUploadIs502(t *testing.T) {
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
			// Read the head, then die without answering.
			go func() {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "http", Host: ln.Addr().String()}}})}
	addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
	// Only part of the body is sent, so the engine streams it while awaiting the answer.
	resp, body, _, _ := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%s: %s, want 502", resp.Status, body)
	}
	var e struct{ Error, Error_description string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Error_description, "127.0.0.1") || strings.Contains(e.Error_description, "tcp") {
		t.Errorf("description reveals connection details: %q", e.Error_description)
	}
	if res := f.wait(t, 1); res[0].Status != http.StatusBadGateway {
		t.Errorf("Done reported %d, want 502", res[0].Status)
	}
}

// A backend that reads the request and closes without an answer, or in the middle of one, gets the client a
// 502 (on the event loop with an io_uring, the end of stream is met by a read made ahead and reported by
// the connection's next read).
func TestProxy_BackendClosingInsteadOfAnsweringIs502(t *testing.T) {
	tests := []struct{ name, answer string }{
		{"nothing", ""},
		{"part of a head", "HTTP/1.1 200 OK\r\nContent-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{cannedBackend(t, tc.answer)}})}
			addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
			resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "missing or malformed") {
				t.Fatalf("%s: %s, want 502 saying the answer was missing or malformed", resp.Status, body)
			}
			if res := f.wait(t, 1); res[0].Status != http.StatusBadGateway || res[0].Err == nil {
				t.Errorf("Done reported %d, %v; want 502 with the backend's error", res[0].Status, res[0].Err)
			}
		})
	}
}

func TestProxy_LocalRefusalOfAnUploadEndsWithoutReset(t *testing.T) {
	d := deciderFunc(func(r *http.Request) Decision {
		return Decision{Status: 401, Body: []byte(`{"error":"unauthorized"}`)}
	})
	addr := startProxy(t, &Server{Decider: d}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// More body than the engine buffers: most of it stays unread in the kernel.
	body := strings.Repeat("x", 64<<10)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the refusal was lost: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 401 || string(got) != `{"error":"unauthorized"}` {
		t.Fatalf("%d %q %v", resp.StatusCode, got, err)
	}
	// A reset (rather than an orderly end) can destroy the answer before a client has read it.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection ended with %v, want an orderly close (EOF)", err)
	}
}

func TestProxy_CloseDuringTLSHandshake(t *testing.T) {
	cert, _ := testCA(t)
	s := &Server{Decider: &forwardTo{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.init() // the test reads s.conns
	done := make(chan error, 1)
	go func() { done <- s.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The client sends nothing: the engine waits in the handshake.
	waitFor(t, "the connection to be accepted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 1
	})
	s.Close()
	<-done
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
}

func TestProxy_PooledConnectionOutlivesResponseHeaderTimeout(t *testing.T) {
	const headTimeout = 200 * time.Millisecond
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}, ResponseHeaderTimeout: headTimeout, IdleTimeout: time.Minute})}
	addr := startProxy(t, &Server{Decider: f}, nil)
	// One client connection: the event-loop engine pools backend connections per loop, and a loop serves
	// a client connection for its whole life.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		sent := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%s: %q", resp.Status, body)
		}
		// Let the pooled connection sit idle past the head timeout of the exchange it served.
		waitFor(t, "the head timeout to pass", func() bool { return time.Since(sent) > 2*headTimeout })
	}
	if n := b.conns.Load(); n != 1 {
		t.Fatalf("backend saw %d connections, want 1 (the pooled one reused)", n)
	}
}

func TestProxy_MalformedHeadAfterHEADGetsItsBody(t *testing.T) {
	d := deciderFunc(func(r *http.Request) Decision { return Decision{Status: 200, Body: []byte("hi")} })
	addr := startProxy(t, &Server{Decider: d}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nBad Field: 1\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_request") {
		t.Fatalf("%d %q %v", resp.StatusCode, body, err)
	}
}

func TestProxy_DoneWhenContinueCannotBeSent(t *testing.T) {
	cert, pool := testCA(t)
	h1 := startBackend(t, http.HandlerFunc(echoHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(echoHandler), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	for _, tc := range []struct {
		name string
		cfg  UpstreamConfig
	}{
		{"HTTP/1.1 backend", UpstreamConfig{URLs: []*url.URL{h1.url}}},
		{"h2 backend", UpstreamConfig{URLs: []*url.URL{{Scheme: "https", Host: ln.Addr().String()}}, TLS: &tls.Config{RootCAs: pool}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decided, closed := make(chan struct{}), make(chan struct{})
			f := &forwardTo{up: newUpstream(t, tc.cfg)}
			f.seen = func(*http.Request) {
				close(decided)
				<-closed
			}
			addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
			<-decided
			c.(*net.TCPConn).SetLinger(0) // reset: the engine's write of 100 Continue fails
			c.Close()
			close(closed)
			res := f.wait(t, 1)
			if res[0].Status != 0 || res[0].Err == nil {
				t.Fatalf("Done got %+v, want status 0 with the write error", res[0])
			}
		})
	}
}

func TestProxy_InvalidResponseHeaderFromTheDeciderIsNotSent(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})
	d := deciderFunc(func(r *http.Request) Decision {
		return Decision{Upstream: up, ResponseHeader: http.Header{
			"X-Bad":    {"a\r\nX-Injected: 1"},
			"Bad Name": {"v"},
			"X-Good":   {"g"},
		}}
	})
	addr := startProxy(t, &Server{Decider: d}, nil)
	resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%s: %q", resp.Status, body)
	}
	if resp.Header.Get("X-Injected") != "" || resp.Header.Get("X-Bad") != "" || resp.Header.Get("X-Good") != "g" {
		t.Fatalf("headers: %v", resp.Header)
	}
}

// A 502 names its decision like every other answer of the gateway: the
// audit line with that id says why the backend failed. Each engine (the
// event loop, the goroutine engine, HTTP/2) writes it.
func TestProxy_BackendFailureCarriesTheDecisionsResponseFields(t *testing.T) {
	cert, pool := testCA(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{dead}})
	d := deciderFunc(func(*http.Request) Decision {
		return Decision{Upstream: up, ResponseHeader: http.Header{"X-Portcullis-Decision-Id": {"5f0c1d2e3a4b5c6d"}}}
	})
	plain := startProxy(t, &Server{Decider: d, ErrorLog: discardLog}, nil)
	overTLS := startProxy(t, &Server{Decider: d, ErrorLog: discardLog}, &tls.Config{Certificates: []tls.Certificate{cert}})
	for _, tt := range []struct {
		name, url string
		h2        bool
	}{
		{"plain HTTP/1.1", "http://" + plain + "/orders", false},
		{"HTTP/1.1 over TLS", "https://" + overTLS + "/orders", false},
		{"HTTP/2", "https://" + overTLS + "/orders", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tt.h2}
			if !tt.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || (resp.ProtoMajor == 2) != tt.h2 {
				t.Fatalf("HTTP/%d %d %s", resp.ProtoMajor, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Portcullis-Decision-Id"); got != "5f0c1d2e3a4b5c6d" {
				t.Errorf("X-Portcullis-Decision-Id = %q, want the decision's; headers %v", got, resp.Header)
			}
			if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// A failed backend exchange is logged once: by the Decider when it is
// told through Done (the gateway's line names the API), by the engine
// only when nobody else hears of it.
func TestProxy_BackendFailureIsLoggedOnceByWhoeverHearsOfIt(t *testing.T) {
	cert, pool := testCA(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{dead}})
	// A backend that dies in the middle of its body.
	cut := cannedBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
	cutUp := newUpstream(t, UpstreamConfig{URLs: []*url.URL{cut}})
	for _, tt := range []struct {
		name       string
		done       bool
		h2         bool
		cut        bool // the backend's body is cut, rather than the backend down
		plain      bool // over the plain listener (the event loop where there is one), not TLS
		wantLogged bool
	}{
		{name: "HTTP/1.1, the Decider hears of it", done: true},
		{name: "HTTP/1.1, nobody else does", wantLogged: true},
		{name: "HTTP/2, the Decider hears of it", done: true, h2: true},
		{name: "HTTP/2, nobody else does", h2: true, wantLogged: true},
		{name: "body cut, HTTP/1.1, the Decider hears of it", done: true, cut: true},
		{name: "body cut, HTTP/1.1, nobody else does", cut: true, wantLogged: true},
		{name: "body cut, plain HTTP/1.1, the Decider hears of it", done: true, cut: true, plain: true},
		{name: "body cut, plain HTTP/1.1, nobody else does", cut: true, plain: true, wantLogged: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			reported := make(chan Result, 1)
			d := deciderFunc(func(*http.Request) Decision {
				dec := Decision{Upstream: up}
				if tt.cut {
					dec.Upstream = cutUp
				}
				if tt.done {
					dec.Done = func(r Result) { reported <- r }
				}
				return dec
			})
			var tlsCfg *tls.Config
			scheme := "http"
			if !tt.plain {
				tlsCfg, scheme = &tls.Config{Certificates: []tls.Certificate{cert}}, "https"
			}
			addr := startProxy(t, &Server{Decider: d, ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))}, tlsCfg)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tt.h2}
			if !tt.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(scheme + "://" + addr + "/orders")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			wantStatus, line := http.StatusBadGateway, "backend exchange failed"
			if tt.cut {
				wantStatus, line = http.StatusOK, "backend response body failed"
			}
			if resp.StatusCode != wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, wantStatus)
			}
			if tt.done {
				if r := <-reported; r.Status != wantStatus || r.Err == nil || r.ClientErr {
					t.Errorf("Done got %+v", r)
				}
			}
			logged := func() bool { return strings.Contains(logs.String(), line) }
			if tt.wantLogged {
				waitFor(t, "the engine's line", logged)
			} else if logged() { // Done runs after the engine would have logged
				t.Errorf("the engine logged a failure the Decider reports:\n%s", logs.String())
			}
		})
	}
}

// syncBuffer is a log or audit sink the test reads while the server writes.
type syncBuffer = logbuf.Buffer

// A request body that stops arriving is cut after ReadBodyTimeout also where the engine forwards through
// an http.RoundTripper: toward an HTTP/2 backend, and from an HTTP/2 client.
func TestProxy_StalledRequestBodyThroughTheRoundTripperIs408(t *testing.T) {
	cert, pool := testCA(t)
	backendGot := make(chan error, 4)
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, err := io.ReadAll(r.Body)
			backendGot <- err
		}
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(bln, "", "")
	t.Cleanup(func() { bs.Close() })
	h2Backend := newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "https", Host: bln.Addr().String()}}, TLS: &tls.Config{RootCAs: pool}})
	h1Backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		backendGot <- err
	}))
	h1Up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{h1Backend.url}})

	const stalled = 408
	tests := []struct {
		name string
		up   *Upstream
		h2   bool   // the client speaks HTTP/2 (over TLS)
		raw  string // what an HTTP/1.1 client sends
		want int
	}{
		{name: "http/1.1 client, h2 backend, content-length", up: h2Backend, want: stalled,
			raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc"},
		{name: "http/1.1 client, h2 backend, chunked", up: h2Backend, want: stalled,
			raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
		{name: "http/1.1 client, h2 backend, malformed chunk", up: h2Backend, want: 400,
			raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"},
		{name: "h2 client, http/1.1 backend", up: h1Up, h2: true, want: stalled},
		{name: "h2 client, h2 backend", up: h2Backend, h2: true, want: stalled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &forwardTo{up: tc.up}
			s := &Server{Decider: f, ReadBodyTimeout: 100 * time.Millisecond, ErrorLog: discardLog}
			var status int
			var body []byte
			if tc.h2 {
				addr := startProxy(t, s, &tls.Config{Certificates: []tls.Certificate{cert}})
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
				defer tr.CloseIdleConnections()
				pr, pw := io.Pipe()
				defer pw.Close()
				go io.WriteString(pw, "abc") // and then nothing more
				req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/", pr)
				req.ContentLength = 100
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.ProtoMajor != 2 {
					t.Fatalf("HTTP/%d, want HTTP/2", resp.ProtoMajor)
				}
				status = resp.StatusCode
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			} else {
				addr := startProxy(t, s, nil)
				rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n") // discovers that the backend speaks h2
				resp, b, _, _ := rawExchange(t, addr, tc.raw)
				status, body = resp.StatusCode, b
			}
			wantCode := `"error":"request_timeout"`
			if tc.want != stalled {
				wantCode = `"error":"invalid_request"`
			}
			if status != tc.want || !strings.Contains(string(body), wantCode) {
				t.Fatalf("%d %s, want %d %s", status, body, tc.want, wantCode)
			}
			select {
			case err := <-backendGot:
				if err == nil {
					t.Error("the backend read a complete body")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the backend is still waiting for the body")
			}
			n := 1
			if !tc.h2 {
				n = 2 // the GET first
			}
			if last := f.wait(t, n)[n-1]; last.Status != tc.want || !last.ClientErr {
				t.Errorf("Done reported %+v, want %d as the client's failure", last, tc.want)
			}
		})
	}
}

// A status code outside 100-599 from an HTTP/2 backend (through the RoundTripper) is a 502, as it is
// from an HTTP/1.1 backend (TestProxy_RefusesMalformedBackendResponses).
func TestProxy_H2BackendStatusOutOfRangeIs502(t *testing.T) {
	cert, pool := testCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(999)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "https", Host: ln.Addr().String()}}, TLS: &tls.Config{RootCAs: pool}})
	addr := startProxy(t, &Server{Decider: &forwardTo{up: up}, ErrorLog: discardLog}, nil)
	for i := 0; i < 2; i++ { // the first request discovers h2, the second goes through the h2 transport
		resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "bad_gateway") {
			t.Fatalf("request %d: %s %s, want 502", i, resp.Status, body)
		}
	}
}

// A backend whose body is malformed from its first byte, arriving with its head, gets the client a 502;
// one that fails after some body gets the client the head and that much, then the end of the connection:
// never a connection closed without a word (seen on HTTPS listeners, served by the goroutine engine; the
// event-loop engine sends the head before the body in any case).
func TestProxy_BodyMalformedFromTheStartIs502(t *testing.T) {
	cert, pool := testCA(t)
	tests := []struct {
		name, resp string
		want       int
	}{
		{"chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 502},
		{"chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 200},
		{"content-length body cut", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{cannedBackend(t, tc.resp)}})}
			addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, &tls.Config{Certificates: []tls.Certificate{cert}})
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %q, want %d", resp.Status, body, tc.want)
			}
			if tc.want == 502 && !strings.Contains(string(body), "bad_gateway") {
				t.Fatalf("502 without its JSON body: %q", body)
			}
			if tc.want == 200 && (err == nil || string(body) != "hello") {
				t.Fatalf("body %q (%v), want what the backend sent and then a cut (an error)", body, err)
			}
			if res := f.wait(t, 1); res[0].Status != tc.want || res[0].Err == nil || res[0].ClientErr {
				t.Errorf("Done reported %+v, want %d as the backend's failure", res[0], tc.want)
			}
		})
	}
}
