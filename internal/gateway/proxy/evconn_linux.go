//go:build linux

package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"syscall"
	"time"
)

// evState is where a client connection is in its current exchange.
type evState uint8

const (
	evHead    evState = iota // reading a request head (idle when nothing is buffered)
	evDecide                 // waiting for a decision made off the loop (WaitingDecider)
	evDial                   // waiting for a backend connection to be dialled
	evWait                   // request sent, waiting for the response head
	evBody                   // relaying a response body (Content-Length or chunked)
	evLinger                 // error answer sent, write side shut, draining what the client still sends
	evClosing                // answer being written; close once it is
)

// evConn is a client connection served by a loop.
type evConn struct {
	l   *evLoop
	c   *conn
	fd  int
	tls *evTLS // the TLS layer of a TLS listener's connection (evtls_linux.go); nil for plain HTTP

	in     []byte // read buffer: in[off:] is unread
	off    int
	out    []byte // bytes the socket did not take yet: out[outOff:]
	outOff int

	st        evState
	readable  bool // edge-triggered: the socket may hold unread bytes (or an end of stream)
	eof       bool // the client shut its write side
	peerDone  bool // epoll reported the client's end of stream or an error: reads continue until they see it
	closed    bool
	queued    bool  // on the loop's send queue
	broken    error // a write failed
	headArmed bool  // the read-head timeout of the request being read is set
	lingered  int   // bytes drained while lingering
	deadline  int64 // read-side deadline for the state (unix nanoseconds, 0 none)
	upLatency time.Duration
	wdeadline int64 // WriteTimeout of the response being written
	sdeadline int64 // SendTimeout: while output is pending, when the client must have taken more of it

	// The exchange in flight.
	d         Decision
	up        *evUp
	t         *target
	began     time.Time
	tries     int
	lastErr   error
	bodyIn    int64
	remaining int64
	chunked   bool // the response body is chunked: dec decodes it
	chunkOut  bool // and it is sent chunked (to an HTTP/1.1 client)
	dec       chunkDecoder
	sent      int64
	keep      bool
	upKeep    bool
	interim   int
}

func (ec *evConn) start() {
	l := ec.l
	if err := l.register(ec.fd); err != nil {
		l.s.log.Warn("gateway: epoll_ctl", "err", err)
		l.conns[ec] = struct{}{}
		ec.close()
		return
	}
	l.slot(ec.fd).c = ec
	l.conns[ec] = struct{}{}
	ec.in = make([]byte, 0, evReadBuf)
	ec.readable = true // bytes may have arrived before registration (or during the TLS handshake)
	ec.enterHead()
	// A new connection waits for its first byte no longer than a head may take (net/http does the same),
	// not for a whole keep-alive idle period.
	ec.deadline = ec.l.now + int64(ec.l.s.readHeaderTimeout)
	ec.l.setDeadline(ec.deadline)
	ec.process()
}

// idle reports whether the connection waits for a request and holds no part of one.
func (ec *evConn) idle() bool {
	return ec.st == evHead && !ec.headBegun() && ec.pending() == 0
}

func (ec *evConn) pending() int { return len(ec.out) - ec.outOff }

// Write sends p (as TLS records on a TLS connection), keeping what the socket does not take for when it
// becomes writable; it fails only once the connection failed.
func (ec *evConn) Write(p []byte) (int, error) {
	if ec.tls != nil {
		return ec.tls.tc.Write(p)
	}
	return ec.writeRaw(p)
}

// writeRaw sends p as it is.
func (ec *evConn) writeRaw(p []byte) (int, error) {
	if ec.broken != nil {
		return 0, ec.broken
	}
	if ec.l.ring != nil {
		// Sent with the loop's other writes at the end of its turn (evring_linux.go).
		if len(p) == 0 {
			return 0, nil
		}
		if ec.pending() == 0 {
			ec.out, ec.outOff = ec.l.sendBuf(ec.out), 0
		}
		ec.out = append(ec.out, p...)
		ec.l.queueSend(ec, nil)
		return len(p), nil
	}
	rest := p
	if ec.pending() == 0 {
		n, err := writeFD(ec.fd, p)
		if err != nil {
			ec.broken = err
			return 0, err
		}
		if n == len(p) {
			return n, nil
		}
		rest = p[n:]
		ec.out, ec.outOff = ec.l.sendBuf(ec.out), 0
		ec.armSend() // the client has not taken all of it: it has SendTimeout to take more
	}
	ec.out = append(ec.out, rest...)
	return len(p), nil // all of p is taken: written or kept
}

