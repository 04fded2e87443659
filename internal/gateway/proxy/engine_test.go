package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain runs the package's tests on the default engine (the event-loop engine
// on Linux, with an io_uring where the kernel allows one) and then, in child processes, again on the
// goroutine engine and on the event-loop engine without an io_uring, so that each keeps every behaviour
// the tests describe.
func TestMain(m *testing.M) {
	code := m.Run()
	if code != 0 || os.Getenv(EngineEnv) != "" || !loopEngineAvailable || !rerunnable() {
		os.Exit(code)
	}
	reruns := [][]string{{EngineEnv + "=goroutine"}}
	if ringBuild {
		reruns = append(reruns, []string{EngineEnv + "=eventloop", IOURingEnv + "=off"})
	}
	for _, env := range reruns {
		fmt.Fprintf(os.Stderr, "proxy tests: again with %s\n", strings.Join(env, " "))
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, "proxy tests: rerun with", env, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// rerunnable reports whether this run only runs tests (fuzzing, benchmarks and profiles are not repeated).
func rerunnable() bool {
	for _, name := range []string{"test.fuzz", "test.bench", "test.coverprofile", "test.cpuprofile", "test.memprofile", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}

// engineName is the engine serving HTTP/1.1 connections in this run.
func engineName() string {
	if want, _ := loopEngineWanted(); want {
		return "eventloop"
	}
	return "goroutine"
}

func TestEngineEnv_ChoosesOrRefuses(t *testing.T) {
	tests := []struct {
		value    string
		wantLoop bool
		wantErr  bool
	}{
		{value: "", wantLoop: loopEngineAvailable}, // unset
		{value: "auto", wantLoop: loopEngineAvailable},
		{value: "goroutine", wantLoop: false},
		{value: "eventloop", wantLoop: loopEngineAvailable, wantErr: !loopEngineAvailable},
		{value: "epoll", wantErr: true},
	}
	for _, tc := range tests {
		t.Run("value="+tc.value, func(t *testing.T) {
			t.Setenv(EngineEnv, tc.value)
			got, err := loopEngineWanted()
			if (err != nil) != tc.wantErr || got != tc.wantLoop {
				t.Fatalf("loopEngineWanted() = %v, %v; want %v, error %v", got, err, tc.wantLoop, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), EngineEnv) {
				t.Errorf("error %q does not name %s", err, EngineEnv)
			}
		})
	}
}

func TestProxy_UnknownEngineIsRefusedByServe(t *testing.T) {
	t.Setenv(EngineEnv, "threads")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{Decider: deciderFunc(func(*http.Request) Decision { return Decision{Status: 204} })}
	if err := s.Serve(ln); err == nil || !strings.Contains(err.Error(), EngineEnv) {
		t.Fatalf("Serve = %v, want an error naming %s", err, EngineEnv)
	}
}

// bigBody is a response body much larger than what the sockets and the engine buffer between the backend
// and a client that does not read.
const bigBody = 48 << 20

func TestProxy_SlowReaderHoldsBackTheBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{name: "content-length"}, {name: "chunked", chunked: true}} {
		t.Run(tc.name, func(t *testing.T) {
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			var mu sync.Mutex
			written := 0
			finished := make(chan struct{})
			b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(finished)
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(bigBody))
				}
				for n := 0; n < bigBody; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					mu.Lock()
					written += len(chunk)
					mu.Unlock()
				}
			}))
			f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
			addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(64 << 10)
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
			br := bufio.NewReaderSize(c, 4096)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if chunkedOut := len(resp.TransferEncoding) > 0; chunkedOut != tc.chunked {
				t.Fatalf("Transfer-Encoding %v, want chunked %v", resp.TransferEncoding, tc.chunked)
			}
			// The client reads nothing more: the backend must be held back, not drained into the engine.
			waitFor(t, "the backend to write its first MiB", func() bool { mu.Lock(); defer mu.Unlock(); return written >= 1<<20 })
			select {
			case <-finished:
				t.Fatalf("the backend wrote all %d bytes while the client read none: the engine buffered the response", bigBody)
			default:
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != bigBody {
				t.Fatalf("read %d bytes (%v), want %d", n, err, bigBody)
			}
			if res := f.wait(t, 1); res[0].Status != 200 || res[0].BytesOut != bigBody || res[0].Err != nil {
				t.Errorf("result %+v", res[0])
			}
		})
	}
}

