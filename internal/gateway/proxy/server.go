//lint:file-ignore SA1019 net/http serves HTTP/2 only on connections it accepts itself; the engine accepts
// every connection, reads its ALPN and hands "h2" ones over, which only x/net/http2's Server.ServeConn can
// take. x/net/http2 is the implementation net/http bundles, maintained by the Go team.

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/time/rate"
)

// Server serves the gateway's inbound connections.
type Server struct {
	Decider Decider
	// ReadHeaderTimeout bounds reading a request head from its first byte, and a new connection's wait for
	// its first byte (default 10s); IdleTimeout how long a keep-alive connection may wait for its next
	// request (default 120s); WriteTimeout bounds writing each response (default 0: none, so that long
	// streams work). ReadBodyTimeout bounds each wait for more of a request body that is streamed to the
	// backend (default 60s, nginx's client_body_timeout): a client that stops sending mid-body gets 408
	// and the backend connection is closed, instead of both being held open for ever. SendTimeout bounds
	// each wait for the client to take more of a response (default 60s, nginx's send_timeout): a client
	// that stops reading is disconnected, and the backend connection it held back with it.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout, ReadBodyTimeout, SendTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (default 64 KiB); beyond it the answer is 431.
	MaxHeaderBytes int
	// TrustedProxies are the address ranges of the proxies (load balancers) in front of the gateway. A
	// request whose connection comes from one of them is taken to be from the client its X-Forwarded-For
	// names (the rightmost address not itself trusted): that address is r.RemoteAddr for the Decider, and
	// the proxy's X-Forwarded-For, -Proto, -Host and Forwarded are passed on with this hop added, instead
	// of being replaced (see the package doc). Empty (the default): every peer is the client, and what
	// it says about earlier hops is dropped. Read once, by the first Serve.
	TrustedProxies []netip.Prefix
	ErrorLog       *slog.Logger

	initOnce          sync.Once
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	readBodyTimeout   time.Duration
	sendTimeout       time.Duration
	maxHeaderBytes    int
	trusted           []netip.Prefix // TrustedProxies, masked; nil when there are none
	log               *slog.Logger
	backendLogs       *rate.Limiter // paces the per-exchange backend failure lines
	h2                *http2.Server
	h2base            *http.Server

	mu sync.Mutex
	ev *evEngine // the event-loop engine, started by the first Serve or ServeTLS
	// loopPoolSweep, when set (by tests), replaces how often event loops sweep their idle backend
	// connections.
	loopPoolSweep time.Duration
	// handOverHook, when set (by tests), is called by the goroutine that takes a connection over from
	// its event loop, before it looks at the connection's state.
	handOverHook func()
	listeners    map[net.Listener]struct{}
	conns        map[*conn]struct{}
	shutting     atomic.Bool
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.readHeaderTimeout = s.ReadHeaderTimeout
		if s.readHeaderTimeout <= 0 {
			s.readHeaderTimeout = 10 * time.Second
		}
		s.idleTimeout = s.IdleTimeout
		if s.idleTimeout <= 0 {
			s.idleTimeout = 120 * time.Second
		}
		s.readBodyTimeout = s.ReadBodyTimeout
		if s.readBodyTimeout <= 0 {
			s.readBodyTimeout = 60 * time.Second
		}
		s.sendTimeout = s.SendTimeout
		if s.sendTimeout <= 0 {
			s.sendTimeout = 60 * time.Second
		}
		s.maxHeaderBytes = s.MaxHeaderBytes
		if s.maxHeaderBytes <= 0 {
			s.maxHeaderBytes = 64 << 10
		}
		s.log = s.ErrorLog
		if s.log == nil {
			s.log = slog.Default()
		}
		for _, p := range s.TrustedProxies {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96) // peers are compared as IPv4
			}
			if p.IsValid() {
				s.trusted = append(s.trusted, p.Masked())
			}
		}
		// A backend that is down fails every exchange: one line a second
		// (after a burst) says so; the audit log and the metrics count them all.
		s.backendLogs = rate.NewLimiter(1, 10)
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.h2base = &http.Server{
			ReadHeaderTimeout: s.readHeaderTimeout,
			IdleTimeout:       s.idleTimeout,
			WriteTimeout:      s.WriteTimeout,
			MaxHeaderBytes:    s.maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			Handler:           http.HandlerFunc(s.serveH2Stream),
		}
		s.h2 = &http2.Server{IdleTimeout: s.idleTimeout}
		if err := http2.ConfigureServer(s.h2base, s.h2); err != nil {
			// ConfigureServer fails only on a TLS configuration it was not given; keep the error visible.
			s.log.Error("gateway: configure HTTP/2", "err", err)
		}
	})
}

