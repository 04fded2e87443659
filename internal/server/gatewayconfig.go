package server

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
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
	return nil
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
