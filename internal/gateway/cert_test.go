package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/pki"
)

var testCert = func() *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	c, err := pki.SelfSigned(pkix.Name{CommonName: "orders-client"}, key, 24*time.Hour, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	return c
}()

func certMethod() guard.MethodSpec {
	sum := sha256.Sum256(testCert.Raw)
	return guard.MethodSpec{Type: guard.SpecClientCertificate, Pins: []guard.CertificatePinSpec{{Thumbprint: hex.EncodeToString(sum[:])}}}
}

func TestEvaluate_ClientCertificateSetsThumbprintHeader(t *testing.T) {
	h := newHarness(t, nil)
	api := apiKeyAPI("t1", "mtls", "/", "vault://main/secrets/k")
	api.Policy.Methods = []guard.MethodSpec{certMethod()}
	h.apply(t, api)
	if !h.g.NeedsClientCertificate() {
		t.Fatal("NeedsClientCertificate is false")
	}
	r := request("GET", "https://h.test/x")
	v := h.g.Evaluate(r, false)
	if v.Status != http.StatusUnauthorized {
		t.Fatalf("without a certificate: %d %s", v.Status, v.Body)
	}
	r = request("GET", "https://h.test/x", "X-Portcullis-Certificate-Thumbprint", "forged")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{testCert}}
	v = h.g.Evaluate(r, false)
	if !v.Forward() {
		t.Fatalf("with the pinned certificate: %d %s", v.Status, v.Body)
	}
	sum := sha256.Sum256(testCert.Raw)
	if got := r.Header.Get("X-Portcullis-Certificate-Thumbprint"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("thumbprint header %q", got)
	}
	if got := r.Header.Get("X-Portcullis-Method"); got != "clientCertificate" {
		t.Errorf("method header %q", got)
	}
}
