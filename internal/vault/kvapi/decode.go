package kvapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// This file turns request bodies into vault inputs. Each parse function
// takes the raw body, so the fuzz targets reach exactly what a request does.
// Unknown members are ignored, as Key Vault does, so that newer SDKs keep
// working; members Portcullis cannot honour are refused by name.

// maxUnixSeconds bounds dates (year 9999).
const maxUnixSeconds = 253402300799

// readBody reads a JSON request body within the limit.
func (rq *request) readBody() ([]byte, error) {
	return rq.readBodyUpTo(rq.h.cfg.MaxBodyBytes, fmt.Sprintf("secret values are limited to %d bytes", vault.MaxSecretValueBytes))
}

// readBodyUpTo is readBody with its own limit; limitNote says in the
// refusal what the limit is for.
func (rq *request) readBodyUpTo(limit int64, limitNote string) ([]byte, error) {
	ct := rq.r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &vault.Error{Kind: vault.KindBadRequest, Code: codeUnsupportedMediaType, Message: fmt.Sprintf(
				"Content-Type %q is not supported: send the body as application/json.", clip(ct, 80))}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &vault.Error{Kind: vault.KindBadRequest, Code: codeRequestTooLarge, Message: fmt.Sprintf(
				"The request body is larger than %d bytes; %s.", limit, limitNote)}
		}
		return nil, badParameter("The request body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badParameter("The request body is empty: this operation needs a JSON object.")
	}
	if ct == "" {
		return nil, &vault.Error{Kind: vault.KindBadRequest, Code: codeUnsupportedMediaType, Message: "The request has a body but no Content-Type: send it as application/json."}
	}
	return body, nil
}

// decodeJSON decodes one JSON object, refusing trailing data.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badParameter("Invalid JSON body: member %q must be a JSON %s, not %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return badParameter("Invalid JSON body: %v.", err)
	}
	if dec.More() {
		return badParameter("Invalid JSON body: data after the JSON object.")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
}

// wireAttributes are Key Vault's object attributes; dates are Unix seconds.
type wireAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	// Exportable is a key attribute (release policy); refused when true.
	Exportable *bool `json:"exportable,omitempty"`
}

func unixTime(field string, s *int64) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	if *s < 0 || *s > maxUnixSeconds {
		return time.Time{}, badParameter("attributes.%s must be a date in Unix seconds between 0 and %d, got %d.", field, int64(maxUnixSeconds), *s)
	}
	return time.Unix(*s, 0).UTC(), nil
}

// dates returns nbf and exp (zero when absent).
func (a *wireAttributes) dates() (nbf, exp time.Time, err error) {
	if a == nil {
		return time.Time{}, time.Time{}, nil
	}
	if nbf, err = unixTime("nbf", a.NotBefore); err != nil {
		return
	}
	exp, err = unixTime("exp", a.Expires)
	return
}

// update turns attributes, tags and a content type into a vault.Update.
func (a *wireAttributes) update(tags map[string]string, contentType *string) (vault.Update, error) {
	u := vault.Update{Tags: tags, ContentType: contentType}
	if a == nil {
		return u, nil
	}
	u.Enabled = a.Enabled
	if a.NotBefore != nil {
		t, err := unixTime("nbf", a.NotBefore)
		if err != nil {
			return vault.Update{}, err
		}
		u.NotBefore = &t
	}
	if a.Expires != nil {
		t, err := unixTime("exp", a.Expires)
		if err != nil {
			return vault.Update{}, err
		}
		u.Expires = &t
	}
	return u, nil
}

// secretSetBody is SetSecretParameters.
type secretSetBody struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Attributes  *wireAttributes   `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

// parseSecretSet decodes the body of PUT /secrets/{name}.
func parseSecretSet(body []byte) (vault.SecretInput, error) {
	var b secretSetBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.SecretInput{}, err
	}
	if b.Value == nil {
		return vault.SecretInput{}, badParameter("The secret value is missing: set the member \"value\".")
	}
	if len(*b.Value) > vault.MaxSecretValueBytes {
		return vault.SecretInput{}, badParameter("The secret value is %d bytes: the maximum is %d bytes (25 KiB).", len(*b.Value), vault.MaxSecretValueBytes)
	}
	nbf, exp, err := b.Attributes.dates()
	if err != nil {
		return vault.SecretInput{}, err
	}
	in := vault.SecretInput{Value: vault.NewStringValue(*b.Value), ContentType: b.ContentType, Tags: b.Tags, NotBefore: nbf, Expires: exp}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

// secretUpdateBody is UpdateSecretPropertiesParameters.
type secretUpdateBody struct {
	ContentType *string           `json:"contentType"`
	Attributes  *wireAttributes   `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

