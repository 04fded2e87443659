// Package rawhttp is the client and backend of the gateway's exchange
// benchmarks: plain sockets that speak just enough HTTP/1.1 and allocate
// nothing per request, so that allocs/op are the code under test's own.
package rawhttp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"testing"
)

// Response is what Backend answers to every request: 200 with a 100-byte
// JSON body, as the peer benchmarks' backend does.
var Response = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sat, 05 Dec 2026 18:00:00 GMT\r\n" +
	"Content-Length: 100\r\n\r\n" + `{"status":"ok","service":"bench-backend","version":"1.0.0","items":[1,2,3,4,5],"message":"hello!!!"}`)

// Backend answers every request head on every keep-alive connection with
// Response (request bodies are not read); it stops with the test.
func Backend(tb testing.TB) *url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := c.Write(Response); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// Exchange writes req on c and reads one response with a Content-Length
// body into body; a status other than 200 is an error.
func Exchange(c net.Conn, br *bufio.Reader, req, body []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	first, ok, n := true, false, -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			first, ok = false, bytes.HasPrefix(line, []byte("HTTP/1.1 200 "))
		}
		if len(line) == 2 {
			break
		}
		const cl = "Content-Length: "
		if len(line) > len(cl) && string(line[:len(cl)]) == cl {
			n, _ = strconv.Atoi(string(line[len(cl) : len(line)-2]))
		}
	}
	if n < 0 || n > len(body) {
		return io.ErrUnexpectedEOF
	}
	if _, err := io.ReadFull(br, body[:n]); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("refused: %s", body[:n])
	}
	return nil
}
