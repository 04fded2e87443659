package sts_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/sts"
)

// memKeyStore is an in-memory sts.KeyStore (the real stores live in
// internal/store and have their own conformance suite).
type memKeyStore struct {
	mu          sync.Mutex
	keys        map[string][]sts.SigningKey
	leaseHolder string
	leaseUntil  time.Time
}

func newMemKeyStore() *memKeyStore { return &memKeyStore{keys: map[string][]sts.SigningKey{}} }

func (m *memKeyStore) CreateSigningKey(_ context.Context, k sts.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.keys[k.TenantID] {
		if e.KID == k.KID {
			return store.ErrConflict
		}
	}
	m.keys[k.TenantID] = append(m.keys[k.TenantID], k)
	return nil
}

func (m *memKeyStore) ListSigningKeys(_ context.Context, tenantID string) ([]sts.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := append([]sts.SigningKey(nil), m.keys[tenantID]...)
	sort.Slice(ks, func(i, j int) bool { return ks[i].ActivateAt.Before(ks[j].ActivateAt) })
	return ks, nil
}

func (m *memKeyStore) DeleteSigningKey(_ context.Context, tenantID, kid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := m.keys[tenantID]
	for i, k := range ks {
		if k.KID == kid {
			m.keys[tenantID] = append(ks[:i:i], ks[i+1:]...)
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memKeyStore) TryLease(_ context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaseHolder == "" || m.leaseHolder == holder || !now.Before(m.leaseUntil) {
		m.leaseHolder, m.leaseUntil = holder, now.Add(ttl)
		return true, nil
	}
	return false, nil
}

func (m *memKeyStore) all() []sts.SigningKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sts.SigningKey
	for _, ks := range m.keys {
		out = append(out, ks...)
	}
	return out
}

// testClock is an adjustable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// credentials shared by every test: RSA key generation is slow.
var (
	credOnce sync.Once
	clientRSA,
	otherRSA *rsa.PrivateKey
	clientEC,
	clientEC384 *ecdsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	credOnce.Do(func() {
		k1, err1 := pki.GenerateKey(pki.KeyTypeRSA2048)
		k2, err2 := pki.GenerateKey(pki.KeyTypeRSA2048)
		k3, err3 := pki.GenerateKey(pki.KeyTypeEC256)
		k4, err4 := pki.GenerateKey(pki.KeyTypeEC384)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			panic(err)
		}
		clientRSA, otherRSA, clientEC, clientEC384 = k1.(*rsa.PrivateKey), k2.(*rsa.PrivateKey), k3.(*ecdsa.PrivateKey), k4.(*ecdsa.PrivateKey)
	})
}

func guid() string { return uuid.NewString() }

// fixture is a tenant with a resource API and client applications of every
// credential kind.
type fixture struct {
	tenant   directory.Tenant
	resource directory.Application // api://orders, roles Orders.Read, Orders.Write

	secretClient      directory.Application // secret, granted Orders.Read + Orders.Write
	secret            string
	secretID          string
	basicClient       directory.Application // secret with URL-special characters, no grants
	basicSecret       string
	certClient        directory.Application // RSA certificate, granted Orders.Read
	ecClient          directory.Application // EC P-256 certificate, granted Orders.Write
	expiredSecret     directory.Application // only an expired secret
	expiredSecretText string
	expiredCert       directory.Application // only an expired certificate credential
	noCredClient      directory.Application // no credential at all

	rsaCert, otherCert, ecCert, ec384Cert *x509.Certificate

	apps   []directory.Application
	grants []directory.Grant
}

