package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tlsSetup serves s's Decider over a TLS listener that asks for (and does not verify) client
// certificates, in front of a backend that echoes the method, path, body and what it learnt of TLS.
func tlsSetup(t *testing.T, s *Server) (addr string, cfg *tls.Config, seen func() []*http.Request) {
	t.Helper()
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/ws":
			upgradeEcho(w, r)
			return
		case r.URL.Path == "/chunked":
			w.(http.Flusher).Flush() // no Content-Length: a chunked response
		case strings.HasPrefix(r.URL.Path, "/big/"):
			var n int
			fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/big/"), &n)
			w.Write(bytes.Repeat([]byte("x"), n))
			return
		}
		fmt.Fprintf(w, "%s %s %s proto=%s", r.Method, r.URL.Path, body, r.Header.Get("X-Forwarded-Proto"))
	}))
	var mu sync.Mutex
	var reqs []*http.Request
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}}), seen: func(r *http.Request) {
		mu.Lock()
		reqs = append(reqs, &http.Request{Method: r.Method, URL: r.URL, TLS: r.TLS})
		mu.Unlock()
	}}
	s.Decider = f
	if s.ErrorLog == nil {
		s.ErrorLog = discardLog
	}
	cert, pool := testCA(t)
	addr = startProxy(t, s, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	cfg = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{cert}}
	return addr, cfg, func() []*http.Request { mu.Lock(); defer mu.Unlock(); return append([]*http.Request(nil), reqs...) }
}

// TLS connections are served by the event loops after their handshake (evtls_linux.go) where the
// plain-HTTP ones are; each case must work on every engine, hand-overs to the goroutine engine included.
func TestProxy_TLSConnectionsAreServedLikePlainOnes(t *testing.T) {
	type answer struct{ method, body string }
	tests := []struct {
		name  string
		write func(c *tls.Conn) error
		want  []answer
	}{
		{
			name: "pipelined burst across the engine's paths, in one record",
			write: func(c *tls.Conn) error {
				_, err := io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"+
					"HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n"+
					"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"+
					"POST /4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
					"GET /5 HTTP/1.1\r\nHost: x\r\n\r\n")
				return err
			},
			want: []answer{{"GET", "GET /1  proto=https"}, {"HEAD", ""}, {"GET", "GET /chunked  proto=https"},
				{"POST", "POST /4 abc proto=https"}, {"GET", "GET /5  proto=https"}},
		},
		{
			name: "a head in one-byte records, then another",
			write: func(c *tls.Conn) error {
				for _, b := range []byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return err
					}
				}
				_, err := io.WriteString(c, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
				return err
			},
			want: []answer{{"GET", "GET /a  proto=https"}, {"GET", "GET /b  proto=https"}},
		},
		{
			name: "a body over several records and reads, then a request on the same connection",
			write: func(c *tls.Conn) error {
				body := strings.Repeat("b", 100<<10)
				_, err := fmt.Fprintf(c, "POST /big-body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%sGET /after HTTP/1.1\r\nHost: x\r\n\r\n", len(body), body)
				return err
			},
			want: []answer{{"POST", "POST /big-body " + strings.Repeat("b", 100<<10) + " proto=https"}, {"GET", "GET /after  proto=https"}},
		},
		{
			name: "large responses relayed in many records",
			write: func(c *tls.Conn) error {
				_, err := io.WriteString(c, "GET /big/1048576 HTTP/1.1\r\nHost: x\r\n\r\nGET /big/70000 HTTP/1.1\r\nHost: x\r\n\r\n")
				return err
			},
			want: []answer{{"GET", strings.Repeat("x", 1<<20)}, {"GET", strings.Repeat("x", 70000)}},
		},
		{
			name: "a client that sends close_notify after its request gets its answer",
			write: func(c *tls.Conn) error {
				if _, err := io.WriteString(c, "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					return err
				}
				return c.CloseWrite()
			},
			want: []answer{{"GET", "GET /last  proto=https"}},
		},
		{
			name: "bytes after the client's close_notify are ignored",
			write: func(c *tls.Conn) error {
				if _, err := io.WriteString(c, "GET /before-close HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					return err
				}
				if err := c.CloseWrite(); err != nil {
					return err
				}
				raw := c.NetConn()
				raw.SetWriteDeadline(time.Now().Add(10 * time.Second)) // CloseWrite set it to now
				_, err := raw.Write(bytes.Repeat([]byte("junk"), 2000))
				return err
			},
			want: []answer{{"GET", "GET /before-close  proto=https"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, cfg, seen := tlsSetup(t, &Server{})
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			werr := make(chan error, 1)
			go func() { werr <- tc.write(c) }() // large writes would fill both ways before anything is read
			br := bufio.NewReader(c)
			for i, want := range tc.want {
				resp, err := http.ReadResponse(br, &http.Request{Method: want.method})
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(body) != want.body {
					t.Fatalf("answer %d: %d, %d bytes %.60q (%v), want 200 and %d bytes %.60q", i, resp.StatusCode, len(body), body, err, len(want.body), want.body)
				}
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, r := range seen() {
				if r.TLS == nil || len(r.TLS.PeerCertificates) != 1 || r.TLS.NegotiatedProtocol != "http/1.1" {
					t.Fatalf("%s %s: the Decider saw TLS %+v, want the client's certificate and http/1.1", r.Method, r.URL, r.TLS)
				}
			}
		})
	}
}

