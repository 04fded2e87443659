package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority for client certificates.
type testCA struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	chain [][]byte // DER of this CA and the intermediates above it, up to (not including) the root
}

func newTestCA(t testing.TB, cn string) *testCA {
	return (*testCA)(nil).sub(t, cn)
}

// sub returns a CA signed by ca (self-signed when ca is nil).
func (ca *testCA) sub(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Portcullis Test"}},
		NotBefore: testEpoch.AddDate(-1, 0, 0), NotAfter: testEpoch.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	sub := &testCA{cert: cert, key: key}
	if ca != nil {
		sub.chain = append([][]byte{der}, ca.chain...)
	}
	return sub
}

func (ca *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// issue makes a client certificate, presented with ca's intermediates.
func (ca *testCA) issue(t testing.TB, cn string, notBefore, notAfter time.Time, ekus ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Portcullis Test"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: ekus,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: append([][]byte{der}, ca.chain...), PrivateKey: key, Leaf: leaf}
}

func sha256Hex(c tls.Certificate) string {
	s := sha256.Sum256(c.Leaf.Raw)
	return hex.EncodeToString(s[:])
}
func sha1Hex(c tls.Certificate) string { s := sha1.Sum(c.Leaf.Raw); return hex.EncodeToString(s[:]) }

// colonUpper writes a thumbprint as Windows shows it: AB:CD:...
func colonUpper(h string) string {
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func outcomes(ex Explanation) string {
	var o []string
	for _, s := range ex.Steps {
		o = append(o, s.Outcome)
	}
	return strings.Join(o, " ")
}

func TestCompilePolicy_ClientCertificatesOverRealTLS(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	inter := root.sub(t, "Test Issuing CA")
	other := newTestCA(t, "Other Root")
	valid := func() (time.Time, time.Time) {
		return testEpoch.Add(-24 * time.Hour), testEpoch.Add(30 * 24 * time.Hour)
	}
	nb, na := valid()
	good := inter.issue(t, "orders-client", nb, na, x509.ExtKeyUsageClientAuth)
	noEKU := inter.issue(t, "orders-client-no-eku", nb, na)
	next := inter.issue(t, "orders-client", nb, na, x509.ExtKeyUsageClientAuth)
	impostor := other.issue(t, "orders-client", nb, na, x509.ExtKeyUsageClientAuth) // same subject, other issuer
	// A CA anyone can make, named exactly like the real issuing CA: a pin by
	// name must not admit what it signs.
	forged := newTestCA(t, "Test Issuing CA").issue(t, "orders-client", nb, na, x509.ExtKeyUsageClientAuth)
	serverOnly := inter.issue(t, "orders-client", nb, na, x509.ExtKeyUsageServerAuth)
	expired := inter.issue(t, "orders-client", testEpoch.Add(-48*time.Hour), testEpoch.Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	early := inter.issue(t, "orders-client", testEpoch.Add(time.Hour), testEpoch.Add(48*time.Hour), x509.ExtKeyUsageClientAuth)

	res := &testResolver{certs: map[string][]*x509.Certificate{"vault://v/certificates/root": {root.cert}}}
	policies := map[string]string{
		"ca":      `{"methods":[{"type":"clientCertificate","trustedCAs":["vault://v/certificates/root"]}]}`,
		"capem":   fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q]}]}`, root.pem()),
		"sha256":  fmt.Sprintf(`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":%q}]}]}`, colonUpper(sha256Hex(good))),
		"sha1":    fmt.Sprintf(`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":%q}]}]}`, sha1Hex(good)),
		"name":    fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":["vault://v/certificates/root"],"pins":[{"subject":%q,"issuer":%q}]}]}`, good.Leaf.Subject.String(), good.Leaf.Issuer.String()),
		"two":     fmt.Sprintf(`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":%q},{"thumbprint":%q}]}]}`, sha256Hex(good), sha1Hex(next)),
		"expired": fmt.Sprintf(`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":%q}]}]}`, sha256Hex(expired)),
		"both":    fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":["vault://v/certificates/root"],"pins":[{"thumbprint":%q}]}]}`, sha256Hex(next)),
	}
	mux := http.NewServeMux()
	for name, js := range policies {
		p := mustCompile(t, js, res, CompileOptions{Now: c.Now, Realm: name})
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			ex := p.Explain(r.Clone(r.Context()))
			b, _ := json.Marshal(ex)
			w.Header().Set("X-Outcomes", outcomes(ex))
			w.Header().Set("X-Explained-Bytes", fmt.Sprint(len(b)))
			pr, e := p.Decide(r)
			if e != nil {
				WriteError(w, p.Realm, e)
				return
			}
			fmt.Fprintf(w, "%s|%s|%v", pr.Subject, pr.CredentialID, pr.Certificate != nil)
		})
	}
	base, client := serveTLS(t, mux, &tls.Config{ClientAuth: tls.RequestClientCert})

	var none tls.Certificate
	tests := []struct {
		name, path string
		cert       tls.Certificate
		status     int
		body       string
		outcome    string
	}{
		{"chains to the trusted root via an intermediate", "ca", good, 200, "CN=orders-client,O=Portcullis Test|" + sha256Hex(good) + "|true", "admitted"},
		{"CA given as PEM", "capem", good, 200, "CN=orders-client", "admitted"},
		{"no extended key usage at all", "ca", noEKU, 200, "CN=orders-client-no-eku", "admitted"},
		{"untrusted issuer", "ca", impostor, 401, `issued by \"CN=Other Root,O=Portcullis Test\", does not chain to a CA this API trusts`, "refused"},
		{"expired", "ca", expired, 401, "expired at 2026-12-05T11:00:00Z (server time 2026-12-05T12:00:00Z)", "refused"},
		{"not yet valid", "ca", early, 401, "is not valid before 2026-12-05T13:00:00Z", "refused"},
		{"server-only EKU", "ca", serverOnly, 401, "do not include clientAuth", "refused"},
		{"no certificate", "ca", none, 401, "this API requires a client certificate; the connection presented none", "absent"},
		{"SHA-256 pin with colons and upper case", "sha256", good, 200, "CN=orders-client", "admitted"},
		{"SHA-256 pin, other certificate", "sha256", next, 401, "SHA-256 thumbprint " + sha256Hex(next) + ") matches none of this API's pinned certificates", "refused"},
		{"SHA-1 pin", "sha1", good, 200, sha256Hex(good), "admitted"},
		{"SHA-1 pin, other certificate", "sha1", next, 401, "matches none", "refused"},
		{"subject and issuer pin", "name", good, 200, "CN=orders-client", "admitted"},
		{"subject and issuer pin, rotated certificate of the same CA", "name", next, 200, "CN=orders-client", "admitted"},
		{"pinned subject but another issuer", "name", impostor, 401, "does not chain to a CA this API trusts", "refused"},
		{"pinned subject and issuer name, forged by a look-alike CA", "name", forged, 401, "does not chain to a CA this API trusts", "refused"},
		{"two pins: current", "two", good, 200, sha256Hex(good), "admitted"},
		{"two pins: next", "two", next, 200, sha256Hex(next), "admitted"},
		{"two pins: neither", "two", noEKU, 401, "matches none", "refused"},
		{"pins only still check validity", "expired", expired, 401, "expired at", "refused"},
		{"pins only still check the EKU", "sha256", serverOnly, 401, "do not include clientAuth", "refused"},
		{"CA and pin: both must hold", "both", good, 401, "matches none", "refused"},
		{"CA and pin: both hold", "both", next, 200, sha256Hex(next), "admitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := client.Transport.(*http.Transport).Clone()
			cert := tt.cert
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			resp, err := cl.Get(base + "/" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %s\nwant %d containing %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Get("X-Outcomes"); got != tt.outcome {
				t.Errorf("Explain outcomes %q, want %q", got, tt.outcome)
			}
		})
	}
}