func TestProxy_PipelinedBurstAcrossEnginePaths(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: a chunked response
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// A local path, HEAD, a chunked response, a chunked request body and another request in one burst: the
	// event-loop engine hands the connection to the goroutine engine midway, and the order must survive.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /5 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /1 "}, {"HEAD", ""}, {"GET", "GET /chunked "}, {"POST", "POST /4 abc"}, {"GET", "GET /5 "},
	} {
		resp, err := http.ReadResponse(br, &http.Request{Method: want.method})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != want.body {
			t.Fatalf("%s: %d %q, want %q", want.method, resp.StatusCode, body, want.body)
		}
	}
}

func TestProxy_HalfClosedClientGetsItsAnswer(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answer "+r.URL.Path) }), UpstreamConfig{})
	tests := []struct{ name, raw, want string }{
		{name: "one request", raw: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", want: "answer /a"},
		{name: "two pipelined", raw: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", want: "answer /aanswer /b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.raw)
			c.(*net.TCPConn).CloseWrite()
			br := bufio.NewReader(c)
			var got strings.Builder
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				io.Copy(&got, resp.Body)
			}
			if got.String() != tc.want {
				t.Fatalf("got %q, want %q", got.String(), tc.want)
			}
			// Then the engine closes: the end of stream, not a timeout.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the answers: %v, want EOF", err)
			}
		})
	}
}

func TestProxy_BackendDyingMidResponseEndsTheClientConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
			}()
		}
	}()
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "http", Host: ln.Addr().String()}}})}
	addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if string(body) != "only ten b" || err != io.ErrUnexpectedEOF {
		t.Fatalf("body %q, %v; want the 10 bytes sent and an unexpected EOF", body, err)
	}
	res := f.wait(t, 1)
	if res[0].Status != 200 || res[0].BytesOut != 10 || res[0].Err == nil {
		t.Errorf("result %+v, want status 200, 10 bytes out and an error", res[0])
	}
}

func TestProxy_ManyConnectionsAtOnce(t *testing.T) {
	_, f, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s:%s", r.URL.Path, body)
	}), UpstreamConfig{})
	const conns, perConn = 200, 10
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			for j := range perConn {
				path := fmt.Sprintf("/%d/%d", i, j)
				body := strconv.Itoa(i * j)
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				got, _ := io.ReadAll(resp.Body)
				if want := path + ":" + body; string(got) != want {
					errs <- fmt.Errorf("got %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if res := f.wait(t, conns*perConn); len(res) != conns*perConn {
		t.Errorf("%d results, want %d", len(res), conns*perConn)
	}
}

func TestProxy_ShutdownWaitsForInFlightExchanges(t *testing.T) {
	const n = 8
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "late "+r.URL.Path)
	}))
	s := &Server{Decider: &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	type answer struct {
		body  string
		close bool
		err   error
	}
	answers := make(chan answer, n)
	for i := range n {
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			answers <- answer{body: string(body), close: resp.Close}
		}()
	}
	for range n {
		<-entered
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with %d exchanges in flight", err, n)
	default:
	}
	close(release)
	for range n {
		a := <-answers
		if a.err != nil || !strings.HasPrefix(a.body, "late /") || !a.close {
			t.Errorf("in-flight exchange: %+v, want its answer with Connection: close", a)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

func TestProxy_NoDescriptorLeftAfterShutdown(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "ok")
	}))
	// Let the backend and the test's own descriptors settle before counting.
	c0, err := net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c0.Close()
	before := openFDs(t)
	up, err := NewUpstream(UpstreamConfig{URLs: []*url.URL{b.url}})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Decider: &forwardTo{up: up}, ErrorLog: discardLog}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var clients []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// Every other connection sends what the event-loop engine hands to the goroutine engine.
		req := "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"
		if i%2 == 1 {
			req = "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		}
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-served
	up.Close()
	for _, c := range clients {
		c.Close()
	}
	b.srv.Close()
	waitFor(t, fmt.Sprintf("the descriptors to return to %d (engine %s)", before, engineName()), func() bool { return openFDs(t) <= before })
}

