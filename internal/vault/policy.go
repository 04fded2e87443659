package vault

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/pki"
)

// CertificatePolicy is a certificate's management policy, with Key Vault's
// JSON field names so kvapi can decode and encode it as is.
type CertificatePolicy struct {
	KeyProperties    *KeyProperties    `json:"key_props,omitempty"`
	SecretProperties *SecretProperties `json:"secret_props,omitempty"`
	X509Properties   *X509Properties   `json:"x509_props,omitempty"`
	LifetimeActions  []LifetimeAction  `json:"lifetime_actions,omitempty"`
	Issuer           *IssuerParameters `json:"issuer,omitempty"`
}

// KeyProperties describe a certificate's key.
type KeyProperties struct {
	Exportable *bool  `json:"exportable,omitempty"`
	KeyType    string `json:"kty,omitempty"` // "RSA" or "EC"
	KeySize    int    `json:"key_size,omitempty"`
	ReuseKey   *bool  `json:"reuse_key,omitempty"`
	Curve      string `json:"crv,omitempty"` // "P-256" or "P-384"
}

// SecretProperties describe the secret view of a certificate.
type SecretProperties struct {
	ContentType string `json:"contentType,omitempty"`
}

// X509Properties describe the certificate to issue.
type X509Properties struct {
	Subject        string                   `json:"subject,omitempty"`
	SANs           *SubjectAlternativeNames `json:"sans,omitempty"`
	EKUs           []string                 `json:"ekus,omitempty"`
	KeyUsage       []string                 `json:"key_usage,omitempty"`
	ValidityMonths int                      `json:"validity_months,omitempty"`
}

// SubjectAlternativeNames are a certificate's SANs.
type SubjectAlternativeNames struct {
	Emails   []string `json:"emails,omitempty"`
	DNSNames []string `json:"dns_names,omitempty"`
	UPNs     []string `json:"upns,omitempty"`
}

// LifetimeAction is an action taken at a point of a certificate's lifetime.
type LifetimeAction struct {
	Trigger LifetimeTrigger `json:"trigger"`
	Action  ActionType      `json:"action"`
}

// LifetimeTrigger is when a lifetime action fires: exactly one of the fields is set.
type LifetimeTrigger struct {
	LifetimePercentage int `json:"lifetime_percentage,omitempty"`
	DaysBeforeExpiry   int `json:"days_before_expiry,omitempty"`
}

// ActionType names a lifetime action: ActionEmailContacts or ActionAutoRenew.
type ActionType struct {
	ActionType string `json:"action_type"`
}

// IssuerParameters name the certificate's issuer: "Self" for self-signed,
// "Unknown" for imported certificates.
type IssuerParameters struct {
	Name                    string `json:"name,omitempty"`
	CertificateType         string `json:"cty,omitempty"`
	CertificateTransparency *bool  `json:"cert_transparency,omitempty"`
}

// Policy vocabulary.
const (
	ActionEmailContacts = "EmailContacts"
	ActionAutoRenew     = "AutoRenew"
	IssuerSelf          = "Self"
	IssuerUnknown       = "Unknown"
	ContentTypePKCS12   = "application/x-pkcs12"
	ContentTypePEM      = "application/x-pem-file"
	// MaxValidityMonths bounds validity_months.
	MaxValidityMonths = 1200
)

// String names the trigger as lifetime markers record it.
func (t LifetimeTrigger) String() string {
	if t.DaysBeforeExpiry > 0 {
		return "daysBeforeExpiry=" + strconv.Itoa(t.DaysBeforeExpiry)
	}
	return "lifetimePercentage=" + strconv.Itoa(t.LifetimePercentage)
}

var keyUsageBits = []struct {
	name string
	bit  x509.KeyUsage
}{
	{"digitalSignature", x509.KeyUsageDigitalSignature},
	{"nonRepudiation", x509.KeyUsageContentCommitment},
	{"keyEncipherment", x509.KeyUsageKeyEncipherment},
	{"dataEncipherment", x509.KeyUsageDataEncipherment},
	{"keyAgreement", x509.KeyUsageKeyAgreement},
	{"keyCertSign", x509.KeyUsageCertSign},
	{"cRLSign", x509.KeyUsageCRLSign},
	{"encipherOnly", x509.KeyUsageEncipherOnly},
	{"decipherOnly", x509.KeyUsageDecipherOnly},
}

func boolPtr(b bool) *bool { return &b }

// DecodePolicy decodes a certificate policy from Key Vault's JSON, refusing
// unknown fields and trailing data, and validates it (see Normalize).
func DecodePolicy(data []byte) (CertificatePolicy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p CertificatePolicy
	if err := dec.Decode(&p); err != nil {
		return CertificatePolicy{}, badRequest("invalid certificate policy JSON: %v", err)
	}
	if dec.More() {
		return CertificatePolicy{}, badRequest("invalid certificate policy JSON: data after the policy object")
	}
	return p.Normalize()
}