// armSend gives the client SendTimeout to take more of the pending output.
func (ec *evConn) armSend() {
	ec.sdeadline = ec.l.now + int64(ec.l.s.sendTimeout)
	ec.l.setDeadline(ec.sdeadline)
}

// flush writes pending output; it reports whether everything was written.
func (ec *evConn) flush() bool {
	for ec.pending() > 0 && ec.broken == nil {
		n, err := writeFD(ec.fd, ec.out[ec.outOff:])
		if err != nil {
			ec.broken = err
			return false
		}
		if n == 0 {
			return false
		}
		ec.outOff += n
		if ec.pending() > 0 {
			ec.armSend() // progress: the client has SendTimeout again for the rest
		}
	}
	if ec.pending() == 0 {
		ec.sentAll()
	}
	return ec.broken == nil && ec.pending() == 0
}

// sentAll notes that all pending output was written: its buffer goes back to the loop.
func (ec *evConn) sentAll() {
	ec.sdeadline = 0
	ec.l.putBuf(ec.out)
	ec.out, ec.outOff = nil, 0
}

// note records what an event says of the socket.
func (ec *evConn) note(events uint32) {
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		ec.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		ec.peerDone = true // no edge will follow the data already there: read until the end is seen
	}
}

// onEvent acts on an event whose note was taken.
func (ec *evConn) onEvent(events uint32) {
	if ec.closed {
		return
	}
	if events&syscall.EPOLLOUT != 0 && ec.pending() > 0 {
		ec.flush()
	}
	ec.resume()
}

// resume moves the connection on after an event.
func (ec *evConn) resume() {
	if ec.broken != nil {
		ec.fail(ec.broken)
		return
	}
	switch ec.st {
	case evHead:
		ec.process()
	case evBody:
		ec.pump()
	case evLinger:
		ec.drain()
	case evClosing:
		if ec.pending() == 0 {
			ec.close()
		}
	}
}

// enterHead starts waiting for the next request head.
func (ec *evConn) enterHead() {
	if cap(ec.in) > 4*evReadBuf && ec.off == len(ec.in) {
		ec.in, ec.off = make([]byte, 0, evReadBuf), 0 // after a large head
	}
	ec.st = evHead
	ec.headArmed = false
	ec.c.req.Method = "" // writeError looks at it: a head that fails to parse must not inherit HEAD
	ec.deadline = ec.l.now + int64(ec.l.s.idleTimeout)
	ec.l.setDeadline(ec.deadline)
}

// process serves the requests buffered or readable on the connection until it must wait.
func (ec *evConn) process() {
	s := ec.l.s
	for ec.st == evHead && !ec.closed {
		if ec.pending() > 0 {
			return // the client is not reading its answers: wait until it does
		}
		begun := false // part of a head (more than the empty lines allowed before one) is buffered
		if ec.off < len(ec.in) {
			// The whole unread part is scanned each time (leading empty lines included), so that what is
			// refused does not depend on how the bytes arrived.
			skip, end, e := scanRequestHead(ec.in[ec.off:], s.maxHeaderBytes)
			if e.status != 0 {
				ec.answerError(e.status, e.msg)
				return
			}
			if end > 0 {
				head := ec.in[ec.off+skip : ec.off+end]
				ec.off += end
				ec.serveHead(head)
				continue
			}
			begun = ec.off+skip < len(ec.in)
		}
		if !ec.readable && !ec.tlsMore() {
			if ec.eof {
				if begun {
					ec.answerError(400, "the connection ended in the middle of a request head")
				} else {
					ec.close()
				}
				return
			}
			if begun := ec.headBegun(); begun && !ec.headArmed {
				ec.headArmed = true
				ec.deadline = ec.l.now + int64(s.readHeaderTimeout)
				ec.l.setDeadline(ec.deadline)
			} else if !begun && s.shutting.Load() {
				ec.close()
			}
			return
		}
		if !ec.fill() {
			return
		}
	}
}

// fill reads from the client into the buffer once; false when the connection ended.
func (ec *evConn) fill() bool {
	if ec.tls != nil {
		return ec.fillTLS()
	}
	space := ec.space()
	n, eof, err := readFD(ec.fd, space)
	return ec.took(len(space), n, eof, err)
}

