//go:build linux

package proxy

import (
	"crypto/tls"
	"io"
)

// A TLS listener's HTTP/1.1 connection is served by an event loop once a goroutine has made its
// handshake (conn.serve, evEngine.adoptTLS). crypto/tls has no non-blocking mode, but it keeps a partial
// record and stays usable when its connection's Read fails with a temporary net.Error; so the loop reads
// the socket itself (with the turn's other reads when it has an io_uring), and then asks the tls.Conn for
// plaintext over a wire (tlswire.go) that gives it the ciphertext read and says errWouldBlock after it.
// Records the tls.Conn writes go to the connection's output like any other bytes. The rest of the loop
// sees plaintext: ec.in holds decrypted bytes, and ec.Write encrypts. A goroutine per connection would
// make two reads per request (one finding the socket empty) and park and wake once; the loop makes one.

// evTLS is the TLS layer of a client connection served by a loop.
type evTLS struct {
	tc *tls.Conn
	w  *tlsWire
	// cin holds ciphertext read from the socket: cin[coff:] is what tc has not taken yet.
	cin  []byte
	coff int
	eof  bool // the socket's end of stream was read (tc learns it once it took cin)
	// more says that decrypting may give plaintext (or the end of stream) without reading the socket:
	// tc may hold a record, or cin bytes or the socket's end are not yet taken.
	more bool
	// notified says a close_notify alert was sent (or must not be: the connection failed).
	notified bool
}

// evTLSReadBuf is the size of a TLS connection's ciphertext buffer (tc keeps partial records itself).
const evTLSReadBuf = 4096

// readCipher gives tc the ciphertext read and not taken yet (the wire's Read while the loop serves it).
func (ec *evConn) readCipher(p []byte) (int, error) {
	t := ec.tls
	if t.coff < len(t.cin) {
		n := copy(p, t.cin[t.coff:])
		t.coff += n
		return n, nil
	}
	if t.eof {
		return 0, io.EOF
	}
	return 0, errWouldBlock
}

// writeCipher sends the records tc wrote (the wire's Write while the loop serves it).
func (ec *evConn) writeCipher(p []byte) (int, error) { return ec.writeRaw(p) }

// tlsMore reports whether decrypting may give more without reading the socket.
func (ec *evConn) tlsMore() bool { return ec.tls != nil && ec.tls.more }

// cipherSpace returns the free part of the ciphertext buffer (empty once tc took all of it).
func (t *evTLS) cipherSpace() []byte {
	if t.coff == len(t.cin) {
		t.cin, t.coff = t.cin[:0], 0
	}
	if t.cin == nil {
		t.cin = make([]byte, 0, evTLSReadBuf)
	}
	return t.cin[len(t.cin):cap(t.cin)]
}

// fillTLS reads ciphertext from the socket when decrypting needs more, then decrypts into the read
// buffer once; false when the connection ended.
func (ec *evConn) fillTLS() bool {
	t := ec.tls
	if space := t.cipherSpace(); !t.more && ec.readable && len(space) > 0 {
		n, eof, err := readFD(ec.fd, space)
		if !ec.tookCipher(len(space), n, eof, err) {
			return false
		}
	}
	return ec.decrypt()
}

// tookCipher keeps what a socket read of room bytes of ciphertext gave; false when the connection ended.
func (ec *evConn) tookCipher(room, n int, eof bool, err error) bool {
	t := ec.tls
	if err != nil {
		ec.close()
		return false
	}
	if eof {
		t.eof, t.more, ec.readable = true, true, false
		return true
	}
	if n < room && !ec.peerDone {
		ec.readable = false // a short read drained the socket; the next bytes bring a new edge
	}
	if n > 0 {
		t.cin = t.cin[:len(t.cin)+n]
		t.more = true
	}
	return true
}

// decrypt takes plaintext from tc into the free part of the read buffer, until it is full or tc needs
// bytes that have not arrived; false when the connection ended (a bad record or an alert from the client).
func (ec *evConn) decrypt() bool {
	t := ec.tls
	space := ec.space()
	got := 0
	var err error
	for got < len(space) && err == nil {
		var n int
		n, err = t.tc.Read(space[got:])
		got += n
	}
	ec.in = ec.in[:len(ec.in)+got]
	switch err {
	case nil: // the buffer is full: tc may hold more
	case errWouldBlock:
		t.more = false
	case io.EOF: // close_notify, or the socket's end at a record boundary
		t.more = false
		t.cin, t.coff = t.cin[:0], 0 // what followed a close_notify means nothing
		ec.eof = true
	default:
		t.notified = true // tc answered a bad record with an alert, or the client sent one
		ec.close()
		return false
	}
	return true
}

// lastWords writes, as the connection is about to be closed, the close_notify alert that tls.Conn.Close
// would send, when no answer is cut short (nothing else is waiting to be written), or else what is waiting
// when it is an alert tc sent about a bad record (best effort: the socket is closed right after).
func (ec *evConn) lastWords() {
	t := ec.tls
	if ec.broken != nil {
		return
	}
	if !t.notified && ec.pending() == 0 {
		t.notified = true
		t.tc.CloseWrite()
	}
	if ec.pending() > 0 && t.notified {
		writeFD(ec.fd, ec.out[ec.outOff:])
	}
}

// headBegun reports whether part of a request head may have arrived: plaintext buffered, or on TLS
// ciphertext not yet decrypted, or part of a record that tc holds (so that such a connection is not
// idle: Shutdown waits for it, and ReadHeaderTimeout bounds it).
func (ec *evConn) headBegun() bool {
	t := ec.tls
	return ec.off < len(ec.in) || (t != nil && (t.more || t.w.midRecord()))
}

// notifyBeforeClosing queues a close_notify alert after the last answer, before the socket is shut or
// closed once the output is written.
func (ec *evConn) notifyBeforeClosing() {
	t := ec.tls
	if t == nil || t.notified || ec.broken != nil {
		return
	}
	t.notified = true
	t.tc.CloseWrite()
}
