package proxy

import (
	"net"
	"time"
)

// tlsWire is the connection under an inbound tls.Conn. While a goroutine serves the connection (the
// handshake always, HTTP/2, and HTTP/1.1 where there is no event loop) it is the accepted socket. Once an
// event loop serves it, the loop reads and writes the socket itself and the wire only moves bytes
// between the loop's buffers and the tls.Conn: Read gives the ciphertext the loop read (errWouldBlock
// when there is none yet, which crypto/tls takes as a temporary error and keeps its partial record), and
// Write hands records to the loop's output. Should the loop hand the connection back to a goroutine,
// the ciphertext it read and the TLS layer did not take is read first.
type tlsWire struct {
	nc     net.Conn // the socket while a goroutine serves the connection (nil while a loop does)
	loop   wireLoop // the loop's side, while a loop serves the connection
	prefix []byte   // ciphertext read by a loop before it handed the connection back
	laddr  net.Addr // kept for LocalAddr and RemoteAddr while a loop serves the connection
	raddr  net.Addr
	// Where the bytes read so far leave the record framing: hdrN bytes of a record header (hdr) are
	// read, or recLeft bytes of a record's body are still to come.
	hdr     [5]byte
	hdrN    int
	recLeft int
}

// wireLoop is what an event loop does for a tlsWire.
type wireLoop interface {
	readCipher(p []byte) (int, error)  // the ciphertext read and not yet taken, or errWouldBlock, or io.EOF
	writeCipher(p []byte) (int, error) // a record to send (kept until the socket takes it)
}

func newTLSWire(nc net.Conn) *tlsWire {
	return &tlsWire{nc: nc, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
}

// toLoop makes the loop's side serve the wire's reads and writes (the loop owns the socket from now on).
func (w *tlsWire) toLoop(l wireLoop) {
	w.loop, w.nc = l, nil
}

// toGoroutine makes nc serve the wire again, after the ciphertext the loop read (rest).
func (w *tlsWire) toGoroutine(nc net.Conn, rest []byte) {
	w.loop, w.nc, w.prefix = nil, nc, rest
}

func (w *tlsWire) Read(p []byte) (n int, err error) {
	switch {
	case w.loop != nil:
		n, err = w.loop.readCipher(p)
	case len(w.prefix) > 0:
		n = copy(p, w.prefix)
		w.prefix = w.prefix[n:]
	default:
		n, err = w.nc.Read(p)
	}
	w.frame(p[:n])
	return n, err
}

// frame follows the record framing of the bytes read.
func (w *tlsWire) frame(b []byte) {
	for len(b) > 0 {
		if w.recLeft > 0 {
			k := min(w.recLeft, len(b))
			w.recLeft -= k
			b = b[k:]
			continue
		}
		w.hdr[w.hdrN] = b[0]
		w.hdrN++
		b = b[1:]
		if w.hdrN == len(w.hdr) {
			w.recLeft = int(w.hdr[3])<<8 | int(w.hdr[4])
			w.hdrN = 0
		}
	}
}

// midRecord reports whether the bytes read end inside a record: the TLS layer holds part of one.
func (w *tlsWire) midRecord() bool { return w.hdrN > 0 || w.recLeft > 0 }

func (w *tlsWire) Write(p []byte) (int, error) {
	if w.loop != nil {
		return w.loop.writeCipher(p)
	}
	return w.nc.Write(p)
}

// Close closes the socket while a goroutine serves the connection; a loop closes it itself.
func (w *tlsWire) Close() error {
	if w.nc == nil {
		return nil
	}
	return w.nc.Close()
}

func (w *tlsWire) LocalAddr() net.Addr  { return w.laddr }
func (w *tlsWire) RemoteAddr() net.Addr { return w.raddr }

// The deadlines are the socket's while a goroutine serves the connection; a loop keeps its own.

func (w *tlsWire) SetDeadline(t time.Time) error {
	if w.nc == nil {
		return nil
	}
	return w.nc.SetDeadline(t)
}

func (w *tlsWire) SetReadDeadline(t time.Time) error {
	if w.nc == nil {
		return nil
	}
	return w.nc.SetReadDeadline(t)
}

func (w *tlsWire) SetWriteDeadline(t time.Time) error {
	if w.nc == nil {
		return nil
	}
	return w.nc.SetWriteDeadline(t)
}

// errWouldBlock is the wire's answer to a read when the loop has no ciphertext for it yet. crypto/tls
// keeps a partial record and the connection usable after a net.Error that is Temporary.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no TLS record bytes have arrived yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }
