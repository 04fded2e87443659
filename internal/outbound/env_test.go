package outbound_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// testVault is a real vault.Service over SQLite with vault "keys-kv" and a
// running Watcher.
type testVault struct {
	svc     *vault.Service
	store   *sqlite.Store
	watcher *vaultwatch.Watcher
	sealer  *seal.Sealer
}

// quietLog drops the test servers' handshake errors, which the tests
// provoke on purpose.
var quietLog = log.New(io.Discard, "", 0)

var admin = vault.Caller{Admin: true, RequestID: "outbound-test"}

func newTestVault(t testing.TB) *testVault {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := make([]byte, seal.RootKeySize)
	rand.Read(b)
	root, err := seal.ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	sealer := seal.NewSealer(root)
	svc, err := vault.New(vault.Config{Store: st, Sealer: sealer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(ctx) })
	if _, err := svc.CreateVault(ctx, admin, vault.VaultInput{Name: "keys-kv"}); err != nil {
		t.Fatal(err)
	}
	w := vaultwatch.New(vaultwatch.Config{Vault: svc, Logger: slog.New(slog.DiscardHandler)})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &testVault{svc: svc, store: st, watcher: w, sealer: sealer}
}

// setSecret writes a new version of secret name and returns its version.
func (v *testVault) setSecret(t testing.TB, name, value string) string {
	t.Helper()
	s, err := v.svc.SetSecret(context.Background(), admin, "keys-kv", name, vault.SecretInput{Value: vault.NewStringValue(value)})
	if err != nil {
		t.Fatal(err)
	}
	return s.Version
}

// importCertificate imports leaf and key as a new version of certificate
// name and returns its version.
func (v *testVault) importCertificate(t testing.TB, name string, leaf *x509.Certificate, key crypto.Signer) string {
	t.Helper()
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pki.EncodeCertificatePEM(leaf), keyPEM...)
	c, err := v.svc.ImportCertificate(context.Background(), admin, "keys-kv", name, vault.CertificateImport{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return c.Version
}

// newClientCertificate returns a self-signed client certificate and key.
func newClientCertificate(t testing.TB, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, 24*time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// testCA is a CA whose server certificates backends present.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

var (
	caOnce   sync.Once
	sharedCA *testCA
)

func theCA(t testing.TB) *testCA {
	t.Helper()
	caOnce.Do(func() {
		c, k, err := pki.NewCA("outbound test CA", 24*time.Hour, time.Now().Add(-time.Minute))
		if err != nil {
			panic(err)
		}
		sharedCA = &testCA{cert: c, key: k, pem: string(pki.EncodeCertificatePEM(c))}
	})
	return sharedCA
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// seen is what a backend got in one request.
type seen struct {
	header     http.Header
	clientCert *x509.Certificate
}

// backend is a real TLS server on 127.0.0.1 recording what it gets.
type backend struct {
	url    string
	leaf   *x509.Certificate
	mu     sync.Mutex
	got    []seen
	status atomic.Int32
}

func (b *backend) last() seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got) == 0 {
		return seen{}
	}
	return b.got[len(b.got)-1]
}

// startBackend starts a TLS backend whose certificate is issued by the
// test CA (selfSigned: by itself) for 127.0.0.1; requireCert asks for a
// client certificate and refuses the handshake without one.
func startBackend(t testing.TB, selfSigned, requireCert bool, handler http.HandlerFunc) *backend {
	t.Helper()
	ca := theCA(t)
	var leaf *x509.Certificate
	var key crypto.Signer
	var err error
	if selfSigned {
		key, err = pki.GenerateKey(pki.KeyTypeEC256)
		if err == nil {
			leaf, err = pki.SelfSigned(pkix.Name{CommonName: "127.0.0.1"}, key, time.Hour, time.Now().Add(-time.Minute))
		}
	} else {
		leaf, key, err = pki.NewServerCertificate(ca.cert, ca.key, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	}
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{leaf: leaf}
	b.status.Store(http.StatusOK)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}
	if requireCert {
		tc.ClientAuth = tls.RequireAnyClientCert
	}
	hs := &http.Server{TLSConfig: tc, ErrorLog: quietLog, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{header: r.Header.Clone()}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.clientCert = r.TLS.PeerCertificates[0]
		}
		b.mu.Lock()
		b.got = append(b.got, s)
		b.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.WriteHeader(int(b.status.Load()))
	})}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	b.url = "https://" + ln.Addr().String() + "/api"
	return b
}

func thumbprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// authority is a real Portcullis token service on 127.0.0.1 over TLS
// with a resource API and two clients: one with a secret, one with a
// certificate, both granted Orders.Read.
type authority struct {
	base, tenantID string
	resourceAppID  string
	secretClient   string
	secret         string
	certClient     string
	cert           *x509.Certificate
	certKey        crypto.Signer
	server         *sts.Server
	requests       atomic.Int64
	client         *http.Client
}

func startAuthority(t testing.TB, v *testVault) *authority {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	a := &authority{tenantID: uuid.NewString(), resourceAppID: uuid.NewString(), secretClient: uuid.NewString(), certClient: uuid.NewString(),
		secret: "Xy7~client-secret-for-outbound-tests-0a1b2c"}
	a.cert, a.certKey = newClientCertificate(t, "orders-client")
	role := uuid.NewString()
	resource := directory.Application{TenantID: a.tenantID, AppID: a.resourceAppID, ObjectID: uuid.NewString(), DisplayName: "orders-api",
		IdentifierURIs: []string{"api://orders"}, AppRoles: []directory.AppRole{{ID: role, Value: "Orders.Read", DisplayName: "Read", Enabled: true}}, CreatedAt: now}
	secretApp := directory.Application{TenantID: a.tenantID, AppID: a.secretClient, ObjectID: uuid.NewString(), DisplayName: "secret-client", CreatedAt: now,
		PasswordCredentials: []directory.PasswordCredential{{ID: uuid.NewString(), Hint: "Xy7", Hash: directory.HashClientSecret(a.secret), StartAt: now.Add(-time.Hour), CreatedAt: now}}}
	certApp := directory.Application{TenantID: a.tenantID, AppID: a.certClient, ObjectID: uuid.NewString(), DisplayName: "cert-client", CreatedAt: now,
		KeyCredentials: []directory.KeyCredential{{ID: uuid.NewString(), CertificateDER: a.cert.Raw, ThumbprintSHA1: pki.ThumbprintSHA1Hex(a.cert), ThumbprintS256: pki.X5TS256(a.cert),
			Subject: a.cert.Subject.String(), NotBefore: a.cert.NotBefore, NotAfter: a.cert.NotAfter, CreatedAt: now}}}
	grants := []directory.Grant{
		{ID: uuid.NewString(), TenantID: a.tenantID, ClientAppID: a.secretClient, ResourceAppID: a.resourceAppID, AppRoleID: role, CreatedAt: now},
		{ID: uuid.NewString(), TenantID: a.tenantID, ClientAppID: a.certClient, ResourceAppID: a.resourceAppID, AppRoleID: role, CreatedAt: now},
	}
	tenants := []directory.Tenant{{ID: a.tenantID, Name: "contoso", CreatedAt: now}}
	if err := v.store.CreateTenant(ctx, tenants[0]); err != nil {
		t.Fatal(err)
	}
	a.server = sts.New(sts.Config{Logger: slog.New(slog.DiscardHandler)}, v.store, v.sealer)
	apply := func(rev int64) {
		keys, err := v.store.ListSigningKeys(ctx, a.tenantID)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.server.Apply(directory.NewSnapshot(rev, tenants, []directory.Application{resource, secretApp, certApp}, grants, nil), keys); err != nil {
			t.Fatal(err)
		}
	}
	apply(1)
	if err := a.server.EnsureSigningKey(ctx, a.tenantID); err != nil {
		t.Fatal(err)
	}
	apply(2)
	mux := http.NewServeMux()
	a.server.Register(mux)
	ca := theCA(t)
	leaf, key, err := pki.NewServerCertificate(ca.cert, ca.key, []string{"127.0.0.1"}, time.Hour, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.requests.Add(1)
			mux.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}},
		ErrorLog:  quietLog,
	}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	a.base = "https://" + ln.Addr().String() + "/" + a.tenantID
	a.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	t.Cleanup(a.client.CloseIdleConnections)
	return a
}
