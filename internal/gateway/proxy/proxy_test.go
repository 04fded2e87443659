package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echo answers with a JSON description of the request it received.
type echoed struct {
	Method, Path, RawPath, Query, Host, Proto string
	Header                                    http.Header
	Body                                      string
	TE                                        []string
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e := echoed{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery, Host: r.Host,
		Proto: r.Proto, Header: r.Header, Body: string(body), TE: r.TransferEncoding}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(e)
}

func setup(t *testing.T, h http.Handler, cfg UpstreamConfig) (*backend, *forwardTo, string) {
	t.Helper()
	b := startBackend(t, h)
	if cfg.URLs == nil {
		cfg.URLs = []*url.URL{b.url}
	}
	f := &forwardTo{up: newUpstream(t, cfg)}
	addr := startProxy(t, &Server{Decider: f}, nil)
	return b, f, addr
}

func TestProxy_ForwardsRequestsAndResponses(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo/", echoHandler)
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.Header().Set("X-Status", "yes")
		w.WriteHeader(code)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	b, f, addr := setup(t, mux, UpstreamConfig{})
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	tests := []struct {
		name, method, path, body string
		chunked                  bool
		wantStatus               int
		check                    func(t *testing.T, resp *http.Response, body []byte)
	}{
		{name: "get", method: "GET", path: "/echo/a%2Fb?x=1&y=2", wantStatus: 200, check: func(t *testing.T, resp *http.Response, body []byte) {
			var e echoed
			json.Unmarshal(body, &e)
			if e.Path != "/echo/a/b" || e.RawPath != "/echo/a%2Fb" || e.Query != "x=1&y=2" || e.Host != addr {
				t.Errorf("backend saw %+v", e)
			}
		}},
		{name: "post content-length", method: "POST", path: "/echo/", body: "hello world", wantStatus: 200, check: func(t *testing.T, resp *http.Response, body []byte) {
			var e echoed
			json.Unmarshal(body, &e)
			if e.Body != "hello world" || e.Header.Get("Content-Length") != "" && e.Header.Get("Content-Length") != "11" {
				t.Errorf("backend saw %+v", e)
			}
		}},
		{name: "post chunked", method: "POST", path: "/echo/", body: strings.Repeat("abc", 10000), chunked: true, wantStatus: 200, check: func(t *testing.T, resp *http.Response, body []byte) {
			var e echoed
			json.Unmarshal(body, &e)
			if e.Body != strings.Repeat("abc", 10000) || len(e.TE) != 1 || e.TE[0] != "chunked" {
				t.Errorf("backend saw body of %d bytes, TE %v", len(e.Body), e.TE)
			}
		}},
		{name: "head", method: "HEAD", path: "/echo/", wantStatus: 200, check: func(t *testing.T, resp *http.Response, body []byte) {
			if len(body) != 0 {
				t.Errorf("HEAD got a body %q", body)
			}
		}},
		{name: "204", method: "GET", path: "/status/204", wantStatus: 204},
		{name: "304", method: "GET", path: "/status/304", wantStatus: 304},
		{name: "404 passes through", method: "GET", path: "/status/404", wantStatus: 404},
		{name: "streamed response", method: "GET", path: "/stream", wantStatus: 200, check: func(t *testing.T, resp *http.Response, body []byte) {
			if string(body) != "part 0\npart 1\npart 2\npart 3\npart 4\n" || resp.TransferEncoding == nil {
				t.Errorf("body %q, TE %v", body, resp.TransferEncoding)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // unknown length: chunked
				}
			}
			req, _ := http.NewRequest(tc.method, base+tc.path, body)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.wantStatus, got)
			}
			if tc.check != nil {
				tc.check(t, resp, got)
			}
		})
	}
	if n := b.conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections for sequential requests, want 1 (keep-alive reuse)", n)
	}
	results := f.wait(t, len(tests))
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("result error: %v", r.Err)
		}
	}
	if r := results[1]; r.BytesIn != 11 || r.BytesOut == 0 || r.Status != 200 || r.UpstreamLatency <= 0 {
		t.Errorf("result of the POST: %+v", r)
	}
}

