package vaultclient

import (
	"context"
	"encoding/json"
	"net/http"
)

// KeyRotationPolicy is Key Vault's key rotation policy; Raw keeps the
// vault's JSON answer.
type KeyRotationPolicy struct {
	ID              string                       `json:"id,omitempty"`
	LifetimeActions []KeyLifetimeAction          `json:"lifetimeActions"`
	Attributes      *KeyRotationPolicyAttributes `json:"attributes,omitempty"`
	Raw             json.RawMessage              `json:"-"`
}

// KeyLifetimeAction is one action of a rotation policy with its trigger.
type KeyLifetimeAction struct {
	Trigger KeyLifetimeTrigger `json:"trigger"`
	Action  KeyLifetimeType    `json:"action"`
}

// KeyLifetimeTrigger holds one ISO 8601 duration: after creation (rotate
// only) or before expiry.
type KeyLifetimeTrigger struct {
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// KeyLifetimeType names the action: "Rotate" or "Notify".
type KeyLifetimeType struct {
	Type string `json:"type"`
}

// KeyRotationPolicyAttributes carries the expiry given to rotated versions
// (an ISO 8601 duration) and the policy's times (Unix seconds).
type KeyRotationPolicyAttributes struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    *int64 `json:"created,omitempty"`
	Updated    *int64 `json:"updated,omitempty"`
}

func (p *KeyRotationPolicy) setRaw(b json.RawMessage) { p.Raw = b }

// RotateKey creates a new version of a key of the same type and size.
func (c *Client) RotateKey(ctx context.Context, vault, name string) (Key, error) {
	return one[Key](ctx, c, http.MethodPost, c.objectURL(vault, "keys", name, "", "rotate"), nil, "rotate key "+name)
}

// GetKeyRotationPolicy returns a key's rotation policy (Key Vault's default
// when none was set).
func (c *Client) GetKeyRotationPolicy(ctx context.Context, vault, name string) (KeyRotationPolicy, error) {
	return one[KeyRotationPolicy](ctx, c, http.MethodGet, c.objectURL(vault, "keys", name, "", "rotationpolicy"), nil, "get rotation policy of key "+name)
}

// SetKeyRotationPolicy replaces a key's rotation policy.
func (c *Client) SetKeyRotationPolicy(ctx context.Context, vault, name string, p KeyRotationPolicy) (KeyRotationPolicy, error) {
	return one[KeyRotationPolicy](ctx, c, http.MethodPut, c.objectURL(vault, "keys", name, "", "rotationpolicy"), p, "set rotation policy of key "+name)
}
