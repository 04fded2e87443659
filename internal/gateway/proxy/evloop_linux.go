//go:build linux

package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/portcullis/portcullis/internal/uring"
)

// The event-loop engine serves HTTP/1.1 connections on Linux: plain ones from their accept, TLS ones once a
// goroutine made their handshake (evtls_linux.go). GOMAXPROCS loops each own an
// epoll instance, the client connections given to it and the backend connections it opened, so that an
// exchange never crosses threads: a loop reads a socket only when epoll said it is readable (edge-triggered;
// a short read means drained), which spares the speculative reads, parking and wake-ups of one goroutine per
// connection. It reuses the goroutine engine's parser and writers through the same conn fields, and hands a
// connection over to the goroutine engine (as net.Conns) for what it does not do itself: request bodies not
// already read with the head, chunked request bodies, Expect, upgrades, TLS or HTTP/2 backends, and
// responses delimited by close. A decision that would wait (WaitingDecider) is made by a goroutine while
// the connection stays with its loop, which goes on once it is back, as with backend dials. Response bodies with a
// Content-Length or chunked are relayed with back-pressure: the backend is read only while the client
// has taken what was relayed before. This file holds the loops; evconn_linux.go the client side,
// evup_linux.go the backend side.

// loopEngineAvailable says that this system has the event-loop engine.
const loopEngineAvailable = true

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	evAll = evIn | syscall.EPOLLOUT | 1<<31 // 1<<31 is EPOLLET (syscall declares it as a negative int)
	// evReadBuf is a client connection's first read buffer; it grows for larger heads.
	evReadBuf = 4096
	// evUpReadBuf is a backend connection's read buffer (response heads up to 64 KiB grow it).
	evUpReadBuf = 16384
	// evPoolSweep is how often a loop closes idle backend connections that expired or whose Upstream
	// closed (Server.loopPoolSweep, set by a test, replaces it).
	evPoolSweep = time.Second
)

// evEngine is the set of loops of one Server.
type evEngine struct {
	s     *Server
	loops []*evLoop
	next  atomic.Uint32
	wg    sync.WaitGroup
}

// newLoopEngine starts GOMAXPROCS loops.
func newLoopEngine(s *Server) (*evEngine, error) {
	e := &evEngine{s: s}
	mode, err := ioURingMode()
	if err != nil {
		return nil, err
	}
	for range runtime.GOMAXPROCS(0) {
		l, err := newLoop(s)
		if err == nil && mode != "off" {
			if l.ring, err = newRing(); err != nil {
				if mode == "auto" {
					if len(e.loops) == 0 {
						s.log.Info("gateway: io_uring unavailable; event loops make one system call per read and write", "reason", err)
					}
					err = nil
				} else {
					l.closeFDs()
					err = fmt.Errorf("%w (%v); unset it or set it to auto to go on without one", errIOURingRequired, err)
				}
			}
		}
		if err != nil {
			for _, l := range e.loops {
				l.closeFDs()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			l.run()
		}()
	}
	return e, nil
}

// adopt takes an accepted plain TCP connection: its socket moves to a loop and nc is closed.
// On error nc is left open and c untouched, for the goroutine engine.
func (e *evEngine) adopt(c *conn, nc net.Conn) error {
	return e.adoptConn(c, nc, nil)
}

// adoptTLS takes an HTTP/1.1 connection of a TLS listener whose handshake is done (tc over w over c.raw):
// its socket moves to a loop, which serves its records through w, and c.raw is closed. On error c is
// left as it was, for the goroutine engine.
func (e *evEngine) adoptTLS(c *conn, w *tlsWire, tc *tls.Conn) error {
	return e.adoptConn(c, c.raw, &evTLS{tc: tc, w: w, more: true})
}

func (e *evEngine) adoptConn(c *conn, nc net.Conn, t *evTLS) error {
	fd, err := dupConnFD(nc)
	if err != nil {
		return err
	}
	l := e.loops[e.next.Add(1)%uint32(len(e.loops))]
	ec := &evConn{l: l, c: c, fd: fd, tls: t}
	// Server.Close closes c.raw (under s.mu) while it is set: nil from now on, the loop closes the socket.
	s := e.s
	s.mu.Lock()
	raw, prevNC := c.raw, c.nc
	c.raw, c.nc = nil, nil
	s.mu.Unlock()
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		syscall.Close(fd)
		s.mu.Lock()
		c.raw, c.nc = raw, prevNC
		s.mu.Unlock()
		return errors.New("the event loop ended")
	}
	if t == nil {
		c.remoteAddr = nc.RemoteAddr().String()
		c.clientIP = c.remoteAddr
		if host, _, err := net.SplitHostPort(c.remoteAddr); err == nil {
			c.clientIP = host
		}
		c.proto = "http"
	} else {
		t.w.toLoop(ec) // conn.serve set the addresses and "https" before the handshake
	}
	c.hdr = make(http.Header, 16)
	c.vals = make([]string, maxHeaderFields)
	c.loop = ec
	c.out = ec
	l.incoming = append(l.incoming, ec)
	l.wakeupLocked()
	l.mu.Unlock()
	nc.Close()
	return nil
}

