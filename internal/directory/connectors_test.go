package directory_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
)

// goodConnector is valid on its own in a tenant named "contoso"; test
// cases break one thing in it.
func goodConnector() directory.Connector {
	return directory.Connector{
		Name:           "hr-enrichment",
		Description:    "Adds the department",
		Endpoint:       "https://hr.example.com/enrich",
		Authentication: outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "portcullis", Password: "vault://kv1/secrets/hr-password"},
		TLS:            &outbound.TLSSpec{CACertificates: []string{"vault://kv1/certificates/hr-ca"}, ServerName: "hr.internal"},
		SendClaimsIn:   directory.ClaimsInBody,
		InputClaims:    []directory.ConnectorClaim{{ClaimType: "appid", PartnerClaimType: "clientId"}, {ClaimType: "tid"}},
		OutputClaims:   []directory.ConnectorClaim{{ClaimType: "department", PartnerClaimType: "dept"}},
		TimeoutSeconds: 5,
		Retries:        1,
	}
}

func TestConnectorValidation_EveryRuleNamesTheFieldAndTheFix(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	pemCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCertificate(t).Raw}))
	cred := func(c outbound.CredentialSpec) func(*directory.Connector) {
		return func(x *directory.Connector) { x.Authentication = c }
	}
	cc := func(f func(*outbound.ClientCredentialsSpec)) func(*directory.Connector) {
		return func(x *directory.Connector) {
			s := outbound.ClientCredentialsSpec{Authority: "https://login.example.com/t", ClientID: "c", ClientSecret: "vault://kv1/secrets/cs", Scope: "api://hr/.default"}
			f(&s)
			x.Authentication = outbound.CredentialSpec{Type: outbound.TypeBearer, ClientCredentials: &s}
		}
	}
	tlsOf := func(s outbound.TLSSpec) func(*directory.Connector) {
		return func(x *directory.Connector) { x.TLS = &s }
	}
	header := func(claims ...directory.ConnectorClaim) func(*directory.Connector) {
		return func(x *directory.Connector) { x.SendClaimsIn = directory.ClaimsInHeader; x.InputClaims = claims }
	}
	pin := strings.Repeat("ab", 32)
	cases := []struct {
		name   string
		mutate func(*directory.Connector)
		kind   directory.Kind // 0: accepted
		want   []string
	}{
		{"the good connector", func(*directory.Connector) {}, 0, nil},
		{"name empty", func(c *directory.Connector) { c.Name = "" }, directory.Invalid, []string{`"name"`, "required"}},
		{"name upper-case", func(c *directory.Connector) { c.Name = "HR" }, directory.Invalid, []string{`"name"`, "lower-case letter"}},
		{"name of 64", func(c *directory.Connector) { c.Name = "a" + strings.Repeat("b", 63) }, directory.Invalid, []string{`"name"`, "64 characters"}},
		{"description with control", func(c *directory.Connector) { c.Description = "a\x00" }, directory.Invalid, []string{`"description"`}},
		{"endpoint empty", func(c *directory.Connector) { c.Endpoint = "" }, directory.Invalid, []string{`"endpoint"`, "required"}},
		{"endpoint relative", func(c *directory.Connector) { c.Endpoint = "/enrich" }, directory.Invalid, []string{`"endpoint"`, "scheme"}},
		{"endpoint ftp", func(c *directory.Connector) { c.Endpoint = "ftp://h/x" }, directory.Invalid, []string{`"endpoint"`, "http or https"}},
		{"endpoint with user info", func(c *directory.Connector) { c.Endpoint = "https://u:hunter2@h/x" }, directory.Invalid, []string{`"endpoint"`, "user information"}},
		{"endpoint with fragment", func(c *directory.Connector) { c.Endpoint = "https://h/x#f" }, directory.Invalid, []string{`"endpoint"`, "fragment"}},
		{"endpoint with query", func(c *directory.Connector) { c.Endpoint = "https://h/x?v=2" }, 0, nil},
		{"endpoint bad port", func(c *directory.Connector) { c.Endpoint = "https://h:70000/x" }, directory.Invalid, []string{`"endpoint"`, "port"}},
		{"endpoint with space", func(c *directory.Connector) { c.Endpoint = "https://h/a b" }, directory.Invalid, []string{`"endpoint"`, "whitespace"}},

		{"auth type unknown", cred(outbound.CredentialSpec{Type: "Basic"}), directory.Invalid, []string{`"authentication.type"`, "case-sensitive"}},
		{"auth none", cred(outbound.CredentialSpec{Type: outbound.TypeNone}), 0, nil},
		{"auth empty type is none", cred(outbound.CredentialSpec{}), 0, nil},
		{"auth none with a password", cred(outbound.CredentialSpec{Type: outbound.TypeNone, Password: "vault://kv1/secrets/p"}), directory.Invalid, []string{`"authentication.password"`, "type is none"}},
		{"auth fields without a type", cred(outbound.CredentialSpec{Username: "u", Password: "vault://kv1/secrets/p"}), directory.Invalid, []string{`"authentication.username" is set but "authentication.type" is missing`, "basic"}},
		{"auth certificate without a type", cred(outbound.CredentialSpec{Certificate: "vault://kv1/certificates/c"}), directory.Invalid, []string{`"authentication.certificate" is set but "authentication.type" is missing`}},
		{"basic without username", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Password: "vault://kv1/secrets/p"}), directory.Invalid, []string{`"authentication.username"`, "required"}},
		{"basic username with colon", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "a:b", Password: "vault://kv1/secrets/p"}), directory.Invalid, []string{`"authentication.username"`, "':'"}},
		{"basic literal password", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "hunter2"}), directory.Invalid, []string{`"authentication.password"`, "vault reference"}},
		{"basic password is a certificate", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/certificates/c"}), directory.Invalid, []string{`"authentication.password"`, "vault://VAULT/secrets/NAME"}},
		{"basic pinned password version", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/secrets/p/0123456789abcdef0123456789abcdef"}), 0, nil},
		{"basic with a header", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/secrets/p", Header: "x-k"}), directory.Invalid, []string{`"authentication.header"`, "username and password"}},
		{"api key", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x-functions-key", Key: "vault://kv1/secrets/k"}), 0, nil},
		{"api key header invalid", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x key", Key: "vault://kv1/secrets/k"}), directory.Invalid, []string{`"authentication.header"`, "header name"}},
		{"api key in Authorization", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "authorization", Key: "vault://kv1/secrets/k"}), directory.Invalid, []string{`"authentication.header"`, "Authorization"}},
		{"api key in Host", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "Host", Key: "vault://kv1/secrets/k"}), directory.Invalid, []string{`"authentication.header"`}},
		{"api key without key", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x-k"}), directory.Invalid, []string{`"authentication.key"`, "empty"}},
		{"bearer static", cred(outbound.CredentialSpec{Type: outbound.TypeBearer, Token: "vault://kv1/secrets/t"}), 0, nil},
		{"bearer nothing", cred(outbound.CredentialSpec{Type: outbound.TypeBearer}), directory.Invalid, []string{`"authentication.token"`, `"authentication.clientCredentials"`}},
		{"bearer both", cred(outbound.CredentialSpec{Type: outbound.TypeBearer, Token: "vault://kv1/secrets/t", ClientCredentials: &outbound.ClientCredentialsSpec{}}), directory.Invalid, []string{"both set"}},
		{"client certificate", cred(outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/certificates/c"}), 0, nil},
		{"client certificate pinned version", cred(outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/certificates/c/0123456789abcdef0123456789abcdef"}), 0, nil},
		{"client certificate is a secret", cred(outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/secrets/c"}), directory.Invalid, []string{`"authentication.certificate"`, "certificates"}},
		{"client certificate over http", func(c *directory.Connector) {
			c.Endpoint, c.TLS = "http://hr.example.com/x", nil
			c.Authentication = outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://kv1/certificates/c"}
		}, directory.Invalid, []string{`"endpoint"`, "TLS handshake"}},

		{"cc good with secret", cc(func(*outbound.ClientCredentialsSpec) {}), 0, nil},
		{"cc good with certificate and token endpoint", cc(func(s *outbound.ClientCredentialsSpec) {
			s.Authority, s.TokenEndpoint, s.ClientSecret, s.ClientCertificate = "", "https://login.example.com/t/oauth2/v2.0/token", "", "vault://kv1/certificates/cc"
		}), 0, nil},
		{"cc no authority nor endpoint", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority = "" }), directory.Invalid, []string{`"authentication.clientCredentials.authority"`, "tokenEndpoint"}},
		{"cc both authority and endpoint", cc(func(s *outbound.ClientCredentialsSpec) { s.TokenEndpoint = "https://x/token" }), directory.Invalid, []string{"both set"}},
		{"cc authority over http", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority = "http://login.example.com/t" }), directory.Invalid, []string{`"authentication.clientCredentials.authority"`, "https"}},
		{"cc authority over http on loopback", func(c *directory.Connector) {
			cc(func(s *outbound.ClientCredentialsSpec) { s.Authority = "http://127.0.0.1:8443/t" })(c)
			c.AllowInsecureAuth = true
		}, 0, nil},
		{"cc authority over http on loopback without allowInsecureAuth", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority = "http://127.0.0.1:8443/t" }),
			directory.Invalid, []string{`"authentication.clientCredentials.authority"`, "in clear", `"allowInsecureAuth"`}},
		{"basic username with tab", cred(outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "a\tb", Password: "vault://kv1/secrets/p"}), directory.Invalid, []string{`"authentication.username"`, "control"}},
		{"api key header of 101", cred(outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x" + strings.Repeat("a", 100), Key: "vault://kv1/secrets/k"}), directory.Invalid, []string{`"authentication.header"`}},
		{"cc token endpoint with query", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority, s.TokenEndpoint = "", "https://x/token?a=b" }), directory.Invalid, []string{`"authentication.clientCredentials.tokenEndpoint"`}},
		{"cc client id with a space", cc(func(s *outbound.ClientCredentialsSpec) { s.ClientID = " 0c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f" }), directory.Invalid, []string{`"authentication.clientCredentials.clientId"`, "whitespace"}},
		{"cc scope with a trailing space", cc(func(s *outbound.ClientCredentialsSpec) { s.Scope = "api://hr/.default " }), directory.Invalid, []string{`"authentication.clientCredentials.scope"`, "trailing"}},
		{"cc two scopes", cc(func(s *outbound.ClientCredentialsSpec) { s.Scope = "api://hr/read api://hr/write" }), 0, nil},
		{"cc token endpoint port out of range", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority, s.TokenEndpoint = "", "https://x:99999/token" }), directory.Invalid, []string{`"authentication.clientCredentials.tokenEndpoint" "https://x:99999/token" has port "99999"`}},
		{"cc authority port 0", cc(func(s *outbound.ClientCredentialsSpec) { s.Authority = "https://login.example:0/tenant" }), directory.Invalid, []string{`"authentication.clientCredentials.authority"`, `has port "0"`}},
		{"cc without client id", cc(func(s *outbound.ClientCredentialsSpec) { s.ClientID = "" }), directory.Invalid, []string{`"authentication.clientCredentials.clientId"`, "required"}},
		{"cc without secret or certificate", cc(func(s *outbound.ClientCredentialsSpec) { s.ClientSecret = "" }), directory.Invalid, []string{`"authentication.clientCredentials.clientSecret"`, "clientCertificate"}},
		{"cc both secret and certificate", cc(func(s *outbound.ClientCredentialsSpec) { s.ClientCertificate = "vault://kv1/certificates/c" }), directory.Invalid, []string{"both set"}},
		{"cc secret literal", cc(func(s *outbound.ClientCredentialsSpec) { s.ClientSecret = "abc" }), directory.Invalid, []string{`"authentication.clientCredentials.clientSecret"`, "vault reference"}},
		{"cc certificate is a secret", cc(func(s *outbound.ClientCredentialsSpec) {
			s.ClientSecret, s.ClientCertificate = "", "vault://kv1/secrets/c"
		}), directory.Invalid, []string{`"authentication.clientCredentials.clientCertificate"`}},
		{"cc without scope", cc(func(s *outbound.ClientCredentialsSpec) { s.Scope = " " }), directory.Invalid, []string{`"authentication.clientCredentials.scope"`, "required"}},

		{"tls PEM CA", tlsOf(outbound.TLSSpec{CACertificates: []string{pemCA}}), 0, nil},
		{"tls CA garbage", tlsOf(outbound.TLSSpec{CACertificates: []string{"not a cert"}}), directory.Invalid, []string{`"tls.caCertificates[0]"`}},
		{"tls CA is a secret ref", tlsOf(outbound.TLSSpec{CACertificates: []string{"vault://kv1/secrets/ca"}}), directory.Invalid, []string{`"tls.caCertificates[0]"`}},
		{"tls CA duplicate", tlsOf(outbound.TLSSpec{CACertificates: []string{"vault://kv1/certificates/a", "vault://kv1/certificates/a"}}), directory.Invalid, []string{`"tls.caCertificates[1]"`, "duplicate"}},
		{"tls server name bad", tlsOf(outbound.TLSSpec{ServerName: "a b"}), directory.Invalid, []string{`"tls.serverName"`}},
		{"tls pin good with colons", tlsOf(outbound.TLSSpec{PinnedThumbprints: []string{strings.ToUpper(pin[:2]) + ":" + pin[2:]}}), 0, nil},
		{"tls pin short", tlsOf(outbound.TLSSpec{PinnedThumbprints: []string{"abcd"}}), directory.Invalid, []string{`"tls.pinnedThumbprints[0]"`, "64 hex"}},
		{"tls pin duplicate", tlsOf(outbound.TLSSpec{PinnedThumbprints: []string{pin, strings.ToUpper(pin)}}), directory.Invalid, []string{`"tls.pinnedThumbprints[1]"`, "duplicate"}},
		{"tls skip with pin", tlsOf(outbound.TLSSpec{SkipChainValidation: true, PinnedThumbprints: []string{pin}}), 0, nil},
		{"tls skip with CAs", tlsOf(outbound.TLSSpec{SkipChainValidation: true, CACertificates: []string{pemCA}}), directory.Invalid, []string{`"tls.skipChainValidation"`, `"tls.caCertificates"`, "contradict"}},
		{"tls on http", func(c *directory.Connector) {
			c.Endpoint, c.Authentication = "http://hr.example.com/x", outbound.CredentialSpec{}
		}, directory.Invalid, []string{`"tls"`, "no TLS"}},

		{"basic over http refused", func(c *directory.Connector) { c.Endpoint, c.TLS = "http://hr.example.com/x", nil }, directory.Invalid, []string{`"endpoint"`, "in clear", `"allowInsecureAuth"`}},
		{"basic over http allowed", func(c *directory.Connector) {
			c.Endpoint, c.TLS, c.AllowInsecureAuth = "http://127.0.0.1:9000/x", nil, true
		}, 0, nil},
		{"api key over http refused", func(c *directory.Connector) {
			c.Endpoint, c.TLS = "http://hr.example.com/x", nil
			c.Authentication = outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x-k", Key: "vault://kv1/secrets/k"}
		}, directory.Invalid, []string{"allowInsecureAuth"}},
		{"bearer over http refused", func(c *directory.Connector) {
			c.Endpoint, c.TLS = "http://hr.example.com/x", nil
			c.Authentication = outbound.CredentialSpec{Type: outbound.TypeBearer, Token: "vault://kv1/secrets/t"}
		}, directory.Invalid, []string{"allowInsecureAuth"}},
		{"none over http", func(c *directory.Connector) {
			c.Endpoint, c.TLS, c.Authentication = "http://hr.example.com/x", nil, outbound.CredentialSpec{}
		}, 0, nil},

		{"send claims in unknown", func(c *directory.Connector) { c.SendClaimsIn = "json" }, directory.Invalid, []string{`"sendClaimsIn"`, "body"}},
		{"send claims in form", func(c *directory.Connector) { c.SendClaimsIn = directory.ClaimsInForm }, 0, nil},
		{"send claims in query", func(c *directory.Connector) { c.SendClaimsIn = directory.ClaimsInQuery }, 0, nil},
		{"query claim named like the endpoint's parameter", func(c *directory.Connector) {
			c.Endpoint, c.SendClaimsIn = "https://h/x?code=abc", directory.ClaimsInQuery
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid"}, {ClaimType: "tid", PartnerClaimType: "code"}}
		}, directory.Invalid, []string{`"inputClaims[1]" is sent as the query parameter "code", which the endpoint URL already has`}},
		{"query claim by its own name like the endpoint's parameter", func(c *directory.Connector) {
			c.Endpoint, c.SendClaimsIn = "https://h/x?appid=1", directory.ClaimsInQuery
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid"}}
		}, directory.Invalid, []string{`"inputClaims[0]"`, `"appid"`}},
		{"query claims beside other endpoint parameters", func(c *directory.Connector) {
			c.Endpoint, c.SendClaimsIn = "https://h/x?code=abc", directory.ClaimsInQuery
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid"}}
		}, 0, nil},
		{"body claims named like the endpoint's parameter", func(c *directory.Connector) {
			c.Endpoint = "https://h/x?appid=1"
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "appid"}}
		}, 0, nil},
		{"claim type empty", func(c *directory.Connector) { c.InputClaims = []directory.ConnectorClaim{{PartnerClaimType: "x"}} }, directory.Invalid, []string{`"inputClaims[0].claimType"`, "required"}},
		{"claim type with control", func(c *directory.Connector) { c.OutputClaims = []directory.ConnectorClaim{{ClaimType: "a\nb"}} }, directory.Invalid, []string{`"outputClaims[0].claimType"`, "control"}},
		{"claim type padded", func(c *directory.Connector) { c.InputClaims = []directory.ConnectorClaim{{ClaimType: " a"}} }, directory.Invalid, []string{`"inputClaims[0].claimType"`, "spaces"}},
		{"claim type too long", func(c *directory.Connector) {
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: strings.Repeat("a", 257)}}
		}, directory.Invalid, []string{`"inputClaims[0].claimType"`, "257"}},
		{"claim twice", func(c *directory.Connector) {
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "a"}, {ClaimType: "a", PartnerClaimType: "b"}}
		}, directory.Invalid, []string{`"inputClaims[1].claimType"`, "once"}},
		{"wire name twice", func(c *directory.Connector) {
			c.InputClaims = []directory.ConnectorClaim{{ClaimType: "a"}, {ClaimType: "b", PartnerClaimType: "a"}}
		}, directory.Invalid, []string{`"inputClaims[1].partnerClaimType"`, "wire"}},
		{"header claims good", header(directory.ConnectorClaim{ClaimType: "appid", PartnerClaimType: "X-App-Id"}), 0, nil},
		{"header claim not a token", header(directory.ConnectorClaim{ClaimType: "app id"}), directory.Invalid, []string{`"inputClaims[0].claimType"`, "header name"}},
		{"header claim hop-by-hop", header(directory.ConnectorClaim{ClaimType: "appid", PartnerClaimType: "connection"}), directory.Invalid, []string{`"inputClaims[0].partnerClaimType"`, "Connection", "reserved"}},
		{"header claim Authorization", header(directory.ConnectorClaim{ClaimType: "Authorization"}), directory.Invalid, []string{`"inputClaims[0].claimType"`, "reserved"}},
		{"header claim Host", header(directory.ConnectorClaim{ClaimType: "tid", PartnerClaimType: "host"}), directory.Invalid, []string{"Host", "reserved"}},
		{"header claims differing in case only", header(directory.ConnectorClaim{ClaimType: "a", PartnerClaimType: "X-A"}, directory.ConnectorClaim{ClaimType: "b", PartnerClaimType: "x-a"}), directory.Invalid, []string{`"inputClaims[1].partnerClaimType"`}},
		{"header claim is the api key header", func(c *directory.Connector) {
			c.Authentication = outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x-functions-key", Key: "vault://kv1/secrets/k"}
			c.SendClaimsIn, c.InputClaims = directory.ClaimsInHeader, []directory.ConnectorClaim{{ClaimType: "a", PartnerClaimType: "X-Functions-Key"}}
		}, directory.Invalid, []string{"API key"}},
		{"body claim with any name", func(c *directory.Connector) { c.InputClaims = []directory.ConnectorClaim{{ClaimType: "a b/c"}} }, 0, nil},

		{"timeout negative", func(c *directory.Connector) { c.TimeoutSeconds = -1 }, directory.Invalid, []string{`"timeoutSeconds"`, "120"}},
		{"timeout 120", func(c *directory.Connector) { c.TimeoutSeconds = 120 }, 0, nil},
		{"timeout of a microsecond", func(c *directory.Connector) { c.TimeoutSeconds = 1e-6 }, directory.Invalid, []string{`"timeoutSeconds"`, "at least 0.001 (1 ms)"}},
		{"timeout 121", func(c *directory.Connector) { c.TimeoutSeconds = 121 }, directory.Invalid, []string{`"timeoutSeconds"`}},
		{"retries 5", func(c *directory.Connector) { c.Retries = 5 }, 0, nil},
		{"retries 6", func(c *directory.Connector) { c.Retries = 6 }, directory.Invalid, []string{`"retries"`, "0 to 5"}},
		{"retries negative", func(c *directory.Connector) { c.Retries = -1 }, directory.Invalid, []string{`"retries"`}},

		{"token issuance without apps", func(c *directory.Connector) { c.TokenIssuance = &directory.ConnectorTokenIssuance{} }, directory.Invalid, []string{`"tokenIssuance"`, "resourceApps"}},
		{"token issuance bad policy", func(c *directory.Connector) {
			c.TokenIssuance = &directory.ConnectorTokenIssuance{ClientApps: []string{"x"}, FailurePolicy: "open"}
		}, directory.Invalid, []string{`"tokenIssuance.failurePolicy"`, "failOpen"}},
		{"token issuance unknown app", func(c *directory.Connector) {
			c.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{"00000000-0000-4000-8000-000000000001"}}
		}, directory.NotFound, []string{`"tokenIssuance.resourceApps[0]"`, "not found"}},
		{"token issuance empty app", func(c *directory.Connector) {
			c.TokenIssuance = &directory.ConnectorTokenIssuance{ClientApps: []string{""}}
		}, directory.Invalid, []string{`"tokenIssuance.clientApps[0]"`}},
		{"token issuance reserved output claim", func(c *directory.Connector) {
			c.TokenIssuance = &directory.ConnectorTokenIssuance{ClientApps: []string{"x"}}
			c.OutputClaims = []directory.ConnectorClaim{{ClaimType: "roles"}}
		}, directory.Invalid, []string{`"outputClaims[0].claimType"`, "cannot override"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConnector()
			tc.mutate(&c)
			if tc.kind == 0 {
				c.Name = fmt.Sprint("ok-", strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
						return r
					}
					return '-'
				}, strings.ToLower(tc.name)))
			}
			got, err := svc.CreateConnector(ctx, "contoso", c)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Revision == 0 || got.TenantID == "" || got.SendClaimsIn == "" {
					t.Fatalf("created connector without revision, tenant or defaults: %+v", got)
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
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes a password", err)
			}
		})
	}
}

