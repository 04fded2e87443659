// Package proxy is the gateway's HTTP engine: a strict HTTP/1.1 server (HTTP/2 over TLS through
// golang.org/x/net/http2) that asks a Decider about every request and either answers locally or forwards
// the request to an Upstream over pooled keep-alive connections.
//
// Forwarding rules, the behaviour backends can rely on:
//   - Path: the backend sees its URL's base path followed by r.URL.Path as left by the Decider, and
//     r.URL.RawQuery as the query.
//   - Host: the client's Host header (or :authority) is preserved, not replaced by the backend's host; a
//     backend that needs its own name must be reachable under the client-facing name or use
//     X-Forwarded-Host.
//   - The gateway is the edge, so what a client says about earlier hops is never passed on: X-Forwarded-For
//     is set to the client IP, X-Forwarded-Proto and X-Forwarded-Host (when there is a Host) are set, and
//     Forwarded is one RFC 7239 element (for, proto, host), all replacing what the client sent; every other
//     X-Forwarded-* header of the client (-Port, -Prefix, -Server, …) is removed.
//   - Behind a load balancer (Server.TrustedProxies), a connection from a trusted address is a proxy
//     speaking for its client: the client address is the rightmost X-Forwarded-For entry that is not
//     itself trusted (the leftmost when all are; the proxy's own address when an entry reached is not an
//     address), and the Decider sees it as r.RemoteAddr. X-Forwarded-For is then the proxy's chain with
//     the proxy's address appended; X-Forwarded-Proto and X-Forwarded-Host are the proxy's when they are
//     valid (http or https; one valid host), else the connection's; Forwarded is the proxy's, when it is
//     valid RFC 7239, with an element for this hop appended, else one element for the client. Other
//     X-Forwarded-* headers are removed as from any client. The PROXY protocol is not read.
//   - Hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade
//     unless the request is an upgrade, and every header named in Connection) are removed both ways, and
//     Proxy-Authorization from requests.
//   - Bodies stream in both directions (Content-Length or chunked) and are never buffered whole; request
//     trailers are dropped.
//   - Expect: 100-continue is answered by the gateway once the request is forwarded, not passed on.
//   - Upgrade (WebSocket): after a 101 from an HTTP/1.1 backend, bytes are spliced both ways until either
//     side closes. Upgrades are not available over inbound HTTP/2 or to backends that speak h2.
//
// Strictness: the HTTP/1.1 engine refuses anything that could be read two ways by two parsers (request
// smuggling): see parse.go. Request targets must be origin-form (/path?query); absolute-form targets
// (http://host/path) are refused with 400 because this is a reverse proxy, not a forward proxy; OPTIONS *
// is answered by the gateway itself. Paths with dot segments (/../, /./, also percent-encoded or with
// ;parameters) or double-encoded dots, slashes and backslashes are refused so that what the Decider matched
// is what the backend serves.
package proxy

import (
	"net/http"
	"time"
)

// A Decider decides each request once its head has been read. r is valid only during the call (the
// engine reuses it); the Decider may edit r.Header (strip/add headers), r.URL.Path and r.URL.RawQuery
// (strip an API key parameter) and must not keep r or read r.Body. r.TLS is set on TLS connections (peer
// certificates included); r.RemoteAddr is the client address ("ip:port" of the connection, or the bare IP
// a trusted proxy named, see Server.TrustedProxies); r.Host the Host header (or :authority).
//
// On HTTP/1.1 the engine reuses r, its Header map and the value slices between requests of a connection:
// strings taken from r (header values, the path) may be kept, for instance in a Done closure, but not the
// map or the slices. Hop-by-hop headers are already removed when Decide is called (Upgrade is kept on an
// upgrade request); Host is in r.Host, not in r.Header.
//
// On connections served by the event-loop engine (Linux), Decide runs on the loop that serves the
// connection, and every other connection of that loop waits while it runs: it must be quick and must not
// wait on I/O. A Decider that may wait is a WaitingDecider, whose DecideNow the loop calls instead.
type Decider interface {
	Decide(r *http.Request) Decision
}

// A WaitingDecider is a Decider whose Decide may wait for some requests (for signing keys being fetched,
// say). The event-loop engine calls DecideNow instead of Decide, on the loop: it decides as Decide does
// when that needs no waiting, and otherwise returns false without deciding, having edited r at most in
// ways Decide repeats harmlessly. The engine then has a goroutine of its own call Decide, where waiting
// holds up no other connection, and serves the request on the loop once the decision is back. Decide
// must return in bounded time: the connection waits for it with no deadline of its own. DecideNow must find out that it would
// wait in the same pass that decides (not by a check before it, which a change of rules in between
// would make wrong), and must itself not wait.
type WaitingDecider interface {
	Decider
	DecideNow(r *http.Request) (Decision, bool)
}

// Decision is what to do with one request.
type Decision struct {
	// Upstream, when non-nil, forwards the request (with the Decider's edits) to that backend; otherwise
	// the engine answers locally with Status, Header and Body (a refusal: 401/403/404/429/503 JSON).
	Upstream *Upstream
	Status   int
	Header   http.Header
	Body     []byte
	// ResponseHeader, when forwarding, holds fields added to the backend's response to the client
	// (the decision id); they replace the backend's fields of the same name. The engine does not use
	// it (nor the request's header) after calling Done, so a Decider may reuse their storage then.
	ResponseHeader http.Header
	// Done, when set, is called once the exchange has ended (response fully sent or failed), for audit
	// and metrics. A failed backend exchange (502/504) is then the Decider's to log: the engine logs
	// it only for Decisions without Done.
	Done func(Result)
}

// Result is how an exchange ended.
type Result struct {
	// Status is the status sent to the client (502/504 when the backend failed), or 0 when the client
	// could not be sent any answer (it left before "100 Continue" could be written); Err then says why.
	Status          int
	UpstreamLatency time.Duration // time to the backend's response head; 0 when not forwarded
	// BytesIn is the request body bytes read from the client, BytesOut the response body bytes sent to it.
	BytesIn, BytesOut int64
	Err               error // backend or client error, nil on success (never contains header values)
	// ClientErr says Err is the client's doing (it left, or its request body was malformed, cut short or
	// stalled), not the backend's: the backend is not to blame in logs and metrics.
	ClientErr bool
}
