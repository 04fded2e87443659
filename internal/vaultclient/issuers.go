package vaultclient

import (
	"context"
	"encoding/json"
	"net/http"
)

// Issuer is Key Vault's IssuerBundle: a certificate issuer of a vault.
type Issuer struct {
	ID          string `json:"id,omitempty"`
	Provider    string `json:"provider,omitempty"`
	Credentials *struct {
		AccountID string `json:"account_id,omitempty"`
	} `json:"credentials,omitempty"`
	Attributes *struct {
		Enabled *bool `json:"enabled,omitempty"`
	} `json:"attributes,omitempty"`
	Raw json.RawMessage `json:"-"`
}

func (i *Issuer) setRaw(b json.RawMessage) { i.Raw = b }

// IssuerSetParameters is the body of SetIssuer.
type IssuerSetParameters struct {
	Provider string `json:"provider"`
}

// SetIssuer creates or replaces certificate issuer name.
func (c *Client) SetIssuer(ctx context.Context, vault, name string, p IssuerSetParameters) (Issuer, error) {
	return one[Issuer](ctx, c, http.MethodPut, c.objectURL(vault, "certificates/issuers", name, "", ""), p, "set issuer "+name)
}

// GetIssuer returns certificate issuer name.
func (c *Client) GetIssuer(ctx context.Context, vault, name string) (Issuer, error) {
	return one[Issuer](ctx, c, http.MethodGet, c.objectURL(vault, "certificates/issuers", name, "", ""), nil, "get issuer "+name)
}
