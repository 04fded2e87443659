package directory_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
)

// goodAPI is valid on its own in a tenant named "contoso"; test cases
// break one thing in it.
func goodAPI() directory.API {
	return directory.API{
		Name:        "orders",
		Description: "Orders API",
		Match:       directory.APIMatch{Hosts: []string{"API.Example.com", "*.example.org"}, PathPrefix: "/orders", Methods: []string{"GET", "POST"}},
		Backend: directory.Backend{
			URLs:     []string{"https://orders.internal:8443/base", "http://127.0.0.1:9000"},
			TLS:      &directory.BackendTLS{CACertificates: []string{"vault://kv1/certificates/backend-ca"}, ServerName: "orders.internal"},
			Timeouts: directory.Timeouts{ConnectSeconds: 2, ResponseHeaderSeconds: 30, IdleSeconds: 90},
		},
		Policy: guard.PolicySpec{Methods: []guard.MethodSpec{
			{Type: guard.SpecBasic, Users: []guard.BasicUserSpec{{Name: "alice", Password: "vault://kv1/secrets/alice-password"}}},
			{Type: guard.SpecAPIKey, Header: "x-functions-key", Query: "code", Keys: []guard.APIKeySpec{{Name: "k1", Secret: "vault://kv1/secrets/k1/0123456789abcdef0123456789abcdef"}}},
			{Type: guard.SpecClientCertificate, TrustedCAs: []string{"vault://kv1/certificates/client-ca"}, Pins: []guard.CertificatePinSpec{{Thumbprint: strings.Repeat("ab", 20)}, {Subject: "CN=orders", Issuer: "CN=ca"}},
				Revocation: &guard.RevocationSpec{CRLs: []string{"vault://kv1/secrets/client-crl", "https://pki.example.com/client-ca.crl"}, CRLMode: "soft", OCSP: "hard"}},
			{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}, {Issuer: "https://login.microsoftonline.com/x/v2.0"}}, Audiences: []string{"api://orders"}, Algorithms: []string{"RS256", "ES256"}},
		}, Rules: guard.RulesSpec{Roles: []string{"Orders.Read"}, Require: "all"}},
		PrincipalHeaders: map[string]string{"x-caller-id": "subject", "X-Roles": "roles"},
	}
}

func withRevocation(m guard.MethodSpec, rv guard.RevocationSpec) guard.MethodSpec {
	m.Revocation = &rv
	return m
}

func newAPIService(t *testing.T) (*directory.Service, directory.Tenant) {
	t.Helper()
	st := sqlitetest.OpenPath(t, filepath.Join(t.TempDir(), "portcullis.db"))
	svc := directory.NewService(st, clock)
	tn, err := svc.CreateTenant(context.Background(), "contoso")
	if err != nil {
		t.Fatal(err)
	}
	return svc, tn
}

