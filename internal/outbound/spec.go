// Package outbound is how Portcullis authenticates to the APIs it calls: the
// gateway toward its backends and API connectors toward their endpoints. A
// CredentialSpec and a TLSSpec are the stored, JSON form; credentials are
// never literal in them but vault references, resolved outside the request
// path and rotated without restart.
package outbound

// Credential types, the values of CredentialSpec.Type.
const (
	TypeNone              = "none"
	TypeBasic             = "basic"
	TypeAPIKeyHeader      = "apiKeyHeader"
	TypeBearer            = "bearer"
	TypeClientCertificate = "clientCertificate"
)

// CredentialSpec is how a caller proves who it is to the API it calls. Type
// says which; only that type's fields may be set. Every secret is a vault
// reference: vault://VAULT/secrets/NAME (the newest version that is enabled,
// started and not expired, followed as it rotates) or
// vault://VAULT/secrets/NAME/VERSION (pinned).
type CredentialSpec struct {
	Type string `json:"type"`

	// basic: Username and a reference to the secret holding the password.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// apiKeyHeader: the header (e.g. x-functions-key) and a reference to the
	// secret holding the key.
	Header string `json:"header,omitempty"`
	Key    string `json:"key,omitempty"`

	// bearer: exactly one of Token (a reference to a secret holding a static
	// token) and ClientCredentials (a token obtained, cached and refreshed
	// by the client-credentials grant).
	Token             string                 `json:"token,omitempty"`
	ClientCredentials *ClientCredentialsSpec `json:"clientCredentials,omitempty"`

	// clientCertificate: a reference to a vault certificate
	// (vault://VAULT/certificates/NAME[/VERSION]) whose private key signs
	// the TLS handshake.
	Certificate string `json:"certificate,omitempty"`
}

// ClientCredentialsSpec is a client-credentials grant against Portcullis or
// any Entra-compatible authority. Exactly one of Authority (the token
// endpoint is Authority + "/oauth2/v2.0/token") and TokenEndpoint; exactly
// one of ClientSecret (a reference to a secret) and ClientCertificate (a
// reference to a vault certificate, presented as an MSAL-style client
// assertion with x5t#S256).
type ClientCredentialsSpec struct {
	Authority         string `json:"authority,omitempty"`
	TokenEndpoint     string `json:"tokenEndpoint,omitempty"`
	ClientID          string `json:"clientId"`
	ClientSecret      string `json:"clientSecret,omitempty"`
	ClientCertificate string `json:"clientCertificate,omitempty"`
	// Scope is what the token is for, e.g. "api://orders/.default".
	Scope string `json:"scope"`
}

// TLSSpec is how a caller trusts the server it calls over https. Without
// it the system roots verify the server.
type TLSSpec struct {
	// CACertificates are PEM certificates or vault://VAULT/certificates/NAME
	// references; when set they replace the system roots.
	CACertificates []string `json:"caCertificates,omitempty"`
	// ServerName is the name sent in SNI and verified in the server's
	// certificate, when it is not the URL's host.
	ServerName string `json:"serverName,omitempty"`
	// PinnedThumbprints are SHA-256 thumbprints (64 hex digits) of server
	// leaf certificates; when set the server's leaf must be one of them,
	// in addition to chain validation (unless skipped). Several at once
	// for rollover.
	PinnedThumbprints []string `json:"pinnedThumbprints,omitempty"`
	// SkipChainValidation accepts a server certificate that does not chain
	// to a trusted CA (a self-signed backend). It is explicit, logged when
	// the route or connector is loaded and shown by `show`; with
	// PinnedThumbprints it is safe (the pin is still checked).
	SkipChainValidation bool `json:"skipChainValidation,omitempty"`
}
