//go:build linux

package proxy

import (
	"net/http"
	"syscall"

	"github.com/portcullis/portcullis/internal/uring"
)

// With an io_uring (the default where the kernel allows one; IOURingEnv), a loop makes the socket reads
// and writes of one turn in two system calls instead of one each: a system call costs a microsecond or
// more on the virtual machines the gateway was measured on, and a plain exchange needs four of them
// (request in, request out, response in, response out).
//
//   - Reads ahead: once epoll has said which sockets are readable, the reads that the connections are
//     about to make (a client waiting for a request head, a backend for a response head, with nothing
//     of one buffered yet) are made together, and their bytes put where fill would have put them.
//     Other reads (the rest of a head, bodies, lingering) stay one system call each.
//   - Writes at the end of the turn: Write keeps the bytes and queues the connection; sendQueued sends
//     every queued connection's pending output together and then moves each connection on as an
//     EPOLLOUT event would.
//
// Every operation is non-blocking (uring), so the model stays epoll's: a socket with nothing to read or
// no room to write answers EAGAIN, and edge-triggered EPOLLOUT reports room again.

// ringSize is how many operations one submission takes (a turn's events are at most len(evLoop.events)).
const ringSize = 256

// aheadRead is a read made ahead for a client (c) or a backend connection (u) into room bytes.
type aheadRead struct {
	c    *evConn
	u    *evUp
	room int
}

// sendItem is a connection whose output waits for the end of the turn.
type sendItem struct {
	c  *evConn
	u  *evUp
	op int
}

// newRing returns a loop's ring, or nil when the kernel refuses one (uring.ErrUnavailable) or this is a
// race-detector build (whose sysRead and sysWrite tell the detector about socket I/O; a ring would not).
func newRing() (*uring.Ring, error) {
	if !ringBuild {
		return nil, uring.ErrUnavailable
	}
	return uring.New(ringSize)
}

// readAhead notes the turn's n events and makes, in one system call, the reads their connections are
// about to make; it reports whether the events were noted (false: the caller notes them as it
// dispatches).
func (l *evLoop) readAhead(n int) bool {
	r := l.ring
	if r == nil {
		return false
	}
	ahead := l.ahead[:0]
	for i := 0; i < n; i++ {
		ev := &l.events[i]
		fd := int(ev.Fd)
		if fd == l.wfd || fd >= len(l.fds) {
			continue
		}
		switch sl := l.fds[fd]; {
		case sl.c != nil:
			ec := sl.c
			if ec.closed {
				continue
			}
			ec.note(ev.Events)
			if ec.st == evHead && ec.readable && !ec.tlsMore() && ec.pending() == 0 && ec.off == len(ec.in) {
				var space []byte
				if ec.tls != nil {
					space = ec.tls.cipherSpace() // decrypted by the connection's fill
				} else {
					space = ec.space()
				}
				r.Recv(ec.fd, space)
				ahead = append(ahead, aheadRead{c: ec, room: len(space)})
			}
		case sl.u != nil:
			u := sl.u
			if u.closed {
				continue
			}
			u.note(ev.Events)
			if u.owner != nil && u.owner.st == evWait && u.readable && !u.ended && u.broken == nil && u.off == len(u.in) {
				space := u.space()
				r.Recv(u.fd, space)
				ahead = append(ahead, aheadRead{u: u, room: len(space)})
			}
		}
	}
	l.ahead = ahead
	if len(ahead) == 0 {
		return true
	}
	res, err := r.Submit()
	if err != nil {
		// Whether the reads happened is unknown: their connections cannot go on.
		l.ringFailed(err)
		for _, a := range ahead {
			l.aheadFailed(a, err)
		}
		clear(l.ahead)
		return true
	}
	for i, a := range ahead {
		x := res[i]
		if x.Err == syscall.EINTR {
			continue // not read: the connection reads for itself
		}
		var err error
		if x.Err != 0 && x.Err != syscall.EAGAIN {
			err = x.Err
		}
		eof := x.Err == 0 && x.N == 0
		if a.c != nil {
			if a.c.tls != nil {
				a.c.tookCipher(a.room, max(x.N, 0), eof, err)
			} else {
				a.c.took(a.room, max(x.N, 0), eof, err)
			}
			continue
		}
		if err != nil || eof {
			a.u.ended, a.u.endErr = true, err // reported by the connection's next fill
			continue
		}
		a.u.took(a.room, max(x.N, 0), false, nil)
	}
	clear(l.ahead)
	return true
}

// aheadFailed ends the connection of a read ahead whose outcome is unknown; a panic (in a Done
// callback, say) ends that connection only.
func (l *evLoop) aheadFailed(a aheadRead, err error) {
	defer l.recoverConn(a.c, a.u)
	if a.c != nil {
		a.c.close()
	} else if ec := a.u.owner; ec != nil {
		ec.failUpstream(http.StatusBadGateway, "the backend connection failed", err, 0)
	}
}

// queueSend puts a connection with new output on the send queue (once).
func (l *evLoop) queueSend(c *evConn, u *evUp) {
	if c != nil {
		if c.queued {
			return
		}
		c.queued = true
	} else {
		if u.queued {
			return
		}
		u.queued = true
	}
	l.sendQ = append(l.sendQ, sendItem{c: c, u: u})
}

