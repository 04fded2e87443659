package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway/proxy/rawhttp"
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

func BenchmarkParseResponseHead(b *testing.B) {
	var h responseHead
	head := rawhttp.Response[:len(rawhttp.Response)-100]
	buf := make([]byte, len(head))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, head)
		if e := parseResponseHead(buf, &h); e.status != 0 {
			b.Fatal(e.msg)
		}
	}
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

// BenchmarkProxy_GET measures a whole keep-alive exchange: client → engine → Decider → pooled backend
// connection → response relayed, over real loopback TCP.
func BenchmarkProxy_GET(b *testing.B) {
	up, err := NewUpstream(UpstreamConfig{URLs: []*url.URL{rawhttp.Backend(b)}})
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
			if err := rawhttp.Exchange(c, br, benchHead, body); err != nil {
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
				if err := rawhttp.Exchange(c, br, benchHead, body); err != nil {
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
