package kvapi_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
)

// maxResults is an azcore policy that asks list operations for small pages
// (the SDKs expose no option for Key Vault's maxresults); nextLink keeps it.
type maxResults int

func (m maxResults) Do(req *policy.Request) (*http.Response, error) {
	u := req.Raw().URL
	if req.Raw().Method == http.MethodGet && (strings.HasSuffix(u.Path, "/versions") || strings.HasSuffix(u.Path, "/secrets") || strings.HasSuffix(u.Path, "/certificates")) && u.Query().Get("maxresults") == "" {
		q := u.Query()
		q.Set("maxresults", fmt.Sprint(int(m)))
		u.RawQuery = q.Encode()
	}
	return req.Next()
}

func TestKeyVault_SecretsThroughAzsecrets(t *testing.T) { onEveryBackend(t, secretsThroughAzsecrets) }

func secretsThroughAzsecrets(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())

	for _, f := range []form{pathForm, hostForm} {
		name := map[form]string{pathForm: "path-form", hostForm: "host-form"}[f]
		t.Run("set and get in "+name+" (challenge, token, resource verification)", func(t *testing.T) {
			c := e.secrets(t, admin, f)
			set, err := c.SetSecret(ctx, "hello-"+name, azsecrets.SetSecretParameters{Value: to.Ptr("world"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
			if err != nil {
				t.Fatalf("SetSecret: %v", err)
			}
			if set.ID.Name() != "hello-"+name || len(set.ID.Version()) != 32 || *set.Value != "world" {
				t.Fatalf("set: id %s value %v", *set.ID, set.Value)
			}
			if !strings.HasPrefix(string(*set.ID), e.hostURL("default")+"/secrets/") {
				t.Fatalf("id %s is not in host form", *set.ID)
			}
			got, err := c.GetSecret(ctx, "hello-"+name, "", nil)
			if err != nil {
				t.Fatalf("GetSecret: %v", err)
			}
			if *got.Value != "world" || *got.ContentType != "text/plain" || *got.Tags["env"] != "test" || !*got.Attributes.Enabled || got.Attributes.Created == nil {
				t.Fatalf("got %+v", got.Secret)
			}
		})
	}

	t.Run("path form without DisableChallengeResourceVerification is refused by the SDK", func(t *testing.T) {
		c, err := azsecrets.NewClient(e.pathURL("default"), admin, &azsecrets.ClientOptions{ClientOptions: e.azOptions(e.hc)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSecret(ctx, "hello-path-form", "", nil)
		if err == nil || !strings.Contains(err.Error(), "DisableChallengeResourceVerification") {
			t.Fatalf("want the SDK's resource verification error, got %v", err)
		}
	})

	c := e.secrets(t, admin, pathForm, maxResults(5))
	const versions = 12
	t.Run("versions page across several pages with maxresults", func(t *testing.T) {
		var want []string
		for i := range versions {
			r, err := c.SetSecret(ctx, "rotated", azsecrets.SetSecretParameters{Value: to.Ptr(fmt.Sprintf("v%d", i))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, r.ID.Version())
		}
		pager := c.NewListSecretPropertiesVersionsPager("rotated", nil)
		var got []string
		pages := 0
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			pages++
			if len(page.Value) > 5 {
				t.Fatalf("page of %d items with maxresults=5", len(page.Value))
			}
			for _, p := range page.Value {
				if p.ID.Name() != "rotated" {
					t.Fatalf("ID.Name() = %q", p.ID.Name())
				}
				got = append(got, p.ID.Version())
			}
		}
		if pages != 3 || !slices.Equal(got, want) {
			t.Fatalf("%d pages, versions %v; want 3 pages, %v", pages, got, want)
		}
		latest, err := c.GetSecret(ctx, "rotated", "", nil)
		if err != nil || *latest.Value != fmt.Sprintf("v%d", versions-1) || latest.ID.Version() != want[versions-1] {
			t.Fatalf("latest: %v %v", latest.Value, err)
		}
		first, err := c.GetSecret(ctx, "rotated", want[0], nil)
		if err != nil || *first.Value != "v0" {
			t.Fatalf("first version: %v %v", first.Value, err)
		}
	})

	t.Run("list secrets and disable a version", func(t *testing.T) {
		pager := c.NewListSecretPropertiesPager(nil)
		var names []string
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Value {
				names = append(names, p.ID.Name())
			}
		}
		if !slices.Contains(names, "rotated") || !slices.Contains(names, "hello-path-form") {
			t.Fatalf("names %v", names)
		}
		upd, err := c.UpdateSecretProperties(ctx, "hello-path-form", "", azsecrets.UpdateSecretPropertiesParameters{SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil)
		if err != nil || *upd.Attributes.Enabled {
			t.Fatalf("disable: %v", err)
		}
		_, err = c.GetSecret(ctx, "hello-path-form", "", nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
	})

	t.Run("delete, recover, delete, purge", func(t *testing.T) {
		del, err := c.DeleteSecret(ctx, "rotated", nil)
		if err != nil {
			t.Fatal(err)
		}
		if del.RecoveryID == nil || !strings.HasSuffix(*del.RecoveryID, "/deletedsecrets/rotated") || del.ScheduledPurgeDate == nil || del.DeletedDate == nil {
			t.Fatalf("deleted: %+v", del.DeletedSecret)
		}
		_, err = c.GetSecret(ctx, "rotated", "", nil)
		respErr(t, err, http.StatusNotFound, "SecretNotFound")
		_, err = c.SetSecret(ctx, "rotated", azsecrets.SetSecretParameters{Value: to.Ptr("again")}, nil)
		if msg := respErr(t, err, http.StatusConflict, "Conflict"); !strings.Contains(msg, "deleted but recoverable") {
			t.Fatalf("conflict message %q", msg)
		}
		found := false
		for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range page.Value {
				found = found || d.ID.Name() == "rotated"
			}
		}
		if !found {
			t.Fatal("deleted secret not listed")
		}
		if _, err := c.RecoverDeletedSecret(ctx, "rotated", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := c.GetSecret(ctx, "rotated", "", nil); err != nil || *got.Value != fmt.Sprintf("v%d", versions-1) {
			t.Fatalf("after recover: %v", err)
		}
		if _, err := c.DeleteSecret(ctx, "rotated", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetDeletedSecret(ctx, "rotated", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PurgeDeletedSecret(ctx, "rotated", nil); err != nil {
			t.Fatalf("purge: %v", err)
		}
		_, err = c.GetDeletedSecret(ctx, "rotated", nil)
		respErr(t, err, http.StatusNotFound, "SecretNotFound")
		if _, err := c.SetSecret(ctx, "rotated", azsecrets.SetSecretParameters{Value: to.Ptr("reborn")}, nil); err != nil {
			t.Fatalf("name reusable after purge: %v", err)
		}
	})
}

func TestKeyVault_CertificatesThroughAzcertificates(t *testing.T) {
	onEveryBackend(t, certificatesThroughAzcertificates)
}

func certificatesThroughAzcertificates(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	certs := e.certificates(t, admin, pathForm)
	secrets := e.secrets(t, admin, pathForm)
	keys := e.keys(t, admin, pathForm)

	key, err := pki.GenerateKey(pki.KeyTypeRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pki.ParseSubject("CN=orders-client")
	leaf, err := pki.SelfSigned(subject, key, 90*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pki.EncodePFX(leaf, key, nil, "s3cret!")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("import a PFX and read it back as certificate, secret and key", func(t *testing.T) {
		_, err := certs.ImportCertificate(ctx, "orders-client", azcertificates.ImportCertificateParameters{
			Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), Password: to.Ptr("wrong")}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "password") {
			t.Fatalf("wrong password message %q", msg)
		}
		imp, err := certs.ImportCertificate(ctx, "orders-client", azcertificates.ImportCertificateParameters{
			Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), Password: to.Ptr("s3cret!"),
			Tags: map[string]*string{"owner": to.Ptr("orders")}}, nil)
		if err != nil {
			t.Fatalf("ImportCertificate: %v", err)
		}
		sum := sha1.Sum(leaf.Raw)
		if !slices.Equal(imp.CER, leaf.Raw) || !slices.Equal(imp.X509Thumbprint, sum[:]) || imp.ID.Name() != "orders-client" {
			t.Fatalf("imported bundle: id %v x5t %x", imp.ID, imp.X509Thumbprint)
		}
		got, err := certs.GetCertificate(ctx, "orders-client", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.CER, leaf.Raw) || got.Policy == nil || *got.Policy.IssuerParameters.Name != "Unknown" || *got.SID == "" || *got.KID == "" {
			t.Fatalf("GetCertificate: %+v", got.Certificate)
		}
		sec, err := secrets.GetSecret(ctx, "orders-client", "", nil)
		if err != nil {
			t.Fatalf("certificate as secret: %v", err)
		}
		if !*sec.Managed || *sec.ContentType != "application/x-pkcs12" || sec.KID == nil {
			t.Fatalf("secret view: %+v", sec.Secret)
		}
		raw, err := base64.StdEncoding.DecodeString(*sec.Value)
		if err != nil {
			t.Fatal(err)
		}
		pk, cert, _, err := pkcs12.DecodeChain(raw, "")
		if err != nil {
			t.Fatalf("secret value is not a password-less PFX: %v", err)
		}
		if !cert.Equal(leaf) || !pk.(*rsa.PrivateKey).Equal(key) {
			t.Fatal("the PFX from the secret holds another certificate or key")
		}
		k, err := keys.GetKey(ctx, "orders-client", "", nil)
		if err != nil {
			t.Fatalf("certificate as key: %v", err)
		}
		if !*k.Managed || new(big.Int).SetBytes(k.Key.N).Cmp(key.Public().(*rsa.PublicKey).N) != 0 {
			t.Fatal("key view does not carry the certificate's public key")
		}
		_, err = secrets.SetSecret(ctx, "orders-client", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
		respErr(t, err, http.StatusConflict, "")
	})

	t.Run("create a self-signed certificate and poll its operation", func(t *testing.T) {
		created, err := certs.CreateCertificate(ctx, "api-tls", azcertificates.CreateCertificateParameters{
			CertificatePolicy: &azcertificates.CertificatePolicy{
				IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
				KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256), Exportable: to.Ptr(true)},
				SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")},
				X509CertificateProperties: &azcertificates.X509CertificateProperties{
					Subject: to.Ptr("CN=api.example.test"), ValidityInMonths: to.Ptr[int32](6),
					SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{DNSNames: []*string{to.Ptr("api.example.test")}},
				},
				LifetimeActions: []*azcertificates.LifetimeAction{{
					Action:  &azcertificates.LifetimeActionType{ActionType: to.Ptr(azcertificates.CertificatePolicyActionAutoRenew)},
					Trigger: &azcertificates.LifetimeActionTrigger{DaysBeforeExpiry: to.Ptr[int32](30)},
				}},
			},
		}, nil)
		if err != nil {
			t.Fatalf("CreateCertificate: %v", err)
		}
		// As in Key Vault, the answer is the operation inProgress (202,
		// Location of the operation); polling it sees it completed.
		if created.ID == nil || created.Status == nil || *created.Status != "inProgress" || created.Target == nil {
			t.Fatalf("operation: %+v", created.CertificateOperation)
		}
		op := pollCertificateOperation(t, certs, "api-tls")
		if op.Status == nil || *op.Status != "completed" || op.Target == nil || !strings.HasSuffix(*op.Target, "/certificates/api-tls") || len(op.CSR) == 0 {
			t.Fatalf("operation: %+v", op.CertificateOperation)
		}
		got, err := certs.GetCertificate(ctx, "api-tls", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(got.CER)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != "api.example.test" || !slices.Contains(cert.DNSNames, "api.example.test") {
			t.Fatalf("issued %s %v", cert.Subject, cert.DNSNames)
		}
		if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Fatalf("key type %T", cert.PublicKey)
		}
		pol, err := certs.GetCertificatePolicy(ctx, "api-tls", nil)
		if err != nil || *pol.X509CertificateProperties.Subject != "CN=api.example.test" || len(pol.LifetimeActions) != 1 {
			t.Fatalf("policy: %v", err)
		}
		sec, err := secrets.GetSecret(ctx, "api-tls", "", nil)
		if err != nil || !strings.Contains(*sec.Value, "PRIVATE KEY") || !strings.Contains(*sec.Value, "BEGIN CERTIFICATE") {
			t.Fatalf("PEM secret view: %v", err)
		}
		// A second version through create with the stored policy.
		createCertificate(t, certs, "api-tls", azcertificates.CreateCertificateParameters{})
		n := 0
		for pager := certs.NewListCertificatePropertiesVersionsPager("api-tls", nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		if n != 2 {
			t.Fatalf("%d versions, want 2", n)
		}
	})

	t.Run("list, update, delete, recover, purge", func(t *testing.T) {
		var names []string
		for pager := certs.NewListCertificatePropertiesPager(nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Value {
				names = append(names, c.ID.Name())
			}
		}
		if !slices.Equal(names, []string{"api-tls", "orders-client"}) {
			t.Fatalf("certificates %v", names)
		}
		upd, err := certs.UpdateCertificate(ctx, "orders-client", "", azcertificates.UpdateCertificateParameters{Tags: map[string]*string{"owner": to.Ptr("billing")}}, nil)
		if err != nil || *upd.Tags["owner"] != "billing" {
			t.Fatalf("update: %v", err)
		}
		del, err := certs.DeleteCertificate(ctx, "orders-client", nil)
		if err != nil || del.RecoveryID == nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = secrets.GetSecret(ctx, "orders-client", "", nil)
		respErr(t, err, http.StatusNotFound, "SecretNotFound")
		if _, err := certs.RecoverDeletedCertificate(ctx, "orders-client", nil); err != nil {
			t.Fatalf("recover: %v", err)
		}
		if _, err := secrets.GetSecret(ctx, "orders-client", "", nil); err != nil {
			t.Fatalf("secret after recover: %v", err)
		}
		if _, err := certs.DeleteCertificate(ctx, "orders-client", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := certs.GetDeletedCertificate(ctx, "orders-client", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := certs.PurgeDeletedCertificate(ctx, "orders-client", nil); err != nil {
			t.Fatalf("purge: %v", err)
		}
		_, err = certs.GetDeletedCertificate(ctx, "orders-client", nil)
		respErr(t, err, http.StatusNotFound, "CertificateNotFound")
	})

	t.Run("create answers 202 with the operation inProgress and where to poll it", func(t *testing.T) {
		tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, "https://localhost:"+e.port+"/.default")
		body := []byte(`{"policy":{"issuer":{"name":"Self"},"key_props":{"kty":"EC","crv":"P-256"},"x509_props":{"subject":"CN=wire.example.test"}}}`)
		status, h, op := e.raw(t, http.MethodPost, e.pathURL("default")+"/certificates/wire-op/create?api-version=7.6", tok, "application/json", body)
		loc, _ := url.Parse(h.Get("Location"))
		if status != http.StatusAccepted || op["status"] != "inProgress" || h.Get("Retry-After") == "" || loc == nil ||
			!strings.HasSuffix(loc.Path, "/certificates/wire-op/pending") || loc.Query().Get("request_id") == "" || loc.Query().Get("request_id") != op["request_id"] {
			t.Fatalf("create: %d, Location %q, Retry-After %q, %v", status, h.Get("Location"), h.Get("Retry-After"), op)
		}
		if done := pollCertificateOperation(t, certs, "wire-op"); *done.RequestID != op["request_id"] || done.Target == nil {
			t.Fatalf("completed operation %+v, created with request_id %v", done.CertificateOperation, op["request_id"])
		}
		// Once completed, the operation no longer blocks a new version.
		createCertificate(t, certs, "wire-op", azcertificates.CreateCertificateParameters{})
	})
}

func TestKeyVault_KeysThroughAzkeys(t *testing.T) { onEveryBackend(t, keysThroughAzkeys) }

func keysThroughAzkeys(t *testing.T, e *env) {
	ctx := context.Background()
	officer := e.newApp(t, "crypto-officer")
	e.assign(t, officer.AppID, vault.RoleCryptoOfficer, "")
	keys := e.keys(t, e.secretCredential(t, officer), hostForm)

	digest := sha256.Sum256([]byte("payload"))
	tests := []struct {
		name string
		kty  azkeys.KeyType
		size int32
		crv  azkeys.CurveName
		alg  azkeys.SignatureAlgorithm
	}{
		{"rsa-2048", azkeys.KeyTypeRSA, 2048, "", azkeys.SignatureAlgorithmRS256},
		{"rsa-pss", azkeys.KeyTypeRSA, 3072, "", azkeys.SignatureAlgorithmPS256},
		{"ec-p256", azkeys.KeyTypeEC, 0, azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256},
	}
	for _, tc := range tests {
		t.Run("create and sign/verify "+tc.name, func(t *testing.T) {
			params := azkeys.CreateKeyParameters{Kty: to.Ptr(tc.kty)}
			if tc.size != 0 {
				params.KeySize = to.Ptr(tc.size)
			}
			if tc.crv != "" {
				params.Curve = to.Ptr(tc.crv)
			}
			created, err := keys.CreateKey(ctx, tc.name, params, nil)
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			if created.Key.KID.Name() != tc.name || created.Key.D != nil {
				t.Fatalf("created %v (private member present: %v)", *created.Key.KID, created.Key.D != nil)
			}
			// Version-less sign: the SDK sends /keys/{name}//sign.
			sig, err := keys.Sign(ctx, tc.name, "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: digest[:]}, nil)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if sig.KID.Version() != created.Key.KID.Version() {
				t.Fatalf("signed with %v, created %v", *sig.KID, *created.Key.KID)
			}
			ver, err := keys.Verify(ctx, tc.name, created.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(tc.alg), Digest: digest[:], Signature: sig.Result}, nil)
			if err != nil || !*ver.Value {
				t.Fatalf("Verify: %v %v", ver.Value, err)
			}
			bad := slices.Clone(sig.Result)
			bad[0] ^= 1
			ver, err = keys.Verify(ctx, tc.name, "", azkeys.VerifyParameters{Algorithm: to.Ptr(tc.alg), Digest: digest[:], Signature: bad}, nil)
			if err != nil || *ver.Value {
				t.Fatalf("tampered signature verified: %v %v", ver.Value, err)
			}
			// The signature verifies locally with the published public key.
			switch tc.kty {
			case azkeys.KeyTypeRSA:
				pub := &rsa.PublicKey{N: new(big.Int).SetBytes(created.Key.N), E: int(new(big.Int).SetBytes(created.Key.E).Int64())}
				if tc.alg == azkeys.SignatureAlgorithmPS256 {
					err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig.Result, nil)
				} else {
					err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig.Result)
				}
			case azkeys.KeyTypeEC:
				pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, created.Key.X...), created.Key.Y...))
				if perr != nil {
					t.Fatalf("created EC key: %v", perr)
				}
				if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
					err = fmt.Errorf("ecdsa signature does not verify")
				}
			}
			if err != nil {
				t.Fatalf("local verification: %v", err)
			}
		})
	}

	t.Run("encrypt/decrypt and wrap/unwrap", func(t *testing.T) {
		enc, err := keys.Encrypt(ctx, "rsa-2048", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("attack at dawn")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := keys.Decrypt(ctx, "rsa-2048", enc.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: enc.Result}, nil)
		if err != nil || string(dec.Result) != "attack at dawn" {
			t.Fatalf("decrypt: %q %v", dec.Result, err)
		}
		cek := []byte("0123456789abcdef0123456789abcdef")
		w, err := keys.WrapKey(ctx, "rsa-2048", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: cek}, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := keys.UnwrapKey(ctx, "rsa-2048", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: w.Result}, nil)
		if err != nil || !slices.Equal(u.Result, cek) {
			t.Fatalf("unwrap: %v", err)
		}
		_, err = keys.Encrypt(ctx, "rsa-2048", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: []byte("x"), IV: []byte("0123456789ab")}, nil)
		respErr(t, err, http.StatusBadRequest, "BadParameter")
	})

	t.Run("import, list, update, delete, recover, purge", func(t *testing.T) {
		priv, _ := ecdsa.GenerateKey(elliptic.P384(), nil)
		d, _ := priv.Bytes()
		xy, _ := priv.PublicKey.Bytes() // 0x04 || X || Y
		if _, err := keys.ImportKey(ctx, "imported", azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{
			Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP384),
			D: d, X: xy[1:49], Y: xy[49:],
		}}, nil); err != nil {
			t.Fatalf("ImportKey: %v", err)
		}
		var names []string
		for pager := keys.NewListKeyPropertiesPager(nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range page.Value {
				names = append(names, k.KID.Name())
			}
		}
		if !slices.Equal(names, []string{"ec-p256", "imported", "rsa-2048", "rsa-pss"}) {
			t.Fatalf("keys %v", names)
		}
		upd, err := keys.UpdateKey(ctx, "imported", "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationVerify)}}, nil)
		if err != nil || len(upd.Key.KeyOps) != 1 {
			t.Fatalf("update: %v", err)
		}
		digest384 := make([]byte, 48)
		_, err = keys.Sign(ctx, "imported", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES384), Value: digest384}, nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
		if _, err := keys.DeleteKey(ctx, "imported", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.RecoverDeletedKey(ctx, "imported", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.DeleteKey(ctx, "imported", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.PurgeDeletedKey(ctx, "imported", nil); err != nil {
			t.Fatalf("purge: %v", err)
		}
		_, err = keys.GetKey(ctx, "imported", "", nil)
		respErr(t, err, http.StatusNotFound, "KeyNotFound")
	})
}

