package vault_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
	"software.sslmate.com/src/go-pkcs12"
)

// testCert makes a self-signed certificate and its key with internal/pki.
func testCert(t testing.TB, cn string, kt pki.KeyType) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := pki.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, 365*24*time.Hour, start)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func pemOf(t testing.TB, cert *x509.Certificate, key crypto.Signer, chain ...*x509.Certificate) []byte {
	t.Helper()
	k, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pki.EncodeCertificatePEM(append([]*x509.Certificate{cert}, chain...)...), k...)
}

func TestCertificates_ImportPFXReadableAsCertificateSecretAndKey(t *testing.T) {
	e := newEnv(t)
	cert, key := testCert(t, "client-a", pki.KeyTypeRSA2048)
	pfx, err := pki.EncodePFX(cert, key, nil, "pa55word")
	if err != nil {
		t.Fatal(err)
	}
	imp := must[vault.Certificate](t)(e.svc.ImportCertificate(e.ctx, admin, "default", "client-a", vault.CertificateImport{Data: pfx, Password: vault.NewStringValue("pa55word")}))
	if !bytes.Equal(imp.CER, cert.Raw) || imp.X5T != pki.X5T(cert) || imp.ContentType != vault.ContentTypePKCS12 {
		t.Fatalf("imported = %+v", imp)
	}
	if imp.Policy == nil || imp.Policy.Issuer.Name != vault.IssuerUnknown || imp.Policy.KeyProperties.KeyType != "RSA" || imp.Policy.KeyProperties.KeySize != 2048 || imp.Policy.X509Properties.Subject != "CN=client-a" {
		t.Fatalf("derived policy = %+v", imp.Policy)
	}
	got := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "client-a", ""))
	if got.Version != imp.Version || !got.Attributes.Expires.Equal(cert.NotAfter) || !got.Attributes.NotBefore.Equal(cert.NotBefore) {
		t.Fatalf("get = %+v", got.Attributes)
	}
	// As a secret: base64 PFX without password, holding the same key.
	sec := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "client-a", imp.Version))
	if !sec.Managed || sec.ContentType != vault.ContentTypePKCS12 {
		t.Fatalf("secret = %+v", sec)
	}
	raw, err := base64.StdEncoding.DecodeString(sec.Value.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	pk, leaf, err := pkcs12.Decode(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Equal(cert) || !key.(*rsa.PrivateKey).Equal(pk) {
		t.Fatal("secret PFX holds another certificate or key")
	}
	// As a key: the public JWK; signing works and verifies independently.
	k := must[vault.Key](t)(e.svc.GetKey(e.ctx, admin, "default", "client-a", ""))
	if !k.Managed || k.Version != imp.Version || k.JWK.Kty != "RSA" || len(k.JWK.D) != 0 || !bytes.Equal(k.JWK.N, cert.PublicKey.(*rsa.PublicKey).N.Bytes()) {
		t.Fatalf("key = %+v", k.JWK)
	}
	digest := sha256.Sum256([]byte("hello"))
	sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "client-a", "", "RS256", digest[:]))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig.Result.Bytes()); err != nil {
		t.Fatal(err)
	}
	// Listed with secrets and keys, managed.
	secs := must[vault.Page[vault.Secret]](t)(e.svc.ListSecrets(e.ctx, admin, "default", vault.PageRequest{}))
	keys := must[vault.Page[vault.Key]](t)(e.svc.ListKeys(e.ctx, admin, "default", vault.PageRequest{}))
	if len(secs.Items) != 1 || !secs.Items[0].Managed || len(keys.Items) != 1 || !keys.Items[0].Managed {
		t.Fatalf("lists: %+v %+v", secs.Items, keys.Items)
	}
	// Downloads.
	cer := must[vault.Value](t)(e.svc.DownloadCertificate(e.ctx, admin, "default", "client-a", "", vault.FormatCER, vault.Value{}))
	if !bytes.Equal(cer.Bytes(), cert.Raw) {
		t.Fatal("cer download differs")
	}
	pemOut := must[vault.Value](t)(e.svc.DownloadCertificate(e.ctx, admin, "default", "client-a", "", vault.FormatPEM, vault.Value{}))
	if l, _, k2, err := pki.ParseCertificateAndKey(pemOut.Bytes(), ""); err != nil || !l.Equal(cert) || !key.(*rsa.PrivateKey).Equal(k2) {
		t.Fatalf("pem download: %v", err)
	}
	pfxOut := must[vault.Value](t)(e.svc.DownloadCertificate(e.ctx, admin, "default", "client-a", "", vault.FormatPFX, vault.NewStringValue("out-pass")))
	if _, _, _, err := pki.ParseCertificateAndKey(pfxOut.Bytes(), "wrong"); err == nil {
		t.Fatal("pfx download opens with a wrong password")
	}
	if l, _, _, err := pki.ParseCertificateAndKey(pfxOut.Bytes(), "out-pass"); err != nil || !l.Equal(cert) {
		t.Fatalf("pfx download: %v", err)
	}
	_, err = e.svc.GetCertificateOperation(e.ctx, admin, "default", "client-a")
	if ve := wantErr(t, err, vault.KindNotFound); ve.Code != vault.CodePendingCertificateNotFound {
		t.Fatalf("code %q", ve.Code)
	}
}

