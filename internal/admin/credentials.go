package admin

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

func (a *API) listPasswordCredentials(w http.ResponseWriter, r *http.Request) error {
	_, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(app.PasswordCredentials, passwordCredentialOut)))
	return nil
}

type createPasswordCredentialRequest struct {
	Description      string `json:"description"`
	ExpiresInSeconds *int64 `json:"expiresInSeconds"`
}

func (a *API) createPasswordCredential(w http.ResponseWriter, r *http.Request) error {
	var req createPasswordCredentialRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	description, err := normalizeDescription("description", req.Description)
	if err != nil {
		return err
	}
	lifetime, err := validateSecretLifetime(req.ExpiresInSeconds)
	if err != nil {
		return err
	}
	secret, err := directory.NewClientSecret()
	if err != nil {
		return err
	}
	now := a.now().UTC()
	cred := directory.PasswordCredential{
		ID: newGUID(), Hint: secret.Hint, Hash: secret.Hash, Description: description,
		StartAt: now, ExpiresAt: now.Add(lifetime), CreatedAt: now,
	}
	err = a.changeApplication(r, "add client secret", func(_ directory.Tenant, cur *directory.Application) error {
		if len(cur.PasswordCredentials) >= maxPasswordCredentials {
			return conflict("application %q has %d client secrets, the maximum; delete an old one first", cur.DisplayName, len(cur.PasswordCredentials))
		}
		cur.PasswordCredentials = append(cur.PasswordCredentials, cred)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newPasswordCredentialJSON{passwordCredentialJSON: passwordCredentialOut(cred), SecretText: secret.Text})
	return nil
}

func (a *API) deletePasswordCredential(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := a.changeApplication(r, "delete client secret", func(t directory.Tenant, cur *directory.Application) error {
		if removeFirst(&cur.PasswordCredentials, func(c directory.PasswordCredential) bool { return strings.EqualFold(c.ID, id) }) {
			return nil
		}
		return notFound("application %q has no client secret with id %q; list them with GET %s/tenants/%s/applications/%s/passwordCredentials", cur.DisplayName, id, basePath, t.Name, cur.AppID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listKeyCredentials(w http.ResponseWriter, r *http.Request) error {
	_, app, err := a.tenantAndApp(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(mapSlice(app.KeyCredentials, keyCredentialOut)))
	return nil
}

type createKeyCredentialRequest struct {
	Certificate string `json:"certificate"`
	Password    string `json:"password"`
	Description string `json:"description"`
}

// validate decodes and parses the uploaded certificate and returns the key
// credential to store, without id and creation time. Only the public
// certificate is kept; a private key in a PFX or PEM is dropped here.
func (req createKeyCredentialRequest) validate(now time.Time) (directory.KeyCredential, error) {
	var cred directory.KeyCredential
	description, err := normalizeDescription("description", req.Description)
	if err != nil {
		return cred, err
	}
	if strings.TrimSpace(req.Certificate) == "" {
		return cred, badRequest("field \"certificate\" is required: the standard base64 of a DER (.cer), PEM or PFX (.pfx) file")
	}
	data, err := decodeBase64(req.Certificate)
	if err != nil {
		return cred, badRequest("field \"certificate\" is not standard base64 (%v); send the file bytes base64-encoded, e.g. with `base64 -w0 cert.cer`", err)
	}
	cert, err := pki.ParseCertificateFile(data, req.Password)
	switch {
	case err == nil:
	case errors.Is(err, pki.ErrWrongPassword) && req.Password == "":
		return cred, badRequest("the PFX in \"certificate\" is password-protected; give its password in field \"password\"")
	case errors.Is(err, pki.ErrWrongPassword):
		return cred, badRequest("field \"password\" is wrong: the PFX in \"certificate\" could not be opened with it")
	case errors.Is(err, pki.ErrNotCertificate):
		return cred, badRequest("field \"certificate\" does not hold a certificate: expected the bytes of a DER (.cer), PEM or PFX (.pfx/.p12) file")
	default:
		return cred, badRequest("field \"certificate\" could not be read as a certificate: %s", headerSafe(err.Error()))
	}
	if now.After(cert.NotAfter) {
		return cred, badRequest("the certificate %q expired on %s; upload a certificate that is still valid", cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return keyCredentialFor(cert, description), nil
}

func keyCredentialFor(cert *x509.Certificate, description string) directory.KeyCredential {
	return directory.KeyCredential{
		Description:    description,
		CertificateDER: cert.Raw,
		ThumbprintSHA1: pki.ThumbprintSHA1Hex(cert),
		ThumbprintS256: pki.X5TS256(cert),
		Subject:        cert.Subject.String(),
		NotBefore:      cert.NotBefore.UTC(),
		NotAfter:       cert.NotAfter.UTC(),
	}
}

// decodeBase64 decodes standard base64, padded or not; line breaks are
// ignored so that a wrapped `base64` output works.
func decodeBase64(s string) ([]byte, error) {
	s = strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(s))
	if strings.ContainsAny(s, "-_") {
		return nil, errors.New("it contains '-' or '_', which are base64url; use standard base64 with '+' and '/'")
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, fmt.Errorf("invalid character or length at byte %d", int64(corrupt))
		}
		return nil, errors.New("invalid base64")
	}
	return b, nil
}

func (a *API) createKeyCredential(w http.ResponseWriter, r *http.Request) error {
	var req createKeyCredentialRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	now := a.now().UTC()
	cred, err := req.validate(now)
	if err != nil {
		return err
	}
	cred.ID, cred.CreatedAt = newGUID(), now
	err = a.changeApplication(r, "add certificate", func(_ directory.Tenant, cur *directory.Application) error {
		for _, c := range cur.KeyCredentials {
			if strings.EqualFold(c.ThumbprintSHA1, cred.ThumbprintSHA1) {
				return conflict("application %q already has this certificate (thumbprint %s, key credential id %s)", cur.DisplayName, cred.ThumbprintSHA1, c.ID)
			}
		}
		if len(cur.KeyCredentials) >= maxKeyCredentials {
			return conflict("application %q has %d certificates, the maximum; delete an old one first", cur.DisplayName, len(cur.KeyCredentials))
		}
		cur.KeyCredentials = append(cur.KeyCredentials, cred)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyCredentialOut(cred))
	return nil
}

func (a *API) deleteKeyCredential(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	err := a.changeApplication(r, "delete certificate", func(t directory.Tenant, cur *directory.Application) error {
		if removeFirst(&cur.KeyCredentials, func(c directory.KeyCredential) bool {
			return strings.EqualFold(c.ID, ref) || strings.EqualFold(c.ThumbprintSHA1, ref)
		}) {
			return nil
		}
		return notFound("application %q has no certificate with id or thumbprint %q; list them with GET %s/tenants/%s/applications/%s/keyCredentials", cur.DisplayName, ref, basePath, t.Name, cur.AppID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
