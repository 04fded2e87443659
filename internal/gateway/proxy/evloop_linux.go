//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
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
)

const loopEngineAvailable = true

// The event-loop engine serves plain-HTTP (non-TLS) connections on Linux. GOMAXPROCS loops each own an
// epoll instance, the client connections given to it and the backend connections it opened, so that an
// exchange never crosses threads: a loop reads a socket only when epoll said it is readable (edge-triggered;
// a short read means drained), which spares the speculative reads, parking and wake-ups of one goroutine per
// connection. It reuses the goroutine engine's parser and writers through the same conn fields, and hands a
// connection over to the goroutine engine (as net.Conns) for what it does not do itself: request bodies not
// already read with the head, chunked request bodies, Expect, upgrades, TLS or HTTP/2 backends,
// responses delimited by close, and decisions that may wait (WaitingDecider). Response bodies with a
// Content-Length or chunked are relayed with back-pressure: the backend is read only while the client
// has taken what was relayed before.

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	evAll = evIn | syscall.EPOLLOUT | 1<<31 // 1<<31 is EPOLLET (syscall declares it as a negative int)
	// evReadBuf is a client connection's first read buffer; it grows for larger heads.
	evReadBuf = 4096
	// evUpReadBuf is a backend connection's read buffer (response heads up to 64 KiB grow it).
	evUpReadBuf = 16384
	// evPoolSweep is how often a loop closes idle backend connections that expired or whose Upstream closed.
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
	for range runtime.GOMAXPROCS(0) {
		l, err := newLoop(s)
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
	fd, err := dupConnFD(nc)
	if err != nil {
		return err
	}
	l := e.loops[e.next.Add(1)%uint32(len(e.loops))]
	ec := &evConn{l: l, c: c, fd: fd}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		syscall.Close(fd)
		return errors.New("the event loop ended")
	}
	c.remoteAddr = nc.RemoteAddr().String()
	c.raw, c.nc = nil, nil
	c.clientIP = c.remoteAddr
	if host, _, err := net.SplitHostPort(c.remoteAddr); err == nil {
		c.clientIP = host
	}
	c.proto = "http"
	c.hdr = make(http.Header, 16)
	c.vals = make([]string, maxHeaderFields)
	c.loop = ec
	c.out = ec
	l.incoming = append(l.incoming, ec)
	l.mu.Unlock()
	nc.Close()
	l.wakeup()
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
		l.mu.Unlock()
		l.wakeup()
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
	closing  bool
	ended    bool // the loop takes no more connections (adopt leaves them to the goroutine engine)

	ending   bool          // closing was seen: every connection is closed, dial results are awaited
	uw       *bufio.Writer // request heads to backends, reset to each
	fds      []evSlot      // by file descriptor
	conns    map[*evConn]struct{}
	pools    map[*target]*evPool
	dialing  int
	events   [128]syscall.EpollEvent
	now      int64 // unix nanoseconds at the last wake-up
	next     int64 // earliest deadline set since the last scan (0: none)
	swept    int64
	wbuf     [8]byte
	pf       *os.File        // the epoll descriptor, watched by Go's poller while the loop sleeps
	prc      syscall.RawConn // pf's
	wakeAt   int64           // the read deadline set on pf (unix nanoseconds, 0 none)
	pollFn   func(uintptr) bool
	obuf     []byte // a chunked body re-encoded, before it is written
	polled   int
	skipPoll bool
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
		uw: bufio.NewWriterSize(nil, 4096)}
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

