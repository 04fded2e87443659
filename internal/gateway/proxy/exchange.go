package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// writeStatusLine appends "HTTP/1.1 NNN reason\r\n" (appending into the writer's own buffer allocates
// nothing).
func writeStatusLine(w *bufio.Writer, status int, reason string) {
	writeStatusPrefix(w, status)
	w.WriteString(reason)
	w.WriteString("\r\n")
}

func writeStatusLineBytes(w *bufio.Writer, status int, reason []byte) {
	writeStatusPrefix(w, status)
	w.Write(reason)
	w.WriteString("\r\n")
}

func writeStatusPrefix(w *bufio.Writer, status int) {
	w.WriteString("HTTP/1.1 ")
	if w.Available() < 4 {
		w.Flush()
	}
	w.Write(append(w.AvailableBuffer(), byte('0'+status/100%10), byte('0'+status/10%10), byte('0'+status%10), ' '))
}

func writeHeaderLine(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

func writeInt(w *bufio.Writer, n int64) {
	if w.Available() < 20 {
		w.Flush()
	}
	w.Write(strconv.AppendInt(w.AvailableBuffer(), n, 10))
}

func reasonFor(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Status"
}

// errorBody is the JSON body of every response the engine itself produces.
func errorBody(code, description string) []byte {
	b := make([]byte, 0, 48+len(description))
	b = append(b, `{"error":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"error_description":`...)
	b = appendJSONString(b, description)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// writeError answers with the engine's own JSON error and Connection: close; the caller closes.
func (c *conn) writeError(status int, code, description string) {
	c.writeErrorFields(status, code, description, nil)
}

// writeErrorFields is writeError with extra fields, the Decision's
// ResponseHeader on a backend failure: the decision id that names the
// audit line saying why the backend failed.
func (c *conn) writeErrorFields(status int, code, description string, extra http.Header) {
	body := errorBody(code, description)
	c.acquireWriter()
	w := c.bw
	c.armWriteTimeout()
	writeStatusLine(w, status, reasonFor(status))
	for k, vv := range extra {
		if hopByHop(k) || k == "Content-Length" || k == "Content-Type" || !validTokenString(k) {
			continue
		}
		for _, v := range vv {
			if validValueString(v) {
				writeHeaderLine(w, k, v)
			}
		}
	}
	w.WriteString("Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ")
	writeInt(w, int64(len(body)))
	w.WriteString("\r\n\r\n")
	if c.req.Method != http.MethodHead {
		w.Write(body)
	}
	if w.Flush() == nil {
		c.lingerClose()
	}
}

// h2PrefaceHead is how the HTTP/2 connection preface (RFC 9113 3.4) reads as an HTTP/1.1 head: what a
// client with prior knowledge of HTTP/2 sends first to a plain listener.
const h2PrefaceHead = "PRI * HTTP/2.0\r\n\r\n"

// h2RequireHTTP11 is what the engine answers such a client in its own protocol: an empty SETTINGS frame
// (the server's preface) and GOAWAY with HTTP_1_1_REQUIRED (RFC 9113 7), whose debug data says why; an
// HTTP/1.1 answer would be a protocol error to it. curl, for one, then retries over HTTP/1.1.
var h2RequireHTTP11 = func() []byte {
	debug := "this gateway listener speaks HTTP/1.1 only (no h2c); use HTTP/1.1, or HTTPS for HTTP/2"
	b := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0} // SETTINGS, no parameters, stream 0
	n := 8 + len(debug)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), 0x7, 0, 0, 0, 0, 0) // GOAWAY on stream 0
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0xd)                             // last stream 0, HTTP_1_1_REQUIRED
	return append(b, debug...)
}()

// answerH2Preface answers an HTTP/2 prior-knowledge client (see h2RequireHTTP11); the caller closes.
func (c *conn) answerH2Preface() {
	c.acquireWriter()
	c.armWriteTimeout()
	c.bw.Write(h2RequireHTTP11)
	if c.bw.Flush() == nil {
		c.lingerClose() // the rest of the preface and the client's SETTINGS are drained, not reset
	}
}

// lingerClose half-closes the connection and drains what the client still sends for a moment, so that
// closing with unread request bytes does not make the kernel reset the connection before the client has
// read the error response.
func (c *conn) lingerClose() {
	if c.loop != nil {
		c.loop.lingerClose()
		return
	}
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.nc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.setReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, c.nc, 256<<10)
}

