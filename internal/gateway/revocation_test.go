package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/ocsp"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// revocationCA is a CA that signs client certificates, CRLs and OCSP
// answers.
type revocationCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newRevocationCA(t *testing.T) *revocationCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Clients CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &revocationCA{cert: c, key: key}
}

func (ca *revocationCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

func (ca *revocationCA) issue(t *testing.T, cn, ocspURL string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if ocspURL != "" {
		tmpl.OCSPServer = []string{ocspURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (ca *revocationCA) crl(t *testing.T, number int64, revoked ...tls.Certificate) []byte {
	t.Helper()
	now := time.Now()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Hour + time.Duration(number)*time.Second), NextUpdate: now.Add(time.Hour)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.Leaf.SerialNumber, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// startOCSP answers OCSP requests of ca's certificates: revoked for the
// serials in revoked, good otherwise.
func startOCSP(t *testing.T, ca *revocationCA, revoked *sync.Map) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		st := ocsp.Good
		if _, ok := revoked.Load(req.SerialNumber.String()); ok {
			st = ocsp.Revoked
		}
		now := time.Now()
		der, _ := ocsp.CreateResponse(ca.cert, ca.cert, ocsp.Response{Status: st, SerialNumber: req.SerialNumber,
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Minute)}, ca.key)
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGateway_ClientCertificateRevocationEndToEnd(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Now = time.Now })
	ca := newRevocationCA(t)
	var ocspRevoked sync.Map
	responder := startOCSP(t, ca, &ocspRevoked)
	good := ca.issue(t, "good-client", responder)
	revoked := ca.issue(t, "revoked-client", responder)
	ocspRevoked.Store(revoked.Leaf.SerialNumber.String(), true)

	var mu sync.Mutex
	published := ca.crl(t, 1, revoked)
	crlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write(published)
	}))
	t.Cleanup(crlSrv.Close)
	crlURL := crlSrv.URL + "/clients.crl"
	h.vault.set("main", "clients-crl", string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.crl(t, 1, revoked)})))

	certAPI := func(name string, rev guard.RevocationSpec) directory.API {
		a := apiKeyAPI("t1", name, "/"+name, "unused")
		a.Policy.Methods = []guard.MethodSpec{{Type: guard.SpecClientCertificate, TrustedCAs: []string{ca.pem()}, Revocation: &rev}}
		return a
	}
	apis := []directory.API{
		certAPI("crlurl", guard.RevocationSpec{CRLs: []string{crlURL}}),
		certAPI("crlvault", guard.RevocationSpec{CRLs: []string{"vault://main/secrets/clients-crl"}}),
		certAPI("ocsp", guard.RevocationSpec{OCSP: guard.RevocationHard}),
	}
	h.apply(t, apis...)
	h.settle(t)
	src := h.g.crls.m[crlURL]
	if src == nil {
		t.Fatal("no download for the CRL URL")
	}
	waitFor(t, "the CRL downloaded", func() bool { return src.CurrentCRL() != nil })

	// A real TLS listener that requests client certificates.
	srvCA, issueSrv := newCA(t, "Server CA")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", h.g.ListenerTLS(&tls.Config{Certificates: []tls.Certificate{issueSrv("gateway", x509.ExtKeyUsageServerAuth, "127.0.0.1")}}))
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
	roots.AddCert(srvCA)
	get := func(t *testing.T, path string, cert tls.Certificate) (int, string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp.Body)
	}

	serial := fmt.Sprintf("serial number %X, was revoked at", revoked.Leaf.SerialNumber)
	tests := []struct {
		name, path string
		cert       tls.Certificate
		status     int
		body       string
	}{
		{"CRL by URL: good", "/crlurl/x", good, 200, "admitted CN=good-client"},
		{"CRL by URL: revoked", "/crlurl/x", revoked, 401, serial},
		{"CRL in the vault: good", "/crlvault/x", good, 200, "admitted CN=good-client"},
		{"CRL in the vault: revoked", "/crlvault/x", revoked, 401, "listed in policy.methods[0].revocation.crls[0] (vault://main/secrets/clients-crl)"},
		{"OCSP: good", "/ocsp/x", good, 200, "admitted CN=good-client"},
		{"OCSP: revoked", "/ocsp/x", revoked, 401, "(OCSP responder " + responder + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, tt.path, tt.cert)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("got %d %s\nwant %d containing %s", status, body, tt.status, tt.body)
			}
			if status == 401 && !strings.Contains(body, `"error":"invalid_token"`) {
				t.Errorf("refusal is not invalid_token: %s", body)
			}
		})
	}

	t.Run("a refreshed CRL revokes a certificate admitted from the cache", func(t *testing.T) {
		if status, body := get(t, "/crlurl/x", good); status != 200 {
			t.Fatalf("before: %d %s", status, body)
		}
		mu.Lock()
		published = ca.crl(t, 2, revoked, good)
		mu.Unlock()
		if err := src.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if status, body := get(t, "/crlurl/x", good); status != 401 || !strings.Contains(body, "was revoked at") {
			t.Errorf("after the refresh: %d %s", status, body)
		}
	})

	t.Run("checks are counted per API and outcome", func(t *testing.T) {
		for _, c := range []struct {
			api, outcome string
			min          float64
		}{{"crlurl", "good", 1}, {"crlurl", "revoked", 2}, {"crlvault", "revoked", 1}, {"ocsp", "good", 1}, {"ocsp", "revoked", 1}} {
			got := testutil.ToFloat64(h.g.metrics.revocation.WithLabelValues("t1", c.api, c.outcome))
			if got < c.min {
				t.Errorf("%s %s: %v checks, want at least %v", c.api, c.outcome, got, c.min)
			}
		}
	})

	t.Run("explain shows the revocation step", func(t *testing.T) {
		r := request("GET", "https://h.test/crlvault/x")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good.Leaf}}
		res, err := h.g.Explain("t1", "crlvault", r)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, s := range res.Steps {
			if s.Rule == "revocation" && strings.Contains(s.Detail, "not listed in policy.methods[0].revocation.crls[0]") {
				found = true
			}
		}
		if !res.Allowed || !found {
			t.Errorf("explained %+v", res)
		}
	})

	t.Run("a certificate without a cached OCSP answer is decided off the loop, once", func(t *testing.T) {
		wd := h.g.Decider(false).(proxy.WaitingDecider)
		fresh := ca.issue(t, "fresh-client", responder)
		decideNow := func(path string, cert *x509.Certificate) (bool, int) {
			r := request("GET", "https://h.test"+path)
			if cert != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
			}
			d, now := wd.DecideNow(r)
			if !now {
				return false, 0
			}
			d.Done(proxy.Result{Status: d.Status})
			return true, admittedAsZero(d)
		}
		if now, _ := decideNow("/ocsp/x", fresh.Leaf); now {
			t.Fatal("a certificate whose OCSP answer is not cached was decided on the loop, which would have waited for the responder")
		}
		// The responder was asked in the background: once it answered, the decision is taken now.
		waitFor(t, "the OCSP answer cached", func() bool { now, _ := decideNow("/ocsp/x", fresh.Leaf); return now })
		for _, tc := range []struct {
			name, path string
			cert       *x509.Certificate
			status     int
		}{
			{"a certificate whose answer is cached, admitted", "/ocsp/x", fresh.Leaf, 0},
			{"a revoked certificate whose answer is cached", "/ocsp/x", revoked.Leaf, 401},
			{"no certificate", "/ocsp/x", nil, 401},
			{"a certificate to an API with CRLs only", "/crlurl/x", fresh.Leaf, 0},
		} {
			if now, status := decideNow(tc.path, tc.cert); !now || status != tc.status {
				t.Errorf("%s: decided now = %v with %d, want now with %d", tc.name, now, status, tc.status)
			}
		}
	})

	t.Run("a new version of the CRL in the vault revokes once the watcher brought it", func(t *testing.T) {
		if status, body := get(t, "/crlvault/x", good); status != 200 {
			t.Fatalf("before: %d %s", status, body)
		}
		c := h.g.routes.Load().byKey["t1/crlvault"].vaultCRLs[0]
		before := c.CurrentCRL()
		h.vault.set("main", "clients-crl", string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.crl(t, 2, revoked, good)})))
		h.g.res.StoreChanged()
		waitFor(t, "the new version parsed", func() bool { return c.CurrentCRL() != before })
		if status, body := get(t, "/crlvault/x", good); status != 401 || !strings.Contains(body, "was revoked at") {
			t.Errorf("after the new version: %d %s", status, body)
		}
	})

	t.Run("an unused CRL URL stops being downloaded", func(t *testing.T) {
		h.apply(t, apis[1:]...)
		if _, ok := h.g.crls.m[crlURL]; ok {
			t.Error("the download of an unused CRL URL is kept")
		}
	})
}

