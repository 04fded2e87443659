package kvapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestKeyVault_CompatibilityTable backs the compatibility table of
// docs/vault.md: the supported operations no other suite calls work, and
// every operation listed as not supported answers 501 NotImplemented with
// its reason (never 404 or 500).
func TestKeyVault_CompatibilityTable(t *testing.T) {
	e := startEnv(t, "")
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	certs := e.certificates(t, admin, pathForm)
	keys := e.keys(t, admin, pathForm)

	policy := azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
		KeyProperties:             &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256)},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=compat")},
	}
	createCertificate(t, certs, "compat", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy})
	k, err := keys.CreateKey(ctx, "compat-key", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("supported", func(t *testing.T) {
		up, err := certs.UpdateCertificatePolicy(ctx, "compat", azcertificates.CertificatePolicy{X509CertificateProperties: &azcertificates.X509CertificateProperties{ValidityInMonths: to.Ptr[int32](3)}}, nil)
		if err != nil || *up.X509CertificateProperties.ValidityInMonths != 3 {
			t.Fatalf("UpdateCertificatePolicy: %v", err)
		}
		versions := 0
		for p := keys.NewListKeyPropertiesVersionsPager("compat-key", nil); p.More(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NewListKeyPropertiesVersionsPager: %v", err)
			}
			versions += len(page.Value)
		}
		if versions != 1 {
			t.Fatalf("%d key versions", versions)
		}
		if _, err := keys.CreateKey(ctx, "compat-rotated", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOct), KeySize: to.Ptr[int32](256)}, nil); err != nil {
			t.Fatalf("CreateKey oct: %v", err)
		}
		if _, err := keys.UpdateKeyRotationPolicy(ctx, "compat-rotated", azkeys.KeyRotationPolicy{}, nil); err != nil {
			t.Fatalf("UpdateKeyRotationPolicy: %v", err)
		}
		if _, err := keys.GetKeyRotationPolicy(ctx, "compat-rotated", nil); err != nil {
			t.Fatalf("GetKeyRotationPolicy: %v", err)
		}
		if _, err := keys.RotateKey(ctx, "compat-rotated", nil); err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		if _, err := keys.DeleteKey(ctx, "compat-key", nil); err != nil {
			t.Fatal(err)
		}
		if d, err := keys.GetDeletedKey(ctx, "compat-key", nil); err != nil || d.Key.KID.Version() != k.Key.KID.Version() {
			t.Fatalf("GetDeletedKey: %v", err)
		}
		if _, err := certs.DeleteCertificate(ctx, "compat", nil); err != nil {
			t.Fatal(err)
		}
		deleted := map[string]bool{}
		for p := keys.NewListDeletedKeyPropertiesPager(nil); p.More(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NewListDeletedKeyPropertiesPager: %v", err)
			}
			for _, d := range page.Value {
				deleted["key "+d.KID.Name()] = true
			}
		}
		for p := certs.NewListDeletedCertificatePropertiesPager(nil); p.More(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NewListDeletedCertificatePropertiesPager: %v", err)
			}
			for _, d := range page.Value {
				deleted["certificate "+d.ID.Name()] = true
			}
		}
		if !deleted["key compat-key"] || !deleted["key compat"] || !deleted["certificate compat"] {
			t.Fatalf("deleted listings: %v", deleted)
		}
	})

	notYet := []struct {
		name string
		call func() error
	}{
		{"azkeys.Release", func() error {
			_, err := keys.Release(ctx, "any", "", azkeys.ReleaseParameters{TargetAttestationToken: to.Ptr("t")}, nil)
			return err
		}},
		{"azkeys.GetKeyAttestation", func() error { _, err := keys.GetKeyAttestation(ctx, "any", "", nil); return err }},
	}
	for _, op := range notYet {
		t.Run("501 "+op.name, func(t *testing.T) {
			respErr(t, op.call(), http.StatusNotImplemented, "NotImplemented")
		})
	}
}
