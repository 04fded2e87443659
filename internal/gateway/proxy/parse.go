package proxy

import "bytes"

// Limits that are not configurable: they bound work per request, not features.
const (
	maxHeaderFields  = 100
	maxChunkLine     = 4096  // chunk-size line including extensions
	maxTrailerBytes  = 16384 // all trailer lines of one chunked body
	maxContentDigits = 18    // fits an int64 without overflow checks
)

// span is a half-open byte range into a head buffer; parsing records spans so that it allocates nothing.
type span struct{ lo, hi int }

func (s span) bytes(b []byte) []byte { return b[s.lo:s.hi] }

// field is one header line: its (canonicalised in place) name, its trimmed value, and the interned key of
// a common header ("" for others).
type field struct {
	name, value span
	key         string
}

// headError is a refusal of a malformed head: the status to answer and words for the client.
type headError struct {
	status int
	msg    string
}

// code is the JSON error code of the refusal.
func (e headError) code() string {
	if e.status == 405 {
		return "method_not_allowed"
	}
	return "invalid_request"
}

// messageHead is what both the request and the response parser extract: header fields and framing.
type messageHead struct {
	fields        []field
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	connTokens    []span // other tokens of Connection: headers to strip (hop-by-hop by declaration)
	upgrade       int    // index+1 in fields of the Upgrade header, 0 when absent
}

// requestHead is a parsed request head.
type requestHead struct {
	messageHead
	method, target span
	minor          int // HTTP/1.<minor>
	host           int // index+1 in fields of the Host header, 0 when absent
	expectContinue bool
}

// responseHead is a parsed response head.
type responseHead struct {
	messageHead
	minor  int
	status int
	reason span
}

func (h *messageHead) reset() {
	h.fields = h.fields[:0]
	h.contentLength = -1
	h.chunked = false
	h.connClose, h.connKeepAlive, h.connUpgrade = false, false, false
	h.connTokens = h.connTokens[:0]
	h.upgrade = 0
}

// tokenTable marks the bytes allowed in an RFC 9110 token (method, header name).
var tokenTable = asciiTable("!#$%&'*+-.^_`|~")

// validValueByte reports whether c may appear in a field value: VCHAR, obs-text, SP, HTAB.
func validValueByte(c byte) bool { return c == '\t' || (c >= 0x20 && c != 0x7f) }

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

func validTokenString(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}

func validValueString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !validValueByte(s[i]) {
			return false
		}
	}
	return true
}

// nextLine returns the line starting at off (without CRLF) and the offset after it. Lines must end in CRLF;
// a bare LF or a CR elsewhere is an error.
func nextLine(b []byte, off int) (line span, next int, ok bool) {
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return span{}, 0, false
	}
	end := off + i
	if end == off || b[end-1] != '\r' {
		return span{}, 0, false
	}
	if bytes.IndexByte(b[off:end-1], '\r') >= 0 {
		return span{}, 0, false
	}
	return span{off, end - 1}, end + 1, true
}

var (
	errBareLF       = headError{400, "the request has a line not ended by CRLF (bare LF or bare CR); send CRLF line endings"}
	errObsFold      = headError{400, "a header line starts with whitespace (obsolete line folding); put each header on one line"}
	errHeaderName   = headError{400, "a header name is empty, has whitespace before the colon or a character that is not allowed in a token; fix the header name"}
	errHeaderValue  = headError{400, "a header value contains a control character; remove it"}
	errTooMany      = headError{431, "the request has more than 100 header fields; send fewer headers"}
	errDupCL        = headError{400, "the request has more than one Content-Length value; send exactly one"}
	errBadCL        = headError{400, "Content-Length is not a decimal number of at most 18 digits; send a valid length"}
	errBadTE        = headError{400, `Transfer-Encoding must be exactly "chunked" (one header, one value); send the body with Content-Length or plain chunked`}
	errTEAndCL      = headError{400, "the request has both Transfer-Encoding and Content-Length; send only one of them"}
	errRequestLine  = headError{400, "the request line is not METHOD SP origin-form-target SP HTTP/1.x; send a valid request line"}
	errVersion      = headError{505, "only HTTP/1.0 and HTTP/1.1 are supported on this connection"}
	errTarget       = headError{400, "the request target must be an absolute path (origin-form) such as /path?query, without spaces, fragments or control characters"}
	errNoHost       = headError{400, "an HTTP/1.1 request needs exactly one Host header; add it"}
	errDupHost      = headError{400, "the request has more than one Host header; send exactly one"}
	errBadHost      = headError{400, "the Host header is not a valid host[:port]; fix it"}
	errTE10         = headError{400, "Transfer-Encoding is not allowed in an HTTP/1.0 request; use Content-Length"}
	errExpect       = headError{417, `the only supported expectation is "100-continue"`}
	errAsteriskForm = headError{400, "the asterisk-form request target (*) is only allowed with OPTIONS"}
	errDotSegment   = headError{400, "the request path contains dot segments (/./ or /../, also encoded or with ;parameters), encoded control characters, or a double-encoded dot, slash or backslash (%252e, %252f, %255c); send a normalised path"}
	errAbsoluteForm = headError{400, "absolute-form request targets (http://host/path) are not accepted by this gateway (it is not a forward proxy); send the path only, with a Host header"}
	// errTrace: a backend's TRACE echo (RFC 9110 9.3.8) would show the client what the gateway added to
	// its request, the API's backend credential included.
	errTrace   = headError{405, "TRACE is not accepted by this gateway: the backend's echo would show the credentials and identity headers the gateway adds"}
	errConnect = headError{400, "CONNECT is not accepted by this gateway (it is not a forward proxy and opens no tunnels); send the request itself, with its path"}
)