func (l *evLoop) wakeup() {
	one := [8]byte{1}
	syscall.Write(l.wfd, one[:])
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
		// New connections go to the goroutine engine from now on; those already handed to this loop end.
		l.mu.Lock()
		l.ended = true
		in := l.incoming
		l.incoming = nil
		l.mu.Unlock()
		for _, ec := range in {
			l.conns[ec] = struct{}{}
			ec.close()
		}
		l.closeFDs()
	}()
	l.now = time.Now().UnixNano()
	l.swept = l.now
	l.pollFn = func(uintptr) bool { // made once: a closure per wait would allocate
		if l.skipPoll {
			// The loop polled just before: wait for Go's poller to see the epoll descriptor readable
			// (an event after that poll makes it so) rather than poll again for nothing.
			l.skipPoll = false
			l.polled = 0
			return false
		}
		l.polled = l.poll()
		return l.polled > 0
	}
	for {
		n := l.poll()
		if n == 0 {
			var until int64
			if l.next != 0 || len(l.pools) > 0 {
				until = l.swept + int64(evPoolSweep)
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
			l.skipPoll = true
			err := l.prc.Read(l.pollFn)
			n = l.polled
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				l.s.log.Error("gateway: event loop wait", "err", err)
				l.closeAll()
				return
			}
		}
		l.now = time.Now().UnixNano()
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
			l.dispatch(l.fds[fd], ev.Events)
		}
		if l.next != 0 && l.now >= l.next {
			l.scan()
		}
		if l.now-l.swept >= int64(evPoolSweep) {
			l.sweepPools()
		}
	}
}

