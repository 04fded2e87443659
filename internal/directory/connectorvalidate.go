package directory

import (
	"math"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/outbound"
)

// Limits of a connector, part of the admin API's contract like the other
// limits.
const (
	MaxConnectorName        = 63
	MaxConnectorClaims      = 64
	MaxClaimName            = 256
	MaxConnectorTimeout     = 120 // seconds
	MaxConnectorRetries     = 5
	MaxPinnedThumbprints    = 16
	MaxTokenIssuanceApps    = 32
	DefaultConnectorTimeout = 10 // seconds, when TimeoutSeconds is 0
	maxEndpoint             = 2048
	maxUsername             = 256
	maxScope                = 1024
	maxHeaderName           = 100
)

// ReservedTokenClaims are the claims the token service sets itself (every
// one of sts.ReservedClaims, and others Entra sets); a token-issuance
// connector cannot declare them as output claims, so it can never
// override them.
var ReservedTokenClaims = []string{
	"aio", "amr", "appid", "appidacr", "aud", "azp", "azpacr", "cnf", "exp", "iat", "idp", "idtyp",
	"iss", "jti", "kid", "nbf", "nonce", "oid", "rh", "roles", "scp", "sid", "sub", "tid",
	"uti", "ver", "wids", "x5t",
}

// normalizeConnector checks everything about a connector that needs no
// other object and returns it in its stored form (defaults filled in,
// header names canonical, thumbprints lower-case). Each refusal names the
// JSON path of the field and says how to fix it. Applications named by
// tokenIssuance are resolved later, in the transaction.
func normalizeConnector(in Connector) (Connector, error) {
	c := in
	if err := validateName("name", c.Name, MaxConnectorName, "\"orders-enrichment\""); err != nil {
		return c, err
	}
	var err error
	if c.Description, err = normalizeDescription("description", c.Description); err != nil {
		return c, err
	}
	u, err := validateConnectorEndpoint("endpoint", c.Endpoint)
	if err != nil {
		return c, err
	}
	if c.Authentication, err = NormalizeCredential("authentication", c.Authentication); err != nil {
		return c, err
	}
	if c.TLS, err = NormalizeTLS("tls", c.TLS); err != nil {
		return c, err
	}
	if err := CheckTransport("endpoint", u, "authentication", c.Authentication, "tls", c.TLS, "allowInsecureAuth", c.AllowInsecureAuth); err != nil {
		return c, err
	}
	if c.SendClaimsIn == "" {
		c.SendClaimsIn = ClaimsInBody
	}
	switch c.SendClaimsIn {
	case ClaimsInBody, ClaimsInForm, ClaimsInHeader, ClaimsInQuery:
	default:
		return c, invalid("field \"sendClaimsIn\" is %q; use one of body (a JSON object, the default), form, header or query", clip(c.SendClaimsIn))
	}
	if c.InputClaims, err = normalizeClaims("inputClaims", c.InputClaims, c.SendClaimsIn, c.Authentication); err != nil {
		return c, err
	}
	if c.OutputClaims, err = normalizeClaims("outputClaims", c.OutputClaims, ClaimsInBody, c.Authentication); err != nil {
		return c, err
	}
	if c.SendClaimsIn == ClaimsInQuery {
		// The claims are appended to the endpoint's own query: a claim sent
		// under a name the URL already has would arrive second, after the
		// fixed value, and most servers read the first.
		fixed := u.Query()
		for i, ic := range c.InputClaims {
			name := ic.PartnerClaimType
			if name == "" {
				name = ic.ClaimType
			}
			if fixed.Has(name) {
				return c, invalid("field \"inputClaims[%d]\" is sent as the query parameter %q, which the endpoint URL already has; give the claim another name with partnerClaimType, or remove %q from \"endpoint\"", i, clip(name), clip(name))
			}
		}
	}
	if math.IsNaN(c.TimeoutSeconds) || c.TimeoutSeconds < 0 || c.TimeoutSeconds > MaxConnectorTimeout {
		return c, invalid("field \"timeoutSeconds\" is %v; give a number of seconds from 0 (the default, %d) to %d", c.TimeoutSeconds, DefaultConnectorTimeout, MaxConnectorTimeout)
	}
	if c.TimeoutSeconds > 0 && c.TimeoutSeconds < MinTimeoutSeconds {
		return c, invalid("field \"timeoutSeconds\" is %v seconds, shorter than any call can take, so every call would fail; give at least %v (1 ms), or 0 for the default (%d)", c.TimeoutSeconds, MinTimeoutSeconds, DefaultConnectorTimeout)
	}
	if c.Retries < 0 || c.Retries > MaxConnectorRetries {
		return c, invalid("field \"retries\" is %d; give 0 to %d (a call is retried only when the connection could not be made)", c.Retries, MaxConnectorRetries)
	}
	if c.TokenIssuance != nil {
		ti := *c.TokenIssuance
		if ti.FailurePolicy == "" {
			ti.FailurePolicy = FailClosed
		}
		if ti.FailurePolicy != FailClosed && ti.FailurePolicy != FailOpen {
			return c, invalid("field \"tokenIssuance.failurePolicy\" is %q; use failClosed (the default: a failing connector stops issuance) or failOpen", clip(ti.FailurePolicy))
		}
		if len(ti.ResourceApps) == 0 && len(ti.ClientApps) == 0 {
			return c, invalid("field \"tokenIssuance\" attaches the connector to no application; give resourceApps or clientApps (app ids), or leave tokenIssuance out")
		}
		for _, l := range []struct {
			field string
			apps  []string
		}{{"tokenIssuance.resourceApps", ti.ResourceApps}, {"tokenIssuance.clientApps", ti.ClientApps}} {
			if len(l.apps) > MaxTokenIssuanceApps {
				return c, invalid("field %q has %d entries; use at most %d", l.field, len(l.apps), MaxTokenIssuanceApps)
			}
			for i, a := range l.apps {
				if strings.TrimSpace(a) == "" {
					return c, invalid("field %q is empty; give an application's appId", l.field+"["+strconv.Itoa(i)+"]")
				}
				if err := checkText(l.field+"["+strconv.Itoa(i)+"]", a); err != nil {
					return c, err
				}
			}
		}
		ti.ResourceApps, ti.ClientApps = slices.Clone(ti.ResourceApps), slices.Clone(ti.ClientApps)
		for i, o := range c.OutputClaims {
			if slices.Contains(ReservedTokenClaims, strings.ToLower(o.ClaimType)) {
				return c, invalid("field %q is %q, a claim the token service sets itself; a token-issuance connector cannot override it: choose another claim name (e.g. \"ext_%s\")", "outputClaims["+strconv.Itoa(i)+"].claimType", o.ClaimType, strings.ToLower(o.ClaimType))
			}
		}
		c.TokenIssuance = &ti
	}
	return c, nil
}

