package gateway

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
)

// boundHarness serves API "orders" (bearer, contoso tokens, certificate-bound
// when bound) and API "open" (the same bearer method, not bound).
func boundHarness(t *testing.T, plainOnly bool) *harness {
	h := newHarness(t, func(c *Config) {
		c.TenantKeys = keySourceFunc(func(iss, kid string) (crypto.PublicKey, error) {
			if iss == testIssuer && kid == "k1" {
				return &testRSA.PublicKey, nil
			}
			return nil, errors.New("unknown key")
		})
		c.TenantIssuer = func(id string) string { return "https://login.test/" + id + "/v2.0" }
		c.TenantID = func(s string) (string, bool) { return "11111111-1111-1111-1111-111111111111", s == "contoso" }
		c.PlainHTTPOnly = plainOnly
	})
	bearer := guard.MethodSpec{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Tenant: "contoso"}}, Audiences: []string{"api://orders"}}
	orders := apiKeyAPI("t1", "orders", "/orders", "unused")
	b := bearer
	b.CertificateBound = true
	orders.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{b}}
	open := apiKeyAPI("t1", "open", "/open", "unused")
	open.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{bearer}}
	h.apply(t, orders, open)
	return h
}

func TestEvaluate_CertificateBoundTokens(t *testing.T) {
	h := boundHarness(t, false)
	if !h.g.NeedsClientCertificate() {
		t.Fatal("NeedsClientCertificate is false with a certificate-bound API: TLS listeners would not ask for the certificate")
	}
	_, issue := newCA(t, "Clients CA")
	certA, certB := issue("client-a", x509.ExtKeyUsageClientAuth), issue("client-b", x509.ExtKeyUsageClientAuth)
	thumb := func(c tls.Certificate) string {
		s := sha256.Sum256(c.Leaf.Raw)
		return base64.RawURLEncoding.EncodeToString(s[:])
	}
	exp := h.clock.now().Add(time.Hour).Unix()
	claims := map[string]any{"iss": testIssuer, "aud": "api://orders", "exp": exp, "sub": "s-1", "azp": "app-1",
		"tid": "11111111-1111-1111-1111-111111111111", "uti": "u1"}
	boundClaims := map[string]any{"cnf": map[string]string{"x5t#S256": thumb(certA)}}
	for k, v := range claims {
		boundClaims[k] = v
	}
	boundClaims["uti"] = "u2"
	bound, unbound := token(t, boundClaims), token(t, claims)

	cases := []struct {
		name, path, tok string
		cert            *tls.Certificate
		plainHTTP       bool
		status          int
		want            string
	}{
		{"bound token, its certificate", "/orders/1", bound, &certA, false, 0, ""},
		{"bound token, another certificate", "/orders/1", bound, &certB, false, 401, "presented another certificate"},
		{"bound token, no certificate", "/orders/1", bound, nil, false, 401, "presented no client certificate"},
		{"unbound token", "/orders/1", unbound, &certA, false, 401, "accepts only certificate-bound access tokens"},
		{"plain HTTP", "/orders/1", bound, nil, true, 403, "need the client certificate of a TLS connection"},
		{"unbound API, bound token, its certificate", "/open/1", bound, &certA, false, 0, ""},
		{"unbound API, bound token, another certificate", "/open/1", bound, &certB, false, 401, "presented another certificate"},
		{"unbound API, unbound token", "/open/1", unbound, nil, true, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("GET", "https://h.test"+c.path)
			r.Header.Set("Authorization", "Bearer "+c.tok)
			if !c.plainHTTP {
				r.TLS = &tls.ConnectionState{HandshakeComplete: true}
				if c.cert != nil {
					r.TLS.PeerCertificates = []*x509.Certificate{c.cert.Leaf}
				}
			}
			v := h.g.Evaluate(r, c.plainHTTP)
			if v.Status != c.status {
				t.Fatalf("status %d, want %d: %s", v.Status, c.status, v.Body)
			}
			if !strings.Contains(string(v.Body), c.want) {
				t.Errorf("body %s does not hold %q", v.Body, c.want)
			}
			if c.status == 401 && !strings.Contains(v.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", v.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(v.Body), c.tok) {
				t.Error("the answer echoes the token")
			}
		})
	}
}

func TestApply_CertificateBoundAPIIsRefusedWithoutATLSListener(t *testing.T) {
	h := boundHarness(t, true)
	ps := h.g.Problems()
	if len(ps) != 1 || ps[0].API != "orders" || !strings.Contains(ps[0].Reason, "every gateway listener is plain HTTP") {
		t.Fatalf("problems %+v", ps)
	}
	r := request("GET", "http://h.test/orders/1")
	if v := h.g.Evaluate(r, true); v.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d: %s", v.Status, v.Body)
	}
}
