package guard

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testIss  = "https://issuer.test/contoso/v2.0"
	otherIss = "https://issuer.test/fabrikam/v2.0"
	testAud  = "api://orders"
)

// verifierFixture is a Verifier over fake in-process keys: kid "a" (RSA)
// and "ec" (P-256) for testIss, "other" for otherIss.
type verifierFixture struct {
	keys  *fakeKeys
	clock *clock
	v     *Verifier
}

func newVerifierFixture(t testing.TB, mod func(*VerifierConfig)) *verifierFixture {
	t.Helper()
	testKeys(t)
	f := &verifierFixture{keys: newFakeKeys(), clock: newClock()}
	f.keys.set(testIss, "a", &rsaA.PublicKey)
	f.keys.set(testIss, "ec", &ecA.PublicKey)
	f.keys.set(testIss, "small", &rsaSmall.PublicKey)
	f.keys.set(otherIss, "other", &rsaB.PublicKey)
	cfg := VerifierConfig{Keys: f.keys, Audiences: []string{testAud}, Now: f.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

// claims returns a valid claim set at the fixture's time.
func validClaims() map[string]any {
	now := testEpoch.Unix()
	return map[string]any{
		"iss": testIss, "aud": testAud, "sub": "9b1c-sub", "tid": "c0ffee00-0000-0000-0000-000000000001",
		"azp": "a1a1a1a1-0000-0000-0000-000000000002", "oid": "0b0b0b0b-0000-0000-0000-000000000003",
		"roles": []string{"Orders.Read"}, "uti": "tok-1", "ver": "2.0",
		"iat": now - 60, "nbf": now - 60, "exp": now + 3600,
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func rs256(kid string) map[string]any {
	return map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}
}

func TestVerify_ValidTokenBecomesPrincipal(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tok := signJWT(t, rsaA, rs256("a"), with(validClaims(), "scp", "Orders.Read Orders.Write", "roles", "A B"))
	p, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{Method: MethodBearer, Subject: "9b1c-sub", TenantID: "c0ffee00-0000-0000-0000-000000000001",
		AppID: "a1a1a1a1-0000-0000-0000-000000000002", ObjectID: "0b0b0b0b-0000-0000-0000-000000000003", Issuer: testIss,
		TokenID: "tok-1", CredentialID: "tok-1"}
	if p.Method != want.Method || p.Subject != want.Subject || p.TenantID != want.TenantID || p.AppID != want.AppID ||
		p.ObjectID != want.ObjectID || p.Issuer != want.Issuer || p.TokenID != want.TokenID || p.CredentialID != want.CredentialID {
		t.Errorf("principal = %+v", p)
	}
	if strings.Join(p.Roles, ",") != "A,B" || strings.Join(p.Scopes, ",") != "Orders.Read,Orders.Write" || strings.Join(p.Audience, ",") != testAud {
		t.Errorf("roles %q scopes %q aud %q", p.Roles, p.Scopes, p.Audience)
	}
	if !p.ExpiresAt.Equal(testEpoch.Add(time.Hour)) {
		t.Errorf("ExpiresAt = %s", p.ExpiresAt)
	}
	if v, ok := p.Claim("ver"); !ok || v != "2.0" {
		t.Errorf("Claim(ver) = %v, %v", v, ok)
	}
	if _, ok := p.Claim("nope"); ok {
		t.Error("Claim(nope) found")
	}
}

func TestVerify_AppIDFallsBackToAppidClaimAndTokenIDToJti(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tok := signJWT(t, rsaA, rs256("a"), with(validClaims(), "azp", nil, "appid", "v1-app", "uti", nil, "jti", "j-1"))
	p, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.AppID != "v1-app" || p.TokenID != "j-1" {
		t.Errorf("AppID %q TokenID %q", p.AppID, p.TokenID)
	}
}

// TestVerify_RefusesForgeries is the forgery table of issue 6: each case is
// a token an attacker could send, and the words the refusal must contain.
func TestVerify_RefusesForgeries(t *testing.T) {
	f := newVerifierFixture(t, nil)
	good := signJWT(t, rsaA, rs256("a"), validClaims())
	other := signJWT(t, rsaA, rs256("a"), with(validClaims(), "roles", []string{"Orders.Admin"}))
	gh, gp, gs := splitToken(good)
	_, op, _ := splitToken(other)

	// HS256 with the RSA public key (PEM and DER) as the HMAC secret: the
	// classic key-confusion attack.
	der, _ := x509.MarshalPKIXPublicKey(&rsaA.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs256 := func(secret []byte) string {
		in := b64(mustJSON(map[string]any{"alg": "HS256", "typ": "JWT", "kid": "a"})) + "." + gp
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	unsigned := func(alg string) string {
		return b64(mustJSON(map[string]any{"alg": alg, "kid": "a"})) + "." + gp + "."
	}
	withSig := func(alg string) string {
		return b64(mustJSON(map[string]any{"alg": alg, "kid": "a"})) + "." + gp + "." + gs
	}
	evilJWK := map[string]any{"kty": "RSA", "n": b64(rsaEvil.N.Bytes()), "e": "AQAB"}
	evilCert, evilLeaf := selfSigned(t, "evil", testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour))
	_ = evilLeaf
	evilX5c := []string{b64s(string(evilCert.Certificate[0]))}

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"alg none unsigned", unsigned("none"), "signature is empty"},
		{"alg none with signature", withSig("none"), `alg "none" is never accepted`},
		{"alg None", withSig("None"), "never accepted"},
		{"alg NONE", withSig("NONE"), "never accepted"},
		{"alg nOnE", withSig("nOnE"), "never accepted"},
		{"alg empty", withSig(""), "has no alg"},
		{"alg unknown", withSig("RS1"), `alg "RS1" is not accepted`},
		{"HS256 with PEM public key", hs256(pemKey), `alg "HS256" is never accepted`},
		{"HS256 with DER public key", hs256(der), "never accepted"},
		{"injected jwk signed by attacker", signJWT(t, rsaEvil, map[string]any{"alg": "RS256", "kid": "a", "jwk": evilJWK}, validClaims()), `carries "jwk"`},
		{"injected jku", signJWT(t, rsaEvil, map[string]any{"alg": "RS256", "kid": "a", "jku": "https://evil.test/keys"}, validClaims()), `carries "jku"`},
		{"injected x5u", signJWT(t, rsaEvil, map[string]any{"alg": "RS256", "kid": "a", "x5u": "https://evil.test/cert"}, validClaims()), `carries "x5u"`},
		{"attacker x5c is not trusted", signJWT(t, rsaEvil, map[string]any{"alg": "RS256", "kid": "a", "x5c": evilX5c}, validClaims()), "signature is not valid"},
		{"attacker x5c with its own kid", signJWT(t, rsaEvil, map[string]any{"alg": "RS256", "kid": "evil", "x5c": evilX5c}, validClaims()), `does not publish a signing key with kid "evil"`},
		{"kid missing", signJWT(t, rsaA, map[string]any{"alg": "RS256"}, validClaims()), "has no kid"},
		{"kid unknown", signJWT(t, rsaA, rs256("zzz"), validClaims()), `kid "zzz"`},
		{"kid path-like", signJWT(t, rsaA, rs256("../../keys/a"), validClaims()), `kid "../../keys/a"`},
		{"kid very long", signJWT(t, rsaA, rs256(strings.Repeat("k", 300)), validClaims()), "kid is 300 bytes"},
		{"kid of another issuer", signJWT(t, rsaB, rs256("other"), validClaims()), `does not publish a signing key with kid "other"`},
		{"flipped signature", gh + "." + gp + "." + flipChar(gs, 10), "signature is not valid"},
		{"truncated signature", gh + "." + gp + "." + gs[:336], "signature is not valid"},
		{"signature with = padding", good + "=", "'=' padding"},
		{"signature with == padding", good + "==", "'=' padding"},
		{"swapped payload", gh + "." + op + "." + gs, "signature is not valid"},
		{"wrong iss signed by attacker", signJWT(t, rsaEvil, rs256("a"), with(validClaims(), "iss", "https://evil.test/v2.0")), `issuer "https://evil.test/v2.0" does not publish`},
		{"wrong aud", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", "api://payments")), `audience [api://payments], which is not this API's (want [api://orders])`},
		{"no aud", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", nil)), "no aud claim"},
		{"aud differs in case", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", "API://orders")), "not this API's"},
		{"aud string with a space is one value, not a list", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", "api://x "+testAud)), "not this API's"},
		{"expired", signJWT(t, rsaA, rs256("a"), with(validClaims(), "exp", testEpoch.Add(-2*time.Minute).Unix())), "expired at 2026-12-05T11:58:00Z (server time 2026-12-05T12:00:00Z"},
		{"no exp", signJWT(t, rsaA, rs256("a"), with(validClaims(), "exp", nil)), "no exp claim"},
		{"nbf in future", signJWT(t, rsaA, rs256("a"), with(validClaims(), "nbf", testEpoch.Add(2*time.Minute).Unix())), "not valid before 2026-12-05T12:02:00Z"},
		{"iat in future", signJWT(t, rsaA, rs256("a"), with(validClaims(), "iat", testEpoch.Add(time.Hour).Unix())), "issued in the future"},
		{"crit", signJWT(t, rsaA, map[string]any{"alg": "RS256", "kid": "a", "crit": []string{"exp"}}, validClaims()), "critical extensions"},
		{"oversized", signJWT(t, rsaA, rs256("a"), with(validClaims(), "pad", strings.Repeat("x", 20000))), "this API accepts at most 16384"},
		{"iss only in upper case", signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", nil, "ISS", testIss)), "no iss claim"},
		{"roles of wrong type", signJWT(t, rsaA, rs256("a"), with(validClaims(), "roles", 5)), `claim "roles" has the wrong type`},
		{"payload not an object", gh + "." + b64s(`[1]`) + "." + gs, "payload is not a JSON object"},
		{"weak RSA key", signJWT(t, rsaSmall, rs256("small"), validClaims()), "at least 2048"},
		{"RS256 header on EC key", signJWT(t, rsaA, rs256("ec"), validClaims()), "does not suit an EC key"},
		{"two tokens", good + " " + good, "three dot-separated parts, this has 5"},
		{"empty", "", "three dot-separated parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tt.raw)
			if err == nil {
				t.Fatalf("accepted, principal %+v", p)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != CodeInvalidToken {
				t.Fatalf("error %#v, want 401 invalid_token", err)
			}
			if !strings.Contains(e.Description, tt.want) {
				t.Errorf("description %q\nwant it to contain %q", e.Description, tt.want)
			}
			if len(tt.raw) > 40 && strings.Contains(e.Description, tt.raw[len(tt.raw)-40:]) {
				t.Error("the description echoes the token")
			}
		})
	}
}

func TestVerify_AcceptsWithinLeewayAndArrayAudienceAndEC(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tests := []struct {
		name string
		tok  string
	}{
		{"expired within leeway", signJWT(t, rsaA, rs256("a"), with(validClaims(), "exp", testEpoch.Add(-30*time.Second).Unix()))},
		{"nbf within leeway", signJWT(t, rsaA, rs256("a"), with(validClaims(), "nbf", testEpoch.Add(30*time.Second).Unix()))},
		{"aud array", signJWT(t, rsaA, rs256("a"), with(validClaims(), "aud", []string{"api://x", testAud}))},
		{"fractional exp", signJWT(t, rsaA, rs256("a"), with(validClaims(), "exp", float64(testEpoch.Unix())+100.5))},
		{"ES256", signJWT(t, ecA, map[string]any{"alg": "ES256", "kid": "ec"}, validClaims())},
		{"PS256", signJWT(t, rsaA, map[string]any{"alg": "PS256", "kid": "a"}, validClaims())},
		{"x5c is ignored", signJWT(t, rsaA, map[string]any{"alg": "RS256", "kid": "a", "x5c": []string{"MIIB"}}, validClaims())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.v.Verify(context.Background(), tt.tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerify_IssuerAllowListAndAlgorithmRestriction(t *testing.T) {
	f := newVerifierFixture(t, func(c *VerifierConfig) {
		c.Issuers = []string{testIss}
		c.Algorithms = []string{"RS256"}
	})
	tok := signJWT(t, rsaB, rs256("other"), with(validClaims(), "iss", otherIss))
	_, err := f.v.Verify(context.Background(), tok)
	if err == nil || !strings.Contains(err.Error(), `issuer "https://issuer.test/fabrikam/v2.0" is not trusted by this API`) {
		t.Errorf("other issuer: %v", err)
	}
	if n := f.keys.calls.Load(); n != 0 {
		t.Errorf("the key source was asked %d times for an untrusted issuer", n)
	}
	_, err = f.v.Verify(context.Background(), signJWT(t, ecA, map[string]any{"alg": "ES256", "kid": "ec"}, validClaims()))
	if err == nil || !strings.Contains(err.Error(), `alg "ES256" is not accepted; this API accepts RS256`) {
		t.Errorf("ES256: %v", err)
	}
}

func TestVerify_KeySourceUnavailableIs503(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*fakeKeys)
		want error
	}{
		{"key set not loaded", func(k *fakeKeys) { k.unavailable = true }, ErrKeySourceUnavailable},
		{"a source of your own would wait", func(k *fakeKeys) { k.wouldWait = true }, ErrWouldWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newVerifierFixture(t, nil)
			f.keys.mu.Lock()
			tc.set(f.keys)
			f.keys.mu.Unlock()
			_, err := f.v.Verify(WithoutWaiting(context.Background()), signJWT(t, rsaA, rs256("a"), validClaims()))
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != CodeTemporarilyUnavailable || !errors.Is(err, tc.want) {
				t.Fatalf("error %#v, want 503 temporarily_unavailable wrapping %v", err, tc.want)
			}
		})
	}
}

func TestNewVerifier_RefusesIncompleteConfig(t *testing.T) {
	keys := newFakeKeys()
	tests := []struct {
		name string
		cfg  VerifierConfig
		want string
	}{
		{"no keys", VerifierConfig{Audiences: []string{"a"}}, "Keys is required"},
		{"no audience", VerifierConfig{Keys: keys}, "Audiences must name this API"},
		{"empty audience", VerifierConfig{Keys: keys, Audiences: []string{""}}, "Audiences must name this API"},
		{"negative leeway", VerifierConfig{Keys: keys, Audiences: []string{"a"}, Leeway: -time.Second}, "Leeway is negative"},
		{"HS256 allowed", VerifierConfig{Keys: keys, Audiences: []string{"a"}, Algorithms: []string{"HS256"}}, `"HS256" is not supported`},
		{"none allowed", VerifierConfig{Keys: keys, Audiences: []string{"a"}, Algorithms: []string{"none"}}, `"none" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	v, err := NewVerifier(VerifierConfig{Keys: keys, Audiences: []string{"a"}, Leeway: time.Hour})
	if err != nil || v.leeway != MaxLeeway {
		t.Errorf("leeway %s (%v), want capped at %s", v.leeway, err, MaxLeeway)
	}
}

func TestVerifyCache_HitReturnsSamePrincipalWithoutSignatureWork(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tok := signJWT(t, rsaA, rs256("a"), validClaims())
	p1, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Error("the second verification did not come from the cache")
	}
	if f.v.cache.len() != 1 {
		t.Errorf("cache holds %d entries", f.v.cache.len())
	}
}

func TestVerifyCache_KeyThatLeftTheKeySetInvalidatesEntryAtOnce(t *testing.T) {
	tests := []struct {
		name   string
		change func(*fakeKeys)
	}{
		{"key removed", func(k *fakeKeys) { k.set(testIss, "a", nil) }},
		{"kid now names another key", func(k *fakeKeys) { k.set(testIss, "a", &rsaB.PublicKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVerifierFixture(t, nil)
			tok := signJWT(t, rsaA, rs256("a"), validClaims())
			if _, err := f.v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			tt.change(f.keys)
			if p, err := f.v.Verify(context.Background(), tok); err == nil {
				t.Fatalf("token of a withdrawn key accepted: %+v", p)
			}
			if f.v.cache.len() != 0 {
				t.Error("the stale entry is still cached")
			}
		})
	}
}

func TestVerifyCache_EqualKeyFromAnotherFetchStillHits(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tok := signJWT(t, rsaA, rs256("a"), validClaims())
	p1, _ := f.v.Verify(context.Background(), tok)
	f.keys.set(testIss, "a", &rsa.PublicKey{N: rsaA.N, E: rsaA.E}) // a refetched JWKS parses a new but equal key
	p2, err := f.v.Verify(context.Background(), tok)
	if err != nil || p1 != p2 {
		t.Errorf("equal key missed the cache (%v)", err)
	}
}

func TestVerifyCache_NeverUsedPastExp(t *testing.T) {
	f := newVerifierFixture(t, nil)
	tok := signJWT(t, rsaA, rs256("a"), with(validClaims(), "exp", testEpoch.Add(10*time.Second).Unix()))
	p1, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second) // past exp, within the leeway
	p2, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 || f.v.cache.len() != 0 {
		t.Error("the cache answered past exp, or kept a token past its exp")
	}
	f.clock.Advance(time.Minute) // past exp + leeway
	if _, err := f.v.Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
}

func TestVerifyCache_BoundedInEntries(t *testing.T) {
	f := newVerifierFixture(t, func(c *VerifierConfig) { c.CacheSize = 20 })
	for i := range 75 {
		tok := signJWT(t, ecA, map[string]any{"alg": "ES256", "kid": "ec"}, with(validClaims(), "uti", fmt.Sprint(i)))
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if n := f.v.cache.len(); n > 20 {
			t.Fatalf("cache holds %d entries, more than its size 20", n)
		}
	}
}

func TestVerifyCache_Disabled(t *testing.T) {
	f := newVerifierFixture(t, func(c *VerifierConfig) { c.CacheSize = -1 })
	tok := signJWT(t, rsaA, rs256("a"), validClaims())
	p1, _ := f.v.Verify(context.Background(), tok)
	p2, _ := f.v.Verify(context.Background(), tok)
	if p1 == nil || p1 == p2 {
		t.Error("a disabled cache answered")
	}
}

func BenchmarkVerify_CacheHit(b *testing.B) {
	f := newVerifierFixture(b, nil)
	tok := signJWT(b, rsaA, rs256("a"), validClaims())
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify_Miss(b *testing.B) {
	f := newVerifierFixture(b, func(c *VerifierConfig) { c.CacheSize = -1 })
	tok := signJWT(b, rsaA, rs256("a"), validClaims())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func splitToken(tok string) (h, p, s string) {
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ = strings.Cut(rest, ".")
	return h, p, s
}

// flipChar changes the base64url character at i to another one.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestIssuerKeys_RoutesByIssuer(t *testing.T) {
	testKeys(t)
	contoso, fabrikam := newFakeKeys(), newFakeKeys()
	contoso.set(testIss, "a", &rsaA.PublicKey)
	fabrikam.set(otherIss, "b", &rsaB.PublicKey)
	v, err := NewVerifier(VerifierConfig{Keys: IssuerKeys{testIss: contoso, otherIss: fabrikam}, Audiences: []string{testAud}, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  string
		want string
	}{
		{"contoso", signJWT(t, rsaA, rs256("a"), validClaims()), ""},
		{"fabrikam", signJWT(t, rsaB, rs256("b"), with(validClaims(), "iss", otherIss)), ""},
		{"contoso's kid under fabrikam", signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", otherIss)), `kid "a"`},
		{"unlisted issuer", signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", "https://evil.test")), "is not one this API trusts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.tok)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func BenchmarkVerify_CacheHitOIDCSource(b *testing.B) {
	testKeys(b)
	ti := newTestIssuer(b)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	v, err := NewVerifier(VerifierConfig{Keys: newSource(b, ti, c), Audiences: []string{testAud}, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	tok := signJWT(b, rsaA, rs256("a"), with(validClaims(), "iss", ti.URL))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