func TestProxy_CloseEndsInFlightExchangesWithAResult(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	s := &Server{Decider: f, ErrorLog: discardLog}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	s.Close()
	<-served
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("client connection: %v, want it closed", err)
	}
	close(release) // the goroutine engine learns of the closed client when it relays the answer
	if res := f.wait(t, 1); res[0].Err == nil {
		t.Errorf("result %+v, want an error", res[0])
	}
}

// waitingDecider blocks the requests carrying X-Wait until release is closed (and then panics for those
// also carrying X-Panic, and refuses with 403 those carrying X-Refuse), declines them in DecideNow, and
// forwards every other request it decides.
type waitingDecider struct {
	forwardTo
	waiting chan struct{}
	release chan struct{}
}

func (d *waitingDecider) DecideNow(r *http.Request) (Decision, bool) {
	if r.Header.Get("X-Wait") != "" {
		return Decision{}, false
	}
	return d.Decide(r), true
}

func (d *waitingDecider) Decide(r *http.Request) Decision {
	if r.Header.Get("X-Wait") != "" {
		d.waiting <- struct{}{}
		<-d.release
		if r.Header.Get("X-Panic") != "" {
			panic("a Decider's panic (test)")
		}
		if r.Header.Get("X-Refuse") != "" {
			return Decision{Status: http.StatusForbidden, Body: []byte("refused\n"), Done: func(res Result) {
				d.mu.Lock()
				d.results = append(d.results, res)
				d.mu.Unlock()
			}}
		}
	}
	return d.forwardTo.Decide(r)
}

func newWaitingDecider(t *testing.T) *waitingDecider {
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) }))
	return &waitingDecider{forwardTo: forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})},
		waiting: make(chan struct{}, 1), release: make(chan struct{})}
}

// loopedConns counts the Server's connections held by an event loop (the Server then holds no socket of
// its own for them).
func loopedConns(s *Server) (looped, all int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cn := range s.conns {
		if cn.raw == nil {
			looped++
		}
	}
	return looped, len(s.conns)
}

func TestProxy_WaitingDecisionHoldsUpNoOtherConnection(t *testing.T) {
	for _, tc := range []struct{ name, extra, want string }{
		{name: "forwarded", want: "ok /waited, ok /after"},
		{name: "answered by the gateway", extra: "X-Refuse: 1\r\n", want: "refused\n, ok /after"},
	} {
		t.Run(tc.name, func(t *testing.T) { testWaitingDecision(t, tc.extra, tc.want) })
	}
}