func TestAPIValidation_EveryRuleNamesTheFieldAndTheFix(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	pemCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCertificate(t).Raw}))
	policy := func(m guard.MethodSpec) func(*directory.API) {
		return func(a *directory.API) { a.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{m}} }
	}
	basic := func(pw string) guard.MethodSpec {
		return guard.MethodSpec{Type: guard.SpecBasic, Users: []guard.BasicUserSpec{{Name: "u", Password: pw}}}
	}
	cert := func(ca string) guard.MethodSpec {
		return guard.MethodSpec{Type: guard.SpecClientCertificate, TrustedCAs: []string{ca}}
	}
	bearer := func(is guard.IssuerSpec) guard.MethodSpec {
		return guard.MethodSpec{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{is}, Audiences: []string{"api://x"}}
	}
	cases := []struct {
		name   string
		mutate func(*directory.API)
		kind   directory.Kind // 0: accepted
		want   []string
	}{
		{"the good API", func(*directory.API) {}, 0, nil},
		{"name empty", func(a *directory.API) { a.Name = "" }, directory.Invalid, []string{`"name"`, "required"}},
		{"name upper-case", func(a *directory.API) { a.Name = "Orders" }, directory.Invalid, []string{`"name"`, "lower-case letter"}},
		{"name starts with a digit", func(a *directory.API) { a.Name = "1orders" }, directory.Invalid, []string{`"name"`, "start"}},
		{"name with underscore", func(a *directory.API) { a.Name = "or_ders" }, directory.Invalid, []string{`"name"`, `'_'`}},
		{"name of 63", func(a *directory.API) { a.Name = "a" + strings.Repeat("b", 62) }, 0, nil},
		{"name of 64", func(a *directory.API) { a.Name = "a" + strings.Repeat("b", 63) }, directory.Invalid, []string{`"name"`, "64 characters"}},
		{"description with control", func(a *directory.API) { a.Description = "a\x00" }, directory.Invalid, []string{`"description"`}},
		{"path prefix empty", func(a *directory.API) { a.Match.PathPrefix = "" }, directory.Invalid, []string{"match.pathPrefix", "required"}},
		{"path prefix root", func(a *directory.API) { a.Match.PathPrefix = "/" }, 0, nil},
		{"path prefix relative", func(a *directory.API) { a.Match.PathPrefix = "orders" }, directory.Invalid, []string{"match.pathPrefix", `"/orders"`}},
		{"path prefix with ..", func(a *directory.API) { a.Match.PathPrefix = "/a/../b" }, directory.Invalid, []string{"match.pathPrefix", `".."`}},
		{"path prefix with //", func(a *directory.API) { a.Match.PathPrefix = "/a//b" }, directory.Invalid, []string{"match.pathPrefix", `"//"`}},
		{"path prefix with query", func(a *directory.API) { a.Match.PathPrefix = "/a?x=1" }, directory.Invalid, []string{"match.pathPrefix", "query"}},
		{"path prefix with trailing slash", func(a *directory.API) { a.Match.PathPrefix = "/a/" }, directory.Invalid, []string{"match.pathPrefix", `"/a"`}},
		{"path prefix with space", func(a *directory.API) { a.Match.PathPrefix = "/a b" }, directory.Invalid, []string{"match.pathPrefix"}},
		{"host with port", func(a *directory.API) { a.Match.Hosts = []string{"api.example.com:443"} }, directory.Invalid, []string{"match.hosts[0]", "port"}},
		{"host with scheme", func(a *directory.API) { a.Match.Hosts = []string{"https://api.example.com"} }, directory.Invalid, []string{"match.hosts[0]", "not a host name"}},
		{"host with bad label", func(a *directory.API) { a.Match.Hosts = []string{"ok.com", "-bad.com"} }, directory.Invalid, []string{"match.hosts[1]", "DNS name"}},
		{"host wildcard inside", func(a *directory.API) { a.Match.Hosts = []string{"a.*.com"} }, directory.Invalid, []string{"match.hosts[0]", "wildcard"}},
		{"host duplicate in another case", func(a *directory.API) { a.Match.Hosts = []string{"a.com", "A.com"} }, directory.Invalid, []string{"match.hosts[1]", "twice"}},
		{"host IPv6", func(a *directory.API) { a.Match.Hosts = []string{"[::1]"} }, directory.Invalid, []string{"match.hosts[0]", "IPv6"}},
		{"method lower-case", func(a *directory.API) { a.Match.Methods = []string{"get"} }, directory.Invalid, []string{"match.methods[0]", `"GET"`}},
		{"method not a token", func(a *directory.API) { a.Match.Methods = []string{"GE T"} }, directory.Invalid, []string{"match.methods[0]", "not an HTTP method"}},
		{"method duplicate", func(a *directory.API) { a.Match.Methods = []string{"GET", "GET"} }, directory.Invalid, []string{"match.methods[1]", "twice"}},
		{"no backend", func(a *directory.API) { a.Backend.URLs = nil }, directory.Invalid, []string{"backend.urls", "empty"}},
		{"17 backends", func(a *directory.API) { a.Backend.URLs = make([]string, 17) }, directory.Invalid, []string{"backend.urls", "at most 16"}},
		{"backend relative", func(a *directory.API) { a.Backend.URLs = []string{"/x"} }, directory.Invalid, []string{"backend.urls[0]", "scheme"}},
		{"backend ftp", func(a *directory.API) { a.Backend.URLs = []string{"ftp://h"} }, directory.Invalid, []string{"backend.urls[0]", "http or https"}},
		{"backend without host", func(a *directory.API) { a.Backend.URLs = []string{"http:///x"} }, directory.Invalid, []string{"backend.urls[0]", "no host"}},
		{"backend with userinfo", func(a *directory.API) { a.Backend.URLs = []string{"http://u:p@h"} }, directory.Invalid, []string{"backend.urls[0]", "user information"}},
		{"backend with query", func(a *directory.API) { a.Backend.URLs = []string{"http://h/?a=1"} }, directory.Invalid, []string{"backend.urls[0]", "query"}},
		{"backend with fragment", func(a *directory.API) { a.Backend.URLs = []string{"http://h/#f"} }, directory.Invalid, []string{"backend.urls[0]", "fragment"}},
		{"backend duplicate", func(a *directory.API) { a.Backend.URLs = []string{"http://h", "http://h"} }, directory.Invalid, []string{"backend.urls[1]", "twice"}},
		{"backend CA as PEM", func(a *directory.API) { a.Backend.TLS.CACertificates = []string{pemCA} }, 0, nil},
		{"backend CA garbage", func(a *directory.API) { a.Backend.TLS.CACertificates = []string{"nope"} }, directory.Invalid, []string{"backend.tls.caCertificates[0]", "PEM"}},
		{"backend CA secret reference", func(a *directory.API) { a.Backend.TLS.CACertificates = []string{"vault://kv1/secrets/ca"} }, directory.Invalid, []string{"backend.tls.caCertificates[0]", "vault://VAULT/certificates/NAME"}},
		{"backend CA private key", func(a *directory.API) {
			a.Backend.TLS.CACertificates = []string{string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))}
		}, directory.Invalid, []string{"backend.tls.caCertificates[0]", "PRIVATE KEY"}},
		{"skip chain with CAs", func(a *directory.API) { a.Backend.TLS.SkipChainValidation = true }, directory.Invalid, []string{"backend.tls.skipChainValidation", "contradict"}},
		{"skip chain alone", func(a *directory.API) { a.Backend.TLS = &directory.BackendTLS{SkipChainValidation: true} }, 0, nil},
		{"backend pin bad", func(a *directory.API) { a.Backend.TLS.PinnedThumbprints = []string{"abc"} }, directory.Invalid, []string{"backend.tls.pinnedThumbprints[0]", "64 hex"}},
		{"backend basic over http", func(a *directory.API) {
			a.Backend.URLs = []string{"http://h"}
			a.Backend.TLS = nil
			a.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/secrets/p"}
		}, directory.Invalid, []string{"backend.urls[0]", "backend.allowInsecureAuth"}},
		{"backend basic over http allowed", func(a *directory.API) {
			a.Backend.URLs = []string{"http://h"}
			a.Backend.TLS = nil
			a.Backend.AllowInsecureAuth = true
			a.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/secrets/p"}
		}, 0, nil},
		{"backend client certificate over http", func(a *directory.API) {
			a.Backend.URLs = []string{"http://h"}
			a.Backend.TLS = nil
			a.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/certificates/c"}
		}, directory.Invalid, []string{"backend.credential.certificate"}},
		{"backend credential secret as certificate", func(a *directory.API) {
			a.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/secrets/c"}
		}, directory.Invalid, []string{"backend.credential.certificate"}},
		{"backend credential unknown type", func(a *directory.API) {
			a.Backend.Credential = &outbound.CredentialSpec{Type: "kerberos"}
		}, directory.Invalid, []string{"backend.credential.type"}},
		{"server name bad", func(a *directory.API) { a.Backend.TLS.ServerName = "a b" }, directory.Invalid, []string{"backend.tls.serverName"}},
		{"timeout negative", func(a *directory.API) { a.Backend.Timeouts.ConnectSeconds = -1 }, directory.Invalid, []string{"backend.timeouts.connectSeconds", "3600"}},
		{"timeout too long", func(a *directory.API) { a.Backend.Timeouts.IdleSeconds = 3601 }, directory.Invalid, []string{"backend.timeouts.idleSeconds"}},
		{"timeout 3600", func(a *directory.API) { a.Backend.Timeouts.ResponseHeaderSeconds = 3600 }, 0, nil},
		{"timeout of a nanosecond", func(a *directory.API) { a.Backend.Timeouts.ConnectSeconds = 1e-9 }, directory.Invalid, []string{"backend.timeouts.connectSeconds", "at least 0.001 (1 ms)"}},
		{"timeout of a millisecond", func(a *directory.API) { a.Backend.Timeouts.ConnectSeconds = 0.001 }, 0, nil},
		{"principal header bad name", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"X Bad": "subject"} }, directory.Invalid, []string{"principalHeaders", "not a valid header name"}},
		{"principal header unknown field", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"X-A": "password"} }, directory.Invalid, []string{"principalHeaders.X-A", "tenantId"}},
		{"principal header hop-by-hop", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"connection": "subject"} }, directory.Invalid, []string{"principalHeaders.connection", "Connection"}},
		{"principal header Authorization", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"Authorization": "subject"} }, directory.Invalid, []string{"Authorization"}},
		{"principal header Cookie", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"Cookie": "subject"} }, directory.Invalid, []string{"Cookie"}},
		{"principal header Content-Type", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"content-type": "subject"} }, directory.Invalid, []string{"Content-Type"}},
		{"principal header Host", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"Host": "subject"} }, directory.Invalid, []string{"Host"}},
		{"principal header X-Forwarded-For", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"x-forwarded-for": "subject"} }, directory.Invalid, []string{"X-Forwarded-For"}},
		{"principal header Forwarded", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"Forwarded": "subject"} }, directory.Invalid, []string{"Forwarded"}},
		{"principal header Decision-Id", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"x-portcullis-decision-id": "subject"} }, directory.Invalid, []string{"principalHeaders.x-portcullis-decision-id", "decision id"}},
		{"principal header Expect", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"Expect": "subject"} }, directory.Invalid, []string{"Expect"}},
		{"principal header twice", func(a *directory.API) { a.PrincipalHeaders = map[string]string{"X-A": "subject", "x-a": "roles"} }, directory.Invalid, []string{"twice"}},
		{"principal headers none", func(a *directory.API) { a.PrincipalHeaders = map[string]string{} }, 0, nil},
		{"policy empty", func(a *directory.API) { a.Policy = guard.PolicySpec{} }, directory.Invalid, []string{"policy.methods is empty"}},
		{"policy spec error", policy(guard.MethodSpec{Type: "magic"}), directory.Invalid, []string{"policy.methods[0]", "type"}},
		{"basic literal password", policy(basic("hunter2")), directory.Invalid, []string{"policy.methods[0].users[0].password", "vault://VAULT/secrets/NAME"}},
		{"basic certificate reference", policy(basic("vault://kv1/certificates/x")), directory.Invalid, []string{"policy.methods[0].users[0].password"}},
		{"basic bad vault name", policy(basic("vault://k/secrets/x")), directory.Invalid, []string{"policy.methods[0].users[0].password", "vault name"}},
		{"basic bad version", policy(basic("vault://kv1/secrets/x/123")), directory.Invalid, []string{"policy.methods[0].users[0].password", "version"}},
		{"basic bad object name", policy(basic("vault://kv1/secrets/a_b")), directory.Invalid, []string{"policy.methods[0].users[0].password", "object name"}},
		{"basic user twice", policy(guard.MethodSpec{Type: guard.SpecBasic, Users: []guard.BasicUserSpec{{Name: "u", Password: "vault://kv1/secrets/a"}, {Name: "u", Password: "vault://kv1/secrets/b"}}}), directory.Invalid, []string{"policy.methods[0].users[1].name", "twice"}},
		{"api key literal", policy(guard.MethodSpec{Type: guard.SpecAPIKey, Header: "x-k", Keys: []guard.APIKeySpec{{Name: "k", Secret: "abc"}}}), directory.Invalid, []string{"policy.methods[0].keys[0].secret"}},
		{"api key bad header", policy(guard.MethodSpec{Type: guard.SpecAPIKey, Header: "x k", Keys: []guard.APIKeySpec{{Name: "k", Secret: "vault://kv1/secrets/k"}}}), directory.Invalid, []string{"policy.methods[0].header"}},
		{"api key in Cookie", policy(guard.MethodSpec{Type: guard.SpecAPIKey, Header: "cookie", Keys: []guard.APIKeySpec{{Name: "k", Secret: "vault://kv1/secrets/k"}}}), directory.Invalid, []string{"policy.methods[0].header", "Cookie"}},
		{"client CA PEM", policy(cert(pemCA)), 0, nil},
		{"client CA garbage", policy(cert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), directory.Invalid, []string{"policy.methods[0].trustedCAs[0]"}},
		{"client CA with version", policy(cert("vault://kv1/certificates/ca/0123456789abcdef0123456789abcdef")), directory.Invalid, []string{"policy.methods[0].trustedCAs[0]", "without it"}},
		{"client CA reference", policy(cert("vault://kv1/certificates/ca")), 0, nil},
		{"client CA key reference", policy(cert("vault://kv1/keys/k")), directory.Invalid, []string{"policy.methods[0].trustedCAs[0]", "certificates"}},
		{"revocation without trusted CAs", policy(guard.MethodSpec{Type: guard.SpecClientCertificate, Pins: []guard.CertificatePinSpec{{Thumbprint: strings.Repeat("ab", 20)}},
			Revocation: &guard.RevocationSpec{OCSP: "hard"}}), directory.Invalid, []string{"policy.methods[0].revocation needs trustedCAs"}},
		{"revocation OCSP mode unknown", policy(withRevocation(cert(pemCA), guard.RevocationSpec{OCSP: "always"})), directory.Invalid, []string{"policy.methods[0].revocation.ocsp \"always\"", "\"soft\""}},
		{"revocation CRL neither PEM, reference nor URL", policy(withRevocation(cert(pemCA), guard.RevocationSpec{CRLs: []string{"ldap://dir.example/cn=ca"}})), directory.Invalid, []string{"policy.methods[0].revocation.crls[0]", "http(s) URL"}},
		{"revocation CRL URL with an impossible port", policy(withRevocation(cert(pemCA), guard.RevocationSpec{CRLs: []string{"http://pki.example.com:99999/ca.crl"}})), directory.Invalid, []string{"policy.methods[0].revocation.crls[0]", "port \"99999\""}},
		{"revocation CRL certificate reference", policy(withRevocation(cert(pemCA), guard.RevocationSpec{CRLs: []string{"vault://kv1/certificates/ca"}})), directory.Invalid, []string{"policy.methods[0].revocation.crls[0]", "vault://VAULT/secrets/NAME"}},
		{"revocation CRL reference", policy(withRevocation(cert(pemCA), guard.RevocationSpec{CRLs: []string{"vault://kv1/secrets/crl"}, OCSP: "soft"})), 0, nil},
		{"pin bad thumbprint", policy(guard.MethodSpec{Type: guard.SpecClientCertificate, Pins: []guard.CertificatePinSpec{{Thumbprint: "xyz"}}}), directory.Invalid, []string{"policy.methods[0].pins[0].thumbprint", "40 hex"}},
		{"pin SHA-256 with colons", policy(guard.MethodSpec{Type: guard.SpecClientCertificate, Pins: []guard.CertificatePinSpec{{Thumbprint: strings.Repeat("AB:", 31) + "AB"}}}), 0, nil},
		{"bearer unknown tenant", policy(bearer(guard.IssuerSpec{Tenant: "fabrikam"})), directory.NotFound, []string{"policy.methods[0].issuers[0].tenant", "fabrikam"}},
		{"bearer http issuer", policy(bearer(guard.IssuerSpec{Issuer: "http://idp.example.com"})), directory.Invalid, []string{"policy.methods[0].issuers[0].issuer", "https"}},
		{"bearer http loopback issuer", policy(bearer(guard.IssuerSpec{Issuer: "http://127.0.0.1:8080/t/v2.0"})), 0, nil},
		{"bearer http localhost issuer", policy(bearer(guard.IssuerSpec{Issuer: "http://localhost:8080"})), 0, nil},
		{"bearer http [::1] issuer", policy(bearer(guard.IssuerSpec{Issuer: "http://[::1]:8080"})), 0, nil},
		{"bearer issuer with query", policy(bearer(guard.IssuerSpec{Issuer: "https://idp/?a"})), directory.Invalid, []string{"policy.methods[0].issuers[0].issuer"}},
		{"bearer issuer port out of range", policy(bearer(guard.IssuerSpec{Issuer: "https://idp.example:99999/v2.0"})), directory.Invalid, []string{`policy.methods[0].issuers[0].issuer" "https://idp.example:99999/v2.0" has port "99999"`}},
		{"bearer issuer port 0", policy(bearer(guard.IssuerSpec{Issuer: "https://idp.example:0"})), directory.Invalid, []string{`has port "0"`}},
		{"bearer issuer with a port", policy(bearer(guard.IssuerSpec{Issuer: "https://idp.example:8443/v2.0"})), 0, nil},
		{"bearer bad algorithm", policy(guard.MethodSpec{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"a"}, Algorithms: []string{"HS256"}}), directory.Invalid, []string{"policy.methods[0].algorithms[0]", "RS256"}},
		{"bearer audience with a space", policy(guard.MethodSpec{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders", "api://orders "}}), directory.Invalid, []string{`"policy.methods[0].audiences[1]" "api://orders " contains whitespace`}},
		{"bearer empty audience", policy(guard.MethodSpec{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{" "}}), directory.Invalid, []string{"policy.methods[0].audiences[0]"}},
		{"rules require bad", func(a *directory.API) { a.Policy.Rules.Require = "most" }, directory.Invalid, []string{"policy.rules.require"}},
		{"rules empty role", func(a *directory.API) { a.Policy.Rules.Roles = []string{""} }, directory.Invalid, []string{"policy.rules.roles[0]"}},
		{"rules role with a space", func(a *directory.API) { a.Policy.Rules.Roles = []string{"Orders.Read", "Orders Write"} }, directory.Invalid, []string{`policy.rules.roles[1]" "Orders Write" contains whitespace`, "separate entries"}},
		{"rules scope with a space", func(a *directory.API) { a.Policy.Rules.Scopes = []string{"orders.read orders.write"} }, directory.Invalid, []string{"policy.rules.scopes[0]", "whitespace"}},
		{"rules scope with a tab", func(a *directory.API) { a.Policy.Rules.Scopes = []string{"orders\tread"} }, directory.Invalid, []string{"policy.rules.scopes[0]", "whitespace"}},
		{"rules tenant by name", func(a *directory.API) { a.Policy.Rules.Tenants = []string{"contoso"} }, directory.Invalid, []string{`policy.rules.tenants[0]" "contoso" is not an id`, "tid", "portcullis tenant show"}},
		{"rules object id not a GUID", func(a *directory.API) { a.Policy.Rules.ObjectIDs = []string{"orders-client"} }, directory.Invalid, []string{"policy.rules.objectIds[0]", "oid"}},
		{"rules application by name with Portcullis issuers only", func(a *directory.API) {
			a.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders"}}},
				Rules: guard.RulesSpec{Applications: []string{"orders-client"}}}
		}, directory.Invalid, []string{`policy.rules.applications[0]" "orders-client" is not an id`, "azp and appid", "appId"}},
		{"rules application id with Portcullis issuers only", func(a *directory.API) {
			a.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders"}}},
				Rules: guard.RulesSpec{Applications: []string{"C0FFEE00-0000-0000-0000-000000000003"}}}
		}, 0, nil},
		{"rules ids accepted in any case", func(a *directory.API) {
			a.Policy.Rules.Tenants = []string{"C0FFEE00-0000-0000-0000-000000000001"}
			a.Policy.Rules.ObjectIDs = []string{"c0ffee00-0000-0000-0000-000000000002"}
			a.Policy.Rules.Applications = []string{"orders-client"} // azp of another issuer need not be a GUID
		}, 0, nil},
		{"realm with quote", func(a *directory.API) { a.Policy.Realm = `a"b` }, directory.Invalid, []string{"policy.realm"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := goodAPI()
			tc.mutate(&api)
			// Each case in its own path so that accepted ones do not overlap.
			if api.Match.PathPrefix == "/orders" {
				api.Match.PathPrefix = "/" + strings.ReplaceAll(strings.ToLower(strings.Fields(tc.name)[0]+"-"+strings.Join(strings.Fields(tc.name), "-")), "/", "")
			}
			if api.Name == "orders" {
				api.Name = "a" + strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
						return r
					}
					return '-'
				}, strings.ToLower(tc.name))
			}
			got, err := svc.CreateAPI(ctx, "contoso", api)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Revision == 0 || got.TenantID == "" {
					t.Fatalf("created API without revision or tenant: %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if k := directory.KindOf(err); k != tc.kind {
				t.Fatalf("kind %v, want %v: %v", k, tc.kind, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestAPIValidation_URLErrorsNeverQuoteCredentials: a refused backend or
// issuer URL is quoted in the error, but never with its user information,
// whichever rule refuses it (scheme, whitespace, unparsable, ...).
func TestAPIValidation_URLErrorsNeverQuoteCredentials(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	const pw = "Hunter2Secret"
	urls := []string{
		"ftp://u:" + pw + "@h",
		"http://u:" + pw + "@h",
		"https://u:" + pw + "@h/x?q#f",
		"http://" + pw + "@h",
		"http://u:" + pw + "@h x",
		"http://u:" + pw + "@h:99999",
		"http://u:" + pw + "@/x",
		"u:" + pw + "@h",
		"//u:" + pw + "@h",
		"http://u:" + pw + "@" + strings.Repeat("h", 80),
		"http://u:" + pw + strings.Repeat("x", 80) + "@h",
		"http://u:" + pw + "\x00@h",
	}
	for i, raw := range urls {
		for _, where := range []string{"backend", "issuer"} {
			t.Run(fmt.Sprintf("%s %d", where, i), func(t *testing.T) {
				api := goodAPI()
				api.Name = fmt.Sprintf("s%s%d", where, i)
				api.Match.PathPrefix = "/" + api.Name
				if where == "backend" {
					api.Backend.URLs = []string{raw}
				} else {
					api.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Issuer: raw}}, Audiences: []string{"api://x"}}}}
				}
				_, err := svc.CreateAPI(ctx, "contoso", api)
				if directory.KindOf(err) != directory.Invalid {
					t.Fatalf("%q: got %v, want a refusal", raw, err)
				}
				if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), pw[:6]) {
					t.Fatalf("the error quotes the password: %v", err)
				}
			})
		}
	}
}

