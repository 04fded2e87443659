// Package gateway is the decision core of the Portcullis API gateway: the
// stored APIs (directory.API) compiled into an immutable routing snapshot,
// and the per-request decision the HTTP engine asks for.
//
// Gateway.Apply compiles every API (route, guard policy, principal
// headers, upstream) and swaps the snapshot in atomically; an API that does
// not compile is answered 503 with the reason, never dropped, and an
// unchanged API (same revision) keeps its compiled state. Vault references
// are resolved off the request path by a background refresher (a
// vaultwatch.Watcher, shared in design with outbound credentials) that polls
// the vault's revision once a second, so a rotated secret is served within
// about a second; the request path reads resolved values with one atomic
// load.
//
// Gateway.Evaluate is the request path: strip what a client must not send,
// route (exact host, then "*.suffix", then any host; longest path prefix at
// a "/" boundary; method), refuse Basic and API keys on plain HTTP unless
// the API allows it, apply the failed-authentication budget of the source
// address (429 before any credential is checked), run the policy, set the
// principal headers and the decision id. The Verdict's Done writes the
// audit line (asynchronously, dropping and counting when the sink lags) and
// counts the request in Prometheus.
//
// Gateway.Explain dry-runs an API's policy for the admin API's explain
// endpoint (ExplainHandler serves it).
//
// # Wiring
//
// The HTTP engine calls Evaluate once per request head and Done once the
// exchange has ended:
//
//	v := g.Evaluate(r, r.TLS == nil)
//	done := func(res proxy.Result) { v.Done(res.Status, res.UpstreamLatency, res.Err) }
//	if !v.Forward() {
//		return proxy.Decision{Status: v.Status, Header: v.Header, Body: v.Body, Done: done}
//	}
//	return proxy.Decision{Upstream: v.API.Backend.(*proxy.Upstream), Done: done}
//
// with Config.NewBackend making a proxy.Upstream from an Upstream. The
// reload loop's component calls Apply with every API of the directory
// snapshot; TLS listeners take their configuration from ListenerTLS, which
// asks for client certificates while NeedsClientCertificate reports true.
package gateway
