package guard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// newSource returns an OIDCKeySource for ti with a test clock and quiet logs.
func newSource(t testing.TB, ti *testIssuer, c *clock) *OIDCKeySource {
	t.Helper()
	s, err := NewOIDCKeySource(context.Background(), ti.URL, OIDCOptions{
		HTTPClient: ti.client, Now: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newOIDCVerifier returns a Verifier of testAud over an OIDCKeySource for
// ti, both on clock c.
func newOIDCVerifier(t testing.TB, ti *testIssuer, c *clock) (*OIDCKeySource, *Verifier) {
	t.Helper()
	s := newSource(t, ti, c)
	v, err := NewVerifier(VerifierConfig{Keys: s, Audiences: []string{testAud}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestOIDCKeySource_LoadsDiscoveryAndJWKS(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	ti.publish("ec", &ecA.PublicKey)
	s := newSource(t, ti, newClock())
	if s.Issuer() != ti.URL {
		t.Errorf("Issuer() = %q", s.Issuer())
	}
	for kid, want := range map[string]any{"a": &rsaA.PublicKey, "ec": &ecA.PublicKey} {
		k, err := s.Key(context.Background(), ti.URL, kid)
		if err != nil || !sameKey(k, want) {
			t.Errorf("Key(%s) = %v, %v", kid, k, err)
		}
	}
	if _, err := s.Key(context.Background(), "https://other.test/v2.0", "a"); err == nil || !strings.Contains(err.Error(), "is not") {
		t.Errorf("another issuer: %v", err)
	}
	if n := ti.jwksFetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}

func TestOIDCKeySource_UnknownKidRefetchesRateLimited(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	s := newSource(t, ti, c)
	ctx := context.Background()
	c.Advance(DefaultMinRefetchInterval)

	// Rotation: the issuer publishes "b"; the first token signed with it
	// makes the source refetch.
	ti.publish("b", &rsaB.PublicKey)
	if k, err := s.Key(ctx, ti.URL, "b"); err != nil || !sameKey(k, &rsaB.PublicKey) {
		t.Fatalf("rotated key: %v, %v", k, err)
	}
	if n := ti.jwksFetches.Load(); n != 2 {
		t.Fatalf("%d fetches after rotation, want 2", n)
	}
	// Forged kids within MinRefetchInterval cost no fetch.
	for i := range 50 {
		if _, err := s.Key(ctx, ti.URL, "forged-"+string(rune('a'+i%26))); err == nil || errors.Is(err, ErrKeySourceUnavailable) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := ti.jwksFetches.Load(); n != 2 {
		t.Errorf("%d fetches after 50 forged kids, want still 2", n)
	}
	c.Advance(DefaultMinRefetchInterval)
	s.Key(ctx, ti.URL, "forged-again")
	if n := ti.jwksFetches.Load(); n != 3 {
		t.Errorf("%d fetches once the interval passed, want 3", n)
	}
}

func TestOIDCKeySource_WithoutWaitingStartsTheFetchAndSaysSo(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	s := newSource(t, ti, c)
	noWait := WithoutWaiting(context.Background())
	if k, err := s.Key(noWait, ti.URL, "a"); err != nil || !sameKey(k, &rsaA.PublicKey) {
		t.Fatalf("a loaded key without waiting: %v, %v", k, err)
	}
	// Within MinRefetchInterval an unknown kid is refused at once: nothing to wait for.
	if _, err := s.Key(noWait, ti.URL, "b"); err == nil || errors.Is(err, ErrWouldWait) || errors.Is(err, ErrKeySourceUnavailable) {
		t.Fatalf("unknown kid within the interval: %v, want a plain refusal", err)
	}

	c.Advance(DefaultMinRefetchInterval)
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	ti.configure(func(ti *testIssuer) { ti.block, ti.entered = block, entered })
	ti.publish("b", &rsaB.PublicKey)
	errc := make(chan error, 1)
	go func() { _, err := s.Key(noWait, ti.URL, "b"); errc <- err }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrWouldWait) || !errors.Is(err, ErrKeySourceUnavailable) {
			t.Fatalf("unknown kid without waiting: %v, want ErrWouldWait and ErrKeySourceUnavailable", err)
		}
	case <-time.After(10 * time.Second): // a liveness bound, not a speed figure
		close(block)
		t.Fatal("Key waited for the fetch")
	}
	<-entered // the fetch runs, although no one waits for it
	close(block)
	// A caller that may wait joins it and gets the key; so does the next one that may not.
	if k, err := s.Key(context.Background(), ti.URL, "b"); err != nil || !sameKey(k, &rsaB.PublicKey) {
		t.Fatalf("after the fetch: %v, %v", k, err)
	}
	if k, err := s.Key(noWait, ti.URL, "b"); err != nil || !sameKey(k, &rsaB.PublicKey) {
		t.Fatalf("after the fetch, without waiting: %v, %v", k, err)
	}
	if n := ti.jwksFetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (initial + one)", n)
	}
}

func TestPolicy_DecideWithinReachesWrappedAuthenticators(t *testing.T) {
	testKeys(t)
	for _, tc := range []struct {
		name string
		wrap func(Authenticator) Authenticator
	}{
		{"Bearer", func(a Authenticator) Authenticator { return a }},
		{"RequireExistingClient(Bearer)", func(a Authenticator) Authenticator { return RequireExistingClient(a, fakeDirectory{}) }},
		{"Chain{Bearer}", func(a Authenticator) Authenticator { return Chain{a} }},
		{"RequireExistingClient(Chain{Bearer})", func(a Authenticator) Authenticator { return RequireExistingClient(Chain{a}, fakeDirectory{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ti := newTestIssuer(t)
			ti.publish("a", &rsaA.PublicKey)
			c := newClock()
			_, v := newOIDCVerifier(t, ti, c)
			c.Advance(DefaultMinRefetchInterval)
			block, entered := make(chan struct{}), make(chan struct{}, 1)
			ti.configure(func(ti *testIssuer) { ti.block, ti.entered = block, entered })
			defer close(block)
			p := Policy{Authenticators: []Authenticator{tc.wrap(Bearer(v))}}
			r := httptest.NewRequest("GET", "https://api.test/x", nil)
			r.Header.Set("Authorization", "Bearer "+signJWT(t, rsaB, rs256("b"), with(validClaims(), "iss", ti.URL)))
			done := make(chan *Error, 1)
			go func() {
				_, e := p.DecideWithin(WithoutWaiting(context.Background()), r)
				done <- e
			}()
			select {
			case e := <-done:
				if e == nil || !errors.Is(e, ErrWouldWait) || e.Status != http.StatusServiceUnavailable {
					t.Errorf("a key not seen yet, without waiting: %v, want a 503 wrapping ErrWouldWait", e)
				}
			case <-time.After(10 * time.Second): // a liveness bound, not a speed figure
				t.Fatal("the decision waited for the key set")
			}
			<-entered
		})
	}
}

func TestOIDCKeySource_ConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	s := newSource(t, ti, c)
	c.Advance(DefaultMinRefetchInterval)
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	ti.configure(func(ti *testIssuer) { ti.block, ti.entered = block, entered })
	ti.publish("b", &rsaB.PublicKey)

	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := s.Key(context.Background(), ti.URL, "b")
			errs <- err
		})
	}
	<-entered
	waitFor(t, "all callers to join the fetch", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inflight != nil && s.inflight.joined == callers-1
	})
	close(block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := ti.jwksFetches.Load(); n != 2 {
		t.Errorf("%d fetches for %d concurrent callers, want 2 (initial + one)", n, callers)
	}
}

func TestOIDCKeySource_KeepsLastGoodKeysThroughAnOutage(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	s := newSource(t, ti, c)
	ti.configure(func(ti *testIssuer) { ti.status = http.StatusInternalServerError })
	c.Advance(2 * DefaultRefreshInterval)

	if err := s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Refresh during outage: %v", err)
	}
	if k, err := s.Key(context.Background(), ti.URL, "a"); err != nil || !sameKey(k, &rsaA.PublicKey) {
		t.Errorf("last good key lost: %v, %v", k, err)
	}
	// An unknown kid may be a rotation the outage hides: "cannot tell now".
	if _, err := s.Key(context.Background(), ti.URL, "new"); !errors.Is(err, ErrKeySourceUnavailable) {
		t.Errorf("unknown kid during the outage: %v; want ErrKeySourceUnavailable", err)
	}
	// Recovery: the stale set is refreshed in the background on use.
	ti.configure(func(ti *testIssuer) { ti.status = 0 })
	ti.publish("a", nil)
	ti.publish("b", &rsaB.PublicKey)
	c.Advance(DefaultMinRefetchInterval)
	s.Key(context.Background(), ti.URL, "a")
	waitFor(t, "the background refresh", func() bool { _, err := s.Key(context.Background(), ti.URL, "a"); return err != nil })
	if _, err := s.Key(context.Background(), ti.URL, "b"); err != nil {
		t.Error(err)
	}
}

func TestOIDCKeySource_RefusesWhatCannotBeTrusted(t *testing.T) {
	testKeys(t)
	tests := []struct {
		name  string
		setup func(ti *testIssuer)
		want  string
	}{
		{"issuer mismatch in discovery", func(ti *testIssuer) { ti.docIssuer = ti.URL + "/" }, "names issuer"},
		{"issuer of another tenant", func(ti *testIssuer) { ti.docIssuer = strings.Replace(ti.URL, "contoso", "fabrikam", 1) }, "names issuer"},
		{"http jwks_uri", func(ti *testIssuer) {
			ti.jwksURI = strings.Replace(ti.base, "https", "http", 1) + "/contoso/discovery/v2.0/keys"
		}, "is not https"},
		{"JWKS 404", func(ti *testIssuer) { ti.status = http.StatusNotFound }, "404"},
		{"no usable key", func(ti *testIssuer) { ti.keys = nil; ti.order = nil }, "no usable signature key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ti := newTestIssuer(t)
			ti.publish("a", &rsaA.PublicKey)
			ti.configure(tt.setup)
			var logs bytes.Buffer
			s, err := NewOIDCKeySource(context.Background(), ti.URL, OIDCOptions{HTTPClient: ti.client, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Refresh: %v, want %q", err, tt.want)
			}
			if !strings.Contains(logs.String(), tt.want) {
				t.Errorf("the failure was not logged: %s", logs.String())
			}
			if _, err := s.Key(context.Background(), ti.URL, "a"); !errors.Is(err, ErrKeySourceUnavailable) {
				t.Errorf("Key: %v, want ErrKeySourceUnavailable", err)
			}
		})
	}
}

func TestNewOIDCKeySource_RefusesPlainHTTPOffLoopback(t *testing.T) {
	for _, u := range []string{"http://idp.example.com/t/v2.0", "ftp://x/y", "/relative", "https://u:p@idp.example.com/", "https://idp.example.com/?q=1"} {
		if _, err := NewOIDCKeySource(context.Background(), u, OIDCOptions{}); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestOIDCKeySource_ServesVerifierEndToEnd(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	s, v := newOIDCVerifier(t, ti, c)
	tok := signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", ti.URL))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// The issuer withdraws the key; after the next refresh the cached
	// token is refused at once.
	ti.publish("a", nil)
	ti.publish("b", &rsaB.PublicKey)
	c.Advance(time.Minute)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), `does not publish a signing key with kid "a"`) {
		t.Errorf("token of a withdrawn key: %v", err)
	}
}

func TestParseJWKS_SkipsWhatIsNotASignatureKey(t *testing.T) {
	testKeys(t)
	doc := `{"keys":[
		{"kty":"RSA","use":"sig","kid":"a","n":"` + b64(rsaA.N.Bytes()) + `","e":"AQAB","x5c":["bm90IGEgY2VydA"]},
		{"kty":"RSA","use":"enc","kid":"enc","n":"` + b64(rsaB.N.Bytes()) + `","e":"AQAB"},
		{"kty":"RSA","kid":"small","n":"` + b64(rsaSmall.N.Bytes()) + `","e":"AQAB"},
		{"kty":"RSA","kid":"a","n":"` + b64(rsaB.N.Bytes()) + `","e":"AQAB"},
		{"kty":"RSA","n":"` + b64(rsaB.N.Bytes()) + `","e":"AQAB"},
		{"kty":"RSA","kid":"hs","alg":"HS256","n":"` + b64(rsaB.N.Bytes()) + `","e":"AQAB"},
		{"kty":"oct","kid":"oct","k":"c2VjcmV0"},
		{"kty":"EC","kid":"badpoint","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"},
		{"kty":"RSA","kid":"b","key_ops":["verify"],"n":"` + b64(rsaB.N.Bytes()) + `","e":"AQAB"}
	]}`
	keys, skipped, err := parseJWKS([]byte(doc), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !sameKey(keys["a"], &rsaA.PublicKey) || !sameKey(keys["b"], &rsaB.PublicKey) {
		t.Errorf("keys = %v", keys)
	}
	notes := strings.Join(skipped, "\n")
	for _, want := range []string{`"small": RSA modulus of 1024 bits`, `"a": kid seen before`, "no kid", `"hs": alg "HS256" does not suit`, `"oct": key type "oct"`, `"badpoint": EC point`} {
		if !strings.Contains(notes, want) {
			t.Errorf("skipped notes lack %q:\n%s", want, notes)
		}
	}
	if _, _, err := parseJWKS([]byte(`{"kids":[]}`), 10); err == nil {
		t.Error("a document without keys was accepted")
	}
	keys, _, _ = parseJWKS([]byte(doc), 1)
	if len(keys) != 1 {
		t.Errorf("MaxKeys 1 kept %d keys", len(keys))
	}
}
