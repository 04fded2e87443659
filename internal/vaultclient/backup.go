package vaultclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// backupBody is Key Vault's backup result and restore body.
type backupBody struct {
	Value string `json:"value"`
}

// Collections that Backup and restore take.
const (
	CollectionSecrets      = "secrets"
	CollectionKeys         = "keys"
	CollectionCertificates = "certificates"
)

// Backup returns the opaque backup blob of object name in collection
// (CollectionSecrets, CollectionKeys or CollectionCertificates): every
// version, sealed by the server under its root key.
func (c *Client) Backup(ctx context.Context, vault, collection, name string) ([]byte, error) {
	what := fmt.Sprintf("back up %s %s", strings.TrimSuffix(collection, "s"), name)
	data, err := c.kv(ctx, http.MethodPost, c.objectURL(vault, collection, name, "", "backup"), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var b backupBody
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: the vault's answer is not a backup: %w", what, err)
	}
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b.Value, "="))
	if err != nil || len(blob) == 0 {
		return nil, fmt.Errorf("%s: the vault's backup value is not base64url", what)
	}
	return blob, nil
}

func (c *Client) restoreURL(vault, collection string) string {
	return c.VaultURL(vault) + "/" + collection + "/restore?api-version=" + APIVersion
}

// RestoreSecret restores a secret from a Backup blob.
func (c *Client) RestoreSecret(ctx context.Context, vault string, blob []byte) (Secret, error) {
	return one[Secret](ctx, c, http.MethodPost, c.restoreURL(vault, CollectionSecrets), backupBody{Value: base64.RawURLEncoding.EncodeToString(blob)}, "restore secret")
}

// RestoreKey restores a key from a Backup blob.
func (c *Client) RestoreKey(ctx context.Context, vault string, blob []byte) (Key, error) {
	return one[Key](ctx, c, http.MethodPost, c.restoreURL(vault, CollectionKeys), backupBody{Value: base64.RawURLEncoding.EncodeToString(blob)}, "restore key")
}

// RestoreCertificate restores a certificate (with its secret and key) from
// a Backup blob.
func (c *Client) RestoreCertificate(ctx context.Context, vault string, blob []byte) (Certificate, error) {
	return one[Certificate](ctx, c, http.MethodPost, c.restoreURL(vault, CollectionCertificates), backupBody{Value: base64.RawURLEncoding.EncodeToString(blob)}, "restore certificate")
}
