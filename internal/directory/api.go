package directory

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/outbound"
)

// API is a gateway route stored in a tenant: which requests it matches,
// the backend it forwards them to, and the inbound policy a caller must
// pass. Name is unique in its tenant.
type API struct {
	TenantID    string           `json:"tenantId"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Match       APIMatch         `json:"match"`
	Backend     Backend          `json:"backend"`
	Policy      guard.PolicySpec `json:"policy"`
	// PrincipalHeaders maps a request header the backend receives to the
	// Principal field it carries (see PrincipalHeaderFields); nil means
	// DefaultPrincipalHeaders, an empty map sends none.
	PrincipalHeaders map[string]string `json:"principalHeaders"`
	// AllowInsecureAuth lets an API that accepts Basic or an API key be
	// served on a plain-HTTP listener (the source documents'
	// AllowInsecureAuthInProduction); off by default.
	AllowInsecureAuth bool `json:"allowInsecureAuth,omitempty"`
	// Revision is the store revision of the last change to the API.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// APIMatch selects the requests of an API. A request matches when its host
// is one of Hosts (exact, case-insensitive, without port; "*.example.com"
// matches one label; empty matches any host), its path is PathPrefix or
// lies under it at a "/" boundary, and its method is one of Methods (empty:
// any). The most specific match wins: an exact host before a wildcard
// before any host, then the longest prefix.
type APIMatch struct {
	Hosts      []string `json:"hosts,omitempty"`
	PathPrefix string   `json:"pathPrefix"`
	Methods    []string `json:"methods,omitempty"`
}

// Backend is where an API's requests go and how.
type Backend struct {
	// URLs are http(s)://host[:port][/base-path]; with several, requests are
	// spread over them and a failing one is skipped for a while.
	URLs []string `json:"urls"`
	// StripPathPrefix removes Match.PathPrefix from the path before the
	// base path of the URL is prepended.
	StripPathPrefix bool        `json:"stripPathPrefix,omitempty"`
	TLS             *BackendTLS `json:"tls,omitempty"`
	Timeouts        Timeouts    `json:"timeouts,omitzero"`
	// Credential is how the gateway authenticates to the backend (Basic,
	// API key header, bearer, client certificate), from vault references
	// followed as they rotate; nil sends none.
	Credential *outbound.CredentialSpec `json:"credential,omitempty"`
	// AllowInsecureAuth lets Credential (Basic, API key, bearer) go to an
	// http:// backend URL. It is the backend's own flag, not the API's
	// AllowInsecureAuth: that one is about callers' credentials on the
	// gateway's plain listener, a different network path, and turning on
	// one must not silently turn on the other.
	AllowInsecureAuth bool `json:"allowInsecureAuth,omitempty"`
}

// BackendTLS is how the gateway trusts an https backend (the shared
// outbound TLS settings: CAs, SNI, pins, skipChainValidation). Without it
// the system roots are used.
//
// APIs stored before these settings were shared carry
// "insecureSkipVerify": it is read as skipChainValidation (the same
// meaning without pins) and written back under that name, so no stored
// API loses its setting.
type BackendTLS outbound.TLSSpec

// UnmarshalJSON reads BackendTLS, accepting the former name
// insecureSkipVerify for skipChainValidation.
func (t *BackendTLS) UnmarshalJSON(b []byte) error {
	var v struct {
		outbound.TLSSpec
		InsecureSkipVerify bool `json:"insecureSkipVerify"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // as strict as the rest of an API
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*t = BackendTLS(v.TLSSpec)
	t.SkipChainValidation = t.SkipChainValidation || v.InsecureSkipVerify
	return nil
}

// Spec returns t as the outbound package's TLSSpec (nil for nil).
func (t *BackendTLS) Spec() *outbound.TLSSpec { return (*outbound.TLSSpec)(t) }

// Timeouts toward the backend and for the whole exchange, in seconds;
// zero means the default.
type Timeouts struct {
	ConnectSeconds        float64 `json:"connectSeconds,omitempty"`        // default 5
	ResponseHeaderSeconds float64 `json:"responseHeaderSeconds,omitempty"` // default 30
	IdleSeconds           float64 `json:"idleSeconds,omitempty"`           // idle pooled connection; default 90
}

// PrincipalHeaderFields are the Principal fields a principal header can carry.
var PrincipalHeaderFields = []string{
	"method", "subject", "tenantId", "appId", "objectId", "issuer", "roles", "scopes",
	"tokenId", "credentialId", "certificateThumbprint", "certificateSubject", "certificateIssuer",
}

// DefaultPrincipalHeaders is what the backend learns about the caller when
// an API does not say.
var DefaultPrincipalHeaders = map[string]string{
	"X-Portcullis-Method":                 "method",
	"X-Portcullis-Subject":                "subject",
	"X-Portcullis-Client-Id":              "appId",
	"X-Portcullis-Tenant-Id":              "tenantId",
	"X-Portcullis-Roles":                  "roles",
	"X-Portcullis-Scopes":                 "scopes",
	"X-Portcullis-Certificate-Thumbprint": "certificateThumbprint",
}