// wake tells every loop to look at the Server's state (shutting down or closing).
func (e *evEngine) wake() {
	for _, l := range e.loops {
		l.wakeup()
	}
}

// close makes every loop close all its connections, in-flight exchanges included.
func (e *evEngine) close() {
	for _, l := range e.loops {
		l.mu.Lock()
		l.closing = true
		l.wakeupLocked()
		l.mu.Unlock()
	}
}

// wait waits for the loops to end (they end once the Server is shutting down and they hold no connection).
func (e *evEngine) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dupConnFD returns a close-on-exec duplicate of a connection's socket (non-blocking, as Go left it).
func dupConnFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	return fd, nil
}

// evLoop is one event loop.
type evLoop struct {
	s    *Server
	epfd int
	wfd  int // eventfd: wakes the loop for incoming connections, dial results and state changes

	mu       sync.Mutex
	incoming []*evConn
	dialed   []evDialResult
	decided  []evDecision
	closing  bool
	ended    bool // the loop takes no more connections (adopt leaves them to the goroutine engine)

	ending  bool          // closing was seen: every connection is closed, dial results are awaited
	uw      *bufio.Writer // request heads to backends, reset to each
	fds     []evSlot      // by file descriptor
	conns   map[*evConn]struct{}
	pools   map[*target]*evPool
	dialing int
	events  [128]syscall.EpollEvent
	now     int64 // unix nanoseconds at the last wake-up
	next    int64 // earliest deadline set since the last scan (0: none)
	swept   int64
	wbuf    [8]byte
	pf      *os.File        // the epoll descriptor, watched by Go's poller while the loop sleeps
	prc     syscall.RawConn // pf's
	wakeAt  int64           // the read deadline set on pf (unix nanoseconds, 0 none)
	pollFn  func(uintptr) bool
	sweep   time.Duration // how often idle backend connections are swept
	obuf    []byte        // a chunked body re-encoded, before it is written
	polled  int

	ring      *uring.Ring // batches the turn's reads and writes (evring_linux.go); nil: one system call each
	ahead     []aheadRead
	sendQ     []sendItem
	sendSpare []sendItem
	bufs      [][]byte // output buffers not in use (sendBuf, putBuf)
}

type evSlot struct {
	c *evConn
	u *evUp
}

type evPool struct {
	up   *Upstream
	idle []*evUp
}

type evDialResult struct {
	c   *evConn
	t   *target
	fd  int
	err error
}

// evDecision is a decision made off the loop, for the connection that waits for it.
type evDecision struct {
	c        *evConn
	d        Decision
	handOver bool // the request then goes to the goroutine engine
	failed   bool // Decide panicked
}

func newLoop(s *Server) (*evLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", errno)
	}
	l := &evLoop{s: s, epfd: epfd, wfd: int(r), conns: make(map[*evConn]struct{}), pools: make(map[*target]*evPool),
		uw: bufio.NewWriterSize(nil, 4096), sweep: evPoolSweep}
	if s.loopPoolSweep > 0 {
		l.sweep = s.loopPoolSweep
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wfd, &ev); err != nil {
		l.closeFDs()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	// The loop sleeps in Go's own poller, which watches the epoll descriptor (readable when it has
	// events): a loop with nothing to do parks like any goroutine instead of holding a thread and its P
	// in a blocking epoll_wait (which the scheduler would take back, at the cost of wake-ups per
	// request). A loop with work polls with a zero timeout and never parks.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		l.closeFDs()
		return nil, os.NewSyscallError("fcntl", err)
	}
	l.pf = os.NewFile(uintptr(epfd), "epoll")
	if l.prc, err = l.pf.SyscallConn(); err != nil {
		l.closeFDs()
		return nil, err
	}
	return l, nil
}

func (l *evLoop) closeFDs() {
	if l.ring != nil {
		l.ring.Close()
		l.ring = nil
	}
	syscall.Close(l.wfd)
	if l.pf != nil {
		l.pf.Close()
	} else {
		syscall.Close(l.epfd)
	}
}