func testWaitingDecision(t *testing.T, extra, want string) {
	d := newWaitingDecider(t)
	s := &Server{Decider: d}
	addr := startProxy(t, s, nil)
	waited := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			waited <- err.Error()
			return
		}
		defer c.Close()
		// A second request pipelined behind the one that waits: answered after it, in order.
		io.WriteString(c, "GET /waited HTTP/1.1\r\nHost: x\r\nX-Wait: 1\r\n"+extra+"\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		var got []string
		for range 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				waited <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			got = append(got, string(body))
		}
		// The connection is still served where it was: on a loop, with the loop engine.
		looped, all := loopedConns(s)
		want := 0
		if engineName() == "eventloop" {
			want = all
		}
		if looped != want {
			got = append(got, fmt.Sprintf("%d of %d connections on a loop, want %d", looped, all, want))
		}
		waited <- strings.Join(got, ", ")
	}()
	<-d.waiting
	// Every loop serves some of these connections while the decision above waits.
	for i := range 8 {
		_, body, _, _ := rawExchange(t, addr, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		if want := fmt.Sprintf("ok /%d", i); string(body) != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	close(d.release)
	select {
	case got := <-waited:
		if got != want {
			t.Fatalf("the connection whose decision waited got %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second): // a liveness bound
		t.Fatal("the pipelined request behind the one that waited was not answered")
	}
}

// A Server closed while a request is being decided reports that exchange as failed once the decision is
// back; a Decider that panics off the loop ends that connection only, and the server goes on.
func TestProxy_WaitingDecisionWhenTheServerClosesOrTheDeciderPanics(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		closeServer bool
	}{
		{name: "the server closed", closeServer: true},
		{name: "the Decider panicked", extra: "X-Panic: 1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newWaitingDecider(t)
			s := &Server{Decider: d, ErrorLog: discardLog}
			addr := startProxy(t, s, nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET /waited HTTP/1.1\r\nHost: x\r\nX-Wait: 1\r\n"+tc.extra+"\r\n")
			<-d.waiting
			if tc.closeServer {
				s.Close()
			}
			close(d.release)
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a liveness bound
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Errorf("the connection got %d bytes of an answer, want it closed", n)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("the connection was left open, want it closed")
			}
			if tc.closeServer {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown after Close: %v (the loops did not end)", err)
				}
				if res := d.wait(t, 1); len(res) != 1 || res[0].Err == nil {
					t.Errorf("results %+v, want one, with an error", res)
				}
				return
			}
			_, body, _, _ := rawExchange(t, addr, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			if string(body) != "ok /next" {
				t.Errorf("the next connection got %q", body)
			}
		})
	}
}

func TestProxy_IncompleteHeadTimesOutAndIdleConnectionsClose(t *testing.T) {
	short := 100 * time.Millisecond
	_, _, addr := setupServer(t, &Server{ReadHeaderTimeout: short, IdleTimeout: short, ErrorLog: discardLog})
	// A new connection that sends nothing is held for ReadHeaderTimeout, not IdleTimeout (an hour here:
	// the test would time out waiting for the close).
	_, _, addrLongIdle := setupServer(t, &Server{ReadHeaderTimeout: short, IdleTimeout: time.Hour, ErrorLog: discardLog})
	tests := []struct{ name, addr, send, want string }{
		{name: "incomplete head", addr: addr, send: "GET / HTTP/1.1\r\nHost: x\r\n", want: "HTTP/1.1 408 "},
		{name: "incomplete request line", addr: addr, send: "GET / HT", want: "HTTP/1.1 408 "},
		{name: "idle after an exchange", addr: addr, send: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", want: "HTTP/1.1 200 "},
		{name: "idle from the start", addr: addr, send: ""},
		{name: "silent new connection, long idle timeout", addr: addrLongIdle, send: ""},
		{name: "incomplete head, long idle timeout", addr: addrLongIdle, send: "GET / HTTP/1.1\r\n", want: "HTTP/1.1 408 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.send)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c) // ends when the engine closes
			if err != nil {
				t.Fatalf("%v, want the engine to close the connection", err)
			}
			if tc.want == "" && len(got) > 0 {
				t.Errorf("a connection that sent nothing got %q, want a close in silence", got)
			}
			if !strings.HasPrefix(string(got), tc.want) {
				t.Errorf("got %q, want %q…", got, tc.want)
			}
			if tc.want == "HTTP/1.1 408 " && !strings.Contains(string(got), `"error":"request_timeout"`) {
				t.Errorf("408 without its JSON body: %q", got)
			}
		})
	}
}

func TestProxy_StalledRequestBodyIs408AndFreesTheBackend(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc"},
		{"chunked, mid-chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"},
		{"chunked, between chunks", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
		{"expect 100-continue", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backendGot := make(chan error, 1)
			b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(r.Body) // waits for the whole body, as most backends do
				backendGot <- err
			}))
			f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
			addr := startProxy(t, &Server{Decider: f, ReadBodyTimeout: 100 * time.Millisecond, ErrorLog: discardLog}, nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.raw) // and then nothing more
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("%v, want the engine to answer and close", err)
			}
			resp := strings.TrimPrefix(string(got), "HTTP/1.1 100 Continue\r\n\r\n")
			if !strings.HasPrefix(resp, "HTTP/1.1 408 ") || !strings.Contains(resp, `"error":"request_timeout"`) {
				t.Fatalf("got %q, want a 408 JSON answer", got)
			}
			select {
			case err := <-backendGot:
				if err == nil {
					t.Error("the backend read a complete body")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the backend is still waiting for the body: its connection was not closed")
			}
			if res := f.wait(t, 1); res[0].Status != http.StatusRequestTimeout {
				t.Errorf("Done reported %+v, want 408", res[0])
			}
		})
	}
}

// setupServer starts s, forwarding to a backend answering "ok", with the given timeouts.
func setupServer(t *testing.T, s *Server) (*backend, *forwardTo, string) {
	t.Helper()
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	s.Decider = f
	return b, f, startProxy(t, s, nil)
}

