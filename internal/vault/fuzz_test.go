package vault_test

import (
	"encoding/json"
	"testing"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
)

func FuzzImportCertificate(f *testing.F) {
	cert, key := testCert(f, "fuzz", pki.KeyTypeEC256)
	pfx, err := pki.EncodePFX(cert, key, nil, "pw")
	if err != nil {
		f.Fatal(err)
	}
	good := pemOf(f, cert, key)
	f.Add(pfx, "pw")
	f.Add(pfx, "")
	f.Add(good, "")
	f.Add(good[:len(good)/2], "")
	f.Add(cert.Raw, "")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), "")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		_, err := e.svc.ImportCertificate(e.ctx, admin, "default", "fuzz", vault.CertificateImport{Data: data, Password: vault.NewStringValue(password)})
		if err != nil && !vault.IsKind(err, vault.KindBadRequest) && !vault.IsKind(err, vault.KindUnsupported) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func FuzzDecodePolicy(f *testing.F) {
	full, _ := json.Marshal(vault.CertificatePolicy{
		KeyProperties:    &vault.KeyProperties{KeyType: "RSA", KeySize: 3072},
		SecretProperties: &vault.SecretProperties{ContentType: vault.ContentTypePEM},
		X509Properties:   &vault.X509Properties{Subject: "CN=a, O=b", SANs: &vault.SubjectAlternativeNames{DNSNames: []string{"a.example"}}, EKUs: []string{"1.3.6.1.5.5.7.3.1"}, KeyUsage: []string{"digitalSignature"}, ValidityMonths: 24},
		LifetimeActions:  []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{DaysBeforeExpiry: 30}, Action: vault.ActionType{ActionType: "AutoRenew"}}},
		Issuer:           &vault.IssuerParameters{Name: "Self"},
	})
	for _, s := range []string{string(full), `{}`, `{"issuer":{"name":"Unknown"}}`, `{"x509_props":{"validity_months":-1}}`, `{"lifetime_actions":[{"trigger":{},"action":{"action_type":"x"}}]}`, `{"extra":1}`, `{} {}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := vault.DecodePolicy(data)
		if err != nil {
			if !vault.IsKind(err, vault.KindBadRequest) && !vault.IsKind(err, vault.KindUnsupported) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// A normalized policy is a fixed point.
		again, err := p.Normalize()
		if err != nil {
			t.Fatalf("normalized policy fails normalization: %v", err)
		}
		a, _ := json.Marshal(p)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("not idempotent:\n%s\n%s", a, b)
		}
	})
}
