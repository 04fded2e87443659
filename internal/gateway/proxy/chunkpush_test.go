package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// pullDecode decodes body with the goroutine engine's chunkedReader (over a bufio.Reader of its backend
// buffer size): the data, and how it ended (nil: complete; errMalformedChunked; io.ErrUnexpectedEOF).
func pullDecode(body []byte) ([]byte, error) {
	var cr chunkedReader
	cr.reset(bufio.NewReaderSize(bytes.NewReader(body), chunkLineBuffer))
	data, err := io.ReadAll(&cr)
	if err == nil && !cr.done() {
		err = io.ErrUnexpectedEOF
	}
	return data, err
}

// pushDecode decodes body with chunkDecoder, given the bytes in pieces of step bytes as a socket would.
func pushDecode(body []byte, step int) ([]byte, error) {
	var d chunkDecoder
	var data, buf []byte
	for fed := 0; ; {
		used, seg, err := d.next(buf)
		data = append(data, seg...)
		buf = buf[used:]
		if err != nil {
			return data, err
		}
		if d.done() {
			return data, nil
		}
		if used > 0 {
			continue
		}
		if fed == len(body) {
			return data, io.ErrUnexpectedEOF
		}
		n := min(step, len(body)-fed)
		buf = append(buf, body[fed:fed+n]...)
		fed += n
	}
}

func TestChunkDecoder_AgreesWithChunkedReader(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 9000)
	tests := []struct {
		name string
		body string
	}{
		{name: "simple", body: "3\r\nabc\r\n0\r\n\r\n"},
		{name: "extension and trailer", body: "3;x=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"},
		{name: "bare LF after size", body: "3\nabc\r\n0\r\n\r\n"},
		{name: "missing CRLF after data", body: "3\r\nabcd\r\n0\r\n\r\n"},
		{name: "truncated", body: "5\r\nabc"},
		{name: "no last chunk", body: "3\r\nabc\r\n"},
		{name: "size line too long", body: "3;" + string(long[:5000]) + "\r\nabc\r\n0\r\n\r\n"},
		{name: "trailer without colon", body: "0\r\nnope\r\n\r\n"},
		{name: "trailer line longer than the buffer", body: "0\r\nX: " + string(long) + "\r\n\r\n"},
		{name: "space after size", body: "3 \r\nabc\r\n0\r\n\r\n"},
		{name: "sixteen hex digits", body: "0000000000000003\r\nabc\r\n0\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkChunkDecoders(t, []byte(tc.body))
		})
	}
}

func checkChunkDecoders(t *testing.T, body []byte) {
	t.Helper()
	want, werr := pullDecode(body)
	for _, step := range []int{1, 2, 7, 4096, len(body) + 1} {
		got, err := pushDecode(body, step)
		if !bytes.Equal(got, want) || !sameChunkEnd(err, werr) {
			t.Fatalf("%q in pieces of %d: data %q, end %v; chunkedReader: data %q, end %v", body, step, got, err, want, werr)
		}
	}
}

// sameChunkEnd compares how two decodings ended: complete, malformed, or cut short.
func sameChunkEnd(a, b error) bool {
	return errors.Is(a, errMalformedChunked) == errors.Is(b, errMalformedChunked) && (a == nil) == (b == nil)
}

// FuzzChunkDecoder checks that the event-loop engine decodes a chunked body exactly as the goroutine
// engine does: the same data, and the same verdict (complete, malformed, cut short).
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("3;x=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"))
	f.Add([]byte("5\r\nabc"))
	f.Add([]byte("0\r\nnope\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkChunkDecoders(t, body)
	})
}