func TestGateway_RevocationSpecErrorsNameTheField(t *testing.T) {
	h := newHarness(t, nil)
	ca := newRevocationCA(t)
	a := apiKeyAPI("t1", "bad", "/bad", "unused")
	a.Policy.Methods = []guard.MethodSpec{{Type: guard.SpecClientCertificate, TrustedCAs: []string{ca.pem()},
		Revocation: &guard.RevocationSpec{CRLs: []string{"vault://foreign/secrets/crl"}}}}
	h.apply(t, a)
	if ps := h.g.Problems(); len(ps) != 1 || !strings.Contains(ps[0].Reason, "policy.methods[0].revocation.crls[0]") ||
		!strings.Contains(ps[0].Reason, "does not belong to this API's tenant") {
		t.Errorf("problems %+v", ps)
	}
	a.Policy.Methods[0].Revocation = &guard.RevocationSpec{CRLs: []string{"ldap://crl.example/cn=ca"}}
	a.Revision++
	h.apply(t, a)
	if ps := h.g.Problems(); len(ps) != 1 || !strings.Contains(ps[0].Reason, "give PEM text") {
		t.Errorf("problems %+v", ps)
	}
}

// CurrentCRL, which event loops call, never parses: a new version is parsed by prepare (the API's
// compilation, then the watcher's pass through Gateway.VaultChanged), and until then the one before is current.
func TestVaultCRL_CurrentCRLNeverParses(t *testing.T) {
	fv := newFakeVault()
	ca := newRevocationCA(t)
	cert := ca.issue(t, "client", "")
	crlPEM := func(der []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})) }
	fv.set("main", "crl", crlPEM(ca.crl(t, 1)))
	w := vaultwatch.New(vaultwatch.Config{Vault: fv, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	ref, err := vault.ParseReference("vault://main/secrets/crl")
	if err != nil {
		t.Fatal(err)
	}
	hd := w.Acquire(ref, nil)
	defer hd.Release()
	waitFor(t, "the secret resolved", func() bool { return hd.Current() != nil })
	c := &vaultCRL{h: hd}
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	first := c.CurrentCRL()
	if first == nil || len(first.RevokedCertificateEntries) != 0 {
		t.Fatalf("the first version: %v", first)
	}
	next := func(value string) {
		t.Helper()
		old := hd.Current().Version
		fv.set("main", "crl", value)
		w.StoreChanged()
		waitFor(t, "the new version resolved", func() bool { return hd.Current().Version != old })
	}

	next(crlPEM(ca.crl(t, 2, cert)))
	if c.CurrentCRL() != first {
		t.Fatal("CurrentCRL parsed a new version itself; that is prepare's work, off the request path")
	}
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	if l := c.CurrentCRL(); l == nil || len(l.RevokedCertificateEntries) != 1 {
		t.Fatalf("after prepare: %v, want the list revoking the certificate", l)
	}
	if err := c.prepare(); err != nil {
		t.Errorf("a version already parsed: %v", err)
	}

	next("not a CRL")
	if err := c.prepare(); err == nil || !strings.Contains(err.Error(), "not a CRL") {
		t.Errorf("a version that is not a CRL: %v", err)
	}
	if l := c.CurrentCRL(); l != nil {
		t.Error("a version that is not a CRL left the list before current")
	}
	if err := c.prepare(); err != nil {
		t.Errorf("the same version again (reported once): %v", err)
	}
}