func TestAPIService_CreateNormalizesAndResolvesBearerTenants(t *testing.T) {
	ctx := context.Background()
	svc, tn := newAPIService(t)
	got, err := svc.CreateAPI(ctx, "contoso", goodAPI())
	if err != nil {
		t.Fatal(err)
	}
	if got.TenantID != tn.ID || got.CreatedAt != testNow || got.UpdatedAt != testNow {
		t.Errorf("tenant %q, created %v, updated %v", got.TenantID, got.CreatedAt, got.UpdatedAt)
	}
	if got.Match.Hosts[0] != "api.example.com" {
		t.Errorf("hosts = %v, want lower-cased", got.Match.Hosts)
	}
	if got.PrincipalHeaders["X-Caller-Id"] != "subject" || len(got.PrincipalHeaders) != 2 {
		t.Errorf("principal headers = %v, want canonical names", got.PrincipalHeaders)
	}
	if is := got.Policy.Methods[3].Issuers[0].Tenant; is != tn.ID {
		t.Errorf("bearer tenant stored as %q, want the id %s", is, tn.ID)
	}
	read, err := svc.API(ctx, tn.ID, "orders")
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, read, got)
}

func TestAPIService_ConflictsNameTheOtherAPI(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	if _, err := svc.CreateTenant(ctx, "fabrikam"); err != nil {
		t.Fatal(err)
	}
	base := goodAPI()
	if _, err := svc.CreateAPI(ctx, "contoso", base); err != nil {
		t.Fatal(err)
	}
	with := func(name string, f func(*directory.API)) directory.API {
		a := goodAPI()
		a.Name = name
		f(&a)
		return a
	}
	cases := []struct {
		name   string
		tenant string
		api    directory.API
		want   []string // empty: accepted
	}{
		{"same name", "contoso", with("orders", func(*directory.API) {}), []string{`"orders"`, "already"}},
		{"same match in another tenant", "fabrikam", with("copy", func(*directory.API) {}), []string{`API "orders" of tenant contoso`, "/orders"}},
		{"one host in common, one method in common", "contoso", with("b", func(a *directory.API) {
			a.Match.Hosts = []string{"other.com", "api.example.com"}
			a.Match.Methods = []string{"POST", "PUT"}
		}), []string{`"orders"`}},
		{"any method overlaps", "contoso", with("c", func(a *directory.API) { a.Match.Methods = nil }), []string{`"orders"`}},
		{"other methods", "contoso", with("d", func(a *directory.API) { a.Match.Methods = []string{"DELETE"} }), nil},
		{"other path", "contoso", with("e", func(a *directory.API) { a.Match.PathPrefix = "/orders/v2" }), nil},
		{"other hosts", "contoso", with("f", func(a *directory.API) { a.Match.Hosts = []string{"b.example.com"} }), nil},
		{"any host is less specific", "contoso", with("g", func(a *directory.API) { a.Match.Hosts = nil }), nil},
		{"any host twice", "fabrikam", with("h", func(a *directory.API) { a.Match.Hosts = nil; a.Match.Methods = []string{"GET"} }), []string{`API "g" of tenant contoso`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateAPI(ctx, tc.tenant, tc.api)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if directory.KindOf(err) != directory.Conflict {
				t.Fatalf("err = %v (kind %v), want a conflict", err, directory.KindOf(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAPIService_UpdateDeleteAndTheChangeLog(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		svc := directory.NewService(st[0], clock)
		tn, err := svc.CreateTenant(ctx, "contoso")
		if err != nil {
			t.Fatal(err)
		}
		load := func() *directory.Snapshot {
			s, err := st[0].Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return directory.NewSnapshot(s.Revision, s.Tenants, s.Applications, s.Grants, s.APIs)
		}
		snap := load()
		apply := func() {
			t.Helper()
			d, ok, err := st[0].ChangesSince(ctx, snap.Revision, 100)
			if err != nil || !ok {
				t.Fatalf("ChangesSince = %v, %v", ok, err)
			}
			snap = snap.Apply(d.Changes)
			equalJSON(t, snap.APIs(), load().APIs())
		}

		created, err := svc.CreateAPI(ctx, "contoso", goodAPI())
		if err != nil {
			t.Fatal(err)
		}
		apply()
		if a, ok := snap.API(tn.ID, "orders"); !ok || a.Revision != created.Revision {
			t.Fatalf("snapshot API after create = %+v, %v", a, ok)
		}

		change := goodAPI()
		change.Name = ""
		change.Description = "v2"
		change.TenantID, change.Revision = "ignored", 99 // read-only
		if _, err := svc.UpdateAPI(ctx, "contoso", "orders", change, created.Revision+1); directory.KindOf(err) != directory.PreconditionFailed {
			t.Fatalf("update with a stale revision: %v, want PreconditionFailed", err)
		}
		updated, err := svc.UpdateAPI(ctx, "contoso", "orders", change, created.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if updated.Revision <= created.Revision || updated.Description != "v2" || updated.TenantID != tn.ID || !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("updated = rev %d desc %q tenant %q created %v", updated.Revision, updated.Description, updated.TenantID, updated.CreatedAt)
		}
		apply()
		if a, _ := snap.API(tn.ID, "orders"); a.Description != "v2" {
			t.Fatalf("snapshot after update: %q", a.Description)
		}
		change.Name = "renamed"
		if _, err := svc.UpdateAPI(ctx, "contoso", "orders", change, 0); directory.KindOf(err) != directory.Invalid || !strings.Contains(err.Error(), "renamed") {
			t.Fatalf("rename: %v", err)
		}
		missing := goodAPI()
		missing.Name = ""
		if _, err := svc.UpdateAPI(ctx, "contoso", "nope", missing, 0); directory.KindOf(err) != directory.NotFound || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("update of a missing API: %v", err)
		}
		// An update may keep its own match: it does not overlap itself.
		if _, err := svc.UpdateAPI(ctx, "contoso", "orders", goodAPI(), 0); err != nil {
			t.Fatal(err)
		}
		apply()

		list, err := svc.APIs(ctx, "contoso")
		if err != nil || len(list) != 1 {
			t.Fatalf("APIs = %d, %v", len(list), err)
		}
		if err := svc.DeleteAPI(ctx, "contoso", "orders", 0); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteAPI(ctx, "contoso", "orders", 0); directory.KindOf(err) != directory.NotFound || !strings.Contains(err.Error(), `"orders"`) {
			t.Fatalf("second delete: %v", err)
		}
		apply()
		if _, ok := snap.API(tn.ID, "orders"); ok {
			t.Fatal("deleted API still in the snapshot")
		}

		// Deleting the tenant deletes its APIs, and snapshots follow.
		if _, err := svc.CreateAPI(ctx, "contoso", goodAPI()); err != nil {
			t.Fatal(err)
		}
		apply()
		if err := svc.DeleteTenant(ctx, "contoso"); err != nil {
			t.Fatal(err)
		}
		apply()
		if len(snap.APIs()) != 0 {
			t.Fatalf("APIs of a deleted tenant remain: %+v", snap.APIs())
		}
		if _, err := svc.APIs(ctx, "contoso"); directory.KindOf(err) != directory.NotFound {
			t.Fatalf("APIs of a deleted tenant: %v", err)
		}
	})
}

// equalJSON compares two values by their JSON form, as the admin API shows them.
func equalJSON(t *testing.T, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("\n got  %s\n want %s", g, w)
	}
}

func TestRace_TwoNodesCreatingOverlappingAPIsLetExactlyOneWin(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		a, b := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		if _, err := a.CreateTenant(ctx, "contoso"); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			first, second := goodAPI(), goodAPI()
			first.Name, second.Name = fmt.Sprint("first-", round), fmt.Sprint("second-", round)
			first.Match.PathPrefix = fmt.Sprint("/round-", round)
			second.Match.PathPrefix = first.Match.PathPrefix
			errs := race(
				func() error { _, err := a.CreateAPI(ctx, "contoso", first); return err },
				func() error { _, err := b.CreateAPI(ctx, "contoso", second); return err },
			)
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case directory.KindOf(err) != directory.Conflict:
					t.Fatalf("round %d: %v, want a conflict", round, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d creates succeeded (%v), want exactly one", round, won, errs)
			}
		}
	})
}

