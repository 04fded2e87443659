package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsa1024  *rsa.PrivateKey
	p256Key  *ecdsa.PrivateKey
	p384Key  *ecdsa.PrivateKey
	p521Key  *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		rsa1024, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		p256Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		p384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		p521Key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(err)
		_, edKey, err = ed25519.GenerateKey(rand.Reader)
		must(err)
		if err != nil {
			panic(err)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// token signs header and payload JSON with key under alg.
func token(t testing.TB, alg string, key crypto.Signer, header, payload string) string {
	t.Helper()
	in := b64(header) + "." + b64(payload)
	sig, err := Sign(alg, key, in)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestParse_AcceptsOneSpellingAndRefusesOthers(t *testing.T) {
	keys(t)
	good := token(t, "RS256", rsaKey, `{"alg":"RS256","kid":"k1","typ":"JWT"}`, `{"sub":"a"}`)
	h, p, s := split(good)
	tests := []struct {
		name string
		raw  string
		want string // substring of the error; "" = accepted
	}{
		{"valid", good, ""},
		{"two parts", h + "." + p, "three dot-separated parts, this has 2"},
		{"four parts", good + ".x", "this has 4"},
		{"padding on signature", good + "==", "'=' padding"},
		{"padding on header", b64(`{"alg":"RS256"}`) + "=." + p + "." + s, "'=' padding"},
		{"standard alphabet plus", h + "." + p + "." + strings.Replace(s, s[:1], "+", 1), "not base64url"},
		{"slash", h + "." + p + "./" + s[1:], "not base64url"},
		{"newline inside", h + "." + p[:2] + "\n" + p[2:] + "." + s, "not base64url"},
		{"space", " " + good, "not base64url"},
		{"empty header", "." + p + "." + s, "header is empty"},
		{"empty payload", h + ".." + s, "payload is empty"},
		{"empty signature", h + "." + p + ".", "signature is empty"},
		{"non-zero trailing bits", h + "." + p + "." + s[:len(s)-1] + flipLow(s[len(s)-1]), "not canonical"},
		{"impossible length", h + "." + p + "." + s + "AAA", "not canonical"},
		{"header array", b64(`["alg"]`) + "." + p + "." + s, "not a JSON object"},
		{"header null", b64(`null`) + "." + p + "." + s, "not a JSON object"},
		{"header trailing garbage", b64(`{"alg":"RS256"}x`) + "." + p + "." + s, "not a JSON object"},
		{"no alg", b64(`{"kid":"k"}`) + "." + p + "." + s, "no alg"},
		{"empty alg", b64(`{"alg":""}`) + "." + p + "." + s, "no alg"},
		{"alg in upper case name", b64(`{"ALG":"RS256"}`) + "." + p + "." + s, "no alg"},
		{"alg number", b64(`{"alg":256}`) + "." + p + "." + s, `"alg" has the wrong JSON type`},
		{"x5c string", b64(`{"alg":"RS256","x5c":"MII"}`) + "." + p + "." + s, `"x5c" has the wrong JSON type`},
		{"crit", b64(`{"alg":"RS256","crit":["exp"],"exp":1}`) + "." + p + "." + s, "critical extensions [exp]"},
		{"empty crit", b64(`{"alg":"RS256","crit":[]}`) + "." + p + "." + s, "critical extensions"},
		{"too long", good + strings.Repeat("A", DefaultMaxLength), "at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.raw, 0)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tok.Header.Alg != "RS256" || tok.Header.Kid != "k1" || tok.Header.Typ != "JWT" {
					t.Errorf("header = %+v", tok.Header)
				}
				if string(tok.Payload) != `{"sub":"a"}` || tok.SigningInput != h+"."+p || len(tok.Signature) != 256 {
					t.Errorf("token = %q %q %d", tok.Payload, tok.SigningInput, len(tok.Signature))
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted %q", tt.raw)
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}

// TestParse_ErrorsSayWhichSegmentAndKeepAWellFormedHeader: callers that
// map parse failures onto their own protocol (the token service's
// Entra-compatible errors) branch on the segment, whether its encoding or
// its content is wrong, and, when the header itself is well-formed, on the
// header (to report an unaccepted alg before a broken payload).
func TestParse_ErrorsSayWhichSegmentAndKeepAWellFormedHeader(t *testing.T) {
	keys(t)
	good := token(t, "RS256", rsaKey, `{"alg":"RS256","kid":"k1"}`, `{"sub":"a"}`)
	h, p, s := split(good)
	none := b64(`{"alg":"none","x5t":"abc"}`)
	tests := []struct {
		name       string
		raw        string
		seg        Segment
		encoding   bool
		headerAlg  string // "" = no header in the error
		headerCrit string
	}{
		{"too long", good + strings.Repeat("A", DefaultMaxLength), SegmentToken, false, "", ""},
		{"two parts", h + "." + p, SegmentToken, false, "", ""},
		{"header padding", h + "=." + p + "." + s, SegmentHeader, true, "", ""},
		{"empty header", "." + p + "." + s, SegmentHeader, true, "", ""},
		{"header not JSON", b64(`alg`) + "." + p + "." + s, SegmentHeader, false, "", ""},
		{"header parameter of the wrong type", b64(`{"alg":"RS256","kid":7}`) + "." + p + "." + s, SegmentHeader, false, "", ""},
		{"crit", b64(`{"alg":"PS256","crit":["b64"],"b64":false}`) + "." + p + "." + s, SegmentHeader, false, "PS256", "b64"},
		{"no alg", b64(`{"kid":"k"}`) + "." + p + "." + s, SegmentHeader, false, "-", ""},
		{"payload padding", h + "." + p + "=." + s, SegmentPayload, true, "RS256", ""},
		{"empty payload", h + ".." + s, SegmentPayload, true, "RS256", ""},
		{"alg none without signature", none + "." + p + ".", SegmentSignature, true, "none", ""},
		{"signature padding", good + "=", SegmentSignature, true, "RS256", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.raw, 0)
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v (%T), want a *ParseError matching ErrMalformed", err, err)
			}
			if pe.Segment != tt.seg || pe.Encoding != tt.encoding {
				t.Errorf("segment %d encoding %v, want %d %v (%v)", pe.Segment, pe.Encoding, tt.seg, tt.encoding, err)
			}
			switch {
			case tt.headerAlg == "" && pe.Header != nil:
				t.Errorf("header %+v in the error, want none", pe.Header)
			case tt.headerAlg != "" && pe.Header == nil:
				t.Errorf("no header in the error, want one")
			case tt.headerAlg == "-" && pe.Header.Alg != "":
				t.Errorf("header alg %q, want empty", pe.Header.Alg)
			case tt.headerAlg != "" && tt.headerAlg != "-" && pe.Header.Alg != tt.headerAlg:
				t.Errorf("header alg %q, want %q", pe.Header.Alg, tt.headerAlg)
			}
			if tt.headerCrit != "" && (len(pe.Header.Crit) != 1 || pe.Header.Crit[0] != tt.headerCrit) {
				t.Errorf("header crit %q, want [%s]", pe.Header.Crit, tt.headerCrit)
			}
		})
	}
}

func TestParse_RecordsTrustHeadersSoCallersCanRefuseThem(t *testing.T) {
	for _, name := range []string{"jwk", "jku", "x5u", "x5c"} {
		t.Run(name, func(t *testing.T) {
			v := `""`
			switch name {
			case "jwk":
				v = `{"kty":"oct","k":"c2VjcmV0"}`
			case "x5c":
				v = `["MIIB"]`
			}
			raw := b64(`{"alg":"RS256","`+name+`":`+v+`}`) + "." + b64(`{}`) + ".c2ln"
			tok, err := Parse(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Header.Has(name) {
				t.Errorf("Has(%q) = false", name)
			}
			if tok.Header.Has("kid") {
				t.Error("Has(kid) = true for a header without kid")
			}
		})
	}
	tok, err := Parse(b64(`{"alg":"RS256","jku":null}`)+"."+b64(`{}`)+".c2ln", 0)
	if err != nil || !tok.Header.Has("jku") {
		t.Errorf("a null jku must still count as present: %v", err)
	}
}

func TestVerifySignature_AllowListPerKeyType(t *testing.T) {
	keys(t)
	const in = "eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0"
	sign := func(alg string, k crypto.Signer) []byte {
		sig, err := Sign(alg, k, in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	rs256 := sign("RS256", rsaKey)
	tests := []struct {
		name string
		alg  string
		pub  crypto.PublicKey
		sig  []byte
		want string
	}{
		{"RS256", "RS256", &rsaKey.PublicKey, rs256, ""},
		{"RS384", "RS384", &rsaKey.PublicKey, sign("RS384", rsaKey), ""},
		{"RS512", "RS512", &rsaKey.PublicKey, sign("RS512", rsaKey), ""},
		{"PS256", "PS256", &rsaKey.PublicKey, sign("PS256", rsaKey), ""},
		{"PS384", "PS384", &rsaKey.PublicKey, sign("PS384", rsaKey), ""},
		{"PS512", "PS512", &rsaKey.PublicKey, sign("PS512", rsaKey), ""},
		{"ES256", "ES256", &p256Key.PublicKey, sign("ES256", p256Key), ""},
		{"ES384", "ES384", &p384Key.PublicKey, sign("ES384", p384Key), ""},
		{"ES512", "ES512", &p521Key.PublicKey, sign("ES512", p521Key), ""},
		{"EdDSA", "EdDSA", edKey.Public(), sign("EdDSA", edKey), ""},
		{"none", "none", &rsaKey.PublicKey, nil, "alg none is never accepted"},
		{"None", "None", &rsaKey.PublicKey, nil, "alg none is never accepted"},
		{"NONE", "NONE", &rsaKey.PublicKey, nil, "alg none is never accepted"},
		{"empty alg", "", &rsaKey.PublicKey, rs256, "names no alg"},
		{"HS256 with RSA key", "HS256", &rsaKey.PublicKey, rs256, "HMAC"},
		{"hs512 lower case", "hs512", &p256Key.PublicKey, rs256, "HMAC"},
		{"RS256 signature checked as PS256", "PS256", &rsaKey.PublicKey, rs256, "PS256 signature does not verify"},
		{"ES256 with RSA key", "ES256", &rsaKey.PublicKey, rs256, "does not suit an RSA key"},
		{"RS256 with EC key", "RS256", &p256Key.PublicKey, rs256, "does not suit an EC key on P-256"},
		{"ES384 with P-256 key", "ES384", &p256Key.PublicKey, make([]byte, 96), "does not suit an EC key on P-256"},
		{"ES256 DER-length signature", "ES256", &p256Key.PublicKey, append(sign("ES256", p256Key), 0), "R||S is 64"},
		{"EdDSA with RSA key", "EdDSA", &rsaKey.PublicKey, rs256, "does not suit an RSA key"},
		{"RS256 with Ed25519 key", "RS256", edKey.Public(), rs256, "does not suit an Ed25519 key"},
		{"RSA 1024", "RS256", &rsa1024.PublicKey, sign("RS256", rsa1024), "1024 bits; at least 2048"},
		{"flipped bit", "RS256", &rsaKey.PublicKey, flip(rs256, 7), "does not verify"},
		{"truncated", "RS256", &rsaKey.PublicKey, rs256[:255], "does not verify"},
		{"ES256 flipped", "ES256", &p256Key.PublicKey, flip(sign("ES256", p256Key), 40), "does not verify"},
		{"EdDSA flipped", "EdDSA", edKey.Public(), flip(sign("EdDSA", edKey), 3), "does not verify"},
		{"unsupported key type", "RS256", "not a key", rs256, "cannot verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.alg, tt.pub, in, tt.sig)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("VerifySignature: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestVerifySignature_OtherInputFails(t *testing.T) {
	keys(t)
	sig, _ := Sign("ES256", p256Key, "a.b")
	if err := VerifySignature("ES256", &p256Key.PublicKey, "a.c", sig); err == nil {
		t.Error("a signature verified over a different signing input")
	}
}

func TestAlgorithmsFor(t *testing.T) {
	keys(t)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"rsa", &rsaKey.PublicKey, "RS256 RS384 RS512 PS256 PS384 PS512"},
		{"p256", &p256Key.PublicKey, "ES256"},
		{"p521", &p521Key.PublicKey, "ES512"},
		{"ed25519", edKey.Public(), "EdDSA"},
		{"other", []byte("secret"), ""},
	}
	for _, tt := range tests {
		if got := strings.Join(AlgorithmsFor(tt.pub), " "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestClaims_NumericDateAndAudience(t *testing.T) {
	var c struct {
		Exp *NumericDate `json:"exp"`
		Nbf *NumericDate `json:"nbf"`
		Aud Audience     `json:"aud"`
	}
	if err := json.Unmarshal([]byte(`{"exp":1700000000,"nbf":1700000000.5,"aud":"api://x"}`), &c); err != nil {
		t.Fatal(err)
	}
	if !c.Exp.Equal(time.Unix(1700000000, 0)) || !c.Nbf.Equal(time.Unix(1700000000, 5e8)) || !slices.Contains(c.Aud, "api://x") {
		t.Errorf("decoded %+v", c)
	}
	if err := json.Unmarshal([]byte(`{"aud":["a","b"]}`), &c); err != nil || len(c.Aud) != 2 || !slices.Contains(c.Aud, "b") || slices.Contains(c.Aud, "B") {
		t.Errorf("array aud: %v %v", c.Aud, err)
	}
	for _, bad := range []string{`{"exp":"1700000000"}`, `{"exp":-1}`, `{"exp":1e12}`, `{"aud":5}`, `{"aud":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func split(tok string) (h, p, s string) {
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ = strings.Cut(rest, ".")
	return h, p, s
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

// flipLow returns the base64url character with the lowest bit of its value
// toggled, which changes only trailing padding bits of a last character.
func flipLow(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func FuzzParse(f *testing.F) {
	keys(f)
	f.Add(token(f, "RS256", rsaKey, `{"alg":"RS256","kid":"k1"}`, `{"sub":"a","exp":1}`))
	f.Add(token(f, "ES256", p256Key, `{"alg":"ES256","x5c":["MIIB"],"jku":"https://x"}`, `{}`))
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".")
	f.Add(b64(`{"alg":"RS256","crit":["b64"],"b64":false}`) + ".e30.c2ln")
	f.Add("a.b.c==")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := Parse(raw, 0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if tok.Header.Alg == "" || len(tok.Payload) == 0 || len(tok.Signature) == 0 {
			t.Fatalf("accepted token with empty parts: %+v", tok)
		}
		// One spelling: re-encoding the parts gives back the input.
		h, _, _ := split(raw)
		re := h + "." + base64.RawURLEncoding.EncodeToString(tok.Payload) + "." + base64.RawURLEncoding.EncodeToString(tok.Signature)
		if re != raw || tok.SigningInput != raw[:strings.LastIndexByte(raw, '.')] {
			t.Fatalf("accepted %q, which re-encodes as %q", raw, re)
		}
		if _, err := base64.RawURLEncoding.DecodeString(h); err != nil {
			t.Fatal(err)
		}
		_ = VerifySignature(tok.Header.Alg, &rsaKey.PublicKey, tok.SigningInput, tok.Signature)
	})
}