// poll takes the ready events without waiting.
func (l *evLoop) poll() int {
	for {
		r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(r)
	}
}

// wakeup wakes the loop, unless it ended: its eventfd may be closed then, and the number reused.
func (l *evLoop) wakeup() {
	l.mu.Lock()
	l.wakeupLocked()
	l.mu.Unlock()
}

// wakeupLocked is wakeup with l.mu held.
func (l *evLoop) wakeupLocked() {
	if !l.ended {
		one := [8]byte{1}
		syscall.Write(l.wfd, one[:])
	}
}

func (l *evLoop) register(fd int) error {
	ev := syscall.EpollEvent{Events: uint32(evAll), Fd: int32(fd)}
	return syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

func (l *evLoop) slot(fd int) *evSlot {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, make([]evSlot, len(l.fds)+64)...)
	}
	return &l.fds[fd]
}

// setDeadline records that something on this loop must happen by d (unix nanoseconds).
func (l *evLoop) setDeadline(d int64) {
	if l.next == 0 || d < l.next {
		l.next = d
	}
}

func (l *evLoop) run() {
	defer func() {
		if p := recover(); p != nil {
			l.s.log.Error("gateway: panic in an event loop", "panic", p, "stack", string(debug.Stack()))
			l.closeAll()
		}
		// New connections go to the goroutine engine from now on; those already handed to this loop end,
		// and so do the exchanges whose dial or decision was posted back but not taken.
		l.mu.Lock()
		l.ended = true
		in, dialed, decided := l.incoming, l.dialed, l.decided
		l.incoming, l.dialed, l.decided = nil, nil, nil
		l.mu.Unlock()
		for _, ec := range in {
			l.conns[ec] = struct{}{}
			ec.close()
		}
		for _, r := range dialed {
			if r.fd >= 0 {
				syscall.Close(r.fd)
			}
		}
		for _, r := range decided {
			r.abandon()
		}
		l.closeFDs()
	}()
	l.now = time.Now().UnixNano()
	l.swept = l.now
	l.pollFn = func(uintptr) bool { // made once: a closure per wait would allocate
		// Read clears the descriptor's readiness before calling this, so this must poll even right after
		// the loop's own poll: an event in between would otherwise wait for the next one.
		l.polled = l.poll()
		return l.polled > 0
	}
	for {
		// Every turn goes through the poller's Read, whose first call of pollFn polls without waiting:
		// a loop with work takes its events with one epoll_pwait, and one that has none parks right
		// after that same call instead of polling again first (each system call costs about a
		// microsecond on the virtual machines the benchmarks ran on).
		var until int64
		if l.next != 0 || len(l.pools) > 0 {
			until = l.swept + int64(l.sweep)
			if l.next != 0 && l.next < until {
				until = l.next
			}
		}
		if until != l.wakeAt {
			l.wakeAt = until
			var t time.Time
			if until != 0 {
				t = time.Unix(0, until)
			}
			l.pf.SetReadDeadline(t)
		}
		l.polled = 0 // a deadline already passed returns before pollFn runs
		err := l.prc.Read(l.pollFn)
		n := l.polled
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			l.s.log.Error("gateway: event loop wait", "err", err)
			l.closeAll()
			return
		}
		l.now = time.Now().UnixNano()
		noted := l.readAhead(n)
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if fd == l.wfd {
				syscall.Read(l.wfd, l.wbuf[:])
				if !l.control() {
					return
				}
				continue
			}
			if fd >= len(l.fds) {
				continue
			}
			l.dispatch(l.fds[fd], ev.Events, noted)
		}
		l.sendQueued()
		if l.next != 0 && l.now >= l.next {
			l.scan()
		}
		if l.now-l.swept >= int64(l.sweep) {
			l.sweepPools()
		}
		l.sendQueued()
	}
}

// dispatch hands an event to its connection (noting it first unless readAhead did); a panic (in a
// Decider, say) ends that connection only.
func (l *evLoop) dispatch(sl evSlot, events uint32, noted bool) {
	defer l.recoverConn(sl.c, sl.u)
	switch {
	case sl.c != nil:
		if !noted && !sl.c.closed {
			sl.c.note(events)
		}
		sl.c.onEvent(events)
	case sl.u != nil:
		if !noted && !sl.u.closed {
			sl.u.note(events)
		}
		sl.u.onEvent(events)
	}
}

