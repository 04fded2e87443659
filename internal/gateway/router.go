package gateway

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// router finds the API of a request. Hosts are tried from the most
// specific class to the least (exact, then "*.suffix", then any host); in
// a class, the longest path prefix at a "/" boundary wins. Every step is a
// map lookup on a substring of the request's own strings, so a hit
// allocates nothing.
type router struct {
	exact    map[string]pathTable
	wildcard map[string]pathTable // by the suffix after "*."
	any      pathTable
}

// pathTable maps a normalised path prefix ("/" or "/a/b", no trailing
// slash) to the APIs that serve it.
type pathTable map[string]*routeNode

// routeNode holds the APIs of one (host class, prefix), in priority
// order; they differ by method.
type routeNode struct {
	apis  []*API
	allow string // the Allow header: every method the node's APIs accept
}

func newRouter() *router {
	return &router{exact: map[string]pathTable{}, wildcard: map[string]pathTable{}, any: pathTable{}}
}

// add routes api under its match; the caller adds APIs in priority order.
// It returns an earlier API that already takes some of the same requests
// (same host, prefix and a common method), which shadows api there.
func (rt *router) add(api *API) (shadowedBy *API) {
	hosts := api.hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	for _, h := range hosts {
		var t pathTable
		switch {
		case h == "":
			t = rt.any
		case strings.HasPrefix(h, "*."):
			if t = rt.wildcard[h[2:]]; t == nil {
				t = pathTable{}
				rt.wildcard[h[2:]] = t
			}
		default:
			if t = rt.exact[h]; t == nil {
				t = pathTable{}
				rt.exact[h] = t
			}
		}
		n := t[api.prefix]
		if n == nil {
			n = &routeNode{}
			t[api.prefix] = n
		}
		for _, o := range n.apis {
			if shadowedBy == nil && methodsOverlap(o.methods, api.methods) {
				shadowedBy = o
			}
		}
		n.apis = append(n.apis, api)
	}
	return shadowedBy
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}

// finish computes the Allow values once every API is added.
func (rt *router) finish() {
	do := func(t pathTable) {
		for _, n := range t {
			var ms []string
			anyMethod := false
			for _, a := range n.apis {
				if len(a.methods) == 0 {
					anyMethod = true
				}
				ms = append(ms, a.methods...)
			}
			if anyMethod {
				continue // never 405
			}
			slices.Sort(ms)
			n.allow = strings.Join(slices.Compact(ms), ", ")
		}
	}
	for _, t := range rt.exact {
		do(t)
	}
	for _, t := range rt.wildcard {
		do(t)
	}
	do(rt.any)
}

// lookup returns the API for (host, path, method); when the most specific
// matching prefix has APIs but none for the method, api is nil and allow
// lists the methods it accepts. host is the request's Host (any case,
// with or without port); path must start with "/".
func (rt *router) lookup(host, path, method string) (api *API, allow string) {
	h := hostKey(host)
	n := rt.exact[h].lookup(path)
	if n == nil {
		if i := strings.IndexByte(h, '.'); i > 0 {
			n = rt.wildcard[h[i+1:]].lookup(path)
		}
	}
	if n == nil {
		n = rt.any.lookup(path)
	}
	if n == nil {
		return nil, ""
	}
	for _, a := range n.apis {
		if a.acceptsMethod(method) {
			return a, ""
		}
	}
	return nil, n.allow
}

func (t pathTable) lookup(path string) *routeNode {
	if len(t) == 0 || path == "" || path[0] != '/' {
		return nil
	}
	p := path
	for {
		if n := t[p]; n != nil {
			return n
		}
		if p == "/" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// hostKey lower-cases host and drops its port and a trailing dot; it
// allocates only when host has upper-case letters.
func hostKey(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// normalisePrefix checks an API's path prefix and returns its router key.
func normalisePrefix(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("match.pathPrefix is empty: use \"/\" for every path")
	case p[0] != '/':
		return "", fmt.Errorf("match.pathPrefix %q must start with \"/\"", clip(p, 100))
	case strings.ContainsAny(p, "?#"):
		return "", fmt.Errorf("match.pathPrefix %q must not hold a query or fragment", clip(p, 100))
	case !cleanPath(p):
		return "", fmt.Errorf("match.pathPrefix %q has an empty, \".\" or \"..\" segment", clip(p, 100))
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p, nil
}

// normaliseHost checks one entry of match.hosts and returns its router key.
func normaliseHost(h string) (string, error) {
	k := strings.TrimSuffix(strings.ToLower(h), ".")
	name := strings.TrimPrefix(k, "*.")
	if name == "" || strings.ContainsAny(name, "*:/[] ") || strings.Contains(name, "..") || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("match.hosts %q: give a host name (api.example.com) or a wildcard of one label (*.example.com), without port", clip(h, 100))
	}
	if net.ParseIP(name) != nil && name != k {
		return "", fmt.Errorf("match.hosts %q: a wildcard cannot cover an IP address", clip(h, 100))
	}
	return k, nil
}

// cleanPath reports whether p has no empty, "." or ".." segment except a
// final empty one (a trailing slash). A request path that is not clean is
// refused rather than routed: the backend might resolve "/public/../admin"
// to a path another API protects.
func cleanPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case rest == "":
		case rest[0] == '/':
			return false
		case rest[0] == '.':
			if len(rest) == 1 || rest[1] == '/' || rest[1] == '.' && (len(rest) == 2 || rest[2] == '/') {
				return false
			}
		}
	}
	return true
}
