package proxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// origin is what a trusted proxy in front of the gateway says about a request (Server.TrustedProxies):
// the zero origin, for every request from any other peer, says nothing, and the request is forwarded with
// what the connection itself says (see the package doc).
type origin struct {
	// client is the client address found in the proxy's X-Forwarded-For; "" = the peer's own address.
	client string
	// chain is the X-Forwarded-For the proxy sent (its field lines joined by ", "), to which the peer's
	// address is appended; "" = none.
	chain string
	// proto and host are the proxy's X-Forwarded-Proto ("http" or "https") and X-Forwarded-Host when
	// valid; "" = the connection's scheme and the request's Host.
	proto, host string
	// forwarded is the proxy's Forwarded when it is valid RFC 7239, to which an element for the peer is
	// appended; "" = one element built from the client address, scheme and host.
	forwarded string
}

func (o *origin) clientOr(peer string) string {
	if o.client != "" {
		return o.client
	}
	return peer
}

func (o *origin) protoOr(proto string) string {
	if o.proto != "" {
		return o.proto
	}
	return proto
}

func (o *origin) hostOr(host string) string {
	if o.host != "" {
		return o.host
	}
	return host
}

// forwardingWriter is what the forwarding fields are written to: the engine's bufio.Writer, or a
// strings.Builder for the round-trip path.
type forwardingWriter interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}

// writeXForwardedFor writes X-Forwarded-For's value: the trusted proxy's chain followed by the peer's
// address, or the peer's address alone.
func (o *origin) writeXForwardedFor(w forwardingWriter, peer string) {
	if o.chain != "" {
		w.WriteString(o.chain)
		w.WriteString(", ")
	}
	w.WriteString(peer)
}

// writeForwarded writes Forwarded's value (RFC 7239): the trusted proxy's elements followed by one for
// this hop (for the peer, over the connection's scheme, to the request's Host), or else one element for
// the client as the other fields name it.
func (o *origin) writeForwarded(w forwardingWriter, peer, proto, host string) {
	if o.forwarded != "" {
		w.WriteString(o.forwarded)
		w.WriteString(", ")
		writeForwardedElement(w, peer, proto, host)
		return
	}
	writeForwardedElement(w, o.clientOr(peer), o.protoOr(proto), o.hostOr(host))
}

// trustedPeer reports whether the connection's peer (an IP address, as from net.SplitHostPort) is in
// one of the trusted proxies' ranges.
func (s *Server) trustedPeer(peer string) bool {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return false
	}
	return s.trustedAddr(a.WithZone("").Unmap())
}

func (s *Server) trustedAddr(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromProxy reads what the trusted proxy at peer says in h, the request's header as received. A
// malformed X-Forwarded-For never refuses the request: the peer is then the client, and a debug line
// says why.
func (s *Server) fromProxy(h http.Header, peer string) origin {
	var o origin
	if vv := h["X-Forwarded-For"]; len(vv) > 0 {
		o.chain = joinFieldLines(vv)
		client, malformed, bad := walkForwardedFor(o.chain, s.trustedAddr)
		if malformed {
			s.log.Debug("gateway: a trusted proxy sent an X-Forwarded-For with a malformed address; the proxy's address is taken as the client's",
				"peer", peer, "entry", clipEntry(bad))
		} else {
			o.client = client
		}
	}
	if vv := h["X-Forwarded-Proto"]; len(vv) == 1 {
		switch v := strings.TrimSpace(vv[0]); {
		case strings.EqualFold(v, "https"):
			o.proto = "https"
		case strings.EqualFold(v, "http"):
			o.proto = "http"
		}
	}
	if vv := h["X-Forwarded-Host"]; len(vv) == 1 {
		if v := strings.TrimSpace(vv[0]); v != "" && validHostString(v) && strings.IndexByte(v, ',') < 0 {
			o.host = v
		}
	}
	if vv := h["Forwarded"]; len(vv) > 0 {
		if f := joinFieldLines(vv); validForwarded(f) {
			o.forwarded = f
		}
	}
	return o
}

// joinFieldLines joins the field lines of one list-valued field (RFC 9110 5.3) into one value.
func joinFieldLines(vv []string) string {
	if len(vv) == 1 {
		return strings.TrimSpace(vv[0])
	}
	var b strings.Builder
	for _, v := range vv {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v)
	}
	return b.String()
}

