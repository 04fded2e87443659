package directory

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/outbound"
)

// Limits of an API. Like the other limits they are part of the admin API's
// contract.
const (
	MaxAPIName          = 63
	MaxAPIHosts         = 32
	MaxAPIMethods       = 16
	MaxBackendURLs      = 16
	MaxPrincipalHeaders = 32
	MaxPolicyMethods    = 16
	MaxPolicyEntries    = 100 // users, keys, CAs, pins, issuers, audiences, rule values of one list
	MaxPathPrefix       = 1024
	MaxTimeoutSeconds   = 3600
	// MinTimeoutSeconds is the shortest timeout an API or a connector
	// accepts (1 ms); a shorter one (1e-9, from a "1ns" duration) fails
	// every call.
	MinTimeoutSeconds = 0.001
	maxHostName       = 253
	maxReference      = 512
	maxPEM            = 64 << 10
)

// The policy's form (duplicate users and keys, thumbprints, algorithms,
// header names) is checked by guard.PolicySpec.Validate; what follows adds
// the limits and references only the directory knows.

// forbiddenPrincipalHeaders are request headers a principal header must not
// replace: hop-by-hop headers (RFC 9110 section 7.6.1), which proxies
// consume, those that carry the request's own routing, expectations or
// credentials, and those the gateway itself sets (Forwarded, Via and, by
// prefix, X-Forwarded-*).
var forbiddenPrincipalHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Authorization", "Cookie",
	"Expect", "Max-Forwards", "Forwarded", "Via",
}

// normalizeAPI checks everything about an API that needs no other object
// and returns it in its stored form (hosts lower-cased, principal header
// names canonical). Each refusal names the JSON path of the field and says
// how to fix it. Bearer issuers naming a tenant are resolved later, in the
// transaction.
func normalizeAPI(in API) (API, error) {
	api := in
	if err := validateAPIName(api.Name); err != nil {
		return api, err
	}
	var err error
	if api.Description, err = normalizeDescription("description", api.Description); err != nil {
		return api, err
	}
	if api.Match, err = normalizeMatch(api.Match); err != nil {
		return api, err
	}
	if api.Backend, err = normalizeBackend(api.Backend); err != nil {
		return api, err
	}
	if api.PrincipalHeaders, err = normalizePrincipalHeaders(api.PrincipalHeaders); err != nil {
		return api, err
	}
	if err := validatePolicy(api.Policy); err != nil {
		return api, err
	}
	return api, nil
}

func validateAPIName(name string) error {
	return validateName("name", name, MaxAPIName, "\"orders-api\"")
}

func normalizeMatch(m APIMatch) (APIMatch, error) {
	if len(m.Hosts) > MaxAPIHosts {
		return m, invalid("field \"match.hosts\" has %d entries; an API may have at most %d", len(m.Hosts), MaxAPIHosts)
	}
	hosts := make([]string, len(m.Hosts))
	for i, h := range m.Hosts {
		field := "match.hosts[" + strconv.Itoa(i) + "]"
		// The fully qualified form names the same host; requests carry it
		// without the dot.
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		if err := validateHostPattern(field, h); err != nil {
			return m, err
		}
		if slices.Contains(hosts[:i], h) {
			return m, invalid("field %q lists %q twice (hosts compare case-insensitively); remove the duplicate", field, h)
		}
		hosts[i] = h
	}
	if len(hosts) == 0 {
		hosts = nil
	}
	m.Hosts = hosts
	if err := validatePathPrefix(m.PathPrefix); err != nil {
		return m, err
	}
	if len(m.Methods) > MaxAPIMethods {
		return m, invalid("field \"match.methods\" has %d entries; an API may have at most %d (leave it out to match every method)", len(m.Methods), MaxAPIMethods)
	}
	for i, meth := range m.Methods {
		field := "match.methods[" + strconv.Itoa(i) + "]"
		if meth == "" || len(meth) > 32 || !httpguts.ValidHeaderFieldName(meth) {
			return m, invalid("field %q %q is not an HTTP method; use a token such as GET or POST", field, clip(meth))
		}
		if up := strings.ToUpper(meth); up != meth {
			return m, invalid("field %q %q is not upper-case; HTTP methods are case-sensitive and written %q", field, clip(meth), up)
		}
		if slices.Contains(m.Methods[:i], meth) {
			return m, invalid("field %q lists %s twice; remove the duplicate", field, meth)
		}
	}
	if len(m.Methods) == 0 {
		m.Methods = nil
	} else {
		m.Methods = slices.Clone(m.Methods)
	}
	return m, nil
}