func TestCertificates_ImportPEMWithChainAsPEMSecret(t *testing.T) {
	e := newEnv(t)
	ca, caKey, err := pki.NewCA("test-ca", 24*time.Hour, start)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"api.example.test"}, time.Hour, start)
	if err != nil {
		t.Fatal(err)
	}
	imp := must[vault.Certificate](t)(e.svc.ImportCertificate(e.ctx, admin, "default", "api-tls", vault.CertificateImport{Data: pemOf(t, leaf, key, ca)}))
	if imp.ContentType != vault.ContentTypePEM || imp.Policy.KeyProperties.KeyType != "EC" || imp.Policy.KeyProperties.Curve != "P-256" {
		t.Fatalf("imported = %+v %+v", imp, imp.Policy.KeyProperties)
	}
	sec := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "api-tls", ""))
	v := sec.Value.Reveal()
	if !strings.HasPrefix(v, "-----BEGIN PRIVATE KEY-----") || strings.Count(v, "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("PEM secret layout: %d certificates", strings.Count(v, "BEGIN CERTIFICATE"))
	}
	l, chain, _, err := pki.ParseCertificateAndKey([]byte(v), "")
	if err != nil || !l.Equal(leaf) || len(chain) != 1 || !chain[0].Equal(ca) {
		t.Fatalf("PEM secret content: %v", err)
	}
	res := must[vault.Resolved](t)(e.svc.Resolve(e.ctx, vault.Ref{Vault: "default", Type: vault.Certificates, Name: "api-tls"}))
	if !res.Certificate.Leaf.Equal(leaf) || len(res.Certificate.Chain) != 1 || res.Certificate.PrivateKey == nil {
		t.Fatalf("resolved = %+v", res.Certificate)
	}
}

func TestCertificates_ImportErrors(t *testing.T) {
	e := newEnv(t)
	cert, key := testCert(t, "a", pki.KeyTypeEC256)
	other, otherKey := testCert(t, "b", pki.KeyTypeEC256)
	pfx, err := pki.EncodePFX(cert, key, nil, "right")
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := pkcs12.Modern2023.EncodeTrustStore([]*x509.Certificate{cert}, "right")
	if err != nil {
		t.Fatal(err)
	}
	good := pemOf(t, cert, key)
	truncated := good[:len(good)-40]
	mismatch := pemOf(t, cert, otherKey)
	_ = other
	for _, tc := range []struct {
		name, want string
		data       []byte
		password   string
	}{
		{"wrong PFX password", "password", pfx, "wrong"},
		{"PFX without private key", "no private key", keyless, "right"},
		{"malformed PEM", "malformed PEM", truncated, ""},
		{"PEM certificate only", "no private key", pki.EncodeCertificatePEM(cert), ""},
		{"key does not match", "does not match", mismatch, ""},
		{"DER certificate", "no private key", cert.Raw, ""},
		{"empty", "no certificate data", nil, ""},
		{"garbage", "neither a PFX", []byte("hello world"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.ImportCertificate(e.ctx, admin, "default", "c", vault.CertificateImport{Data: tc.data, Password: vault.NewStringValue(tc.password)})
			ve := wantErr(t, err, vault.KindBadRequest, tc.want)
			if ve.Code != vault.CodeBadParameter || strings.Contains(ve.Message, "right") {
				t.Fatalf("error %q / %q", ve.Code, ve.Message)
			}
		})
	}
	if _, err := e.svc.GetCertificate(e.ctx, admin, "default", "c", ""); !vault.IsKind(err, vault.KindNotFound) {
		t.Fatalf("a failed import left something: %v", err)
	}
}