// walkForwardedFor finds the client in an X-Forwarded-For chain as nginx's real_ip_recursive and Caddy's
// trusted_proxies_strict do: walking from the right (the entry the nearest proxy added), entries whose
// address is trusted are proxies of ours and are passed over; the first untrusted one is the client. When
// every entry is trusted, the leftmost is the client. Entries to the left of the client are what the
// client itself claimed and are never looked at, so a client cannot spoof its way past the walk.
//
// client is the address as written in the chain (without brackets or port), "" when the chain has no
// entry. malformed says an entry the walk reached is not an address (bad is that entry): the walk ends
// there and the caller takes the peer for the client.
func walkForwardedFor(chain string, trusted func(netip.Addr) bool) (client string, malformed bool, bad string) {
	end := len(chain)
	for {
		start := strings.LastIndexByte(chain[:end], ',') + 1
		entry := strings.Trim(chain[start:end], " \t")
		if entry == "" && start == 0 && end == len(chain) {
			return "", false, "" // no entry at all
		}
		host, a, ok := parseForwardedForEntry(entry)
		if !ok {
			return "", true, entry
		}
		if !trusted(a) || start == 0 {
			return host, false, ""
		}
		end = start - 1
	}
}

// parseForwardedForEntry reads one X-Forwarded-For entry: an IPv4 or IPv6 address, optionally with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711", as some load balancers write it) or in brackets. host is
// the address as written; a is it as compared with the trusted ranges (IPv4-mapped IPv6 as IPv4).
// Zones, names, "unknown" and obfuscated identifiers are not addresses.
func parseForwardedForEntry(s string) (host string, a netip.Addr, ok bool) {
	host = s
	bracket := false
	if len(s) > 0 && s[0] == '[' {
		i := strings.IndexByte(s, ']')
		if i < 0 || !validPort(s[i+1:], true) {
			return "", a, false
		}
		host, bracket = s[1:i], true
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// One colon: IPv4 with a port (an IPv6 address has at least two).
		if !validPort(s[i:], false) {
			return "", a, false
		}
		host = s[:i]
		if strings.IndexByte(host, '.') < 0 {
			return "", a, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" || (bracket && !a.Is6()) {
		return "", netip.Addr{}, false
	}
	return host, a.Unmap(), true
}

// validPort reports ":N" with N a port number (1 to 5 digits, at most 65535); "" when optional.
func validPort(s string, optional bool) bool {
	if s == "" {
		return optional
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	n := 0
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// validForwarded reports a Forwarded value that follows RFC 7239 section 4: comma-separated elements of
// semicolon-separated token=value pairs, values being tokens or quoted strings. Whitespace is allowed
// around commas and semicolons.
func validForwarded(v string) bool {
	i, pairs := 0, 0
	skipOWS := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	for {
		skipOWS()
		if i < len(v) && v[i] != ',' && v[i] != ';' {
			// forwarded-pair = token "=" value
			j := i
			for i < len(v) && tokenTable[v[i]] {
				i++
			}
			if i == j || i >= len(v) || v[i] != '=' {
				return false
			}
			i++
			if i < len(v) && v[i] == '"' {
				if i = quotedStringEnd(v, i); i < 0 {
					return false
				}
			} else {
				j = i
				for i < len(v) && tokenTable[v[i]] {
					i++
				}
				if i == j {
					return false
				}
			}
			pairs++
			skipOWS()
		}
		if i == len(v) {
			return pairs > 0
		}
		if v[i] != ',' && v[i] != ';' {
			return false
		}
		i++
	}
}

// quotedStringEnd returns the index after the quoted string (RFC 9110 5.6.4) starting at v[i], or -1.
func quotedStringEnd(v string, i int) int {
	for i++; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i++; i == len(v) || !validValueByte(v[i]) {
				return -1
			}
		case !validValueByte(c):
			return -1
		}
	}
	return -1
}

// clipEntry bounds what a debug line repeats of an entry.
func clipEntry(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
