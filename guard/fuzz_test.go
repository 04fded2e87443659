package guard

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify feeds arbitrary tokens to a Verifier over a real key set: it
// must never panic, never accept a token whose signature it did not check,
// and refuse only with 401 invalid_token without echoing the token.
func FuzzVerify(f *testing.F) {
	fx := newVerifierFixture(f, nil)
	good := signJWT(f, rsaA, rs256("a"), validClaims())
	ec := signJWT(f, ecA, map[string]any{"alg": "ES256", "kid": "ec"}, validClaims())
	f.Add(good)
	f.Add(ec)
	f.Add(signJWT(f, rsaA, map[string]any{"alg": "RS256", "kid": "a", "jku": "https://x"}, validClaims()))
	f.Add(b64s(`{"alg":"none","kid":"a"}`) + "." + b64s(`{"iss":"`+testIss+`","aud":"`+testAud+`","exp":9999999999}`) + ".")
	f.Add(b64s(`{"alg":"HS256","kid":"a"}`) + ".e30.c2ln")
	f.Add(good + "=")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := fx.v.Verify(context.Background(), raw)
		if err == nil {
			// Only the two genuine tokens verify: any other spelling or
			// content accepted would be a forgery.
			if p == nil || raw != good && raw != ec {
				t.Fatalf("accepted %q as %+v", raw, p)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != CodeInvalidToken {
			t.Fatalf("error %#v for %q", err, raw)
		}
		if len(raw) >= 24 && strings.Contains(e.Description, raw) {
			t.Fatalf("description echoes the token: %q", e.Description)
		}
		ch := e.Challenge("api")
		for i := 0; i < len(ch); i++ {
			if ch[i] < 0x20 || ch[i] > 0x7e {
				t.Fatalf("challenge has byte %#x: %q", ch[i], ch)
			}
		}
	})
}

