package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// GatewayListener is one address the gateway serves APIs on.
type GatewayListener struct {
	Addr string // host:port
	TLS  bool   // https (HTTP/1.1 and HTTP/2); false = plain HTTP/1.1
}

// URL is how the listener is written in flags and the banner.
func (g GatewayListener) URL() string {
	if g.TLS {
		return "https://" + g.Addr
	}
	return "http://" + g.Addr
}

// validateGateway parses --gateway-listen, gives --dev its default HTTPS
// gateway listener and checks the gateway's TLS and audit settings.
func (c *Config) validateGateway() error {
	c.gateway = nil
	values := c.GatewayListen
	if len(values) == 0 && c.Dev {
		values = []string{"https://" + devGatewayAddr(c.Listen)}
	}
	off := false
	seen := map[string]bool{}
	for _, v := range values {
		if strings.EqualFold(v, "off") {
			off = true
			continue
		}
		g, err := parseGatewayListen(v)
		if err != nil {
			return err
		}
		if seen[g.Addr] {
			return fmt.Errorf("--gateway-listen %s is given twice: each address can serve once (http or https)", g.Addr)
		}
		seen[g.Addr] = true
		c.gateway = append(c.gateway, g)
	}
	if off && len(c.gateway) > 0 {
		return errors.New(`--gateway-listen off cannot be combined with gateway addresses: drop "off" or the addresses`)
	}
	if (c.GatewayTLSCertFile == "") != (c.GatewayTLSKeyFile == "") {
		return errors.New("--gateway-tls-cert and --gateway-tls-key go together")
	}
	switch strings.ToLower(c.GatewayAuditLog) {
	case "":
		c.GatewayAuditLog = filepath.Join(c.DataDir, "gateway-audit.log")
	case "-", "stderr":
		c.GatewayAuditLog = "-"
	}
	c.gatewayTrusted = nil
	for _, v := range c.GatewayTrustedProxies {
		for _, one := range strings.Split(v, ",") {
			p, err := parseTrustedProxy(strings.TrimSpace(one))
			if err != nil {
				return err
			}
			c.gatewayTrusted = append(c.gatewayTrusted, p)
		}
	}
	for _, t := range []struct {
		flag string
		d    *time.Duration
	}{{"--gateway-read-body-timeout", &c.GatewayReadBodyTimeout}, {"--gateway-send-timeout", &c.GatewaySendTimeout}} {
		if *t.d < 0 {
			return fmt.Errorf("%s %s: want a positive duration, e.g. 60s (the default)", t.flag, *t.d)
		}
		if *t.d == 0 {
			*t.d = DefaultGatewayIOTimeout
		}
	}
	return nil
}

// DefaultGatewayIOTimeout is the default of --gateway-read-body-timeout and
// --gateway-send-timeout (nginx's client_body_timeout and send_timeout).
const DefaultGatewayIOTimeout = 60 * time.Second

// parseTrustedProxy reads one --gateway-trusted-proxy: an IP address or a
// CIDR range.
func parseTrustedProxy(v string) (netip.Prefix, error) {
	const form = "want an IP address or a CIDR range of the load balancers in front of the gateway, e.g. 10.0.0.0/8, 192.0.2.10 or 2001:db8::/32"
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, fmt.Errorf("--gateway-trusted-proxy %q: %s", v, form)
		}
		if p != p.Masked() {
			return p, fmt.Errorf("--gateway-trusted-proxy %q: the address has bits set beyond the /%d prefix; did you mean %s?", v, p.Bits(), p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("--gateway-trusted-proxy %q: %s", v, form)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		// Peers are compared as IPv4; so must the range be. (A masked
		// IPv4-mapped range is at least /96: ::ffff ends at bit 96.)
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return p, fmt.Errorf("--gateway-trusted-proxy %q: trusting every address would let any client choose the address the gateway counts failed authentications by and audits; name the load balancers' own addresses or ranges", v)
	}
	return p, nil
}

// parseGatewayListen reads "http://host:port", "https://host:port" or a
// bare "host:port" (https).
func parseGatewayListen(v string) (GatewayListener, error) {
	const form = "want https://host:port, http://host:port or host:port (https), e.g. https://0.0.0.0:8444, or \"off\""
	g := GatewayListener{TLS: true}
	rest := v
	switch {
	case strings.HasPrefix(v, "https://"):
		rest = v[len("https://"):]
	case strings.HasPrefix(v, "http://"):
		rest, g.TLS = v[len("http://"):], false
	case strings.Contains(v, "://"):
		return g, fmt.Errorf("--gateway-listen %q: unknown scheme; %s", v, form)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || strings.ContainsAny(rest, "/?#@") {
		return g, fmt.Errorf("--gateway-listen %q: %s", v, form)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return g, fmt.Errorf("--gateway-listen %q: port %q is not a number from 0 to 65535", v, port)
	}
	g.Addr = net.JoinHostPort(host, port)
	return g, nil
}

// devGatewayAddr is --dev's gateway address: the host of --listen and the
// next port (8444 beside the default 8443), or a free port when --listen
// asks for one (tests run many nodes at once).
func devGatewayAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "127.0.0.1:0"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 || n >= 65535 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// validateListenerClash refuses two listeners on one port, which would
// otherwise fail at start with "address already in use" although nothing
// else holds the port; the --dev gateway's default (the port after --listen)
// is the usual surprise.
func (c *Config) validateListenerClash() error {
	type listener struct{ flag, addr string }
	all := []listener{{"--listen", c.Listen}}
	for _, g := range c.gateway {
		flag := "--gateway-listen " + g.Addr
		if len(c.GatewayListen) == 0 {
			flag = "the gateway's listener " + g.Addr + " (with --dev, the port after --listen unless --gateway-listen says otherwise)"
		}
		all = append(all, listener{flag, g.Addr})
	}
	if c.MetricsListen != "" {
		all = append(all, listener{"--metrics-listen " + c.MetricsListen, c.MetricsListen})
	}
	for i, a := range all {
		for _, b := range all[:i] {
			if sameListenPort(a.addr, b.addr) {
				return fmt.Errorf("%s and %s use the same port: give one of them another port", b.flag, a.flag)
			}
		}
	}
	return nil
}

// sameListenPort reports whether two listen addresses would bind the same
// port: the same fixed port on the same host, or on a host the other's
// wildcard (all interfaces; 0.0.0.0: all IPv4 ones) covers.
func sameListenPort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" || pa == "" {
		return false
	}
	covers := func(wild, h string) bool { // wild binds every interface h is on
		return wild == "" || wild == "::" || (wild == "0.0.0.0" && !strings.Contains(h, ":"))
	}
	return strings.EqualFold(ha, hb) || covers(ha, hb) || covers(hb, ha)
}
