package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"
)

var benchHead = []byte("GET /api/orders/123?expand=items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\n" +
	"Accept: application/json\r\nAccept-Encoding: gzip\r\nAuthorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig\r\n" +
	"X-Request-Id: 0af7651916cd43dd8448eb211c80319c\r\nConnection: keep-alive\r\n\r\n")

func BenchmarkParseRequestHead(b *testing.B) {
	var h requestHead
	buf := make([]byte, len(benchHead))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchHead)))
	for b.Loop() {
		copy(buf, benchHead)
		if e := parseRequestHead(buf, &h); e.status != 0 {
			b.Fatal(e.msg)
		}
	}
}

var benchResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sat, 05 Dec 2026 18:00:00 GMT\r\n" +
	"Content-Length: 100\r\n\r\n" + `{"status":"ok","service":"bench-backend","version":"1.0.0","items":[1,2,3,4,5],"message":"hello!!!"}`)

func BenchmarkParseResponseHead(b *testing.B) {
	var h responseHead
	head := benchResponse[:len(benchResponse)-100]
	buf := make([]byte, len(head))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, head)
		if e := parseResponseHead(buf, &h); e.status != 0 {
			b.Fatal(e.msg)
		}
	}
}

// rawBenchBackend answers every request head with benchResponse, allocating nothing per request, so that
// allocs/op of the exchange benchmark are the engine's.
func rawBenchBackend(tb testing.TB) *url.URL {
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
					if _, err := c.Write(benchResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

type benchDecider struct{ up *Upstream }

func (d benchDecider) Decide(r *http.Request) Decision {
	if r.Header.Get("Authorization") == "" {
		return Decision{Status: 401}
	}
	return Decision{Upstream: d.up}
}

func benchClient(b *testing.B, addr string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// roundTripRaw sends benchHead and reads one response with a Content-Length body.
func roundTripRaw(c net.Conn, br *bufio.Reader, body []byte) error {
	if _, err := c.Write(benchHead); err != nil {
		return err
	}
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
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
	_, err := io.ReadFull(br, body[:n])
	return err
}

// BenchmarkProxy_GET measures a whole keep-alive exchange: client → engine → Decider → pooled backend
// connection → response relayed, over real loopback TCP.
func BenchmarkProxy_GET(b *testing.B) {
	up, err := NewUpstream(UpstreamConfig{URLs: []*url.URL{rawBenchBackend(b)}})
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	s := &Server{Decider: benchDecider{up}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(ln)
	defer s.Shutdown(b.Context())
	b.Run("sequential", func(b *testing.B) {
		c, br := benchClient(b, ln.Addr().String())
		defer c.Close()
		body := make([]byte, 4096)
		b.ReportAllocs()
		for b.Loop() {
			if err := roundTripRaw(c, br, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			c, br := benchClient(b, ln.Addr().String())
			defer c.Close()
			body := make([]byte, 4096)
			for pb.Next() {
				if err := roundTripRaw(c, br, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestBenchHarness runs the engine as a standalone proxy for load tests with wrk, when
// PROXY_BENCH_LISTEN (address to serve) and PROXY_BENCH_BACKEND (backend URL) are set; it serves for
// PROXY_BENCH_SECONDS (default 60). Build with `go test -c` and run the binary with -test.run BenchHarness.
func TestBenchHarness(t *testing.T) {
	listen, backendURL := os.Getenv("PROXY_BENCH_LISTEN"), os.Getenv("PROXY_BENCH_BACKEND")
	if listen == "" || backendURL == "" {
		t.Skip("set PROXY_BENCH_LISTEN and PROXY_BENCH_BACKEND to run the load-test harness")
	}
	u, err := url.Parse(backendURL)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewUpstream(UpstreamConfig{URLs: []*url.URL{u}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.Atoi(os.Getenv("PROXY_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 60
	}
	s := &Server{Decider: benchDecider{up}}
	go func() {
		time.Sleep(time.Duration(secs) * time.Second)
		s.Shutdown(t.Context())
	}()
	s.Serve(ln)
}
