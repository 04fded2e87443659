package outbound_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/outbound"
)

// caller sends requests with a credential over one transport, as the
// gateway and connectors do.
type caller struct {
	cred *outbound.Credential
	tr   *http.Transport
}

func newCaller(t testing.TB, cred *outbound.Credential) *caller {
	t.Helper()
	c := &caller{cred: cred, tr: &http.Transport{TLSClientConfig: cred.TLSConfig()}}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

func (c *caller) get(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if err := c.cred.Apply(req); err != nil {
		return 0, err
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func compile(t testing.TB, spec outbound.CredentialSpec, tlsSpec *outbound.TLSSpec, opts outbound.Options) *outbound.Credential {
	t.Helper()
	cred, err := outbound.Compile(spec, tlsSpec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cred.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cred.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestCompile_RefusesWhatWouldLeakOrMakesNoSense(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	pw := "vault://keys-kv/secrets/pw"
	for _, c := range []struct {
		name   string
		spec   outbound.CredentialSpec
		tls    *outbound.TLSSpec
		target string
		allow  bool
		want   string
	}{
		{"basic over http", outbound.CredentialSpec{Type: "basic", Username: "u", Password: pw}, nil, "http://api.test/x", false, "in the clear"},
		{"api key over http", outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-functions-key", Key: pw}, nil, "http://api.test/x", false, "allowInsecureAuth"},
		{"bearer over http", outbound.CredentialSpec{Type: "bearer", Token: pw}, nil, "http://api.test/x", false, "in the clear"},
		{"client certificate over http", outbound.CredentialSpec{Type: "clientCertificate", Certificate: "vault://keys-kv/certificates/c"}, nil, "http://api.test/x", true, "needs TLS"},
		{"tls settings over http", outbound.CredentialSpec{Type: "none"}, &outbound.TLSSpec{SkipChainValidation: true}, "http://api.test/x", false, "http://"},
		{"unknown type", outbound.CredentialSpec{Type: "digest"}, nil, "https://api.test/x", false, "unknown authentication type"},
		{"relative target", outbound.CredentialSpec{Type: "none"}, nil, "/x", false, "absolute"},
		{"username with colon", outbound.CredentialSpec{Type: "basic", Username: "a:b", Password: pw}, nil, "https://api.test/x", false, "RFC 7617"},
		{"bad header name", outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x key", Key: pw}, nil, "https://api.test/x", false, "not a valid HTTP header name"},
		{"reserved header", outbound.CredentialSpec{Type: "apiKeyHeader", Header: "Host", Key: pw}, nil, "https://api.test/x", false, "managed by HTTP"},
		{"password is a certificate", outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://keys-kv/certificates/c"}, nil, "https://api.test/x", false, "names certificates"},
		{"literal password", outbound.CredentialSpec{Type: "basic", Username: "u", Password: "hunter2-literal"}, nil, "https://api.test/x", false, "vault reference"},
		{"bearer both", outbound.CredentialSpec{Type: "bearer", Token: pw, ClientCredentials: &outbound.ClientCredentialsSpec{}}, nil, "https://api.test/x", false, "exactly one"},
		{"token endpoint over http", outbound.CredentialSpec{Type: "bearer", ClientCredentials: &outbound.ClientCredentialsSpec{
			TokenEndpoint: "http://login.test/token", ClientID: "c", Scope: "api://x/.default", ClientSecret: pw}}, nil, "https://api.test/x", false, "in the clear"},
		{"bad pin", outbound.CredentialSpec{Type: "none"}, &outbound.TLSSpec{PinnedThumbprints: []string{"abcd"}}, "https://api.test/x", false, "64 hex digits"},
		{"bad CA", outbound.CredentialSpec{Type: "none"}, &outbound.TLSSpec{CACertificates: []string{"not pem"}}, "https://api.test/x", false, "caCertificates[0]"},
		{"another tenant's vault", outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://other/secrets/pw"}, nil, "https://api.test/x", false, "does not belong to tenant t1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := outbound.Compile(c.spec, c.tls, outbound.Options{Name: "connector t1/x", Target: c.target, AllowInsecureAuth: c.allow,
				Watcher: v.watcher, TenantID: "t1", VaultTenant: func(name string) string {
					if name == "keys-kv" {
						return "t1"
					}
					return "t2"
				}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "connector t1/x: ") {
				t.Errorf("error %q does not name its owner", err)
			}
		})
	}
	if n := v.watcher.Len(); n != 0 {
		t.Errorf("refused compilations left %d watched references", n)
	}
}

func TestCompile_AllowInsecureAuthSendsToHTTP(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "pw", "dev-password")
	cred := compile(t, outbound.CredentialSpec{Type: "basic", Username: "dev", Password: "vault://keys-kv/secrets/pw"}, nil,
		outbound.Options{Target: "http://127.0.0.1:1/x", AllowInsecureAuth: true, Watcher: v.watcher})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/x", nil)
	if err := cred.Apply(req); err != nil {
		t.Fatal(err)
	}
	if u, p, ok := req.BasicAuth(); !ok || u != "dev" || p != "dev-password" {
		t.Errorf("Basic credential %q/%q, want dev/dev-password", u, p)
	}
	if cred.TLSConfig() != nil {
		t.Error("an http:// target got a TLS configuration")
	}
}

func TestApply_EachCredentialReachesABackendThatRequiresIt(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "pw", "p@ss:word with spaces")
	v.setSecret(t, "fnkey", "functions-key-6f1c")
	v.setSecret(t, "tok", "static.bearer.token")
	cert, key := newClientCertificate(t, "connector-client")
	v.importCertificate(t, "client", cert, key)
	ca := theCA(t)
	trust := &outbound.TLSSpec{CACertificates: []string{ca.pem}}
	for _, c := range []struct {
		name        string
		spec        outbound.CredentialSpec
		requireCert bool
		check       func(seen) error
	}{
		{"none", outbound.CredentialSpec{Type: "none"}, false, func(s seen) error {
			if s.header.Get("Authorization") != "" {
				return errors.New("an Authorization header was sent")
			}
			return nil
		}},
		{"basic", outbound.CredentialSpec{Type: "basic", Username: "portcullis", Password: "vault://keys-kv/secrets/pw"}, false, func(s seen) error {
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("portcullis:p@ss:word with spaces"))
			if got := s.header.Get("Authorization"); got != want {
				return fmt.Errorf("Authorization %q, want %q", got, want)
			}
			return nil
		}},
		{"api key header", outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-functions-key", Key: "vault://keys-kv/secrets/fnkey"}, false, func(s seen) error {
			if got := s.header.Get("X-Functions-Key"); got != "functions-key-6f1c" {
				return fmt.Errorf("x-functions-key %q", got)
			}
			return nil
		}},
		{"static bearer", outbound.CredentialSpec{Type: "bearer", Token: "vault://keys-kv/secrets/tok"}, false, func(s seen) error {
			if got := s.header.Get("Authorization"); got != "Bearer static.bearer.token" {
				return fmt.Errorf("Authorization %q", got)
			}
			return nil
		}},
		{"client certificate", outbound.CredentialSpec{Type: "clientCertificate", Certificate: "vault://keys-kv/certificates/client"}, true, func(s seen) error {
			if s.clientCert == nil || !s.clientCert.Equal(cert) {
				return errors.New("the backend did not get the vault's client certificate")
			}
			return nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := startBackend(t, false, c.requireCert, nil)
			cred := compile(t, c.spec, trust, outbound.Options{Name: "test", Target: b.url, Watcher: v.watcher})
			status, err := newCaller(t, cred).get(context.Background(), b.url)
			if err != nil || status != http.StatusOK {
				t.Fatalf("call: %d %v", status, err)
			}
			if err := c.check(b.last()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTLS_TrustPinsAndSkippedChain(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	ca := theCA(t)
	v.importCertificate(t, "backend-ca", ca.cert, ca.key)
	signed := startBackend(t, false, false, nil)
	self := startBackend(t, true, false, nil)
	for _, c := range []struct {
		name    string
		b       *backend
		tls     *outbound.TLSSpec
		wantErr string
	}{
		{"system roots refuse the test CA", signed, nil, "certificate"},
		{"PEM CA", signed, &outbound.TLSSpec{CACertificates: []string{ca.pem}}, ""},
		{"vault CA", signed, &outbound.TLSSpec{CACertificates: []string{"vault://keys-kv/certificates/backend-ca"}}, ""},
		{"wrong server name", signed, &outbound.TLSSpec{CACertificates: []string{ca.pem}, ServerName: "orders.test"}, "orders.test"},
		{"pin matches", signed, &outbound.TLSSpec{CACertificates: []string{ca.pem}, PinnedThumbprints: []string{thumbprint(signed.leaf)}}, ""},
		{"pin differs", signed, &outbound.TLSSpec{CACertificates: []string{ca.pem}, PinnedThumbprints: []string{thumbprint(self.leaf)}}, "not one of the pinned"},
		{"self-signed refused", self, &outbound.TLSSpec{CACertificates: []string{ca.pem}}, "certificate"},
		{"self-signed with skip", self, &outbound.TLSSpec{SkipChainValidation: true}, ""},
		{"self-signed with skip and pin", self, &outbound.TLSSpec{SkipChainValidation: true, PinnedThumbprints: []string{strings.ToUpper(thumbprint(self.leaf))}}, ""},
		{"skip does not skip the pin", self, &outbound.TLSSpec{SkipChainValidation: true, PinnedThumbprints: []string{thumbprint(signed.leaf)}}, "not one of the pinned"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cred := compile(t, outbound.CredentialSpec{Type: "none"}, c.tls, outbound.Options{Name: "test", Target: c.b.url, Watcher: v.watcher})
			_, err := newCaller(t, cred).get(context.Background(), c.b.url)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("call failed: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestRotation_NewSecretAndCertificateVersionsAreUsedWithoutRecompiling(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "pw", "first-password")
	first, firstKey := newClientCertificate(t, "client-v1")
	v.importCertificate(t, "client", first, firstKey)
	ca := theCA(t)
	trust := &outbound.TLSSpec{CACertificates: []string{ca.pem}}

	t.Run("basic password", func(t *testing.T) {
		b := startBackend(t, false, false, nil)
		cred := compile(t, outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://keys-kv/secrets/pw"}, trust,
			outbound.Options{Target: b.url, Watcher: v.watcher})
		c := newCaller(t, cred)
		password := func() string {
			if _, err := c.get(context.Background(), b.url); err != nil {
				t.Fatal(err)
			}
			req := &http.Request{Header: b.last().header}
			_, p, _ := req.BasicAuth()
			return p
		}
		if p := password(); p != "first-password" {
			t.Fatalf("password %q before rotation", p)
		}
		v.setSecret(t, "pw", "second-password")
		waitFor(t, "the new password sent", func() bool { return password() == "second-password" })
	})

	t.Run("client certificate", func(t *testing.T) {
		b := startBackend(t, false, true, nil)
		var rotated atomic.Int64
		var tr atomic.Pointer[http.Transport]
		cred := compile(t, outbound.CredentialSpec{Type: "clientCertificate", Certificate: "vault://keys-kv/certificates/client"}, trust,
			outbound.Options{Target: b.url, Watcher: v.watcher, ClientCertificateRotated: func() {
				rotated.Add(1)
				if t := tr.Load(); t != nil {
					t.CloseIdleConnections()
				}
			}})
		c := newCaller(t, cred)
		tr.Store(c.tr)
		presented := func() *x509.Certificate {
			if _, err := c.get(context.Background(), b.url); err != nil {
				t.Fatal(err)
			}
			return b.last().clientCert
		}
		if !presented().Equal(first) {
			t.Fatal("the first certificate is not presented")
		}
		second, secondKey := newClientCertificate(t, "client-v2")
		v.importCertificate(t, "client", second, secondKey)
		// The idle keep-alive connection made with the old certificate is
		// closed by the rotation callback, so a new handshake presents the
		// new one.
		waitFor(t, "the new certificate presented", func() bool { return presented().Equal(second) })
		if rotated.Load() == 0 {
			t.Error("the rotation callback was not called")
		}
		if !cred.ClientCertificate().Equal(second) {
			t.Error("ClientCertificate does not report the new version")
		}
	})
}

func TestRotation_PinnedVersionStaysPinned(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	pinned := v.setSecret(t, "key", "pinned-key-value")
	b := startBackend(t, false, false, nil)
	cred := compile(t, outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-api-key", Key: "vault://keys-kv/secrets/key/" + pinned},
		&outbound.TLSSpec{CACertificates: []string{theCA(t).pem}}, outbound.Options{Target: b.url, Watcher: v.watcher})
	// A version-less credential on the same secret shows when the watcher
	// has seen the new version.
	follower := compile(t, outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-api-key", Key: "vault://keys-kv/secrets/key"},
		&outbound.TLSSpec{CACertificates: []string{theCA(t).pem}}, outbound.Options{Target: b.url, Watcher: v.watcher})
	v.setSecret(t, "key", "newer-key-value")
	c, f := newCaller(t, cred), newCaller(t, follower)
	waitFor(t, "the version-less reference to follow", func() bool {
		if _, err := f.get(context.Background(), b.url); err != nil {
			t.Fatal(err)
		}
		return b.last().header.Get("X-Api-Key") == "newer-key-value"
	})
	if _, err := c.get(context.Background(), b.url); err != nil {
		t.Fatal(err)
	}
	if got := b.last().header.Get("X-Api-Key"); got != "pinned-key-value" {
		t.Errorf("the pinned reference sent %q", got)
	}
}

func TestReady_NamesAMissingSecret(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	cred, err := outbound.Compile(outbound.CredentialSpec{Type: "bearer", Token: "vault://keys-kv/secrets/nope"}, nil,
		outbound.Options{Name: "connector t1/x", Target: "https://api.test/", Watcher: v.watcher})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cred.Ready(ctx)
	// The caller names the owner ("connector \"x\" cannot be called: …");
	// the error does not say it a second time.
	if err == nil || !strings.Contains(err.Error(), "vault://keys-kv/secrets/nope") || strings.Contains(err.Error(), "connector t1/x") {
		t.Fatalf("Ready: %v, want an error naming the reference, not the owner again", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
	if err := cred.Apply(req); err == nil {
		t.Error("Apply with a missing secret succeeded")
	}
}

func TestApply_ASecretThatCannotBeAHeaderIsRefusedWithoutItsValue(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "key", "line1\r\nX-Injected: yes")
	cred := compile(t, outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-api-key", Key: "vault://keys-kv/secrets/key"}, nil,
		outbound.Options{Target: "https://api.test/", Watcher: v.watcher})
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
	err := cred.Apply(req)
	if err == nil || strings.Contains(err.Error(), "line1") || strings.Contains(err.Error(), "Injected") {
		t.Fatalf("Apply: %v, want a refusal without the value", err)
	}
}

func TestClientCredentials_TokensFromAPortcullisAuthority(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	auth := startAuthority(t, v)
	v.setSecret(t, "client-secret", auth.secret)
	v.importCertificate(t, "client-cert", auth.cert, auth.certKey)
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: auth.server, Audiences: []string{auth.resourceAppID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cc   outbound.ClientCredentialsSpec
	}{
		{"client secret via authority", outbound.ClientCredentialsSpec{Authority: auth.base, ClientID: auth.secretClient, ClientSecret: "vault://keys-kv/secrets/client-secret", Scope: "api://orders/.default"}},
		{"certificate assertion via token endpoint", outbound.ClientCredentialsSpec{TokenEndpoint: auth.base + "/oauth2/v2.0/token", ClientID: auth.certClient, ClientCertificate: "vault://keys-kv/certificates/client-cert", Scope: "api://orders/.default"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := startBackend(t, false, false, nil)
			before := auth.requests.Load()
			cc := c.cc
			cred, err := outbound.Compile(outbound.CredentialSpec{Type: "bearer", ClientCredentials: &cc},
				&outbound.TLSSpec{CACertificates: []string{theCA(t).pem}}, outbound.Options{Name: "test", Target: b.url, Watcher: v.watcher, TokenClient: auth.client})
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Close()
			caller := newCaller(t, cred)
			// Many first requests at once share one token request.
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					if _, err := caller.get(ctx, b.url); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := auth.requests.Load() - before; n != 1 {
				t.Errorf("%d token requests for 8 calls, want 1", n)
			}
			h := b.last().header.Get("Authorization")
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				t.Fatalf("Authorization %q is not a bearer token", h)
			}
			p, err := verifier.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if !p.HasRole("Orders.Read") {
				t.Errorf("the token lacks the granted role: %+v", p)
			}
		})
	}
}

func TestClientCredentials_ARefusedClientSaysWhyWithoutTheSecret(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	auth := startAuthority(t, v)
	v.setSecret(t, "client-secret", "Wrong~secret-value-that-must-not-leak")
	cred, err := outbound.Compile(outbound.CredentialSpec{Type: "bearer", ClientCredentials: &outbound.ClientCredentialsSpec{
		Authority: auth.base, ClientID: auth.secretClient, ClientSecret: "vault://keys-kv/secrets/client-secret", Scope: "api://orders/.default"}},
		nil, outbound.Options{Name: "connector t1/x", Target: "https://api.test/", Watcher: v.watcher, TokenClient: auth.client})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cred.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("Ready: %v, want invalid_client", err)
	}
	if strings.Contains(err.Error(), "must-not-leak") {
		t.Fatalf("the error shows the secret: %v", err)
	}
	// A failed request is not repeated at once for every call (backoff).
	before := auth.requests.Load()
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
	for range 5 {
		if cred.Apply(req) == nil {
			t.Fatal("Apply succeeded without a token")
		}
	}
	if n := auth.requests.Load() - before; n > 1 {
		t.Errorf("%d token requests for 5 calls during the backoff", n)
	}
}

// TestRotation_UnderLoadNoRequestFails rotates the client certificate
// while requests keep flowing over keep-alive connections: none fails, and
// the new certificate is soon presented.
func TestRotation_UnderLoadNoRequestFails(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	first, firstKey := newClientCertificate(t, "load-v1")
	v.importCertificate(t, "client", first, firstKey)
	b := startBackend(t, false, true, nil)
	var tr atomic.Pointer[http.Transport]
	cred := compile(t, outbound.CredentialSpec{Type: "clientCertificate", Certificate: "vault://keys-kv/certificates/client"},
		&outbound.TLSSpec{CACertificates: []string{theCA(t).pem}}, outbound.Options{Target: b.url, Watcher: v.watcher,
			ClientCertificateRotated: func() {
				if t := tr.Load(); t != nil {
					t.CloseIdleConnections()
				}
			}})
	c := newCaller(t, cred)
	tr.Store(c.tr)
	var failures, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status, err := c.get(context.Background(), b.url); err != nil || status != http.StatusOK {
					failures.Add(1)
				}
				done.Add(1)
			}
		})
	}
	waitFor(t, "load running", func() bool { return done.Load() > 20 })
	second, secondKey := newClientCertificate(t, "load-v2")
	v.importCertificate(t, "client", second, secondKey)
	waitFor(t, "the new certificate under load", func() bool {
		c := b.last().clientCert
		return c != nil && c.Equal(second)
	})
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the rotation", n, done.Load())
	}
}

func TestCredential_PrintsReferencesNeverValues(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "pw", "printed-password-value")
	cred := compile(t, outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://keys-kv/secrets/pw"}, nil,
		outbound.Options{Name: "connector t1/x", Target: "https://api.test/", Watcher: v.watcher})
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
	if err := cred.Apply(req); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cred), fmt.Sprintf("%+v %#v %s", cred, cred, cred)} {
		if strings.Contains(s, "printed-password-value") || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte("u:printed-password-value"))) {
			t.Fatalf("printed a value: %s", s)
		}
		if !strings.Contains(s, "vault://keys-kv/secrets/pw") {
			t.Errorf("%q does not name the reference", s)
		}
	}
}

