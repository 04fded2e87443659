package vaultclient

import (
	"encoding/json"
	"time"
)

// The Key Vault JSON shapes (api-version 7.5), with Key Vault's field names.
// One type serves a bundle, a list item and a deleted object; fields a shape
// does not have stay empty. Raw holds the JSON the value was decoded from.

// Attributes are an object version's attributes; times are Unix seconds.
type Attributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"`
}

// Time returns the time of a Unix-seconds attribute, zero when unset.
func Time(unix *int64) time.Time {
	if unix == nil {
		return time.Time{}
	}
	return time.Unix(*unix, 0).UTC()
}

// Unix returns t as a Unix-seconds attribute, nil for the zero time.
func Unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// IsEnabled reports the enabled attribute (true when absent).
func (a *Attributes) IsEnabled() bool { return a == nil || a.Enabled == nil || *a.Enabled }

// Deletion is what a deleted object adds to its shape.
type Deletion struct {
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
}

// Secret is a SecretBundle, SecretItem or DeletedSecretBundle.
type Secret struct {
	ID          string            `json:"id,omitempty"`
	Value       string            `json:"value,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  *Attributes       `json:"attributes,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Kid         string            `json:"kid,omitempty"`
	Managed     bool              `json:"managed,omitempty"`
	Deletion
	Raw json.RawMessage `json:"-"`
}

// SecretSetParameters is the body of SetSecret.
type SecretSetParameters struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  *Attributes       `json:"attributes,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// Certificate is a CertificateBundle, CertificateItem or
// DeletedCertificateBundle. CER is the DER certificate.
type Certificate struct {
	ID          string             `json:"id,omitempty"`
	Kid         string             `json:"kid,omitempty"`
	Sid         string             `json:"sid,omitempty"`
	X5T         string             `json:"x5t,omitempty"`
	CER         []byte             `json:"cer,omitempty"`
	ContentType string             `json:"contentType,omitempty"`
	Attributes  *Attributes        `json:"attributes,omitempty"`
	Policy      *CertificatePolicy `json:"policy,omitempty"`
	Tags        map[string]string  `json:"tags,omitempty"`
	Deletion
	Raw json.RawMessage `json:"-"`
}

// CertificatePolicy is a certificate's management policy.
type CertificatePolicy struct {
	ID               string            `json:"id,omitempty"`
	KeyProperties    *KeyProperties    `json:"key_props,omitempty"`
	SecretProperties *SecretProperties `json:"secret_props,omitempty"`
	X509Properties   *X509Properties   `json:"x509_props,omitempty"`
	LifetimeActions  []LifetimeAction  `json:"lifetime_actions,omitempty"`
	Issuer           *IssuerParameters `json:"issuer,omitempty"`
	Attributes       *Attributes       `json:"attributes,omitempty"`
}

// KeyProperties describe a certificate's key.
type KeyProperties struct {
	Exportable *bool  `json:"exportable,omitempty"`
	KeyType    string `json:"kty,omitempty"`
	KeySize    int    `json:"key_size,omitempty"`
	ReuseKey   *bool  `json:"reuse_key,omitempty"`
	Curve      string `json:"crv,omitempty"`
}

// SecretProperties name the content type of a certificate's secret:
// application/x-pkcs12 or application/x-pem-file.
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

// LifetimeAction is an action at a point of a certificate's lifetime.
type LifetimeAction struct {
	Trigger LifetimeTrigger `json:"trigger"`
	Action  Action          `json:"action"`
}

// LifetimeTrigger sets exactly one of its fields.
type LifetimeTrigger struct {
	LifetimePercentage int `json:"lifetime_percentage,omitempty"`
	DaysBeforeExpiry   int `json:"days_before_expiry,omitempty"`
}

// Action is "AutoRenew" or "EmailContacts".
type Action struct {
	ActionType string `json:"action_type"`
}

// IssuerParameters name a certificate's issuer ("Self" for self-signed).
type IssuerParameters struct {
	Name string `json:"name,omitempty"`
}

// Content types of a certificate's secret.
const (
	ContentTypePFX = "application/x-pkcs12"
	ContentTypePEM = "application/x-pem-file"
)

// CertificateImportParameters is the body of ImportCertificate: Value is
// the base64 PFX or the PEM text, Password the PFX password.
type CertificateImportParameters struct {
	Value      string             `json:"value"`
	Password   string             `json:"pwd,omitempty"`
	Policy     *CertificatePolicy `json:"policy,omitempty"`
	Attributes *Attributes        `json:"attributes,omitempty"`
	Tags       map[string]string  `json:"tags,omitempty"`
}

// CertificateCreateParameters is the body of CreateCertificate.
type CertificateCreateParameters struct {
	Policy     *CertificatePolicy `json:"policy"`
	Attributes *Attributes        `json:"attributes,omitempty"`
	Tags       map[string]string  `json:"tags,omitempty"`
}

// CertificateOperation is the state of a certificate creation.
type CertificateOperation struct {
	ID                    string            `json:"id,omitempty"`
	Issuer                *IssuerParameters `json:"issuer,omitempty"`
	CSR                   []byte            `json:"csr,omitempty"`
	CancellationRequested bool              `json:"cancellation_requested,omitempty"`
	Status                string            `json:"status,omitempty"` // inProgress, completed, failed, cancelled
	StatusDetails         string            `json:"status_details,omitempty"`
	Error                 *ErrorDetail      `json:"error,omitempty"`
	Target                string            `json:"target,omitempty"`
	RequestID             string            `json:"request_id,omitempty"`
	Raw                   json.RawMessage   `json:"-"`
}

// ErrorDetail is Key Vault's {"code","message"}.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Key is a KeyBundle (Key set), KeyItem (Kid set) or DeletedKeyBundle.
type Key struct {
	Key        *JSONWebKey       `json:"key,omitempty"`
	Kid        string            `json:"kid,omitempty"`
	Attributes *Attributes       `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
	Deletion
	Raw json.RawMessage `json:"-"`
}