// validateName checks the name of an API or a connector.
func validateName(field, name string, max int, example string) error {
	form := "1 to " + strconv.Itoa(max) + " lower-case letters, digits and '-', starting with a letter, e.g. " + example
	if name == "" {
		return invalid("field %q is required: %s", field, form)
	}
	if len(name) > max {
		return invalid("field %q is %d characters long; use %s", field, len(name), form)
	}
	if name[0] < 'a' || name[0] > 'z' {
		return invalid("field %q %q does not start with a lower-case letter; use %s", field, clip(name), form)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return invalid("field %q %q contains %q; use %s", field, clip(name), c, form)
		}
	}
	return nil
}

// validateConnectorEndpoint checks an absolute http(s) URL without user
// information or fragment (a query is allowed) and returns it parsed.
func validateConnectorEndpoint(field, raw string) (*url.URL, error) {
	const form = "give an absolute URL such as \"https://api.example.com/enrich\""
	if raw == "" {
		return nil, invalid("field %q is required; %s", field, form)
	}
	if len(raw) > maxEndpoint {
		return nil, invalid("field %q is %d characters long; use at most %d", field, len(raw), maxEndpoint)
	}
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		return nil, invalid("field %q: user information in the URL is not allowed (it would be logged); give the URL without it, and the credential in \"authentication\"", field)
	}
	shown := shownURL(raw)
	for _, c := range raw {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return nil, invalid("field %q %q contains whitespace or a control character; %s", field, shown, form)
		}
	}
	switch {
	case err != nil:
		return nil, invalid("field %q %q is not a URL; %s", field, shown, form)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, invalid("field %q %q: the scheme must be http or https; %s", field, shown, form)
	case u.Host == "" || u.Hostname() == "":
		return nil, invalid("field %q %q has no host; %s", field, shown, form)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, invalid("field %q %q has a fragment; remove it", field, shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalid("field %q %q has port %q; use 1 to 65535", field, shown, p)
		}
	}
	return u, nil
}

