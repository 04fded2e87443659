package kvapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"

	"github.com/portcullis/portcullis/internal/pki"
)

// Key Vault lists certificates that are not completely provisioned (a CSR waiting for its merge) only
// with includePending=true; the Go SDK's pager sends it and follows nextLink, which must keep it.
func TestKeyVault_ListCertificatesIncludePending(t *testing.T) {
	onEveryBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cred := e.secretCredential(t, e.adminApp())
		certs := e.certificates(t, cred, pathForm)
		key, err := pki.GenerateKey(pki.KeyTypeEC256)
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := pki.ParseSubject("CN=listed")
		leaf, err := pki.SelfSigned(subject, key, 24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pfx, err := pki.EncodePFX(leaf, key, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Alpha", "charlie", "echo"} { // issued: imported
			if _, err := certs.ImportCertificate(ctx, name, azcertificates.ImportCertificateParameters{
				Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), Password: to.Ptr("pw")}, nil); err != nil {
				t.Fatalf("import %s: %v", name, err)
			}
		}
		policy := &azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Unknown")},
			KeyProperties:             &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256)},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=pending.example.test")},
		}
		for _, name := range []string{"Bravo", "delta", "foxtrot", "echo"} { // waiting for a merge; echo: a renewal
			if _, err := certs.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{CertificatePolicy: policy}, nil); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
		}
		list := func(size int, opts *azcertificates.ListCertificatePropertiesOptions) (names []string, pending []bool) {
			t.Helper()
			co := &azcertificates.ClientOptions{ClientOptions: e.azOptions(e.hc), DisableChallengeResourceVerification: true}
			if size > 0 {
				co.PerCallPolicies = append(co.PerCallPolicies, maxResults(size))
			}
			c, err := azcertificates.NewClient(e.vaultURL(pathForm), cred, co)
			if err != nil {
				t.Fatal(err)
			}
			pager := c.NewListCertificatePropertiesPager(opts)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatalf("list (%+v): %v", opts, err)
				}
				for _, c := range page.Value {
					names = append(names, c.ID.Name())
					pending = append(pending, c.X509Thumbprint == nil)
					if c.ID.Version() != "" {
						t.Errorf("%s: listed with a version", *c.ID)
					}
				}
			}
			return names, pending
		}
		tests := []struct {
			name        string
			opts        *azcertificates.ListCertificatePropertiesOptions
			want        []string
			wantPending []bool
		}{
			{"default", nil, []string{"Alpha", "charlie", "echo"}, []bool{false, false, false}},
			{"includePending=false", &azcertificates.ListCertificatePropertiesOptions{IncludePending: to.Ptr(false)}, []string{"Alpha", "charlie", "echo"}, []bool{false, false, false}},
			{"includePending=true", &azcertificates.ListCertificatePropertiesOptions{IncludePending: to.Ptr(true)},
				[]string{"Alpha", "Bravo", "charlie", "delta", "echo", "foxtrot"}, []bool{false, true, false, true, false, true}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, size := range []int{0, 1, 2, 4} { // pages cut before, after and between pending ones
					names, pending := list(size, tc.opts)
					if !slices.Equal(names, tc.want) || !slices.Equal(pending, tc.wantPending) {
						t.Errorf("maxresults %d: %v (pending %v), want %v (pending %v)", size, names, pending, tc.want, tc.wantPending)
					}
				}
			})
		}

		tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, "https://localhost:"+e.port+"/.default")
		status, _, body := e.raw(t, "GET", e.pathURL("default")+"/certificates?api-version=7.4&includePending=maybe", tok, "", nil)
		if msg := fmt.Sprint(body); status != http.StatusBadRequest || !strings.Contains(msg, "includePending must be") || !strings.Contains(msg, "BadParameter") {
			t.Fatalf("includePending=maybe: %d %s, want 400 BadParameter naming includePending", status, msg)
		}
		status, _, body = e.raw(t, "GET", e.pathURL("default")+"/certificates?api-version=7.4&includePending=true&maxresults=2", tok, "", nil)
		if next, _ := body["nextLink"].(string); status != 200 || !strings.Contains(next, "includePending=true") {
			t.Fatalf("first page with includePending=true: %d, nextLink %q, want it to keep includePending=true", status, next)
		}
	})
}