// space makes room at the end of the read buffer and returns it.
func (ec *evConn) space() []byte {
	if ec.off == len(ec.in) {
		ec.in, ec.off = ec.in[:0], 0
	}
	if len(ec.in) == cap(ec.in) {
		if ec.off > 0 {
			n := copy(ec.in, ec.in[ec.off:])
			ec.in, ec.off = ec.in[:n], 0
		} else {
			grown := make([]byte, len(ec.in), 2*cap(ec.in))
			copy(grown, ec.in)
			ec.in = grown
		}
	}
	return ec.in[len(ec.in):cap(ec.in)]
}

// took keeps what a read of a buffer space of room bytes gave; false when the connection ended.
func (ec *evConn) took(room, n int, eof bool, err error) bool {
	if err != nil {
		ec.close()
		return false
	}
	if eof {
		ec.eof, ec.readable = true, false
		return true
	}
	if n < room && !ec.peerDone {
		ec.readable = false // a short read drained the socket; the next bytes bring a new edge
	}
	ec.in = ec.in[:len(ec.in)+n]
	return true
}

// serveHead serves one request whose head was read.
func (ec *evConn) serveHead(head []byte) {
	c := ec.c
	l := ec.l
	ec.deadline = 0
	c.head = append(c.head[:0], head...)
	c.acquireWriter()
	h := &c.rh
	if e := parseRequestHead(c.head, h); e.status != 0 {
		if e.status == http.StatusHTTPVersionNotSupported && string(c.head) == h2PrefaceHead {
			c.answerH2Preface()
			if ec.st != evLinger {
				ec.closeAfterWrite()
			}
			return
		}
		ec.answerError(e.status, e.msg)
		return
	}
	c.keep = !h.connClose && (h.minor == 1 || h.connKeepAlive)
	c.upgrade = h.minor == 1 && h.connUpgrade && h.upgrade != 0
	if c.upgrade && containsFold(h.fields[h.upgrade-1].value.bytes(c.head), "h2c") {
		c.upgrade = false
	}
	if e := c.buildRequest(); e.status != 0 {
		ec.answerError(e.status, e.msg)
		return
	}
	if c.req.URL.Path == "*" {
		ec.done(c.answerOptionsAsterisk())
		return
	}
	// What the loop does not relay itself goes to the goroutine engine, decision included.
	handOver := c.upgrade || h.chunked || h.expectContinue || h.contentLength > int64(len(ec.in)-ec.off)
	if wd, ok := l.s.Decider.(WaitingDecider); ok {
		var now bool
		if ec.d, now = wd.DecideNow(&c.req); !now {
			ec.decideOff(handOver)
			return
		}
	} else {
		ec.d = l.s.Decider.Decide(&c.req)
	}
	ec.decided(handOver)
}

// decideOff has the request decided by a goroutine, as that decision may wait (for signing keys being
// fetched, say), which must not hold up the loop; the connection waits for it in evDecide, reading nothing
// more of the client's, and the loop goes on with it once the decision is back (onDecided). A loop that
// ends meanwhile does not wait for it: the goroutine then reports the exchange as ended itself.
func (ec *evConn) decideOff(handOver bool) {
	l := ec.l
	ec.st = evDecide
	ec.d = Decision{}
	go func() {
		r := evDecision{c: ec, handOver: handOver, failed: true} // failed until Decide returns: a panic closes the connection
		defer func() {
			if p := recover(); p != nil {
				l.s.log.Error("gateway: panic in a Decider", "panic", p, "stack", string(debug.Stack()))
			}
			l.mu.Lock()
			if l.ended { // the loop is gone (closed, or panicked): the exchange ends here
				l.mu.Unlock()
				r.abandon()
				return
			}
			l.decided = append(l.decided, r)
			l.wakeupLocked()
			l.mu.Unlock()
		}()
		r.d = l.s.Decider.Decide(&ec.c.req)
		r.failed = false
	}()
}

// errLoopEnded is the Result error of a decision whose connection's loop ended meanwhile.
var errLoopEnded = errors.New("the connection was closed while its request was being decided")

// abandon ends the exchange of a decision that came back to no connection to serve.
func (r evDecision) abandon() {
	if r.d.Done != nil {
		r.d.Done(Result{Err: errLoopEnded, ClientErr: true})
	}
}

// onDecided goes on with the request once its decision made off the loop is back.
func (ec *evConn) onDecided(r evDecision) {
	if r.failed || ec.closed || ec.st != evDecide || ec.l.ending {
		r.abandon()
		if !ec.closed {
			ec.close()
		}
		return
	}
	ec.d = r.d
	ec.decided(r.handOver)
	if !ec.closed && ec.st == evHead {
		ec.process() // what the client sent meanwhile (a pipelined request, its end)
	}
}

