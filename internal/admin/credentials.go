package admin

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

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
	cred, secret, err := a.dir.AddPasswordCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), req.Description, req.ExpiresInSeconds)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newPasswordCredentialJSON{passwordCredentialJSON: passwordCredentialOut(cred), SecretText: secret.Text})
	return nil
}

func (a *API) deletePasswordCredential(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.RemovePasswordCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), r.PathValue("id"))
	if err := a.afterWrite(r.Context(), err); err != nil {
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

// parse decodes and parses the uploaded certificate. Only the public
// certificate is used; a private key in a PFX or PEM is dropped here.
func (req createKeyCredentialRequest) parse() (*x509.Certificate, error) {
	if strings.TrimSpace(req.Certificate) == "" {
		return nil, badRequest("field \"certificate\" is required: the standard base64 of a DER (.cer), PEM or PFX (.pfx) file")
	}
	data, err := decodeBase64(req.Certificate)
	if err != nil {
		return nil, badRequest("field \"certificate\" is not standard base64 (%v); send the file bytes base64-encoded, e.g. with `base64 -w0 cert.cer`", err)
	}
	cert, err := pki.ParseCertificateFile(data, req.Password)
	switch {
	case err == nil:
		return cert, nil
	case errors.Is(err, pki.ErrWrongPassword) && req.Password == "":
		return nil, badRequest("the PFX in \"certificate\" is password-protected; give its password in field \"password\"")
	case errors.Is(err, pki.ErrWrongPassword):
		return nil, badRequest("field \"password\" is wrong: the PFX in \"certificate\" could not be opened with it")
	case errors.Is(err, pki.ErrNotCertificate):
		return nil, badRequest("field \"certificate\" does not hold a certificate: expected the bytes of a DER (.cer), PEM or PFX (.pfx/.p12) file")
	}
	return nil, badRequest("field \"certificate\" could not be read as a certificate: %s", headerSafe(err.Error()))
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
	if err := a.dir.CheckDescription(req.Description); err != nil {
		return err
	}
	cert, err := req.parse()
	if err != nil {
		return err
	}
	cred, err := a.dir.AddKeyCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), cert, req.Description)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyCredentialOut(cred))
	return nil
}

func (a *API) deleteKeyCredential(w http.ResponseWriter, r *http.Request) error {
	err := a.dir.RemoveKeyCredential(r.Context(), r.PathValue("tenant"), r.PathValue("app"), r.PathValue("id"))
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
