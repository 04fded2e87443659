package sts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/jws"
)

// TestParseClientAssertion_KeepsEntraErrorsOverPackageJWS: the assertion
// is parsed by package jws (the one JWS parser, shared with guard), and
// each failure still maps to the Entra-shaped message and AADSTS code the
// token endpoint has always answered, with header problems (crit, alg,
// thumbprint) reported before problems of later segments.
func TestParseClientAssertion_KeepsEntraErrorsOverPackageJWS(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	const x5t = "gIMfO5ky0JHcjVb7E63UgVB8wag" // a SHA-1 thumbprint
	hdr := b64(`{"alg":"RS256","x5t":"` + x5t + `"}`)
	claims := b64(`{"iss":"c","sub":"c","aud":"a","exp":1795476344,"jti":"j"}`)
	const sig = "c2ln"
	const malformed = "Invalid JWT token. The client_assertion is not a valid JWT: "
	tests := []struct {
		name string
		raw  string
		code int // 0: accepted
		msg  string
	}{
		{"valid", hdr + "." + claims + "." + sig, 0, ""},
		{"x5c is accepted and not trusted (MSAL WithX5C)", b64(`{"alg":"PS256","x5t#S256":"bLKXCBuJIgJv2Rh5ea7JFL4LiBnrZcA4hd47rlTvhUk","x5c":["MIIB"]}`) + "." + claims + "." + sig, 0, ""},
		{"SHA-1 thumbprint in hex in kid", b64(`{"alg":"ES256","kid":"80CF0D1548F04AAB91D553E4D6A97A6DEFE4CEBD"}`) + "." + claims + "." + sig, 0, ""},
		{"two parts", hdr + "." + claims, CodeMalformedAssertion, malformed + "a compact JWS has three dot-separated parts, this has 2."},
		{"not a JWT", "not.a-jwt", CodeMalformedAssertion, malformed + "a compact JWS has three dot-separated parts, this has 2."},
		{"header not JSON", b64("alg") + "." + claims + "." + sig, CodeMalformedAssertion, malformed + "the header is not a JSON object of the expected shape."},
		{"padding after the header", hdr + "=." + claims + "." + sig, CodeMalformedAssertion, malformed + "the header is not base64url."},
		{"empty header", "." + claims + "." + sig, CodeMalformedAssertion, malformed + "the header is not a JSON object of the expected shape."},
		{"header parameter of the wrong type", b64(`{"alg":"RS256","x5c":"MIIB"}`) + "." + claims + "." + sig, CodeMalformedAssertion, malformed + "the header is not a JSON object of the expected shape."},
		{"crit", b64(`{"alg":"RS256","x5t":"`+x5t+`","crit":["b64"],"b64":false}`) + "." + claims + "." + sig, CodeMalformedAssertion,
			malformed + "the header lists critical extensions 'b64', which this server does not understand (RFC 7515 section 4.1.11)."},
		{"no alg", b64(`{"x5t":"`+x5t+`"}`) + "." + claims + "." + sig, CodeUnsupportedAlgorithm, "Invalid JWT token. '' is not a supported signature algorithm"},
		{"alg none without a signature reports the alg", b64(`{"alg":"none","x5t":"`+x5t+`"}`) + "." + claims + ".", CodeUnsupportedAlgorithm, "Invalid JWT token. 'none' is not a supported"},
		{"alg RS384 (guard accepts it, assertions do not)", b64(`{"alg":"RS384","x5t":"`+x5t+`"}`) + "." + claims + "." + sig, CodeUnsupportedAlgorithm, "Supported signing algorithms are: 'RS256, PS256, ES256, ES384, ES512'."},
		{"bad alg before a bad payload", b64(`{"alg":"HS256","x5t":"`+x5t+`"}`) + "." + claims + "=." + sig, CodeUnsupportedAlgorithm, "'HS256' is not a supported"},
		{"no thumbprint", b64(`{"alg":"RS256","kid":"k"}`) + "." + claims + "." + sig, CodeInvalidCertificate, "The header names no certificate"},
		{"SHA-256 thumbprint as x5t", b64(`{"alg":"RS256","x5t":"bLKXCBuJIgJv2Rh5ea7JFL4LiBnrZcA4hd47rlTvhUk"}`) + "." + claims + "." + sig, CodeMalformedAssertion, malformed + "the header's x5t is not a certificate thumbprint in base64 (not a SHA-1 digest)."},
		{"payload padding", hdr + "." + claims + "=." + sig, CodeMalformedAssertion, malformed + "the payload is not base64url."},
		{"empty payload", hdr + ".." + sig, CodeMalformedAssertion, malformed + "the payload is not a JSON object with the expected claim types (unexpected end of JSON input)."},
		{"payload of the wrong types", hdr + "." + b64(`{"exp":"soon"}`) + "." + sig, CodeMalformedAssertion, malformed + "the payload is not a JSON object with the expected claim types ("},
		{"empty signature", hdr + "." + claims + ".", CodeMalformedAssertion, malformed + "the signature is missing or not base64url."},
		{"padding after the signature", hdr + "." + claims + "." + sig + "=", CodeMalformedAssertion, malformed + "the signature is missing or not base64url."},
		{"longer than the body cap", hdr + "." + strings.Repeat("A", maxAssertionBytes) + "." + sig, CodeMalformedAssertion, malformed + "the assertion is "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, e := parseClientAssertion(tt.raw)
			if tt.code == 0 {
				if e != nil {
					t.Fatalf("refused: %d %s", e.Code, e.Message)
				}
				if a.SigningInput != tt.raw[:strings.LastIndexByte(tt.raw, '.')] || len(a.Signature) == 0 || len(a.Thumbprint) != 20 && len(a.Thumbprint) != 32 {
					t.Fatalf("parsed %+v", a)
				}
				return
			}
			if e == nil {
				t.Fatalf("accepted %+v", a)
			}
			if e.Status != 401 || e.OAuthError != "invalid_client" || e.Code != tt.code || !strings.HasPrefix(e.Message, tt.msg) && !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %d %s %d %q; want 401 invalid_client %d %q", e.Status, e.OAuthError, e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}

// TestVerifySignature_NamesTheCertificatesKey: the key-type check keeps
// the assertion's own wording (the certificate's key, the algs that suit
// it); the signature itself is checked by jws.VerifySignature, which also
// refuses RSA keys under 2048 bits.
func TestVerifySignature_NamesTheCertificatesKey(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const in = "eyJhbGciOiJQUzI1NiJ9.e30"
	sign := func(alg string, k crypto.Signer) []byte {
		sig, err := jws.Sign(alg, k, in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	tests := []struct {
		name string
		alg  string
		pub  crypto.PublicKey
		sig  []byte
		want string // "" = verifies
	}{
		{"PS256", "PS256", &rsa2048.PublicKey, sign("PS256", rsa2048), ""},
		{"RS256", "RS256", &rsa2048.PublicKey, sign("RS256", rsa2048), ""},
		{"ES256", "ES256", &p256.PublicKey, sign("ES256", p256), ""},
		{"ES256 with an RSA certificate", "ES256", &rsa2048.PublicKey, sign("ES256", p256), "alg ES256 does not suit the certificate's RSA key; use RS256 or PS256"},
		{"RS384 with an RSA certificate", "RS384", &rsa2048.PublicKey, sign("RS384", rsa2048), "does not suit the certificate's RSA key"},
		{"ES384 with a P-256 certificate", "ES384", &p256.PublicKey, make([]byte, 96), "alg ES384 does not suit the certificate's EC key (P-256); use ES256 with P-256"},
		{"RS256 signature checked as PS256", "PS256", &rsa2048.PublicKey, sign("RS256", rsa2048), "the PS256 signature does not verify"},
		{"RSA key under 2048 bits", "RS256", &rsa1024.PublicKey, sign("RS256", rsa1024), "at least 2048"},
		{"no key", "RS256", nil, sign("RS256", rsa2048), "certificate key type <nil> is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignature(tt.alg, tt.pub, in, tt.sig)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one containing %q", err, tt.want)
			}
		})
	}
}
