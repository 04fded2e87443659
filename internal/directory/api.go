package directory

import (
	"time"

	"github.com/portcullis/portcullis/guard"
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
}

// BackendTLS is how the gateway trusts an https backend. Without it the
// system roots are used.
type BackendTLS struct {
	// CACertificates are PEM certificates or vault://VAULT/certificates/NAME references.
	CACertificates     []string `json:"caCertificates,omitempty"`
	ServerName         string   `json:"serverName,omitempty"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
}

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
