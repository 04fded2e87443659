package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// trustedRanges is the trusted-proxy configuration of these tests: the loopback address the "load
// balancer" connects from, and a private range its own hops come from.
var trustedRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.2/32"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ff::/48"),
}

func trustedTest(a netip.Addr) bool {
	for _, p := range trustedRanges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func TestWalkForwardedFor_FindsTheRightmostUntrustedAddress(t *testing.T) {
	tests := []struct {
		name, chain string
		client      string
		malformed   bool
	}{
		{name: "empty", chain: ""},
		{name: "only blanks", chain: " \t"},
		{name: "single client", chain: "203.0.113.7", client: "203.0.113.7"},
		{name: "client then our hop", chain: "203.0.113.7, 10.1.2.3", client: "203.0.113.7"},
		{name: "spoofed leftmost entries are not looked at", chain: "1.1.1.1, garbage, 203.0.113.7, 10.1.2.3", client: "203.0.113.7"},
		{name: "spoofed trusted address left of the client", chain: "10.9.9.9, 203.0.113.7", client: "203.0.113.7"},
		{name: "all trusted: the leftmost", chain: "10.9.9.9, 10.1.2.3", client: "10.9.9.9"},
		{name: "no spaces", chain: "203.0.113.7,10.1.2.3", client: "203.0.113.7"},
		{name: "tabs", chain: "203.0.113.7\t,\t10.1.2.3", client: "203.0.113.7"},
		{name: "IPv4 with port", chain: "203.0.113.7:4711, 10.1.2.3:80", client: "203.0.113.7"},
		{name: "IPv6", chain: "2001:db8::7, 2001:db8:ff::1", client: "2001:db8::7"},
		{name: "IPv6 in brackets with port", chain: "[2001:db8::7]:4711", client: "2001:db8::7"},
		{name: "IPv6 in brackets", chain: "[2001:db8::7]", client: "2001:db8::7"},
		{name: "IPv4-mapped IPv6 compares as IPv4", chain: "203.0.113.7, ::ffff:10.1.2.3", client: "203.0.113.7"},
		{name: "garbage at the right", chain: "203.0.113.7, bogus", malformed: true},
		{name: "garbage behind trusted hop", chain: "bogus, 10.1.2.3", malformed: true},
		{name: "empty entry", chain: "203.0.113.7, , 10.1.2.3", malformed: true},
		{name: "trailing comma", chain: "203.0.113.7,", malformed: true},
		{name: "unknown", chain: "unknown", malformed: true},
		{name: "host name", chain: "client.example.com", malformed: true},
		{name: "zone", chain: "fe80::1%eth0", malformed: true},
		{name: "bad port", chain: "203.0.113.7:99999", malformed: true},
		{name: "port without digits", chain: "203.0.113.7:", malformed: true},
		{name: "IPv4 in brackets", chain: "[203.0.113.7]", malformed: true},
		{name: "unclosed bracket", chain: "[2001:db8::7", malformed: true},
		{name: "leading zeros", chain: "203.000.113.7", malformed: true},
		{name: "CIDR", chain: "203.0.113.0/24", malformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, malformed, bad := walkForwardedFor(tc.chain, trustedTest)
			if client != tc.client || malformed != tc.malformed {
				t.Fatalf("walkForwardedFor(%q) = %q, malformed %v (%q); want %q, malformed %v", tc.chain, client, malformed, bad, tc.client, tc.malformed)
			}
		})
	}
}

