package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Exchange sends one request on a new HTTP/2 connection made frame by frame, so that it can carry what
// Go's client never sends, and returns the response's status and body, or the stream's reset code
// (status 0).
func h2Exchange(t *testing.T, addr string, pool *x509.CertPool, fields [][2]string, body []byte) (int, string, http2.ErrCode) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: body == nil}); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		if err := fr.WriteData(1, true, body); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a liveness bound
	dec := hpack.NewDecoder(4096, nil)
	status := 0
	var out bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			hfs, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range hfs {
				if hf.Name == ":status" {
					status, _ = strconv.Atoi(hf.Value)
				}
			}
			if f.StreamEnded() {
				return status, out.String(), 0
			}
		case *http2.DataFrame:
			out.Write(f.Data())
			if f.StreamEnded() {
				return status, out.String(), 0
			}
		case *http2.RSTStreamFrame:
			return 0, out.String(), f.ErrCode
		case *http2.GoAwayFrame:
			t.Fatalf("the connection was closed: %v", f.ErrCode)
		}
	}
}

func TestProxy_H2RequestsOnlyAClientCouldForge(t *testing.T) {
	cert, pool := testCA(t)
	b := startBackend(t, http.HandlerFunc(echoHandler))
	f := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}
	addr := startProxy(t, &Server{Decider: f, ErrorLog: discardLog}, &tls.Config{Certificates: []tls.Certificate{cert}})
	get := func(scheme string, extra ...[2]string) [][2]string {
		return append([][2]string{{":method", "GET"}, {":scheme", scheme}, {":authority", addr}, {":path", "/x"}}, extra...)
	}
	post := [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", addr}, {":path", "/x"}}

	t.Run("a request over TLS tells the backend https, whatever its :scheme", func(t *testing.T) {
		status, body, _ := h2Exchange(t, addr, pool, get("http"), nil)
		if status != http.StatusBadRequest || !strings.Contains(body, ":scheme") {
			t.Errorf(":scheme http over TLS: %d %s, want 400 naming :scheme", status, body)
		}
		status, body, _ = h2Exchange(t, addr, pool, get("https"), nil)
		var e echoed
		if status != http.StatusOK || json.Unmarshal([]byte(body), &e) != nil {
			t.Fatalf(":scheme https: %d %s", status, body)
		}
		if got := e.Header.Get("X-Forwarded-Proto"); got != "https" {
			t.Errorf("X-Forwarded-Proto %q, want https", got)
		}
		// The client sent no User-Agent: the backend sees none, not Go's own.
		if ua, ok := e.Header["User-Agent"]; ok {
			t.Errorf("the backend got User-Agent %q, which the client never sent", ua)
		}
	})

	t.Run("two content-length fields are refused, as on HTTP/1.1", func(t *testing.T) {
		status, body, _ := h2Exchange(t, addr, pool, append(post, [2]string{"content-length", "5"}, [2]string{"content-length", "7"}), []byte("hello"))
		if status != http.StatusBadRequest || !strings.Contains(body, "more than one Content-Length") {
			t.Errorf("%d %s, want 400 naming Content-Length", status, body)
		}
	})

	t.Run("more DATA than content-length is the client's failure, not the backend's", func(t *testing.T) {
		f.mu.Lock()
		f.results = nil
		f.mu.Unlock()
		status, _, code := h2Exchange(t, addr, pool, append(post, [2]string{"content-length", "5"}), []byte("hello world"))
		if status != 0 && status != http.StatusBadRequest {
			t.Errorf("answered %d, want the stream reset (or a 400)", status)
		}
		if status == 0 && code != http2.ErrCodeProtocol {
			t.Errorf("stream reset with %v, want PROTOCOL_ERROR", code)
		}
		res := f.wait(t, 1)
		if r := res[0]; !r.ClientErr || r.Status == http.StatusBadGateway {
			t.Errorf("result %+v: want a client error, not a 502 blamed on the backend", r)
		}
	})
}