// tlsGet opens a TLS connection (closed at the end of the test) and has one request answered on it.
func tlsGet(t *testing.T, addr string, cfg *tls.Config, path string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return c, br
}

// An upgrade on a TLS connection that the loop served a request on first goes to the goroutine engine,
// which splices the decrypted stream both ways (the bytes sent with the upgrade request included).
func TestProxy_TLSUpgradeAfterARequestOnTheLoop(t *testing.T) {
	addr, cfg, _ := tlsSetup(t, &Server{})
	c, br := tlsGet(t, addr, cfg, "/first")
	upgradeAndEcho(t, c, br)
}

// After the handshake an HTTP/1.1 TLS connection is held by an event loop where there are loops (the
// Server then holds no socket of its own for it), and by its goroutine otherwise.
func TestProxy_TLSConnectionsGoToTheEventLoops(t *testing.T) {
	s := &Server{}
	addr, cfg, _ := tlsSetup(t, s)
	tlsGet(t, addr, cfg, "/x")
	s.mu.Lock()
	looped := 0
	for cn := range s.conns {
		if cn.raw == nil {
			looped++
		}
	}
	n := len(s.conns)
	s.mu.Unlock()
	want := 0
	if engineName() == "eventloop" {
		want = 1
	}
	if n != 1 || looped != want {
		t.Fatalf("%d connections, %d of them on a loop; want 1, %d on a loop (%s engine)", n, looped, want, engineName())
	}
}

// Bytes after the handshake that are not a TLS record end that connection only, with an alert or a
// close, never a hang; a record that fails to authenticate likewise.
func TestProxy_TLSGarbageAfterTheHandshakeEndsOnlyThatConnection(t *testing.T) {
	addr, cfg, _ := tlsSetup(t, &Server{})
	tests := []struct {
		name    string
		garbage []byte
	}{
		{"not a record", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"an application record that fails to authenticate", append([]byte{0x17, 0x03, 0x03, 0x00, 0x20}, bytes.Repeat([]byte{0xAB}, 32)...)},
		{"a record longer than TLS allows", []byte{0x17, 0x03, 0x03, 0xFF, 0xFF, 0x00}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			c := tls.Client(raw, cfg)
			if err := c.Handshake(); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Write(tc.garbage); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(c); err == nil {
				// An alert or the end of stream: either ends the read; a hang would hit the deadline.
				t.Log("the connection ended with a close")
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the gateway kept the connection open after garbage")
			}
			// The gateway still serves others.
			c2, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			c2.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c2, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("next connection: %v %v", resp, err)
			}
		})
	}
}