// dispatch hands an event to its connection; a panic (in a Decider, say) ends that connection only.
func (l *evLoop) dispatch(sl evSlot, events uint32) {
	defer l.recoverConn(sl.c, sl.u)
	switch {
	case sl.c != nil:
		sl.c.onEvent(events)
	case sl.u != nil:
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

// control takes new connections and dial results and applies the Server's state; false ends the loop.
func (l *evLoop) control() bool {
	l.mu.Lock()
	in, dialed, closing := l.incoming, l.dialed, l.closing
	l.incoming, l.dialed = nil, nil
	l.mu.Unlock()
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
	if closing {
		l.ending = true
		l.closeAll()
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
		l.wakeup()
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
		if ec.deadline != 0 {
			l.setDeadline(ec.deadline)
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
	if up.closed.Load() || u.readable {
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

// evState is where a client connection is in its current exchange.
type evState uint8

const (
	evHead    evState = iota // reading a request head (idle when nothing is buffered)
	evDial                   // waiting for a backend connection to be dialled
	evWait                   // request sent, waiting for the response head
	evBody                   // relaying a Content-Length response body
	evLinger                 // error answer sent, write side shut, draining what the client still sends
	evClosing                // answer being written; close once it is
)

// evConn is a client connection served by a loop.
type evConn struct {
	l  *evLoop
	c  *conn
	fd int

	in     []byte // read buffer: in[off:] is unread
	off    int
	out    []byte // bytes the socket did not take yet: out[outOff:]
	outOff int

	st        evState
	readable  bool // edge-triggered: the socket may hold unread bytes (or an end of stream)
	eof       bool // the client shut its write side
	peerDone  bool // epoll reported the client's end of stream or an error: reads continue until they see it
	closed    bool
	broken    error // a write failed
	headArmed bool  // the read-head timeout of the request being read is set
	lingered  int   // bytes drained while lingering
	deadline  int64 // read-side deadline for the state (unix nanoseconds, 0 none)
	upLatency time.Duration
	wdeadline int64 // WriteTimeout of the response being written

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
	ec.readable = true // bytes may have arrived before registration
	ec.enterHead()
	ec.process()
}

// idle reports whether the connection waits for a request and holds no part of one.
func (ec *evConn) idle() bool {
	return ec.st == evHead && len(ec.in) == ec.off && ec.pending() == 0
}

func (ec *evConn) pending() int { return len(ec.out) - ec.outOff }

// Write sends p, keeping what the socket does not take for when it becomes writable; it fails only once
// the connection failed.
func (ec *evConn) Write(p []byte) (int, error) {
	if ec.broken != nil {
		return 0, ec.broken
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
		ec.out = ec.out[:0]
		ec.outOff = 0
	}
	ec.out = append(ec.out, rest...)
	return len(p), nil // all of p is taken: written or kept
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
	}
	if ec.pending() == 0 {
		ec.out = ec.out[:0]
		ec.outOff = 0
		if cap(ec.out) > 64<<10 {
			ec.out = nil
		}
	}
	return ec.broken == nil && ec.pending() == 0
}

func (ec *evConn) onEvent(events uint32) {
	if ec.closed {
		return
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		ec.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		ec.peerDone = true // no edge will follow the data already there: read until the end is seen
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
		if !ec.readable {
			if ec.eof {
				if begun {
					ec.answerError(400, "the connection ended in the middle of a request head")
				} else {
					ec.close()
				}
				return
			}
			if ec.off < len(ec.in) && !ec.headArmed {
				ec.headArmed = true
				ec.deadline = ec.l.now + int64(s.readHeaderTimeout)
				ec.l.setDeadline(ec.deadline)
			} else if ec.off == len(ec.in) && s.shutting.Load() {
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
	space := ec.in[len(ec.in):cap(ec.in)]
	n, eof, err := readFD(ec.fd, space)
	if err != nil {
		ec.close()
		return false
	}
	if eof {
		ec.eof, ec.readable = true, false
		return true
	}
	if n < len(space) && !ec.peerDone {
		ec.readable = false // a short read drained the socket; the next bytes bring a new edge
	}
	ec.in = ec.in[:len(ec.in)+n]
	return true
}

// scanRequestHead finds a request head in b as the goroutine engine's readHead does: up to 4 empty lines
// before it are skipped (skip bytes), an empty line of a bare LF is refused, a head longer than max gets
// 431. end is 0 while the head is incomplete.
func scanRequestHead(b []byte, max int) (skip, end int, e headError) {
	leading, off, size := 0, 0, 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if size+len(b)-off > max {
				return 0, 0, errHeadTooLarge
			}
			return skip, 0, headError{}
		}
		next := off + i + 1
		line := b[off:next]
		if size+len(line) > max {
			return 0, 0, errHeadTooLarge
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			if len(line) == 1 {
				return 0, 0, errBareLF
			}
			if size == 0 && leading < 4 {
				leading++ // RFC 9112 2.2: ignore an empty line before the request line
				skip, off = next, next
				continue
			}
			return skip, next, headError{}
		}
		size += len(line)
		off = next
	}
}

var errHeadTooLarge = headError{431, "the request line and headers exceed the size limit; send smaller headers"}

// serveHead serves one request whose head was read.
func (ec *evConn) serveHead(head []byte) {
	c := ec.c
	l := ec.l
	ec.deadline = 0
	c.head = append(c.head[:0], head...)
	c.acquireWriter()
	h := &c.rh
	if e := parseRequestHead(c.head, h); e.status != 0 {
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
	if wd, ok := l.s.Decider.(WaitingDecider); ok && wd.MayWait(&c.req) {
		// Decided and served by the goroutine engine: a Decide that waits must not hold up the loop.
		ec.takeOver(func(c *conn) bool { return c.handle() })
		return
	}
	// What the loop does not relay itself goes to the goroutine engine, decision included.
	handOver := c.upgrade || h.chunked || h.expectContinue || h.contentLength > int64(len(ec.in)-ec.off)
	ec.d = l.s.Decider.Decide(&c.req)
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
	if ec.pending() == 0 {
		ec.close()
		return
	}
	ec.st = evClosing
}

// answerError answers with the engine's JSON error and Connection: close, then lingers.
func (ec *evConn) answerError(status int, msg string) {
	ec.c.writeError(status, "invalid_request", msg)
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
	l.dialed = append(l.dialed, r)
	l.mu.Unlock()
	l.wakeup()
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

// responseHeadEnd returns the length of the response head at the start of b, 0 while incomplete, -1 when
// it exceeds 64 KiB.
func responseHeadEnd(b []byte) int {
	off := 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if len(b) > 64<<10 {
				return -1
			}
			return 0
		}
		next := off + i + 1
		if next > 64<<10 {
			return -1
		}
		line := b[off:next]
		if off > 0 && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return next
		}
		off = next
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
			ec.l.s.logBackendFailure("gateway: backend response body failed", "err", err)
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
				ec.l.s.logBackendFailure("gateway: backend response body failed", "err", err)
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
			ec.l.s.logBackendFailure("gateway: backend response body failed", "err", err)
			ec.endExchange(err)
			return
		}
		if n == 0 {
			return
		}
	}
	ec.endExchange(nil)
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
		res := Result{UpstreamLatency: ec.upLatency, BytesOut: ec.sent, BytesIn: ec.bodyIn, Err: err}
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

// evUp is a backend connection owned by a loop.
type evUp struct {
	l        *evLoop
	fd       int
	t        *target
	in       []byte
	off      int
	out      []byte
	outOff   int
	owner    *evConn
	readable bool
	peek     [1]byte
	peerDone bool // epoll reported the backend's end of stream or an error
	broken   error
	idleAt   int64
	closed   bool
}

// Write sends p to the backend, keeping what the socket does not take for when it becomes writable.
func (u *evUp) Write(p []byte) (int, error) {
	if u.broken != nil {
		return 0, u.broken
	}
	rest := p
	if len(u.out) == u.outOff {
		n, err := writeFD(u.fd, p)
		if err != nil {
			u.broken = err
			return 0, err
		}
		if n == len(p) {
			return n, nil
		}
		rest = p[n:]
		u.out, u.outOff = u.out[:0], 0
	}
	u.out = append(u.out, rest...)
	return len(p), nil // all of p is taken: written or kept
}

// fill reads once from the backend into the free end of in.
func (u *evUp) fill() (n int, eof bool, err error) {
	if len(u.in) == cap(u.in) {
		if u.off > 0 {
			k := copy(u.in, u.in[u.off:])
			u.in, u.off = u.in[:k], 0
		} else {
			grown := make([]byte, len(u.in), 2*cap(u.in))
			copy(grown, u.in)
			u.in = grown
		}
	}
	space := u.in[len(u.in):cap(u.in)]
	n, eof, err = readFD(u.fd, space)
	if err != nil || eof {
		u.readable = false
		return 0, eof, err
	}
	if n < len(space) && !u.peerDone {
		u.readable = false
	}
	u.in = u.in[:len(u.in)+n]
	return n, false, nil
}

func (u *evUp) onEvent(events uint32) {
	if u.closed {
		return
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.peerDone = true
	}
	if events&syscall.EPOLLOUT != 0 && len(u.out) > u.outOff {
		for len(u.out) > u.outOff {
			n, err := writeFD(u.fd, u.out[u.outOff:])
			if err != nil {
				u.broken = err
				break
			}
			if n == 0 {
				break
			}
			u.outOff += n
		}
	}
	ec := u.owner
	if ec == nil {
		if u.readable {
			u.l.dropIdle(u) // the backend closed an idle connection (or spoke unasked)
		}
		return
	}
	if u.broken != nil && ec.st == evWait {
		ec.failUpstream(http.StatusBadGateway, "the backend connection failed while sending the request", u.broken, 0)
		return
	}
	switch ec.st {
	case evWait:
		if u.readable {
			ec.readResponse()
		}
	case evBody:
		ec.pump()
	}
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

// forget takes the connection out of the loop without closing its descriptor (which the caller now owns).
func (u *evUp) forget() {
	syscall.EpollCtl(u.l.epfd, syscall.EPOLL_CTL_DEL, u.fd, nil)
	if u.fd < len(u.l.fds) {
		u.l.fds[u.fd].u = nil
	}
	u.fd = -1
	u.closed = true
}

func (u *evUp) close() {
	if u.closed {
		return
	}
	u.closed = true
	if u.fd < len(u.l.fds) {
		u.l.fds[u.fd].u = nil
	}
	syscall.Close(u.fd)
	u.fd = -1
}

// handOver gives the connection to the goroutine engine, which forwards the decided request first.
func (ec *evConn) handOver() {
	d := ec.d
	ec.takeOver(func(c *conn) bool { return c.forward(&d) })
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
	})
}

// takeOver moves the client connection to a goroutine running first and then the goroutine engine's
// request loop.
func (ec *evConn) takeOver(first func(c *conn) bool) {
	l := ec.l
	c := ec.c
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
	if c.bw != nil {
		c.bw.Flush() // into ec.out: the goroutine engine writes it first
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
	pendingOut := append([]byte(nil), ec.out[ec.outOff:]...)
	go func() {
		f := os.NewFile(uintptr(fd), "client")
		nc, err := net.FileConn(f)
		f.Close()
		s := c.s
		if err != nil {
			s.log.Warn("gateway: hand a connection to the goroutine engine", "err", err)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		c.raw, c.nc = nc, nc
		c.loop = nil
		s.mu.Unlock()
		defer c.finish()
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&prefixReader{b: rest, r: nc})
		c.out = writerOnly{nc}
		if len(pendingOut) > 0 {
			if _, err := nc.Write(pendingOut); err != nil {
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