func TestProxy_KeepAliveReusesOneBackendConnection(t *testing.T) {
	b, _, addr := setup(t, http.HandlerFunc(echoHandler), UpstreamConfig{})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for i := 0; i < 50; i++ {
		resp, err := client.Get("http://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := b.conns.Load(); n != 1 {
		t.Fatalf("backend saw %d connections, want 1", n)
	}
}

func TestProxy_BackendClosingConnectionsIsSurvived(t *testing.T) {
	var closeEach atomic.Bool
	b, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if closeEach.Load() {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	}), UpstreamConfig{})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	get := func() {
		t.Helper()
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
	get()
	// The backend reaps its idle connection: the pooled one must be detected as dead, not used.
	b.closeAll()
	waitFor(t, "backend connections closed", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.open) == 0 })
	get()
	closeEach.Store(true)
	before := b.conns.Load()
	for i := 0; i < 3; i++ {
		get()
	}
	// The first of these reuses the pooled connection; after each "Connection: close" a new one is needed.
	if got := b.conns.Load() - before; got != 2 {
		t.Errorf("backend saying close: %d new connections for 3 requests, want 2 (no reuse after close)", got)
	}
}

func TestProxy_BackendDownIs502(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{dead}})}
	addr := startProxy(t, &Server{Decider: f}, nil)
	resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 502 || !strings.Contains(string(body), `"error":"bad_gateway"`) || !resp.Close {
		t.Fatalf("status %d body %s headers %v", resp.StatusCode, body, resp.Header)
	}
	if res := f.wait(t, 1); res[0].Status != 502 || res[0].Err == nil {
		t.Fatalf("results %+v", res)
	}
}

func TestProxy_RoundRobinSkipsRefusingBackend(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	var hits [2]atomic.Int64
	b1 := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits[0].Add(1) }))
	b2 := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits[1].Add(1) }))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b1.url, dead, b2.url}})}
	addr := startProxy(t, &Server{Decider: f}, nil)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for i := 0; i < 10; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 || hits[0].Load()+hits[1].Load() != 10 {
		t.Fatalf("hits %d and %d", hits[0].Load(), hits[1].Load())
	}
}

func TestProxy_SlowBackendIs504(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	_, f, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }),
		UpstreamConfig{ResponseHeaderTimeout: 50 * time.Millisecond})
	resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 504 || !strings.Contains(string(body), "gateway_timeout") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if res := f.wait(t, 1); res[0].Status != 504 {
		t.Fatalf("result %+v", res[0])
	}
}

func TestProxy_ForwardedHeadersAndHopByHopStripping(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Public", "yes")
		echoHandler(w, r)
	}), UpstreamConfig{})
	raw := "GET /p HTTP/1.1\r\nHost: api.example.com\r\nX-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n" +
		"X-Forwarded-Proto: https\r\nConnection: keep-alive, X-Hop, Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Hop: 1\r\nKeep-Alive: 300\r\nTE: gzip\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nX-End: e\r\n" +
		"Proxy-Authorization: Basic cHJveHk6c2VjcmV0\r\n" + spoofedForwarding + "\r\n"
	resp, body, _, _ := rawExchange(t, addr, raw)
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	h := e.Header
	checks := map[string]string{
		"X-End": "e",
		"X-Hop": "", "Keep-Alive": "", "Te": "", "Proxy-Connection": "", "Upgrade": "",
		"Proxy-Authorization": "", // for the proxy it reaches (RFC 9110 11.7.2): the gateway
	}
	for k, want := range checks {
		if got := strings.Join(h[k], ","); got != want {
			t.Errorf("backend header %s = %q, want %q", k, got, want)
		}
	}
	checkForwarding(t, h, "http", "api.example.com")
	if e.Host != "api.example.com" {
		t.Errorf("backend Host %q, want the client's", e.Host)
	}
	if e.Header.Get("Http2-Settings") != "" {
		t.Errorf("HTTP2-Settings (named in Connection) reached the backend")
	}
	if resp.Header.Get("X-Internal") != "" || resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Public") != "yes" {
		t.Errorf("response headers %v", resp.Header)
	}
}

// spoofedForwarding is what a hostile client says about hops before the gateway (which is the edge).
const spoofedForwarding = "X-Forwarded-For: 203.0.113.9\r\nx-forwarded-for: 198.51.100.1\r\nForwarded: for=203.0.113.9;proto=https\r\n" +
	"X-Forwarded-Proto: https\r\nX-Forwarded-Host: admin.internal\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\n" +
	"X-Forwarded-Server: trusted\r\nX-Forwarded-Ssl: on\r\n"

