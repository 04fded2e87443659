package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is one version of a certificate.
type Certificate struct {
	Vault   string
	Name    string
	Version string
	// CER is the DER of the certificate; X5T its SHA-1 thumbprint, base64url.
	CER []byte
	X5T string
	// Attributes' NotBefore and Expires are the certificate's validity.
	Attributes Attributes
	Tags       map[string]string
	// Policy is the object's current policy (GetCertificate and Create only).
	Policy *CertificatePolicy
	// ContentType is the content type of the certificate's secret view.
	ContentType string
	// Deleted is set for deleted certificates.
	Deleted *Deletion
	// Pending marks the view of a certificate whose first version is still
	// being created (a pending operation, e.g. a CSR waiting for its merge):
	// no version, no CER, disabled, with the operation's policy.
	Pending bool
}

// CertificateOperation is the creation operation of a certificate, which
// Key Vault clients poll: inProgress until issued (or merged, for issuer
// Unknown), then completed; failed or cancelled otherwise.
type CertificateOperation struct {
	Vault      string
	Name       string
	IssuerName string
	// CSR is the DER certificate signing request of the created version.
	CSR                   []byte
	CancellationRequested bool
	Status                string // StatusInProgress, StatusCompleted, StatusFailed, StatusCancelled
	StatusDetails         string
	// ErrorCode and ErrorMessage say why a failed operation failed.
	ErrorCode    string
	ErrorMessage string
	// Version is the certificate version the operation created (its target).
	Version   string
	RequestID string
}

// CertificateImport is the body of ImportCertificate.
type CertificateImport struct {
	// Data is a PFX/PKCS#12 file or PEM text holding the certificate, its
	// private key and optionally the chain.
	Data []byte
	// Password opens a PFX; ignored for PEM.
	Password Value
	// Policy optionally sets the secret content type, exportability and
	// lifetime actions; key and X.509 properties come from the certificate.
	Policy  *CertificatePolicy
	Enabled *bool
	Tags    map[string]string
}

// CertificateCreate is the body of CreateCertificate.
type CertificateCreate struct {
	// Policy is required for a new certificate; nil reuses the current policy.
	Policy  *CertificatePolicy
	Enabled *bool
	Tags    map[string]string
}

// Download formats.
const (
	FormatCER = "cer"
	FormatPEM = "pem"
	FormatPFX = "pfx"
)