// failUpstream answers 502/504 for a backend failure and reports the exchange.
func (c *conn) failUpstream(d *Decision, status int, description string, err error, latency time.Duration) bool {
	code := "bad_gateway"
	if status == http.StatusGatewayTimeout {
		code = "gateway_timeout"
	}
	c.writeErrorFields(status, code, description, d.ResponseHeader)
	c.s.logBackendFailure(d, "gateway: backend exchange failed", "status", status, "err", err)
	if d.Done != nil {
		d.Done(Result{Status: status, UpstreamLatency: latency, Err: err})
	}
	return false
}

func (c *conn) answerOptionsAsterisk() bool {
	writeStatusLine(c.bw, 200, "OK")
	c.bw.WriteString("Content-Length: 0\r\n")
	c.writeConnHeader(c.keep && c.req.ContentLength == 0)
	c.bw.WriteString("\r\n")
	return c.bw.Flush() == nil && c.keep && c.req.ContentLength == 0
}

func (c *conn) writeConnHeader(keep bool) {
	if !keep {
		c.bw.WriteString("Connection: close\r\n")
	} else if c.rh.minor == 0 {
		c.bw.WriteString("Connection: keep-alive\r\n")
	}
}

// answerLocal sends the Decider's own answer. The request body is not read, so a request that has one
// ends the connection.
func (c *conn) answerLocal(d *Decision) bool {
	status, body := d.Status, d.Body
	if status < 200 || status > 599 {
		return c.failUpstream(d, http.StatusBadGateway, "the gateway has no answer for this request", errors.New("decision without upstream has no valid status"), 0)
	}
	keep := c.keep && c.req.ContentLength == 0 && !c.s.shutting.Load()
	w := c.bw
	c.armWriteTimeout()
	writeStatusLine(w, status, reasonFor(status))
	for k, vv := range d.Header {
		if hopByHop(k) || k == "Content-Length" || !validTokenString(k) {
			continue
		}
		for _, v := range vv {
			if validValueString(v) {
				writeHeaderLine(w, k, v)
			}
		}
	}
	w.WriteString("Content-Length: ")
	writeInt(w, int64(len(body)))
	w.WriteString("\r\n")
	c.writeConnHeader(keep)
	w.WriteString("\r\n")
	var out int64
	if c.req.Method != http.MethodHead {
		w.Write(body)
		out = int64(len(body))
	}
	err := w.Flush()
	if d.Done != nil {
		d.Done(Result{Status: status, BytesOut: out, Err: err, ClientErr: err != nil})
	}
	if err == nil && c.req.ContentLength != 0 {
		// Closing with the body unread would reset the connection under a client still sending it.
		c.lingerClose()
	}
	return keep && err == nil
}

var errInvalidHeader = errors.New("the Decider left a header name or value that cannot be sent (control characters or an invalid name)")