// parseFields parses header lines from off to the end of b (which ends with the empty line) into h.
// Names are canonicalised in place in b.
func parseFields(b []byte, off int, h *messageHead, isRequest bool) (int, int, headError) {
	hostIdx := 0
	sawTE := false
	for {
		line, next, ok := nextLine(b, off)
		if !ok {
			return 0, 0, errBareLF
		}
		off = next
		if line.lo == line.hi {
			break
		}
		l := line.bytes(b)
		if l[0] == ' ' || l[0] == '\t' {
			return 0, 0, errObsFold
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !validToken(l[:colon]) {
			return 0, 0, errHeaderName
		}
		if len(h.fields) == maxHeaderFields {
			return 0, 0, errTooMany
		}
		name := span{line.lo, line.lo + colon}
		vlo, vhi := line.lo+colon+1, line.hi
		for vlo < vhi && (b[vlo] == ' ' || b[vlo] == '\t') {
			vlo++
		}
		for vhi > vlo && (b[vhi-1] == ' ' || b[vhi-1] == '\t') {
			vhi--
		}
		for _, c := range b[vlo:vhi] {
			if !validValueByte(c) {
				return 0, 0, errHeaderValue
			}
		}
		canonicalize(name.bytes(b))
		f := field{name: name, value: span{vlo, vhi}, key: commonKey(name.bytes(b))}
		v := f.value.bytes(b)
		switch f.key {
		case "Content-Length":
			if h.contentLength >= 0 {
				return 0, 0, errDupCL
			}
			n, ok := parseContentLength(v)
			if !ok {
				if bytes.IndexByte(v, ',') >= 0 {
					return 0, 0, errDupCL
				}
				return 0, 0, errBadCL
			}
			h.contentLength = n
		case "Transfer-Encoding":
			if sawTE || !asciiEqualFold(v, "chunked") {
				return 0, 0, errBadTE
			}
			sawTE = true
			h.chunked = true
		case "Connection":
			h.parseConnection(b, f.value)
		case "Upgrade":
			h.upgrade = len(h.fields) + 1
		case "Host":
			if isRequest {
				if hostIdx != 0 {
					return 0, 0, errDupHost
				}
				hostIdx = len(h.fields) + 1
			}
		}
		h.fields = append(h.fields, f)
	}
	if h.chunked && h.contentLength >= 0 {
		return 0, 0, errTEAndCL
	}
	return off, hostIdx, headError{}
}

func (h *messageHead) parseConnection(b []byte, v span) {
	i := v.lo
	for i < v.hi {
		j := i
		for j < v.hi && b[j] != ',' {
			j++
		}
		lo, hi := i, j
		for lo < hi && (b[lo] == ' ' || b[lo] == '\t') {
			lo++
		}
		for hi > lo && (b[hi-1] == ' ' || b[hi-1] == '\t') {
			hi--
		}
		tok := b[lo:hi]
		switch {
		case len(tok) == 0:
		case asciiEqualFold(tok, "close"):
			h.connClose = true
		case asciiEqualFold(tok, "keep-alive"):
			h.connKeepAlive = true
		case asciiEqualFold(tok, "upgrade"):
			h.connUpgrade = true
		default:
			if len(h.connTokens) < maxHeaderFields {
				h.connTokens = append(h.connTokens, span{lo, hi})
			}
		}
		i = j + 1
	}
}

// parseRequestHead parses a complete request head (request line, header lines, empty line) held in b.
func parseRequestHead(b []byte, h *requestHead) headError {
	h.reset()
	h.host = 0
	h.expectContinue = false
	line, off, ok := nextLine(b, 0)
	if !ok {
		return errBareLF
	}
	l := line.bytes(b)
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return errRequestLine
	}
	sp2 := bytes.IndexByte(l[sp1+1:], ' ')
	if sp2 <= 0 {
		return errRequestLine
	}
	sp2 += sp1 + 1
	h.method = span{0, sp1}
	h.target = span{sp1 + 1, sp2}
	if !validToken(l[:sp1]) {
		return errRequestLine
	}
	minor, e := parseVersion(l[sp2+1:])
	if e.status != 0 {
		return e
	}
	h.minor = minor
	for _, c := range h.target.bytes(b) {
		if c <= 0x20 || c >= 0x7f || c == '#' {
			return errTarget
		}
	}
	_, host, e := parseFields(b, off, &h.messageHead, true)
	if e.status != 0 {
		return e
	}
	h.host = host
	if minor == 1 && host == 0 {
		return errNoHost
	}
	if host != 0 && !validHost(h.fields[host-1].value.bytes(b)) {
		return errBadHost
	}
	if minor == 0 && h.chunked {
		return errTE10
	}
	for i := range h.fields {
		if h.fields[i].key == "Expect" {
			v := h.fields[i].value.bytes(b)
			if !asciiEqualFold(v, "100-continue") {
				return errExpect
			}
			h.expectContinue = minor == 1
		}
	}
	return headError{}
}