// certMeta is a certificate version's Meta.
type certMeta struct {
	Chain      [][]byte `json:"chain,omitempty"`
	Exportable bool     `json:"exportable"`
	KeyOps     []string `json:"key_ops,omitempty"`
	CSR        []byte   `json:"csr,omitempty"`
	Issued     bool     `json:"issued,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
	// Issuer is the policy's issuer name when the version was issued
	// ("" for versions issued before it was recorded: Self).
	Issuer string `json:"issuer,omitempty"`
	// Operation is the id of the creation operation that issued the
	// version, so that an operation resumed after a crash sees it is done.
	Operation string `json:"operation,omitempty"`
}

func decodeCertMeta(ver ObjectVersion) (certMeta, error) {
	var m certMeta
	if err := json.Unmarshal(ver.Meta, &m); err != nil {
		return certMeta{}, internal(err, "decode certificate %q metadata", ver.Name)
	}
	return m, nil
}

func (s *Service) certificateOf(v Vault, ver ObjectVersion) (Certificate, error) {
	cert, err := x509.ParseCertificate(ver.Public)
	if err != nil {
		return Certificate{}, internal(err, "parse stored certificate %q", ver.Name)
	}
	return Certificate{
		Vault: v.Name, Name: ver.Name, Version: ver.Version, CER: cert.Raw, X5T: pki.X5T(cert),
		Attributes: attributesOf(v, ver), Tags: cloneTags(ver.Tags), ContentType: ver.ContentType,
	}, nil
}

func policyOf(obj Object) (*CertificatePolicy, error) {
	if obj.Policy == nil {
		return nil, nil
	}
	var p CertificatePolicy
	if err := json.Unmarshal(obj.Policy, &p); err != nil {
		return nil, internal(err, "decode policy of certificate %q", obj.Name)
	}
	return &p, nil
}

func keyOpsFor(key crypto.PublicKey) []string {
	if _, ok := key.(*rsa.PublicKey); ok {
		return []string{"sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"}
	}
	return []string{"sign", "verify"}
}

// supportedKey checks a private key is RSA 2048/3072/4096 or EC P-256/P-384
// and returns Key Vault's kty, size and curve.
func supportedKey(key crypto.Signer) (kty string, size int, crv string, err error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		n := k.N.BitLen()
		if n != 2048 && n != 3072 && n != 4096 {
			return "", 0, "", badRequest("RSA keys of %d bits are not supported: use 2048, 3072 or 4096 bits", n)
		}
		return "RSA", n, "", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "EC", 256, "P-256", nil
		case elliptic.P384():
			return "EC", 384, "P-384", nil
		}
		return "", 0, "", badRequest("EC curve %s is not supported: use P-256 or P-384", k.Curve.Params().Name)
	}
	return "", 0, "", badRequest("%T keys are not supported: use RSA (2048, 3072, 4096 bits) or EC (P-256, P-384)", key)
}

// importError turns a pki parse error into a clear BadParameter error.
func importError(err error) *Error {
	switch {
	case errors.Is(err, pki.ErrWrongPassword):
		return badRequest("the PFX could not be opened with the given password: supply the password it was exported with (an empty password if it has none)")
	case errors.Is(err, pki.ErrKeyMismatch):
		return badRequest("the private key does not match the certificate: import the key that belongs to this certificate")
	case errors.Is(err, pki.ErrNoPrivateKey), strings.Contains(err.Error(), "private key missing"), strings.Contains(err.Error(), "without a private key"):
		return badRequest("the certificate has no private key: import a PFX or PEM that includes the private key")
	case errors.Is(err, pki.ErrNotCertificate):
		return badRequest("the certificate data is neither a PFX/PKCS#12 file nor PEM text")
	}
	return badRequest("invalid certificate data: %v", err)
}

// ImportCertificate imports a certificate with its private key (PFX with
// password, or PEM) as a new version of certificate name.
func (s *Service) ImportCertificate(ctx context.Context, c Caller, vault, name string, in CertificateImport) (Certificate, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesImport, func(o *op, v Vault) (Certificate, error) {
		if err := validateTags(in.Tags); err != nil {
			return Certificate{}, err
		}
		if len(in.Data) == 0 {
			return Certificate{}, badRequest("no certificate data: supply a PFX or PEM holding the certificate and its private key")
		}
		leaf, chain, key, err := pki.ParseCertificateAndKey(in.Data, in.Password.Reveal())
		if err != nil {
			return Certificate{}, importError(err)
		}
		kty, size, crv, err := supportedKey(key)
		if err != nil {
			return Certificate{}, err
		}
		given := CertificatePolicy{}
		if in.Policy != nil {
			given = *in.Policy
		}
		given.KeyProperties = &KeyProperties{KeyType: kty, KeySize: size, Curve: crv, Exportable: boolPtr(true), ReuseKey: boolPtr(false)}
		if in.Policy != nil && in.Policy.KeyProperties != nil && in.Policy.KeyProperties.Exportable != nil {
			given.KeyProperties.Exportable = in.Policy.KeyProperties.Exportable
		}
		if kty == "EC" {
			given.KeyProperties.KeySize = 0
		}
		if given.SecretProperties == nil || given.SecretProperties.ContentType == "" {
			ct := ContentTypePKCS12
			if strings.Contains(string(in.Data), "-----BEGIN ") {
				ct = ContentTypePEM
			}
			given.SecretProperties = &SecretProperties{ContentType: ct}
		}
		if given.Issuer == nil {
			given.Issuer = &IssuerParameters{Name: IssuerUnknown}
		}
		given.X509Properties = nil
		policy, err := given.Normalize()
		if err != nil {
			return Certificate{}, err
		}
		policy.X509Properties = x509PropertiesOf(leaf)
		now := s.now().UTC()
		ver, err := s.newCertificateVersion(v, name, leaf, chain, key, policy, in.Enabled, in.Tags, nil, now)
		if err != nil {
			return Certificate{}, err
		}
		ver, err = s.addVersion(ctx, ver, AddOptions{Exclusive: []ObjectType{Secrets, Keys}, Policy: policy.marshal()})
		if err != nil {
			return Certificate{}, err
		}
		o.version = ver.Version
		s.expiry.WithLabelValues(v.Name, foldName(name)).Set(float64(leaf.NotAfter.Unix()))
		cert, err := s.certificateOf(v, ver)
		cert.Policy = &policy
		return cert, err
	})
}

func (s *Service) newCertificateVersion(v Vault, name string, leaf *x509.Certificate, chain []*x509.Certificate, key crypto.Signer, policy CertificatePolicy, enabled *bool, tags map[string]string, csr []byte, now time.Time) (ObjectVersion, error) {
	id, err := newVersionID()
	if err != nil {
		return ObjectVersion{}, err
	}
	meta := certMeta{Exportable: policy.exportable(), KeyOps: keyOpsFor(key.Public()), CSR: csr, Issued: csr != nil}
	for _, cc := range chain {
		meta.Chain = append(meta.Chain, cc.Raw)
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return ObjectVersion{}, internal(err, "encode certificate metadata")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ObjectVersion{}, internal(err, "encode private key")
	}
	defer clear(der)
	ver := ObjectVersion{
		Vault: v.Name, Type: Certificates, Name: name, Version: id, Created: now, Updated: now,
		Enabled: enabled == nil || *enabled, NotBefore: leaf.NotBefore.UTC(), Expires: leaf.NotAfter.UTC(),
		ContentType: policy.SecretProperties.ContentType, Tags: cloneTags(tags), Public: leaf.Raw, Meta: mb,
	}
	if err := s.seal(&ver, der); err != nil {
		return ObjectVersion{}, err
	}
	return ver, nil
}

// x509PropertiesOf describes an existing certificate as policy X.509 properties.
func x509PropertiesOf(cert *x509.Certificate) *X509Properties {
	xp := &X509Properties{Subject: cert.Subject.String()}
	if len(cert.DNSNames) > 0 || len(cert.EmailAddresses) > 0 {
		xp.SANs = &SubjectAlternativeNames{DNSNames: cert.DNSNames, Emails: cert.EmailAddresses}
	}
	for _, b := range keyUsageBits {
		if cert.KeyUsage&b.bit != 0 {
			xp.KeyUsage = append(xp.KeyUsage, b.name)
		}
	}
	for _, e := range cert.ExtKeyUsage {
		if oid, ok := ekuOIDs[e]; ok {
			xp.EKUs = append(xp.EKUs, oid)
		}
	}
	for _, u := range cert.UnknownExtKeyUsage {
		xp.EKUs = append(xp.EKUs, u.String())
	}
	months := int(cert.NotAfter.Sub(cert.NotBefore).Hours()/(24*30.436875) + 0.5)
	xp.ValidityMonths = max(1, months)
	return xp
}

var ekuOIDs = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "2.5.29.37.0",
	x509.ExtKeyUsageServerAuth:      "1.3.6.1.5.5.7.3.1",
	x509.ExtKeyUsageClientAuth:      "1.3.6.1.5.5.7.3.2",
	x509.ExtKeyUsageCodeSigning:     "1.3.6.1.5.5.7.3.3",
	x509.ExtKeyUsageEmailProtection: "1.3.6.1.5.5.7.3.4",
	x509.ExtKeyUsageTimeStamping:    "1.3.6.1.5.5.7.3.8",
	x509.ExtKeyUsageOCSPSigning:     "1.3.6.1.5.5.7.3.9",
}

// CreateCertificate issues a new version of certificate name from a
// policy and returns its completed operation (for issuer Unknown: the
// pending operation with its CSR). It records the operation as
// BeginCreateCertificate does, then completes it before returning.
func (s *Service) CreateCertificate(ctx context.Context, c Caller, vault, name string, in CertificateCreate) (CertificateOperation, error) {
	return s.createCertificate(ctx, c, vault, name, in, false)
}

// BeginCreateCertificate starts the creation of a new version of
// certificate name from a policy, as Key Vault's CreateCertificate does:
// the operation is recorded inProgress and returned at once; the
// certificate is issued in the background (GetCertificateOperation
// follows it), or, for issuer Unknown, when the signed certificate is
// merged. An operation interrupted by a crash is resumed by
// ResumeCertificateOperations.
func (s *Service) BeginCreateCertificate(ctx context.Context, c Caller, vault, name string, in CertificateCreate) (CertificateOperation, error) {
	return s.createCertificate(ctx, c, vault, name, in, true)
}

func (s *Service) createCertificate(ctx context.Context, c Caller, vault, name string, in CertificateCreate, background bool) (CertificateOperation, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesCreate, func(o *op, v Vault) (CertificateOperation, error) {
		if err := validateTags(in.Tags); err != nil {
			return CertificateOperation{}, err
		}
		var policy CertificatePolicy
		if in.Policy != nil {
			policy = *in.Policy
		} else {
			obj, ok, err := s.getObject(ctx, v.Name, Certificates, name)
			if err != nil {
				return CertificateOperation{}, err
			}
			p, err := policyOf(obj)
			if err != nil {
				return CertificateOperation{}, err
			}
			if !ok || p == nil {
				return CertificateOperation{}, badRequest("certificate %s does not exist: creating it needs a policy", name)
			}
			policy = *p
		}
		policy, err := policy.Normalize()
		if err != nil {
			return CertificateOperation{}, err
		}
		if policy.Issuer.Name == IssuerUnknown {
			return s.startPending(ctx, v, name, policy, in, c.RequestID)
		}
		r, err := s.startIssuance(ctx, v, name, policy, in, c.RequestID)
		if err != nil {
			return CertificateOperation{}, err
		}
		if background {
			s.completeInBackground(v, name, r)
			return r.operation(v, name), nil
		}
		ver, err := s.completeOperation(ctx, v, name, r)
		if err != nil {
			// A caller that waits gets the error, not an operation left behind.
			if _, cur, ok, gerr := s.getPending(ctx, v, name); gerr == nil && ok && cur.OperationID == r.OperationID {
				if _, derr := s.store.DeleteSetting(ctx, v.Name, SettingPending, name); derr != nil && !errors.Is(derr, store.ErrNotFound) {
					s.log.Error("vault certificate operation failed and its record could not be removed", "vault", v.Name, "name", name, "error", derr)
				}
			}
			return CertificateOperation{}, err
		}
		o.version = ver.Version
		return s.operationOf(v, ver, c.RequestID)
	})
}

func (s *Service) operationOf(v Vault, ver ObjectVersion, requestID string) (CertificateOperation, error) {
	meta, err := decodeCertMeta(ver)
	if err != nil {
		return CertificateOperation{}, err
	}
	if requestID == "" {
		requestID = meta.RequestID
	}
	issuer := meta.Issuer
	if issuer == "" {
		issuer = IssuerSelf
	}
	return CertificateOperation{Vault: v.Name, Name: ver.Name, IssuerName: issuer, CSR: meta.CSR, Status: StatusCompleted, Version: ver.Version, RequestID: requestID}, nil
}

// issue creates and stores a certificate version from policy, self-signed
// or signed by the vault CA of the policy's issuer; operationID (if any)
// is recorded in the version.
func (s *Service) issue(ctx context.Context, v Vault, name string, policy CertificatePolicy, enabled *bool, tags map[string]string, requestID, operationID string) (ObjectVersion, error) {
	if policy.Issuer.Name == IssuerUnknown {
		return ObjectVersion{}, badRequest("certificates of issuer %q are signed outside the vault and cannot be renewed by it: create a new version (a new CSR) and merge the signed certificate", IssuerUnknown)
	}
	var signer *vaultCA
	if policy.Issuer.Name != IssuerSelf {
		ca, err := s.loadCA(ctx, v, policy.Issuer.Name)
		if err != nil {
			return ObjectVersion{}, err
		}
		signer = ca
	}
	xp := policy.X509Properties
	if xp.Subject == "" {
		return ObjectVersion{}, badRequest("x509_props.subject is required to create a certificate (e.g. \"CN=my-app\")")
	}
	subject, err := pki.ParseSubject(xp.Subject)
	if err != nil {
		return ObjectVersion{}, badRequest("x509_props.subject: %v", err)
	}
	kt, err := policyKeyType(policy.KeyProperties)
	if err != nil {
		return ObjectVersion{}, err
	}
	var key crypto.Signer
	if *policy.KeyProperties.ReuseKey {
		if prev, perr := s.store.GetVersion(ctx, v.Name, Certificates, name, ""); perr == nil {
			if k, kerr := s.openPrivateKey(prev); kerr == nil && sameKeyType(k, kt) {
				key = k
			}
		}
	}
	if key == nil {
		if key, err = pki.GenerateKey(kt); err != nil {
			return ObjectVersion{}, internal(err, "generate key")
		}
	}
	now := s.now().UTC()
	var (
		cert  *x509.Certificate
		chain []*x509.Certificate
		csr   []byte
	)
	if signer == nil {
		cert, csr, err = selfSign(subject, key, xp, now)
	} else {
		cert, csr, err = signer.sign(subject, key, xp, now)
		chain = signer.chain
	}
	if err != nil {
		return ObjectVersion{}, err
	}
	ver, err := s.newCertificateVersion(v, name, cert, chain, key, policy, enabled, tags, csr, now)
	if err != nil {
		return ObjectVersion{}, err
	}
	meta, _ := decodeCertMeta(ver)
	meta.RequestID = requestID
	meta.Issuer = policy.Issuer.Name
	meta.Operation = operationID
	ver.Meta, _ = json.Marshal(meta)
	ver, err = s.addVersion(ctx, ver, AddOptions{Exclusive: []ObjectType{Secrets, Keys}, Policy: policy.marshal()})
	if err != nil {
		return ObjectVersion{}, err
	}
	s.expiry.WithLabelValues(v.Name, foldName(name)).Set(float64(cert.NotAfter.Unix()))
	return ver, nil
}

func sameKeyType(k crypto.Signer, kt pki.KeyType) bool {
	kty, size, crv, err := supportedKey(k)
	if err != nil {
		return false
	}
	switch kt {
	case pki.KeyTypeEC256:
		return crv == "P-256"
	case pki.KeyTypeEC384:
		return crv == "P-384"
	}
	return kty == "RSA" && fmt.Sprintf("rsa%d", size) == string(kt)
}

var (
	oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

// selfSign makes the certificate (and a CSR, which Key Vault reports on the
// operation) for a policy's X.509 properties.
func selfSign(subject pkix.Name, key crypto.Signer, xp *X509Properties, now time.Time) (*x509.Certificate, []byte, error) {
	tmpl, csrTmpl, err := certificateTemplate(subject, key, xp, now)
	if err != nil {
		return nil, nil, err
	}
	return signTemplate(tmpl, tmpl, csrTmpl, key, key)
}

// signTemplate signs tmpl for key with issuerKey under parent and makes
// the CSR of key for csrTmpl.
func signTemplate(tmpl, parent *x509.Certificate, csrTmpl *x509.CertificateRequest, key, issuerKey crypto.Signer) (*x509.Certificate, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), issuerKey)
	if err != nil {
		return nil, nil, badRequest("the policy does not make a valid certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, internal(err, "parse created certificate")
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, csrTmpl, key)
	if err != nil {
		return nil, nil, internal(err, "create CSR")
	}
	return cert, csr, nil
}

// certificateTemplate is the certificate and CSR a policy's X.509
// properties describe. Key usage keyCertSign makes a CA (basic
// constraints CA:TRUE, RFC 5280 section 4.2.1.9).
func certificateTemplate(subject pkix.Name, key crypto.Signer, xp *X509Properties, now time.Time) (*x509.Certificate, *x509.CertificateRequest, error) {
	serialBytes := make([]byte, 16)
	if _, err := rand.Read(serialBytes); err != nil {
		return nil, nil, internal(err, "random serial")
	}
	serial := new(big.Int).SetBytes(serialBytes)
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, internal(err, "encode public key")
	}
	skid := sha1.Sum(pubDER)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-5 * time.Minute).Truncate(time.Second),
		NotAfter:              now.AddDate(0, xp.ValidityMonths, 0).Truncate(time.Second),
		BasicConstraintsValid: true,
		SubjectKeyId:          skid[:],
	}
	for _, ku := range xp.KeyUsage {
		for _, b := range keyUsageBits {
			if ku == b.name {
				tmpl.KeyUsage |= b.bit
			}
		}
	}
	for _, e := range xp.EKUs {
		oid, _ := parseOID(e)
		known := false
		for eku, s := range ekuOIDs {
			if s == e {
				tmpl.ExtKeyUsage, known = append(tmpl.ExtKeyUsage, eku), true
			}
		}
		if !known {
			tmpl.UnknownExtKeyUsage = append(tmpl.UnknownExtKeyUsage, oid)
		}
	}
	csrTmpl := &x509.CertificateRequest{Subject: subject}
	if xp.SANs != nil {
		if len(xp.SANs.UPNs) > 0 {
			ext, err := marshalSANs(xp.SANs)
			if err != nil {
				return nil, nil, internal(err, "encode subject alternative names")
			}
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
			csrTmpl.ExtraExtensions = append(csrTmpl.ExtraExtensions, ext)
		} else {
			tmpl.DNSNames, tmpl.EmailAddresses = xp.SANs.DNSNames, xp.SANs.Emails
			csrTmpl.DNSNames, csrTmpl.EmailAddresses = xp.SANs.DNSNames, xp.SANs.Emails
		}
	}
	tmpl.IsCA = tmpl.KeyUsage&x509.KeyUsageCertSign != 0
	return tmpl, csrTmpl, nil
}

// marshalSANs encodes the subjectAltName extension (RFC 5280 section
// 4.2.1.6) including UPN otherNames, which crypto/x509 cannot write.
func marshalSANs(sans *SubjectAlternativeNames) (pkix.Extension, error) {
	var names []asn1.RawValue
	for _, e := range sans.Emails {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(e)})
	}
	for _, d := range sans.DNSNames {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
	}
	oid, err := asn1.Marshal(oidUPN)
	if err != nil {
		return pkix.Extension{}, err
	}
	for _, u := range sans.UPNs {
		str, err := asn1.MarshalWithParams(u, "utf8")
		if err != nil {
			return pkix.Extension{}, err
		}
		value, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: str})
		if err != nil {
			return pkix.Extension{}, err
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(append([]byte{}, oid...), value...)})
	}
	b, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSAN, Value: b}, nil
}

func (s *Service) openPrivateKey(ver ObjectVersion) (crypto.Signer, error) {
	der, err := s.open(ver)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, internal(err, "parse stored private key of %q", ver.Name)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, internal(fmt.Errorf("%T", k), "stored private key of %q is not a signer", ver.Name)
	}
	return signer, nil
}

// certificateParts returns a certificate version's leaf, chain and private key.
func (s *Service) certificateParts(ver ObjectVersion) (*x509.Certificate, []*x509.Certificate, crypto.Signer, certMeta, error) {
	meta, err := decodeCertMeta(ver)
	if err != nil {
		return nil, nil, nil, certMeta{}, err
	}
	leaf, err := x509.ParseCertificate(ver.Public)
	if err != nil {
		return nil, nil, nil, certMeta{}, internal(err, "parse stored certificate %q", ver.Name)
	}
	var chain []*x509.Certificate
	for _, d := range meta.Chain {
		cc, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, nil, nil, certMeta{}, internal(err, "parse stored chain of %q", ver.Name)
		}
		chain = append(chain, cc)
	}
	key, err := s.openPrivateKey(ver)
	if err != nil {
		return nil, nil, nil, certMeta{}, err
	}
	return leaf, chain, key, meta, nil
}

// certificateAsSecret is the managed secret view of a certificate version:
// base64 PFX without password, or PEM with the private key first, per the
// content type; without the private key when the key is not exportable.
func (s *Service) certificateAsSecret(v Vault, ver ObjectVersion, withValue bool) (Secret, error) {
	sec := Secret{
		Vault: v.Name, Name: ver.Name, Version: ver.Version, ContentType: ver.ContentType,
		Tags: cloneTags(ver.Tags), Attributes: attributesOf(v, ver), Managed: true,
	}
	if !withValue {
		return sec, nil
	}
	if !ver.Enabled {
		return Secret{}, forbidden(CodeSecretDisabled, "Operation get is not allowed on a disabled secret.")
	}
	leaf, chain, key, meta, err := s.certificateParts(ver)
	if err != nil {
		return Secret{}, err
	}
	if !meta.Exportable {
		key = nil
	}
	b, err := encodeCertificate(ver.ContentType, leaf, chain, key, "")
	if err != nil {
		return Secret{}, err
	}
	if ver.ContentType != ContentTypePEM {
		b = []byte(base64.StdEncoding.EncodeToString(b))
	}
	sec.Value = NewValue(b)
	return sec, nil
}

// encodeCertificate writes PEM (key first) or PFX; without key, the
// certificates only.
func encodeCertificate(contentType string, leaf *x509.Certificate, chain []*x509.Certificate, key crypto.Signer, password string) ([]byte, error) {
	if contentType == ContentTypePEM {
		var out []byte
		if key != nil {
			k, err := pki.EncodePrivateKeyPEM(key)
			if err != nil {
				return nil, internal(err, "encode private key")
			}
			out = k
		}
		return append(out, pki.EncodeCertificatePEM(append([]*x509.Certificate{leaf}, chain...)...)...), nil
	}
	if key == nil {
		b, err := pkcs12.Modern2023.EncodeTrustStore(append([]*x509.Certificate{leaf}, chain...), password)
		if err != nil {
			return nil, internal(err, "encode PFX")
		}
		return b, nil
	}
	b, err := pki.EncodePFX(leaf, key, chain, password)
	if err != nil {
		return nil, internal(err, "encode PFX")
	}
	return b, nil
}

// GetCertificate returns a certificate version (the newest when version is
// "") with the object's policy.
//
// A certificate whose first version is still being created (issuer Unknown
// waiting for its merge, or an issuance under way) reads, as in Key Vault,
// as a disabled certificate without version or CER that carries the
// operation's policy (Certificate.Pending), not as CertificateNotFound: the
// Key Vault SDKs' operation pollers read it before the operation.
func (s *Service) GetCertificate(ctx context.Context, c Caller, vault, name, version string) (Certificate, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, version, PermCertificatesRead, func(o *op, v Vault) (Certificate, error) {
		obj, ver, err := s.liveVersion(ctx, v.Name, Certificates, name, version)
		if err != nil && version == "" && IsKind(err, KindNotFound) {
			if pc, ok, perr := s.pendingCertificate(ctx, v, name); perr != nil {
				return Certificate{}, perr
			} else if ok {
				return pc, nil
			}
		}
		if err != nil {
			return Certificate{}, err
		}
		o.version = ver.Version
		return s.certificateWithPolicy(v, ObjectEntry{Object: obj, Newest: ver})
	})
}

// pendingCertificate is the view of a certificate that has a pending
// operation and no live version (ok=false when it has none, or when the
// certificate is deleted).
func (s *Service) pendingCertificate(ctx context.Context, v Vault, name string) (Certificate, bool, error) {
	if obj, ok, err := s.getObject(ctx, v.Name, Certificates, name); err != nil || (ok && obj.Deleted != nil) {
		return Certificate{}, false, err
	}
	st, r, ok, err := s.getPending(ctx, v, name)
	if err != nil || !ok {
		return Certificate{}, false, err
	}
	return pendingView(v, st, r), true, nil
}

// pendingView is how a certificate whose first version is being created shows: disabled, without
// version or CER, with the operation's policy and tags.
func pendingView(v Vault, st Setting, r pendingRecord) Certificate {
	policy := r.Policy
	return Certificate{
		Vault: v.Name, Name: st.Name, Pending: true, Policy: &policy, Tags: r.Tags,
		Attributes: Attributes{Enabled: false, Created: st.Created, Updated: st.Updated,
			RecoveryLevel: v.RecoveryLevel(), RecoverableDays: v.SoftDeleteRetentionDays},
	}
}

// GetCertificateOperation returns the creation operation of a certificate
// created from a policy; PendingCertificateNotFound for imported ones.
func (s *Service) GetCertificateOperation(ctx context.Context, c Caller, vault, name string) (CertificateOperation, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesRead, func(o *op, v Vault) (CertificateOperation, error) {
		if st, r, ok, err := s.getPending(ctx, v, name); err != nil {
			return CertificateOperation{}, err
		} else if ok {
			// An issuance whose version is stored is completed, even if its
			// record is still there, once the claim of the node that issued
			// it lapsed (the node stopped before removing the record). While
			// the claim holds, the node is about to remove it: reporting
			// completed then would let a client's next create meet the
			// record and be refused as a second operation.
			if r.abandoned(s.now()) {
				if ver, done, err := s.issuedBy(ctx, v, name, r.OperationID); err != nil {
					return CertificateOperation{}, err
				} else if done {
					o.version = ver.Version
					return s.operationOf(v, ver, "")
				}
			}
			return r.operation(v, st.Name), nil
		}
		_, ver, err := s.liveVersion(ctx, v.Name, Certificates, name, "")
		if err != nil {
			return CertificateOperation{}, err
		}
		meta, err := decodeCertMeta(ver)
		if err != nil {
			return CertificateOperation{}, err
		}
		if !meta.Issued {
			return CertificateOperation{}, &Error{Kind: KindNotFound, Code: CodePendingCertificateNotFound, Message: fmt.Sprintf("Pending certificate not found: %s", name)}
		}
		o.version = ver.Version
		return s.operationOf(v, ver, "")
	})
}

// UpdateCertificate changes enabled and tags of a certificate version (the
// newest when version is ""); its dates are the certificate's own.
func (s *Service) UpdateCertificate(ctx context.Context, c Caller, vault, name, version string, u Update) (Certificate, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, version, PermCertificatesUpdate, func(o *op, v Vault) (Certificate, error) {
		if u.NotBefore != nil || u.Expires != nil || u.ContentType != nil || u.KeyOps != nil {
			return Certificate{}, badRequest("only enabled and tags of a certificate version can be updated: its dates are those of the certificate, and its content type and key operations follow the policy")
		}
		now := s.now().UTC()
		ver, err := s.updateVersion(ctx, v.Name, Certificates, name, version, func(ver *ObjectVersion) error { return u.apply(ver, now) })
		if err != nil {
			return Certificate{}, err
		}
		o.version = ver.Version
		return s.certificateOf(v, ver)
	})
}

// ListCertificates lists the newest version of each live certificate.
func (s *Service) ListCertificates(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Certificate], error) {
	return listObjectsAs(s, ctx, c, vault, Certificates, PermCertificatesRead, false, p, s.entryAsCertificate)
}

// ListCertificatesWithPending is ListCertificates with, in name order among them, the certificates
// whose first version is still being created (Key Vault's includePending=true), as pendingView shows
// them. A certificate with a version and a pending renewal is listed once, as itself.
func (s *Service) ListCertificatesWithPending(ctx context.Context, c Caller, vault string, p PageRequest) (out Page[Certificate], err error) {
	o := s.begin(ctx, c, vault, Certificates, "", "", PermCertificatesRead)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return Page[Certificate]{}, err
	}
	n, err := p.size()
	if err != nil {
		return Page[Certificate]{}, err
	}
	out, err = listPageAs(s, ctx, v, Certificates, false, p, s.entryAsCertificate)
	if err != nil {
		return Page[Certificate]{}, err
	}
	next := out.Next
	sts, err := s.store.ListSettings(ctx, v.Name, SettingPending)
	if err != nil {
		return Page[Certificate]{}, internal(err, "list the pending certificate operations")
	}
	// Pending certificates between the cursor and the end of this page of objects (or beyond it, on
	// the last page) belong to this page; the page is then cut at n again.
	after, until := foldName(p.After), foldName(next)
	for _, st := range sts {
		key := foldName(st.Name)
		if (p.After != "" && key <= after) || (next != "" && key >= until) {
			continue
		}
		if _, exists, err := s.getObject(ctx, v.Name, Certificates, st.Name); err != nil {
			return Page[Certificate]{}, err
		} else if exists {
			continue // listed as itself (or in the deleted listing)
		}
		r, err := decodePending(st)
		if err != nil {
			return Page[Certificate]{}, err
		}
		out.Items = append(out.Items, pendingView(v, st, r))
	}
	sort.SliceStable(out.Items, func(i, j int) bool { return foldName(out.Items[i].Name) < foldName(out.Items[j].Name) })
	if len(out.Items) > n {
		out.Items = out.Items[:n]
		next = out.Items[n-1].Name
	}
	out.Next = next
	return out, nil
}

// ListDeletedCertificates lists deleted certificates.
func (s *Service) ListDeletedCertificates(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Certificate], error) {
	return listObjectsAs(s, ctx, c, vault, Certificates, PermCertificatesRead, true, p, s.entryAsCertificate)
}

// entryAsCertificate is a certificate version with its object's name and
// deletion state, without the policy.
func (s *Service) entryAsCertificate(v Vault, e ObjectEntry) (Certificate, error) {
	cert, err := s.certificateOf(v, e.Newest)
	if err != nil {
		return Certificate{}, err
	}
	cert.Name, cert.Deleted = e.Object.Name, e.Object.Deleted
	return cert, nil
}

// certificateWithPolicy is entryAsCertificate with the object's policy.
func (s *Service) certificateWithPolicy(v Vault, e ObjectEntry) (Certificate, error) {
	cert, err := s.entryAsCertificate(v, e)
	if err != nil {
		return Certificate{}, err
	}
	cert.Policy, err = policyOf(e.Object)
	return cert, err
}

// ListCertificateVersions lists every version of a certificate, oldest first.
func (s *Service) ListCertificateVersions(ctx context.Context, c Caller, vault, name string, p PageRequest) (Page[Certificate], error) {
	return listVersionsAs(s, ctx, c, vault, Certificates, PermCertificatesRead, name, p, s.entryAsCertificate)
}

// GetCertificatePolicy returns a certificate's policy.
func (s *Service) GetCertificatePolicy(ctx context.Context, c Caller, vault, name string) (CertificatePolicy, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesRead, func(o *op, v Vault) (CertificatePolicy, error) {
		obj, _, err := s.liveVersion(ctx, v.Name, Certificates, name, "")
		if err != nil {
			return CertificatePolicy{}, err
		}
		p, err := policyOf(obj)
		if err != nil || p == nil {
			return CertificatePolicy{}, err
		}
		return *p, nil
	})
}

// UpdateCertificatePolicy merges p into a certificate's policy (each
// section given replaces the current one, as Key Vault's PATCH does) and
// returns the result; it applies to future versions and lifetime actions.
func (s *Service) UpdateCertificatePolicy(ctx context.Context, c Caller, vault, name string, p CertificatePolicy) (CertificatePolicy, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesUpdate, func(o *op, v Vault) (CertificatePolicy, error) {
		if _, _, err := s.liveVersion(ctx, v.Name, Certificates, name, ""); err != nil {
			return CertificatePolicy{}, err
		}
		obj, err := s.store.UpdateObject(ctx, v.Name, Certificates, name, func(obj *Object) error {
			cur, err := policyOf(*obj)
			if err != nil {
				return err
			}
			merged := CertificatePolicy{}
			if cur != nil {
				merged = *cur
			}
			if p.KeyProperties != nil {
				merged.KeyProperties = p.KeyProperties
			}
			if p.SecretProperties != nil {
				merged.SecretProperties = p.SecretProperties
			}
			if p.X509Properties != nil {
				merged.X509Properties = p.X509Properties
			}
			if p.LifetimeActions != nil {
				merged.LifetimeActions = p.LifetimeActions
			}
			if p.Issuer != nil {
				merged.Issuer = p.Issuer
			}
			norm, err := merged.Normalize()
			if err != nil {
				return err
			}
			obj.Policy = norm.marshal()
			return nil
		})
		if err != nil {
			return CertificatePolicy{}, wrapStoreErr(err, "update policy of certificate %q", name)
		}
		pp, err := policyOf(obj)
		if err != nil || pp == nil {
			return CertificatePolicy{}, err
		}
		return *pp, nil
	})
}

// DeleteCertificate soft-deletes a certificate with its secret and key;
// refused while anything references the certificate, its secret or its key.
func (s *Service) DeleteCertificate(ctx context.Context, c Caller, vault, name string) (Certificate, error) {
	return deleteObjectAs(s, ctx, c, vault, Certificates, PermCertificatesDelete, name, s.certificateWithPolicy)
}

// GetDeletedCertificate returns a deleted certificate's newest version.
func (s *Service) GetDeletedCertificate(ctx context.Context, c Caller, vault, name string) (Certificate, error) {
	return getDeletedAs(s, ctx, c, vault, Certificates, PermCertificatesRead, name, s.certificateWithPolicy)
}

// RecoverCertificate brings a deleted certificate back, with its secret and key.
func (s *Service) RecoverCertificate(ctx context.Context, c Caller, vault, name string) (Certificate, error) {
	return recoverObjectAs(s, ctx, c, vault, Certificates, PermCertificatesRecover, name, func(v Vault, obj Object) (Certificate, error) {
		ver, err := s.store.GetVersion(ctx, v.Name, Certificates, name, "")
		if err != nil {
			return Certificate{}, wrapStoreErr(err, "read certificate %q", name)
		}
		cert, err := s.entryAsCertificate(v, ObjectEntry{Object: obj, Newest: ver})
		if err != nil {
			return Certificate{}, err
		}
		if leaf, perr := x509.ParseCertificate(ver.Public); perr == nil {
			s.expiry.WithLabelValues(v.Name, foldName(name)).Set(float64(leaf.NotAfter.Unix()))
		}
		cert.Policy, err = policyOf(obj)
		return cert, err
	})
}

// PurgeCertificate permanently removes a deleted certificate with its
// secret and key; refused while the vault has purge protection.
func (s *Service) PurgeCertificate(ctx context.Context, c Caller, vault, name string) error {
	return s.purge(ctx, c, vault, Certificates, PermCertificatesPurge, name)
}

// DownloadCertificate returns a certificate version (newest when version
// is "") as FormatCER (DER, certificates/read), or FormatPEM / FormatPFX with
// the private key and chain (secrets/getSecret on the certificate's
// secret, as in Key Vault). password protects the PFX ("" for none).
func (s *Service) DownloadCertificate(ctx context.Context, c Caller, vault, name, version, format string, password Value) (out Value, err error) {
	perm := PermSecretsGet
	if format == FormatCER {
		perm = PermCertificatesRead
	}
	o := s.begin(ctx, c, vault, Certificates, name, version, perm)
	defer o.end(&err)
	if err := ValidateName(name); err != nil {
		return Value{}, err
	}
	if format != FormatCER && format != FormatPEM && format != FormatPFX {
		return Value{}, badRequest("unknown download format %q: use cer, pem or pfx", format)
	}
	target := string(Certificates) + "/" + name
	if perm == PermSecretsGet {
		target = string(Secrets) + "/" + name
	}
	v, err := o.authorize(target, true)
	if err != nil {
		return Value{}, err
	}
	_, ver, err := s.liveVersion(ctx, v.Name, Certificates, name, version)
	if err != nil {
		return Value{}, err
	}
	o.version = ver.Version
	if format == FormatCER {
		return NewValue(ver.Public), nil
	}
	if !ver.Enabled {
		return Value{}, forbidden(CodeCertificateDisabled, "Operation download is not allowed on a disabled certificate version.")
	}
	leaf, chain, key, meta, err := s.certificateParts(ver)
	if err != nil {
		return Value{}, err
	}
	if !meta.Exportable {
		return Value{}, forbidden("", "the private key of certificate %s is not exportable (policy key_props.exportable is false); download the cer format for the public certificate", name)
	}
	ct := ContentTypePKCS12
	if format == FormatPEM {
		ct = ContentTypePEM
	}
	b, err := encodeCertificate(ct, leaf, chain, key, password.Reveal())
	if err != nil {
		return Value{}, err
	}
	return NewValue(b), nil
}