// NormalizeCredential checks an outbound credential whose JSON path is path
// ("authentication" of a connector, "backend.credential" of an API): a
// known type, that type's fields and no other, and vault references of the
// right kind (secrets for passwords, keys and tokens, certificates for
// client certificates). It returns the credential in its stored form (the
// API-key header name canonical).
func NormalizeCredential(path string, c outbound.CredentialSpec) (outbound.CredentialSpec, error) {
	at := func(f string) string { return path + "." + f }
	set := map[string]bool{
		"username": c.Username != "", "password": c.Password != "", "header": c.Header != "", "key": c.Key != "",
		"token": c.Token != "", "clientCredentials": c.ClientCredentials != nil, "certificate": c.Certificate != "",
	}
	fields := map[string][]string{
		outbound.TypeNone:              nil,
		outbound.TypeBasic:             {"username", "password"},
		outbound.TypeAPIKeyHeader:      {"header", "key"},
		outbound.TypeBearer:            {"token", "clientCredentials"},
		outbound.TypeClientCertificate: {"certificate"},
	}
	if c.Type == "" {
		for _, f := range []string{"username", "password", "header", "key", "token", "clientCredentials", "certificate"} {
			if set[f] {
				return c, invalid("field %q is set but %q is missing; give the type %s belongs to (basic, apiKeyHeader, bearer or clientCertificate)", at(f), at("type"), f)
			}
		}
		c.Type = outbound.TypeNone
	}
	allowed, ok := fields[c.Type]
	if !ok {
		return c, invalid("field %q is %q; use one of none, basic, apiKeyHeader, bearer or clientCertificate (names are case-sensitive)", at("type"), clip(c.Type))
	}
	for _, f := range []string{"username", "password", "header", "key", "token", "clientCredentials", "certificate"} {
		if set[f] && !slices.Contains(allowed, f) {
			if len(allowed) == 0 {
				return c, invalid("field %q is set but type is %s, which takes no other field; remove it or choose the type it belongs to", at(f), c.Type)
			}
			return c, invalid("field %q is set but type %s takes only %s; remove it or choose the type it belongs to", at(f), c.Type, strings.Join(allowed, " and "))
		}
	}
	switch c.Type {
	case outbound.TypeBasic:
		if c.Username == "" {
			return c, invalid("field %q is required for type basic", at("username"))
		}
		if len(c.Username) > maxUsername || strings.ContainsRune(c.Username, ':') || strings.ContainsFunc(c.Username, unicode.IsControl) {
			return c, invalid("field %q must be at most %d characters without ':' or control characters (RFC 7617 section 2)", at("username"), maxUsername)
		}
		if err := checkText(at("username"), c.Username); err != nil {
			return c, err
		}
		if err := checkReference(at("password"), c.Password, "secrets", true); err != nil {
			return c, err
		}
	case outbound.TypeAPIKeyHeader:
		if c.Header == "" || len(c.Header) > maxHeaderName || !httpguts.ValidHeaderFieldName(c.Header) {
			return c, invalid("field %q %q is not a valid header name; give the header the API reads its key from, e.g. \"x-functions-key\"", at("header"), clip(c.Header))
		}
		canon := textproto.CanonicalMIMEHeaderKey(c.Header)
		if reservedRequestHeader(canon) {
			return c, invalid("field %q: %s cannot carry an API key (it is hop-by-hop, describes the request or is set by Portcullis); use a header such as \"x-functions-key\"", at("header"), canon)
		}
		c.Header = canon
		if err := checkReference(at("key"), c.Key, "secrets", true); err != nil {
			return c, err
		}
	case outbound.TypeBearer:
		switch {
		case c.Token != "" && c.ClientCredentials != nil:
			return c, invalid("fields %q and %q are both set; a bearer credential is either a static token from the vault or one obtained by client credentials: keep one", at("token"), at("clientCredentials"))
		case c.Token != "":
			if err := checkReference(at("token"), c.Token, "secrets", true); err != nil {
				return c, err
			}
		case c.ClientCredentials != nil:
			cc, err := normalizeClientCredentials(at("clientCredentials"), *c.ClientCredentials)
			if err != nil {
				return c, err
			}
			c.ClientCredentials = &cc
		default:
			return c, invalid("field %q or %q is required for type bearer: a static token (vault://VAULT/secrets/NAME) or a client-credentials grant", at("token"), at("clientCredentials"))
		}
	case outbound.TypeClientCertificate:
		if err := checkReference(at("certificate"), c.Certificate, "certificates", true); err != nil {
			return c, err
		}
	}
	return c, nil
}