// Serve accepts plain-HTTP connections (HTTP/1.1; h2c is not supported) until Shutdown, after which it
// returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS accepts TLS connections: ALPN "h2" goes to an HTTP/2 server that calls the same Decider and
// forwards through the same Upstreams; "http/1.1" or no ALPN goes to the HTTP/1.1 engine. cfg is used as
// given (ClientAuth, GetConfigForClient, certificates) with NextProtos set by the engine.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	if cfg == nil {
		return errors.New("gateway: ServeTLS needs a TLS configuration")
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	if get := cfg.GetConfigForClient; get != nil {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if c != nil {
				c = c.Clone()
				c.NextProtos = []string{"h2", "http/1.1"}
			}
			return c, err
		}
	}
	return s.serve(ln, cfg)
}

func (s *Server) serve(ln net.Listener, cfg *tls.Config) error {
	s.init()
	if s.Decider == nil {
		return errors.New("gateway: Server.Decider is nil")
	}
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	ev, err := s.loopEngine()
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry rather than spin or stop serving.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			s.log.Warn("gateway: accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &conn{s: s, raw: nc, nc: nc, tlsCfg: cfg}
		if cfg != nil {
			if _, tcp := nc.(*net.TCPConn); tcp {
				c.ev = ev
			}
		}
		c.state.Store(stateActive)
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			nc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		if ev != nil && cfg == nil {
			if _, tcp := nc.(*net.TCPConn); tcp && ev.adopt(c, nc) == nil {
				continue
			}
		}
		go c.serve()
	}
}

// loopEngine returns the event-loop engine, starting it on first use, or nil when the goroutine engine
// serves every connection (see EngineEnv). A bad EngineEnv or IOURingEnv, or
// IOURingEnv=on without an io_uring, is an error. s.mu is held.
func (s *Server) loopEngine() (*evEngine, error) {
	if s.ev != nil {
		return s.ev, nil
	}
	want, err := loopEngineWanted()
	if err != nil || !want {
		return nil, err
	}
	if _, err := ioURingMode(); err != nil {
		return nil, err
	}
	s.ev, err = newLoopEngine(s)
	if errors.Is(err, errIOURingRequired) {
		return nil, err
	}
	if err != nil {
		s.log.Warn("gateway: the event-loop engine could not start; plain HTTP uses the goroutine engine", "err", err)
		return nil, nil
	}
	return s.ev, nil
}

// Shutdown stops accepting, closes idle connections and waits for the others to finish their exchange,
// or for ctx to end (then it returns ctx's error and leaves the remaining connections to finish).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.h2base.Shutdown(ctx) // sends GOAWAY on HTTP/2 connections; they end once their streams are done
	ev := s.ev
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.state.CompareAndSwap(stateIdle, stateClosed) {
				c.raw.Close()
			}
		}
		n := len(s.conns)
		s.mu.Unlock()
		if ev != nil {
			ev.wake() // loops close their idle connections, and end once they have none
		}
		if n == 0 {
			if ev != nil {
				return ev.wait(ctx)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close stops accepting and closes every connection at once, in-flight exchanges included.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.h2base.Close()
	for c := range s.conns {
		c.state.Store(stateClosed)
		if c.raw != nil { // nil while an event loop serves the connection
			c.raw.Close()
		}
	}
	if s.ev != nil {
		s.ev.close()
	}
	return nil
}

const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8192) }}
)

