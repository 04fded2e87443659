package vaultclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// rawHolder is a Key Vault shape that keeps its JSON.
type rawHolder[T any] interface {
	*T
	setRaw(json.RawMessage)
}

func (s *Secret) setRaw(b json.RawMessage)               { s.Raw = b }
func (c *Certificate) setRaw(b json.RawMessage)          { c.Raw = b }
func (k *Key) setRaw(b json.RawMessage)                  { k.Raw = b }
func (o *CertificateOperation) setRaw(b json.RawMessage) { o.Raw = b }

// decode unmarshals a Key Vault answer into a T that keeps the raw JSON.
func decode[T any, P rawHolder[T]](data []byte, what string) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%s: the vault's answer is not the expected JSON: %w", what, err)
	}
	P(&v).setRaw(json.RawMessage(append([]byte(nil), data...)))
	return v, nil
}

// objectURL builds VAULT_URL/COLLECTION/NAME[/VERSION][/SUFFIX]?api-version.
func (c *Client) objectURL(vault, collection, name, version, suffix string) string {
	u := c.VaultURL(vault) + "/" + collection
	if name != "" {
		u += "/" + url.PathEscape(name)
	}
	if version != "" {
		u += "/" + url.PathEscape(version)
	}
	if suffix != "" {
		u += "/" + suffix
	}
	return u + "?api-version=" + APIVersion
}

// one sends a request and decodes its answer.
func one[T any, P rawHolder[T]](ctx context.Context, c *Client, method, rawURL string, in any, what string) (T, error) {
	data, err := c.kv(ctx, method, rawURL, in)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return decode[T, P](data, what)
}

// page is a Key Vault list answer.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink *string           `json:"nextLink"`
}

