package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		status     int
		closeAfter bool
		rest       string // what must be left unread: the next response
		wantErr    bool
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcNEXT", status: 200, rest: "NEXT"},
		{name: "chunked with trailer", in: "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT", status: 401, rest: "NEXT"},
		{name: "connection close", in: "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 403, closeAfter: true},
		{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, closeAfter: true},
		{name: "body until close", in: "HTTP/1.1 200 OK\r\n\r\nall of it", status: 200, closeAfter: true},
		{name: "no body on 204", in: "HTTP/1.1 204 No Content\r\n\r\nNEXT", status: 204, rest: "NEXT"},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n", wantErr: true},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -\r\n\r\n", wantErr: true},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: true},
		{name: "truncated", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			status, closeAfter, err := readResponse(br)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("status %d, want an error", status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || closeAfter != tc.closeAfter {
				t.Fatalf("got %d close=%v, want %d close=%v", status, closeAfter, tc.status, tc.closeAfter)
			}
			if rest, _ := br.ReadString(0); rest != tc.rest {
				t.Fatalf("left %q unread, want %q", rest, tc.rest)
			}
		})
	}
}

// FuzzReadResponse: whatever a server sends, readResponse returns or errors, never panics.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 500 x\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = readResponse(bufio.NewReader(strings.NewReader(string(b))))
	})
}