func TestCertificates_CreateFromPolicy(t *testing.T) {
	e := newEnv(t)
	policy := vault.CertificatePolicy{
		KeyProperties:    &vault.KeyProperties{KeyType: "EC", Curve: "P-384"},
		SecretProperties: &vault.SecretProperties{ContentType: vault.ContentTypePEM},
		X509Properties: &vault.X509Properties{
			Subject:        "CN=svc.example.test, O=Contoso",
			SANs:           &vault.SubjectAlternativeNames{DNSNames: []string{"svc.example.test"}, Emails: []string{"ops@example.test"}, UPNs: []string{"svc@example.test"}},
			EKUs:           []string{"1.3.6.1.5.5.7.3.2"},
			KeyUsage:       []string{"digitalSignature"},
			ValidityMonths: 6,
		},
		Issuer: &vault.IssuerParameters{Name: "Self"},
	}
	op := must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "svc", vault.CertificateCreate{Policy: &policy, Tags: map[string]string{"team": "a"}}))
	if op.Status != "completed" || op.IssuerName != "Self" || len(op.CSR) == 0 || op.Version == "" {
		t.Fatalf("operation = %+v", op)
	}
	if _, err := x509.ParseCertificateRequest(op.CSR); err != nil {
		t.Fatal(err)
	}
	again := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "svc"))
	if again.Status != "completed" || again.Version != op.Version {
		t.Fatalf("get operation = %+v", again)
	}
	got := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "svc", ""))
	cert, err := x509.ParseCertificate(got.CER)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "svc.example.test" || len(cert.Subject.Organization) != 1 || cert.DNSNames[0] != "svc.example.test" || cert.EmailAddresses[0] != "ops@example.test" {
		t.Fatalf("certificate names: %+v %v %v", cert.Subject, cert.DNSNames, cert.EmailAddresses)
	}
	if !hasUPN(t, cert, "svc@example.test") {
		t.Fatal("UPN SAN missing")
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("usages %v %v", cert.KeyUsage, cert.ExtKeyUsage)
	}
	if want := start.AddDate(0, 6, 0); !cert.NotAfter.Equal(want) {
		t.Fatalf("NotAfter %s, want %s", cert.NotAfter, want)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve.Params().Name != "P-384" {
		t.Fatalf("key %T", cert.PublicKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if got.Tags["team"] != "a" || got.X5T != pki.X5T(cert) {
		t.Fatalf("cert = %+v", got)
	}
	p := must[vault.CertificatePolicy](t)(e.svc.GetCertificatePolicy(e.ctx, admin, "default", "svc"))
	if p.Issuer.Name != "Self" || p.KeyProperties.Curve != "P-384" || !*p.KeyProperties.Exportable || len(p.LifetimeActions) != 1 || p.LifetimeActions[0].Action.ActionType != "EmailContacts" {
		t.Fatalf("policy = %+v", p)
	}
	// A second create without policy reuses it: a new version.
	op2 := must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "svc", vault.CertificateCreate{}))
	if op2.Version == op.Version {
		t.Fatal("no new version")
	}
	// The secret view is PEM with the key; key view is EC with sign/verify.
	sec := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "svc", ""))
	if sec.Version != op2.Version || !strings.Contains(sec.Value.Reveal(), "PRIVATE KEY") {
		t.Fatal("PEM secret without key")
	}
	k := must[vault.Key](t)(e.svc.GetKey(e.ctx, admin, "default", "svc", ""))
	if k.JWK.Kty != "EC" || k.JWK.Crv != "P-384" || strings.Join(k.JWK.KeyOps, ",") != "sign,verify" {
		t.Fatalf("key = %+v", k.JWK)
	}
	// Updating the policy merges sections.
	up := must[vault.CertificatePolicy](t)(e.svc.UpdateCertificatePolicy(e.ctx, admin, "default", "svc", vault.CertificatePolicy{
		LifetimeActions: []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{DaysBeforeExpiry: 30}, Action: vault.ActionType{ActionType: "autorenew"}}},
	}))
	if up.KeyProperties.Curve != "P-384" || up.LifetimeActions[0].Action.ActionType != vault.ActionAutoRenew {
		t.Fatalf("updated policy = %+v", up)
	}
}