// parseVersion accepts exactly HTTP/1.0 and HTTP/1.1; other well-formed versions get 505.
func parseVersion(v []byte) (int, headError) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, errRequestLine
	}
	if v[5] != '1' || (v[7] != '0' && v[7] != '1') {
		return 0, errVersion
	}
	return int(v[7] - '0'), headError{}
}

var (
	errRespStatusLine = headError{502, "the backend sent a malformed status line"}
	// errRespStatusRange is a status code outside RFC 9110's 100 to 599.
	errRespStatusRange = errBackendProtocol("the backend sent a status code outside 100-599")
	errRespVersion     = headError{502, "the backend answered with an HTTP version other than 1.0 or 1.1"}
)

// parseResponseHead parses a complete response head held in b with the same strictness as requests.
func parseResponseHead(b []byte, h *responseHead) headError {
	h.reset()
	line, off, ok := nextLine(b, 0)
	if !ok {
		return headError{502, "the backend sent a line not ended by CRLF"}
	}
	l := line.bytes(b)
	if len(l) < 12 || l[8] != ' ' || !isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) || (len(l) > 12 && l[12] != ' ') {
		return errRespStatusLine
	}
	minor, e := parseVersion(l[:8])
	if e.status != 0 {
		return errRespVersion
	}
	h.minor = minor
	h.status = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
	if h.status < 100 {
		return errRespStatusLine
	}
	if h.status > 599 {
		// RFC 9110 15: every valid status code is within 100 to 599; a client may not know what to do
		// with another, and net/http's own server refuses to send one above 999.
		return headError{502, errRespStatusRange.Error()}
	}
	h.reason = span{line.hi, line.hi}
	if len(l) > 13 {
		h.reason = span{line.lo + 13, line.hi}
		for _, c := range l[13:] {
			if !validValueByte(c) {
				return errRespStatusLine
			}
		}
	}
	_, _, e = parseFields(b, off, &h.messageHead, false)
	if e.status != 0 {
		return headError{502, "the backend sent a malformed header: " + e.msg}
	}
	return headError{}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > maxContentDigits {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost checks a Host value: host or host:port made of the characters RFC 3986 allows in an authority.
func validHost(v []byte) bool {
	for _, c := range v {
		if !hostTable[c] {
			return false
		}
	}
	return true
}

func validHostString(v string) bool {
	for i := 0; i < len(v); i++ {
		if !hostTable[v[i]] {
			return false
		}
	}
	return true
}

var hostTable = asciiTable("-._~!$&'()*+,;=:[]%")

// asciiTable marks the ASCII letters and digits and the bytes of extra.
func asciiTable(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// canonicalize rewrites a valid token in place to the canonical MIME header form (Content-Type).
func canonicalize(b []byte) {
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

// commonKey returns an interned string for frequent canonical header names, so that the header map
// shares one key string across requests; "" for others.
func commonKey(b []byte) string {
	switch string(b) {
	case "Host":
		return "Host"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Accept-Language":
		return "Accept-Language"
	case "Authorization":
		return "Authorization"
	case "Connection":
		return "Connection"
	case "Content-Length":
		return "Content-Length"
	case "Content-Type":
		return "Content-Type"
	case "Cookie":
		return "Cookie"
	case "Expect":
		return "Expect"
	case "Keep-Alive":
		return "Keep-Alive"
	case "Proxy-Connection":
		return "Proxy-Connection"
	case "Te":
		return "Te"
	case "Trailer":
		return "Trailer"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "Upgrade":
		return "Upgrade"
	case "X-Forwarded-For":
		return "X-Forwarded-For"
	case "X-Forwarded-Proto":
		return "X-Forwarded-Proto"
	case "X-Forwarded-Host":
		return "X-Forwarded-Host"
	case "Forwarded":
		return "Forwarded"
	case "Date":
		return "Date"
	case "Server":
		return "Server"
	case "Cache-Control":
		return "Cache-Control"
	case "Origin":
		return "Origin"
	case "Referer":
		return "Referer"
	case "X-Request-Id":
		return "X-Request-Id"
	case "Sec-Websocket-Key":
		return "Sec-Websocket-Key"
	case "Sec-Websocket-Version":
		return "Sec-Websocket-Version"
	}
	return ""
}

// hopByHop reports whether a canonical header name is connection-specific (RFC 9110 7.6.1) and so never
// forwarded as such. Proxy-Authorization and Proxy-Authenticate are for the proxy they reach (RFC 9110
// 11.7), so they go no further than the gateway either, as with net/http/httputil.ReverseProxy.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Proxy-Authorization", "Proxy-Authenticate":
		return true
	}
	return false
}
