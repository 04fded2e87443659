package kvapi_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"
)

func TestKeyVault_CertificateSecretAsPEMThroughAzsecrets(t *testing.T) {
	onEveryBackend(t, certificateSecretAsPEM)
}

func certificateSecretAsPEM(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	secrets := e.secrets(t, admin, pathForm)
	certs := e.certificates(t, admin, pathForm)
	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
		KeyProperties:             &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeRSA), KeySize: to.Ptr[int32](2048), Exportable: to.Ptr(true)},
		SecretProperties:          &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pkcs12")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=pem.example.test")},
	}
	createCertificate(t, certs, "pfx-cert", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy})
	if _, err := secrets.SetSecret(ctx, "plain", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}

	t.Run("PFX certificate read as PEM", func(t *testing.T) {
		got, err := secrets.GetSecret(ctx, "pfx-cert", "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePEM)})
		if err != nil {
			t.Fatalf("GetSecret(outContentType=PEM): %v", err)
		}
		if *got.ContentType != string(azsecrets.ContentTypePEM) {
			t.Fatalf("content type %q", *got.ContentType)
		}
		key, rest := pem.Decode([]byte(*got.Value))
		cert, _ := pem.Decode(rest)
		if key == nil || key.Type != "PRIVATE KEY" || cert == nil || cert.Type != "CERTIFICATE" {
			t.Fatalf("PEM is not key then certificate: %.60q", *got.Value)
		}
	})

	t.Run("asking for PKCS#12 returns the stored format", func(t *testing.T) {
		got, err := secrets.GetSecret(ctx, "pfx-cert", "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePFX)})
		if err != nil {
			t.Fatal(err)
		}
		der, err := base64.StdEncoding.DecodeString(*got.Value)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := pkcs12.Decode(der, ""); err != nil {
			t.Fatalf("PKCS#12: %v", err)
		}
	})

	t.Run("a plain secret is refused", func(t *testing.T) {
		_, err := secrets.GetSecret(ctx, "plain", "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePEM)})
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "plain secret") {
			t.Fatalf("message %q", msg)
		}
	})

	t.Run("wire: unknown format refused, 7.x ignores the parameter", func(t *testing.T) {
		tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, "https://localhost:"+e.port+"/.default")
		u := e.pathURL("default") + "/secrets/pfx-cert?outContentType="
		status, _, body := e.raw(t, http.MethodGet, u+"text%2Fplain&api-version=2025-07-01", tok, "", nil)
		if code, msg := errCode(body); status != 400 || code != "BadParameter" || !strings.Contains(msg, "not supported") {
			t.Fatalf("%d %s %q", status, code, msg)
		}
		status, _, body = e.raw(t, http.MethodGet, u+"application%2Fx-pem-file&api-version=7.6", tok, "", nil)
		if status != 200 || body["contentType"] != "application/x-pkcs12" {
			t.Fatalf("7.6: %d contentType %v", status, body["contentType"])
		}
	})
}