// validateHostPattern checks a lower-cased host of match.hosts: a DNS name
// or "*." and a DNS name, without a port.
func validateHostPattern(field, h string) error {
	const form = "give a host name such as api.example.com or a wildcard such as *.example.com, without scheme, port or path"
	if h == "" {
		return invalid("field %q is empty; %s", field, form)
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@") {
		return invalid("field %q %q is not a host name; %s", field, clip(h), form)
	}
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") > 1 {
		return invalid("field %q %q is an IPv6 address; APIs match host names: %s", field, clip(h), form)
	}
	if strings.Contains(h, ":") {
		return invalid("field %q %q has a port; the gateway matches the host without its port: %s", field, clip(h), form)
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	if strings.Contains(name, "*") {
		return invalid("field %q %q: a wildcard is only allowed as the whole first label (\"*.example.com\")", field, clip(h))
	}
	if !isDNSName(name) {
		return invalid("field %q %q is not a valid DNS name (labels of 1 to 63 letters, digits and '-', not starting or ending with '-', at most %d characters in all); %s", field, clip(h), maxHostName, form)
	}
	return nil
}

func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > maxHostName {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validatePathPrefix(p string) error {
	const field = "match.pathPrefix"
	if p == "" {
		return invalid("field %q is required: a path starting with \"/\", e.g. \"/orders\" (\"/\" matches every path)", field)
	}
	if len(p) > MaxPathPrefix {
		return invalid("field %q is %d characters long; use at most %d", field, len(p), MaxPathPrefix)
	}
	if p[0] != '/' {
		return invalid("field %q %q does not start with \"/\"; write it as \"/%s\"", field, clip(p), clip(p))
	}
	if strings.ContainsAny(p, "?#") {
		return invalid("field %q %q holds a query or fragment; give the path alone, e.g. \"/orders\"", field, clip(p))
	}
	for _, c := range p {
		if c == '%' || unicode.IsSpace(c) || unicode.IsControl(c) || c > unicode.MaxASCII {
			return invalid("field %q %q contains %q; use unescaped printable ASCII without spaces or '%%'", field, clip(p), c)
		}
	}
	if strings.Contains(p, "//") {
		return invalid("field %q %q contains \"//\"; remove the empty segment", field, clip(p))
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return invalid("field %q %q contains a %q segment, which clients collapse; give the path it stands for", field, clip(p), seg)
		}
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return invalid("field %q %q ends with \"/\"; write %q (it matches %s and every path under %s/)", field, clip(p), strings.TrimRight(p, "/"), strings.TrimRight(p, "/"), strings.TrimRight(p, "/"))
	}
	return nil
}