// decided goes on with a request whose decision is in ec.d: an answer of its own, or to the backend.
func (ec *evConn) decided(handOver bool) {
	c := ec.c
	l := ec.l
	d := &ec.d
	if d.Upstream == nil {
		ec.done(c.answerLocal(d))
		return
	}
	if handOver {
		l.lendIdle(d.Upstream)
		ec.handOver()
		return
	}
	ec.began = time.Now()
	ec.tries = 0
	ec.lastErr = nil
	ec.bodyIn = 0
	ec.connect()
}

// done ends an exchange answered without a backend.
func (ec *evConn) done(keep bool) {
	if ec.closed || ec.st == evLinger {
		return
	}
	if ec.broken != nil {
		ec.fail(ec.broken)
		return
	}
	ec.d = Decision{}
	ec.c.releaseWriter()
	if !keep || ec.l.s.shutting.Load() {
		ec.closeAfterWrite()
		return
	}
	ec.wdeadline = 0
	ec.enterHead()
}

// closeAfterWrite closes the connection once its pending output is written.
func (ec *evConn) closeAfterWrite() {
	ec.notifyBeforeClosing()
	if ec.pending() == 0 {
		ec.close()
		return
	}
	ec.st = evClosing
}

// answerError answers with the engine's JSON error and Connection: close, then lingers.
func (ec *evConn) answerError(status int, msg string) {
	ec.c.writeError(status, headError{status: status}.code(), msg)
	if ec.st != evLinger {
		ec.closeAfterWrite()
	}
}

// lingerClose is the goroutine engine's lingerClose: shut the write side once the answer is out, then drain
// what the client still sends for up to 500 ms (256 KiB), so that its kernel does not reset the connection
// before it read the answer.
func (ec *evConn) lingerClose() {
	if ec.closed {
		return
	}
	ec.st = evLinger
	ec.lingered = 0
	ec.deadline = ec.l.now + int64(500*time.Millisecond)
	ec.l.setDeadline(ec.deadline)
	ec.drain()
}

func (ec *evConn) drain() {
	if ec.pending() > 0 {
		return
	}
	if ec.lingered == 0 {
		if ec.notifyBeforeClosing(); ec.pending() > 0 {
			return // the close_notify alert goes first
		}
		if syscall.Shutdown(ec.fd, syscall.SHUT_WR) != nil {
			ec.close()
			return
		}
		ec.lingered = 1
	}
	var scratch [4096]byte
	for ec.readable {
		n, eof, err := readFD(ec.fd, scratch[:])
		if err != nil || eof {
			ec.close()
			return
		}
		if n < len(scratch) && !ec.peerDone {
			ec.readable = false
		}
		if ec.lingered += n; ec.lingered > 256<<10 {
			ec.close()
			return
		}
	}
}

func (ec *evConn) armWriteTimeout() {
	ec.wdeadline = ec.l.now + int64(ec.l.s.WriteTimeout)
	ec.l.setDeadline(ec.wdeadline)
}

// connect gets a backend connection for the decided request: a pooled one, or a dial whose failure
// (onDialed) calls connect again for the next target, up to one try per target.
func (ec *evConn) connect() {
	up := ec.d.Upstream
	l := ec.l
	if ec.tries < len(up.targets) {
		t := up.pick(l.now)
		ec.tries++
		if t.h2.Load() || t.tls != nil {
			l.lendIdle(up)
			ec.handOver()
			return
		}
		if u := l.getUp(up, t); u != nil {
			ec.t = t
			ec.send(u)
			return
		}
		ec.st = evDial
		ec.t = t
		l.dialing++
		go l.dial(ec, up, t)
		return
	}
	ec.failUpstream(http.StatusBadGateway, "the backend could not be reached; try again later", ec.lastErr, 0)
}

func (ec *evConn) onDialed(r evDialResult) {
	l := ec.l
	if ec.closed || ec.st != evDial || l.ending {
		if r.fd >= 0 {
			syscall.Close(r.fd)
		}
		return
	}
	if r.err != nil {
		r.t.markDown()
		ec.lastErr = r.err
		ec.connect()
		return
	}
	u := &evUp{l: l, fd: r.fd, t: r.t, in: make([]byte, 0, evUpReadBuf)}
	if err := l.register(r.fd); err != nil {
		syscall.Close(r.fd)
		ec.failUpstream(http.StatusBadGateway, "the backend could not be reached; try again later", err, 0)
		return
	}
	l.slot(r.fd).u = u
	ec.send(u)
}

