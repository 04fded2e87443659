package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// UpstreamConfig configures one backend.
type UpstreamConfig struct {
	// URLs are the backend's base URLs (http or https, optional base path), used round-robin.
	URLs []*url.URL
	// TLS is the client configuration toward https URLs; nil means the system roots.
	TLS *tls.Config
	// ConnectTimeout bounds a dial (TCP and TLS handshake), default 5s; ResponseHeaderTimeout bounds the wait
	// for a response head once the request is sent, default 30s (then 504); IdleTimeout is how long an unused
	// backend connection is kept, default 90s.
	ConnectTimeout, ResponseHeaderTimeout, IdleTimeout time.Duration
	// MaxIdleConnsPerHost bounds the keep-alive pool of each URL, default 256.
	MaxIdleConnsPerHost int
}

// downFor is how long a backend URL that refused a connection is skipped (passive health).
const downFor = 3 * time.Second

// Upstream is one backend: a set of base URLs with their own connection pools. It is safe for concurrent use.
type Upstream struct {
	cfg     UpstreamConfig
	targets []*target
	next    atomic.Uint32
	// rt carries requests that do not take the HTTP/1.1 fast path: HTTP/2 inbound requests, and requests to
	// https backends that chose h2 (golang.org/x/net/http2 negotiated per connection).
	rt     *http.Transport
	closed atomic.Bool
	// probeAfter is the idle time after which a pooled connection is probed before reuse. A connection
	// used moments ago is almost never closed by an idle-reaping backend, and the probe costs a syscall
	// per request; tests set it to 0.
	probeAfter time.Duration
}

// target is one base URL with its HTTP/1.1 keep-alive pool.
type target struct {
	u         *url.URL
	addr      string // host:port to dial
	basePath  string // escaped base path without a trailing slash
	tls       *tls.Config
	h2        atomic.Bool  // the backend chose h2 in ALPN: use the Upstream's transport
	downUntil atomic.Int64 // unix nanoseconds
	mu        sync.Mutex
	idle      []*bconn
}

// bconn is a pooled backend connection.
type bconn struct {
	nc     net.Conn
	raw    syscall.RawConn // for the liveness probe; nil when unavailable
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	probe  func(fd uintptr) bool
	rdl    time.Time // the read deadline last set on nc
	alive  bool
	peek   [1]byte
}

// NewUpstream validates cfg and returns an Upstream; no connection is made until the first request.
func NewUpstream(cfg UpstreamConfig) (*Upstream, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("upstream: no backend URL; give at least one http or https URL")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 256
	}
	u := &Upstream{cfg: cfg, probeAfter: 100 * time.Millisecond}
	for i, bu := range cfg.URLs {
		if bu == nil || (bu.Scheme != "http" && bu.Scheme != "https") || bu.Host == "" {
			return nil, fmt.Errorf("upstream: URL %d must be an absolute http or https URL with a host", i)
		}
		if bu.User != nil || bu.RawQuery != "" || bu.Fragment != "" {
			return nil, fmt.Errorf("upstream: URL %s must not carry user info, a query or a fragment; give scheme://host[:port][/base-path]", bu.Redacted())
		}
		t := &target{u: bu, basePath: strings.TrimSuffix(bu.EscapedPath(), "/")}
		port := bu.Port()
		if port == "" {
			port = "80"
			if bu.Scheme == "https" {
				port = "443"
			}
		}
		t.addr = net.JoinHostPort(bu.Hostname(), port)
		if bu.Scheme == "https" {
			tc := &tls.Config{}
			if cfg.TLS != nil {
				tc = cfg.TLS.Clone()
			}
			if tc.ServerName == "" {
				tc.ServerName = bu.Hostname()
			}
			tc.NextProtos = []string{"h2", "http/1.1"}
			t.tls = tc
		}
		u.targets = append(u.targets, t)
	}
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	u.rt = &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       cfg.TLS.Clone(),
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.IdleTimeout,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true, // net/http's bundled HTTP/2, also with our own TLSClientConfig
	}
	return u, nil
}

// Close closes idle connections; exchanges in flight finish and their connections are then closed.
func (u *Upstream) Close() {
	u.closed.Store(true)
	for _, t := range u.targets {
		t.mu.Lock()
		idle := t.idle
		t.idle = nil
		t.mu.Unlock()
		for _, bc := range idle {
			bc.nc.Close()
		}
	}
	u.rt.CloseIdleConnections()
}

// pick returns the next target round-robin, skipping targets marked down unless all are.
func (u *Upstream) pick(now int64) *target {
	n := len(u.targets)
	start := int(u.next.Add(1) - 1)
	if n == 1 {
		return u.targets[0]
	}
	for i := 0; i < n; i++ {
		t := u.targets[(start+i)%n]
		if t.downUntil.Load() <= now {
			return t
		}
	}
	return u.targets[start%n]
}