// An API stored before the backend TLS settings were shared carries
// insecureSkipVerify: it reads as skipChainValidation and is written back
// under that name only, so no stored API loses its setting.
func TestBackendTLS_FormerInsecureSkipVerifyReadsAsSkipChainValidation(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     directory.BackendTLS
		wantErr  string
	}{
		{"former name", `{"serverName":"h","insecureSkipVerify":true}`, directory.BackendTLS{ServerName: "h", SkipChainValidation: true}, ""},
		{"former name false", `{"insecureSkipVerify":false}`, directory.BackendTLS{}, ""},
		{"new name", `{"skipChainValidation":true,"pinnedThumbprints":["ab"]}`, directory.BackendTLS{SkipChainValidation: true, PinnedThumbprints: []string{"ab"}}, ""},
		{"both", `{"skipChainValidation":false,"insecureSkipVerify":true}`, directory.BackendTLS{SkipChainValidation: true}, ""},
		{"unknown field", `{"skipVerify":true}`, directory.BackendTLS{}, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got directory.BackendTLS
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			out, _ := json.Marshal(got)
			if strings.Contains(string(out), "insecureSkipVerify") {
				t.Fatalf("written back with the former name: %s", out)
			}
			if got.SkipChainValidation && !strings.Contains(string(out), `"skipChainValidation":true`) {
				t.Fatalf("the setting is lost on write: %s", out)
			}
		})
	}
}

