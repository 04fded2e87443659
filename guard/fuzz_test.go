package guard

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
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
