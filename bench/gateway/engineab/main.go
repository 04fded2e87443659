// Command engineab serves the gateway's HTTP engine alone (internal/gateway/proxy, no Portcullis around
// it) in front of one backend, to compare the engines' CPU cost per request: PORTCULLIS_GATEWAY_ENGINE
// chooses the engine (auto, eventloop, goroutine). Every request is forwarded, after an optional Basic
// credential check done as cheaply as the gateway's (-basic user:password).
package main

import (
	"crypto/subtle"
	"flag"
	"log"
	"net"
	"net/http"
	"net/url"

	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

type decider struct {
	up    *proxy.Upstream
	basic string // "Basic base64(user:password)", or "" for none
}

func (d decider) Decide(r *http.Request) proxy.Decision {
	if d.basic != "" {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(d.basic)) != 1 {
			return proxy.Decision{Status: 401, Body: []byte(`{"error":"unauthorized"}`)}
		}
		delete(r.Header, "Authorization")
	}
	return proxy.Decision{Upstream: d.up}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "listen address")
	backend := flag.String("backend", "http://127.0.0.1:18000", "backend base URL")
	basic := flag.String("basic", "", "require this Basic user:password")
	flag.Parse()
	bu, err := url.Parse(*backend)
	if err != nil {
		log.Fatal(err)
	}
	up, err := proxy.NewUpstream(proxy.UpstreamConfig{URLs: []*url.URL{bu}})
	if err != nil {
		log.Fatal(err)
	}
	d := decider{up: up}
	if *basic != "" {
		r := &http.Request{Header: http.Header{}}
		user, pass, _ := cutColon(*basic)
		r.SetBasicAuth(user, pass)
		d.basic = r.Header.Get("Authorization")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal((&proxy.Server{Decider: d}).Serve(ln))
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