func TestValidForwarded(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{`for=203.0.113.7`, true},
		{`for=203.0.113.7;proto=https;host="api.example.com"`, true},
		{`for="[2001:db8::7]:4711";proto=https, for=10.1.2.3`, true},
		{`For="_hidden" ; by=unknown`, true},
		{`for="a\"b"`, true},
		{``, false},
		{`for`, false},
		{`for=`, false},
		{`=x`, false},
		{`for=203.0.113.7;proto`, false},
		{`for="unterminated`, false},
		{`for=a b`, false},
		{`for=[2001:db8::7]`, false},
		{`for="x"y`, false},
	}
	for _, tc := range tests {
		if got := validForwarded(tc.v); got != tc.want {
			t.Errorf("validForwarded(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// trustedPath is one way a request reaches a backend: the HTTP/1.1 engine (event loop or goroutines,
// whichever this run uses), HTTP/1.1 and HTTP/2 over TLS, and an HTTP/2 backend (the round-trip path).
type trustedPath struct {
	name  string
	proto string // the scheme of the client's connection to the gateway
	// do sends one request with hdr from local (the client's source address) and returns the backend's
	// view of it.
	do func(t *testing.T, local string, hdr http.Header) echoed
}

// trustedPaths starts a gateway with TrustedProxies on every path; remote records r.RemoteAddr as the
// Decider saw it last.
func trustedPaths(t *testing.T, remote *atomic.Value) []trustedPath {
	cert, pool := testCA(t)
	seen := func(r *http.Request) { remote.Store(r.RemoteAddr) }

	b := startBackend(t, http.HandlerFunc(echoHandler))
	h1 := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}}), seen: seen}
	plainAddr := startProxy(t, &Server{Decider: h1, TrustedProxies: trustedRanges, ErrorLog: discardLog}, nil)
	tlsAddr := startProxy(t, &Server{Decider: h1, TrustedProxies: trustedRanges, ErrorLog: discardLog},
		&tls.Config{Certificates: []tls.Certificate{cert}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(echoHandler), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go bs.ServeTLS(ln, "", "")
	t.Cleanup(func() { bs.Close() })
	h2b := &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{{Scheme: "https", Host: ln.Addr().String()}},
		TLS: &tls.Config{RootCAs: pool}}), seen: seen}
	h2bAddr := startProxy(t, &Server{Decider: h2b, TrustedProxies: trustedRanges, ErrorLog: discardLog}, nil)

	client := func(local string, h2, tlsOn bool) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		tr := &http.Transport{DialContext: d.DialContext, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
		if tlsOn {
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	send := func(t *testing.T, c *http.Client, u string, hdr http.Header, wantMajor int) echoed {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), "GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vv := range hdr {
			req.Header[k] = vv
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != wantMajor {
			t.Fatalf("HTTP/%d %d %s", resp.ProtoMajor, resp.StatusCode, body)
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("backend answer %q: %v", body, err)
		}
		return e
	}
	return []trustedPath{
		{"http1", "http", func(t *testing.T, local string, hdr http.Header) echoed {
			return send(t, client(local, false, false), "http://"+plainAddr+"/x", hdr, 1)
		}},
		{"http1 over TLS", "https", func(t *testing.T, local string, hdr http.Header) echoed {
			return send(t, client(local, false, true), "https://"+tlsAddr+"/x", hdr, 1)
		}},
		{"h2", "https", func(t *testing.T, local string, hdr http.Header) echoed {
			return send(t, client(local, true, true), "https://"+tlsAddr+"/x", hdr, 2)
		}},
		{"h2 backend", "http", func(t *testing.T, local string, hdr http.Header) echoed {
			send(t, client(local, false, false), "http://"+h2bAddr+"/x", hdr, 1) // the first discovers h2
			return send(t, client(local, false, false), "http://"+h2bAddr+"/x", hdr, 1)
		}},
	}
}