// send writes the request (head and its buffered body) to the backend and waits for the answer.
func (ec *evConn) send(u *evUp) {
	c := ec.c
	u.owner = ec
	ec.up = u
	w := ec.l.uw
	w.Reset(u)
	defer w.Reset(nil)
	if err := c.writeRequestHead(w, ec.t); err != nil {
		ec.dropUp()
		ec.failUpstream(http.StatusBadGateway, "the gateway could not build the request for the backend", err, 0)
		return
	}
	if n := c.req.ContentLength; n > 0 {
		w.Write(ec.in[ec.off : ec.off+int(n)])
		ec.off += int(n)
		ec.bodyIn = n
	}
	if err := w.Flush(); err != nil {
		ec.dropUp()
		ec.failUpstream(http.StatusBadGateway, "the backend connection failed while sending the request", err, 0)
		return
	}
	ec.st = evWait
	ec.interim = 0
	ec.deadline = ec.l.now + int64(ec.d.Upstream.cfg.ResponseHeaderTimeout)
	ec.l.setDeadline(ec.deadline)
	if u.readable {
		ec.readResponse()
	}
}

// dropUp closes the exchange's backend connection.
func (ec *evConn) dropUp() {
	if ec.up != nil {
		ec.up.close()
		ec.up = nil
	}
}

// failUpstream answers 502/504 for a backend failure and ends the exchange.
func (ec *evConn) failUpstream(status int, desc string, err error, latency time.Duration) {
	ec.dropUp()
	d := ec.d
	ec.d = Decision{}
	ec.c.failUpstream(&d, status, desc, err, latency)
	if ec.st != evLinger {
		ec.closeAfterWrite()
	}
}

// readResponse reads the backend's response head once the backend is readable.
func (ec *evConn) readResponse() {
	u := ec.up
	c := ec.c
	for {
		if end := responseHeadEnd(u.in[u.off:]); end > 0 {
			// A copy: c.respHead must not alias a buffer that goes back to the pool with u.
			c.respHead = append(c.respHead[:0], u.in[u.off:u.off+end]...)
			if e := parseResponseHead(c.respHead, &c.resp); e.status != 0 {
				ec.failUpstream(http.StatusBadGateway, "the backend's answer was missing or malformed", errBackendProtocol(e.msg), time.Since(ec.began))
				return
			}
			if c.resp.status < 200 && c.resp.status != 101 {
				if ec.interim++; ec.interim > 8 {
					ec.failUpstream(http.StatusBadGateway, "the backend's answer was missing or malformed", errBackendProtocol("the backend sent too many interim (1xx) responses"), time.Since(ec.began))
					return
				}
				u.off += end
				continue
			}
			ec.relayHead(u.off, end)
			return
		} else if end < 0 {
			ec.failUpstream(http.StatusBadGateway, "the backend's answer was missing or malformed", errBackendProtocol("the backend's response head exceeds 64 KiB"), time.Since(ec.began))
			return
		}
		if !u.readable {
			return
		}
		n, eof, err := u.fill()
		if err != nil || eof {
			if err == nil {
				err = io.ErrUnexpectedEOF
				if len(u.in) == u.off {
					err = errBackendClosed
				}
			}
			ec.failUpstream(http.StatusBadGateway, "the backend's answer was missing or malformed", err, time.Since(ec.began))
			return
		}
		if n == 0 {
			return
		}
	}
}

