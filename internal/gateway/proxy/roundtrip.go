package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bodyGuard hands a client's request body to an http.RoundTripper, which may read it from another
// goroutine; once the exchange is over, finish guarantees no further read touches the connection.
type bodyGuard struct {
	mu      sync.Mutex
	r       io.Reader
	started atomic.Bool
	eof     atomic.Bool
	closed  bool
	n       atomic.Int64
	failed  atomic.Pointer[bodyErr] // the first read error other than io.EOF
	onEOF   func()                  // called once when the body has been read to its end
}

type bodyErr struct{ err error }

var errBodyFinished = errors.New("request body no longer available")

func (g *bodyGuard) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errBodyFinished
	}
	g.started.Store(true)
	n, err := g.r.Read(p)
	g.n.Add(int64(n))
	if err == io.EOF {
		if !g.eof.Swap(true) && g.onEOF != nil {
			g.onEOF()
		}
	} else if err != nil {
		g.failed.CompareAndSwap(nil, &bodyErr{err})
	}
	return n, err
}

// failure is the error the client's body first failed with, nil if none (it never waits for a read).
func (g *bodyGuard) failure() error {
	if e := g.failed.Load(); e != nil {
		return e.err
	}
	return nil
}

// deadlineReader reads a client's request body for a RoundTripper. Before each read, extend gives it
// ReadBodyTimeout to make progress; a read that times out then reports errBodyStalled, unless cut says
// the exchange itself ended the body.
type deadlineReader struct {
	r      io.Reader
	extend func()
	cut    func() bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.extend()
	n, err := d.r.Read(p)
	if err != nil && isTimeout(err) && !d.cut() {
		err = errBodyStalled
	}
	return n, err
}

// Close does nothing: the transport closes bodies when it is done or fails, but the client connection
// underneath belongs to the engine.
func (g *bodyGuard) Close() error { return nil }