// A load balancer on a trusted address names the client in X-Forwarded-For: the Decider sees that
// client, and the backend the proxy's chain with the balancer appended. From any other peer, what the
// client says about earlier hops is dropped, as at the edge.
func TestTrustedProxy_ClientAddressAndForwardingFields(t *testing.T) {
	var remote atomic.Value
	paths := trustedPaths(t, &remote)
	const lb, direct = "127.0.0.2", "127.0.0.1"
	tests := []struct {
		name  string
		local string // the peer the gateway sees
		hdr   http.Header
		// want: RemoteAddr's host as the Decider saw it; the backend's forwarding fields, where {peer},
		// {proto} (the connection's scheme) and {host} (the request's Host) are filled in.
		remote, xff, xfProto, xfHost, forwarded string
	}{
		{name: "single client", local: lb, hdr: http.Header{"X-Forwarded-For": {"203.0.113.7"}},
			remote: "203.0.113.7", xff: "203.0.113.7, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "several hops", local: lb, hdr: http.Header{"X-Forwarded-For": {"203.0.113.7, 10.1.2.3"}},
			remote: "203.0.113.7", xff: "203.0.113.7, 10.1.2.3, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "several field lines", local: lb, hdr: http.Header{"X-Forwarded-For": {"203.0.113.7", "10.1.2.3"}},
			remote: "203.0.113.7", xff: "203.0.113.7, 10.1.2.3, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "spoofed leftmost entries", local: lb, hdr: http.Header{"X-Forwarded-For": {"10.6.6.6, 198.51.100.66, 203.0.113.7, 10.1.2.3"}},
			remote: "203.0.113.7", xff: "10.6.6.6, 198.51.100.66, 203.0.113.7, 10.1.2.3, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "all trusted", local: lb, hdr: http.Header{"X-Forwarded-For": {"10.9.9.9, 10.1.2.3"}},
			remote: "10.9.9.9", xff: "10.9.9.9, 10.1.2.3, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=10.9.9.9;proto={proto};host="{host}"`},
		{name: "garbage: the balancer is the client", local: lb, hdr: http.Header{"X-Forwarded-For": {"203.0.113.7, not-an-address"}},
			remote: lb, xff: "203.0.113.7, not-an-address, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for={peer};proto={proto};host="{host}"`},
		{name: "no X-Forwarded-For", local: lb, hdr: http.Header{},
			remote: lb, xff: "{peer}", xfProto: "{proto}", xfHost: "{host}", forwarded: `for={peer};proto={proto};host="{host}"`},
		{name: "IPv6 client", local: lb, hdr: http.Header{"X-Forwarded-For": {"[2001:db8::7]:4711, 2001:db8:ff::1"}},
			remote: "2001:db8::7", xff: "[2001:db8::7]:4711, 2001:db8:ff::1, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for="[2001:db8::7]";proto={proto};host="{host}"`},
		{name: "proto and host of the balancer", local: lb,
			hdr:    http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"api.example.com"}},
			remote: "203.0.113.7", xff: "203.0.113.7, {peer}", xfProto: "https", xfHost: "api.example.com",
			forwarded: `for=203.0.113.7;proto=https;host="api.example.com"`},
		{name: "invalid proto and host of the balancer", local: lb,
			hdr:    http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"ftp"}, "X-Forwarded-Host": {"a b"}},
			remote: "203.0.113.7", xff: "203.0.113.7, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "Forwarded of the balancer is extended", local: lb,
			hdr:    http.Header{"X-Forwarded-For": {"203.0.113.7"}, "Forwarded": {"for=203.0.113.7;proto=https"}},
			remote: "203.0.113.7", xff: "203.0.113.7, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto=https, for={peer};proto={proto};host="{host}"`},
		{name: "invalid Forwarded of the balancer is replaced", local: lb,
			hdr:    http.Header{"X-Forwarded-For": {"203.0.113.7"}, "Forwarded": {"for=203.0.113.7;proto"}},
			remote: "203.0.113.7", xff: "203.0.113.7, {peer}", xfProto: "{proto}", xfHost: "{host}",
			forwarded: `for=203.0.113.7;proto={proto};host="{host}"`},
		{name: "untrusted peer: everything stripped", local: direct,
			hdr: http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"admin.internal"},
				"Forwarded": {"for=203.0.113.7"}, "X-Forwarded-Port": {"443"}},
			remote: direct, xff: "{peer}", xfProto: "{proto}", xfHost: "{host}", forwarded: `for={peer};proto={proto};host="{host}"`},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					remote.Store("")
					e := p.do(t, tc.local, tc.hdr)
					fill := strings.NewReplacer("{peer}", tc.local, "{proto}", p.proto, "{host}", e.Host).Replace
					got, _ := remote.Load().(string)
					if host, _, err := net.SplitHostPort(got); err == nil {
						got = host
					}
					if got != tc.remote {
						t.Errorf("the Decider saw RemoteAddr %q, want the host %s", remote.Load(), tc.remote)
					}
					for _, f := range []struct{ name, want string }{
						{"X-Forwarded-For", tc.xff}, {"X-Forwarded-Proto", tc.xfProto}, {"X-Forwarded-Host", tc.xfHost}, {"Forwarded", tc.forwarded},
					} {
						if got := strings.Join(e.Header[f.name], " | "); got != fill(f.want) {
							t.Errorf("backend %s = %q, want %q", f.name, got, fill(f.want))
						}
					}
					if v := e.Header.Get("X-Forwarded-Port"); v != "" {
						t.Errorf("backend got X-Forwarded-Port %q", v)
					}
				})
			}
		})
	}
}

