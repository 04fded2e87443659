//go:build linux

package proxy

import (
	"net/http"
	"syscall"
)

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
	queued   bool // on the loop's send queue
	ended    bool // a read ahead saw the end of the stream (endErr nil) or endErr: fill reports it
	endErr   error
	broken   error
	idleAt   int64
	closed   bool
}

// Write sends p to the backend, keeping what the socket does not take for when it becomes writable.
func (u *evUp) Write(p []byte) (int, error) {
	if u.broken != nil {
		return 0, u.broken
	}
	if u.l.ring != nil {
		// Sent with the loop's other writes at the end of its turn (evring_linux.go).
		if len(p) == 0 {
			return 0, nil
		}
		if len(u.out) == u.outOff {
			u.out, u.outOff = u.l.sendBuf(u.out), 0
		}
		u.out = append(u.out, p...)
		u.l.queueSend(nil, u)
		return len(p), nil
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
		u.out, u.outOff = u.l.sendBuf(u.out), 0
	}
	u.out = append(u.out, rest...)
	return len(p), nil // all of p is taken: written or kept
}

// fill reads once from the backend into the free end of in.
func (u *evUp) fill() (n int, eof bool, err error) {
	if u.ended {
		// The end of the stream or an error that readAhead met is reported now.
		u.ended, u.readable = false, false
		eof, err = u.endErr == nil, u.endErr
		u.endErr = nil
		return 0, eof, err
	}
	space := u.space()
	n, eof, err = readFD(u.fd, space)
	return u.took(len(space), n, eof, err)
}

// space makes room at the end of in and returns it.
func (u *evUp) space() []byte {
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
	return u.in[len(u.in):cap(u.in)]
}

// took keeps what a read of a buffer space of room bytes gave.
func (u *evUp) took(room, n int, eof bool, err error) (int, bool, error) {
	if err != nil || eof {
		u.readable = false
		return 0, eof, err
	}
	if n < room && !u.peerDone {
		u.readable = false
	}
	u.in = u.in[:len(u.in)+n]
	return n, false, nil
}

// note records what an event says of the socket.
func (u *evUp) note(events uint32) {
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.peerDone = true
	}
}

// onEvent acts on an event whose note was taken.
func (u *evUp) onEvent(events uint32) {
	if u.closed {
		return
	}
	if events&syscall.EPOLLOUT != 0 && len(u.out) > u.outOff {
		u.flush()
	}
	ec := u.owner
	if ec == nil {
		if u.readable {
			u.l.dropIdle(u) // the backend closed an idle connection (or spoke unasked)
		}
		return
	}
	if u.failedSending() {
		return
	}
	switch ec.st {
	case evWait:
		if u.readable || u.ended || len(u.in) > u.off { // readAhead may have read for it
			ec.readResponse()
		}
	case evBody:
		ec.pump()
	}
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

// failedSending ends the exchange with a 502 when writing its request to the backend failed; it
// reports whether it did.
func (u *evUp) failedSending() bool {
	ec := u.owner
	if ec == nil || u.broken == nil || ec.st != evWait {
		return false
	}
	ec.failUpstream(http.StatusBadGateway, "the backend connection failed while sending the request", u.broken, 0)
	return true
}
