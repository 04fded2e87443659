package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// withResponseHeader forwards like forwardTo and adds a field to the answer.
type withResponseHeader struct{ up *Upstream }

func (d withResponseHeader) Decide(r *http.Request) Decision {
	return Decision{Upstream: d.up, ResponseHeader: http.Header{"X-Decision-Id": {"d-1"}}}
}

func TestProxy_ResponseHeaderReplacesTheBackendsFieldOnHTTP1AndHTTP2(t *testing.T) {
	cert, pool := testCA(t)
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Decision-Id", "forged-by-the-backend")
		w.Header().Set("X-Other", "kept")
		io.WriteString(w, "ok")
	}))
	s := &Server{Decider: withResponseHeader{newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}}
	addr := startProxy(t, s, &tls.Config{Certificates: []tls.Certificate{cert}})
	for _, tc := range []struct {
		name  string
		h2    bool
		proto int
	}{{"HTTP/1.1", false, 1}, {"HTTP/2", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != tc.proto {
				t.Fatalf("HTTP/%d, want HTTP/%d", resp.ProtoMajor, tc.proto)
			}
			if got := resp.Header.Values("X-Decision-Id"); len(got) != 1 || got[0] != "d-1" {
				t.Errorf("X-Decision-Id = %q, want only the Decider's", got)
			}
			if resp.Header.Get("X-Other") != "kept" {
				t.Errorf("the backend's other fields were lost: %v", resp.Header)
			}
		})
	}
}

func TestProxy_PlainHTTPOnATLSListenerIsTold(t *testing.T) {
	cert, _ := testCA(t)
	s := &Server{Decider: &forwardTo{}}
	addr := startProxy(t, s, &tls.Config{Certificates: []tls.Certificate{cert}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "speaks HTTPS") {
		t.Fatalf("%s: %s", resp.Status, body)
	}
}