func normalizeClientCredentials(path string, cc outbound.ClientCredentialsSpec) (outbound.ClientCredentialsSpec, error) {
	at := func(f string) string { return path + "." + f }
	switch {
	case cc.Authority == "" && cc.TokenEndpoint == "":
		return cc, invalid("field %q or %q is required: the authority (e.g. \"https://login.microsoftonline.com/TENANT-ID\") or the token endpoint itself", at("authority"), at("tokenEndpoint"))
	case cc.Authority != "" && cc.TokenEndpoint != "":
		return cc, invalid("fields %q and %q are both set; give one (the token endpoint is the authority + \"/oauth2/v2.0/token\")", at("authority"), at("tokenEndpoint"))
	case cc.Authority != "":
		if err := validateAuthorityURL(at("authority"), cc.Authority); err != nil {
			return cc, err
		}
		cc.Authority = strings.TrimRight(cc.Authority, "/")
	default:
		if err := validateAuthorityURL(at("tokenEndpoint"), cc.TokenEndpoint); err != nil {
			return cc, err
		}
	}
	if strings.TrimSpace(cc.ClientID) == "" {
		return cc, invalid("field %q is required: the client (application) id the token is requested for", at("clientId"))
	}
	if len(cc.ClientID) > maxUsername {
		return cc, invalid("field %q is %d characters long; use at most %d", at("clientId"), len(cc.ClientID), maxUsername)
	}
	if err := checkText(at("clientId"), cc.ClientID); err != nil {
		return cc, err
	}
	if strings.ContainsFunc(cc.ClientID, unicode.IsSpace) {
		// Client ids (Entra appIds, Portcullis appIds, other issuers'
		// client names) hold no whitespace; a pasted one often does.
		return cc, invalid("field %q %q contains whitespace; give the client (application) id exactly, e.g. \"0c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"", at("clientId"), clip(cc.ClientID))
	}
	switch {
	case cc.ClientSecret == "" && cc.ClientCertificate == "":
		return cc, invalid("field %q or %q is required: the client's secret (vault://VAULT/secrets/NAME) or certificate (vault://VAULT/certificates/NAME)", at("clientSecret"), at("clientCertificate"))
	case cc.ClientSecret != "" && cc.ClientCertificate != "":
		return cc, invalid("fields %q and %q are both set; the client proves itself with one: keep one", at("clientSecret"), at("clientCertificate"))
	case cc.ClientSecret != "":
		if err := checkReference(at("clientSecret"), cc.ClientSecret, "secrets", true); err != nil {
			return cc, err
		}
	default:
		if err := checkReference(at("clientCertificate"), cc.ClientCertificate, "certificates", true); err != nil {
			return cc, err
		}
	}
	if strings.TrimSpace(cc.Scope) == "" {
		return cc, invalid("field %q is required: what the token is for, e.g. \"api://orders/.default\"", at("scope"))
	}
	if len(cc.Scope) > maxScope {
		return cc, invalid("field %q is %d characters long; use at most %d", at("scope"), len(cc.Scope), maxScope)
	}
	if err := checkText(at("scope"), cc.Scope); err != nil {
		return cc, err
	}
	if strings.TrimSpace(cc.Scope) != cc.Scope || strings.Contains(cc.Scope, "  ") {
		return cc, invalid("field %q %q has leading, trailing or doubled spaces; scopes are separated by one space (RFC 6749 section 3.3), e.g. \"api://orders/.default\"", at("scope"), clip(cc.Scope))
	}
	return cc, nil
}

// validateAuthorityURL checks an authority or token endpoint: https, or
// http on a loopback host only (a test authority), with a host and without
// user information, query or fragment.
func validateAuthorityURL(field, raw string) error {
	shown := shownURL(raw)
	u, err := url.Parse(raw)
	if len(raw) > maxEndpoint || err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#") || strings.ContainsFunc(raw, unicode.IsSpace) {
		return invalid("field %q %q is not an absolute URL with a host and without user, query or fragment, e.g. \"https://login.microsoftonline.com/TENANT-ID\"", field, shown)
	}
	if err := checkURLPort(field, shown, u); err != nil {
		return err
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return invalid("field %q %q uses http; a client secret or assertion must travel over https (http is accepted only for 127.0.0.1, localhost and [::1], for tests)", field, shown)
	}
	return invalid("field %q %q: the scheme must be https", field, shown)
}