func TestTrustedPeer(t *testing.T) {
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("::ffff:192.0.2.0/120")}}
	s.init()
	for _, tc := range []struct {
		peer string
		want bool
	}{
		{"10.2.3.4", true}, {"::ffff:10.2.3.4", true}, {"192.0.2.9", true}, {"::ffff:192.0.2.9", true}, {"192.0.3.1", false}, {"::1", true}, {"11.0.0.1", false}, {"fe80::1%lo", false}, {"", false}, {"x", false},
	} {
		if got := s.trustedPeer(tc.peer); got != tc.want {
			t.Errorf("trustedPeer(%q) = %v, want %v", tc.peer, got, tc.want)
		}
	}
}

// FuzzWalkForwardedFor checks the X-Forwarded-For walker against a plain reading of its rule (split on
// commas, walk from the right past trusted addresses) and that whatever it returns is an address written
// in the chain; and that validForwarded never panics.
func FuzzWalkForwardedFor(f *testing.F) {
	for _, s := range []string{
		"", "203.0.113.7", "203.0.113.7, 10.1.2.3", "1.1.1.1, garbage, 203.0.113.7, 10.1.2.3", "10.9.9.9, 10.1.2.3",
		"[2001:db8::7]:4711, 2001:db8:ff::1", "203.0.113.7:80", "::ffff:10.1.2.3", "fe80::1%eth0", ",,", " , ", "[", "[]:",
		"203.0.113.7,", "unknown, 10.0.0.1", "[::ffff:1.2.3.4]:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, chain string) {
		client, malformed, bad := walkForwardedFor(chain, trustedTest)
		validForwarded(chain)

		// The rule, read plainly.
		entries := strings.Split(chain, ",")
		var wantClient string
		wantMalformed := false
		if strings.Trim(chain, " \t") != "" {
			for i := len(entries) - 1; i >= 0; i-- {
				e := strings.Trim(entries[i], " \t")
				host, a, ok := parseForwardedForEntry(e)
				if !ok {
					wantClient, wantMalformed = "", true
					break
				}
				wantClient = host
				if !trustedTest(a) {
					break
				}
			}
		}
		if client != wantClient || malformed != wantMalformed {
			t.Fatalf("walkForwardedFor(%q) = %q, %v (%q); want %q, %v", chain, client, malformed, bad, wantClient, wantMalformed)
		}
		if client != "" {
			a, err := netip.ParseAddr(client)
			if err != nil || a.Zone() != "" || !strings.Contains(chain, client) {
				t.Fatalf("client %q of %q is not an address of the chain (%v)", client, chain, err)
			}
		}
	})
}