func newFixture(t testing.TB, now time.Time) *fixture {
	t.Helper()
	testKeys(t)
	f := &fixture{tenant: directory.Tenant{ID: guid(), Name: "contoso", CreatedAt: now}}
	tid := f.tenant.ID
	mkCert := func(key crypto.Signer, cn string) *x509.Certificate {
		c, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, 365*24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f.rsaCert = mkCert(clientRSA, "orders-client")
	f.otherCert = mkCert(otherRSA, "someone-else")
	f.ecCert = mkCert(clientEC, "ec-client")
	f.ec384Cert = mkCert(clientEC384, "ec-client-p384")
	keyCred := func(c *x509.Certificate, notAfter time.Time) directory.KeyCredential {
		return directory.KeyCredential{
			ID: guid(), CertificateDER: c.Raw, ThumbprintSHA1: pki.ThumbprintSHA1Hex(c), ThumbprintS256: pki.X5TS256(c),
			Subject: c.Subject.String(), NotBefore: c.NotBefore, NotAfter: notAfter, CreatedAt: now,
		}
	}
	app := func(name string) directory.Application {
		a := directory.Application{TenantID: tid, AppID: guid(), ObjectID: guid(), DisplayName: name, CreatedAt: now}
		a.IdentifierURIs = []string{"api://" + a.AppID}
		return a
	}
	pw := func(text string, expires time.Time) directory.PasswordCredential {
		return directory.PasswordCredential{ID: guid(), Hint: text[:3], Hash: directory.HashClientSecret(text), StartAt: now.Add(-time.Hour), ExpiresAt: expires, CreatedAt: now}
	}

	f.resource = app("orders-api")
	f.resource.IdentifierURIs = []string{"api://orders"}
	read, write := guid(), guid()
	f.resource.AppRoles = []directory.AppRole{
		{ID: read, Value: "Orders.Read", DisplayName: "Read orders", Enabled: true},
		{ID: write, Value: "Orders.Write", DisplayName: "Write orders", Enabled: true},
	}

	sec, err := directory.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	f.secret = sec.Text
	f.secretClient = app("secret-client")
	old := pw("Old~SecretThatExpired0123456789", now.Add(-24*time.Hour))
	cur := pw(sec.Text, now.AddDate(1, 0, 0))
	f.secretID = cur.ID
	f.secretClient.PasswordCredentials = []directory.PasswordCredential{old, cur}

	f.basicSecret = "s3cr+t/with:special%chars&=~"
	f.basicClient = app("basic-client")
	f.basicClient.PasswordCredentials = []directory.PasswordCredential{pw(f.basicSecret, time.Time{})}

	f.certClient = app("cert-client")
	f.certClient.KeyCredentials = []directory.KeyCredential{keyCred(f.rsaCert, f.rsaCert.NotAfter)}
	f.ecClient = app("ec-client")
	f.ecClient.KeyCredentials = []directory.KeyCredential{keyCred(f.ecCert, f.ecCert.NotAfter), keyCred(f.ec384Cert, f.ec384Cert.NotAfter)}

	f.expiredSecretText = "Exp~ExpiredSecretValue0123456789abcdef"
	f.expiredSecret = app("expired-secret-client")
	f.expiredSecret.PasswordCredentials = []directory.PasswordCredential{pw(f.expiredSecretText, now.Add(-time.Minute))}
	f.expiredCert = app("expired-cert-client")
	f.expiredCert.KeyCredentials = []directory.KeyCredential{keyCred(f.rsaCert, now.Add(-time.Hour))}
	f.noCredClient = app("no-credential-client")

	f.apps = []directory.Application{f.resource, f.secretClient, f.basicClient, f.certClient, f.ecClient, f.expiredSecret, f.expiredCert, f.noCredClient}
	grant := func(client directory.Application, role string) directory.Grant {
		return directory.Grant{ID: guid(), TenantID: tid, ClientAppID: client.AppID, ResourceAppID: f.resource.AppID, AppRoleID: role, CreatedAt: now}
	}
	f.grants = []directory.Grant{grant(f.secretClient, read), grant(f.secretClient, write), grant(f.certClient, read), grant(f.ecClient, write)}
	return f
}

func (f *fixture) snapshot(rev int64) *directory.Snapshot {
	return directory.NewSnapshot(rev, []directory.Tenant{f.tenant}, f.apps, f.grants, nil)
}

// env is a running token service over real TLS on 127.0.0.1.
type env struct {
	*fixture
	srv   *sts.Server
	keys  *memKeyStore
	clock *testClock
	mux   *http.ServeMux
	base  string
	hc    *http.Client
	pool  *x509.CertPool
	rev   int64
	// verifier checks this service's tokens for the resource API as the
	// vault and the admin API do: guard over the in-process key source
	// (sts.Server.Key), on the env's clock, with guard's token cache.
	verifier *guard.Verifier
}

type envOption func(*sts.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := newEnvNoTLS(t, opts...)
	ca, caKey, err := pki.NewCA("sts test CA", 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:   e.mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}}},
		ErrorLog:  nil,
	}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	e.base = "https://" + ln.Addr().String()
	e.pool = x509.NewCertPool()
	e.pool.AddCert(ca)
	e.hc = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(e.hc.CloseIdleConnections)
	return e
}

