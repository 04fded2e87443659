package kvapi

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// FuzzPendingBodies decodes arbitrary merge and cancel bodies and applies
// them to a real pending operation: every outcome is a success or a 4xx
// with a message (a random x5c never completes the operation).
func FuzzPendingBodies(f *testing.F) {
	ctx := context.Background()
	svc := newTestService(f, vaulttest.NewMemoryStore())
	admin := vault.Caller{Admin: true}
	if _, err := svc.CreateCertificate(ctx, admin, vault.DefaultVault, "p", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
		X509Properties: &vault.X509Properties{Subject: "CN=p"},
		Issuer:         &vault.IssuerParameters{Name: vault.IssuerUnknown},
	}}); err != nil {
		f.Fatal(err)
	}
	f.Add(`{"x5c":["`+base64.StdEncoding.EncodeToString([]byte("not a certificate"))+`"],"attributes":{"enabled":true},"tags":{"a":"b"}}`, false)
	f.Add(`{"x5c":["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]}`, false)
	f.Add(`{"x5c":[]}`, false)
	f.Add(`{"x5c":["!!"],"attributes":{"exp":1}}`, false)
	f.Add(`{"cancellation_requested":false}`, true)
	f.Add(`{"cancellation_requested":"yes"}`, true)
	f.Add(`{}`, true)
	f.Fuzz(func(t *testing.T, body string, cancel bool) {
		if cancel {
			c, err := parseOperationUpdate([]byte(body))
			isClientError(t, err)
			if err == nil && !c {
				_, err = svc.UpdateCertificateOperation(ctx, admin, vault.DefaultVault, "p", c)
				isClientError(t, err)
			}
			return
		}
		in, err := parseMerge([]byte(body))
		isClientError(t, err)
		if err != nil {
			return
		}
		_, err = svc.MergeCertificate(ctx, admin, vault.DefaultVault, "p", in)
		if err == nil {
			t.Fatal("a fuzzed x5c completed the pending operation")
		}
		isClientError(t, err)
	})
}