// normalizeBackend checks an API's backend and returns it in its stored
// form: TLS and credential through the validators connectors use, with
// paths under "backend.".
func normalizeBackend(b Backend) (Backend, error) {
	if len(b.URLs) == 0 {
		return b, invalid("field \"backend.urls\" is empty; give the backend's URL, e.g. \"http://127.0.0.1:8080\"")
	}
	if len(b.URLs) > MaxBackendURLs {
		return b, invalid("field \"backend.urls\" has %d entries; an API may have at most %d", len(b.URLs), MaxBackendURLs)
	}
	for i, raw := range b.URLs {
		field := "backend.urls[" + strconv.Itoa(i) + "]"
		if err := validateBackendURL(field, raw); err != nil {
			return b, err
		}
		if slices.Contains(b.URLs[:i], raw) {
			return b, invalid("field %q lists %q twice; remove the duplicate", field, clip(raw))
		}
	}
	var err error
	if b.TLS, err = normalizeBackendTLS(b.TLS); err != nil {
		return b, err
	}
	if b.Credential != nil {
		c, err := NormalizeCredential("backend.credential", *b.Credential)
		if err != nil {
			return b, err
		}
		if c.Type == "" || c.Type == outbound.TypeNone {
			b.Credential = nil
		} else {
			b.Credential = &c
		}
	}
	for i, raw := range b.URLs {
		u, _ := url.Parse(raw) // validated above
		var cred outbound.CredentialSpec
		if b.Credential != nil {
			cred = *b.Credential
		}
		tlsSpec := b.TLS.Spec()
		if u.Scheme == "http" && len(b.URLs) > 1 {
			tlsSpec = nil // TLS settings apply to the https URLs of a mixed list
		}
		if err := CheckTransport("backend.urls["+strconv.Itoa(i)+"]", u, "backend.credential", cred, "backend.tls", tlsSpec, "backend.allowInsecureAuth", b.AllowInsecureAuth); err != nil {
			return b, err
		}
	}
	for _, t := range []struct {
		field string
		v     float64
	}{
		{"backend.timeouts.connectSeconds", b.Timeouts.ConnectSeconds},
		{"backend.timeouts.responseHeaderSeconds", b.Timeouts.ResponseHeaderSeconds},
		{"backend.timeouts.idleSeconds", b.Timeouts.IdleSeconds},
	} {
		if math.IsNaN(t.v) || t.v < 0 || t.v > MaxTimeoutSeconds {
			return b, invalid("field %q is %v; give a number of seconds from 0 (the default) to %d", t.field, t.v, MaxTimeoutSeconds)
		}
		if t.v > 0 && t.v < MinTimeoutSeconds {
			return b, invalid("field %q is %v seconds, shorter than any connection or answer can take, so every request would fail; give at least %v (1 ms), or 0 for the default", t.field, t.v, MinTimeoutSeconds)
		}
	}
	return b, nil
}

// normalizeBackendTLS is NormalizeTLS at "backend.tls".
func normalizeBackendTLS(t *BackendTLS) (*BackendTLS, error) {
	n, err := NormalizeTLS("backend.tls", t.Spec())
	return (*BackendTLS)(n), err
}

func validateBackendURL(field, raw string) error {
	const form = "give an absolute URL such as \"https://orders.internal:8443/base\""
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		return invalid("field %q: user information in a backend URL is not allowed (it would be logged); give the URL without it, and credentials toward the backend through the API's settings", field)
	}
	shown := shownURL(raw)
	for _, c := range raw {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return invalid("field %q %q contains whitespace or a control character; %s", field, shown, form)
		}
	}
	if err != nil {
		return invalid("field %q %q is not a URL; %s", field, shown, form)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("field %q %q: the scheme must be http or https; %s", field, shown, form)
	case u.Host == "" || u.Hostname() == "":
		return invalid("field %q %q has no host; %s", field, shown, form)
	case u.RawQuery != "" || u.ForceQuery:
		return invalid("field %q %q has a query; the request's own query is forwarded, give the URL without one", field, shown)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return invalid("field %q %q has a fragment; remove it", field, shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("field %q %q has port %q; use 1 to 65535", field, shown, p)
		}
	}
	return nil
}

