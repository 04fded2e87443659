package proxy

import "bytes"

// chunkDecoder decodes a chunked body from bytes as they arrive (the event-loop engine's counterpart of
// chunkedReader, with the same strictness and limits): each call to next consumes framing and returns the
// chunk data found, without copying.
type chunkDecoder struct {
	state   uint8
	n       int64 // data bytes left in the current chunk
	trailer int   // trailer bytes so far, CRLFs included
}

const (
	chunkSize uint8 = iota
	chunkData
	chunkDataEnd // the CRLF after a chunk's data
	chunkTrailer
	chunkDone
)

// chunkLineBuffer is the goroutine engine's backend read buffer: a line that does not fit in it is
// malformed there (bufio.ErrBufferFull), so here too.
const chunkLineBuffer = 8192

func (d *chunkDecoder) reset() { *d = chunkDecoder{} }

// done reports whether the body was decoded to its end (last chunk and trailers).
func (d *chunkDecoder) done() bool { return d.state == chunkDone }

// next decodes from the start of b. It returns how many bytes of b it used and, among them, the chunk data
// found (data is a sub-slice of b); used is 0 when b holds too little to go on. err is errMalformedChunked.
func (d *chunkDecoder) next(b []byte) (used int, data []byte, err error) {
	for {
		switch d.state {
		case chunkDone:
			return used, nil, nil
		case chunkData:
			if used == len(b) {
				return used, nil, nil
			}
			n := int64(len(b) - used)
			if n > d.n {
				n = d.n
			}
			data = b[used : used+int(n)]
			d.n -= n
			if d.n == 0 {
				d.state = chunkDataEnd
			}
			return used + int(n), data, nil
		case chunkDataEnd:
			if len(b)-used < 2 {
				return used, nil, nil
			}
			if b[used] != '\r' || b[used+1] != '\n' {
				return used, nil, errMalformedChunked
			}
			used += 2
			d.state = chunkSize
		case chunkSize, chunkTrailer:
			limit := maxChunkLine
			if d.state == chunkTrailer {
				limit = maxTrailerBytes
			}
			line, n, ok := chunkLine(b[used:], min(limit, chunkLineBuffer))
			if !ok {
				return used, nil, errMalformedChunked
			}
			if n == 0 {
				return used, nil, nil
			}
			used += n
			if d.state == chunkSize {
				size, ok := parseChunkSize(line)
				if !ok {
					return used, nil, errMalformedChunked
				}
				d.n = size
				d.state = chunkData
				if size == 0 {
					d.state = chunkTrailer
				}
				continue
			}
			if d.trailer += n; d.trailer > maxTrailerBytes {
				return used, nil, errMalformedChunked
			}
			if len(line) == 0 {
				d.state = chunkDone
				continue
			}
			if !validTrailer(line) {
				return used, nil, errMalformedChunked
			}
		}
	}
}

// chunkLine finds a CRLF-ended line of at most limit bytes (CRLF included) at the start of b: the line
// without CRLF and its length with it, n 0 while incomplete; ok false when malformed.
func chunkLine(b []byte, limit int) (line []byte, n int, ok bool) {
	i := bytes.IndexByte(b[:min(len(b), limit)], '\n')
	if i < 0 {
		return nil, 0, len(b) < limit
	}
	if i < 1 || b[i-1] != '\r' {
		return nil, 0, false
	}
	return b[:i-1], i + 1, true
}

// validTrailer checks a trailer field line as chunkedReader.readTrailers does.
func validTrailer(line []byte) bool {
	colon := -1
	for i, c := range line {
		if c == ':' && colon < 0 {
			colon = i
		}
		if !validValueByte(c) {
			return false
		}
	}
	return colon > 0 && validToken(line[:colon])
}