// finish stops further reads; unblock is called first when a read may be pending on the client.
func (g *bodyGuard) finish(unblock func()) {
	if !g.eof.Load() && unblock != nil {
		unblock()
	}
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// outboundRequest builds the request for target t from the (Decider-edited) inbound request.
func outboundRequest(ctx context.Context, in *http.Request, t *target, body io.ReadCloser, clientIP, proto string, o *origin) *http.Request {
	u := &url.URL{Scheme: t.u.Scheme, Host: t.u.Host, RawQuery: in.URL.RawQuery}
	ep := in.URL.EscapedPath()
	if ep == "" || ep[0] != '/' {
		ep = "/" + ep
	}
	u.Path = strings.TrimSuffix(t.u.Path, "/") + in.URL.Path
	if rp := t.basePath + ep; rp != u.Path {
		u.RawPath = rp
	}
	h := make(http.Header, len(in.Header)+4)
	for k, vv := range in.Header {
		switch k {
		case "Forwarded", "Content-Length", "Host", "Expect":
			continue
		case "Te":
			for _, v := range vv {
				if strings.Contains(strings.ToLower(v), "trailers") {
					h["Te"] = []string{"trailers"} // gRPC over HTTP/2 needs it end to end
				}
			}
			continue
		}
		if hopByHop(k) || clientForwardedHeader(k) {
			continue
		}
		h[k] = vv
	}
	for _, c := range in.Header["Connection"] {
		for _, tok := range strings.Split(c, ",") {
			delete(h, http.CanonicalHeaderKey(strings.TrimSpace(tok)))
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // net/http would add its own; the backend sees what the client sent
	}
	// As writeRequestHead: the client's own X-Forwarded-* and Forwarded are not passed on, what a
	// trusted proxy said (o) is.
	if o.chain != "" {
		var xff strings.Builder
		o.writeXForwardedFor(&xff, clientIP)
		h["X-Forwarded-For"] = []string{xff.String()}
	} else {
		h["X-Forwarded-For"] = []string{clientIP}
	}
	h["X-Forwarded-Proto"] = []string{o.protoOr(proto)}
	if host := o.hostOr(in.Host); host != "" {
		h["X-Forwarded-Host"] = []string{host}
	}
	var fw strings.Builder
	o.writeForwarded(&fw, clientIP, proto, in.Host)
	h["Forwarded"] = []string{fw.String()}
	out := &http.Request{
		Method:        in.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Host:          in.Host,
		ContentLength: in.ContentLength,
	}
	if body != nil && in.ContentLength != 0 {
		out.Body = body
	}
	return out.WithContext(ctx)
}

// roundTrip sends a request through the Upstream's transport (HTTP/2 or HTTP/1.1 as negotiated), trying
// other targets while the failure is a dial error and the body is untouched. It returns 502/504 as status
// with the error on failure.
func (u *Upstream) roundTrip(ctx context.Context, in *http.Request, first *target, body *bodyGuard, clientIP, proto string, o *origin) (*http.Response, int, error) {
	t := first
	var lastErr error
	for attempt := 0; attempt < len(u.targets); attempt++ {
		if t == nil {
			t = u.pick(time.Now().UnixNano())
		}
		var rc io.ReadCloser
		if body != nil {
			rc = body
		}
		rctx, cancel := context.WithCancel(ctx)
		hw := &headWatch{timeout: u.cfg.ResponseHeaderTimeout, cancel: cancel}
		if body == nil || body.eof.Load() {
			hw.arm()
		} else {
			body.mu.Lock()
			body.onEOF = hw.arm // the head timeout starts once the body is sent
			body.mu.Unlock()
		}
		resp, err := u.rt.RoundTrip(outboundRequest(rctx, in, t, rc, clientIP, proto, o))
		timedOut := hw.stop()
		if err == nil && resp.StatusCode > 599 {
			resp.Body.Close()
			cancel()
			return nil, http.StatusBadGateway, errRespStatusRange
		}
		if err == nil {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
			return resp, 0, nil
		}
		cancel()
		if timedOut {
			return nil, http.StatusGatewayTimeout, err
		}
		lastErr = err
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" {
			return nil, http.StatusBadGateway, err
		}
		t.markDown()
		if body != nil && body.started.Load() {
			break
		}
		t = nil
	}
	return nil, http.StatusBadGateway, lastErr
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// forwardRT serves an HTTP/1.1 request whose backend speaks HTTP/2 through the Upstream's transport.
func (c *conn) forwardRT(d *Decision, t *target, start time.Time) bool {
	r := &c.req
	if c.upgrade {
		return c.failUpstream(d, http.StatusBadGateway, "the backend speaks HTTP/2, which cannot carry this protocol upgrade", errBackendProtocol("upgrade to an h2 backend"), 0)
	}
	var guard *bodyGuard
	if c.rh.chunked || r.ContentLength > 0 {
		if c.rh.expectContinue {
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := c.bw.Flush(); err != nil {
				if d.Done != nil {
					d.Done(Result{Err: err, ClientErr: true}) // status 0: the client left before any answer
				}
				return false
			}
		}
		c.setReadDeadline(time.Time{})
		c.bodyCut, c.bodyDL = false, time.Time{}
		var src io.Reader
		if c.rh.chunked {
			c.reqChunk.reset(c.br)
			src = &c.reqChunk
		} else {
			c.reqLen = lengthReader{r: c.br, n: r.ContentLength}
			src = &c.reqLen
		}
		guard = &bodyGuard{r: &deadlineReader{r: src,
			extend: func() {
				if c.br.Buffered() == 0 {
					c.extendBodyDeadline()
				}
			},
			cut: func() bool { c.bodyMu.Lock(); defer c.bodyMu.Unlock(); return c.bodyCut },
		}}
	}
	unblock := func() { c.cutBody(time.Now()) }
	resp, status, err := d.Upstream.roundTrip(context.Background(), r, t, guard, c.clientIP, c.proto, &c.org)
	latency := time.Since(start)
	if err != nil {
		if guard != nil {
			guard.finish(unblock)
			if st, code, desc, ok := clientBodyFailure(guard.failure()); ok {
				c.writeErrorFields(st, code, desc, d.ResponseHeader)
				if d.Done != nil {
					d.Done(Result{Status: st, UpstreamLatency: latency, BytesIn: guard.n.Load(), Err: guard.failure(), ClientErr: true})
				}
				return false
			}
		}
		if status == http.StatusGatewayTimeout {
			return c.failUpstream(d, status, "the backend did not answer in time", err, latency)
		}
		return c.failUpstream(d, status, "the backend could not be reached or failed; try again later", err, latency)
	}
	defer resp.Body.Close()
	keep := c.keep && !c.s.shutting.Load()
	noBody := r.Method == http.MethodHead || resp.StatusCode == 204 || resp.StatusCode == 304
	chunkOut := !noBody && resp.ContentLength < 0
	if chunkOut && c.rh.minor == 0 {
		chunkOut, keep = false, false
	}
	w := c.bw
	c.armWriteTimeout()
	writeStatusLine(w, resp.StatusCode, reasonFor(resp.StatusCode))
	h := make(http.Header, len(resp.Header)+len(d.ResponseHeader))
	copyResponseHeader(h, resp.Header, d.ResponseHeader)
	writeHeaderMap(w, h)
	switch {
	case noBody:
		if resp.ContentLength >= 0 && resp.StatusCode != 204 {
			w.WriteString("Content-Length: ")
			writeInt(w, resp.ContentLength)
			w.WriteString("\r\n")
		}
	case chunkOut:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case resp.ContentLength >= 0:
		w.WriteString("Content-Length: ")
		writeInt(w, resp.ContentLength)
		w.WriteString("\r\n")
	}
	c.writeConnHeader(keep)
	w.WriteString("\r\n")
	var n int64
	var rerr, werr error
	if !noBody {
		if c.respBuf == nil {
			c.respBuf = make([]byte, 8192)
		}
		n, rerr, werr = copyStream(w, resp.Body, chunkOut, c.respBuf)
		if rerr == nil && werr == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
			rerr = io.ErrUnexpectedEOF
		}
	}
	if rerr == nil && werr == nil {
		werr = w.Flush()
	}
	res := Result{Status: resp.StatusCode, UpstreamLatency: latency, BytesOut: n}
	if guard != nil {
		guard.finish(unblock)
		res.BytesIn = guard.n.Load()
		if !guard.eof.Load() {
			keep = false
		}
	}
	if rerr != nil || werr != nil {
		keep = false
		res.Err = rerr
		if res.Err == nil {
			res.Err, res.ClientErr = werr, true
		}
	}
	if d.Done != nil {
		d.Done(res)
	}
	return keep
}

// writeHeaderMap writes response headers from a map, without hop-by-hop ones, framing, or invalid fields.
func writeHeaderMap(w interface{ WriteString(string) (int, error) }, h http.Header) {
	var named []string
	for _, c := range h["Connection"] {
		named = append(named, strings.Split(c, ",")...)
	}
next:
	for k, vv := range h {
		if hopByHop(k) || k == "Content-Length" || !validTokenString(k) {
			continue
		}
		for _, n := range named {
			if strings.EqualFold(strings.TrimSpace(n), k) {
				continue next
			}
		}
		for _, v := range vv {
			if validValueString(v) {
				w.WriteString(k)
				w.WriteString(": ")
				w.WriteString(v)
				w.WriteString("\r\n")
			}
		}
	}
}

// copyStream relays a body that has no buffered view (a transport's), flushing after every read.
func copyStream(dst *bufio.Writer, src io.Reader, chunked bool, buf []byte) (written int64, rerr, werr error) {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if chunked {
				writeChunkHeader(dst, n)
				dst.Write(buf[:n])
				_, werr = dst.WriteString("\r\n")
			} else {
				_, werr = dst.Write(buf[:n])
			}
			written += int64(n)
			if werr == nil {
				werr = dst.Flush()
			}
			if werr != nil {
				return written, nil, werr
			}
		}
		if err == io.EOF {
			if chunked {
				if _, werr = dst.WriteString("0\r\n\r\n"); werr == nil {
					werr = dst.Flush()
				}
			}
			return written, nil, werr
		}
		if err != nil {
			return written, err, nil
		}
	}
}

// headWatch is the response head timeout of one round trip, armed when the request has been sent.
type headWatch struct {
	mu       sync.Mutex
	timeout  time.Duration
	cancel   context.CancelFunc
	timer    *time.Timer
	done     bool
	timedOut bool
}

func (h *headWatch) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done || h.timer != nil {
		return
	}
	h.timer = time.AfterFunc(h.timeout, func() {
		h.mu.Lock()
		h.timedOut = true
		h.mu.Unlock()
		h.cancel()
	})
}

// stop ends the watch once RoundTrip returned and reports whether the timeout had fired.
func (h *headWatch) stop() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	if h.timer != nil {
		h.timer.Stop()
	}
	return h.timedOut
}