// writeRequestHead writes the forwarded request head; it fails only on a header the Decider made invalid.
func (c *conn) writeRequestHead(w *bufio.Writer, t *target) error {
	r := &c.req
	w.WriteString(r.Method)
	w.WriteByte(' ')
	w.WriteString(t.basePath)
	p := r.URL.EscapedPath()
	if p == "" || p[0] != '/' {
		w.WriteByte('/')
	}
	w.WriteString(p)
	if r.URL.RawQuery != "" {
		if !validTarget(r.URL.RawQuery) {
			return errInvalidHeader
		}
		w.WriteByte('?')
		w.WriteString(r.URL.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if !validHostString(r.Host) {
		return errInvalidHeader
	}
	w.WriteString(r.Host)
	w.WriteString("\r\n")
	for k, vv := range r.Header {
		switch k {
		case "Forwarded", "Content-Length", "Host", "Expect":
			continue
		case "Upgrade":
			if !c.upgrade {
				continue
			}
		default:
			if hopByHop(k) || clientForwardedHeader(k) {
				continue
			}
		}
		if !validTokenString(k) {
			return errInvalidHeader
		}
		for _, v := range vv {
			if !validValueString(v) {
				return errInvalidHeader
			}
			writeHeaderLine(w, k, v)
		}
	}
	switch {
	case c.rh.chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case r.ContentLength > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		w.WriteString("Content-Length: ")
		writeInt(w, r.ContentLength)
		w.WriteString("\r\n")
	}
	if c.upgrade {
		w.WriteString("Connection: Upgrade\r\n")
	}
	// The gateway is the edge: what the client said about earlier hops is not passed on (see the package
	// doc), only the address this connection came from; c.org adds what a trusted proxy said.
	o := &c.org
	w.WriteString("X-Forwarded-For: ")
	o.writeXForwardedFor(w, c.clientIP)
	w.WriteString("\r\nX-Forwarded-Proto: ")
	w.WriteString(o.protoOr(c.proto))
	if host := o.hostOr(r.Host); host != "" {
		w.WriteString("\r\nX-Forwarded-Host: ")
		w.WriteString(host)
	}
	w.WriteString("\r\nForwarded: ")
	o.writeForwarded(w, c.clientIP, c.proto, r.Host)
	w.WriteString("\r\n\r\n")
	return nil
}

// clientForwardedHeader reports an X-Forwarded-* header from the client: the engine sets X-Forwarded-For,
// -Proto and -Host itself, and passes on none of the others (-Port, -Prefix, -Server, -Ssl, …), which
// backends behind a trusted proxy read as facts about the original request. Names are canonical.
func clientForwardedHeader(k string) bool {
	return len(k) > len("X-Forwarded-") && k[:len("X-Forwarded-")] == "X-Forwarded-"
}

// writeForwardedElement writes an RFC 7239 element; IPv6 addresses and the host are quoted strings.
func writeForwardedElement(w interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}, ip, proto, host string) {
	w.WriteString("for=")
	if isIPv6(ip) {
		w.WriteString(`"[`)
		w.WriteString(ip)
		w.WriteString(`]"`)
	} else {
		w.WriteString(ip)
	}
	w.WriteString(";proto=")
	w.WriteString(proto)
	if host != "" {
		w.WriteString(`;host="`)
		w.WriteString(host) // validHost excludes '"' and '\\'
		w.WriteByte('"')
	}
}

func isIPv6(ip string) bool {
	for i := 0; i < len(ip); i++ {
		if ip[i] == ':' {
			return true
		}
	}
	return false
}

func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// readResponseHead reads and parses a response head from the backend into c.resp, skipping interim 1xx
// responses other than 101.
func (c *conn) readResponseHead(bc *bconn) error {
	for interim := 0; ; interim++ {
		c.respHead = c.respHead[:0]
		atLineStart := true
		for {
			line, err := bc.br.ReadSlice('\n')
			if len(c.respHead)+len(line) > 64<<10 {
				return errBackendProtocol("the backend's response head exceeds 64 KiB")
			}
			if err == bufio.ErrBufferFull {
				c.respHead = append(c.respHead, line...)
				atLineStart = false
				continue
			}
			if err != nil {
				if err == io.EOF && len(c.respHead) == 0 && len(line) == 0 {
					return errBackendClosed
				}
				return err
			}
			c.respHead = append(c.respHead, line...)
			if atLineStart && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
				break
			}
			atLineStart = true
		}
		if e := parseResponseHead(c.respHead, &c.resp); e.status != 0 {
			return errBackendProtocol(e.msg)
		}
		if c.resp.status >= 200 || c.resp.status == 101 {
			return nil
		}
		if interim == 8 {
			return errBackendProtocol("the backend sent too many interim (1xx) responses")
		}
	}
}

type errBackendProtocol string

func (e errBackendProtocol) Error() string { return string(e) }