// checkForwarding checks that the backend got the gateway's own forwarding headers, and none of the
// client's (spoofedForwarding).
func checkForwarding(t *testing.T, h http.Header, proto, host string) {
	t.Helper()
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": proto,
		"X-Forwarded-Host":  host,
		"Forwarded":         `for=127.0.0.1;proto=` + proto + `;host="` + host + `"`,
	}
	for k, vv := range h {
		if !strings.HasPrefix(k, "X-Forwarded-") && k != "Forwarded" {
			continue
		}
		if got := strings.Join(vv, ","); got != want[k] {
			t.Errorf("backend header %s = %q, want %q", k, got, want[k])
		}
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("backend header %s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestProxy_DeciderEditsAndLocalAnswers(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(echoHandler))
	base, _ := url.Parse(b.url.String() + "/base/")
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{base}})
	var gotRemote, gotHost string
	d := deciderFunc(func(r *http.Request) Decision {
		gotRemote, gotHost = r.RemoteAddr, r.Host
		if r.Header.Get("Authorization") != "Bearer good" {
			return Decision{Status: 401, Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}, "Content-Type": {"application/json"}},
				Body: []byte(`{"error":"unauthorized"}`)}
		}
		r.Header.Del("Authorization")
		r.Header.Set("X-Portcullis-Client-Id", "app1")
		q := r.URL.Query()
		q.Del("code")
		r.URL.RawQuery = q.Encode()
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/api")
		return Decision{Upstream: up}
	})
	addr := startProxy(t, &Server{Decider: d}, nil)
	resp, body, br, c := rawExchange(t, addr, "GET /api/orders?code=k&x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 401 || string(body) != `{"error":"unauthorized"}` || resp.Header.Get("Www-Authenticate") == "" || resp.Close {
		t.Fatalf("refusal: %d %s %v close=%v", resp.StatusCode, body, resp.Header, resp.Close)
	}
	if !strings.HasPrefix(gotRemote, "127.0.0.1:") || gotHost != "h" {
		t.Errorf("Decider saw RemoteAddr %q Host %q", gotRemote, gotHost)
	}
	// Same connection (kept alive after a refusal without body).
	io.WriteString(c, "GET /api/orders?code=k&x=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer good\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	var e echoed
	json.Unmarshal(body, &e)
	if e.Path != "/base/orders" || e.Query != "x=1" || e.Header.Get("Authorization") != "" || e.Header.Get("X-Portcullis-Client-Id") != "app1" {
		t.Fatalf("backend saw %+v", e)
	}
}

type deciderFunc func(r *http.Request) Decision

func (f deciderFunc) Decide(r *http.Request) Decision { return f(r) }

// upgradeEcho accepts a WebSocket upgrade and echoes what follows until the client closes.
func upgradeEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
		http.Error(w, "no upgrade", 400)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	io.Copy(c, brw)
}

func TestProxy_UpgradeSplicesBothWays(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(upgradeEcho), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	upgradeAndEcho(t, c, newBufReader(c))
}

// upgradeAndEcho asks for an upgrade on c (read through br), with bytes after the request, and checks
// that upgradeEcho answers 101 and echoes them and what is sent after the 101.
func upgradeAndEcho(t *testing.T, c io.Writer, br *bufio.Reader) {
	t.Helper()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("status %d headers %v, want 101 websocket", resp.StatusCode, resp.Header)
	}
	io.WriteString(c, " ping")
	want := "early ping"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
		t.Fatalf("echo %q, %v, want %q", got, err, want)
	}
}

