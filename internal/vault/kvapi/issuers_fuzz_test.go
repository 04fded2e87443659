package kvapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// FuzzIssuerBody decodes arbitrary SetIssuer/UpdateIssuer bodies and runs
// them through a real Service whose vault holds a CA: every outcome is a
// success or a 4xx with a message, a stored issuer is always of provider
// Portcullis, and no answer carries a password.
func FuzzIssuerBody(f *testing.F) {
	ctx := context.Background()
	svc := newTestService(f, vaulttest.NewMemoryStore())
	admin := vault.Caller{Admin: true}
	no := false
	if _, err := svc.CreateCertificate(ctx, admin, vault.DefaultVault, "ca", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		KeyProperties:  &vault.KeyProperties{KeyType: "EC", Curve: "P-256", Exportable: &no},
		X509Properties: &vault.X509Properties{Subject: "CN=fuzz CA", KeyUsage: []string{"keyCertSign"}},
	}}); err != nil {
		f.Fatal(err)
	}
	rq := &request{t: target{id: "https://vault.test/vaults/default", vault: vault.DefaultVault}}

	f.Add("ca", `{"provider":"Portcullis","credentials":{"account_id":"ca"},"org_details":{"id":"o","admin_details":[{"first_name":"A","email":"a@b"}]},"attributes":{"enabled":true}}`)
	f.Add("ca", `{"provider":"portcullis","attributes":{"enabled":false}}`)
	f.Add("ca", `{"provider":"DigiCert","credentials":{"account_id":"acct","pwd":"fuzzPw0rd"}}`)
	f.Add("ca", `{"provider":"Portcullis","credentials":{"pwd":"fuzzPw0rd"}}`)
	f.Add("Self", `{"provider":"Portcullis"}`)
	f.Add("ca", `{"provider":"Portcullis","credentials":{"account_id":"../x"}}`)
	f.Add("ca", `{"provider":null,"org_details":{"admin_details":null}}`)
	f.Add("ca", `{"provider":1}`)
	f.Add("ca", `{} {}`)
	f.Add("x", `[]`)
	f.Fuzz(func(t *testing.T, name, body string) {
		in, err := parseIssuer([]byte(body))
		isClientError(t, err)
		if err != nil {
			return
		}
		for _, call := range []func() (vault.Issuer, error){
			func() (vault.Issuer, error) { return svc.SetIssuer(ctx, admin, vault.DefaultVault, name, in) },
			func() (vault.Issuer, error) { return svc.UpdateIssuer(ctx, admin, vault.DefaultVault, name, in) },
		} {
			is, err := call()
			isClientError(t, err)
			if err != nil {
				if in.Password != nil && in.Password.Len() > 2 && strings.Contains(err.Error(), in.Password.Reveal()) {
					t.Fatalf("the refusal echoes the password: %v", err)
				}
				continue
			}
			if is.Provider != vault.ProviderPortcullis {
				t.Fatalf("stored provider %q", is.Provider)
			}
			out, _ := json.Marshal(rq.issuerBundle(is))
			if strings.Contains(string(out), `"pwd"`) {
				t.Fatalf("the answer carries a password member: %s", out)
			}
		}
	})
}