var errBackendClosed = errors.New("the backend closed the connection without answering")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// forward sends the request to the Decision's upstream over a pooled HTTP/1.1 connection and relays the
// response; it reports whether the client connection may serve another request.
func (c *conn) forward(d *Decision) bool {
	up := d.Upstream
	r := &c.req
	start := time.Now()
	var t *target
	var bc *bconn
	var lastErr error
	for i := 0; i < len(up.targets); i++ {
		t = up.pick(start.UnixNano())
		if t.h2.Load() {
			return c.forwardRT(d, t, start)
		}
		var err error
		bc, err = up.get(t, start)
		if err == nil && bc == nil {
			return c.forwardRT(d, t, start)
		}
		if err == nil {
			break
		}
		t.markDown()
		lastErr = err
	}
	if bc == nil {
		return c.failUpstream(d, http.StatusBadGateway, "the backend could not be reached; try again later", lastErr, 0)
	}
	if err := c.writeRequestHead(bc.bw, t); err != nil {
		bc.nc.Close()
		return c.failUpstream(d, http.StatusBadGateway, "the gateway could not build the request for the backend", err, 0)
	}
	hasBody := c.rh.chunked || r.ContentLength > 0
	async := false
	var bodyN int64
	if hasBody {
		if c.rh.expectContinue {
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := c.bw.Flush(); err != nil {
				bc.nc.Close()
				if d.Done != nil {
					d.Done(Result{Err: err, ClientErr: true}) // status 0: the client left before any answer
				}
				return false
			}
		}
		if !c.rh.chunked && int64(c.br.Buffered()) >= r.ContentLength {
			c.reqLen = lengthReader{r: c.br, n: r.ContentLength}
			n, _, werr := copyBody(bc.bw, &c.reqLen, c.br, false, nil, nil)
			bodyN = n
			if werr != nil {
				bc.nc.Close()
				return c.failUpstream(d, http.StatusBadGateway, "the backend connection failed while sending the request", werr, 0)
			}
		} else {
			async = true
			c.setReadDeadline(time.Time{})
			if c.bodyDone == nil {
				c.bodyDone = make(chan bodyResult, 1)
			}
			// The head timeout starts once the body is sent (sendBody arms it), as a slow upload is
			// not a slow backend.
			c.headDone = false
			c.bodyCut, c.bodyDL = false, time.Time{}
			bc.setReadDeadline(time.Time{})
			go c.sendBody(bc, up.cfg.ResponseHeaderTimeout)
		}
	}
	if !async {
		if err := bc.bw.Flush(); err != nil {
			bc.nc.Close()
			return c.failUpstream(d, http.StatusBadGateway, "the backend connection failed while sending the request", err, 0)
		}
		bc.awaitHead(start, up.cfg.ResponseHeaderTimeout)
	}
	return c.relayResponse(d, t, bc, start, async, bodyN)
}