func TestProxy_LargeBodiesStream(t *testing.T) {
	sawFirst := make(chan struct{})
	var received atomic.Int64
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		first := true
		for {
			n, err := r.Body.Read(buf)
			received.Add(int64(n))
			if n > 0 && first {
				first = false
				close(sawFirst)
			}
			if err != nil {
				break
			}
		}
		// Answer with a large body too.
		w.Header().Set("Content-Length", strconv.Itoa(20<<20))
		chunk := bytes.Repeat([]byte("y"), 1<<20)
		for i := 0; i < 20; i++ {
			w.Write(chunk)
		}
	}), UpstreamConfig{})
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			received.Store(0)
			sawFirst = make(chan struct{})
			pr, pw := io.Pipe()
			go func() {
				part := bytes.Repeat([]byte("x"), 1<<20)
				pw.Write(part)
				// The backend must see bytes before the client has sent the rest: no whole-body buffering.
				<-sawFirst
				for i := 1; i < 20; i++ {
					pw.Write(part)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", "http://"+addr+"/up", pr)
			if !chunked {
				req.ContentLength = 20 << 20
			}
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if received.Load() != 20<<20 || n != 20<<20 {
				t.Fatalf("backend received %d, client received %d", received.Load(), n)
			}
		})
	}
}

func TestProxy_ExpectContinue(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(echoHandler), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := newBufReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("want 100 Continue first: %v %v", resp, err)
	}
	io.WriteString(c, "hello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e echoed
	json.Unmarshal(body, &e)
	if e.Body != "hello" || e.Header.Get("Expect") != "" {
		t.Fatalf("backend saw %+v", e)
	}
}

func TestProxy_HTTP10(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: chunked to the gateway
		io.WriteString(w, "streamed")
	}), UpstreamConfig{})
	resp, body, br, _ := rawExchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "streamed" || !resp.Close {
		t.Fatalf("1.0 without keep-alive: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after HTTP/1.0 response: %v", err)
	}
}

func TestProxy_PipelinedRequestsAnsweredInOrder(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := newBufReader(c)
	for _, want := range []string{"/1", "/2", "/3"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != want {
			t.Fatalf("got %q want %q", body, want)
		}
	}
}

func TestProxy_Shutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	}))
	s := &Server{Decider: &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	// One idle keep-alive connection and one in-flight request.
	idle, _, idleBR, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if idle.StatusCode != 200 {
		t.Fatal(idle.Status)
	}
	slow := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer c.Close()
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(newBufReader(c), nil)
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		slow <- string(body)
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection not closed by Shutdown: %v", err)
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Errorf("in-flight request: %q", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

func TestProxy_TLSNegotiatesH2AndHTTP11(t *testing.T) {
	cert, pool := testCA(t)
	var sawTLS atomic.Bool
	b := startBackend(t, http.HandlerFunc(echoHandler))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}}), seen: func(r *http.Request) {
		sawTLS.Store(r.TLS != nil && r.TLS.HandshakeComplete)
	}}
	addr := startProxy(t, &Server{Decider: f}, &tls.Config{Certificates: []tls.Certificate{cert}})
	for _, tc := range []struct {
		name      string
		h2        bool
		wantMajor int
	}{{"h2", true, 2}, {"http/1.1", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			sawTLS.Store(false)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			resp, err := client.Post("https://"+addr+"/x?q=1", "text/plain", strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != tc.wantMajor {
				t.Fatalf("client spoke HTTP/%d, want %d", resp.ProtoMajor, tc.wantMajor)
			}
			var e echoed
			json.Unmarshal(body, &e)
			if e.Body != "body" || e.Query != "q=1" || e.Header.Get("X-Forwarded-Proto") != "https" || e.Host != addr {
				t.Fatalf("backend saw %+v", e)
			}
			if !sawTLS.Load() {
				t.Fatal("Decider did not see r.TLS")
			}
		})
	}
}

func TestProxy_H2Backend(t *testing.T) {
	cert, pool := testCA(t)
	var proto atomic.Value
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	bs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		echoHandler(w, r)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	u := &url.URL{Scheme: "https", Host: ln.Addr().String(), Path: "/b"}
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{u}, TLS: &tls.Config{RootCAs: pool}})}
	addr := startProxy(t, &Server{Decider: f}, nil)
	for i := 0; i < 2; i++ { // first request discovers h2, second uses the h2 transport directly
		resp, body, _, _ := rawExchange(t, addr, "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		var e echoed
		json.Unmarshal(body, &e)
		if resp.StatusCode != 200 || e.Path != "/b/p" || e.Body != "abc" || proto.Load() != "HTTP/2.0" {
			t.Fatalf("status %d, backend saw %+v over %v", resp.StatusCode, e, proto.Load())
		}
	}
}
