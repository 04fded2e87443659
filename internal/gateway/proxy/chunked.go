package proxy

import (
	"bufio"
	"errors"
	"io"
)

// errMalformedChunked is returned when a chunked body does not follow RFC 9112 7.1 strictly.
var errMalformedChunked = errors.New("malformed chunked body")

// chunkedReader decodes a chunked body from a bufio.Reader. Chunk-size lines (with extensions) are bounded
// by maxChunkLine, trailers by maxTrailerBytes; trailers are read and dropped.
type chunkedReader struct {
	r    *bufio.Reader
	n    int64 // bytes left in the current chunk
	err  error
	need bool // a chunk-size line must be read next
}

func (cr *chunkedReader) reset(r *bufio.Reader) {
	*cr = chunkedReader{r: r, need: true}
}

// done reports whether the body was read to its end (last chunk and trailers).
func (cr *chunkedReader) done() bool { return cr.err == io.EOF }

func (cr *chunkedReader) Read(p []byte) (int, error) {
	if cr.err != nil {
		return 0, cr.err
	}
	if cr.need {
		if cr.err = cr.readSize(); cr.err != nil {
			return 0, cr.err
		}
		if cr.n == 0 {
			if cr.err = cr.readTrailers(); cr.err == nil {
				cr.err = io.EOF
			}
			return 0, cr.err
		}
		cr.need = false
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > cr.n {
		p = p[:cr.n]
	}
	n, err := cr.r.Read(p)
	cr.n -= int64(n)
	if cr.n == 0 && err == nil {
		err = cr.readCRLF()
		cr.need = true
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	cr.err = err
	return n, err
}

func (cr *chunkedReader) readCRLF() error {
	b, err := cr.r.Peek(2)
	if err != nil {
		return eofUnexpected(err)
	}
	if b[0] != '\r' || b[1] != '\n' {
		return errMalformedChunked
	}
	cr.r.Discard(2)
	return nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine reads one CRLF-terminated line of at most limit bytes (CRLF included) and returns it without CRLF.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > limit {
		return nil, errMalformedChunked
	}
	if err != nil {
		return nil, eofUnexpected(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errMalformedChunked
	}
	return line[:len(line)-2], nil
}

func (cr *chunkedReader) readSize() error {
	line, err := readLine(cr.r, maxChunkLine)
	if err != nil {
		return err
	}
	n, ok := parseChunkSize(line)
	if !ok {
		return errMalformedChunked
	}
	cr.n = n
	return nil
}

// parseChunkSize parses "1*HEXDIG [ BWS ; ext ]"; extensions are checked for control characters and ignored.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 { // 15 hex digits keep n below 2^60
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	j := 0
	for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
		j++
	}
	if j == len(rest) {
		return n, j == 0 // whitespace only after the size is not allowed
	}
	if rest[j] != ';' {
		return 0, false
	}
	for _, c := range rest[j:] {
		if !validValueByte(c) {
			return 0, false
		}
	}
	return n, true
}

func (cr *chunkedReader) readTrailers() error {
	total := 0
	for {
		line, err := readLine(cr.r, maxTrailerBytes)
		if err != nil {
			return err
		}
		total += len(line) + 2
		if total > maxTrailerBytes {
			return errMalformedChunked
		}
		if len(line) == 0 {
			return nil
		}
		colon := -1
		for i, c := range line {
			if c == ':' && colon < 0 {
				colon = i
			}
			if !validValueByte(c) {
				return errMalformedChunked
			}
		}
		if colon <= 0 || !validToken(line[:colon]) {
			return errMalformedChunked
		}
	}
}

// writeChunkHeader appends the size line of a chunk of n bytes.
func writeChunkHeader(w *bufio.Writer, n int) {
	var buf [18]byte
	i := len(buf)
	buf[i-1], buf[i-2] = '\n', '\r'
	i -= 2
	for {
		i--
		buf[i] = "0123456789abcdef"[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	w.Write(buf[i:])
}

var _ io.Reader = (*chunkedReader)(nil)
