package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// bytesConn is a net.Conn over fixed bytes whose writes are kept: enough for readHead and writeError.
type bytesConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }
func (c *bytesConn) CloseWrite() error                { return io.ErrClosedPipe } // no lingering here
var _ interface{ CloseWrite() error } = (*bytesConn)(nil)

// goroutineHead is what the goroutine engine makes of data followed by the end of the stream: the head it
// reads (ok), or the status it answers (0: it closes without an answer).
func goroutineHead(data []byte, max int) (head []byte, status int, ok bool) {
	s := &Server{MaxHeaderBytes: max, ErrorLog: discardLog}
	s.init()
	nc := &bytesConn{r: bytes.NewReader(data)}
	c := &conn{s: s, nc: nc, raw: nc, out: writerOnly{nc}}
	c.br = bufio.NewReaderSize(nc, 4096)
	if c.readHead() {
		return c.head, 0, true
	}
	if c.bw != nil {
		c.bw.Flush()
	}
	if out := nc.out.Bytes(); len(out) >= 12 {
		status, _ = strconv.Atoi(string(out[9:12]))
	}
	return nil, status, false
}

// loopHead is what the event-loop engine makes of the same bytes (process and scanRequestHead).
func loopHead(data []byte, max int) (head []byte, status int, ok bool) {
	skip, end, e := scanRequestHead(data, max)
	switch {
	case e.status != 0:
		return nil, e.status, false
	case end > 0:
		return data[skip:end], 0, true
	case skip < len(data):
		return nil, 400, false // the connection ended in the middle of a head
	}
	return nil, 0, false
}

// FuzzScanRequestHead checks that the event-loop engine finds the same request head in the same bytes as
// the goroutine engine, or refuses them with the same status: the two engines must not read one stream
// two ways.
func FuzzScanRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"\r\n\r\n",
		"GET / HTTP/1.1\r\nX: " + string(bytes.Repeat([]byte("a"), 300)) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n",
	} {
		f.Add([]byte(s), uint16(256))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		limit := int(max%2048) + 16
		gh, gs, gok := goroutineHead(data, limit)
		lh, ls, lok := loopHead(data, limit)
		if gok != lok || gs != ls || !bytes.Equal(gh, lh) {
			t.Fatalf("%q (limit %d): goroutine engine head %q status %d ok %v; event loop head %q status %d ok %v",
				data, limit, gh, gs, gok, lh, ls, lok)
		}
	})
}