// conn is one inbound connection served by the HTTP/1.1 engine; its request, header map and buffers are
// reused for every request on it.
type conn struct {
	s *Server
	// raw is the accepted connection, never reassigned, so Shutdown and Close may close it while serve
	// replaces nc with its TLS layer; closing it ends the TLS connection too.
	raw net.Conn
	nc  net.Conn
	// loop, when set, is the event-loop engine serving this connection (raw and nc are then nil until the
	// loop hands the connection over to this engine).
	loop   loopConn
	tlsCfg *tls.Config
	ev     *evEngine // the event loops that take a TLS listener's HTTP/1.1 connections after the handshake (nil: none)
	state  atomic.Int32

	br  *bufio.Reader
	bw  *bufio.Writer // held only while a request is served: idle connections give it back to the pool
	out io.Writer     // &sw (nc without io.ReaderFrom, each write bounded by SendTimeout)
	sw  sendWriter
	sdl time.Time // the write deadline last set on nc
	wdl time.Time // WriteTimeout's deadline for the response being written (zero: none)

	tlsState   *tls.ConnectionState
	proto      string // "http" or "https"
	remoteAddr string
	clientIP   string // the peer's IP address
	// peerTrust says whether the peer is one of Server.TrustedProxies (0: not yet looked at, 1: no,
	// 2: yes); org is what the trusted proxy said about the request being served (zero otherwise).
	peerTrust int8
	org       origin

	head     []byte // request head bytes, names canonicalised in place
	respHead []byte
	rh       requestHead
	resp     responseHead
	req      http.Request
	url      url.URL
	hdr      http.Header
	vals     []string
	upgrade  bool
	keep     bool      // the client connection may serve another request
	rdl      time.Time // the read deadline last set on nc
	rdlIdle  bool      // rdl is an idle deadline that extendIdle may keep
	fresh    bool      // no request has been read yet: the first byte is awaited for ReadHeaderTimeout

	reqLen    lengthReader
	respLen   lengthReader
	reqChunk  chunkedReader
	respChunk chunkedReader
	reqBuf    []byte // chunk re-encoding scratch for the request body goroutine
	respBuf   []byte
	bodyDone  chan bodyResult
	headMu    sync.Mutex // orders sendBody arming the head timeout against forward having read the head
	headDone  bool
	// bodyMu orders the body goroutine extending the client's read deadline (ReadBodyTimeout) against
	// waitBody and stopBody cutting it short; bodyCut says they did, bodyDL is the deadline last set.
	bodyMu  sync.Mutex
	bodyCut bool
	bodyDL  time.Time
}

type bodyResult struct {
	n          int64
	rerr, werr error
}

// finish ends a connection served by this engine: deferred by its goroutine.
func (c *conn) finish() {
	if p := recover(); p != nil {
		c.s.log.Error("gateway: panic serving a connection", "panic", p, "stack", string(debug.Stack()))
	}
	c.release()
}

// release closes the connection and gives back what it held.
func (c *conn) release() {
	s := c.s
	c.nc.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (c *conn) serve() {
	s := c.s
	looped := false // an event loop serves the connection from now on: this goroutine leaves it alone
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("gateway: panic serving a connection", "panic", p, "stack", string(debug.Stack()))
		}
		if !looped {
			c.release()
		}
	}()
	c.remoteAddr = c.nc.RemoteAddr().String()
	c.clientIP = c.remoteAddr
	if host, _, err := net.SplitHostPort(c.remoteAddr); err == nil {
		c.clientIP = host
	}
	c.proto = "http"
	if c.tlsCfg != nil {
		// The handshake is made here, blocking; an HTTP/1.1 connection then goes to an event loop when
		// there is one, which serves its TLS records through the wire (tlswire.go).
		w := newTLSWire(c.raw)
		tc := tls.Server(w, c.tlsCfg)
		c.nc = tc
		ctx, cancel := context.WithTimeout(context.Background(), s.readHeaderTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			answerPlainHTTPOnTLS(err)
			return
		}
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == "h2" {
			tc.SetDeadline(time.Time{})
			s.h2.ServeConn(tc, &http2.ServeConnOpts{BaseConfig: s.h2base, Handler: s.h2base.Handler})
			return
		}
		c.tlsState = &st
		c.proto = "https"
		if c.ev != nil && c.ev.adoptTLS(c, w, tc) == nil {
			looped = true
			return
		}
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	c.sw = sendWriter{c}
	c.out = &c.sw
	c.hdr = make(http.Header, 16)
	c.vals = make([]string, maxHeaderFields)
	c.fresh = true
	c.serveRequests()
}

