package vault

import "context"

// GetSecretAs is GetSecret with Key Vault's outContentType (api-version
// 2025-07-01): the secret of a certificate returned as PEM
// (ContentTypePEM: private key first when exportable, then the chain) or as
// base64 PKCS#12 without password (ContentTypePKCS12), whatever its
// policy's content type; the returned ContentType names the format given.
// Key Vault documents the PFX to PEM direction; Portcullis converts both
// ways. A plain secret has no format to convert and is refused.
func (s *Service) GetSecretAs(ctx context.Context, c Caller, vault, name, version, contentType string) (Secret, error) {
	return onVersion(s, ctx, c, vault, Secrets, name, version, PermSecretsGet, func(o *op, v Vault) (Secret, error) {
		if contentType != ContentTypePEM && contentType != ContentTypePKCS12 {
			return Secret{}, badRequest("outContentType %q is not supported: use %s or %s (it applies to the secret of a certificate)", clipString(contentType, 80), ContentTypePEM, ContentTypePKCS12)
		}
		_, _, err := s.liveVersion(ctx, v.Name, Secrets, name, version)
		if err == nil {
			return Secret{}, badRequest("outContentType applies to the secret of a certificate; %s is a plain secret, returned only as it was stored: read it without outContentType", name)
		}
		if !IsKind(err, KindNotFound) {
			return Secret{}, err
		}
		_, cver, cerr := s.liveVersion(ctx, v.Name, Certificates, name, version)
		if cerr != nil {
			return Secret{}, err // the secret's own not-found
		}
		o.version = cver.Version
		cver.ContentType = contentType
		return s.certificateAsSecret(v, cver, true)
	})
}

// clipString shortens s to n bytes for messages.
func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