func TestProxy_PanickingDeciderEndsOnlyItsConnection(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	up := newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})
	d := deciderFunc(func(r *http.Request) Decision {
		if r.URL.Path == "/panic" {
			panic("decider bug")
		}
		return Decision{Upstream: up}
	})
	addr := startProxy(t, &Server{Decider: d, ErrorLog: discardLog}, nil)
	for i := range 4 { // on every loop
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
		if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
			t.Fatalf("connection %d: %q, %v; want it closed without an answer", i, got, err)
		}
	}
	for i := range 4 {
		if _, body, _, _ := rawExchange(t, addr, "GET /fine HTTP/1.1\r\nHost: x\r\n\r\n"); string(body) != "ok" {
			t.Fatalf("request %d after the panics: %q", i, body)
		}
	}
}

func TestProxy_LargeLocalAnswersToASlowPipeliningReader(t *testing.T) {
	body := bytes.Repeat([]byte("local answer 0123456789\n"), 100000) // 2.4 MB
	d := deciderFunc(func(r *http.Request) Decision { return Decision{Status: 200, Body: body} })
	addr := startProxy(t, &Server{Decider: d, ErrorLog: discardLog}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	const n = 3
	io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", n))
	br := bufio.NewReaderSize(c, 1024)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("answer %d: %d bytes (%v), want the %d bytes sent", i, len(got), err, len(body))
		}
	}
}

// dribbleBackend answers every request with raw, one byte per write when dribble is set; it returns a
// proxy forwarding to it.
func dribbleBackend(t *testing.T, raw string, dribble bool) (string, *forwardTo) {
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
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if !dribble {
						io.WriteString(c, raw)
						continue
					}
					for i := 0; i < len(raw); i++ {
						if _, err := c.Write([]byte{raw[i]}); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "http", Host: ln.Addr().String()}}})}
	return startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil), f
}

func TestProxy_ResponsesInAnyPieces(t *testing.T) {
	bigHead := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 40<<10) + "\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name, raw, wantBody string
		wantStatus          int
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantStatus: 200, wantBody: "hello"},
		{name: "chunked with extension and trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", wantStatus: 200, wantBody: "hello!"},
		{name: "interim 100 first", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", wantStatus: 201, wantBody: "ok"},
		{name: "head of 40 KiB", raw: bigHead, wantStatus: 200, wantBody: "ok"},
		{name: "head over 64 KiB", raw: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 70<<10) + "\r\n\r\n", wantStatus: 502},
		// No complete 200: the goroutine engine answers 502 when nothing was sent yet, the event loop
		// sends the head and ends the connection.
		{name: "malformed chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
	}
	for _, tc := range tests {
		for _, dribble := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dribble=%v", tc.name, dribble), func(t *testing.T) {
				addr, _ := dribbleBackend(t, tc.raw, dribble)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				// The request too goes one byte at a time.
				for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") {
					c.Write([]byte{b})
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if tc.wantStatus == 0 {
					if err == nil {
						_, err = io.ReadAll(resp.Body)
					}
					if err == nil && resp.StatusCode != http.StatusBadGateway {
						t.Fatalf("a complete %d answer, want none or a 502", resp.StatusCode)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && string(body) != tc.wantBody) {
					t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
				}
			})
		}
	}
}

func TestProxy_ClientLeavingMidResponseIsReported(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(bigBody))
		for n := 0; n < bigBody; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	c.Close() // with most of the body unread
	res := f.wait(t, 1)
	if res[0].Status != 200 || res[0].Err == nil || res[0].BytesOut >= bigBody {
		t.Errorf("result %+v, want status 200, an error and part of the body", res[0])
	}
}

func TestProxy_WriteTimeoutCutsAResponseNobodyReads(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(bigBody))
		for n := 0; n < bigBody; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog, WriteTimeout: 200 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Nothing is read until the engine gave up on this response.
	res := f.wait(t, 1)
	if res[0].Err == nil || res[0].BytesOut >= bigBody {
		t.Fatalf("result %+v, want the response cut with an error", res[0])
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil || n >= bigBody {
		t.Fatalf("client read %d bytes (%v), want a cut response and the connection closed", n, err)
	}
}

