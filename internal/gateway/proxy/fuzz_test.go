package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway/proxy/rawhttp"
)

// FuzzParseRequestHead checks that the request head parser never panics, and that whatever it accepts
// net/http's own parser reads the same way (method, target, framing): two parsers disagreeing is what
// request smuggling is made of.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		string(benchHead),
		"POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n Folded\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h requestHead
		buf := append([]byte(nil), data...)
		if e := parseRequestHead(buf, &h); e.status != 0 {
			if e.msg == "" || (e.status != 400 && e.status != 431 && e.status != 505 && e.status != 417) {
				t.Fatalf("refusal without words or with status %d", e.status)
			}
			return
		}
		// Accepted: the head must end exactly at the first empty line.
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 || end+4 != len(data) {
			return // the parser is given whole heads only; trailing bytes are body
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return // net/http is stricter in places (e.g. some Host forms); agreement is required the other way
		}
		if req.Method != string(h.method.bytes(buf)) {
			t.Fatalf("method %q vs net/http %q", h.method.bytes(buf), req.Method)
		}
		if req.RequestURI != string(h.target.bytes(buf)) {
			t.Fatalf("target %q vs net/http %q", h.target.bytes(buf), req.RequestURI)
		}
		if h.chunked != (len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked") {
			t.Fatalf("chunked %v vs net/http %v", h.chunked, req.TransferEncoding)
		}
		if !h.chunked {
			want := h.contentLength
			if want < 0 {
				want = 0
			}
			if req.ContentLength != want {
				t.Fatalf("content length %d vs net/http %d", want, req.ContentLength)
			}
		}
	})
}

// FuzzParseResponseHead checks the backend response parser for panics and framing agreement with net/http.
func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		string(rawhttp.Response[:len(rawhttp.Response)-100]),
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h responseHead
		buf := append([]byte(nil), data...)
		if e := parseResponseHead(buf, &h); e.status != 0 {
			if e.status != 502 || e.msg == "" {
				t.Fatalf("refusal %d %q", e.status, e.msg)
			}
			return
		}
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 || end+4 != len(data) {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			return
		}
		if resp.StatusCode != h.status {
			t.Fatalf("status %d vs net/http %d", h.status, resp.StatusCode)
		}
		if h.contentLength >= 0 && !h.chunked && resp.ContentLength != h.contentLength && h.status >= 200 && h.status != 204 && h.status != 304 {
			t.Fatalf("content length %d vs net/http %d", h.contentLength, resp.ContentLength)
		}
	})
}

// FuzzChunkedReader checks the chunked decoder for panics and agreement with net/http's decoder on
// bodies both accept.
func FuzzChunkedReader(f *testing.F) {
	for _, s := range []string{
		"3\r\nabc\r\n0\r\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
		"A\r\n0123456789\r\n0\r\n\r\n",
		"fffffffffffffffff\r\n",
		"3\nabc\n0\n\n",
		"3\r\nabcd\r\n0\r\n\r\n",
		"0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cr chunkedReader
		cr.reset(bufio.NewReaderSize(bytes.NewReader(data), 16))
		got, err := io.ReadAll(&cr)
		if err != nil {
			return
		}
		if !cr.done() {
			t.Fatal("ReadAll ended without the last chunk")
		}
		// net/http accepts a superset (bare LF); on what we accept it must decode the same bytes.
		req, rerr := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + string(data))))
		if rerr != nil {
			return
		}
		want, werr := io.ReadAll(req.Body)
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, net/http %q", got, want)
		}
	})
}

// FuzzCleanPath: a path cleanPath accepts (a decoded request path) resolves to itself for every backend
// that treats "\" as "/", drops ";parameters" or decodes once more: no segment is then "." or "..", and
// none decodes into a separator.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/../b", "/a/..;/b", "/a/%2e%2e/b", "/a/%252e", "/a;v=1/b", "/a\\..\\b", "/%2F", "/a/.;x", "/a%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !cleanPath(p) {
			return
		}
		for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
			if i := strings.IndexByte(seg, ';'); i >= 0 {
				seg = seg[:i]
			}
			if seg == "." || seg == ".." {
				t.Fatalf("%q accepted with a dot segment", p)
			}
			if d, err := url.PathUnescape(seg); err == nil && (d == "." || d == ".." || strings.ContainsAny(d, "/\\")) {
				t.Fatalf("%q accepted: segment %q decodes to %q", p, seg, d)
			}
		}
	})
}