// FuzzParseJWKS checks that any JWKS document parses without panic and
// yields only usable keys with their kid.
func FuzzParseJWKS(f *testing.F) {
	testKeys(f)
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"` + b64(rsaA.N.Bytes()) + `","e":"AQAB"}]}`))
	b, _ := ecA.PublicKey.Bytes()
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"` + b64(b[1:33]) + `","y":"` + b64(b[33:]) + `"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"` + b64(make([]byte, 32)) + `"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","use":"enc"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, _, err := parseJWKS(doc, DefaultMaxKeys)
		if err != nil {
			return
		}
		if len(keys) > DefaultMaxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for kid, k := range keys {
			if kid == "" || k == nil {
				t.Fatalf("key %q = %v", kid, k)
			}
		}
	})
}

// FuzzAuthorizationHeader checks the Authorization header rules on any
// header values: one header or a 400, token68 characters only, never a
// panic, never a 500.
func FuzzAuthorizationHeader(f *testing.F) {
	f.Add("Bearer abc.def.ghi", "")
	f.Add("bearer x", "")
	f.Add("Bearer a", "Bearer b")
	f.Add("Basic dTpw", "")
	f.Add("Bearer ", "")
	f.Add("Bearer a b", "")
	f.Fuzz(func(t *testing.T, first, second string) {
		r, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
		r.Header["Authorization"] = []string{first}
		if second != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], second)
		}
		tok, err := BearerToken(r)
		if second != "" {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("two headers: %q, %v", tok, err)
			}
			return
		}
		if err == nil {
			if tok == "" || strings.ContainsAny(tok, " \t\r\n,\"") || !utf8.ValidString(tok) || !strings.EqualFold(first[:7], "Bearer ") {
				t.Fatalf("header %q gave token %q", first, tok)
			}
			return
		}
		if e := AsError(err); e.Status != http.StatusBadRequest && !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("header %q: %v", first, err)
		}
		_, err = Basic(passwords{"u": "p"}).Authenticate(r)
		if e := AsError(err); err != nil && e.Status >= 500 {
			t.Fatalf("Basic with %q: %v", first, err)
		}
	})
}

// anyResolver resolves every reference: the fuzzer explores specs, not
// references.
type anyResolver struct{ keys *fakeKeys }

func (anyResolver) Secret(ref string) (SecretRef, error) { return newSecret("s3cret-"+ref, "1"), nil }
func (anyResolver) Certificates(ref string) ([]*x509.Certificate, error) {
	return (&testResolver{}).Certificates(ref)
}
func (a anyResolver) Issuer(spec IssuerSpec) (string, KeySource, error) {
	if spec.Tenant != "" {
		return "https://issuer.test/" + spec.Tenant + "/v2.0", a.keys, nil
	}
	return spec.Issuer, a.keys, nil
}

// FuzzCompilePolicy feeds arbitrary JSON specs to Validate and
// CompilePolicy: never a panic; a spec Validate refuses never compiles;
// a compiled policy decides on a request without panicking.
func FuzzCompilePolicy(f *testing.F) {
	for _, s := range []string{basicSpec, apiKeySpec,
		`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":"` + strings.Repeat("ab", 20) + `"},{"subject":"CN=a","issuer":"CN=b"}]}]}`,
		`{"methods":[{"type":"clientCertificate","trustedCAs":["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]}]}`,
		`{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"},{"issuer":"https://login.example/x/v2.0"}],"audiences":["api://orders"],"algorithms":["RS256","ES256"]}],"rules":{"roles":["a"],"scopes":["b"],"require":"all","tenants":["t"]}}`,
		`{"methods":[{"type":"apiKey","header":"x","query":"q","keys":[{"name":"k","secret":"s"}],"users":[{"name":"u","password":"p"}]}]}`,
		`{"methods":[{"type":"basic","users":[{"name":"a:b","password":"p"}]}]}`,
		`{"methods":null}`, `[]`, `{"methods":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	res := anyResolver{keys: newFakeKeys()}
	f.Fuzz(func(t *testing.T, js []byte) {
		var spec PolicySpec
		if json.Unmarshal(js, &spec) != nil {
			return
		}
		verr := spec.Validate()
		p, err := CompilePolicy(spec, res, CompileOptions{CacheSize: 4})
		if verr != nil {
			if err == nil {
				t.Fatalf("Validate refused (%v) but CompilePolicy compiled %s", verr, js)
			}
			return
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "policy.") {
				t.Errorf("error without a JSON path: %v", err)
			}
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/x?code=abc&q=1", nil)
		r.Header.Set("Authorization", "Basic dTpw")
		r.Header.Set("X-Functions-Key", "abc")
		if _, e := p.Decide(r); e == nil || e.Status >= 500 && e.Status != 503 {
			t.Fatalf("decision %v for %s", e, js)
		}
		p.Explain(r)
	})
}

// FuzzAPIKeyQuery checks the API key authenticator on any query and
// header: never a panic or a 500; the key parameter and header never
// survive; every other query segment survives as it was, in order.
func FuzzAPIKeyQuery(f *testing.F) {
	f.Add("code=key-one", "")
	f.Add("a=1&code=key-two&b=%2F+x&&c", "")
	f.Add("co%64e=key-one&code=x", "key-one")
	f.Add("code=%zz", "")
	f.Add("code=%20key-one", "key-one ")
	f.Add("c%6Fde&code", "")
	f.Add("", "key-two")
	res := &testResolver{secrets: map[string]*testSecret{"vault://v/secrets/k1": newSecret("key-one", "1"), "vault://v/secrets/k2": newSecret("key-two", "2")}}
	p := mustCompile(f, apiKeySpec, res, CompileOptions{})
	f.Fuzz(func(t *testing.T, rawQuery, header string) {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.URL.RawQuery = rawQuery
		if header != "" {
			r.Header["X-Functions-Key"] = []string{header}
		}
		pr, e := p.Decide(r)
		if e == nil {
			if pr.Subject != "orders-current" && pr.Subject != "orders-next" {
				t.Fatalf("admitted %+v", pr)
			}
		} else if e.Status >= 500 {
			t.Fatalf("%d for %q %q", e.Status, rawQuery, header)
		}
		if r.Header.Values("X-Functions-Key") != nil {
			t.Fatalf("header survived: %q", r.Header.Values("X-Functions-Key"))
		}
		var want []string
		found := false
		for seg := range strings.SplitSeq(rawQuery, "&") {
			k, _, _ := strings.Cut(seg, "=")
			if u, err := url.QueryUnescape(k); err == nil && u == "code" {
				found = true
				continue
			}
			want = append(want, seg)
		}
		if !found {
			if r.URL.RawQuery != rawQuery {
				t.Fatalf("query without a key changed: %q -> %q", rawQuery, r.URL.RawQuery)
			}
			return
		}
		if got := r.URL.RawQuery; got != strings.Join(want, "&") {
			t.Fatalf("query %q became %q, want %q", rawQuery, got, strings.Join(want, "&"))
		}
	})
}

// FuzzCRL feeds arbitrary bytes, as a CRL from a URL or the vault would
// arrive, to ParseCRL and the revocation check: it must never panic, and
// only the genuine list, signed by the issuer, may revoke the certificate.
func FuzzCRL(f *testing.F) {
	root := newTestCA(f, "Fuzz Root")
	cert := root.issueOCSP(f, "fuzzed", "")
	genuine := crl(f, root, root, 1, testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour), cert)
	f.Add(genuine)
	f.Add([]byte(crlPEM(genuine)))
	f.Add(crl(f, root, newTestCA(f, "Fuzz Root"), 1, testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour), cert))
	f.Add([]byte(root.pem()))
	f.Add([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseCRL(b)
		if err != nil {
			if l != nil {
				t.Fatal("a list and an error")
			}
			return
		}
		rv := &revocation{crls: []*crlEntry{{name: "crls[0]", src: fixedCRL{l}}}, seen: make([]atomic.Pointer[x509.RevocationList], 1)}
		rv.currentEpoch()
		res := rv.check(context.Background(), cert.Leaf, root.cert, testEpoch, "the certificate")
		if res.err != nil && strings.Contains(res.err.Description, "was revoked") && !bytes.Equal(l.Raw, genuine) {
			t.Fatalf("a list that is not the genuine one revoked the certificate: %x", b)
		}
	})
}
