package main

import (
	"strings"
	"testing"
)

func TestCLIAdvice_NamesCommandsInsteadOfRESTCalls(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"app of the default tenant",
			`application "nope" not found in tenant default; give an appId, identifier URI or display name from GET /admin/v1/tenants/default/applications`,
			`application "nope" not found in tenant default; give an appId, identifier URI or display name from 'portcullis app list'`},
		{"app of another tenant",
			`application "x" not found in tenant contoso; give an appId from GET /admin/v1/tenants/contoso/applications`,
			`application "x" not found in tenant contoso; give an appId from 'portcullis app list --tenant contoso'`},
		{"tenant", `tenant "x" not found; give a tenant id or name from GET /admin/v1/tenants`,
			`tenant "x" not found; give a tenant id or name from 'portcullis tenant list'`},
		{"app roles", `list them with GET /admin/v1/tenants/default/applications/0b6c-…/appRoles`,
			`list them with 'portcullis app role list 0b6c-…'`},
		{"secrets", `list them with GET /admin/v1/tenants/t1/applications/abc/passwordCredentials`,
			`list them with 'portcullis app secret list abc --tenant t1'`},
		{"certificates", `list them with GET /admin/v1/tenants/default/applications/abc/keyCredentials`,
			`list them with 'portcullis app cert list abc'`},
		{"federated credentials", `no federated identity credential with id or name "x"; list them with GET /admin/v1/tenants/default/applications/abc/federatedIdentityCredentials`,
			`no federated identity credential with id or name "x"; list them with 'portcullis app federated list abc'`},
		{"add a federated credential", `add one (POST /admin/v1/tenants/t1/applications/abc/federatedIdentityCredentials)`,
			`add one ('portcullis app federated add abc --name NAME --issuer URL --subject SUBJECT --tenant t1')`},
		{"add a role", `add one first (POST /admin/v1/tenants/default/applications/abc/appRoles)`,
			`add one first ('portcullis app role add abc --value VALUE')`},
		{"grants", `delete them first (DELETE /admin/v1/tenants/default/grants/{id})`,
			`delete them first ('portcullis grant remove ID')`},
		{"api replace", `choose another name, or replace it with PUT /admin/v1/tenants/default/apis/orders`,
			`choose another name, or replace it with 'portcullis api update orders'`},
		{"connector replace", `choose another name, or replace it with PUT /admin/v1/tenants/default/connectors/enrich`,
			`choose another name, or replace it with 'portcullis connector update enrich'`},
		{"connector detach", `detach it first (PUT /admin/v1/tenants/default/connectors/enrich)`,
			`detach it from connector enrich first ('portcullis connector update enrich --detach' detaches every application; --attach-resource and --attach-client replace the lists with the ones to keep)`},
		{"connector detach, the application's side", `application "orders" (abc) has the token-issuance connector "enrich"; detach it from the connector's tokenIssuance first (PUT /admin/v1/tenants/t1/connectors/enrich)`,
			`application "orders" (abc) has the token-issuance connector "enrich"; detach it from connector enrich first ('portcullis connector update enrich --detach --tenant t1' detaches every application; --attach-resource and --attach-client replace the lists with the ones to keep)`},
		{"vault role", `assign it with POST /admin/v1/vaults/payments/roleAssignments`,
			`assign it with 'portcullis vault role assign --vault payments --app APP --role ROLE'`},
		{"no advice", `secret "x" not found`, `secret "x" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cliAdvice(tc.in)
			if got != tc.want {
				t.Errorf("cliAdvice:\n got %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, "/admin/v1/") {
				t.Errorf("advice still names the REST API: %s", got)
			}
		})
	}
}

// FuzzCLIAdvice: server text (untrusted) never panics the rewrite, and text
// without an admin API path comes back unchanged.
func FuzzCLIAdvice(f *testing.F) {
	for _, s := range []string{
		"give an appId from GET /admin/v1/tenants/default/applications",
		"DELETE /admin/v1/tenants/x/grants/{id}",
		"POST /admin/v1/vaults/v/roleAssignments",
		"GET /admin/v1/tenants/$1$2$t/apis",
		"plain text",
		"/admin/v1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := cliAdvice(msg)
		if !strings.Contains(msg, "/admin/v1/") && got != msg {
			t.Fatalf("cliAdvice changed %q into %q", msg, got)
		}
	})
}

func TestWithFlagNames_NamesTheFlagOfEachAPIField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{
			in:   `policy.methods[0].pins[1]: a pin by subject and issuer needs trustedCAs (the CA that issued the certificate): add the issuing CA to trustedCAs, or pin the certificate by thumbprint`,
			want: `policy.methods[0].pins[1] (--client-cert-thumbprint, --client-cert-subject): a pin by subject and issuer needs trustedCAs (--client-ca) (the CA that issued the certificate): add the issuing CA to trustedCAs, or pin the certificate by thumbprint`,
		},
		{
			in:   `policy.methods[0].revocation needs trustedCAs: add the issuing CA to trustedCAs`,
			want: `policy.methods[0].revocation needs trustedCAs (--client-ca): add the issuing CA to trustedCAs`,
		},
		{
			in:   `the backend credential would cross the network in clear: use an https:// backend, or set "backend.allowInsecureAuth" to true`,
			want: `the backend credential would cross the network in clear: use an https:// backend, or set "backend.allowInsecureAuth" (--backend-allow-insecure-auth) to true`,
		},
		{
			in:   `a Basic or API key policy on plain HTTP needs allowInsecureAuth`,
			want: `a Basic or API key policy on plain HTTP needs allowInsecureAuth (--allow-insecure-auth)`,
		},
		{
			in:   `policy.methods[0].revocation.crls[0]: not a CRL`,
			want: `policy.methods[0].revocation.crls[0] (--crl): not a CRL`,
		},
		// After the whole path the field is part of.
		{
			in:   `field "principalHeaders.X-Foo": a header name may not be Authorization`,
			want: `field "principalHeaders.X-Foo" (--principal-header): a header name may not be Authorization`,
		},
		{
			in:   `backend.tls.caCertificates[0]: not a certificate`,
			want: `backend.tls.caCertificates[0] (--backend-ca): not a certificate`,
		},
		// Already named, or nothing to name: unchanged.
		{in: `pinsets are not supported`, want: `pinsets are not supported`},
		{in: `set trustedCAs with --client-ca`, want: `set trustedCAs with --client-ca`},
		{in: `API "orders" not found`, want: `API "orders" not found`},
	} {
		if got := withFlagNames(tc.in); got != tc.want {
			t.Errorf("withFlagNames(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