func TestKeyVault_RBACAndWireErrors(t *testing.T) { onEveryBackend(t, rBACAndWireErrors) }

func rBACAndWireErrors(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	if _, err := e.secrets(t, admin, pathForm).SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("hunter2")}, nil); err != nil {
		t.Fatal(err)
	}
	reader := e.newApp(t, "secret-reader")
	e.assign(t, reader.AppID, vault.RoleSecretsUser, "")
	nobody := e.newApp(t, "no-role")

	// The role-less client authenticates with a certificate.
	ckey, _ := pki.GenerateKey(pki.KeyTypeRSA2048)
	csub, _ := pki.ParseSubject("CN=no-role")
	ccert, err := pki.SelfSigned(csub, ckey, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.adminCall(t, "POST", "/tenants/default/applications/no-role/keyCredentials", map[string]any{"certificate": base64.StdEncoding.EncodeToString(ccert.Raw)}, nil)
	certCred, err := azidentity.NewClientCertificateCredential(e.cred.TenantID, nobody.AppID, []*x509.Certificate{ccert}, ckey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: e.azOptions(e.hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("caller without a role gets 403 naming the role", func(t *testing.T) {
		_, err := e.secrets(t, certCred, pathForm).GetSecret(ctx, "db-password", "", nil)
		if msg := respErr(t, err, http.StatusForbidden, "Forbidden"); !strings.Contains(msg, vault.RoleSecretsUser) {
			t.Fatalf("message does not name %q: %s", vault.RoleSecretsUser, msg)
		}
	})
	t.Run("Secrets User reads but cannot write", func(t *testing.T) {
		c := e.secrets(t, e.secretCredential(t, reader), pathForm)
		got, err := c.GetSecret(ctx, "db-password", "", nil)
		if err != nil || *got.Value != "hunter2" {
			t.Fatalf("get: %v", err)
		}
		_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
		if msg := respErr(t, err, http.StatusForbidden, "Forbidden"); !strings.Contains(msg, vault.RoleSecretsOfficer) {
			t.Fatalf("message does not name %q: %s", vault.RoleSecretsOfficer, msg)
		}
	})

	vaultScope := "https://localhost:" + e.port + "/.default"
	tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, vaultScope)
	secretsURL := e.pathURL("default") + "/secrets"

	t.Run("the client's request id reaches the response and the audit log", func(t *testing.T) {
		req, _ := http.NewRequest("GET", secretsURL+"/db-password?api-version=7.4", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("x-ms-client-request-id", "kvapi-audit-0001")
		res, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("x-ms-request-id") != "kvapi-audit-0001" {
			t.Fatalf("%d, x-ms-request-id %q", res.StatusCode, res.Header.Get("x-ms-request-id"))
		}
		recs, err := e.srv.Vault().AuditLog(ctx, vault.Caller{Admin: true}, "default", 100)
		if err != nil {
			t.Fatal(err)
		}
		found := slices.ContainsFunc(recs, func(r vault.AuditRecord) bool {
			return r.RequestID == "kvapi-audit-0001" && r.Name == "db-password" && r.AppID == e.cred.ClientID && r.Operation == string(vault.PermSecretsGet) && r.Outcome == vault.OutcomeSuccess
		})
		if !found {
			t.Fatalf("no audit record with the request id among %d records", len(recs))
		}
		denied := slices.ContainsFunc(recs, func(r vault.AuditRecord) bool { return r.AppID == nobody.AppID && r.Outcome == vault.OutcomeDenied })
		if !denied {
			t.Fatal("the 403 of the role-less caller was not audited as denied")
		}
	})

	t.Run("401 challenge shape", func(t *testing.T) {
		for _, token := range []string{"", "not-a-jwt", e.token(t, e.cred.ClientID, e.cred.ClientSecret, e.cred.Scope)} {
			status, h, body := e.raw(t, "GET", secretsURL+"?api-version=7.4", token, "", nil)
			want := fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, e.base, e.cred.TenantID, e.base)
			if code, _ := errCode(body); status != http.StatusUnauthorized || code != "Unauthorized" || h.Get("WWW-Authenticate") != want {
				t.Fatalf("token %.10q: %d %s %q; want 401 with %q", token, status, code, h.Get("WWW-Authenticate"), want)
			}
			if h.Get("x-ms-request-id") == "" {
				t.Fatal("no x-ms-request-id")
			}
		}
		_, h, _ := e.raw(t, "GET", e.pathURL("default")+"/secrets?api-version=7.4", "", "", nil)
		if !strings.Contains(h.Get("WWW-Authenticate"), `resource="`+e.base+`"`) {
			t.Fatalf("challenge %q", h.Get("WWW-Authenticate"))
		}
		// A client's first request, without a token, only learns the challenge: logged at Debug, a rejected
		// token at Info.
		logs := e.logs.String()
		for _, want := range []string{
			`level=DEBUG msg="key vault request refused"`,
			`level=INFO msg="key vault request refused"`,
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("the server log has no %s line", want)
			}
		}
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "level=INFO") && strings.Contains(line, "AKV10000") {
				t.Errorf("a request without a token was logged at Info: %s", line)
			}
		}
	})

	t.Run("wire errors", func(t *testing.T) {
		big := `{"value":"` + strings.Repeat("a", 300<<10) + `"}`
		tests := []struct {
			name, method, url, ct, body string
			status                      int
			code                        string
		}{
			{"api-version missing", "GET", secretsURL, "", "", 400, "BadParameter"},
			{"api-version unknown", "GET", secretsURL + "?api-version=6.0", "", "", 400, "BadParameter"},
			{"maxresults too large", "GET", secretsURL + "?api-version=7.4&maxresults=26", "", "", 400, "BadParameter"},
			{"skip token garbage", "GET", secretsURL + "?api-version=7.4&$skiptoken=abc", "", "", 400, "BadParameter"},
			{"unknown path", "GET", e.pathURL("default") + "/widgets?api-version=7.4", "", "", 404, "NotFound"},
			{"unknown vault", "GET", e.pathURL("nosuchvault") + "/secrets?api-version=7.4", "", "", 404, "VaultNotFound"},
			{"invalid name", "GET", secretsURL + "/bad_name?api-version=7.4", "", "", 400, "BadParameter"},
			{"method not allowed", "POST", secretsURL + "/x/versions?api-version=7.4", "application/json", "{}", 405, "MethodNotAllowed"},
			{"no content type", "PUT", secretsURL + "/x?api-version=7.4", "", `{"value":"v"}`, 415, "UnsupportedMediaType"},
			{"wrong content type", "PUT", secretsURL + "/x?api-version=7.4", "text/plain", `{"value":"v"}`, 415, "UnsupportedMediaType"},
			{"malformed JSON", "PUT", secretsURL + "/x?api-version=7.4", "application/json", `{"value":`, 400, "BadParameter"},
			{"value missing", "PUT", secretsURL + "/x?api-version=7.4", "application/json", `{}`, 400, "BadParameter"},
			{"value wrong type", "PUT", secretsURL + "/x?api-version=7.4", "application/json", `{"value":5}`, 400, "BadParameter"},
			{"body too large", "PUT", secretsURL + "/x?api-version=7.4", "application/json", big, 413, "RequestEntityTooLarge"},
			{"value over 25 KiB", "PUT", secretsURL + "/x?api-version=7.4", "application/json", `{"value":"` + strings.Repeat("a", 26000) + `"}`, 400, "BadParameter"},
			{"unknown version", "GET", secretsURL + "/db-password/00000000000000000000000000000000?api-version=7.4", "", "", 404, "SecretNotFound"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := e.raw(t, tc.method, tc.url, tok, tc.ct, []byte(tc.body))
				code, msg := errCode(body)
				if status != tc.status || code != tc.code || msg == "" {
					t.Fatalf("%d %s %q; want %d %s", status, code, msg, tc.status, tc.code)
				}
			})
		}
	})

	// The api-version values real SDKs send, previews included: Debian's
	// Python azure-keyvault-keys 4.8.0b3 sends 7.4-preview.1 (Azure Key Vault
	// accepts it), and a refusal made every call of that client fail.
	t.Run("api-version previews the SDKs send", func(t *testing.T) {
		tests := []struct {
			version string
			status  int
		}{
			{"7.4-preview.1", 200},
			{"7.5-preview.1", 200},
			{"7.6-preview.2", 200},
			{"7.3-preview", 200},
			{"2025-07-01-preview", 200},
			{"7.4-preview.x", 400},
			{"6.0-preview.1", 400},
		}
		for _, tc := range tests {
			t.Run(tc.version, func(t *testing.T) {
				status, _, body := e.raw(t, "GET", secretsURL+"?api-version="+tc.version, tok, "", nil)
				if status != tc.status {
					t.Fatalf("%d %v; want %d", status, body, tc.status)
				}
				if code, msg := errCode(body); tc.status == 400 && (code != "BadParameter" || !strings.Contains(msg, tc.version)) {
					t.Fatalf("%s %q: want BadParameter naming the version", code, msg)
				}
			})
		}
	})

	t.Run("tampered nextLink is refused with 400", func(t *testing.T) {
		for i := range 3 {
			if _, err := e.secrets(t, admin, pathForm).SetSecret(ctx, fmt.Sprintf("s%d", i), azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
				t.Fatal(err)
			}
		}
		status, _, body := e.raw(t, "GET", secretsURL+"?api-version=7.4&maxresults=2", tok, "", nil)
		next, _ := body["nextLink"].(string)
		if status != 200 || next == "" || !strings.Contains(next, "maxresults=2") || !strings.Contains(next, "api-version=7.4") {
			t.Fatalf("first page: %d %v", status, body)
		}
		if status, _, body := e.raw(t, "GET", next, tok, "", nil); status != 200 || len(body["value"].([]any)) == 0 {
			t.Fatalf("untampered nextLink: %d %v", status, body)
		}
		i := strings.Index(next, "$skiptoken=") + len("$skiptoken=") + 10
		flipped := "A"
		if next[i] == 'A' {
			flipped = "B"
		}
		tampered := next[:i] + flipped + next[i+1:]
		status, _, body = e.raw(t, "GET", tampered, tok, "", nil)
		if code, msg := errCode(body); status != 400 || code != "BadParameter" || !strings.Contains(msg, "skiptoken") {
			t.Fatalf("tampered: %d %s %s", status, code, msg)
		}
		// A token from one listing is refused by another.
		other := strings.Replace(next, "/secrets?", "/deletedsecrets?", 1)
		if status, _, _ := e.raw(t, "GET", other, tok, "", nil); status != 400 {
			t.Fatalf("skip token reused across listings: %d", status)
		}
	})
}
