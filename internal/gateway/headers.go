package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
)

// principalHeader is one header the backend receives about the caller.
type principalHeader struct {
	name  string // canonical
	field string // one of directory.PrincipalHeaderFields
}

// proxySetHeaders are what front proxies set and backends believe, so a
// client must never be able to send one: the client-certificate headers of
// TLS-terminating proxies, the client address (X-Real-Ip, as nginx sets it,
// and the names CDNs and other balancers use) and the original URL
// (X-Original-Url, X-Rewrite-Url: IIS, Symfony and Zend route by them, so a
// request admitted for /public could be served as /admin). The engine
// replaces X-Forwarded-* and Forwarded itself.
var proxySetHeaders = []string{
	"X-Forwarded-Client-Cert", "X-Client-Cert", "X-Ssl-Client-Cert", "Ssl-Client-Cert",
	"X-Client-Certificate", "X-Arr-Clientcert",
	"X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Client-Ip", "Client-Ip", "X-Cluster-Client-Ip",
	"X-Original-Forwarded-For", "X-Original-Host",
	"X-Original-Url", "X-Rewrite-Url",
	// A method other than the one the API's methods and rules admitted:
	// frameworks that honour these would serve a GET as a DELETE.
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
}

const portcullisPrefix = "X-Portcullis-"

// DecisionIDHeader carries the decision id to the client and the backend.
const DecisionIDHeader = directory.DecisionIDHeader

func compileHeaders(m map[string]string) ([]principalHeader, error) {
	if m == nil {
		m = directory.DefaultPrincipalHeaders
	}
	out := make([]principalHeader, 0, len(m))
	for name, field := range m {
		// The directory's rule, so that what the admin API stored is what
		// the gateway serves.
		if err := directory.CheckPrincipalHeader(name, field); err != nil {
			return nil, err
		}
		c := http.CanonicalHeaderKey(name)
		out = append(out, principalHeader{name: c, field: field})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// validHeaderName reports an RFC 9110 token of at most 100 bytes (a header
// name or a method).
func validHeaderName(s string) bool { return len(s) <= 100 && httpguts.ValidHeaderFieldName(s) }

// stripClientHeaders removes what a client must never send: every
// X-Portcullis-* header and the proxySetHeaders, also spelt with "_" for
// "-" (CGI, WSGI, PHP and Rack give X_Real_Ip and X-Real-Ip one variable,
// HTTP_X_REAL_IP), and the X-Forwarded-* headers so spelt (the engine
// replaces the real ones itself). Names compare case-insensitively,
// whatever the map's keys.
func stripClientHeaders(h http.Header) {
	for k := range h {
		if clientMustNotSend(k) || hasPrefixFoldDash(k, "X-Forwarded-") && strings.IndexByte(k, '_') >= 0 {
			delete(h, k)
		}
	}
}

// clientMustNotSend reports an X-Portcullis-* name or one of the
// proxySetHeaders, "_" standing for "-".
func clientMustNotSend(k string) bool {
	// Every such name is 9 or more bytes ("Client-Ip", "X-Real-Ip") and
	// starts with X, S, T or C: most headers are passed over with two
	// comparisons, and the rest compare their length first.
	if len(k) < len("Client-Ip") {
		return false
	}
	switch k[0] | 0x20 {
	case 'x', 's', 't', 'c':
	default:
		return false
	}
	if hasPrefixFoldDash(k, portcullisPrefix) {
		return true
	}
	for _, c := range proxySetHeaders {
		if equalFoldDash(k, c) {
			return true
		}
	}
	return false
}

// equalFoldDash reports whether two ASCII header names are equal ignoring
// case and reading "_" as "-" (without allocating: it runs for every
// header of every request).
func equalFoldDash(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func hasPrefixFoldDash(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldDash(s[:len(prefix)], prefix)
}

// stripPrincipalHeaders removes the API's own principal headers the
// client sent (those outside X-Portcullis-*, which stripClientHeaders has
// removed already), whichever of "_" and "-" either spelling uses.
func (a *API) stripPrincipalHeaders(h http.Header) {
	if len(a.ownHeaders) == 0 {
		return
	}
	for k := range h {
		for _, name := range a.ownHeaders {
			if equalFoldDash(k, name) {
				delete(h, k)
				break
			}
		}
	}
}

// ownHeaders are the principal header names stripClientHeaders does not cover.
func ownHeaders(hs []principalHeader) []string {
	var out []string
	for _, ph := range hs {
		if !strings.HasPrefix(ph.name, portcullisPrefix) {
			out = append(out, ph.name)
		}
	}
	return out
}

// setPrincipalHeaders tells the backend who the caller is, and the
// decision id. The values share one backing array: scratch when it is
// large enough (it must then stay untouched until r is forwarded), else
// one allocation whatever the number of headers.
func (a *API) setPrincipalHeaders(h http.Header, p *guard.Principal, decisionID string, scratch []string) {
	vals := scratch
	if len(vals) < len(a.headers)+1 {
		vals = make([]string, len(a.headers)+1)
	}
	vals[0] = decisionID
	h[DecisionIDHeader] = vals[0:1:1]
	for i, ph := range a.headers {
		if v := sanitiseHeaderValue(principalField(p, ph.field)); v != "" {
			vals[i+1] = v
			h[ph.name] = vals[i+1 : i+2 : i+2]
		}
	}
}

func principalField(p *guard.Principal, field string) string {
	switch field {
	case "method":
		return string(p.Method)
	case "subject":
		return p.Subject
	case "tenantId":
		return p.TenantID
	case "appId":
		return p.AppID
	case "objectId":
		return p.ObjectID
	case "issuer":
		return p.Issuer
	case "roles":
		return strings.Join(p.Roles, ",")
	case "scopes":
		return strings.Join(p.Scopes, ",")
	case "tokenId":
		return p.TokenID
	case "credentialId":
		return p.CredentialID
	case "certificateThumbprint":
		if p.Method == guard.MethodClientCertificate && p.CredentialID != "" {
			return p.CredentialID // guard's SHA-256 hex of the certificate, already computed
		}
		if p.Certificate != nil {
			sum := sha256.Sum256(p.Certificate.Raw)
			return hex.EncodeToString(sum[:])
		}
	case "certificateSubject":
		if p.Certificate != nil {
			return p.Certificate.Subject.String()
		}
	case "certificateIssuer":
		if p.Certificate != nil {
			return p.Certificate.Issuer.String()
		}
	}
	return ""
}

// sanitiseHeaderValue drops control characters (CR and LF above all), so
// a claim cannot add a header or split the request.
func sanitiseHeaderValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimSpace(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c != 0x7f {
			b = append(b, c)
		}
	}
	return strings.TrimSpace(string(b))
}