func (t *target) markDown() { t.downUntil.Store(time.Now().Add(downFor).UnixNano()) }

// errDial marks a failure to reach the backend: the request cannot have been seen, so it may be retried.
type errDial struct{ err error }

func (e *errDial) Error() string { return "connect to backend: " + e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

// get returns an idle connection that is still open, or dials a new one. A nil connection with a nil error
// means the backend chose h2 and the request must go through the Upstream's transport.
func (u *Upstream) get(t *target, now time.Time) (*bconn, error) {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		bc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		if idle := now.Sub(bc.idleAt); idle < u.cfg.IdleTimeout && (idle < u.probeAfter || bc.isAlive()) {
			return bc, nil
		}
		bc.nc.Close()
	}
	return u.dial(t)
}

func (u *Upstream) dial(t *target) (*bconn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), u.cfg.ConnectTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, &errDial{err}
	}
	bc := &bconn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			bc.raw = rc
			bc.probe = bc.probeFD
		}
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &errDial{err}
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			// Route this backend through the HTTP/2 transport from now on; this first connection is not
			// reused because the transport keeps its own.
			t.h2.Store(true)
			tc.Close()
			return nil, nil
		}
		bc.nc = tc
	}
	bc.br = bufio.NewReaderSize(bc.nc, 8192)
	bc.bw = bufio.NewWriterSize(writerOnly{bc.nc}, 8192)
	return bc, nil
}

// newPlainBConn wraps an open plain-TCP backend connection for the pool.
func newPlainBConn(nc net.Conn) *bconn {
	bc := &bconn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			bc.raw = rc
			bc.probe = bc.probeFD
		}
	}
	bc.br = bufio.NewReaderSize(nc, 8192)
	bc.bw = bufio.NewWriterSize(writerOnly{nc}, 8192)
	return bc
}

// put returns a connection whose last exchange completed cleanly to the pool.
func (u *Upstream) put(t *target, bc *bconn, now time.Time) {
	if u.closed.Load() {
		bc.nc.Close()
		return
	}
	bc.idleAt = now
	t.mu.Lock()
	// Drop connections idle for too long from the bottom of the stack (the least recently used).
	drop := 0
	for drop < len(t.idle) && now.Sub(t.idle[drop].idleAt) >= u.cfg.IdleTimeout {
		drop++
	}
	var stale []*bconn
	if drop > 0 {
		stale = append(stale, t.idle[:drop]...)
		t.idle = append(t.idle[:0], t.idle[drop:]...)
	}
	full := len(t.idle) >= u.cfg.MaxIdleConnsPerHost
	if !full {
		t.idle = append(t.idle, bc)
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	if full {
		bc.nc.Close()
	}
}

// isAlive reports whether an idle connection is still open and silent: a backend that closed it (or sent
// anything, such as a TLS close_notify) makes it unusable, and finding that out before writing a request
// avoids failing a request that a retry could not safely repeat.
func (bc *bconn) isAlive() bool {
	if bc.br.Buffered() > 0 {
		return false
	}
	if bc.raw == nil {
		return true
	}
	if !bc.rdl.IsZero() {
		// The head timeout of the last exchange may still be set and would fail the probe, dropping a
		// connection that IdleTimeout allows.
		bc.setReadDeadline(time.Time{})
	}
	bc.alive = false
	if err := bc.raw.Read(bc.probe); err != nil {
		return false
	}
	return bc.alive
}

func (bc *bconn) probeFD(fd uintptr) bool {
	bc.alive = peekWouldBlock(fd, bc.peek[:])
	return true
}

// writerOnly hides io.ReaderFrom of a net.Conn so that bufio.Writer.ReadFrom fills its own buffer instead of
// delegating to the connection's generic copy, which allocates a 32 KiB buffer per call.
type writerOnly struct{ io.Writer }

func (bc *bconn) setReadDeadline(t time.Time) {
	bc.rdl = t
	bc.nc.SetReadDeadline(t)
}

// awaitHead arms the response head timeout. As with the idle timeout, a deadline still between 15/16 and
// all of the timeout away is kept, sparing a timer update per request: the head timeout then fires
// between 15/16 and all of ResponseHeaderTimeout after the request was sent.
func (bc *bconn) awaitHead(now time.Time, timeout time.Duration) {
	if !deadlineDue(bc.rdl, now, timeout) && bc.rdl.Sub(now) <= timeout {
		return
	}
	bc.setReadDeadline(now.Add(timeout))
}