// parseSecretUpdate decodes the body of PATCH /secrets/{name}/{version}.
func parseSecretUpdate(body []byte) (vault.Update, error) {
	var b secretUpdateBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.Update{}, err
	}
	return b.Attributes.update(b.Tags, b.ContentType)
}

// wirePolicy is Key Vault's CertificatePolicy.
type wirePolicy struct {
	ID               string                  `json:"id,omitempty"`
	KeyProperties    *vault.KeyProperties    `json:"key_props,omitempty"`
	SecretProperties *vault.SecretProperties `json:"secret_props,omitempty"`
	X509Properties   *wireX509               `json:"x509_props,omitempty"`
	LifetimeActions  []vault.LifetimeAction  `json:"lifetime_actions,omitempty"`
	Issuer           *vault.IssuerParameters `json:"issuer,omitempty"`
	Attributes       *wireAttributes         `json:"attributes,omitempty"`
}

type wireX509 struct {
	Subject        string    `json:"subject,omitempty"`
	SANs           *wireSANs `json:"sans,omitempty"`
	EKUs           []string  `json:"ekus,omitempty"`
	KeyUsage       []string  `json:"key_usage,omitempty"`
	ValidityMonths int       `json:"validity_months,omitempty"`
}

type wireSANs struct {
	Emails      []string `json:"emails,omitempty"`
	DNSNames    []string `json:"dns_names,omitempty"`
	UPNs        []string `json:"upns,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	URIs        []string `json:"uris,omitempty"`
}

// toVault converts a wire policy; nil stays nil.
func (p *wirePolicy) toVault() (*vault.CertificatePolicy, error) {
	if p == nil {
		return nil, nil
	}
	out := &vault.CertificatePolicy{KeyProperties: p.KeyProperties, SecretProperties: p.SecretProperties, LifetimeActions: p.LifetimeActions, Issuer: p.Issuer}
	if x := p.X509Properties; x != nil {
		out.X509Properties = &vault.X509Properties{Subject: x.Subject, EKUs: x.EKUs, KeyUsage: x.KeyUsage, ValidityMonths: x.ValidityMonths}
		if s := x.SANs; s != nil {
			if len(s.IPAddresses) > 0 || len(s.URIs) > 0 {
				return nil, badParameter("x509_props.sans: IP address and URI subject alternative names are not supported; use dns_names, emails or upns.")
			}
			out.X509Properties.SANs = &vault.SubjectAlternativeNames{Emails: s.Emails, DNSNames: s.DNSNames, UPNs: s.UPNs}
		}
	}
	if p.Attributes != nil && p.Attributes.Enabled != nil && !*p.Attributes.Enabled {
		return nil, badParameter("policy.attributes.enabled=false is not supported: a certificate's policy is always enabled.")
	}
	return out, nil
}

func policyToWire(p *vault.CertificatePolicy, id string) *wirePolicy {
	if p == nil {
		return nil
	}
	out := &wirePolicy{ID: id, KeyProperties: p.KeyProperties, SecretProperties: p.SecretProperties, LifetimeActions: p.LifetimeActions, Issuer: p.Issuer}
	if x := p.X509Properties; x != nil {
		out.X509Properties = &wireX509{Subject: x.Subject, EKUs: x.EKUs, KeyUsage: x.KeyUsage, ValidityMonths: x.ValidityMonths}
		if s := x.SANs; s != nil {
			out.X509Properties.SANs = &wireSANs{Emails: s.Emails, DNSNames: s.DNSNames, UPNs: s.UPNs}
		}
	}
	enabled := true
	out.Attributes = &wireAttributes{Enabled: &enabled}
	return out
}

// certificateImportBody is ImportCertificateParameters.
type certificateImportBody struct {
	Value             *string           `json:"value"`
	Password          string            `json:"pwd"`
	Policy            *wirePolicy       `json:"policy"`
	Attributes        *wireAttributes   `json:"attributes"`
	Tags              map[string]string `json:"tags"`
	PreserveCertOrder *bool             `json:"preserveCertOrder"`
}

// parseCertificateImport decodes the body of POST /certificates/{name}/import:
// value is a base64 PFX/PKCS#12 file or PEM text (certificate and key).
func parseCertificateImport(body []byte) (vault.CertificateImport, error) {
	var b certificateImportBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.CertificateImport{}, err
	}
	if b.Value == nil || *b.Value == "" {
		return vault.CertificateImport{}, badParameter("The certificate is missing: set \"value\" to the base64 of a PFX file, or to PEM text with the certificate and its private key.")
	}
	if b.Attributes != nil && (b.Attributes.NotBefore != nil || b.Attributes.Expires != nil) {
		return vault.CertificateImport{}, badParameter("attributes.nbf and attributes.exp cannot be set on import: they are the certificate's own validity.")
	}
	policy, err := b.Policy.toVault()
	if err != nil {
		return vault.CertificateImport{}, err
	}
	data, err := certificateData(*b.Value)
	if err != nil {
		return vault.CertificateImport{}, err
	}
	in := vault.CertificateImport{Data: data, Password: vault.NewStringValue(b.Password), Policy: policy, Tags: b.Tags}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

// certificateData reads an import value: PEM text as is, else base64 (std
// or url alphabet, padded or not, line breaks allowed) of a PFX.
func certificateData(v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN ") {
		return []byte(v), nil
	}
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(clean); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, badParameter("The certificate \"value\" is neither base64 (of a PFX file) nor PEM text.")
}

// certificateCreateBody is CreateCertificateParameters.
type certificateCreateBody struct {
	Policy            *wirePolicy       `json:"policy"`
	Attributes        *wireAttributes   `json:"attributes"`
	Tags              map[string]string `json:"tags"`
	PreserveCertOrder *bool             `json:"preserveCertOrder"`
}

// parseCertificateCreate decodes the body of POST /certificates/{name}/create.
func parseCertificateCreate(body []byte) (vault.CertificateCreate, error) {
	var b certificateCreateBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.CertificateCreate{}, err
	}
	if b.Attributes != nil && (b.Attributes.NotBefore != nil || b.Attributes.Expires != nil) {
		return vault.CertificateCreate{}, badParameter("attributes.nbf and attributes.exp cannot be set on create: the policy's x509_props.validity_months decides the validity.")
	}
	policy, err := b.Policy.toVault()
	if err != nil {
		return vault.CertificateCreate{}, err
	}
	in := vault.CertificateCreate{Policy: policy, Tags: b.Tags}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

// certificateUpdateBody is UpdateCertificateParameters.
type certificateUpdateBody struct {
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
	Policy     *wirePolicy       `json:"policy"`
}

// parseCertificateUpdate decodes PATCH /certificates/{name}/{version}.
func parseCertificateUpdate(body []byte) (vault.Update, *vault.CertificatePolicy, error) {
	var b certificateUpdateBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.Update{}, nil, err
	}
	u, err := b.Attributes.update(b.Tags, nil)
	if err != nil {
		return vault.Update{}, nil, err
	}
	p, err := b.Policy.toVault()
	return u, p, err
}

// parsePolicy decodes PATCH /certificates/{name}/policy.
func parsePolicy(body []byte) (vault.CertificatePolicy, error) {
	var b wirePolicy
	if err := decodeJSON(body, &b); err != nil {
		return vault.CertificatePolicy{}, err
	}
	p, err := b.toVault()
	if err != nil {
		return vault.CertificatePolicy{}, err
	}
	return *p, nil
}

// keyCreateBody is CreateKeyParameters.
type keyCreateBody struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size"`
	PublicExponent *int              `json:"public_exponent"`
	Curve          string            `json:"crv"`
	KeyOps         []string          `json:"key_ops"`
	Attributes     *wireAttributes   `json:"attributes"`
	Tags           map[string]string `json:"tags"`
	ReleasePolicy  json.RawMessage   `json:"release_policy"`
}

