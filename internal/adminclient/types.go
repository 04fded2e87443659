package adminclient

import (
	"encoding/json"
	"time"
)

// Tenant is a directory tenant. Issuer, TokenEndpoint and JwksURI are set
// only by GetTenant.
type Tenant struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	CreatedAt     time.Time `json:"createdAt"`
	Issuer        string    `json:"issuer,omitempty"`
	TokenEndpoint string    `json:"tokenEndpoint,omitempty"`
	JwksURI       string    `json:"jwksUri,omitempty"`
}

// Application is an app registration.
type Application struct {
	TenantID                     string                        `json:"tenantId"`
	AppID                        string                        `json:"appId"`
	ObjectID                     string                        `json:"objectId"`
	DisplayName                  string                        `json:"displayName"`
	IdentifierURIs               []string                      `json:"identifierUris"`
	AppRoles                     []AppRole                     `json:"appRoles"`
	PasswordCredentials          []PasswordCredential          `json:"passwordCredentials"`
	KeyCredentials               []KeyCredential               `json:"keyCredentials"`
	FederatedIdentityCredentials []FederatedIdentityCredential `json:"federatedIdentityCredentials"`
	AccessTokenLifetimeSeconds   int                           `json:"accessTokenLifetimeSeconds"`
	// RequireCertificateBoundTokens: as a resource, the application gets
	// only certificate-bound tokens (cnf x5t#S256, RFC 8705).
	RequireCertificateBoundTokens bool      `json:"requireCertificateBoundTokens"`
	CreatedAt                     time.Time `json:"createdAt"`
}

// AppRole is an application permission an application exposes.
type AppRole struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	IsEnabled   bool   `json:"isEnabled"`
}

// PasswordCredential is a client secret's metadata; SecretText is set only
// in the answer to AddSecret, the one time the secret is shown.
type PasswordCredential struct {
	ID            string    `json:"id"`
	Hint          string    `json:"hint"`
	Description   string    `json:"description"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
	SecretText    string    `json:"secretText,omitempty"`
}

// KeyCredential is a registered certificate (public part only).
type KeyCredential struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Thumbprint    string    `json:"thumbprint"` // SHA-1, upper-case hex
	X5TS256       string    `json:"x5tS256"`    // base64url SHA-256
	Subject       string    `json:"subject"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
}

// FederatedIdentityCredential makes an application trust tokens of an
// external issuer (workload identity federation).
type FederatedIdentityCredential struct {
	ID          string          `json:"id,omitempty"`
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences,omitempty"`
	Description string          `json:"description,omitempty"`
	JWKSURI     string          `json:"jwksUri,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
	CreatedAt   *time.Time      `json:"createdAt,omitempty"`
}

// Grant gives a client application an app role of a resource application.
type Grant struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenantId"`
	ClientAppID   string    `json:"clientAppId"`
	ResourceAppID string    `json:"resourceAppId"`
	AppRoleID     string    `json:"appRoleId"`
	RoleValue     string    `json:"roleValue"`
	CreatedAt     time.Time `json:"createdAt"`
}

// SigningKey is a tenant's token signing key as the admin API lists it.
type SigningKey struct {
	Kid            string    `json:"kid"`
	Status         string    `json:"status"` // next, active or retired
	CreatedAt      time.Time `json:"createdAt"`
	ActivateAt     time.Time `json:"activateAt"`
	PublishedUntil time.Time `json:"publishedUntil"`
}

// RotateResult is the answer to RotateSigningKeys.
type RotateResult struct {
	Kid string `json:"kid"`
}

// NewApplication is the body of CreateApplication; empty fields take the
// server's defaults (identifier URI api://{appId}, lifetime 1 hour).
type NewApplication struct {
	DisplayName                   string   `json:"displayName"`
	IdentifierURIs                []string `json:"identifierUris,omitempty"`
	AccessTokenLifetimeSeconds    int      `json:"accessTokenLifetimeSeconds,omitempty"`
	RequireCertificateBoundTokens bool     `json:"requireCertificateBoundTokens,omitempty"`
}

// ApplicationUpdate is the body of UpdateApplication; nil fields are left
// unchanged.
type ApplicationUpdate struct {
	DisplayName                   *string  `json:"displayName,omitempty"`
	IdentifierURIs                []string `json:"identifierUris,omitempty"`
	AccessTokenLifetimeSeconds    *int     `json:"accessTokenLifetimeSeconds,omitempty"`
	RequireCertificateBoundTokens *bool    `json:"requireCertificateBoundTokens,omitempty"`
}

// NewAppRole is the body of AddAppRole.
type NewAppRole struct {
	Value       string `json:"value"`
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
}

// NewSecret is the body of AddSecret; ExpiresInSeconds 0 takes the
// server's default (180 days).
type NewSecret struct {
	Description      string `json:"description,omitempty"`
	ExpiresInSeconds int64  `json:"expiresInSeconds,omitempty"`
}

// NewCertificate is the body of AddCertificate: Certificate holds the
// certificate file's bytes (DER, PEM or PFX), sent in standard base64.
type NewCertificate struct {
	Certificate []byte `json:"certificate"`
	Password    string `json:"password,omitempty"`
	Description string `json:"description,omitempty"`
}

// NewGrant is the body of AddGrant: Client and Resource are appIds or
// unique display names, Role an app role value or id.
type NewGrant struct {
	Client   string `json:"client"`
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

// List is the envelope of every list answer.
type List[T any] struct {
	Value []T `json:"value"`
}