func hasUPN(t *testing.T, cert *x509.Certificate, upn string) bool {
	t.Helper()
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			return bytes.Contains(ext.Value, []byte(upn)) && bytes.Contains(ext.Value, []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03})
		}
	}
	return false
}

func TestCertificates_PolicyErrors(t *testing.T) {
	e := newEnv(t)
	x := func(subject string) *vault.X509Properties { return &vault.X509Properties{Subject: subject} }
	for _, tc := range []struct {
		name   string
		policy vault.CertificatePolicy
		kind   vault.ErrorKind
		want   string
	}{
		{"issuer not in the vault", vault.CertificatePolicy{X509Properties: x("CN=a"), Issuer: &vault.IssuerParameters{Name: "DigiCert"}}, vault.KindBadRequest, "does not exist in vault"},
		{"no subject", vault.CertificatePolicy{}, vault.KindBadRequest, "subject is required"},
		{"bad subject", vault.CertificatePolicy{X509Properties: x("O=x")}, vault.KindBadRequest, "CN is required"},
		{"RSA 1024", vault.CertificatePolicy{X509Properties: x("CN=a"), KeyProperties: &vault.KeyProperties{KeyType: "RSA", KeySize: 1024}}, vault.KindBadRequest, "2048, 3072 or 4096"},
		{"curve P-521", vault.CertificatePolicy{X509Properties: x("CN=a"), KeyProperties: &vault.KeyProperties{KeyType: "EC", Curve: "P-521"}}, vault.KindBadRequest, "P-256 or P-384"},
		{"HSM", vault.CertificatePolicy{X509Properties: x("CN=a"), KeyProperties: &vault.KeyProperties{KeyType: "RSA-HSM"}}, vault.KindUnsupported, "HSM"},
		{"content type", vault.CertificatePolicy{X509Properties: x("CN=a"), SecretProperties: &vault.SecretProperties{ContentType: "text/plain"}}, vault.KindBadRequest, "contentType"},
		{"validity", vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=a", ValidityMonths: 1201}}, vault.KindBadRequest, "validity_months"},
		{"percentage 100", vault.CertificatePolicy{X509Properties: x("CN=a"), LifetimeActions: []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{LifetimePercentage: 100}, Action: vault.ActionType{ActionType: "EmailContacts"}}}}, vault.KindBadRequest, "between 1 and 99"},
		{"both triggers", vault.CertificatePolicy{X509Properties: x("CN=a"), LifetimeActions: []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{LifetimePercentage: 10, DaysBeforeExpiry: 3}, Action: vault.ActionType{ActionType: "EmailContacts"}}}}, vault.KindBadRequest, "not both"},
		{"unknown action", vault.CertificatePolicy{X509Properties: x("CN=a"), LifetimeActions: []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{LifetimePercentage: 10}, Action: vault.ActionType{ActionType: "Explode"}}}}, vault.KindBadRequest, "EmailContacts"},
		{"unknown key usage", vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=a", KeyUsage: []string{"everything"}}}, vault.KindBadRequest, "key_usage"},
		{"bad EKU", vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=a", EKUs: []string{"serverAuth"}}}, vault.KindBadRequest, "object identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateCertificate(e.ctx, admin, "default", "c", vault.CertificateCreate{Policy: &tc.policy})
			wantErr(t, err, tc.kind, tc.want)
		})
	}
	_, err := e.svc.CreateCertificate(e.ctx, admin, "default", "c", vault.CertificateCreate{})
	wantErr(t, err, vault.KindBadRequest, "needs a policy")
}