func TestConnectorService_TokenIssuanceResolvesAppsAndAllowsOneConnectorPerApp(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	res, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	c := goodConnector()
	c.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{"orders"}, ClientApps: []string{strings.ToUpper(client.AppID)}}
	got, err := svc.CreateConnector(ctx, "contoso", c)
	if err != nil {
		t.Fatal(err)
	}
	want := directory.ConnectorTokenIssuance{ResourceApps: []string{res.AppID}, ClientApps: []string{client.AppID}, FailurePolicy: directory.FailClosed}
	equalJSON(t, got.TokenIssuance, want)

	for _, tc := range []struct {
		name string
		ti   directory.ConnectorTokenIssuance
		kind directory.Kind
		want []string
	}{
		{"the resource taken", directory.ConnectorTokenIssuance{ResourceApps: []string{res.AppID}}, directory.Conflict, []string{`"tokenIssuance.resourceApps[0]"`, `"hr-enrichment"`}},
		{"the client taken", directory.ConnectorTokenIssuance{ClientApps: []string{"billing"}}, directory.Conflict, []string{`"tokenIssuance.clientApps[0]"`, `"hr-enrichment"`}},
		{"an unknown app", directory.ConnectorTokenIssuance{ClientApps: []string{"x-unused"}}, directory.NotFound, []string{`"tokenIssuance.clientApps[0]"`, "x-unused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := goodConnector()
			o.Name = "other"
			o.TokenIssuance = &tc.ti
			_, err := svc.CreateConnector(ctx, "contoso", o)
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
	o := goodConnector()
	o.Name = "other"
	spare, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "spare"})
	if err != nil {
		t.Fatal(err)
	}
	o.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{spare.AppID}, ClientApps: []string{"spare"}}
	if _, err := svc.CreateConnector(ctx, "contoso", o); directory.KindOf(err) != directory.Invalid || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("an app listed as resource and client: %v", err)
	}

	// The attached application cannot be deleted while the connector
	// names it; once detached it can.
	err = svc.DeleteApplication(ctx, "contoso", res.AppID)
	if directory.KindOf(err) != directory.Conflict || !strings.Contains(err.Error(), "hr-enrichment") {
		t.Fatalf("deleting an attached application: %v", err)
	}
	// Updating the connector itself keeps its own attachments.
	got.Description = "changed"
	if _, err := svc.UpdateConnector(ctx, "contoso", got.Name, got, got.Revision); err != nil {
		t.Fatalf("update keeping its attachments: %v", err)
	}
	got.TokenIssuance = nil
	if _, err := svc.UpdateConnector(ctx, "contoso", got.Name, got, 0); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteApplication(ctx, "contoso", res.AppID); err != nil {
		t.Fatalf("deleting a detached application: %v", err)
	}
}