// shownURL is raw as an error may quote it: clipped, and without anything
// that may be user information (a password in "ftp://u:pw@h", or in a
// string too malformed to parse), which is replaced by "xxxxx". It redacts
// before clipping, so that a clip cannot leave half a password in view.
func shownURL(raw string) string {
	if !strings.Contains(raw, "@") {
		return clip(raw)
	}
	if u, err := url.Parse(raw); err == nil && u.User == nil && u.Host != "" {
		// The '@' is in the path, query or fragment, not in an authority.
		return clip(raw)
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndexByte(raw, '@')
	if at < start {
		return "xxxxx"
	}
	return clip(raw[:start] + "xxxxx" + raw[at:])
}

// DecisionIDHeader carries the gateway's decision id to the client and the
// backend; a principal header must not take its place.
const DecisionIDHeader = "X-Portcullis-Decision-Id"

// CheckPrincipalHeader is the one rule for a principal header: the admin
// API refuses what the gateway could not serve, and the gateway applies the
// same rule to what it loads, so that a stored API never fails at
// compilation. name is the header as given, field the Principal field it
// is to carry (one of PrincipalHeaderFields).
func CheckPrincipalHeader(name, field string) error {
	at := "principalHeaders." + name
	if name == "" || len(name) > 128 || !httpguts.ValidHeaderFieldName(name) {
		return invalid("field %q: %q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~), e.g. \"X-Caller-Id\"", "principalHeaders", clip(name))
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	switch {
	case canon == DecisionIDHeader:
		return invalid("field %q: the header %s is reserved: it carries the gateway's decision id; choose another name, e.g. \"X-Caller-Id\"", at, canon)
	case slices.Contains(forbiddenPrincipalHeaders, canon) || strings.HasPrefix(canon, "Content-") || strings.HasPrefix(canon, "X-Forwarded-"):
		return invalid("field %q: the header %s is reserved: it is hop-by-hop or describes the request itself, and cannot carry the caller's identity; choose another name, e.g. \"X-Caller-Id\"", at, canon)
	case !slices.Contains(PrincipalHeaderFields, field):
		return invalid("field %q is %q; use one of %s", at, clip(field), strings.Join(PrincipalHeaderFields, ", "))
	}
	return nil
}

func normalizePrincipalHeaders(h map[string]string) (map[string]string, error) {
	if h == nil {
		return nil, nil
	}
	if len(h) > MaxPrincipalHeaders {
		return nil, invalid("field \"principalHeaders\" has %d entries; use at most %d", len(h), MaxPrincipalHeaders)
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make(map[string]string, len(h))
	for _, name := range names {
		v := h[name]
		if err := CheckPrincipalHeader(name, v); err != nil {
			return nil, err
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if _, dup := out[canon]; dup {
			return nil, invalid("field %q: the header %s is listed twice (header names compare case-insensitively); keep one", "principalHeaders."+name, canon)
		}
		out[canon] = v
	}
	return out, nil
}

func validatePolicy(p guard.PolicySpec) error {
	if len(p.Methods) > MaxPolicyMethods {
		return invalid("field \"policy.methods\" has %d entries; use at most %d", len(p.Methods), MaxPolicyMethods)
	}
	if err := p.Validate(); err != nil {
		return invalid("%v", err)
	}
	if err := checkText("policy.realm", p.Realm); err != nil {
		return err
	}
	if strings.ContainsRune(p.Realm, '"') || strings.ContainsRune(p.Realm, '\\') || len(p.Realm) > 120 {
		return invalid("field \"policy.realm\" must be at most 120 characters without '\"' or '\\' (it is quoted in WWW-Authenticate)")
	}
	for i, m := range p.Methods {
		at := fmt.Sprintf("policy.methods[%d]", i)
		if err := validateMethodReferences(at, m); err != nil {
			return err
		}
	}
	r := p.Rules
	for _, l := range []struct {
		field  string
		values []string
	}{
		{"roles", r.Roles}, {"scopes", r.Scopes}, {"tenants", r.Tenants}, {"applications", r.Applications}, {"objectIds", r.ObjectIDs},
	} {
		if err := checkValues("policy.rules."+l.field, l.values); err != nil {
			return err
		}
	}
	return validateRuleValues(p)
}

// validateRuleValues refuses rule values no token can carry, which would
// refuse every caller without saying why: a role or scope with whitespace
// (roles are values without spaces, and scp is a space-separated list, so
// "Orders Read" would be read as two scopes), and a tenant or object id
// that is not a GUID (tid and oid always are; a tenant's name is not what
// tokens carry).
//
// Applications are checked the same way when every issuer the policy
// accepts is a Portcullis tenant, whose azp and appid are application ids:
// another OIDC issuer's azp may be any client id.
func validateRuleValues(p guard.PolicySpec) error {
	r := p.Rules
	for _, l := range []struct {
		field, example string
		values         []string
	}{{"roles", "Orders.Read", r.Roles}, {"scopes", "Orders.Read", r.Scopes}} {
		for i, v := range l.values {
			if strings.ContainsFunc(v, unicode.IsSpace) {
				return invalid("field \"policy.rules.%s[%d]\" %q contains whitespace, which no %s in a token holds; write it as the app role or scope value, e.g. %q (list several values as separate entries)",
					l.field, i, clip(v), strings.TrimSuffix(l.field, "s"), l.example)
			}
		}
	}
	for _, l := range []struct {
		field, claim, how string
		values            []string
	}{
		{"tenants", "tid", "'portcullis tenant show NAME' prints a Portcullis tenant's id", r.Tenants},
		{"objectIds", "oid", "'portcullis app show APP' prints an application's objectId", r.ObjectIDs},
		{"applications", "azp and appid", "'portcullis app show APP' prints an application's appId", onlyPortcullisIssuers(p, r.Applications)},
	} {
		for i, v := range l.values {
			if !isGUID(v) {
				return invalid("field \"policy.rules.%s[%d]\" %q is not an id: tokens carry a GUID in %s, so this value could never match; give the id (%s)",
					l.field, i, clip(v), l.claim, l.how)
			}
		}
	}
	return nil
}

func validateMethodReferences(at string, m guard.MethodSpec) error {
	lists := map[string]int{"users": len(m.Users), "keys": len(m.Keys), "trustedCAs": len(m.TrustedCAs), "pins": len(m.Pins), "issuers": len(m.Issuers), "audiences": len(m.Audiences), "algorithms": len(m.Algorithms)}
	for name, n := range lists {
		if n > MaxPolicyEntries {
			return invalid("field %q has %d entries; use at most %d", at+"."+name, n, MaxPolicyEntries)
		}
	}
	for i, u := range m.Users {
		if err := checkText(fmt.Sprintf("%s.users[%d].name", at, i), u.Name); err != nil {
			return err
		}
		if err := validateReference(fmt.Sprintf("%s.users[%d].password", at, i), u.Password, "secrets"); err != nil {
			return err
		}
	}
	for _, f := range []struct{ field, v string }{{"header", m.Header}, {"query", m.Query}} {
		if f.v != "" && (len(f.v) > 128 || !httpguts.ValidHeaderFieldName(f.v)) {
			return invalid("field %q %q is not a valid %s name; use letters, digits and '-', e.g. \"x-functions-key\" or \"code\"", at+"."+f.field, clip(f.v), f.field)
		}
	}
	if m.Header != "" {
		canon := textproto.CanonicalMIMEHeaderKey(m.Header)
		if slices.Contains(forbiddenPrincipalHeaders, canon) && canon != "Authorization" || strings.HasPrefix(canon, "Content-") {
			return invalid("field %q: %s cannot carry an API key; use a header such as \"x-functions-key\"", at+".header", canon)
		}
	}
	for i, a := range m.Audiences {
		// Identifier URIs and application ids hold no whitespace, so an
		// audience with some (a paste) would match no token's aud.
		if strings.ContainsFunc(a, unicode.IsSpace) {
			return invalid("field \"%s.audiences[%d]\" %q contains whitespace, which no token's aud holds; give the API's identifier URI or application id exactly, e.g. \"api://orders\"", at, i, clip(a))
		}
	}
	for i, k := range m.Keys {
		if err := checkText(fmt.Sprintf("%s.keys[%d].name", at, i), k.Name); err != nil {
			return err
		}
		if err := validateReference(fmt.Sprintf("%s.keys[%d].secret", at, i), k.Secret, "secrets"); err != nil {
			return err
		}
	}
	for i, ca := range m.TrustedCAs {
		if err := validateCertificateSource(fmt.Sprintf("%s.trustedCAs[%d]", at, i), ca); err != nil {
			return err
		}
	}
	if err := validateRevocation(at+".revocation", m.Revocation); err != nil {
		return err
	}
	for i, p := range m.Pins {
		field := fmt.Sprintf("%s.pins[%d]", at, i)
		for _, f := range []struct{ name, v string }{{"subject", p.Subject}, {"issuer", p.Issuer}} {
			if err := checkText(field+"."+f.name, f.v); err != nil {
				return err
			}
			if len(f.v) > 1024 {
				return invalid("field %q is %d characters long; use at most 1024", field+"."+f.name, len(f.v))
			}
		}
	}
	for i, is := range m.Issuers {
		field := fmt.Sprintf("%s.issuers[%d]", at, i)
		if is.Issuer != "" {
			if err := validateIssuerURL(field+".issuer", is.Issuer); err != nil {
				return err
			}
		}
	}
	if err := checkValues(at+".audiences", m.Audiences); err != nil {
		return err
	}
	return nil
}

// checkValues refuses empty values and control characters in a list of
// claim values.
func checkValues(field string, values []string) error {
	if len(values) > MaxPolicyEntries {
		return invalid("field %q has %d entries; use at most %d", field, len(values), MaxPolicyEntries)
	}
	for i, v := range values {
		f := field + "[" + strconv.Itoa(i) + "]"
		if strings.TrimSpace(v) == "" {
			return invalid("field %q is empty; remove it or give a value", f)
		}
		if len(v) > 1024 {
			return invalid("field %q is %d characters long; use at most 1024", f, len(v))
		}
		if err := checkText(f, v); err != nil {
			return err
		}
	}
	return nil
}

// validateIssuerURL checks a bearer issuer: https, or http on a loopback
// host only (a test issuer), with a host and without userinfo, query or
// fragment.
func validateIssuerURL(field, raw string) error {
	const form = "give the issuer exactly as tokens carry it in iss, e.g. \"https://login.microsoftonline.com/{tenant-id}/v2.0\""
	shown := shownURL(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#") || strings.ContainsFunc(raw, unicode.IsSpace) {
		return invalid("field %q %q is not an absolute URL with a host and without user, query or fragment; %s", field, shown, form)
	}
	if err := checkURLPort(field, shown, u); err != nil {
		return err
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "localhost", "::1":
			return nil
		}
		return invalid("field %q %q uses http; issuers must use https (http is accepted only for 127.0.0.1, localhost and [::1], for tests)", field, shown)
	}
	return invalid("field %q %q: the scheme must be https; %s", field, shown, form)
}

// validateReference checks a vault reference of the form
// vault://VAULT/TYPE/NAME[/VERSION] with the vault package's naming rules
// (the directory cannot import the vault; whether the object exists is the
// resolver's business).
func validateReference(field, ref, typ string) error {
	return checkReference(field, ref, typ, false)
}

// checkReference is validateReference; pinnedCertificates also accepts a
// certificate reference with a version (an outbound client certificate
// may be pinned, a trusted CA follows its renewals).
func checkReference(field, ref, typ string, pinnedCertificates bool) error {
	form := "vault://VAULT/" + typ + "/NAME[/VERSION]"
	if typ == "certificates" && !pinnedCertificates {
		form = "vault://VAULT/certificates/NAME"
	}
	if ref == "" {
		return invalid("field %q is empty; give a reference of the form %s", field, form)
	}
	if len(ref) > maxReference {
		return invalid("field %q is %d characters long; a reference is at most %d", field, len(ref), maxReference)
	}
	rest, ok := strings.CutPrefix(ref, "vault://")
	if !ok {
		return invalid("field %q is not a vault reference; store the value in a vault and give %s (literal credentials are never stored in an API or a connector)", field, form)
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || len(parts) > 4 || parts[1] != typ {
		return invalid("field %q %q is not of the form %s", field, clip(ref), form)
	}
	if !validVaultName(parts[0]) {
		return invalid("field %q %q: the vault name %q must be 3-24 letters, digits and dashes, start with a letter, end with a letter or digit, without consecutive dashes", field, clip(ref), clip(parts[0]))
	}
	if !validObjectName(parts[2]) {
		return invalid("field %q %q: the object name %q must be 1-127 letters, digits and dashes", field, clip(ref), clip(parts[2]))
	}
	if len(parts) == 4 && typ == "certificates" && !pinnedCertificates {
		return invalid("field %q %q names a version; give vault://VAULT/certificates/NAME without it, so that the gateway follows the certificate as it is renewed", field, clip(ref))
	}
	if len(parts) == 4 && (len(parts[3]) != 32 || strings.Trim(parts[3], "0123456789abcdef") != "") {
		return invalid("field %q %q: the version must be 32 lower-case hex digits (or leave it out for the current version)", field, clip(ref))
	}
	return nil
}

func validVaultName(name string) bool {
	if len(name) < 3 || len(name) > 24 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		case c == '-':
			if i == 0 || i == len(name)-1 || name[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func validObjectName(name string) bool {
	if name == "" || len(name) > 127 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validateCertificateSource checks a trusted CA: one or more PEM
// certificates, or a reference to a vault certificate.
func validateCertificateSource(field, s string) error {
	if strings.HasPrefix(s, "vault://") {
		return validateReference(field, s, "certificates")
	}
	if len(s) > maxPEM {
		return invalid("field %q is %d bytes long; PEM certificates are at most %d bytes here, or store the certificate in a vault and give vault://VAULT/certificates/NAME", field, len(s), maxPEM)
	}
	rest := []byte(s)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return invalid("field %q holds a PEM %q block; give only CERTIFICATE blocks (never a private key)", field, clip(block.Type))
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return invalid("field %q: PEM certificate %d does not parse as X.509; give the certificate as PEM", field, n+1)
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return invalid("field %q is neither PEM certificates (-----BEGIN CERTIFICATE-----) nor a reference vault://VAULT/certificates/NAME", field)
	}
	return nil
}

// validateRevocation checks the form of a clientCertificate method's CRL
// sources (guard's Validate has checked the modes and parsed PEM text): a
// secret reference, an http(s) URL, or PEM text of bounded size.
func validateRevocation(at string, rv *guard.RevocationSpec) error {
	if rv == nil {
		return nil
	}
	if len(rv.CRLs) > MaxPolicyEntries {
		return invalid("field %q has %d entries; use at most %d", at+".crls", len(rv.CRLs), MaxPolicyEntries)
	}
	for i, c := range rv.CRLs {
		field := fmt.Sprintf("%s.crls[%d]", at, i)
		switch {
		case strings.HasPrefix(c, "vault://"):
			if err := validateReference(field, c, "secrets"); err != nil {
				return err
			}
		case guard.IsCRLURL(c):
			if len(c) > 2048 {
				return invalid("field %q is %d characters long; a CRL URL is at most 2048", field, len(c))
			}
			if err := checkText(field, c); err != nil {
				return err
			}
			if u, err := url.Parse(c); err == nil {
				if err := checkURLPort(field, shownURL(c), u); err != nil {
					return err
				}
			}
		case strings.Contains(c, "-----BEGIN"):
			if len(c) > maxPEM {
				return invalid("field %q is %d bytes long; a CRL given as PEM is at most %d bytes here: store a larger one in a vault secret (vault://VAULT/secrets/NAME) or give its http(s) URL", field, len(c), maxPEM)
			}
		default:
			return invalid("field %q is neither PEM text (-----BEGIN X509 CRL-----), a reference vault://VAULT/secrets/NAME to a secret holding the CRL, nor an http(s) URL", field)
		}
	}
	return nil
}

// onlyPortcullisIssuers returns apps when no method of p accepts tokens of
// an issuer other than a Portcullis tenant, else nil.
func onlyPortcullisIssuers(p guard.PolicySpec, apps []string) []string {
	for _, m := range p.Methods {
		for _, is := range m.Issuers {
			if is.Issuer != "" {
				return nil
			}
		}
	}
	return apps
}