// relayHead writes the response head and what of the body is buffered; responses the loop does not relay
// go to the goroutine engine.
func (ec *evConn) relayHead(off, end int) {
	c := ec.c
	r := &c.req
	rs := &c.resp
	latency := time.Since(ec.began)
	u := ec.up
	var kind int
	switch {
	case rs.status == 101:
		kind = -1
	case r.Method == http.MethodHead || rs.status == 204 || rs.status == 304:
		kind = 0
	case rs.chunked:
		kind = 2
	case rs.contentLength < 0:
		kind = -1 // delimited by close
	default:
		kind = 1
	}
	if kind < 0 {
		// The goroutine engine reads this head again from the bytes kept.
		ec.handOverResponse(off, latency)
		return
	}
	if kind == 2 {
		if err := chunkedFailsAtOnce(u.in[off+end:]); err != nil {
			// As the goroutine engine does: a body that fails before any of it could be relayed gets the
			// client a 502 that says so, not a head followed by a closed connection.
			ec.failUpstream(http.StatusBadGateway, "the backend's answer was missing or malformed", err, latency)
			return
		}
	}
	ec.deadline = 0
	ec.upKeep = !rs.connClose && (rs.minor == 1 || rs.connKeepAlive)
	ec.keep = c.keep && !ec.l.s.shutting.Load()
	ec.chunked, ec.chunkOut = kind == 2, false
	if ec.chunked {
		ec.dec.reset()
		if c.rh.minor == 1 {
			ec.chunkOut = true
		} else {
			ec.keep = false // an HTTP/1.0 client reads the body until the connection closes
		}
	}
	w := c.bw
	c.armWriteTimeout()
	writeStatusLineBytes(w, rs.status, rs.reason.bytes(c.respHead))
	c.writeResponseFields(w, false, ec.d.ResponseHeader)
	if kind == 0 {
		if rs.contentLength >= 0 && rs.status != 204 {
			w.WriteString("Content-Length: ")
			writeInt(w, rs.contentLength)
			w.WriteString("\r\n")
		}
	} else if kind == 1 {
		w.WriteString("Content-Length: ")
		writeInt(w, rs.contentLength)
		w.WriteString("\r\n")
	} else if ec.chunkOut {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	c.writeConnHeader(ec.keep)
	w.WriteString("\r\n")
	u.off = off + end
	ec.sent = 0
	ec.remaining = 0
	ec.st = evBody
	ec.upLatency = latency
	if kind == 1 {
		ec.remaining = rs.contentLength
		n := int64(len(u.in) - u.off)
		if n > ec.remaining {
			n = ec.remaining
			ec.upKeep = false // the backend sent more than its body
		}
		w.Write(u.in[u.off : u.off+int(n)])
		u.off += int(n)
		ec.remaining -= n
		ec.sent = n
	}
	if err := w.Flush(); err != nil {
		ec.fail(err)
		return
	}
	ec.pump()
}

// pump relays the response body while the client takes it.
func (ec *evConn) pump() {
	if ec.chunked {
		ec.pumpChunked()
		return
	}
	u := ec.up
	for ec.remaining > 0 {
		if ec.pending() > 0 || !u.readable {
			return
		}
		u.in, u.off = u.in[:0], 0
		n, eof, err := u.fill()
		if err != nil || eof {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			ec.logBodyFailure(err)
			ec.endExchange(err)
			return
		}
		if n == 0 {
			return
		}
		m := int64(n)
		if m > ec.remaining {
			m = ec.remaining
			ec.upKeep = false
		}
		if _, err := ec.Write(u.in[:m]); err != nil {
			ec.fail(err)
			return
		}
		ec.remaining -= m
		ec.sent += m
	}
	ec.endExchange(nil)
}

// pumpChunked relays a chunked response body, decoded and encoded again chunk by chunk (chunk extensions
// and trailers are dropped), as the goroutine engine does, while the client takes it. What the backend
// sent at once goes out in one write.
func (ec *evConn) pumpChunked() {
	u := ec.up
	l := ec.l
	for !ec.dec.done() {
		if ec.pending() > 0 {
			return
		}
		out := l.obuf[:0]
		for u.off < len(u.in) && !ec.dec.done() {
			used, data, err := ec.dec.next(u.in[u.off:])
			u.off += used
			if err != nil {
				l.obuf = out
				ec.Write(out)
				ec.logBodyFailure(err)
				ec.endExchange(err)
				return
			}
			if len(data) > 0 {
				if ec.chunkOut {
					out = appendChunkHeader(out, len(data))
				}
				out = append(out, data...)
				if ec.chunkOut {
					out = append(out, '\r', '\n')
				}
				ec.sent += int64(len(data))
				continue
			}
			if used == 0 {
				break // more bytes needed
			}
		}
		if ec.dec.done() && ec.chunkOut {
			out = append(out, "0\r\n\r\n"...)
		}
		l.obuf = out
		if len(out) > 0 {
			if _, err := ec.Write(out); err != nil {
				ec.fail(err)
				return
			}
		}
		if ec.dec.done() {
			break
		}
		if !u.readable || ec.pending() > 0 {
			return
		}
		if u.off == len(u.in) {
			u.in, u.off = u.in[:0], 0
		}
		n, eof, err := u.fill()
		if err != nil || eof {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			ec.logBodyFailure(err)
			ec.endExchange(err)
			return
		}
		if n == 0 {
			return
		}
	}
	ec.endExchange(nil)
}

// chunkedFailsAtOnce returns the error of a chunked body whose bytes at hand (b) are malformed before
// any data, or nil.
func chunkedFailsAtOnce(b []byte) error {
	var d chunkDecoder
	for len(b) > 0 && !d.done() {
		used, data, err := d.next(b)
		if err != nil {
			return err
		}
		if len(data) > 0 || used == 0 {
			return nil
		}
		b = b[used:]
	}
	return nil
}

// appendChunkHeader appends the size line of a chunk of n bytes.
func appendChunkHeader(b []byte, n int) []byte {
	const hex = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hex[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	b = append(b, tmp[i:]...)
	return append(b, '\r', '\n')
}

// logBodyFailure logs a backend's failed response body (see Server.logBackendFailure).
func (ec *evConn) logBodyFailure(err error) {
	ec.l.s.logBackendFailure(&ec.d, "gateway: backend response body failed", "err", err)
}

// endExchange reports the exchange and moves on to the next request (or closes).
func (ec *evConn) endExchange(err error) {
	c := ec.c
	u := ec.up
	ec.up = nil
	res := Result{Status: c.resp.status, UpstreamLatency: ec.upLatency, BytesOut: ec.sent, BytesIn: ec.bodyIn, Err: err}
	keep := ec.keep
	if err != nil {
		keep = false
		u.close()
	} else if ec.upKeep && u.off == len(u.in) {
		ec.l.putUp(ec.d.Upstream, u)
	} else {
		u.close()
	}
	d := ec.d
	ec.d = Decision{}
	if d.Done != nil {
		d.Done(res)
	}
	if ec.closed {
		return
	}
	c.releaseWriter()
	if !keep || ec.l.s.shutting.Load() {
		ec.closeAfterWrite()
		return
	}
	ec.wdeadline = 0
	ec.enterHead()
	ec.process()
}

// fail ends the connection after a client-side failure, reporting an exchange in flight.
func (ec *evConn) fail(err error) {
	if ec.closed {
		return
	}
	if ec.d.Done != nil && (ec.st == evWait || ec.st == evBody || ec.st == evDial) {
		d := ec.d
		ec.d = Decision{}
		res := Result{UpstreamLatency: ec.upLatency, BytesOut: ec.sent, BytesIn: ec.bodyIn, Err: err, ClientErr: true}
		if ec.st == evBody {
			res.Status = ec.c.resp.status // the head was sent
		}
		d.Done(res)
	}
	ec.close()
}

func (ec *evConn) onTimeout() {
	switch ec.st {
	case evHead:
		if ec.pending() > 0 && !ec.headArmed {
			// Still writing the last answer to a slow reader: the idle time starts once it is written.
			ec.deadline = ec.l.now + int64(ec.l.s.idleTimeout)
			ec.l.setDeadline(ec.deadline)
			return
		}
		if ec.headArmed && ec.headBegun() && ec.pending() == 0 {
			// A head was begun and not finished in time (slowloris): say so before closing.
			ec.c.writeError(http.StatusRequestTimeout, "request_timeout", errHeadTimeout)
			if ec.st != evLinger {
				ec.closeAfterWrite()
			}
			return
		}
		ec.close()
	case evLinger:
		ec.close()
	case evWait:
		ec.failUpstream(http.StatusGatewayTimeout, "the backend did not answer in time", os.ErrDeadlineExceeded, time.Since(ec.began))
	}
}

// close closes the client connection and the backend connection of an exchange in flight.
func (ec *evConn) close() {
	if ec.closed {
		return
	}
	ec.closed = true
	l := ec.l
	ec.dropUp()
	if ec.tls != nil && ec.fd >= 0 {
		ec.lastWords()
	}
	// Not back to the loop's pool: after a failed io_uring submission the kernel may still read it.
	ec.out, ec.outOff = nil, 0
	if ec.fd >= 0 {
		if ec.fd < len(l.fds) {
			l.fds[ec.fd].c = nil
		}
		syscall.Close(ec.fd) // closing removes it from the epoll set
		ec.fd = -1
	}
	delete(l.conns, ec)
	c := ec.c
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
	s := l.s
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handOver gives the connection to the goroutine engine, which forwards the decided request first.
func (ec *evConn) handOver() {
	d := ec.d
	ec.takeOver(func(c *conn) bool { return c.forward(&d) }, func(err error) {
		if d.Done != nil {
			d.Done(Result{Err: err, ClientErr: true})
		}
	})
}

// handOverResponse gives the connection and its backend connection, whose response head starts at off in
// its buffer, to the goroutine engine, which relays the response.
func (ec *evConn) handOverResponse(off int, latency time.Duration) {
	u := ec.up
	ec.up = nil
	ec.deadline = 0
	rest := append([]byte(nil), u.in[off:]...)
	ufd := u.fd
	u.forget()
	t := ec.t
	start := ec.began
	bodyIn := ec.bodyIn
	d := ec.d
	ec.takeOver(func(c *conn) bool {
		f := os.NewFile(uintptr(ufd), "backend")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return c.failUpstream(&d, http.StatusBadGateway, "the backend connection failed", err, latency)
		}
		bc := newPlainBConn(nc)
		bc.br.Reset(&prefixReader{b: rest, r: nc})
		return c.relayResponse(&d, t, bc, start, false, bodyIn)
	}, func(err error) {
		syscall.Close(ufd)
		if d.Done != nil {
			d.Done(Result{UpstreamLatency: latency, BytesIn: bodyIn, Err: err, ClientErr: true})
		}
	})
}

// takeOver moves the client connection to a goroutine running first and then the goroutine engine's
// request loop; when the connection cannot be served there (Server.Close ran meanwhile, its socket could
// not be made a net.Conn, or the output the loop had queued could not be written), abandon is called
// instead of first, to end the exchange in flight.
func (ec *evConn) takeOver(first func(c *conn) bool, abandon func(err error)) {
	l := ec.l
	c := ec.c
	if c.bw != nil {
		c.bw.Flush() // into ec.out: the goroutine engine writes it first
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
	fd := ec.fd
	ec.fd = -1
	ec.closed = true
	ec.deadline, ec.wdeadline = 0, 0
	if fd < len(l.fds) {
		l.fds[fd].c = nil
	}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	delete(l.conns, ec)
	rest := append([]byte(nil), ec.in[ec.off:]...)
	pendingOut := append([]byte(nil), ec.out[ec.outOff:]...) // as the wire carries it (TLS records, on TLS)
	t := ec.tls
	var cipherRest []byte
	if t != nil {
		cipherRest = append([]byte(nil), t.cin[t.coff:]...)
	}
	go func() {
		s := c.s
		if s.handOverHook != nil {
			s.handOverHook()
		}
		f := os.NewFile(uintptr(fd), "client")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			s.log.Warn("gateway: hand a connection to the goroutine engine", "err", err)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			abandon(fmt.Errorf("handing the connection to the goroutine engine: %w", err))
			return
		}
		cnc := nc // what requests are read from and answers written to: the TLS layer on TLS
		if t != nil {
			t.w.toGoroutine(nc, cipherRest)
			cnc = t.tc
		}
		s.mu.Lock()
		c.raw, c.nc = nc, cnc
		c.loop = nil
		closed := c.state.Load() == stateClosed // Server.Close ran while no one held the socket
		s.mu.Unlock()
		defer c.finish()
		if closed {
			abandon(errClosedInHandOver)
			return
		}
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&prefixReader{b: rest, r: cnc})
		c.sw = sendWriter{c}
		c.out = &c.sw
		if len(pendingOut) > 0 {
			nc.SetWriteDeadline(time.Now().Add(s.sendTimeout))
			_, err := nc.Write(pendingOut)
			nc.SetWriteDeadline(time.Time{})
			if err != nil {
				abandon(fmt.Errorf("writing what the loop had queued for the client: %w", err))
				return
			}
		}
		c.acquireWriter()
		if !first(c) || s.shutting.Load() {
			return
		}
		c.releaseWriter()
		c.serveRequests()
	}()
}

// errClosedInHandOver is the Result error of an exchange whose connection Server.Close closed while it
// moved from its loop to the goroutine engine.
var errClosedInHandOver = errors.New("the server closed the connection while its request was being handed on")

// prefixReader reads b, then r.
type prefixReader struct {
	b []byte
	r io.Reader
}

func (p *prefixReader) Read(q []byte) (int, error) {
	if len(p.b) > 0 {
		n := copy(q, p.b)
		p.b = p.b[n:]
		return n, nil
	}
	return p.r.Read(q)
}
