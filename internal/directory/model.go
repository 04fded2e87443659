package directory

import (
	"strings"
	"time"
)

// ManagementIdentifierURI is the identifier URI of the built-in management
// resource whose Portcullis.Admin app role authorizes callers of the admin API.
const ManagementIdentifierURI = "api://portcullis-management"

// VaultIdentifierURI is the stable identifier URI of the built-in vault
// resource application: tokens for the Key Vault-compatible API carry its
// appId as audience.
const VaultIdentifierURI = "api://portcullis-vault"

// builtInIdentifierURIs are the identifier URIs of the applications that
// Portcullis itself depends on; such an application cannot be deleted and
// cannot lose the URI.
var builtInIdentifierURIs = [...]string{ManagementIdentifierURI, VaultIdentifierURI}

// BuiltInIdentifierURI returns the built-in identifier URI that app holds,
// or "" when it is an ordinary application.
func BuiltInIdentifierURI(app Application) string {
	for _, b := range builtInIdentifierURIs {
		for _, u := range app.IdentifierURIs {
			if strings.EqualFold(u, b) {
				return b
			}
		}
	}
	return ""
}

// AdminRoleValue is the app role on the management resource that grants full
// access to the admin API.
const AdminRoleValue = "Portcullis.Admin"

// DefaultTenantName is the name of the tenant created on first start.
const DefaultTenantName = "default"

// Tenant is a directory: it owns applications, grants and signing keys and
// has its own issuer {base}/{ID}/v2.0.
type Tenant struct {
	ID        string    `json:"id"` // lower-case GUID
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Application is an app registration together with its service principal in
// the tenant. AppID is the client id; ObjectID is the service principal's
// object id that appears as oid/sub in app-only tokens.
type Application struct {
	TenantID       string    `json:"tenantId"`
	AppID          string    `json:"appId"`
	ObjectID       string    `json:"objectId"`
	DisplayName    string    `json:"displayName"`
	IdentifierURIs []string  `json:"identifierUris"`
	AppRoles       []AppRole `json:"appRoles"`
	// AccessTokenLifetime is the lifetime of access tokens issued for this
	// application as a resource; zero means the server default (1 h).
	AccessTokenLifetime time.Duration `json:"-"`
	// RequireCertificateBoundTokens makes this application, as a resource,
	// receive only certificate-bound access tokens (RFC 8705 §3): a client
	// must authenticate with a certificate, and its token carries
	// cnf["x5t#S256"], the SHA-256 thumbprint of that certificate. A
	// client authenticating with a secret or a federated token is refused.
	RequireCertificateBoundTokens bool                 `json:"requireCertificateBoundTokens,omitempty"`
	PasswordCredentials           []PasswordCredential `json:"passwordCredentials"`
	KeyCredentials                []KeyCredential      `json:"keyCredentials"`
	// FederatedIdentityCredentials are the external issuers' tokens this
	// application accepts in place of a secret (workload identity federation).
	FederatedIdentityCredentials []FederatedIdentityCredential `json:"federatedIdentityCredentials"`
	CreatedAt                    time.Time                     `json:"createdAt"`
}

// AppRole is an application permission that the application exposes as a
// resource and that can be granted to client applications.
type AppRole struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	Enabled     bool   `json:"isEnabled"`
}

// PasswordCredential is a client secret. Only a hash of the secret is kept;
// Hint is the first three characters of the secret text, shown to help users
// tell secrets apart.
type PasswordCredential struct {
	ID          string    `json:"id"`
	Hint        string    `json:"hint"`
	Description string    `json:"description"`
	Hash        []byte    `json:"-"`
	StartAt     time.Time `json:"startDateTime"`
	ExpiresAt   time.Time `json:"endDateTime"`
	CreatedAt   time.Time `json:"createdAt"`
}

// KeyCredential is a registered certificate: the public part only.
type KeyCredential struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// CertificateDER is the X.509 certificate in DER form.
	CertificateDER []byte    `json:"-"`
	ThumbprintSHA1 string    `json:"thumbprint"` // upper-case hex, as Entra shows it
	ThumbprintS256 string    `json:"x5tS256"`    // base64url of SHA-256(DER), no padding
	Subject        string    `json:"subject"`
	NotBefore      time.Time `json:"startDateTime"`
	NotAfter       time.Time `json:"endDateTime"`
	CreatedAt      time.Time `json:"createdAt"`
}

// Grant is admin consent of one app role of a resource application to a
// client application (an app role assignment to the client's service principal).
type Grant struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenantId"`
	ClientAppID   string    `json:"clientAppId"`
	ResourceAppID string    `json:"resourceAppId"`
	AppRoleID     string    `json:"appRoleId"`
	CreatedAt     time.Time `json:"createdAt"`
}
