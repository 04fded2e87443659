package vault_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestGetSecretAs_ConvertsACertificatesSecretEitherWay(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, stored string
		exportable   bool
	}{
		{"pfx", vault.ContentTypePKCS12, true},
		{"pem", vault.ContentTypePEM, true},
		{"sealed-key", vault.ContentTypePKCS12, false},
	} {
		policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=" + tc.name}, KeyProperties: &vault.KeyProperties{KeyType: "EC", Exportable: ptr(tc.exportable)}, SecretProperties: &vault.SecretProperties{ContentType: tc.stored}}
		must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", tc.name, vault.CertificateCreate{Policy: &policy}))
		cert := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", tc.name, ""))

		t.Run(tc.name+" as PEM", func(t *testing.T) {
			sec := must[vault.Secret](t)(e.svc.GetSecretAs(e.ctx, admin, "default", tc.name, "", vault.ContentTypePEM))
			if sec.ContentType != vault.ContentTypePEM || !sec.Managed || sec.Version != cert.Version {
				t.Fatalf("content type %q managed %v version %s", sec.ContentType, sec.Managed, sec.Version)
			}
			var types []string
			rest := sec.Value.Bytes()
			for {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				types = append(types, b.Type)
				if b.Type == "CERTIFICATE" {
					if c, err := x509.ParseCertificate(b.Bytes); err != nil || string(c.Raw) != string(cert.CER) {
						t.Fatalf("PEM certificate differs: %v", err)
					}
				}
			}
			want := []string{"PRIVATE KEY", "CERTIFICATE"}
			if !tc.exportable {
				want = want[1:]
			}
			if len(types) != len(want) || types[0] != want[0] {
				t.Fatalf("PEM blocks %v, want %v", types, want)
			}
		})
		t.Run(tc.name+" as PKCS#12", func(t *testing.T) {
			sec := must[vault.Secret](t)(e.svc.GetSecretAs(e.ctx, admin, "default", tc.name, cert.Version, vault.ContentTypePKCS12))
			der, err := base64.StdEncoding.DecodeString(sec.Value.Reveal())
			if err != nil || sec.ContentType != vault.ContentTypePKCS12 {
				t.Fatalf("content type %q, base64: %v", sec.ContentType, err)
			}
			if !tc.exportable {
				certs, err := pkcs12.DecodeTrustStore(der, "")
				if err != nil || len(certs) != 1 {
					t.Fatalf("trust store: %d certificates, %v", len(certs), err)
				}
				return
			}
			key, c, err := pkcs12.Decode(der, "")
			if err != nil || key == nil || string(c.Raw) != string(cert.CER) {
				t.Fatalf("PKCS#12: %v", err)
			}
		})
	}

	setSecret(t, e, "plain", "v")
	reader := vault.Caller{Principal: guard.Principal{AppID: "reader"}}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "reader", Role: vault.RoleReader}))
	for _, tc := range []struct {
		name, secret, ct string
		c                vault.Caller
		kind             vault.ErrorKind
		part             string
	}{
		{"plain secret", "plain", vault.ContentTypePEM, admin, vault.KindBadRequest, "plain secret"},
		{"unknown format", "pfx", "application/json", admin, vault.KindBadRequest, "not supported"},
		{"missing", "nope", vault.ContentTypePEM, admin, vault.KindNotFound, "nope"},
		{"no getSecret permission", "pfx", vault.ContentTypePEM, reader, vault.KindForbidden, "secrets/getSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.GetSecretAs(e.ctx, tc.c, "default", tc.secret, "", tc.ct)
			wantErr(t, err, tc.kind, tc.part)
		})
	}
}