// relayResponse reads the backend's response head from bc (the request is sent, or being sent by the body
// goroutine when async) and relays the response to the client; it reports whether the client connection
// may serve another request.
func (c *conn) relayResponse(d *Decision, t *target, bc *bconn, start time.Time, async bool, bodyN int64) bool {
	up := d.Upstream
	r := &c.req
	err := c.readResponseHead(bc)
	latency := time.Since(start)
	if async {
		c.headMu.Lock()
		c.headDone = true
		c.headMu.Unlock()
		bc.setReadDeadline(time.Time{})
	}
	if err != nil {
		bc.nc.Close()
		if async {
			// A timeout here is stopBody's own deadline (body reads have none): the backend failed
			// while the client was still sending, which is the backend's fault, not the client's.
			if br := c.stopBody(); br.rerr != nil && !isTimeout(br.rerr) {
				// The client's body failed first (malformed chunks or a disconnect); that, not the
				// backend, is why the exchange ended. The error text is not sent: it names addresses.
				status, code, desc, _ := clientBodyFailure(br.rerr)
				c.writeErrorFields(status, code, desc, d.ResponseHeader)
				if d.Done != nil {
					d.Done(Result{Status: status, UpstreamLatency: latency, BytesIn: br.n, Err: br.rerr, ClientErr: true})
				}
				return false
			}
		}
		if isTimeout(err) {
			return c.failUpstream(d, http.StatusGatewayTimeout, "the backend did not answer in time", err, latency)
		}
		return c.failUpstream(d, http.StatusBadGateway, "the backend's answer was missing or malformed", err, latency)
	}
	rs := &c.resp
	if rs.status == 101 {
		if !c.upgrade || async {
			bc.nc.Close()
			if async {
				c.stopBody()
			}
			return c.failUpstream(d, http.StatusBadGateway, "the backend switched protocols without an upgrade request", errBackendProtocol("unexpected 101"), latency)
		}
		return c.splice(d, bc, latency)
	}

	// Framing of the backend's body and of ours.
	const (
		bodyNone = iota
		bodyLength
		bodyChunked
		bodyClose
	)
	kind := bodyClose
	switch {
	case r.Method == http.MethodHead || rs.status == 204 || rs.status == 304:
		kind = bodyNone
	case rs.chunked:
		kind = bodyChunked
	case rs.contentLength >= 0:
		kind = bodyLength
	}
	backendKeep := !rs.connClose && (rs.minor == 1 || rs.connKeepAlive) && kind != bodyClose
	keep := c.keep && !c.s.shutting.Load()
	chunkOut := false
	if kind == bodyChunked || kind == bodyClose {
		if c.rh.minor == 1 {
			chunkOut = true
		} else {
			keep = false
		}
	}
	if kind != bodyLength || int64(bc.br.Buffered()) < rs.contentLength {
		bc.setReadDeadline(time.Time{})
	}

	w := c.bw
	c.armWriteTimeout()
	hb := c.respHead
	unsent := w.Buffered() == 0 // the head goes into an empty buffer (see headUnsent)
	writeStatusLineBytes(w, rs.status, rs.reason.bytes(hb))
	c.writeResponseFields(w, false, d.ResponseHeader)
	switch {
	case kind == bodyNone:
		if rs.contentLength >= 0 && rs.status != 204 {
			w.WriteString("Content-Length: ")
			writeInt(w, rs.contentLength)
			w.WriteString("\r\n")
		}
	case kind == bodyLength:
		w.WriteString("Content-Length: ")
		writeInt(w, rs.contentLength)
		w.WriteString("\r\n")
	case chunkOut:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	c.writeConnHeader(keep)
	w.WriteString("\r\n")
	headLen := w.Buffered()

	var n int64
	var rerr, werr error
	switch kind {
	case bodyNone:
		werr = w.Flush()
	case bodyLength:
		c.respLen = lengthReader{r: bc.br, n: rs.contentLength}
		n, rerr, werr = copyBody(w, &c.respLen, bc.br, false, nil, nil)
	case bodyChunked:
		c.respChunk.reset(bc.br)
		if chunkOut && c.respBuf == nil {
			c.respBuf = make([]byte, 8192)
		}
		n, rerr, werr = copyBody(w, &c.respChunk, bc.br, chunkOut, c.respBuf, nil)
	case bodyClose:
		if chunkOut && c.respBuf == nil {
			c.respBuf = make([]byte, 8192)
		}
		n, rerr, werr = copyBody(w, bc.br, bc.br, chunkOut, c.respBuf, nil)
	}
	if rerr != nil && n == 0 && unsent && w.Buffered() == headLen && headFitsBuffer(w, hb, d.ResponseHeader) {
		// The body failed before any of it, or even the head, reached the client: a 502 says what
		// happened, where a connection closed after a lone head (or nothing) would not.
		w.Reset(c.out)
		bc.nc.Close()
		if async {
			c.waitBody(bc, false)
		}
		return c.failUpstream(d, http.StatusBadGateway, "the backend's answer was missing or malformed", rerr, latency)
	}
	if rerr != nil && werr == nil {
		// What the backend sent before failing still goes out (the connection then ends), so that the
		// client sees a status and a cut body rather than nothing at all.
		w.Flush()
	}
	if rerr == nil && werr == nil {
		werr = w.Flush()
	}
	res := Result{Status: rs.status, UpstreamLatency: latency, BytesOut: n, BytesIn: bodyN}
	if async {
		br := c.waitBody(bc, rerr == nil && werr == nil)
		res.BytesIn = br.n
		if br.rerr != nil || br.werr != nil {
			backendKeep, keep = false, false
			if res.Err = br.rerr; res.Err == nil {
				res.Err = br.werr
			} else {
				res.ClientErr = true
			}
		}
	}
	if rerr != nil || werr != nil {
		backendKeep, keep = false, false
		if rerr != nil {
			res.Err, res.ClientErr = rerr, false
			c.s.logBackendFailure(d, "gateway: backend response body failed", "err", rerr)
		} else {
			res.Err, res.ClientErr = werr, true // the client left: what the body goroutine saw follows from it
		}
	}
	if backendKeep {
		up.put(t, bc, time.Now())
	} else {
		bc.nc.Close()
	}
	if d.Done != nil {
		d.Done(res)
	}
	return keep
}

// headFitsBuffer reports whether the response head relayResponse wrote for the backend head hb (its
// fields, at most, plus extra and framing lines) fits w's buffer: written into an empty buffer, none of it
// was flushed to the client then.
func headFitsBuffer(w *bufio.Writer, hb []byte, extra http.Header) bool {
	size := len(hb) + 128 // status line and fields, plus Content-Length/Transfer-Encoding and Connection
	for k, vv := range extra {
		for _, v := range vv {
			size += len(k) + len(v) + 4
		}
	}
	return size <= w.Size()
}

// writeResponseFields copies the backend's header fields except hop-by-hop ones, Content-Length (the
// engine writes its own framing) and those named in Connection.
func (c *conn) writeResponseFields(w *bufio.Writer, upgrade bool, extra http.Header) {
	rs := &c.resp
	hb := c.respHead
next:
	for i := range rs.fields {
		f := &rs.fields[i]
		name := f.name.bytes(hb)
		if len(extra) > 0 {
			if _, ok := extra[string(name)]; ok { // names are canonical; the conversion does not allocate
				continue
			}
		}
		switch f.key {
		case "Content-Length":
			continue
		case "Upgrade":
			if !upgrade {
				continue
			}
		case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding":
			continue
		}
		for _, t := range rs.connTokens {
			if asciiEqualFoldBytes(t.bytes(hb), name) {
				continue next
			}
		}
		w.Write(name)
		w.WriteString(": ")
		w.Write(f.value.bytes(hb))
		w.WriteString("\r\n")
	}
	for k, vv := range extra {
		if !validTokenString(k) {
			continue
		}
		for _, v := range vv {
			if validValueString(v) {
				writeHeaderLine(w, k, v)
			}
		}
	}
}

func asciiEqualFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// copyBody relays a body from src (reading through srcBuf) to dst, flushing dst whenever src has nothing
// buffered so that streams flow; with chunked it encodes dst as chunks. It separates read errors (the
// source) from write errors (the destination).
//
// reqFrom, when set, is the client connection whose request body src is: each read then waits at most
// ReadBodyTimeout (the response side passes nil and has no such bound).
func copyBody(dst *bufio.Writer, src io.Reader, srcBuf *bufio.Reader, chunked bool, scratch []byte, reqFrom *conn) (written int64, rerr, werr error) {
	for {
		if srcBuf.Buffered() == 0 && dst.Buffered() > 0 {
			if err := dst.Flush(); err != nil {
				return written, nil, err
			}
		}
		var buf []byte
		if chunked {
			buf = scratch
		} else {
			if dst.Available() == 0 {
				if err := dst.Flush(); err != nil {
					return written, nil, err
				}
			}
			buf = dst.AvailableBuffer()
			buf = buf[:cap(buf)]
		}
		if reqFrom != nil && srcBuf.Buffered() == 0 {
			reqFrom.extendBodyDeadline()
		}
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
			if werr != nil {
				return written, nil, werr
			}
		}
		if err == io.EOF {
			if chunked {
				_, werr = dst.WriteString("0\r\n\r\n")
			}
			return written, nil, werr
		}
		if err != nil {
			return written, err, nil
		}
	}
}