// recoverConn ends the connection (client, or the client owning backend u) whose handling panicked.
func (l *evLoop) recoverConn(ec *evConn, u *evUp) {
	p := recover()
	if p == nil {
		return
	}
	l.s.log.Error("gateway: panic serving a connection", "panic", p, "stack", string(debug.Stack()))
	if ec == nil && u != nil {
		ec = u.owner
		u.close()
	}
	if ec != nil {
		ec.d = Decision{} // its Done may be what panicked
		ec.close()
	}
}

func (l *evLoop) startConn(ec *evConn) {
	defer l.recoverConn(ec, nil)
	ec.start()
}

func (l *evLoop) timeoutConn(ec *evConn) {
	defer l.recoverConn(ec, nil)
	ec.onTimeout()
}

func (l *evLoop) dialedConn(r evDialResult) {
	defer l.recoverConn(r.c, nil)
	r.c.onDialed(r)
}

func (l *evLoop) decidedConn(r evDecision) {
	defer l.recoverConn(r.c, nil)
	r.c.onDecided(r)
}

// control takes new connections and dial results and applies the Server's state; false ends the loop.
func (l *evLoop) control() bool {
	l.mu.Lock()
	in, dialed, decided, closing := l.incoming, l.dialed, l.decided, l.closing
	l.incoming, l.dialed, l.decided = nil, nil, nil
	l.mu.Unlock()
	if closing {
		l.ending = true // what comes back now only ends its exchange
	}
	for _, ec := range in {
		if closing {
			l.conns[ec] = struct{}{}
			ec.close()
			continue
		}
		l.startConn(ec)
	}
	for _, r := range dialed {
		l.dialing--
		l.dialedConn(r)
	}
	for _, r := range decided {
		l.decidedConn(r)
	}
	if closing {
		l.closeAll()
		// Decisions are not awaited (a Decide may take long): the goroutine making one reports it itself
		// once the loop ended.
		return l.dialing > 0 || !l.end()
	}
	if l.s.shutting.Load() {
		for ec := range l.conns {
			if ec.idle() {
				ec.close()
			}
		}
		if len(l.conns) == 0 && l.dialing == 0 && l.end() {
			l.closePools()
			return false
		}
	}
	return true
}

// end marks the loop ended unless a connection was handed to it meanwhile (then it goes on).
func (l *evLoop) end() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.incoming) > 0 {
		l.wakeupLocked()
		return false
	}
	l.ended = true
	return true
}

// closeAll closes every connection of the loop.
func (l *evLoop) closeAll() {
	for ec := range l.conns {
		ec.fail(net.ErrClosed)
	}
	l.closePools()
}

func (l *evLoop) closePools() {
	for t, p := range l.pools {
		for _, u := range p.idle {
			u.close()
		}
		delete(l.pools, t)
	}
}

// scan acts on the deadlines that passed and finds the next one.
func (l *evLoop) scan() {
	l.next = 0
	for ec := range l.conns {
		if ec.deadline != 0 && ec.deadline <= l.now {
			ec.deadline = 0
			l.timeoutConn(ec)
			if ec.closed {
				continue
			}
		}
		if ec.wdeadline != 0 && ec.wdeadline <= l.now {
			ec.wdeadline = 0
			if ec.pending() > 0 || ec.st != evHead {
				ec.fail(os.ErrDeadlineExceeded)
				continue
			}
		}
		if ec.sdeadline != 0 && ec.sdeadline <= l.now {
			ec.sdeadline = 0
			if ec.pending() > 0 { // the client took nothing for SendTimeout
				ec.fail(os.ErrDeadlineExceeded)
				continue
			}
		}
		if ec.deadline != 0 {
			l.setDeadline(ec.deadline)
		}
		if ec.sdeadline != 0 {
			l.setDeadline(ec.sdeadline)
		}
		if ec.wdeadline != 0 {
			l.setDeadline(ec.wdeadline)
		}
	}
}