func TestCompilePolicy_BearerFromATenantAndAnOIDCIssuerWithRotationAndOutage(t *testing.T) {
	testKeys(t)
	tenant := newFakeKeys()
	tenant.set(testIss, "a", &rsaA.PublicKey)
	tenant.set(otherIss, "a", &rsaA.PublicKey) // served by the source, but not listed in the policy
	ti := newTestIssuer(t)
	ti.publish("k1", &rsaB.PublicKey)
	c := newClock()
	oidc := newSource(t, ti, c)
	res := &testResolver{issuers: map[string]resolvedIssuer{"contoso": {testIss, tenant}, ti.URL: {ti.URL, oidc}}}
	p := mustCompile(t, `{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"},{"issuer":"`+ti.URL+`"}],"audiences":["`+testAud+`"]}]}`,
		res, CompileOptions{Now: c.Now})

	fromOIDC := with(validClaims(), "iss", ti.URL)
	type tc struct {
		name string
		tok  string
		want decision
	}
	run := func(t *testing.T, tests []tc) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, "/orders", nil)
				r.Header.Set("Authorization", "Bearer "+tt.tok)
				checkDecision(t, p, r, tt.want, tt.tok, tt.tok[strings.LastIndexByte(tt.tok, '.')+1:])
			})
		}
	}
	fetches := ti.jwksFetches.Load()
	run(t, []tc{
		{"tenant token", signJWT(t, rsaA, rs256("a"), validClaims()), decision{0, "", "9b1c-sub tok-1", "admitted"}},
		{"OIDC issuer token", signJWT(t, rsaB, rs256("k1"), fromOIDC), decision{0, "", "9b1c-sub", "admitted"}},
		{"issuer not listed", signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", otherIss)), decision{401, CodeInvalidToken, "issuer \"https://issuer.test/fabrikam/v2.0\" is not trusted by this API", "refused"}},
		{"OIDC issuer claimed, tenant key used", signJWT(t, rsaA, rs256("a"), fromOIDC), decision{401, CodeInvalidToken, "does not publish a signing key with kid \"a\"", "refused"}},
		{"forged signature", signJWT(t, rsaEvil, rs256("k1"), fromOIDC), decision{401, CodeInvalidToken, "signature is not valid", "refused"}},
		{"ES256 not in the default algorithms", signJWT(t, ecA, map[string]any{"alg": "ES256", "kid": "a"}, validClaims()), decision{401, CodeInvalidToken, "alg \"ES256\" is not accepted; this API accepts RS256", "refused"}},
		{"other audience", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", "api://billing")), decision{401, CodeInvalidToken, "not this API's", "refused"}},
	})
	if ti.jwksFetches.Load() != fetches {
		t.Errorf("refused tokens made the OIDC source fetch (%d -> %d)", fetches, ti.jwksFetches.Load())
	}

	t.Run("unlisted issuer costs no key lookup", func(t *testing.T) {
		before := tenant.calls.Load()
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", otherIss, "uti", "x")))
		if _, e := p.Decide(r); e == nil || tenant.calls.Load() != before {
			t.Errorf("refusal %v after %d key lookups", e, tenant.calls.Load()-before)
		}
	})

	// Rotation: the issuer publishes k2; the first token signed with it
	// makes the source refetch its JWKS.
	ti.publish("k2", &rsaA.PublicKey)
	c.Advance(DefaultMinRefetchInterval)
	rotated := signJWT(t, rsaA, rs256("k2"), with(fromOIDC, "uti", "tok-2"))
	run(t, []tc{{"rotated key picked up", rotated, decision{0, "", "tok-2", "admitted"}}})

	// Outage: the JWKS answers 500. Known keys keep working; an unknown
	// kid cannot be told from a rotation we cannot see, so 503, not 401.
	ti.configure(func(ti *testIssuer) { ti.status = http.StatusInternalServerError })
	c.Advance(DefaultMinRefetchInterval)
	run(t, []tc{
		{"outage: unknown kid is 503", signJWT(t, rsaEvil, rs256("k3"), with(fromOIDC, "uti", "tok-3")), decision{503, CodeTemporarilyUnavailable, "cannot be loaded now", "refused"}},
		{"outage: last good key still works", signJWT(t, rsaB, rs256("k1"), with(fromOIDC, "uti", "tok-4")), decision{0, "", "tok-4", "admitted"}},
		{"outage: rotated key still works", signJWT(t, rsaA, rs256("k2"), with(fromOIDC, "uti", "tok-5")), decision{0, "", "tok-5", "admitted"}},
		{"outage: tenant unaffected", signJWT(t, rsaA, rs256("a"), with(validClaims(), "uti", "tok-6")), decision{0, "", "tok-6", "admitted"}},
	})
	if _, err := oidc.Key(context.Background(), ti.URL, "k3"); err == nil {
		t.Error("k3 known")
	}
}