// sendBody streams the request body to the backend while the response is awaited.
func (c *conn) sendBody(bc *bconn, headTimeout time.Duration) {
	var src io.Reader
	chunked := c.rh.chunked
	if chunked {
		c.reqChunk.reset(c.br)
		src = &c.reqChunk
		if c.reqBuf == nil {
			c.reqBuf = make([]byte, 8192)
		}
	} else {
		c.reqLen = lengthReader{r: c.br, n: c.req.ContentLength}
		src = &c.reqLen
	}
	n, rerr, werr := copyBody(bc.bw, src, c.br, chunked, c.reqBuf, c)
	if rerr == nil && werr == nil {
		werr = bc.bw.Flush()
	}
	if rerr != nil && isTimeout(rerr) {
		c.bodyMu.Lock()
		if !c.bodyCut {
			rerr = errBodyStalled // ReadBodyTimeout, not waitBody or stopBody ending the goroutine
		}
		c.bodyMu.Unlock()
	}
	if rerr != nil {
		// The backend must not wait for the rest of a body that will not come, nor be reused.
		bc.nc.Close()
	} else if werr == nil {
		c.headMu.Lock()
		if !c.headDone {
			bc.nc.SetReadDeadline(time.Now().Add(headTimeout))
		}
		c.headMu.Unlock()
	}
	c.bodyDone <- bodyResult{n, rerr, werr}
}

