package guard

import (
	"context"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// newJWKSSource returns a JWKS-only source over ti's JWKS URL, issuer iss.
func newJWKSSource(t testing.TB, ti *testIssuer, iss string, c *clock) *OIDCKeySource {
	t.Helper()
	s, err := NewJWKSKeySource(context.Background(), iss, ti.base+"/contoso/discovery/v2.0/keys", OIDCOptions{
		HTTPClient: ti.client, Now: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSKeySource_ReadsKeysWithoutDiscovery(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	// The discovery document names another issuer: a JWKS-only source
	// never reads it, so the iss can be anything the cluster uses.
	ti.configure(func(ti *testIssuer) { ti.docIssuer = "https://elsewhere.test" })
	const iss = "https://kubernetes.default.svc.cluster.local"
	c := newClock()
	s := newJWKSSource(t, ti, iss, c)
	ctx := context.Background()
	if k, err := s.Key(ctx, iss, "a"); err != nil || !sameKey(k, &rsaA.PublicKey) {
		t.Fatalf("Key(a) = %v, %v", k, err)
	}
	if _, err := s.Key(ctx, "https://other.test", "a"); err == nil {
		t.Error("another issuer accepted")
	}
	// Rotation: an unknown kid refetches.
	c.Advance(DefaultMinRefetchInterval)
	ti.publish("b", &rsaB.PublicKey)
	if k, err := s.Key(ctx, iss, "b"); err != nil || !sameKey(k, &rsaB.PublicKey) {
		t.Fatalf("rotated key: %v, %v", k, err)
	}
	// Outage: last good keys stay; an unknown kid is "cannot tell now".
	ti.configure(func(ti *testIssuer) { ti.status = http.StatusServiceUnavailable })
	c.Advance(DefaultMinRefetchInterval)
	if _, err := s.Key(ctx, iss, "c"); !errors.Is(err, ErrKeySourceUnavailable) {
		t.Errorf("unknown kid during the outage: %v; want ErrKeySourceUnavailable", err)
	}
	if _, err := s.Key(ctx, iss, "a"); err != nil {
		t.Errorf("last good key during the outage: %v", err)
	}
}

func TestNewJWKSKeySource_RefusesWhatCannotBeFetchedSafely(t *testing.T) {
	tests := []struct{ name, iss, jwks, want string }{
		{"empty issuer", "", "https://k8s.test/openid/v1/jwks", "issuer"},
		{"plain http off loopback", "https://k8s.test", "http://k8s.test/openid/v1/jwks", "https"},
		{"relative", "https://k8s.test", "/openid/v1/jwks", "absolute"},
		{"user info", "https://k8s.test", "https://u:p@k8s.test/jwks", "absolute"},
		{"other scheme", "https://k8s.test", "ftp://k8s.test/jwks", "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewJWKSKeySource(context.Background(), tt.iss, tt.jwks, OIDCOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestStaticKeys(t *testing.T) {
	testKeys(t)
	ti := &testIssuer{keys: map[string]crypto.PublicKey{}}
	ti.publish("a", &rsaA.PublicKey)
	ti.publish("ec", &ecA.PublicKey)
	const iss = "https://kubernetes.default.svc.cluster.local"
	s, err := NewStaticKeys(iss, ti.jwks())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Kids(), ","); got != "a,ec" {
		t.Errorf("Kids() = %s", got)
	}
	if k, err := s.Key(context.Background(), iss, "ec"); err != nil || !sameKey(k, &ecA.PublicKey) {
		t.Errorf("Key(ec) = %v, %v", k, err)
	}
	if _, err := s.Key(context.Background(), iss, "zz"); err == nil || errors.Is(err, ErrKeySourceUnavailable) || !strings.Contains(err.Error(), "a, ec") {
		t.Errorf("unknown kid: %v; want a plain error listing the kids", err)
	}
	if _, err := s.Key(context.Background(), "https://other.test", "a"); err == nil {
		t.Error("another issuer accepted")
	}
}

func TestNewStaticKeys_RefusesWhatIsNotAKeySet(t *testing.T) {
	tests := []struct{ name, iss, jwks, want string }{
		{"empty issuer", "", `{"keys":[]}`, "issuer"},
		{"not JSON", "https://k8s.test", `{`, "not a JWK Set"},
		{"no keys array", "https://k8s.test", `{}`, "no \"keys\""},
		{"a file name instead of the set", "https://k8s.test", `"cluster-a-jwks.json"`, "not a file name"},
		{"an array of keys without the object", "https://k8s.test", `[{"kty":"EC"}]`, `a JSON array where an object {"keys": [...]} belongs`},
		{"keys not an array", "https://k8s.test", `{"keys":{"kty":"EC"}}`, `"keys" is a JSON object, not an array`},
		{"no usable key", "https://k8s.test", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, "no kid"},
		{"empty set", "https://k8s.test", `{"keys":[]}`, "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStaticKeys(tt.iss, []byte(tt.jwks))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one mentioning %q", err, tt.want)
			}
		})
	}
}