// sendQueued sends the queued output, a ring's worth per system call, until moving the connections on
// queues no more.
func (l *evLoop) sendQueued() {
	for len(l.sendQ) > 0 {
		q := l.sendQ
		l.sendQ, l.sendSpare = l.sendSpare[:0], q
		for len(q) > 0 {
			k := len(q)
			if l.ring != nil {
				k = min(k, l.ring.Size())
			}
			l.sendBatch(q[:k])
			q = q[k:]
		}
		clear(l.sendSpare)
	}
}

// sendBatch sends the pending output of a batch of queued connections in one system call (one call each
// once the ring failed) and moves each on.
func (l *evLoop) sendBatch(batch []sendItem) {
	r := l.ring
	for i := range batch {
		it := &batch[i]
		it.op = -1
		if c := it.c; c != nil {
			c.queued = false
			if r != nil && !c.closed && c.broken == nil && c.pending() > 0 {
				it.op = r.Send(c.fd, c.out[c.outOff:])
			}
			continue
		}
		u := it.u
		u.queued = false
		if r != nil && !u.closed && u.broken == nil && len(u.out) > u.outOff {
			it.op = r.Send(u.fd, u.out[u.outOff:])
		}
	}
	var res []uring.Result
	var failed error
	if r != nil && r.Pending() > 0 {
		var err error
		if res, err = r.Submit(); err != nil {
			// Whether the writes happened is unknown: their connections cannot go on.
			l.ringFailed(err)
			failed = err
		}
	}
	for i := range batch {
		it := &batch[i]
		if it.op < 0 {
			if r == nil { // no ring (it failed): one write each, as without one
				l.sendDirect(it)
			}
			continue
		}
		x := uring.Result{Err: syscall.EIO}
		if failed == nil {
			x = res[it.op]
		}
		l.afterSend(it, x)
	}
}

// afterSend moves a connection on after its batched write; a panic (in a Decider, say) ends that
// connection only.
func (l *evLoop) afterSend(it *sendItem, x uring.Result) {
	defer l.recoverConn(it.c, it.u)
	if it.c != nil {
		it.c.afterSend(x)
	} else {
		it.u.afterSend(x)
	}
}

// sendDirect sends a queued connection's output with one system call, as a loop without a ring does.
func (l *evLoop) sendDirect(it *sendItem) {
	defer l.recoverConn(it.c, it.u)
	if c := it.c; c != nil {
		if !c.closed && c.pending() > 0 {
			if !c.flush() && c.broken == nil && c.sdeadline == 0 {
				c.armSend() // never tried before: the client has SendTimeout to take it
			}
			c.resume()
		}
		return
	}
	u := it.u
	if u.closed || len(u.out) == u.outOff {
		return
	}
	u.flush()
	u.failedSending()
}

// ringFailed stops using the ring: from now on every read and write is one system call.
func (l *evLoop) ringFailed(err error) {
	l.s.log.Error("gateway: io_uring failed; the event loop goes on with one system call per read and write", "err", err)
	l.ring.Close()
	l.ring = nil
}

// afterSend takes the result of a batched write of the pending output and moves the connection on.
func (ec *evConn) afterSend(x uring.Result) {
	if ec.closed {
		return
	}
	switch x.Err {
	case 0:
		ec.outOff += x.N
	case syscall.EAGAIN, syscall.EINTR:
	default:
		ec.broken = x.Err
	}
	if ec.broken == nil {
		if ec.pending() > 0 {
			if x.N > 0 || ec.sdeadline == 0 {
				ec.armSend() // the client has SendTimeout to take more
			}
		} else {
			ec.sentAll()
		}
	}
	ec.resume()
}

// afterSend takes the result of a batched write of the pending request bytes.
func (u *evUp) afterSend(x uring.Result) {
	if u.closed {
		return
	}
	switch x.Err {
	case 0:
		u.outOff += x.N
		if u.outOff == len(u.out) {
			u.sentAll()
		}
	case syscall.EAGAIN, syscall.EINTR: // the rest goes when EPOLLOUT says there is room
	default:
		u.broken = x.Err
	}
	u.failedSending()
}

// flush writes the pending request bytes that the socket takes now.
func (u *evUp) flush() {
	for len(u.out) > u.outOff {
		n, err := writeFD(u.fd, u.out[u.outOff:])
		if err != nil {
			u.broken = err
			return
		}
		if n == 0 {
			return
		}
		u.outOff += n
	}
	u.sentAll()
}

// sentAll notes that all pending request bytes were written: their buffer goes back to the loop.
func (u *evUp) sentAll() {
	u.l.putBuf(u.out)
	u.out, u.outOff = nil, 0
}

// sendBuf returns an empty buffer for output: b's if it has one, else one of the loop's.
func (l *evLoop) sendBuf(b []byte) []byte {
	if b != nil {
		return b[:0]
	}
	if n := len(l.bufs); n > 0 {
		b = l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, 0, 4096)
}

// putBuf gives an output buffer back to the loop, so that connections hold one only while they have
// output pending (idle keep-alive connections hold none).
func (l *evLoop) putBuf(b []byte) {
	if b == nil || cap(b) > 16<<10 || len(l.bufs) >= 256 {
		return
	}
	l.bufs = append(l.bufs, b[:0])
}
