package main

import (
	"io"
	"strings"
	"sync/atomic"
)

// Every PUT body is {"value":"TAG PADDING"}: TAG is the request's sequence
// number in 16 hex digits (so each request sets a distinct value) and
// PADDING is 'x' up to the value size. The constant parts are built once and
// shared read-only by all requests; a body costs one small allocation
// whatever the value size, and no buffer is ever rewritten while the HTTP
// transport might still be reading it.
const (
	bodyPrefix = `{"value":"`
	bodySuffix = `"}`
	tagLen     = 16
)

// valueSource hands out request bodies with increasing sequence numbers.
type valueSource struct {
	size int    // value size in bytes
	pad  string // 'x' * (size - tag length), shared by all bodies
	seq  atomic.Uint64
}

func newValueSource(size int, start uint64) *valueSource {
	s := &valueSource{size: size, pad: strings.Repeat("x", size-min(size, tagLen))}
	s.seq.Store(start)
	return s
}

// next returns the body of the next request.
func (s *valueSource) next() *valueBody {
	b := &valueBody{src: s}
	n := s.seq.Add(1)
	const hex = "0123456789abcdef"
	for i := tagLen - 1; i >= 0; i-- {
		b.tag[i] = hex[n&0xf]
		n >>= 4
	}
	return b
}

// valueBody is one request body, an io.ReadCloser over the JSON document.
type valueBody struct {
	src *valueSource
	tag [tagLen]byte
	off int // bytes read so far
}

// tagPart returns the part of the tag that is in the value: its last
// digits when the value is shorter than the tag.
func (b *valueBody) tagPart() []byte { return b.tag[tagLen-min(b.src.size, tagLen):] }

// Len returns the body's total length in bytes.
func (b *valueBody) Len() int { return len(bodyPrefix) + b.src.size + len(bodySuffix) }

// value returns the secret value the body sets.
func (b *valueBody) value() string { return string(b.tagPart()) + b.src.pad }

// Read implements io.Reader over prefix, tag, padding and suffix.
func (b *valueBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		pos := b.off
		var c int
		switch tag := b.tagPart(); {
		case pos < len(bodyPrefix):
			c = copy(p[n:], bodyPrefix[pos:])
		case pos < len(bodyPrefix)+len(tag):
			c = copy(p[n:], tag[pos-len(bodyPrefix):])
		case pos < len(bodyPrefix)+b.src.size:
			c = copy(p[n:], b.src.pad[pos-len(bodyPrefix)-len(tag):])
		case pos < b.Len():
			c = copy(p[n:], bodySuffix[pos-len(bodyPrefix)-b.src.size:])
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		n += c
		b.off += c
	}
	return n, nil
}

// Close implements io.Closer; there is nothing to release.
func (b *valueBody) Close() error { return nil }