// serveRequests serves requests until the connection cannot serve another one.
func (c *conn) serveRequests() {
	for {
		if !c.readHead() {
			return
		}
		c.acquireWriter()
		if !c.handle() || c.s.shutting.Load() {
			return
		}
		c.releaseWriter()
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// errHeadTimeout is the 408 answer to a request head that was begun and not finished in time (slowloris).
const errHeadTimeout = "the request head was not completed in time; send the whole request line and headers at once"

// readHead reads one request head into c.head, answering 400/431 itself when the head is unacceptable.
func (c *conn) readHead() bool {
	s := c.s
	// writeError looks at the method: a head that fails to parse must not inherit the last request's HEAD.
	c.req.Method = ""
	if c.br.Buffered() == 0 {
		c.state.Store(stateIdle)
		if s.shutting.Load() {
			return false
		}
		if c.fresh {
			// A connection that never sends a byte is held no longer than a slow head (net/http does the
			// same), not for a whole keep-alive idle period.
			c.setReadDeadline(time.Now().Add(s.readHeaderTimeout))
		} else {
			c.extendIdle(time.Now())
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return false // Shutdown closed it
		}
	}
	if buf, _ := c.br.Peek(c.br.Buffered()); !bytes.Contains(buf, crlfcrlf) {
		c.setReadDeadline(time.Now().Add(s.readHeaderTimeout))
	}
	c.fresh = false
	c.head = c.head[:0]
	atLineStart, leading := true, 0
	for {
		line, err := c.br.ReadSlice('\n')
		if len(c.head)+len(line) > s.maxHeaderBytes {
			c.writeError(431, "invalid_request", "the request line and headers exceed the size limit; send smaller headers")
			return false
		}
		if err == bufio.ErrBufferFull {
			c.head = append(c.head, line...)
			atLineStart = false
			continue
		}
		if err != nil {
			if len(c.head) > 0 || len(line) > 0 {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					c.writeError(http.StatusRequestTimeout, "request_timeout", errHeadTimeout)
				} else {
					c.writeError(400, "invalid_request", "the connection ended in the middle of a request head")
				}
			}
			return false
		}
		if atLineStart && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			if len(line) == 1 {
				c.writeError(400, "invalid_request", errBareLF.msg)
				return false
			}
			if len(c.head) == 0 && leading < 4 {
				leading++ // RFC 9112 2.2: ignore an empty line before the request line
				continue
			}
			c.head = append(c.head, line...)
			return true
		}
		c.head = append(c.head, line...)
		atLineStart = true
	}
}

// handle serves one request whose head is in c.head and reports whether the connection may be reused.
func (c *conn) handle() bool {
	h := &c.rh
	if e := parseRequestHead(c.head, h); e.status != 0 {
		if e.status == http.StatusHTTPVersionNotSupported && string(c.head) == h2PrefaceHead {
			c.answerH2Preface()
			return false
		}
		c.writeError(e.status, e.code(), e.msg)
		return false
	}
	c.keep = !h.connClose && (h.minor == 1 || h.connKeepAlive)
	c.upgrade = h.minor == 1 && h.connUpgrade && h.upgrade != 0
	if c.upgrade && containsFold(h.fields[h.upgrade-1].value.bytes(c.head), "h2c") {
		// An h2c tunnel would carry requests the Decider never sees (h2c smuggling): not an upgrade here.
		c.upgrade = false
	}
	if e := c.buildRequest(); e.status != 0 {
		c.writeError(e.status, e.code(), e.msg)
		return false
	}
	if c.req.URL.Path == "*" {
		return c.answerOptionsAsterisk()
	}
	d := c.s.Decider.Decide(&c.req)
	if d.Upstream == nil {
		return c.answerLocal(&d)
	}
	return c.forward(&d)
}

var chunkedTE = []string{"chunked"}