func refuseRelease(a *wireAttributes, release json.RawMessage) error {
	if len(release) > 0 && string(release) != "null" {
		return badParameter("release_policy is not supported: Portcullis keys never leave the vault.")
	}
	if a != nil && a.Exportable != nil && *a.Exportable {
		return badParameter("attributes.exportable=true is not supported: Portcullis keys never leave the vault.")
	}
	return nil
}

// parseKeyCreate decodes POST /keys/{name}/create.
func parseKeyCreate(body []byte) (vault.KeyCreate, error) {
	var b keyCreateBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.KeyCreate{}, err
	}
	if b.Kty == "" {
		return vault.KeyCreate{}, badParameter("The key type is missing: set \"kty\" to RSA, EC or oct.")
	}
	if b.PublicExponent != nil && *b.PublicExponent != 65537 {
		return vault.KeyCreate{}, badParameter("public_exponent %d is not supported: RSA keys use 65537.", *b.PublicExponent)
	}
	if err := refuseRelease(b.Attributes, b.ReleasePolicy); err != nil {
		return vault.KeyCreate{}, err
	}
	nbf, exp, err := b.Attributes.dates()
	if err != nil {
		return vault.KeyCreate{}, err
	}
	in := vault.KeyCreate{KeyType: b.Kty, Curve: b.Curve, KeyOps: b.KeyOps, NotBefore: nbf, Expires: exp, Tags: b.Tags}
	if b.KeySize != nil {
		if *b.KeySize <= 0 {
			return vault.KeyCreate{}, badParameter("key_size must be 2048, 3072 or 4096 for RSA keys, 128, 192 or 256 for oct keys, got %d.", *b.KeySize)
		}
		in.KeySize = *b.KeySize
	}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

