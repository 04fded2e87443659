package guard

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The gateway's hot path: go test ./guard -run '^$' -bench Decide -benchmem

func benchDecide(b *testing.B, p Policy, r *http.Request, reset func(r *http.Request)) {
	b.Helper()
	if reset != nil {
		reset(r)
	}
	if _, e := p.Decide(r); e != nil {
		b.Fatal(e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if reset != nil {
			reset(r)
		}
		if _, e := p.Decide(r); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkDecide_APIKey(b *testing.B) {
	res := &testResolver{secrets: map[string]*testSecret{
		"vault://v/secrets/k1": newSecret("3c6e0b8a9c15224a8228b9a98ca1531d", "1"),
		"vault://v/secrets/k2": newSecret("a5d1f0e7f4b1c1a2e8d0b39e9f0c7d61", "2"),
	}}
	p := mustCompile(b, apiKeySpec, res, CompileOptions{})
	r := httptest.NewRequest(http.MethodGet, "/orders?page=2", nil)
	key := []string{"a5d1f0e7f4b1c1a2e8d0b39e9f0c7d61"}
	benchDecide(b, p, r, func(r *http.Request) { r.Header["X-Functions-Key"] = key })
}

func BenchmarkDecide_Basic(b *testing.B) {
	res := &testResolver{secrets: map[string]*testSecret{
		"vault://v/secrets/alice": newSecret("correct horse battery staple", "v1"),
		"vault://v/secrets/bob":   newSecret("tr0ub4dor&3", "b1"),
	}}
	p := mustCompile(b, basicSpec, res, CompileOptions{})
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", basicAuth("alice", "correct horse battery staple"))
	benchDecide(b, p, r, nil)
}

func BenchmarkDecide_BearerCached(b *testing.B) {
	testKeys(b)
	keys := newFakeKeys()
	keys.set(testIss, "a", &rsaA.PublicKey)
	res := &testResolver{issuers: map[string]resolvedIssuer{"contoso": {testIss, keys}}}
	c := newClock()
	p := mustCompile(b, `{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["`+testAud+`"]}],"rules":{"roles":["Orders.Read"]}}`,
		res, CompileOptions{Now: c.Now})
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+signJWT(b, rsaA, rs256("a"), validClaims()))
	benchDecide(b, p, r, nil)
}

func BenchmarkDecide_ClientCertificate(b *testing.B) {
	root := newTestCA(b, "Test Root")
	inter := root.sub(b, "Test Issuing CA")
	cert := inter.issue(b, "orders-client", testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	var chain []*x509.Certificate
	for _, der := range cert.Certificate {
		c, _ := x509.ParseCertificate(der)
		chain = append(chain, c)
	}
	res := &testResolver{certs: map[string][]*x509.Certificate{"root": {root.cert}}}
	for _, tc := range []struct{ name, spec string }{
		{"TrustedCA", `{"methods":[{"type":"clientCertificate","trustedCAs":["root"]}]}`},
		{"Pin", fmt.Sprintf(`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":%q}]}]}`, sha256Hex(cert))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := mustCompile(b, tc.spec, res, CompileOptions{Now: newClock().Now})
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: chain}
			benchDecide(b, p, r, nil)
		})
	}
}
