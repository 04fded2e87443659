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