// sweepPools closes idle backend connections that expired or whose Upstream was closed.
func (l *evLoop) sweepPools() {
	l.swept = l.now
	for t, p := range l.pools {
		closed := p.up.closed.Load()
		keep := p.idle[:0]
		for _, u := range p.idle {
			if closed || l.now-u.idleAt >= int64(p.up.cfg.IdleTimeout) {
				u.close()
				continue
			}
			keep = append(keep, u)
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		if len(keep) == 0 {
			delete(l.pools, t)
		}
	}
}

// getUp returns a pooled idle connection to t that is still usable, or nil: the loop's own, else one that
// the goroutine engine pooled (after an exchange handed over to it).
func (l *evLoop) getUp(up *Upstream, t *target) *evUp {
	p := l.pools[t]
	if p == nil {
		return l.takeShared(up, t)
	}
	for len(p.idle) > 0 {
		u := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		// An idle connection that became readable was closed by the backend (or sent something unasked).
		// One idle for a while is also probed, as the goroutine engine does, in case its close is on its
		// way but not yet seen.
		idle := l.now - u.idleAt
		if !u.readable && !up.closed.Load() && idle < int64(up.cfg.IdleTimeout) &&
			(idle < int64(up.probeAfter) || peekWouldBlock(uintptr(u.fd), u.peek[:])) {
			return u
		}
		u.close()
	}
	return l.takeShared(up, t)
}

// takeShared moves an idle connection of the Upstream's own pool (the goroutine engine's) to the loop.
func (l *evLoop) takeShared(up *Upstream, t *target) *evUp {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			return nil
		}
		bc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		if l.now-bc.idleAt.UnixNano() >= int64(up.cfg.IdleTimeout) || bc.br.Buffered() > 0 {
			bc.nc.Close()
			continue
		}
		fd, err := dupConnFD(bc.nc)
		bc.nc.Close()
		if err != nil {
			continue
		}
		var peek [1]byte
		if !peekWouldBlock(uintptr(fd), peek[:]) || l.register(fd) != nil {
			syscall.Close(fd) // closed by the backend, or it sent something unasked
			continue
		}
		u := &evUp{l: l, fd: fd, t: t, in: make([]byte, 0, evUpReadBuf)}
		l.slot(fd).u = u
		return u
	}
}

// lendIdle moves one idle connection per target of up, if the loop has one, to the Upstream's own pool,
// before an exchange is handed over to the goroutine engine, so that it need not dial.
func (l *evLoop) lendIdle(up *Upstream) {
	for _, t := range up.targets {
		p := l.pools[t]
		if p == nil || len(p.idle) == 0 {
			continue
		}
		u := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if u.readable || len(u.in) > u.off {
			u.close()
			continue
		}
		fd := u.fd
		u.forget()
		f := os.NewFile(uintptr(fd), "backend")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			continue
		}
		up.put(t, newPlainBConn(nc), time.Now())
	}
}

// putUp returns a connection whose exchange completed cleanly to the loop's pool.
func (l *evLoop) putUp(up *Upstream, u *evUp) {
	u.owner = nil
	if up.closed.Load() || u.readable || len(u.out) > u.outOff || u.broken != nil {
		u.close()
		return
	}
	p := l.pools[u.t]
	if p == nil {
		p = &evPool{up: up}
		l.pools[u.t] = p
	}
	if len(p.idle) >= up.cfg.MaxIdleConnsPerHost {
		u.close()
		return
	}
	u.idleAt = l.now
	u.in = u.in[:0]
	u.off = 0
	p.idle = append(p.idle, u)
}

// writeFD writes what a non-blocking socket takes now.
func writeFD(fd int, p []byte) (int, error) {
	for {
		r, errno := sysWrite(fd, p)
		switch errno {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		}
		return 0, errno
	}
}

// readFD reads what a non-blocking socket holds: n > 0 bytes, 0 with eof at the end of stream, or 0 when
// nothing is there (again).
func readFD(fd int, p []byte) (n int, eof bool, err error) {
	for {
		r, errno := sysRead(fd, p)
		switch errno {
		case 0:
			return int(r), r == 0, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, false, nil
		}
		return 0, false, errno
	}
}

// dial connects to t off the loop (DNS and connect may block) and posts the socket back.
func (l *evLoop) dial(ec *evConn, up *Upstream, t *target) {
	r := evDialResult{c: ec, t: t, fd: -1}
	ctx, cancel := context.WithTimeout(context.Background(), up.cfg.ConnectTimeout)
	d := net.Dialer{KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	cancel()
	if err != nil {
		r.err = &errDial{err}
	} else {
		r.fd, r.err = dupConnFD(nc)
		nc.Close()
	}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		if r.fd >= 0 {
			syscall.Close(r.fd)
		}
		return
	}
	l.dialed = append(l.dialed, r)
	l.wakeupLocked()
	l.mu.Unlock()
}

// dropIdle closes a pooled connection and takes it out of its pool.
func (l *evLoop) dropIdle(u *evUp) {
	if p := l.pools[u.t]; p != nil {
		for i, x := range p.idle {
			if x == u {
				p.idle = append(p.idle[:i], p.idle[i+1:]...)
				p.idle = p.idle[:len(p.idle):len(p.idle)]
				break
			}
		}
	}
	u.close()
}