// A connection the gateway closes (idle, or after Connection: close) ends with a close_notify alert, as
// tls.Conn.Close sends it, so that a client can tell a close from a cut.
func TestProxy_TLSCloseSendsCloseNotify(t *testing.T) {
	tests := []struct {
		name, req string
	}{
		{"after Connection: close", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"after the idle timeout", "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"after an error answer", "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, cfg, _ := tlsSetup(t, &Server{IdleTimeout: 200 * time.Millisecond})
			cfg = cfg.Clone()
			cfg.MaxVersion = tls.VersionTLS12 // alert records are then visible as such on the wire
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			rec := &recordTypes{r: raw}
			c := tls.Client(readThrough{raw, rec}, cfg)
			io.WriteString(c, tc.req)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if _, err := io.ReadAll(c); err != nil {
				t.Fatalf("the connection ended with %v, want a close_notify (io.EOF)", err)
			}
			if !rec.sawAlert() {
				t.Fatalf("no alert record before the end of stream (record types %v)", rec.types())
			}
		})
	}
}

// readThrough is a connection whose reads go through r.
type readThrough struct {
	net.Conn
	r io.Reader
}

func (c readThrough) Read(p []byte) (int, error) { return c.r.Read(p) }

// recordTypes notes the type of each TLS record read through it (TLS 1.2, where alerts are not hidden).
type recordTypes struct {
	r    io.Reader
	mu   sync.Mutex
	buf  []byte
	seen []byte
}

func (rt *recordTypes) Read(p []byte) (int, error) {
	n, err := rt.r.Read(p)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.buf = append(rt.buf, p[:n]...)
	for len(rt.buf) >= 5 {
		l := 5 + (int(rt.buf[3])<<8 | int(rt.buf[4]))
		if len(rt.buf) < l {
			break
		}
		rt.seen = append(rt.seen, rt.buf[0])
		rt.buf = rt.buf[l:]
	}
	return n, err
}

func (rt *recordTypes) sawAlert() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return bytes.IndexByte(rt.seen, 0x15) >= 0
}

func (rt *recordTypes) types() []byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]byte(nil), rt.seen...)
}

// A request whose first TLS record has partly arrived when Shutdown begins is not an idle connection: it
// is served (the event loop follows the records tc holds; the goroutine engine, like net/http, sees a
// request only once a record of it is decrypted, and so closes such a connection as idle).
func TestProxy_TLSShutdownServesARequestHalfArrived(t *testing.T) {
	if engineName() != "eventloop" {
		t.Skip("the goroutine engine cannot see a partial TLS record")
	}
	s := &Server{}
	addr, cfg, _ := tlsSetup(t, s)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	w := &holdWrites{Conn: raw}
	c := tls.Client(w, cfg)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	w.hold = true
	io.WriteString(c, "GET /half HTTP/1.1\r\nHost: x\r\n\r\n") // kept in w.held: one record
	rec := w.held
	if _, err := raw.Write(rec[:8]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the loop has read the 8 bytes
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(t.Context()) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := raw.Write(rec[8:]); err != nil {
		t.Fatalf("the gateway closed a connection with half a request on it: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "GET /half") || !resp.Close {
		t.Fatalf("%s %q (close %v), want the answer with Connection: close", resp.Status, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// holdWrites keeps what is written once hold is set, instead of sending it.
type holdWrites struct {
	net.Conn
	hold bool
	held []byte
}

func (h *holdWrites) Write(p []byte) (int, error) {
	if h.hold {
		h.held = append(h.held, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// The wire follows the record framing of what a client sends (untrusted bytes): however they are split
// into reads, it ends in the same place, and that place is where a plain walk over the records ends.
func FuzzTLSWireFraming(f *testing.F) {
	f.Add([]byte{0x17, 0x03, 0x03, 0x00, 0x02, 1, 2, 0x15, 0x03}, uint8(3))
	f.Add([]byte{0x16, 0x03, 0x01, 0xFF, 0xFF}, uint8(1))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		whole := &tlsWire{prefix: b}
		io.ReadAll(io.LimitReader(whole, int64(len(b))))
		split := &tlsWire{prefix: b}
		buf := make([]byte, int(step)%7+1)
		for len(split.prefix) > 0 {
			split.Read(buf)
		}
		// The reference: walk the records.
		rest := len(b)
		i := 0
		for rest >= 5 {
			l := 5 + (int(b[i+3])<<8 | int(b[i+4]))
			if l > rest {
				break
			}
			i += l
			rest -= l
		}
		want := rest > 0
		if whole.midRecord() != want || split.midRecord() != want {
			t.Fatalf("mid-record: whole %v, split %v, want %v", whole.midRecord(), split.midRecord(), want)
		}
	})
}
