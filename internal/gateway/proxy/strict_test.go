package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestProxy_RefusesAmbiguousRequests(t *testing.T) {
	var hits atomic.Int64
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }), UpstreamConfig{})
	long := strings.Repeat("a", 70<<10)
	var many strings.Builder
	for i := 0; i < 101; i++ {
		many.WriteString("X-H: v\r\n")
	}
	tests := []struct {
		name, raw  string
		wantStatus int
	}{
		{"te and cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
		{"te not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"te list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
		{"te twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"te with junk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked-x\r\n\r\n", 400},
		{"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two cl equal", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
		{"cl list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
		{"cl sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400},
		{"cl hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400},
		{"cl huge", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n", 400},
		{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n", 400},
		{"empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"del in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400},
		{"bare cr in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
		{"bare lf in headers", "GET / HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n", 400},
		{"bare lf request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400},
		{"bare lf end", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400},
		{"absolute form", "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"authority form", "CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n", 400},
		{"connect with a path", "CONNECT /a HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"trace", "TRACE /a HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"http/2.0 line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		{"http/0.9 style", "GET /\r\n\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"dot segment", "GET /api/../admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded dot segment", "GET /api/%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"dot segment with a parameter", "GET /api/..;/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded dot segment with a parameter", "GET /api/%2e%2e;x=1/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"dot segment with an encoded semicolon", "GET /api/..%3b/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"single dot with a parameter", "GET /api/.;/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"double-encoded dot segment", "GET /api/%252e%252e/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"double-encoded slash", "GET /api%252f..%252fadmin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"double-encoded backslash", "GET /api/%255C..%255Cadmin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded nul", "GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"non-ascii target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"expect other", "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + long + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n", 431},
		{"chunk size not hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, body, br, _ := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if !resp.Close || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error_description":`) {
				t.Fatalf("want a JSON error with Connection: close, got %v %s", resp.Header, body)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("connection left open after refusal: %v", err)
			}
			if !strings.HasPrefix(tc.name, "chunk") && hits.Load() != before {
				t.Fatal("the backend saw a refused request")
			}
		})
	}
}

func TestProxy_AcceptsLenientButUnambiguousForms(t *testing.T) {
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(b))
	}), UpstreamConfig{})
	tests := []struct{ name, raw, want string }{
		{"leading empty line", "\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a "},
		{"te mixed case", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n", "POST /a abc"},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"http/1.0 no host", "GET /a HTTP/1.0\r\n\r\n", "GET /a "},
		{"header value whitespace", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: \t v \t\r\n\r\n", "GET /a "},
		{"path parameters on a name", "GET /a;v=1/b..c;x/.d HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a;v=1/b..c;x/.d "},
		{"an encoded percent not before a dot, slash or backslash", "GET /a%2541 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a%2541 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _, _ := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Fatalf("status %d body %q, want %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestProxy_RefusesMalformedBackendResponses(t *testing.T) {
	tests := []struct{ name, resp string }{
		{"two content-length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{"te and cl", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"te gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
		{"bad status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
		{"status above 599", "HTTP/1.1 999 Weird\r\nContent-Length: 0\r\n\r\n"},
		{"http/2 status line", "HTTP/2 200\r\n\r\n"},
		{"garbage", "hello\r\n\r\n"},
		{"unexpected 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawBackend(t, tc.resp)
			resp, body, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != 502 || !strings.Contains(string(body), "bad_gateway") {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
}

// A client with prior knowledge of HTTP/2 (h2c) on a plain listener is told in HTTP/2 that it must use
// HTTP/1.1 (GOAWAY HTTP_1_1_REQUIRED), not sent an HTTP/1.1 answer it cannot read.
func TestProxy_H2PriorKnowledgeOnAPlainListenerGetsGOAWAY(t *testing.T) {
	var hits atomic.Int64
	_, _, addr := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }), UpstreamConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*http2.SettingsFrame); !ok {
		t.Fatalf("first frame %v, want the server's SETTINGS", f)
	}
	f, err = fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	ga, ok := f.(*http2.GoAwayFrame)
	if !ok || ga.ErrCode != http2.ErrCodeHTTP11Required || !strings.Contains(string(ga.DebugData()), "HTTP/1.1") {
		t.Fatalf("frame %v, want GOAWAY HTTP_1_1_REQUIRED saying why", f)
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("after GOAWAY: %v, want the connection closed", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the backend saw the preface")
	}
}