// newEnvNoTLS builds the service and its mux without a listener
// (benchmarks call the handler in process).
func newEnvNoTLS(t testing.TB, opts ...envOption) *env {
	t.Helper()
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	f := newFixture(t, clock.Now())
	cfg := sts.Config{
		Now:                 clock.Now,
		FailedAuthPerClient: sts.RateLimit{Burst: -1},
		FailedAuthPerSource: sts.RateLimit{Burst: -1},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{fixture: f, keys: newMemKeyStore(), clock: clock, mux: http.NewServeMux()}
	e.srv = sts.New(cfg, e.keys, testSealer(t))
	e.reload(t)
	if err := e.srv.EnsureSigningKey(context.Background(), f.tenant.ID); err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	e.srv.Register(e.mux)
	e.verifier = e.newVerifier(t, f.resource.AppID)
	return e
}

// newVerifier returns a guard.Verifier over the service's in-process key
// source for audience, on the env's clock.
func (e *env) newVerifier(t testing.TB, audience string) *guard.Verifier {
	t.Helper()
	return newVerifier(t, e.srv, audience, e.clock.Now)
}

// newVerifierOver returns a guard.Verifier for the resource API over the
// key source of another node (another sts.Server) on the env's clock.
func (e *env) newVerifierOver(t testing.TB, node *sts.Server) *guard.Verifier {
	t.Helper()
	return newVerifier(t, node, e.resource.AppID, e.clock.Now)
}

func newVerifier(t testing.TB, keys guard.KeySource, audience string, now func() time.Time) *guard.Verifier {
	t.Helper()
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Audiences: []string{audience}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verify verifies an access token of this service for the resource API.
func (e *env) verify(tok string) (*guard.Principal, error) {
	return e.verifier.Verify(context.Background(), tok)
}

// reload applies the fixture's directory and the store's keys, as the
// server does after every store change.
func (e *env) reload(t testing.TB) {
	t.Helper()
	e.rev++
	if err := e.srv.Apply(e.snapshot(e.rev), e.keys.all()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func (e *env) tokenURL() string { return e.base + "/" + e.tenant.ID + "/oauth2/v2.0/token" }

// tokenResponse is the decoded body of a token endpoint answer.
type tokenResponse struct {
	Status    int
	Header    http.Header
	Raw       string
	Token     string `json:"access_token"`
	TokenType string `json:"token_type"`
	ExpiresIn int    `json:"expires_in"`
	Error     string `json:"error"`
	Desc      string `json:"error_description"`
	Codes     []int  `json:"error_codes"`
	Timestamp string `json:"timestamp"`
	TraceID   string `json:"trace_id"`
	CorrID    string `json:"correlation_id"`
	ErrorURI  string `json:"error_uri"`
}

// post sends a token request; tenant "" means the fixture tenant.
func (e *env) post(t testing.TB, tenant string, form url.Values, hdr map[string]string) tokenResponse {
	t.Helper()
	if tenant == "" {
		tenant = e.tenant.ID
	}
	req, err := http.NewRequest(http.MethodPost, e.base+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return e.do(t, req)
}

func (e *env) do(t testing.TB, req *http.Request) tokenResponse {
	t.Helper()
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	tr := tokenResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("token response %d is not JSON: %v\n%s", resp.StatusCode, err, b)
	}
	return tr
}

func (e *env) secretForm(client directory.Application, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {"api://orders/.default"}}
}

// getJSON fetches url and decodes a 200 JSON answer into v.
func (e *env) getJSON(t testing.TB, url string, v any) *http.Response {
	t.Helper()
	resp, err := e.hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

func testSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	root, err := seal.ParseRootKey(strings.Repeat("5a", 32))
	if err != nil {
		t.Fatal(err)
	}
	return seal.NewSealer(root)
}