// listAll follows nextLink through every page. A nextLink is only ever
// followed on this client's own server and vault path, so that a token never
// goes elsewhere; a link naming another host (e.g. the server's public URL
// seen from inside) is rebased onto the client's address.
func listAll[T any, P rawHolder[T]](ctx context.Context, c *Client, vault, rawURL, what string) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for n := 0; rawURL != ""; n++ {
		if n >= maxPages || seen[rawURL] {
			return nil, fmt.Errorf("%s: the vault's paging does not end (nextLink repeats)", what)
		}
		seen[rawURL] = true
		data, err := c.kv(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var p page
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%s: the vault's answer is not a Key Vault list: %w", what, err)
		}
		for _, item := range p.Value {
			v, err := decode[T, P](item, what)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		rawURL = ""
		if p.NextLink != nil && *p.NextLink != "" {
			next, err := c.rebase(vault, *p.NextLink)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			rawURL = next
		}
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// rebase checks that link points into vault and returns it on the client's
// own address.
func (c *Client) rebase(vault, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("the vault sent an unusable nextLink %q", clip(link))
	}
	base, _ := url.Parse(c.VaultURL(vault))
	if !strings.HasPrefix(u.EscapedPath(), base.EscapedPath()+"/") {
		return "", fmt.Errorf("the vault's nextLink %q points outside vault %s; not following it", clip(redactQuery(link)), vault)
	}
	out := *base
	out.Path, out.RawPath = u.Path, u.RawPath
	out.RawQuery = u.RawQuery
	return out.String(), nil
}

const listQuery = "&maxresults=25"

// SetSecret writes a new version of secret name.
func (c *Client) SetSecret(ctx context.Context, vault, name string, p SecretSetParameters) (Secret, error) {
	return one[Secret](ctx, c, http.MethodPut, c.objectURL(vault, "secrets", name, "", ""), p, "set secret "+name)
}

// GetSecret returns a secret version with its value; version "" is the newest.
func (c *Client) GetSecret(ctx context.Context, vault, name, version string) (Secret, error) {
	return one[Secret](ctx, c, http.MethodGet, c.objectURL(vault, "secrets", name, version, ""), nil, "get secret "+name)
}

// ListSecrets returns every secret (without values), including the secrets
// that back certificates (Managed).
func (c *Client) ListSecrets(ctx context.Context, vault string) ([]Secret, error) {
	return listAll[Secret](ctx, c, vault, c.objectURL(vault, "secrets", "", "", "")+listQuery, "list secrets")
}

// ListSecretVersions returns every version of a secret (without values).
func (c *Client) ListSecretVersions(ctx context.Context, vault, name string) ([]Secret, error) {
	return listAll[Secret](ctx, c, vault, c.objectURL(vault, "secrets", name, "", "versions")+listQuery, "list versions of secret "+name)
}

// DeleteSecret soft-deletes a secret and returns the deleted secret.
func (c *Client) DeleteSecret(ctx context.Context, vault, name string) (Secret, error) {
	return one[Secret](ctx, c, http.MethodDelete, c.objectURL(vault, "secrets", name, "", ""), nil, "delete secret "+name)
}

// RecoverSecret recovers a deleted secret.
func (c *Client) RecoverSecret(ctx context.Context, vault, name string) (Secret, error) {
	return one[Secret](ctx, c, http.MethodPost, c.objectURL(vault, "deletedsecrets", name, "", "recover"), nil, "recover secret "+name)
}

// PurgeSecret permanently removes a deleted secret.
func (c *Client) PurgeSecret(ctx context.Context, vault, name string) error {
	return c.purge(ctx, vault, "secret", name)
}

// purge permanently removes the deleted object name of a kind (secret,
// certificate or key).
func (c *Client) purge(ctx context.Context, vault, kind, name string) error {
	if _, err := c.kv(ctx, http.MethodDelete, c.objectURL(vault, "deleted"+kind+"s", name, "", ""), nil); err != nil {
		return fmt.Errorf("purge %s %s: %w", kind, name, err)
	}
	return nil
}

// ImportCertificate imports a certificate with its private key (PFX or PEM).
func (c *Client) ImportCertificate(ctx context.Context, vault, name string, p CertificateImportParameters) (Certificate, error) {
	return one[Certificate](ctx, c, http.MethodPost, c.objectURL(vault, "certificates", name, "", "import"), p, "import certificate "+name)
}

// CreateCertificate starts creating a certificate from a policy and returns
// the operation; WaitCertificateOperation follows it to the end.
func (c *Client) CreateCertificate(ctx context.Context, vault, name string, p CertificateCreateParameters) (CertificateOperation, error) {
	return one[CertificateOperation](ctx, c, http.MethodPost, c.objectURL(vault, "certificates", name, "", "create"), p, "create certificate "+name)
}

// GetCertificateOperation returns the state of a certificate's pending
// (or last) creation.
func (c *Client) GetCertificateOperation(ctx context.Context, vault, name string) (CertificateOperation, error) {
	return one[CertificateOperation](ctx, c, http.MethodGet, c.objectURL(vault, "certificates", name, "", "pending"), nil, "certificate operation of "+name)
}

// ErrOperationFailed is wrapped by the error of WaitCertificateOperation
// when the operation ends other than completed.
var ErrOperationFailed = errors.New("certificate operation did not complete")

// firstOperationPoll is the first wait of WaitCertificateOperation: a
// certificate from issuer Self or a vault CA is issued in milliseconds.
const firstOperationPoll = 20 * time.Millisecond

// WaitCertificateOperation polls the operation op of certificate name until
// it is no longer in progress, or ctx ends: first after a few milliseconds,
// then twice as late each time, up to every interval. It returns the final
// operation, with an error wrapping ErrOperationFailed unless it completed.
func (c *Client) WaitCertificateOperation(ctx context.Context, vault, name string, op CertificateOperation, interval time.Duration) (CertificateOperation, error) {
	wait := min(firstOperationPoll, interval)
	for strings.EqualFold(op.Status, "inProgress") {
		t := time.NewTimer(wait)
		wait = min(2*wait, interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return op, fmt.Errorf("certificate %s: still in progress when waiting stopped: %w", name, ctx.Err())
		case <-t.C:
		}
		next, err := c.GetCertificateOperation(ctx, vault, name)
		if err != nil {
			return op, err
		}
		op = next
	}
	if !strings.EqualFold(op.Status, "completed") {
		detail := op.StatusDetails
		if op.Error != nil {
			detail = strings.TrimSpace(op.Error.Code + ": " + op.Error.Message)
		}
		return op, fmt.Errorf("certificate %s: %w: status %q %s", name, ErrOperationFailed, clip(op.Status), clip(detail))
	}
	return op, nil
}

// GetCertificate returns a certificate version; version "" is the newest.
func (c *Client) GetCertificate(ctx context.Context, vault, name, version string) (Certificate, error) {
	return one[Certificate](ctx, c, http.MethodGet, c.objectURL(vault, "certificates", name, version, ""), nil, "get certificate "+name)
}

// ListCertificates returns every certificate.
func (c *Client) ListCertificates(ctx context.Context, vault string) ([]Certificate, error) {
	return listAll[Certificate](ctx, c, vault, c.objectURL(vault, "certificates", "", "", "")+listQuery, "list certificates")
}

// ListCertificateVersions returns every version of a certificate.
func (c *Client) ListCertificateVersions(ctx context.Context, vault, name string) ([]Certificate, error) {
	return listAll[Certificate](ctx, c, vault, c.objectURL(vault, "certificates", name, "", "versions")+listQuery, "list versions of certificate "+name)
}

// DeleteCertificate soft-deletes a certificate (with its secret and key).
func (c *Client) DeleteCertificate(ctx context.Context, vault, name string) (Certificate, error) {
	return one[Certificate](ctx, c, http.MethodDelete, c.objectURL(vault, "certificates", name, "", ""), nil, "delete certificate "+name)
}

// RecoverCertificate recovers a deleted certificate.
func (c *Client) RecoverCertificate(ctx context.Context, vault, name string) (Certificate, error) {
	return one[Certificate](ctx, c, http.MethodPost, c.objectURL(vault, "deletedcertificates", name, "", "recover"), nil, "recover certificate "+name)
}

// PurgeCertificate permanently removes a deleted certificate.
func (c *Client) PurgeCertificate(ctx context.Context, vault, name string) error {
	return c.purge(ctx, vault, "certificate", name)
}

// CreateKey creates a new key (or a new version of one).
func (c *Client) CreateKey(ctx context.Context, vault, name string, p KeyCreateParameters) (Key, error) {
	return one[Key](ctx, c, http.MethodPost, c.objectURL(vault, "keys", name, "", "create"), p, "create key "+name)
}

// ImportKey imports a private key as a new key version.
func (c *Client) ImportKey(ctx context.Context, vault, name string, p KeyImportParameters) (Key, error) {
	return one[Key](ctx, c, http.MethodPut, c.objectURL(vault, "keys", name, "", ""), p, "import key "+name)
}

// GetKey returns a key version (public part); version "" is the newest.
func (c *Client) GetKey(ctx context.Context, vault, name, version string) (Key, error) {
	return one[Key](ctx, c, http.MethodGet, c.objectURL(vault, "keys", name, version, ""), nil, "get key "+name)
}

// ListKeys returns every key, including those that back certificates.
func (c *Client) ListKeys(ctx context.Context, vault string) ([]Key, error) {
	return listAll[Key](ctx, c, vault, c.objectURL(vault, "keys", "", "", "")+listQuery, "list keys")
}

// ListKeyVersions returns every version of a key.
func (c *Client) ListKeyVersions(ctx context.Context, vault, name string) ([]Key, error) {
	return listAll[Key](ctx, c, vault, c.objectURL(vault, "keys", name, "", "versions")+listQuery, "list versions of key "+name)
}

// DeleteKey soft-deletes a key.
func (c *Client) DeleteKey(ctx context.Context, vault, name string) (Key, error) {
	return one[Key](ctx, c, http.MethodDelete, c.objectURL(vault, "keys", name, "", ""), nil, "delete key "+name)
}

// RecoverKey recovers a deleted key.
func (c *Client) RecoverKey(ctx context.Context, vault, name string) (Key, error) {
	return one[Key](ctx, c, http.MethodPost, c.objectURL(vault, "deletedkeys", name, "", "recover"), nil, "recover key "+name)
}

// PurgeKey permanently removes a deleted key.
func (c *Client) PurgeKey(ctx context.Context, vault, name string) error {
	return c.purge(ctx, vault, "key", name)
}

// ParseID splits a Key Vault object identifier
// (VAULT_URL/COLLECTION/NAME[/VERSION]) into its collection ("secrets",
// "deletedsecrets", "certificates", "keys", …), name and version. ok is
// false when id has no such form.
func ParseID(id string) (collection, name, version string, ok bool) {
	u, err := url.Parse(id)
	if err != nil {
		return "", "", "", false
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := len(segs) - 2; i >= 0 && i >= len(segs)-3; i-- {
		switch segs[i] {
		case "secrets", "certificates", "keys", "deletedsecrets", "deletedcertificates", "deletedkeys":
			if segs[i+1] == "" {
				return "", "", "", false
			}
			name = segs[i+1]
			if i+2 < len(segs) {
				version = segs[i+2]
			}
			return segs[i], name, version, true
		}
	}
	return "", "", "", false
}