func TestConnectorService_UpdateDeleteRevisionsAndRenames(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAPIService(t)
	c, err := svc.CreateConnector(ctx, "contoso", goodConnector())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateConnector(ctx, "contoso", goodConnector()); directory.KindOf(err) != directory.Conflict || !strings.Contains(err.Error(), "already has a connector") {
		t.Fatalf("create twice: %v", err)
	}
	u := c
	u.Name = ""
	u.Retries = 3
	up, err := svc.UpdateConnector(ctx, "contoso", c.Name, u, c.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if up.Retries != 3 || up.Revision <= c.Revision || !up.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("updated = %+v", up)
	}
	if _, err := svc.UpdateConnector(ctx, "contoso", c.Name, u, c.Revision); directory.KindOf(err) != directory.PreconditionFailed {
		t.Fatalf("stale If-Match: %v", err)
	}
	u.Name = "renamed"
	if _, err := svc.UpdateConnector(ctx, "contoso", c.Name, u, 0); directory.KindOf(err) != directory.Invalid || !strings.Contains(err.Error(), "renamed") {
		t.Fatalf("rename: %v", err)
	}
	if _, err := svc.UpdateConnector(ctx, "contoso", "nope", goodConnector(), 0); directory.KindOf(err) != directory.Invalid {
		t.Fatalf("update with another name in the body: %v", err)
	}
	n := goodConnector()
	n.Name = "nope"
	if _, err := svc.UpdateConnector(ctx, "contoso", "nope", n, 0); directory.KindOf(err) != directory.NotFound {
		t.Fatalf("update of a missing connector: %v", err)
	}
	if err := svc.DeleteConnector(ctx, "contoso", c.Name, 0); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteConnector(ctx, "contoso", c.Name, 0); directory.KindOf(err) != directory.NotFound {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := svc.Connector(ctx, "nope", c.Name); directory.KindOf(err) != directory.NotFound {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// fakeVault is the vault's reference table: the objects that exist and who
// references them.
type fakeVault struct {
	mu      sync.Mutex
	objects []string            // references without version that exist
	refs    map[string][]string // ref → referrers
}

func (f *fakeVault) AddReference(_ context.Context, _, ref, referrer string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	base := ref
	if parts := strings.Split(ref, "/"); len(parts) == 6 {
		base = strings.Join(parts[:5], "/")
	}
	if !slices.Contains(f.objects, base) {
		return &directory.Error{Kind: directory.NotFound, Msg: ref + " does not exist"}
	}
	if !slices.Contains(f.refs[ref], referrer) {
		f.refs[ref] = append(f.refs[ref], referrer)
	}
	return nil
}

func (f *fakeVault) RemoveReference(_ context.Context, ref, referrer string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs[ref] = slices.DeleteFunc(f.refs[ref], func(r string) bool { return r == referrer })
	if len(f.refs[ref]) == 0 {
		delete(f.refs, ref)
	}
	return nil
}

func (f *fakeVault) referrers(ref string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refs[ref])
}

func TestConnectorService_VaultReferencesFollowTheStoredConnector(t *testing.T) {
	ctx := context.Background()
	plain, _ := newAPIService(t)
	fv := &fakeVault{refs: map[string][]string{}, objects: []string{
		"vault://kv1/secrets/hr-password", "vault://kv1/certificates/hr-ca", "vault://kv1/secrets/token", "vault://kv1/secrets/alice-password",
		"vault://kv1/secrets/k1", "vault://kv1/certificates/client-ca", "vault://kv1/certificates/backend-ca",
		"vault://kv1/secrets/client-crl",
	}}
	svc := plain.WithVaultReferences(fv)
	const referrer = "connector/contoso/hr-enrichment"

	// A reference to a missing object refuses the create, names the
	// field, and records nothing.
	bad := goodConnector()
	bad.TLS.CACertificates = []string{"vault://kv1/certificates/missing"}
	_, err := svc.CreateConnector(ctx, "contoso", bad)
	if directory.KindOf(err) != directory.NotFound || !strings.Contains(err.Error(), `"tls.caCertificates[0]"`) {
		t.Fatalf("missing reference: %v", err)
	}
	if r := fv.referrers("vault://kv1/secrets/hr-password"); len(r) != 0 {
		t.Fatalf("a refused create left references: %v", r)
	}
	if _, err := svc.Connector(ctx, "contoso", bad.Name); directory.KindOf(err) != directory.NotFound {
		t.Fatalf("a refused create was stored: %v", err)
	}

	c, err := svc.CreateConnector(ctx, "contoso", goodConnector())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"vault://kv1/secrets/hr-password", "vault://kv1/certificates/hr-ca"} {
		if r := fv.referrers(ref); !slices.Equal(r, []string{referrer}) {
			t.Fatalf("referrers of %s = %v", ref, r)
		}
	}
	// A create refused for its name keeps the existing connector's references.
	if _, err := svc.CreateConnector(ctx, "contoso", goodConnector()); directory.KindOf(err) != directory.Conflict {
		t.Fatal(err)
	}
	if r := fv.referrers("vault://kv1/secrets/hr-password"); !slices.Equal(r, []string{referrer}) {
		t.Fatalf("a refused duplicate create released the existing references: %v", r)
	}

	// An update swaps them.
	c.Authentication = outbound.CredentialSpec{Type: outbound.TypeBearer, Token: "vault://kv1/secrets/token"}
	if _, err := svc.UpdateConnector(ctx, "contoso", c.Name, c, 0); err != nil {
		t.Fatal(err)
	}
	if r := fv.referrers("vault://kv1/secrets/hr-password"); len(r) != 0 {
		t.Fatalf("the old password is still referenced by %v", r)
	}
	if r := fv.referrers("vault://kv1/secrets/token"); !slices.Equal(r, []string{referrer}) {
		t.Fatalf("referrers of the token = %v", r)
	}
	// A refused update (stale revision) keeps the stored version's references.
	c2 := c
	c2.Authentication = outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://kv1/secrets/hr-password"}
	if _, err := svc.UpdateConnector(ctx, "contoso", c.Name, c2, 1); directory.KindOf(err) != directory.PreconditionFailed {
		t.Fatal(err)
	}
	if r := fv.referrers("vault://kv1/secrets/hr-password"); len(r) != 0 {
		t.Fatalf("a refused update left a reference: %v", r)
	}
	if r := fv.referrers("vault://kv1/secrets/token"); len(r) != 1 {
		t.Fatalf("a refused update released the stored reference: %v", r)
	}

	// Deleting releases them all.
	if err := svc.DeleteConnector(ctx, "contoso", c.Name, 0); err != nil {
		t.Fatal(err)
	}
	if len(fv.refs) != 0 {
		t.Fatalf("references after the delete: %v", fv.refs)
	}

	// APIs record theirs under gateway/TENANT/API, and deleting the
	// tenant releases everything it held.
	if _, err := svc.CreateAPI(ctx, "contoso", goodAPI()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"vault://kv1/secrets/alice-password":                      {"gateway/contoso/orders"},
		"vault://kv1/secrets/k1/0123456789abcdef0123456789abcdef": {"gateway/contoso/orders"},
		"vault://kv1/certificates/client-ca":                      {"gateway/contoso/orders"},
		"vault://kv1/certificates/backend-ca":                     {"gateway/contoso/orders"},
		"vault://kv1/secrets/client-crl":                          {"gateway/contoso/orders"},
	}
	equalJSON(t, fv.refs, want)
	if _, err := svc.CreateConnector(ctx, "contoso", goodConnector()); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteTenant(ctx, "contoso"); err != nil {
		t.Fatal(err)
	}
	if len(fv.refs) != 0 {
		t.Fatalf("references after deleting the tenant: %v", fv.refs)
	}
}

func TestService_RecordAllVaultReferencesCoversWhatWasStoredBefore(t *testing.T) {
	ctx := context.Background()
	plain, _ := newAPIService(t)
	// Stored without references being recorded (an older version).
	if _, err := plain.CreateAPI(ctx, "contoso", goodAPI()); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.CreateConnector(ctx, "contoso", goodConnector()); err != nil {
		t.Fatal(err)
	}
	fv := &fakeVault{refs: map[string][]string{}, objects: []string{
		"vault://kv1/secrets/hr-password", "vault://kv1/certificates/hr-ca", "vault://kv1/secrets/alice-password",
		"vault://kv1/secrets/k1", "vault://kv1/certificates/client-ca",
	}}
	err := plain.WithVaultReferences(fv).RecordAllVaultReferences(ctx)
	// The backend CA is missing: reported, and the rest recorded.
	if err == nil || !strings.Contains(err.Error(), "gateway/contoso/orders") || !strings.Contains(err.Error(), "backend-ca") {
		t.Fatalf("RecordAllVaultReferences = %v, want the missing backend CA reported", err)
	}
	if r := fv.referrers("vault://kv1/secrets/hr-password"); !slices.Equal(r, []string{"connector/contoso/hr-enrichment"}) {
		t.Fatalf("connector reference: %v", r)
	}
	if r := fv.referrers("vault://kv1/secrets/alice-password"); !slices.Equal(r, []string{"gateway/contoso/orders"}) {
		t.Fatalf("API reference: %v", r)
	}
	if err := plain.RecordAllVaultReferences(ctx); err != nil {
		t.Fatalf("without a vault: %v", err)
	}
}

// TestRace_TwoNodesAttachingConnectorsToTheSameAppLetExactlyOneWin: the
// rule "at most one token-issuance connector per application" is checked
// and acted on in one transaction, so two nodes cannot both attach one.
func TestRace_TwoNodesAttachingConnectorsToTheSameAppLetExactlyOneWin(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		a, b := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		if _, err := a.CreateTenant(ctx, "contoso"); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			app, err := a.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: fmt.Sprint("app-", round)})
			if err != nil {
				t.Fatal(err)
			}
			first, second := goodConnector(), goodConnector()
			first.Name, second.Name = fmt.Sprint("first-", round), fmt.Sprint("second-", round)
			first.TokenIssuance = &directory.ConnectorTokenIssuance{ResourceApps: []string{app.AppID}}
			second.TokenIssuance = &directory.ConnectorTokenIssuance{ClientApps: []string{app.AppID}}
			errs := race(
				func() error { _, err := a.CreateConnector(ctx, "contoso", first); return err },
				func() error { _, err := b.CreateConnector(ctx, "contoso", second); return err },
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