// ID returns the key identifier of a bundle or an item.
func (k Key) ID() string {
	if k.Key != nil && k.Key.Kid != "" {
		return k.Key.Kid
	}
	return k.Kid
}

// JSONWebKey is a key in JWK form with Key Vault's members; the byte
// members are unpadded base64url strings.
type JSONWebKey struct {
	Kid    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	D      string   `json:"d,omitempty"`
	DP     string   `json:"dp,omitempty"`
	DQ     string   `json:"dq,omitempty"`
	QI     string   `json:"qi,omitempty"`
	P      string   `json:"p,omitempty"`
	Q      string   `json:"q,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

// KeyCreateParameters is the body of CreateKey.
type KeyCreateParameters struct {
	Kty        string            `json:"kty"`
	KeySize    int               `json:"key_size,omitempty"`
	Curve      string            `json:"crv,omitempty"`
	KeyOps     []string          `json:"key_ops,omitempty"`
	Attributes *Attributes       `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// KeyImportParameters is the body of ImportKey.
type KeyImportParameters struct {
	Key        JSONWebKey        `json:"key"`
	HSM        bool              `json:"hsm,omitempty"`
	Attributes *Attributes       `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// The admin API's vault shapes.

// Vault is a vault's settings.
type Vault struct {
	Name                    string    `json:"name"`
	SoftDeleteRetentionDays int       `json:"softDeleteRetentionDays"`
	PurgeProtection         bool      `json:"purgeProtection"`
	RecoveryLevel           string    `json:"recoveryLevel"`
	VaultURI                string    `json:"vaultUri"`
	CreatedAt               time.Time `json:"createdAt"`
}

// NewVault is the body of CreateVault; zero retention means the server's
// default (90 days).
type NewVault struct {
	Name                    string `json:"name"`
	SoftDeleteRetentionDays int    `json:"softDeleteRetentionDays,omitempty"`
	PurgeProtection         bool   `json:"purgeProtection,omitempty"`
}

// VaultUpdate is the body of UpdateVault; nil fields are left unchanged.
type VaultUpdate struct {
	SoftDeleteRetentionDays *int  `json:"softDeleteRetentionDays,omitempty"`
	PurgeProtection         *bool `json:"purgeProtection,omitempty"`
}

// RoleAssignment grants a built-in role on a vault or one object of it.
type RoleAssignment struct {
	ID            string    `json:"id"`
	Vault         string    `json:"vault"`
	Scope         string    `json:"scope"`
	PrincipalID   string    `json:"principalId"`
	PrincipalName string    `json:"principalName"`
	Role          string    `json:"role"`
	CreatedAt     time.Time `json:"createdAt"`
}

// NewRoleAssignment is the body of AssignRole: Principal is an appId or a
// unique display name in Tenant ("" = the default tenant); Scope is "" or
// secrets/NAME, certificates/NAME, keys/NAME.
type NewRoleAssignment struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
	Scope     string `json:"scope,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
}

// AuditRecord is one vault access; it never holds a value.
type AuditRecord struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	TenantID  string    `json:"tenantId"`
	AppID     string    `json:"appId"`
	ObjectID  string    `json:"objectId"`
	Vault     string    `json:"vault"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Operation string    `json:"operation"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
}

// List is the admin API's list envelope.
type List[T any] struct {
	Value []T `json:"value"`
}