func TestCertificates_ManagedSecretAndKeyFollowTheCertificate(t *testing.T) {
	e := newEnv(t)
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=m"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "m", vault.CertificateCreate{Policy: &policy}))
	_, err := e.svc.SetSecret(e.ctx, admin, "default", "m", vault.SecretInput{Value: vault.NewStringValue("x")})
	wantErr(t, err, vault.KindConflict, "certificate m")
	_, err = e.svc.CreateKey(e.ctx, admin, "default", "m", vault.KeyCreate{KeyType: "EC"})
	wantErr(t, err, vault.KindConflict, "certificate m")
	_, err = e.svc.DeleteSecret(e.ctx, admin, "default", "m")
	wantErr(t, err, vault.KindForbidden, "managed")
	_, err = e.svc.DeleteKey(e.ctx, admin, "default", "m")
	wantErr(t, err, vault.KindForbidden, "managed")
	_, err = e.svc.UpdateSecret(e.ctx, admin, "default", "m", "", vault.Update{Enabled: ptr(false)})
	wantErr(t, err, vault.KindForbidden, "managed")
	setSecret(t, e, "plain", "x")
	_, err = e.svc.CreateCertificate(e.ctx, admin, "default", "plain", vault.CertificateCreate{Policy: &policy})
	wantErr(t, err, vault.KindConflict, "secret named plain")

	must[vault.Certificate](t)(e.svc.DeleteCertificate(e.ctx, admin, "default", "m"))
	_, err = e.svc.GetSecret(e.ctx, admin, "default", "m", "")
	wantErr(t, err, vault.KindNotFound)
	_, err = e.svc.GetKey(e.ctx, admin, "default", "m", "")
	wantErr(t, err, vault.KindNotFound)
	if ds := must[vault.Secret](t)(e.svc.GetDeletedSecret(e.ctx, admin, "default", "m")); !ds.Managed || ds.Deleted == nil {
		t.Fatalf("deleted secret view = %+v", ds)
	}
	if dk := must[vault.Page[vault.Key]](t)(e.svc.ListDeletedKeys(e.ctx, admin, "default", vault.PageRequest{})); len(dk.Items) != 1 {
		t.Fatalf("deleted keys = %+v", dk.Items)
	}
	_, err = e.svc.CreateCertificate(e.ctx, admin, "default", "m", vault.CertificateCreate{Policy: &policy})
	wantErr(t, err, vault.KindConflict, "deleted but recoverable")
	_, err = e.svc.SetSecret(e.ctx, admin, "default", "m", vault.SecretInput{})
	wantErr(t, err, vault.KindConflict, "deleted but recoverable")
	must[vault.Certificate](t)(e.svc.RecoverCertificate(e.ctx, admin, "default", "m"))
	must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "m", ""))
	must[vault.Certificate](t)(e.svc.DeleteCertificate(e.ctx, admin, "default", "m"))
	if err := e.svc.PurgeCertificate(e.ctx, admin, "default", "m"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.GetDeletedSecret(e.ctx, admin, "default", "m")
	wantErr(t, err, vault.KindNotFound)
	setSecret(t, e, "m", "name is free again")
}

func TestCertificates_NonExportableKeyStaysInside(t *testing.T) {
	e := newEnv(t)
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=n"}, KeyProperties: &vault.KeyProperties{KeyType: "EC", Exportable: ptr(false)}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "n", vault.CertificateCreate{Policy: &policy}))
	sec := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "n", ""))
	raw, _ := base64.StdEncoding.DecodeString(sec.Value.Reveal())
	if _, _, err := pkcs12.Decode(raw, ""); err == nil {
		t.Fatal("non-exportable secret holds a private key")
	}
	if certs, err := pkcs12.DecodeTrustStore(raw, ""); err != nil || len(certs) != 1 {
		t.Fatalf("trust store: %v", err)
	}
	_, err := e.svc.DownloadCertificate(e.ctx, admin, "default", "n", "", vault.FormatPEM, vault.Value{})
	wantErr(t, err, vault.KindForbidden, "not exportable")
	digest := sha256.Sum256([]byte("x"))
	must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "n", "", "ES256", digest[:]))
	if blk, _ := pem.Decode([]byte(sec.Value.Reveal())); blk != nil {
		t.Fatal("pkcs12 secret is PEM")
	}
}
