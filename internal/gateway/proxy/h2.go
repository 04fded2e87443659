package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// serveH2Stream serves one HTTP/2 request: x/net/http2 has already enforced HTTP/2's own framing rules
// (no connection-specific headers, valid pseudo-headers, Content-Length against DATA frames).
func (s *Server) serveH2Stream(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodTrace {
		writeH2Error(w, errTrace.status, errTrace.code(), errTrace.msg)
		return
	}
	if r.Method == http.MethodConnect || r.URL.Path == "" || r.URL.Path[0] != '/' {
		writeH2Error(w, http.StatusBadRequest, "invalid_request", "CONNECT and non-path request targets are not accepted by this gateway")
		return
	}
	if !cleanPath(r.URL.Path) {
		writeH2Error(w, http.StatusBadRequest, "invalid_request", errDotSegment.msg)
		return
	}
	if r.Host == "" || !validHostString(r.Host) {
		writeH2Error(w, http.StatusBadRequest, "invalid_request", errBadHost.msg)
		return
	}
	if r.TLS == nil {
		// HTTP/2 is served over TLS only; x/net/http2 leaves r.TLS nil when :scheme is not https, and the
		// backend would then be told (X-Forwarded-Proto, Forwarded) that the request came in clear.
		writeH2Error(w, http.StatusBadRequest, "invalid_request", "the :scheme of a request over this TLS connection must be https")
		return
	}
	if len(r.Header["Content-Length"]) > 1 {
		// As on HTTP/1.1 (errDupCL): two lengths may be two readings of the body.
		writeH2Error(w, http.StatusBadRequest, "invalid_request", errDupCL.msg)
		return
	}
	clientIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(clientIP); err == nil {
		clientIP = host
	}
	var org origin
	if s.trusted != nil && s.trustedPeer(clientIP) {
		if org = s.fromProxy(r.Header, clientIP); org.client != "" {
			r.RemoteAddr = org.client
		}
	}
	d := s.Decider.Decide(r)
	if d.Upstream == nil {
		status := d.Status
		if status < 200 || status > 599 {
			writeH2Error(w, http.StatusBadGateway, "bad_gateway", "the gateway has no answer for this request")
			if d.Done != nil {
				d.Done(Result{Status: http.StatusBadGateway})
			}
			return
		}
		h := w.Header()
		for k, vv := range d.Header {
			if !hopByHop(k) && k != "Content-Length" {
				h[k] = vv
			}
		}
		h.Set("Content-Length", strconv.Itoa(len(d.Body)))
		w.WriteHeader(status)
		var out int64
		var err error
		if r.Method != http.MethodHead {
			_, err = w.Write(d.Body)
			out = int64(len(d.Body))
		}
		if d.Done != nil {
			d.Done(Result{Status: status, BytesOut: out, Err: err})
		}
		return
	}
	start := time.Now()
	proto := "https"
	var guard *bodyGuard
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// Each read of the stream's body gets ReadBodyTimeout, as on HTTP/1.1.
		rc, timeout := http.NewResponseController(w), s.readBodyTimeout
		var dl time.Time
		guard = &bodyGuard{r: &deadlineReader{r: r.Body,
			extend: func() {
				if now := time.Now(); deadlineDue(dl, now, timeout) {
					dl = now.Add(timeout)
					rc.SetReadDeadline(dl)
				}
			},
			cut: func() bool { return false },
		}}
	}
	resp, status, err := d.Upstream.roundTrip(r.Context(), r, nil, guard, clientIP, proto, &org)
	latency := time.Since(start)
	if err != nil && guard != nil {
		if st, code, desc, ok := clientBodyFailure(guard.failure()); ok {
			addDecisionFields(w.Header(), d.ResponseHeader)
			writeH2Error(w, st, code, desc)
			if d.Done != nil {
				d.Done(Result{Status: st, UpstreamLatency: latency, BytesIn: guard.n.Load(), Err: guard.failure(), ClientErr: true})
			}
			return
		}
	}
	if err != nil && status != http.StatusGatewayTimeout && r.Context().Err() != nil {
		// The client's stream ended first (a reset, or framing x/net/http2 refused, such as more DATA than
		// its content-length): the client's doing, not the backend's, and nobody is left to answer.
		if d.Done != nil {
			d.Done(Result{UpstreamLatency: latency, Err: fmt.Errorf("the client's stream ended before the backend answered: %w", context.Cause(r.Context())), ClientErr: true})
		}
		return
	}
	if err != nil {
		desc := "the backend could not be reached or failed; try again later"
		code := "bad_gateway"
		if status == http.StatusGatewayTimeout {
			desc, code = "the backend did not answer in time", "gateway_timeout"
		}
		s.logBackendFailure(&d, "gateway: backend exchange failed", "status", status, "err", err)
		addDecisionFields(w.Header(), d.ResponseHeader)
		writeH2Error(w, status, code, desc)
		if d.Done != nil {
			d.Done(Result{Status: status, UpstreamLatency: latency, Err: err})
		}
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	copyResponseHeader(h, resp.Header, d.ResponseHeader)
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 16384)
	var n int64
	var rerr, werr error
	for {
		m, err := resp.Body.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, werr = w.Write(buf[:m]); werr == nil {
				werr = rc.Flush()
			}
			if werr != nil {
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	res := Result{Status: resp.StatusCode, UpstreamLatency: latency, BytesOut: n}
	if guard != nil {
		// No finish: the HTTP/2 body is safe to read after the handler returns (it then fails), and
		// waiting for a pending read could block on a slow client.
		res.BytesIn = guard.n.Load()
	}
	if rerr != nil {
		res.Err = rerr
		// Reset the stream so the client sees an incomplete response rather than a short one.
		defer panic(http.ErrAbortHandler)
	} else if werr != nil {
		res.Err, res.ClientErr = werr, true
	}
	if d.Done != nil {
		d.Done(res)
	}
}

// addDecisionFields adds the Decider's response fields (the decision id, naming the audit line that says
// why) to an error answer the engine writes itself, copied as copyResponseHeader copies them.
func addDecisionFields(dst, extra http.Header) {
	for k, vv := range extra {
		if !hopByHop(k) && k != "Content-Length" {
			dst[k] = slices.Clone(vv) // see copyResponseHeader
		}
	}
}

// copyResponseHeader copies a backend's response fields into dst without hop-by-hop ones and those named
// in Connection, then adds extra (the Decider's), which replaces the backend's fields of the same names.
func copyResponseHeader(dst, src, extra http.Header) {
	for k, vv := range src {
		if hopByHop(k) {
			continue
		}
		if _, ok := extra[k]; ok {
			continue
		}
		dst[k] = vv
	}
	for _, c := range src["Connection"] {
		for _, n := range splitTokens(c) {
			dst.Del(n)
		}
	}
	for k, vv := range extra {
		// Copied: the Decider may reuse extra's storage once Done is called,
		// and net/http may serialise dst after the handler has returned.
		dst[k] = slices.Clone(vv)
	}
}

func splitTokens(s string) []string {
	var out []string
	for len(s) > 0 {
		var tok string
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		tok, s = s[:i], s[min(i+1, len(s)):]
		for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
			tok = tok[1:]
		}
		for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
			tok = tok[:len(tok)-1]
		}
		if tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

func writeH2Error(w http.ResponseWriter, status int, code, desc string) {
	body := errorBody(code, desc)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