// checkURLPort refuses a URL whose port no server can listen on (0, above
// 65535, or empty after the colon): it would fail every call, or never
// equal a token's claim.
func checkURLPort(field, shown string, u *url.URL) error {
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("field %q %q has port %q; use 1 to 65535, or leave the port out for the scheme's default", field, shown, p)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NormalizeTLS checks how a caller trusts the server it calls, whose JSON
// path is path ("tls" of a connector, "backend.tls" of an API): CAs as PEM
// certificates or vault certificate references, a host name for SNI,
// pinned SHA-256 thumbprints (64 hex digits, stored lower-case) and no
// contradiction (CAs that skipChainValidation would ignore). nil stays nil.
func NormalizeTLS(path string, t *outbound.TLSSpec) (*outbound.TLSSpec, error) {
	if t == nil {
		return nil, nil
	}
	out := *t
	at := func(f string) string { return path + "." + f }
	if len(t.CACertificates) > MaxPolicyEntries {
		return nil, invalid("field %q has %d entries; use at most %d", at("caCertificates"), len(t.CACertificates), MaxPolicyEntries)
	}
	for i, ca := range t.CACertificates {
		f := at("caCertificates[" + strconv.Itoa(i) + "]")
		if err := validateCertificateSource(f, ca); err != nil {
			return nil, err
		}
		if slices.Contains(t.CACertificates[:i], ca) {
			return nil, invalid("field %q repeats an earlier entry; remove the duplicate", f)
		}
	}
	out.CACertificates = slices.Clone(t.CACertificates)
	if t.SkipChainValidation && len(t.CACertificates) > 0 {
		return nil, invalid("fields %q and %q contradict each other: without chain validation the CAs would be ignored; keep the CAs (validation on) or drop them", at("skipChainValidation"), at("caCertificates"))
	}
	if sn := t.ServerName; sn != "" && !isDNSName(sn) && net.ParseIP(sn) == nil {
		return nil, invalid("field %q %q is not a host name; give the name the server's certificate holds, e.g. \"orders.internal\"", at("serverName"), clip(sn))
	}
	if len(t.PinnedThumbprints) > MaxPinnedThumbprints {
		return nil, invalid("field %q has %d entries; use at most %d", at("pinnedThumbprints"), len(t.PinnedThumbprints), MaxPinnedThumbprints)
	}
	out.PinnedThumbprints = make([]string, 0, len(t.PinnedThumbprints))
	for i, p := range t.PinnedThumbprints {
		f := at("pinnedThumbprints[" + strconv.Itoa(i) + "]")
		lp := strings.ToLower(strings.ReplaceAll(p, ":", ""))
		if len(lp) != 64 || strings.Trim(lp, "0123456789abcdef") != "" {
			return nil, invalid("field %q %q is not a SHA-256 thumbprint; give 64 hex digits (colons allowed), e.g. the output of `openssl x509 -noout -fingerprint -sha256`", f, clip(p))
		}
		if slices.Contains(out.PinnedThumbprints, lp) {
			return nil, invalid("field %q repeats an earlier thumbprint; remove the duplicate", f)
		}
		out.PinnedThumbprints = append(out.PinnedThumbprints, lp)
	}
	if len(out.PinnedThumbprints) == 0 {
		out.PinnedThumbprints = nil
	}
	if len(out.CACertificates) == 0 {
		out.CACertificates = nil
	}
	return &out, nil
}

// CheckTransport refuses a credential or TLS setting the endpoint's scheme
// cannot honour: Basic, API-key and bearer credentials to an http:// URL,
// and a client-credentials grant against an http:// authority, unless
// allowInsecure (the field named insecureField) says so; a client
// certificate or a TLS setting over plain http. Each name is the JSON path
// of its field.
func CheckTransport(urlField string, u *url.URL, credField string, c outbound.CredentialSpec, tlsField string, t *outbound.TLSSpec, insecureField string, allowInsecure bool) error {
	if cc := c.ClientCredentials; cc != nil && !allowInsecure {
		// A test authority on loopback may use http, but the client's
		// secret or assertion then travels in clear too: say so.
		for _, f := range []struct{ name, v string }{{"authority", cc.Authority}, {"tokenEndpoint", cc.TokenEndpoint}} {
			if strings.HasPrefix(f.v, "http://") {
				return invalid("field %q is %s, which would send the client's secret or assertion in clear; use https, or set %q to true for a test authority on loopback", credField+".clientCredentials."+f.name, shownURL(f.v), insecureField)
			}
		}
	}
	if u.Scheme == "https" {
		return nil
	}
	switch c.Type {
	case outbound.TypeBasic, outbound.TypeAPIKeyHeader, outbound.TypeBearer:
		if !allowInsecure {
			return invalid("field %q is %s, which would send the %s credential in clear over http; use an https URL, or set %q to true if this network is trusted (a test on loopback)", urlField, shownURL(u.String()), c.Type, insecureField)
		}
	case outbound.TypeClientCertificate:
		return invalid("field %q is %s: a client certificate (%q) is presented in the TLS handshake, which http has none of; use an https URL", urlField, shownURL(u.String()), credField+".certificate")
	}
	if t != nil {
		return invalid("field %q is set but %q is %s, which uses no TLS; use an https URL or remove %q", tlsField, urlField, shownURL(u.String()), tlsField)
	}
	return nil
}

// reservedRequestHeader reports whether a canonical header name is one a
// credential or a claim must not set: hop-by-hop headers, those that
// describe the request itself (Host, Content-*, Cookie…), credentials
// (Authorization) and those Portcullis sets (Forwarded, X-Forwarded-*).
func reservedRequestHeader(canon string) bool {
	return slices.Contains(forbiddenPrincipalHeaders, canon) || strings.HasPrefix(canon, "Content-") ||
		strings.HasPrefix(canon, "X-Forwarded-") || canon == DecisionIDHeader || canon == "Accept" || canon == "User-Agent"
}

// normalizeClaims checks a list of connector claims: a claim type on each,
// names safe where they go (valid, unreserved header names in header mode),
// no claim and no wire name twice.
func normalizeClaims(path string, claims []ConnectorClaim, mode string, cred outbound.CredentialSpec) ([]ConnectorClaim, error) {
	if len(claims) > MaxConnectorClaims {
		return nil, invalid("field %q has %d entries; use at most %d", path, len(claims), MaxConnectorClaims)
	}
	if len(claims) == 0 {
		return nil, nil
	}
	out := make([]ConnectorClaim, len(claims))
	seenType := map[string]int{}
	seenWire := map[string]int{}
	for i, c := range claims {
		at := path + "[" + strconv.Itoa(i) + "]"
		for _, f := range []struct{ name, v string }{{"claimType", c.ClaimType}, {"partnerClaimType", c.PartnerClaimType}} {
			if f.name == "claimType" && strings.TrimSpace(f.v) == "" {
				return nil, invalid("field %q is required: the claim's name, e.g. \"department\"", at+".claimType")
			}
			if len(f.v) > MaxClaimName {
				return nil, invalid("field %q is %d characters long; use at most %d", at+"."+f.name, len(f.v), MaxClaimName)
			}
			if err := checkText(at+"."+f.name, f.v); err != nil {
				return nil, err
			}
			if f.v != strings.TrimSpace(f.v) {
				return nil, invalid("field %q %q has leading or trailing spaces; remove them", at+"."+f.name, clip(f.v))
			}
		}
		if c.PartnerClaimType == c.ClaimType {
			c.PartnerClaimType = "" // the same name: no renaming
		}
		wire, wireField := c.ClaimType, at+".claimType"
		if c.PartnerClaimType != "" {
			wire, wireField = c.PartnerClaimType, at+".partnerClaimType"
		}
		if mode == ClaimsInHeader {
			if len(wire) > maxHeaderName || !httpguts.ValidHeaderFieldName(wire) {
				return nil, invalid("field %q %q is not a valid header name, and claims are sent in headers (sendClaimsIn header); use letters, digits and '-', or give a partnerClaimType such as \"X-Department\"", wireField, clip(wire))
			}
			canon := textproto.CanonicalMIMEHeaderKey(wire)
			if reservedRequestHeader(canon) {
				return nil, invalid("field %q: the header %s is reserved (hop-by-hop, part of the request or a credential) and cannot carry a claim; give a partnerClaimType such as \"X-%s\"", wireField, canon, canon)
			}
			if cred.Type == outbound.TypeAPIKeyHeader && canon == textproto.CanonicalMIMEHeaderKey(cred.Header) {
				return nil, invalid("field %q: the header %s carries the connector's API key; choose another name for the claim", wireField, canon)
			}
			wire = canon
		}
		if j, dup := seenType[c.ClaimType]; dup {
			return nil, invalid("field %q repeats the claim %q of %s[%d]; list each claim once", at+".claimType", clip(c.ClaimType), path, j)
		}
		if j, dup := seenWire[wire]; dup {
			return nil, invalid("field %q: %q is also the name on the wire of %s[%d]; give each claim its own name", wireField, clip(wire), path, j)
		}
		seenType[c.ClaimType], seenWire[wire] = i, i
		out[i] = c
	}
	return out, nil
}