// TestProxy_NoRequestWaitsForATimer serves concurrent requests while nothing but readiness can move the
// event loops (pool sweeps an hour apart, an idle timeout of a day): a wake-up lost between a loop's poll
// and its sleep would leave a request hanging until the client gives up.
func TestProxy_NoRequestWaitsForATimer(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	s := &Server{Decider: f, ErrorLog: discardLog, IdleTimeout: 24 * time.Hour, loopPoolSweep: time.Hour}
	addr := startProxy(t, s, nil)
	const conns, perConn = 64, 100
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for range perConn {
				c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard, far above any answer time
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
					errs <- fmt.Errorf("body %q", body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A client that stops reading a response is disconnected after SendTimeout, on every engine, and the
// backend it held back is released; the exchange is reported as the client's failure.
func TestProxy_ClientThatStopsReadingIsCutAfterSendTimeout(t *testing.T) {
	cert, pool := testCA(t)
	for _, tc := range []struct {
		name         string
		chunked, tls bool
	}{
		{name: "content-length"},
		{name: "chunked", chunked: true},
		{name: "content-length over TLS", tls: true},
		{name: "chunked over TLS", chunked: true, tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			backendDone := make(chan error, 1)
			b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(bigBody))
				}
				for n := 0; n < bigBody; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						backendDone <- err
						return
					}
				}
				backendDone <- nil
			}))
			f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
			s := &Server{Decider: f, SendTimeout: 100 * time.Millisecond, ErrorLog: discardLog}
			var c net.Conn
			var err error
			if tc.tls {
				addr := startProxy(t, s, &tls.Config{Certificates: []tls.Certificate{cert}})
				c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			} else {
				c, err = net.Dial("tcp", startProxy(t, s, nil))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
			// ... and read nothing.
			select {
			case err := <-backendDone:
				if err == nil {
					t.Fatalf("the backend wrote all %d bytes to a client that read none", bigBody)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the backend is still held back by a client that stopped reading")
			}
			if res := f.wait(t, 1); res[0].Err == nil || !res[0].ClientErr {
				t.Errorf("Done reported %+v, want the client's failure", res[0])
			}
		})
	}
}

// TestSendWriter_WriteTimeoutEndsTheResponseEvenForAClientThatReads: once WriteTimeout's deadline has
// passed, a write fails however fast the client reads (SendTimeout must not extend past it).
func TestSendWriter_WriteTimeoutEndsTheResponseEvenForAClientThatReads(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go io.Copy(io.Discard, client) // a client that reads everything at once
	c := &conn{s: &Server{sendTimeout: time.Minute}, nc: server}
	w := &sendWriter{c: c}
	c.wdl = time.Now().Add(time.Hour)
	if _, err := w.Write([]byte("before the deadline")); err != nil {
		t.Fatalf("write before WriteTimeout's deadline: %v", err)
	}
	c.wdl = time.Now().Add(-time.Millisecond)
	if _, err := w.Write([]byte("after it")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after WriteTimeout's deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// A connection that Server.Close closes while it moves from its loop to the goroutine engine (a request
// body to stream, a response delimited by close) still ends its exchange: Done comes once, with an error.
func TestProxy_HandOverMeetingServerClose(t *testing.T) {
	if engineName() != "eventloop" {
		t.Skip("only the event-loop engine hands connections over")
	}
	closeDelimited := cannedBackend(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close")
	for _, tc := range []struct {
		name    string
		backend *url.URL
		send    string
	}{
		{name: "a request body to stream", send: "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"},
		{name: "a response delimited by close", backend: closeDelimited, send: "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &forwardTo{}
			if tc.backend != nil {
				f.up = newUpstream(t, UpstreamConfig{URLs: []*url.URL{tc.backend}})
			} else {
				b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
				f.up = newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})
			}
			s := &Server{Decider: f, ErrorLog: discardLog}
			var hooked atomic.Int32
			s.handOverHook = func() {
				hooked.Add(1)
				s.Close()
			}
			addr := startProxy(t, s, nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.send)
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a liveness bound
			if got, err := io.ReadAll(c); err != nil || len(got) > 0 {
				t.Errorf("the client got %q (%v), want the connection closed without an answer", got, err)
			}
			if hooked.Load() != 1 {
				t.Fatalf("the connection was handed over %d times, want once", hooked.Load())
			}
			res := f.wait(t, 1)
			time.Sleep(50 * time.Millisecond) // a second Done would come now
			f.mu.Lock()
			n := len(f.results)
			f.mu.Unlock()
			if n != 1 || !errors.Is(res[0].Err, errClosedInHandOver) {
				t.Errorf("Done came %d times, first with %+v; want once, with %v", n, res[0], errClosedInHandOver)
			}
		})
	}
}