func TestCompilePolicy_AcceptedCertificateIsRefusedOnceItOrItsCAExpires(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root") // valid until testEpoch + 1 year
	leaf := root.issue(t, "long-lived", testEpoch.Add(-time.Hour), testEpoch.AddDate(2, 0, 0), x509.ExtKeyUsageClientAuth)
	short := root.issue(t, "short-lived", testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	res := &testResolver{certs: map[string][]*x509.Certificate{"root": {root.cert}}}
	p := mustCompile(t, `{"methods":[{"type":"clientCertificate","trustedCAs":["root"]}]}`, res, CompileOptions{Now: c.Now})
	decide := func(cert tls.Certificate) *Error {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
		_, e := p.Decide(r)
		return e
	}
	for range 2 { // the second time from the cache
		if e := decide(leaf); e != nil {
			t.Fatal(e)
		}
		if e := decide(short); e != nil {
			t.Fatal(e)
		}
	}
	c.Advance(2 * time.Hour)
	if e := decide(short); e == nil || !strings.Contains(e.Description, "expired at") {
		t.Errorf("expired certificate after caching: %v", e)
	}
	if e := decide(leaf); e != nil {
		t.Fatal(e)
	}
	c.Advance(366 * 24 * time.Hour) // the root has expired, the leaf has not
	if e := decide(leaf); e == nil || !strings.Contains(e.Description, "does not chain to a CA this API trusts") {
		t.Errorf("certificate of an expired CA after caching: %v", e)
	}
}