// buildRequest fills the reused http.Request from the parsed head; the only allocation is one string
// holding the head, shared by every string the request exposes.
func (c *conn) buildRequest() headError {
	h := &c.rh
	hs := string(c.head)
	r := &c.req
	*r = http.Request{}
	c.url = url.URL{}
	clear(c.hdr)
	r.Method = methodString(hs[h.method.lo:h.method.hi])
	target := hs[h.target.lo:h.target.hi]
	switch r.Method {
	case http.MethodConnect:
		// Whatever its target: a backend answering 2xx to a CONNECT would turn the connection into a
		// tunnel the gateway does not know about (RFC 9110 9.3.6).
		return errConnect
	case http.MethodTrace:
		return errTrace
	}
	switch {
	case target == "*":
		if r.Method != http.MethodOptions {
			return errAsteriskForm
		}
		c.url.Path = "*"
	case target[0] != '/':
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "HTTP://") || strings.HasPrefix(target, "HTTPS://") {
			return errAbsoluteForm
		}
		return errTarget
	default:
		path, query, _ := strings.Cut(target, "?")
		if strings.IndexByte(path, '%') >= 0 {
			p, err := url.PathUnescape(path)
			if err != nil {
				return errTarget
			}
			c.url.Path, c.url.RawPath = p, path
		} else {
			c.url.Path = path
		}
		if !cleanPath(c.url.Path) {
			return errDotSegment
		}
		c.url.RawQuery = query
	}
	r.URL = &c.url
	r.RequestURI = target
	r.ProtoMajor, r.ProtoMinor = 1, h.minor
	r.Proto = "HTTP/1.1"
	if h.minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	hdr := c.hdr
	r.Header = hdr
	for i := range h.fields {
		f := &h.fields[i]
		v := hs[f.value.lo:f.value.hi]
		if i+1 == h.host {
			r.Host = v
			continue
		}
		key := f.key
		if key == "" {
			key = hs[f.name.lo:f.name.hi]
		}
		if (hopByHop(key) && !(key == "Upgrade" && c.upgrade)) || key == "Expect" {
			continue
		}
		if vv, ok := hdr[key]; ok {
			hdr[key] = append(vv, v)
			continue
		}
		c.vals[i] = v
		hdr[key] = c.vals[i : i+1 : i+1]
	}
	for _, t := range h.connTokens {
		delete(hdr, http.CanonicalHeaderKey(hs[t.lo:t.hi]))
	}
	switch {
	case h.chunked:
		r.ContentLength = -1
		r.TransferEncoding = chunkedTE
	case h.contentLength > 0:
		r.ContentLength = h.contentLength
	}
	r.Close = !c.keep
	r.RemoteAddr = c.remoteAddr
	r.TLS = c.tlsState
	r.Body = http.NoBody
	if c.s.trusted != nil {
		c.fromTrustedProxy()
	}
	return headError{}
}

// fromTrustedProxy reads, when the peer is a trusted proxy, what it says about the request: the client
// address becomes r.RemoteAddr, and the forwarding fields it sent are kept for the backend in c.org.
func (c *conn) fromTrustedProxy() {
	if c.peerTrust == 0 {
		c.peerTrust = 1
		if c.s.trustedPeer(c.clientIP) {
			c.peerTrust = 2
		}
	}
	if c.peerTrust != 2 {
		return
	}
	c.org = c.s.fromProxy(c.hdr, c.clientIP)
	if c.org.client != "" {
		c.req.RemoteAddr = c.org.client
	}
}

// cleanPath reports whether a decoded path has no dot segments and no control characters, so that the
// path the Decider matched is the path every backend resolves (a backend normalising /api/../admin to
// /admin would otherwise bypass a prefix rule). Backslashes count as separators for servers that treat
// them so; a segment counts as a dot segment also with path parameters (/..;x/: Tomcat and Spring drop
// ";..." before resolving); and a path that still holds an encoded dot, slash or backslash once decoded
// (sent double-encoded, %252e) is refused too, for backends that decode twice.
func cleanPath(p string) bool {
	seg := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' || p[i] == '\\' {
			s := p[seg:i]
			if j := strings.IndexByte(s, ';'); j >= 0 {
				s = s[:j]
			}
			if s == "." || s == ".." {
				return false
			}
			seg = i + 1
			continue
		}
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
		if p[i] == '%' && i+2 < len(p) && encodesDotOrSeparator(p[i+1], p[i+2]) {
			return false
		}
	}
	return true
}

// encodesDotOrSeparator reports whether the hex digits hi, lo encode ".", "/" or "\" (2E, 2F, 5C, any case).
func encodesDotOrSeparator(hi, lo byte) bool {
	lo |= 0x20
	return hi == '2' && (lo == 'e' || lo == 'f') || hi == '5' && lo == 'c'
}

func methodString(m string) string {
	switch m {
	case "GET":
		return http.MethodGet
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "HEAD":
		return http.MethodHead
	case "PATCH":
		return http.MethodPatch
	case "OPTIONS":
		return http.MethodOptions
	}
	return m
}