// Normalize validates p and returns it with Key Vault's defaults filled in:
// RSA 2048, exportable, content type application/x-pkcs12, 12 months,
// digitalSignature and keyEncipherment (RSA), EKUs serverAuth and
// clientAuth, issuer Self, and an EmailContacts action at 80% of lifetime.
func (p CertificatePolicy) Normalize() (CertificatePolicy, error) {
	out := CertificatePolicy{}
	kp := KeyProperties{}
	if p.KeyProperties != nil {
		kp = *p.KeyProperties
	}
	if kp.Exportable == nil {
		kp.Exportable = boolPtr(true)
	}
	if kp.ReuseKey == nil {
		kp.ReuseKey = boolPtr(false)
	}
	if _, err := policyKeyType(&kp); err != nil {
		return CertificatePolicy{}, err
	}
	out.KeyProperties = &kp

	sp := SecretProperties{ContentType: ContentTypePKCS12}
	if p.SecretProperties != nil && p.SecretProperties.ContentType != "" {
		sp.ContentType = p.SecretProperties.ContentType
	}
	switch strings.ToLower(sp.ContentType) {
	case ContentTypePKCS12:
		sp.ContentType = ContentTypePKCS12
	case ContentTypePEM:
		sp.ContentType = ContentTypePEM
	default:
		return CertificatePolicy{}, badRequest("secret_props.contentType %q is not supported: use %q or %q", sp.ContentType, ContentTypePKCS12, ContentTypePEM)
	}
	out.SecretProperties = &sp

	xp := X509Properties{}
	if p.X509Properties != nil {
		xp = *p.X509Properties
		xp.EKUs = append([]string(nil), xp.EKUs...)
		xp.KeyUsage = append([]string(nil), xp.KeyUsage...)
		if xp.SANs != nil {
			sans := *xp.SANs
			xp.SANs = &sans
		}
	}
	if xp.ValidityMonths == 0 {
		xp.ValidityMonths = 12
	}
	if xp.ValidityMonths < 1 || xp.ValidityMonths > MaxValidityMonths {
		return CertificatePolicy{}, badRequest("x509_props.validity_months must be between 1 and %d, got %d", MaxValidityMonths, xp.ValidityMonths)
	}
	if xp.Subject != "" {
		if _, err := pki.ParseSubject(xp.Subject); err != nil {
			return CertificatePolicy{}, badRequest("x509_props.subject: %v", err)
		}
	}
	if xp.KeyUsage == nil {
		xp.KeyUsage = []string{"digitalSignature"}
		if kp.KeyType == "RSA" {
			xp.KeyUsage = append(xp.KeyUsage, "keyEncipherment")
		}
	}
	for i, ku := range xp.KeyUsage {
		found := false
		for _, b := range keyUsageBits {
			if strings.EqualFold(ku, b.name) {
				xp.KeyUsage[i], found = b.name, true
			}
		}
		if !found {
			names := make([]string, len(keyUsageBits))
			for j, b := range keyUsageBits {
				names[j] = b.name
			}
			return CertificatePolicy{}, badRequest("x509_props.key_usage %q is unknown: valid values are %s", ku, strings.Join(names, ", "))
		}
	}
	if xp.EKUs == nil {
		xp.EKUs = []string{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
	}
	for _, e := range xp.EKUs {
		if _, err := parseOID(e); err != nil {
			return CertificatePolicy{}, badRequest("x509_props.ekus %q is not an object identifier (e.g. 1.3.6.1.5.5.7.3.2 for client authentication)", e)
		}
	}
	if xp.SANs != nil {
		for _, d := range xp.SANs.DNSNames {
			if d == "" || len(d) > 253 || strings.ContainsAny(d, " ,/\\@") {
				return CertificatePolicy{}, badRequest("x509_props.sans.dns_names: %q is not a DNS name", d)
			}
		}
		for _, e := range xp.SANs.Emails {
			if !strings.Contains(e, "@") || strings.ContainsAny(e, " ,") {
				return CertificatePolicy{}, badRequest("x509_props.sans.emails: %q is not an e-mail address", e)
			}
		}
		for _, u := range xp.SANs.UPNs {
			if !strings.Contains(u, "@") || strings.ContainsAny(u, " ,") {
				return CertificatePolicy{}, badRequest("x509_props.sans.upns: %q is not a user principal name (user@domain)", u)
			}
		}
	}
	out.X509Properties = &xp

	is := IssuerParameters{Name: IssuerSelf}
	if p.Issuer != nil {
		is = *p.Issuer
		if is.Name == "" {
			is.Name = IssuerSelf
		}
	}
	switch {
	case strings.EqualFold(is.Name, IssuerSelf):
		is.Name = IssuerSelf
	case strings.EqualFold(is.Name, IssuerUnknown):
		is.Name = IssuerUnknown
	}
	out.Issuer = &is

	if p.LifetimeActions == nil {
		out.LifetimeActions = []LifetimeAction{{Trigger: LifetimeTrigger{LifetimePercentage: 80}, Action: ActionType{ActionType: ActionEmailContacts}}}
	} else {
		out.LifetimeActions = make([]LifetimeAction, 0, len(p.LifetimeActions))
	}
	seen := map[string]bool{}
	for i, la := range p.LifetimeActions {
		t := la.Trigger
		switch {
		case t.LifetimePercentage != 0 && t.DaysBeforeExpiry != 0:
			return CertificatePolicy{}, badRequest("lifetime_actions[%d].trigger: set either lifetime_percentage or days_before_expiry, not both", i)
		case t.LifetimePercentage == 0 && t.DaysBeforeExpiry == 0:
			return CertificatePolicy{}, badRequest("lifetime_actions[%d].trigger: set lifetime_percentage (1-99) or days_before_expiry", i)
		case t.LifetimePercentage < 0 || t.LifetimePercentage > 99:
			return CertificatePolicy{}, badRequest("lifetime_actions[%d].trigger.lifetime_percentage must be between 1 and 99, got %d", i, t.LifetimePercentage)
		case t.DaysBeforeExpiry < 0 || t.DaysBeforeExpiry > xp.ValidityMonths*31:
			return CertificatePolicy{}, badRequest("lifetime_actions[%d].trigger.days_before_expiry must be between 1 and the validity (%d months), got %d", i, xp.ValidityMonths, t.DaysBeforeExpiry)
		}
		switch {
		case strings.EqualFold(la.Action.ActionType, ActionEmailContacts):
			la.Action.ActionType = ActionEmailContacts
		case strings.EqualFold(la.Action.ActionType, ActionAutoRenew):
			la.Action.ActionType = ActionAutoRenew
			if is.Name == IssuerUnknown {
				return CertificatePolicy{}, badRequest("lifetime_actions[%d]: AutoRenew needs issuer %q or an issuer of provider %q; certificates of issuer %q can only notify (EmailContacts)", i, IssuerSelf, ProviderPortcullis, is.Name)
			}
		default:
			return CertificatePolicy{}, badRequest("lifetime_actions[%d].action.action_type %q is unknown: use %q or %q", i, la.Action.ActionType, ActionEmailContacts, ActionAutoRenew)
		}
		k := la.Action.ActionType + "/" + t.String()
		if seen[k] {
			return CertificatePolicy{}, badRequest("lifetime_actions[%d] repeats %s at %s", i, la.Action.ActionType, t)
		}
		seen[k] = true
		out.LifetimeActions = append(out.LifetimeActions, la)
	}
	return out, nil
}

// policyKeyType validates and completes key properties, returning the pki key type.
func policyKeyType(kp *KeyProperties) (pki.KeyType, error) {
	kty := strings.ToUpper(kp.KeyType)
	if kty == "" {
		kty = "RSA"
		if kp.Curve != "" {
			kty = "EC"
		}
	}
	switch kty {
	case "RSA-HSM", "EC-HSM":
		return "", unsupported("key_props.kty %q: HSM-protected keys are not supported; use %q", kp.KeyType, strings.TrimSuffix(kty, "-HSM"))
	case "RSA":
		kp.KeyType = "RSA"
		if kp.Curve != "" {
			return "", badRequest("key_props.crv applies to EC keys, not RSA")
		}
		if kp.KeySize == 0 {
			kp.KeySize = 2048
		}
		switch kp.KeySize {
		case 2048:
			return pki.KeyTypeRSA2048, nil
		case 3072:
			return pki.KeyTypeRSA3072, nil
		case 4096:
			return pki.KeyTypeRSA4096, nil
		}
		return "", badRequest("key_props.key_size %d is not supported for RSA: use 2048, 3072 or 4096", kp.KeySize)
	case "EC":
		kp.KeyType = "EC"
		if kp.Curve == "" {
			kp.Curve = "P-256"
		}
		if kp.KeySize != 0 && !(kp.KeySize == 256 && kp.Curve == "P-256" || kp.KeySize == 384 && kp.Curve == "P-384") {
			return "", badRequest("key_props.key_size %d does not match curve %s", kp.KeySize, kp.Curve)
		}
		switch strings.ToUpper(kp.Curve) {
		case "P-256":
			kp.Curve = "P-256"
			return pki.KeyTypeEC256, nil
		case "P-384":
			kp.Curve = "P-384"
			return pki.KeyTypeEC384, nil
		}
		return "", badRequest("key_props.crv %q is not supported: use P-256 or P-384", kp.Curve)
	}
	return "", badRequest("key_props.kty %q is not supported: use RSA or EC", kp.KeyType)
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("too short")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return nil, fmt.Errorf("bad arc %q", p)
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, fmt.Errorf("bad first arcs")
	}
	return oid, nil
}

func (p CertificatePolicy) marshal() []byte {
	b, _ := json.Marshal(p) // plain data: cannot fail
	return b
}

func (p CertificatePolicy) exportable() bool {
	return p.KeyProperties == nil || p.KeyProperties.Exportable == nil || *p.KeyProperties.Exportable
}