// waitBody waits for the request body goroutine. When the response ended first (the backend answered
// without reading everything), the client gets a short grace period to finish sending and the backend to
// finish reading; then both are cut, so the goroutine cannot block on either.
func (c *conn) waitBody(bc *bconn, ok bool) bodyResult {
	select {
	case br := <-c.bodyDone:
		return br
	default:
	}
	grace := time.Second
	if !ok {
		grace = 0
	}
	limit := time.Now().Add(grace)
	c.cutBody(limit)
	bc.nc.SetWriteDeadline(limit)
	br := <-c.bodyDone
	if br.rerr == nil && br.werr == nil {
		bc.nc.SetWriteDeadline(time.Time{})
	}
	return br
}

// stopBody ends the request body goroutine after the exchange failed (the backend connection is closed).
func (c *conn) stopBody() bodyResult {
	c.cutBody(time.Now())
	return <-c.bodyDone
}

// errBodyStalled is why a streamed request body ended when its client sent nothing for ReadBodyTimeout.
var errBodyStalled = errors.New("the client stopped sending the request body")

// clientBodyFailure is the answer to a client whose request body failed while it was being forwarded;
// ok is false for errors that are not the client's (nil, or a timeout the exchange itself set). The
// error's text is not sent: it may name addresses.
func clientBodyFailure(err error) (status int, code, desc string, ok bool) {
	switch {
	case err == nil:
		return 0, "", "", false
	case errors.Is(err, errBodyStalled):
		return http.StatusRequestTimeout, "request_timeout", "the request body stopped arriving before its end; send the whole body without long pauses", true
	case errors.Is(err, errMalformedChunked):
		return http.StatusBadRequest, "invalid_request", "the request body's chunked encoding is malformed", true
	case isTimeout(err):
		return 0, "", "", false
	}
	return http.StatusBadRequest, "invalid_request", "the request body ended before its declared length; send the whole body", true
}

// extendBodyDeadline gives the body goroutine's next read ReadBodyTimeout, unless the exchange cut the
// body short. Like extendIdle, a deadline still at least 15/16 of the timeout away is kept, so that a
// fast upload does not update a timer on every read.
func (c *conn) extendBodyDeadline() {
	timeout := c.s.readBodyTimeout
	now := time.Now()
	c.bodyMu.Lock()
	if !c.bodyCut && deadlineDue(c.bodyDL, now, timeout) {
		c.bodyDL = now.Add(timeout)
		c.nc.SetReadDeadline(c.bodyDL)
	}
	c.bodyMu.Unlock()
}

// cutBody ends the body goroutine's reads from the client at limit.
func (c *conn) cutBody(limit time.Time) {
	c.bodyMu.Lock()
	c.bodyCut = true
	c.setReadDeadline(limit)
	c.bodyMu.Unlock()
}

// splice relays an upgraded connection (after 101) both ways until either side closes.
func (c *conn) splice(d *Decision, bc *bconn, latency time.Duration) bool {
	w := c.bw
	rs := &c.resp
	writeStatusLineBytes(w, 101, rs.reason.bytes(c.respHead))
	c.writeResponseFields(w, true, d.ResponseHeader)
	w.WriteString("Connection: Upgrade\r\n\r\n")
	if err := w.Flush(); err != nil {
		bc.nc.Close()
		if d.Done != nil {
			d.Done(Result{Status: 101, UpstreamLatency: latency, Err: err, ClientErr: true})
		}
		return false
	}
	c.nc.SetDeadline(time.Time{})
	c.rdl = time.Time{}
	bc.nc.SetDeadline(time.Time{})
	done := make(chan int64, 1)
	go func() {
		n, _ := c.br.WriteTo(bc.nc) // buffered client bytes first, then the connection
		bc.nc.Close()
		c.nc.Close()
		done <- n
	}()
	out, _ := bc.br.WriteTo(c.nc)
	c.nc.Close()
	bc.nc.Close()
	in := <-done
	if d.Done != nil {
		d.Done(Result{Status: 101, UpstreamLatency: latency, BytesIn: in, BytesOut: out})
	}
	return false
}