// lengthReader reads exactly n bytes: an early end of stream is io.ErrUnexpectedEOF, not a short body.
type lengthReader struct {
	r io.Reader
	n int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		if l.n > 0 {
			err = io.ErrUnexpectedEOF
		} else {
			err = nil
		}
	}
	return n, err
}

func (c *conn) setReadDeadline(t time.Time) {
	c.rdl, c.rdlIdle = t, false
	c.nc.SetReadDeadline(t)
}

// extendIdle arms the idle timeout before waiting for the next request. Re-arming a deadline costs a
// runtime timer update per request, so a deadline still at least 15/16 of the timeout away is kept:
// the idle timeout then ends between 15/16 and all of IdleTimeout.
func (c *conn) extendIdle(now time.Time) {
	idle := c.s.idleTimeout
	if c.rdlIdle && !deadlineDue(c.rdl, now, idle) {
		return
	}
	c.rdl, c.rdlIdle = now.Add(idle), true
	c.nc.SetReadDeadline(c.rdl)
}

// deadlineDue reports whether a deadline renewed by timeout on each progress is due for renewal: one
// still at least 15/16 of the timeout away is kept, since re-arming it costs a runtime timer update (per
// request, per read or per write), so the timeout then ends between 15/16 and all of its length.
func deadlineDue(dl, now time.Time, timeout time.Duration) bool {
	return dl.Sub(now) < timeout-timeout/16
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func (c *conn) acquireWriter() {
	if c.bw == nil {
		c.bw = writerPool.Get().(*bufio.Writer)
		c.bw.Reset(c.out)
	}
}

// releaseWriter returns the (flushed) response writer to the pool before the connection goes idle.
func (c *conn) releaseWriter() {
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
}

// loopConn is what the event-loop engine does where the goroutine engine acts on its net.Conn.
type loopConn interface {
	lingerClose()     // half-close after an error answer and drain what the client still sends
	armWriteTimeout() // start WriteTimeout for the response being written
}

// armWriteTimeout starts WriteTimeout, when set, for the response about to be written.
func (c *conn) armWriteTimeout() {
	if c.s.WriteTimeout <= 0 {
		return
	}
	if c.loop != nil {
		c.loop.armWriteTimeout()
		return
	}
	c.wdl = time.Now().Add(c.s.WriteTimeout)
	c.sdl = c.wdl
	c.nc.SetWriteDeadline(c.wdl)
}

// sendWriter writes a connection's responses: each write gets SendTimeout to make progress, within
// WriteTimeout's deadline when that is set. Like extendIdle, a deadline still at least 15/16 of the
// timeout away is kept, so that a fast client costs no timer update per write.
type sendWriter struct{ c *conn }

func (w *sendWriter) Write(p []byte) (int, error) {
	c := w.c
	timeout := c.s.sendTimeout
	now := time.Now()
	dl := c.sdl
	if deadlineDue(dl, now, timeout) {
		dl = now.Add(timeout)
	}
	// Never past WriteTimeout's deadline, even once it has passed: the
	// write then fails, whatever the client still reads.
	if !c.wdl.IsZero() && c.wdl.Before(dl) {
		dl = c.wdl
	}
	if !dl.Equal(c.sdl) {
		c.sdl = dl
		c.nc.SetWriteDeadline(dl)
	}
	return c.nc.Write(p)
}

// answerPlainHTTPOnTLS tells a client that sent plain HTTP to a TLS listener
// what went wrong, as net/http does, instead of closing in silence.
func answerPlainHTTPOnTLS(err error) {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil || !looksLikeHTTP(re.RecordHeader[:]) {
		return
	}
	re.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(re.Conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"+
		`{"error":"invalid_request","error_description":"this gateway listener speaks HTTPS; send the request with https://"}`+"\n")
	re.Conn.Close()
}

func looksLikeHTTP(h []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH"} {
		if string(h) == m {
			return true
		}
	}
	return false
}

// logBackendFailure logs a failed backend exchange, paced, unless d's Decider reports it (Done set: the
// gateway logs it naming the API), so that each failure is logged once.
func (s *Server) logBackendFailure(d *Decision, msg string, args ...any) {
	if d.Done == nil && s.backendLogs.Allow() {
		s.log.Warn(msg, args...)
	}
}
