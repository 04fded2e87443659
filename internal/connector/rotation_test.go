package connector_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
)

// importClientCertificate imports a new self-signed client certificate as
// the next version of vault certificate name and returns it.
func (e *env) importClientCertificate(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.SelfSigned(pkix.Name{CommonName: "portcullis-connector"}, key, 24*time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ImportCertificate(context.Background(), admin, "conn-kv", name, vault.CertificateImport{Data: append(pki.EncodeCertificatePEM(leaf), keyPEM...)}); err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestInvoke_RotationReachesAConnectionBusyAtThatInstant rotates the client
// certificate while a call holds the connection (HTTP/2 multiplexes every
// call over it, so it is never idle under a steady caller): the calls
// after the rotation present the new certificate all the same, and the
// call in flight finishes on the old one.
func TestInvoke_RotationReachesAConnectionBusyAtThatInstant(t *testing.T) {
	e := newEnv(t)
	first := e.importClientCertificate(t, "connector-client")

	leaf, key, err := pki.NewServerCertificate(e.ca, e.caKey, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	var mu sync.Mutex
	var seen [][32]byte
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{ErrorLog: quietLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}, ClientAuth: tls.RequireAnyClientCert},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			seen = append(seen, sha256.Sum256(r.TLS.PeerCertificates[0].Raw))
			mu.Unlock()
			if r.URL.Query().Get("hold") != "" {
				held <- struct{}{}
				<-hold
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"action":"Continue"}`)
		})}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	base := "https://" + ln.Addr().String() + "/validate"
	last := func() [32]byte {
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}

	// GET with the claim "hold" in the query: a call with it waits in the
	// handler, holding its connection, until the test lets it go.
	c := e.compile(t, directory.Connector{TenantID: "t1", Name: "mtls", Endpoint: base,
		Authentication: outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://conn-kv/certificates/connector-client"},
		TLS:            &outbound.TLSSpec{CACertificates: []string{e.caPEM}}, TimeoutSeconds: 30,
		SendClaimsIn: directory.ClaimsInQuery, InputClaims: []directory.ConnectorClaim{{ClaimType: "hold"}}})
	ctx := context.Background()
	if _, err := c.Invoke(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if last() != sha256.Sum256(first.Raw) {
		t.Fatal("the first call did not present the first certificate")
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, map[string]any{"hold": "1"})
		done <- err
	}()
	<-held
	second := e.importClientCertificate(t, "connector-client")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Invoke(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if last() == sha256.Sum256(second.Raw) {
			break
		}
		if time.Now().After(deadline) {
			close(hold)
			t.Fatal("5 s after the import the calls still present the old certificate: the busy connection was reused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Errorf("the call in flight during the rotation failed: %v", err)
	}
}