// TestClientCredentials_ANewVersionAfterARefusalIsTriedAtOnce: an operator
// who fixes a refused client secret or certificate in the vault sees it
// used within the watcher's second, not after the token requests' backoff
// (up to a minute). The clock stands still after the refusal, so without
// the new version a retry would never come.
func TestClientCredentials_ANewVersionAfterARefusalIsTriedAtOnce(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	auth := startAuthority(t, v)
	stranger, strangerKey := newClientCertificate(t, "not-registered")
	for _, c := range []struct {
		name       string
		cc         outbound.ClientCredentialsSpec
		wrong, fix func(t *testing.T)
	}{
		{"client secret",
			outbound.ClientCredentialsSpec{Authority: auth.base, ClientID: auth.secretClient, ClientSecret: "vault://keys-kv/secrets/fixed-secret", Scope: "api://orders/.default"},
			func(t *testing.T) { v.setSecret(t, "fixed-secret", "Wrong~secret-before-the-fix") },
			func(t *testing.T) { v.setSecret(t, "fixed-secret", auth.secret) }},
		{"client certificate",
			outbound.ClientCredentialsSpec{Authority: auth.base, ClientID: auth.certClient, ClientCertificate: "vault://keys-kv/certificates/fixed-cert", Scope: "api://orders/.default"},
			func(t *testing.T) { v.importCertificate(t, "fixed-cert", stranger, strangerKey) },
			func(t *testing.T) { v.importCertificate(t, "fixed-cert", auth.cert, auth.certKey) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.wrong(t)
			clock := &fakeClock{t: time.Now()}
			cc := c.cc
			cred, err := outbound.Compile(outbound.CredentialSpec{Type: "bearer", ClientCredentials: &cc}, nil,
				outbound.Options{Name: "api t1/orders", Target: "https://api.test/", Watcher: v.watcher, TokenClient: auth.client, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Close()
			apply := func() error {
				req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
				return cred.Apply(req)
			}
			waitFor(t, "the refusal", func() bool {
				err := apply()
				if err != nil && strings.Contains(err.Error(), "invalid_client") {
					return true
				}
				clock.Advance(time.Second) // past the short wait for the vault's first resolution
				return false
			})
			c.fix(t)
			waitFor(t, "a token with the new version", func() bool { return apply() == nil })
		})
	}
}
