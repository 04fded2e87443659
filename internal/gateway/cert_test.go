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
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

var testCertKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

// testCert is a self-signed client certificate valid around the harness
// clock and now.
var testCert = func() *x509.Certificate {
	c, err := pki.SelfSigned(pkix.Name{CommonName: "orders-client"}, testCertKey, 24*time.Hour, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
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

// newCA returns a CA and a function issuing leaves from it.
func newCA(t *testing.T, name string) (*x509.Certificate, func(cn string, eku x509.ExtKeyUsage, dns ...string) tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	issue := func(cn string, eku x509.ExtKeyUsage, dns ...string) tls.Certificate {
		lk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		lt := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{eku}, DNSNames: dns}
		for _, d := range dns {
			if ip := net.ParseIP(d); ip != nil {
				lt.IPAddresses = append(lt.IPAddresses, ip)
			}
		}
		d, err := x509.CreateCertificate(rand.Reader, lt, ca, &lk.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(d)
		return tls.Certificate{Certificate: [][]byte{d}, PrivateKey: lk, Leaf: leaf}
	}
	return ca, issue
}

func TestApply_TrustedCAFromTheVaultIsCompiledOnceResolved(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Now = time.Now })
	ca, issue := newCA(t, "Clients CA")
	client := issue("orders-client", x509.ExtKeyUsageClientAuth)
	api := apiKeyAPI("t1", "mtls", "/", "unused")
	api.Policy.Methods = []guard.MethodSpec{{Type: guard.SpecClientCertificate, TrustedCAs: []string{"vault://main/certificates/clients-ca"}}}
	h.apply(t, api)
	try := func() Verdict {
		r := request("GET", "https://h.test/x")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{client.Leaf}}
		return h.g.Evaluate(r, false)
	}
	waitFor(t, "the missing CA reported", func() bool {
		v := try()
		return v.Status == http.StatusServiceUnavailable && strings.Contains(string(v.Body), "clients-ca cannot be resolved")
	})
	h.vault.setCert("main", "clients-ca", ca)
	waitFor(t, "the CA resolved and the API compiled again", func() bool { return try().Forward() })
	other, _ := newCA(t, "Other CA")
	h.vault.setCert("main", "clients-ca", other)
	waitFor(t, "the renewed CA in force", func() bool { return try().Status == http.StatusUnauthorized })
}

func TestUpstream_BackendCAFromTheVaultOverRealTLS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Now = time.Now })
	ca, issue := newCA(t, "Backend CA")
	srv := issue("backend", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv}})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("backend ok")) })}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	api := apiKeyAPI("t1", "orders", "/", "vault://main/secrets/k")
	api.Backend = directory.Backend{URLs: []string{"https://" + ln.Addr().String()},
		TLS: &directory.BackendTLS{CACertificates: []string{"vault://main/certificates/backend-ca"}}}
	h.apply(t, api)
	up := h.g.routes.Load().byKey["t1/orders"].Upstream
	get := func() error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: up.TLS.Clone()}, Timeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Get(up.URLs[0].String())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b := readAll(t, resp.Body); b != "backend ok" {
			return errors.New(b)
		}
		return nil
	}
	if err := get(); err == nil {
		t.Fatal("the backend was trusted before its CA was resolved")
	}
	h.vault.setCert("main", "backend-ca", ca)
	waitFor(t, "the backend trusted", func() bool { return get() == nil })
	if h.g.routes.Load().byKey["t1/orders"].Upstream.TLS != up.TLS {
		t.Error("the API was compiled again; the roots should have been read at the handshake")
	}
}

func TestListenerTLS_RequestsCertificatesOnlyWhileAnAPINeedsThem(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	keyAPI := apiKeyAPI("t1", "keys", "/keys", "vault://main/secrets/k")
	ca, issue := newCA(t, "Server CA")
	srvCert := issue("gateway", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", h.g.ListenerTLS(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := h.g.Evaluate(r, false)
		v.Done(v.Status, 0, nil)
		if v.Forward() {
			w.Write([]byte("admitted " + v.Principal.Subject))
			return
		}
		for k, vs := range v.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(v.Status)
		w.Write(v.Body)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	asked := false
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			c := tls.Certificate{Certificate: [][]byte{testCert.Raw}, PrivateKey: testCertKey}
			return &c, nil
		}}}}
	get := func(path string) string {
		t.Helper()
		client.CloseIdleConnections()
		resp, err := client.Get("https://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.Status + " " + readAll(t, resp.Body)
	}

	h.apply(t, keyAPI)
	h.settle(t)
	if got := get("/keys"); !strings.HasPrefix(got, "401") || asked {
		t.Fatalf("without certificate APIs: %s (certificate asked: %v)", got, asked)
	}
	mtls := apiKeyAPI("t1", "mtls", "/mtls", "unused")
	mtls.Policy.Methods = []guard.MethodSpec{certMethod()}
	h.apply(t, keyAPI, mtls)
	if got := get("/mtls/x"); got != "200 OK admitted CN=orders-client" || !asked {
		t.Fatalf("with a certificate API: %s (certificate asked: %v)", got, asked)
	}
	if got := get("/keys"); !strings.HasPrefix(got, "401") {
		t.Fatalf("the certificate does not open an API-key API: %s", got)
	}
}
