package connector_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

var admin = vault.Caller{Admin: true, RequestID: "connector-test"}

// env is a real vault over SQLite (vault "conn-kv") with a running
// watcher, and a CA for the test endpoints.
type env struct {
	store   *sqlite.Store
	sealer  *seal.Sealer
	svc     *vault.Service
	watcher *vaultwatch.Watcher
	ca      *x509.Certificate
	caKey   crypto.Signer
	caPEM   string
}

func newEnv(t testing.TB) *env {
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
	if _, err := svc.CreateVault(ctx, admin, vault.VaultInput{Name: "conn-kv"}); err != nil {
		t.Fatal(err)
	}
	w := vaultwatch.New(vaultwatch.Config{Vault: svc, Logger: slog.New(slog.DiscardHandler)})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ca, caKey, err := pki.NewCA("connector test CA", time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, sealer: sealer, svc: svc, watcher: w, ca: ca, caKey: caKey, caPEM: string(pki.EncodeCertificatePEM(ca))}
}

func (e *env) setSecret(t testing.TB, name, value string) {
	t.Helper()
	if _, err := e.svc.SetSecret(context.Background(), admin, "conn-kv", name, vault.SecretInput{Value: vault.NewStringValue(value)}); err != nil {
		t.Fatal(err)
	}
}

// received is a request as an endpoint got it.
type received struct {
	method, path, rawQuery, body string
	header                       http.Header
}

// endpoint is a real TLS connector API on 127.0.0.1.
type endpoint struct {
	url  string
	mu   sync.Mutex
	got  []received
	hand http.HandlerFunc
}

func (p *endpoint) last() received {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) == 0 {
		return received{}
	}
	return p.got[len(p.got)-1]
}

func (p *endpoint) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

var quietLog = log.New(io.Discard, "", 0)

func (e *env) startEndpoint(t testing.TB, h http.HandlerFunc) *endpoint {
	t.Helper()
	leaf, key, err := pki.NewServerCertificate(e.ca, e.caKey, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &endpoint{hand: h}
	hs := &http.Server{ErrorLog: quietLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			p.mu.Lock()
			p.got = append(p.got, received{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, body: string(b), header: r.Header.Clone()})
			p.mu.Unlock()
			p.hand(w, r)
		})}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	p.url = "https://" + ln.Addr().String() + "/validate"
	return p
}

// reply answers with status, content type and body.
func reply(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// connectorFor returns a Basic-secured connector definition for url.
func (e *env) connectorFor(url string) directory.Connector {
	return directory.Connector{
		TenantID: "t1", Name: "validate-user", Endpoint: url,
		Authentication: outbound.CredentialSpec{Type: "basic", Username: "portcullis", Password: "vault://conn-kv/secrets/connector-pw"},
		TLS:            &outbound.TLSSpec{CACertificates: []string{e.caPEM}},
		InputClaims:    []directory.ConnectorClaim{{ClaimType: "email"}, {ClaimType: "appid", PartnerClaimType: "client_id"}},
		OutputClaims:   []directory.ConnectorClaim{{ClaimType: "loyaltyNumber", PartnerClaimType: "loyalty_number"}, {ClaimType: "tier"}},
	}
}

func (e *env) compile(t testing.TB, d directory.Connector) *connector.Connector {
	t.Helper()
	c, err := connector.Compile(d, connector.Options{Watcher: e.watcher, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}