// TestAPIService_ATenantThatAnotherTenantsAPITrustsIsNotDeleted: deleting a
// tenant that a gateway API of another tenant accepts as a bearer issuer
// would leave that API referring to nothing; it is refused (409 naming the
// API and the field) until the API no longer names it. Its own APIs never
// hold it back.
func TestAPIService_ATenantThatAnotherTenantsAPITrustsIsNotDeleted(t *testing.T) {
	ctx := context.Background()
	bearer := func(tenants ...string) guard.PolicySpec {
		var is []guard.IssuerSpec
		for _, tn := range tenants {
			is = append(is, guard.IssuerSpec{Tenant: tn})
		}
		return guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: is, Audiences: []string{"api://orders"}}}}
	}
	for _, tc := range []struct {
		name     string
		policies map[string]guard.PolicySpec // tenant → the policy of its API "orders"
		want     []string                    // parts of the refusal; nil: deleted
	}{
		{"trusted by its own API only", map[string]guard.PolicySpec{"fabrikam": bearer("fabrikam")}, nil},
		{"trusted by no API", map[string]guard.PolicySpec{"contoso": bearer("contoso")}, nil},
		{"trusted by another tenant's API", map[string]guard.PolicySpec{"contoso": bearer("contoso", "fabrikam")},
			[]string{"tenant fabrikam", `gateway API "orders" of tenant contoso`, "policy.methods[0].issuers[1]", "PUT /admin/v1/tenants/contoso/apis/orders"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := newAPIService(t)
			if _, err := svc.CreateTenant(ctx, "fabrikam"); err != nil {
				t.Fatal(err)
			}
			for tenant, p := range tc.policies {
				api := directory.API{Name: "orders", Match: directory.APIMatch{PathPrefix: "/orders"}, Backend: directory.Backend{URLs: []string{"https://orders.internal"}}, Policy: p}
				if _, err := svc.CreateAPI(ctx, tenant, api); err != nil {
					t.Fatal(err)
				}
			}
			err := svc.DeleteTenant(ctx, "fabrikam")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if _, err := svc.Tenant(ctx, "fabrikam"); directory.KindOf(err) != directory.NotFound {
					t.Fatalf("tenant after delete: %v", err)
				}
				return
			}
			if directory.KindOf(err) != directory.Conflict {
				t.Fatalf("got %v, want a conflict", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := svc.Tenant(ctx, "fabrikam"); err != nil {
				t.Fatalf("a refused delete removed the tenant: %v", err)
			}
			// Once the API no longer names it, the tenant can go.
			api, err := svc.API(ctx, "contoso", "orders")
			if err != nil {
				t.Fatal(err)
			}
			api.Policy = bearer("contoso")
			if _, err := svc.UpdateAPI(ctx, "contoso", "orders", api, 0); err != nil {
				t.Fatal(err)
			}
			if err := svc.DeleteTenant(ctx, "fabrikam"); err != nil {
				t.Fatalf("delete after the reference was removed: %v", err)
			}
		})
	}
}
