package admin

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
)

// defaultAccessTokenLifetime is what a zero Application.AccessTokenLifetime
// means (the token service's default).
const defaultAccessTokenLifetime = directory.DefaultAccessTokenLifetime

// The response shapes of the contract. Times are RFC 3339 in UTC; lists are
// never null.

type listResponse[T any] struct {
	Value []T `json:"value"`
}

func list[T any](v []T) listResponse[T] {
	if v == nil {
		v = []T{}
	}
	return listResponse[T]{Value: v}
}

type tenantJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	CreatedAt     time.Time `json:"createdAt"`
	Issuer        string    `json:"issuer,omitempty"`
	TokenEndpoint string    `json:"tokenEndpoint,omitempty"`
	JWKSURI       string    `json:"jwksUri,omitempty"`
}

func tenantOut(t directory.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
}

type appRoleJSON struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	IsEnabled   bool   `json:"isEnabled"`
}

func appRoleOut(r directory.AppRole) appRoleJSON {
	return appRoleJSON{ID: r.ID, Value: r.Value, DisplayName: r.DisplayName, Description: r.Description, IsEnabled: r.Enabled}
}

type passwordCredentialJSON struct {
	ID            string    `json:"id"`
	Hint          string    `json:"hint"`
	Description   string    `json:"description"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
}

func passwordCredentialOut(c directory.PasswordCredential) passwordCredentialJSON {
	return passwordCredentialJSON{
		ID: c.ID, Hint: c.Hint, Description: c.Description,
		StartDateTime: c.StartAt.UTC(), EndDateTime: c.ExpiresAt.UTC(), CreatedAt: c.CreatedAt.UTC(),
	}
}

// newPasswordCredentialJSON is the response to creating a secret: the only
// place the secret text ever appears.
type newPasswordCredentialJSON struct {
	passwordCredentialJSON
	SecretText string `json:"secretText"`
}

type keyCredentialJSON struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Thumbprint    string    `json:"thumbprint"`
	X5TS256       string    `json:"x5tS256"`
	Subject       string    `json:"subject"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	CreatedAt     time.Time `json:"createdAt"`
}

func keyCredentialOut(c directory.KeyCredential) keyCredentialJSON {
	return keyCredentialJSON{
		ID: c.ID, Description: c.Description, Thumbprint: strings.ToUpper(c.ThumbprintSHA1), X5TS256: c.ThumbprintS256,
		Subject: c.Subject, StartDateTime: c.NotBefore.UTC(), EndDateTime: c.NotAfter.UTC(), CreatedAt: c.CreatedAt.UTC(),
	}
}

type federatedIdentityCredentialJSON struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences"`
	Description string          `json:"description"`
	JWKSURI     string          `json:"jwksUri,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
}

func federatedIdentityCredentialOut(c directory.FederatedIdentityCredential) federatedIdentityCredentialJSON {
	return federatedIdentityCredentialJSON{
		ID: c.ID, Name: c.Name, Issuer: c.Issuer, Subject: c.Subject, Audiences: append([]string{}, c.Audiences...),
		Description: c.Description, JWKSURI: c.JWKSURI, Keys: c.Keys, CreatedAt: c.CreatedAt.UTC(),
	}
}

type applicationJSON struct {
	TenantID                     string                            `json:"tenantId"`
	AppID                        string                            `json:"appId"`
	ObjectID                     string                            `json:"objectId"`
	DisplayName                  string                            `json:"displayName"`
	IdentifierURIs               []string                          `json:"identifierUris"`
	AppRoles                     []appRoleJSON                     `json:"appRoles"`
	PasswordCredentials          []passwordCredentialJSON          `json:"passwordCredentials"`
	KeyCredentials               []keyCredentialJSON               `json:"keyCredentials"`
	FederatedIdentityCredentials []federatedIdentityCredentialJSON `json:"federatedIdentityCredentials"`
	AccessTokenLifetimeSeconds   int64                             `json:"accessTokenLifetimeSeconds"`
	// RequireCertificateBoundTokens: tokens for this application as a
	// resource are certificate-bound (RFC 8705), for certificate clients only.
	RequireCertificateBoundTokens bool      `json:"requireCertificateBoundTokens"`
	CreatedAt                     time.Time `json:"createdAt"`
}

func applicationOut(a directory.Application) applicationJSON {
	lifetime := a.AccessTokenLifetime
	if lifetime <= 0 {
		lifetime = defaultAccessTokenLifetime
	}
	out := applicationJSON{
		TenantID: a.TenantID, AppID: a.AppID, ObjectID: a.ObjectID, DisplayName: a.DisplayName,
		IdentifierURIs:                append([]string{}, a.IdentifierURIs...),
		AppRoles:                      mapSlice(a.AppRoles, appRoleOut),
		PasswordCredentials:           mapSlice(a.PasswordCredentials, passwordCredentialOut),
		KeyCredentials:                mapSlice(a.KeyCredentials, keyCredentialOut),
		FederatedIdentityCredentials:  mapSlice(a.FederatedIdentityCredentials, federatedIdentityCredentialOut),
		AccessTokenLifetimeSeconds:    int64(lifetime / time.Second),
		RequireCertificateBoundTokens: a.RequireCertificateBoundTokens,
		CreatedAt:                     a.CreatedAt.UTC(),
	}
	return out
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

type grantJSON struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenantId"`
	ClientAppID   string    `json:"clientAppId"`
	ResourceAppID string    `json:"resourceAppId"`
	AppRoleID     string    `json:"appRoleId"`
	RoleValue     string    `json:"roleValue"`
	CreatedAt     time.Time `json:"createdAt"`
}

// grantOut renders g with its role value ("" if the role no longer exists).
func grantOut(g directory.GrantedRole) grantJSON {
	return grantJSON{
		ID: g.ID, TenantID: g.TenantID, ClientAppID: g.ClientAppID, ResourceAppID: g.ResourceAppID,
		AppRoleID: g.AppRoleID, RoleValue: g.RoleValue, CreatedAt: g.CreatedAt.UTC(),
	}
}

type signingKeyJSON struct {
	KID            string    `json:"kid"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"createdAt"`
	ActivateAt     time.Time `json:"activateAt"`
	PublishedUntil time.Time `json:"publishedUntil"`
}

func signingKeyOut(k sts.KeyInfo) signingKeyJSON {
	return signingKeyJSON{KID: k.KID, Status: k.Status, CreatedAt: k.CreatedAt.UTC(), ActivateAt: k.ActivateAt.UTC(), PublishedUntil: k.PublishedUntil.UTC()}
}

type rotateResponse struct {
	KID string `json:"kid"`
}
