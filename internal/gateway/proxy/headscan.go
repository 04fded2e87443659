package proxy

import "bytes"

// scanRequestHead finds a request head in b as the goroutine engine's readHead does: up to 4 empty lines
// before it are skipped (skip bytes), an empty line of a bare LF is refused, a head longer than max gets
// 431. end is 0 while the head is incomplete.
func scanRequestHead(b []byte, max int) (skip, end int, e headError) {
	leading, off, size := 0, 0, 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if size+len(b)-off > max {
				return 0, 0, errHeadTooLarge
			}
			return skip, 0, headError{}
		}
		next := off + i + 1
		line := b[off:next]
		if size+len(line) > max {
			return 0, 0, errHeadTooLarge
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			if len(line) == 1 {
				return 0, 0, errBareLF
			}
			if size == 0 && leading < 4 {
				leading++ // RFC 9112 2.2: ignore an empty line before the request line
				skip, off = next, next
				continue
			}
			return skip, next, headError{}
		}
		size += len(line)
		off = next
	}
}

var errHeadTooLarge = headError{431, "the request line and headers exceed the size limit; send smaller headers"}

// responseHeadEnd returns the length of the response head at the start of b, 0 while incomplete, -1 when
// it exceeds 64 KiB.
func responseHeadEnd(b []byte) int {
	off := 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if len(b) > 64<<10 {
				return -1
			}
			return 0
		}
		next := off + i + 1
		if next > 64<<10 {
			return -1
		}
		line := b[off:next]
		if off > 0 && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return next
		}
		off = next
	}
}