// keyImportBody is ImportKeyParameters.
type keyImportBody struct {
	Key           *vault.JSONWebKey `json:"key"`
	HSM           *bool             `json:"Hsm"`
	Attributes    *wireAttributes   `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

// parseKeyImport decodes PUT /keys/{name}.
func parseKeyImport(body []byte) (vault.KeyImport, error) {
	var b keyImportBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.KeyImport{}, err
	}
	if b.Key == nil {
		return vault.KeyImport{}, badParameter("The key is missing: set \"key\" to a JSON web key with its private members.")
	}
	if b.HSM != nil && *b.HSM {
		return vault.KeyImport{}, badParameter("Hsm=true is not supported: Portcullis keeps software-protected keys only.")
	}
	if err := refuseRelease(b.Attributes, b.ReleasePolicy); err != nil {
		return vault.KeyImport{}, err
	}
	nbf, exp, err := b.Attributes.dates()
	if err != nil {
		return vault.KeyImport{}, err
	}
	in := vault.KeyImport{JWK: b.Key, NotBefore: nbf, Expires: exp, Tags: b.Tags}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

// keyUpdateBody is UpdateKeyParameters.
type keyUpdateBody struct {
	KeyOps        []string          `json:"key_ops"`
	Attributes    *wireAttributes   `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

// parseKeyUpdate decodes PATCH /keys/{name}/{version}.
func parseKeyUpdate(body []byte) (vault.Update, error) {
	var b keyUpdateBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.Update{}, err
	}
	if err := refuseRelease(b.Attributes, b.ReleasePolicy); err != nil {
		return vault.Update{}, err
	}
	u, err := b.Attributes.update(b.Tags, nil)
	u.KeyOps = b.KeyOps
	return u, err
}

// keyOperationBody is KeyOperationParameters, SignParameters and
// VerifyParameters in one: alg, value, digest, and the AES members (iv,
// aad, tag) that oct keys use.
type keyOperationBody struct {
	Alg    string          `json:"alg"`
	Value  vault.Base64URL `json:"value"`
	Digest vault.Base64URL `json:"digest"`
	IV     vault.Base64URL `json:"iv"`
	AAD    vault.Base64URL `json:"aad"`
	Tag    vault.Base64URL `json:"tag"`
}

// keyOperation is a parsed cryptographic operation request.
type keyOperation struct {
	Alg    string
	Value  []byte
	Digest []byte
	AES    vault.SymmetricParams
}

// parseKeyOperation decodes the body of sign, verify, encrypt, decrypt,
// wrapkey and unwrapkey (op names which).
func parseKeyOperation(op string, body []byte) (keyOperation, error) {
	var b keyOperationBody
	if err := decodeJSON(body, &b); err != nil {
		return keyOperation{}, err
	}
	if b.Alg == "" {
		return keyOperation{}, badParameter("The algorithm is missing: set \"alg\" (e.g. RS256 to sign, RSA-OAEP-256 to encrypt).")
	}
	if (op == "sign" || op == "verify") && (len(b.IV) > 0 || len(b.AAD) > 0 || len(b.Tag) > 0) {
		return keyOperation{}, badParameter("iv, aad and tag belong to encryption with oct keys, not to %s.", op)
	}
	if b.Value == nil {
		return keyOperation{}, badParameter("The member \"value\" (base64url) is missing.")
	}
	if op == "verify" && b.Digest == nil {
		return keyOperation{}, badParameter("The member \"digest\" (base64url of the hash that was signed) is missing.")
	}
	return keyOperation{Alg: b.Alg, Value: b.Value, Digest: b.Digest, AES: vault.SymmetricParams{IV: b.IV, AAD: b.AAD, Tag: b.Tag}}, nil
}

// parseRandomBytes reads GetRandomBytes' body: {"count": 1..128}.
func parseRandomBytes(body []byte) (int, error) {
	var in struct {
		Count *int `json:"count"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return 0, err
	}
	if in.Count == nil {
		return 0, badParameter("The member \"count\" (the number of random bytes, 1 to %d) is missing.", vault.MaxRandomBytes)
	}
	if *in.Count < 1 || *in.Count > vault.MaxRandomBytes {
		return 0, badParameter("The member \"count\" must be between 1 and %d, got %d.", vault.MaxRandomBytes, *in.Count)
	}
	return *in.Count, nil
}
