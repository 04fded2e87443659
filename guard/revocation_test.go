package guard

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// issueOCSP makes a client certificate of ca that names ocspURL as its
// OCSP responder (Authority Information Access).
func (ca *testCA) issueOCSP(t testing.TB, cn, ocspURL string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Portcullis Test"}},
		NotBefore: testEpoch.Add(-24 * time.Hour), NotAfter: testEpoch.AddDate(0, 1, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ocspURL != "" {
		tmpl.OCSPServer = []string{ocspURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: append([][]byte{der}, ca.chain...), PrivateKey: key, Leaf: leaf}
}

// crl makes a CRL signed by signer that names issuer (normally the same CA)
// and lists revoked, valid from thisUpdate to nextUpdate.
func crl(t testing.TB, issuer, signer *testCA, number int64, thisUpdate, nextUpdate time.Time, revoked ...tls.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.Leaf.SerialNumber, RevocationTime: testEpoch.Add(-2 * time.Hour)})
	}
	// The issuer's name on a signer's key: a list that claims to be the
	// issuer's but is not signed by it.
	iss := *signer.cert
	iss.Subject, iss.RawSubject = issuer.cert.Subject, issuer.cert.RawSubject
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, &iss, signer.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func crlPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// ocspResponder answers OCSP requests for the certificates of ca from a
// table of statuses (good when not listed), on loopback.
type ocspResponder struct {
	URL      string
	ca       *testCA
	mu       sync.Mutex
	status   map[string]int // serial (decimal) → ocsp.Good / Revoked / Unknown
	requests atomic.Int64
	block    chan struct{} // when set, answers wait for it to close
	now      func() time.Time
	// delegate, when set, signs the answers instead of the CA, and is sent with them.
	delegate *tls.Certificate
}

func newOCSPResponder(t testing.TB, ca *testCA) *ocspResponder {
	o := &ocspResponder{ca: ca, status: map[string]int{}, now: func() time.Time { return testEpoch }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		o.mu.Lock()
		block := o.block
		o.mu.Unlock()
		if block != nil {
			<-block
		}
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		o.mu.Lock()
		st := o.status[req.SerialNumber.String()]
		o.mu.Unlock()
		now := o.now()
		tmpl := ocsp.Response{Status: st, SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Hour),
			NextUpdate: now.Add(time.Hour), RevokedAt: testEpoch.Add(-3 * time.Hour)}
		var der []byte
		if d := o.delegate; d != nil {
			tmpl.Certificate = d.Leaf
			der, err = ocsp.CreateResponse(o.ca.cert, d.Leaf, tmpl, d.PrivateKey.(crypto.Signer))
		} else {
			der, err = ocsp.CreateResponse(o.ca.cert, o.ca.cert, tmpl, o.ca.key)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

func (o *ocspResponder) set(c tls.Certificate, st int) {
	o.mu.Lock()
	o.status[c.Leaf.SerialNumber.String()] = st
	o.mu.Unlock()
}

// deadURL is an address on loopback where nothing listens.
func deadURL(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/ocsp"
}

// outcomeLog records what OnRevocation is told.
type outcomeLog struct {
	mu  sync.Mutex
	got []string
}

func (l *outcomeLog) report(outcome, _ string) {
	l.mu.Lock()
	l.got = append(l.got, outcome)
	l.mu.Unlock()
}

func (l *outcomeLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.got, " ")
	l.got = nil
	return s
}

func TestRevocation_CRLAndOCSPOverRealTLS(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	inter := root.sub(t, "Test Issuing CA")
	lookalike := newTestCA(t, "Test Issuing CA") // same name, another key
	responder := newOCSPResponder(t, inter)
	dead := deadURL(t)

	good := inter.issueOCSP(t, "good", responder.URL)
	revoked := inter.issueOCSP(t, "revoked-by-crl", responder.URL)
	ocspRevoked := inter.issueOCSP(t, "revoked-by-ocsp", responder.URL)
	unknown := inter.issueOCSP(t, "unknown-to-ocsp", responder.URL)
	down := inter.issueOCSP(t, "responder-down", dead)
	noAIA := inter.issueOCSP(t, "no-responder", "")
	responder.set(ocspRevoked, ocsp.Revoked)
	responder.set(unknown, ocsp.Unknown)

	current := crlPEM(crl(t, inter, inter, 7, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour), revoked))
	stale := crlPEM(crl(t, inter, inter, 6, testEpoch.Add(-48*time.Hour), testEpoch.Add(-24*time.Hour), revoked))
	forged := crlPEM(crl(t, inter, lookalike, 99, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour), good))
	rootCRL := crlPEM(crl(t, root, root, 1, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour)))

	method := func(rev string) string {
		return fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":%s}]}`, root.pem(), rev)
	}
	list := func(crls ...string) string { b, _ := json.Marshal(crls); return string(b) }
	policies := map[string]string{
		"crl":         method(`{"crls":` + list(current, rootCRL) + `}`),
		"stalehard":   method(`{"crls":` + list(stale) + `}`),
		"stalesoft":   method(`{"crls":` + list(stale) + `,"crlMode":"soft"}`),
		"forged":      method(`{"crls":` + list(forged) + `}`),
		"forgedsoft":  method(`{"crls":` + list(forged) + `,"crlMode":"soft"}`),
		"forgedandok": method(`{"crls":` + list(forged, current) + `}`),
		"otherca":     method(`{"crls":` + list(rootCRL) + `}`),
		"ocsphard":    method(`{"ocsp":"hard"}`),
		"ocspsoft":    method(`{"ocsp":"soft"}`),
		"both":        method(`{"crls":` + list(current) + `,"ocsp":"hard"}`),
	}
	log := &outcomeLog{}
	mux := http.NewServeMux()
	for name, js := range policies {
		p := mustCompile(t, js, &testResolver{}, CompileOptions{Now: c.Now, Realm: name, OnRevocation: log.report})
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			pr, e := p.Decide(r)
			// Explain after Decide: it finds the decision in the cache.
			ex := p.Explain(r.Clone(r.Context()))
			w.Header().Set("X-Outcomes", outcomes(ex))
			if len(ex.Steps) > 1 {
				w.Header().Set("X-Revocation-Step", ex.Steps[1].Detail)
			}
			if e != nil {
				WriteError(w, p.Realm, e)
				return
			}
			fmt.Fprintf(w, "%s", pr.Subject)
		})
	}
	base, client := serveTLS(t, mux, &tls.Config{ClientAuth: tls.RequestClientCert})

	tests := []struct {
		name, path string
		cert       tls.Certificate
		status     int
		body       string
		reported   string // outcomes told to OnRevocation, in order
		explained  string
	}{
		{"CRL: not listed", "crl", good, 200, "CN=good", "good", "admitted held"},
		{"CRL: listed", "crl", revoked, 401, fmt.Sprintf(`serial number %X, was revoked at 2026-12-05T10:00:00Z (listed in policy.methods[0].revocation.crls[0])`, revoked.Leaf.SerialNumber), "revoked", "refused"},
		{"stale CRL, hard: refused, naming the list", "stalehard", good, 401, "policy.methods[0].revocation.crls[0] is stale: its nextUpdate was 2026-12-04T12:00:00Z", "unavailable", "refused"},
		{"stale CRL, soft: admitted and reported", "stalesoft", good, 200, "CN=good", "unavailable", "admitted held"},
		{"stale CRL still revokes", "stalesoft", revoked, 401, "was revoked at", "revoked", "refused"},
		{"CRL signed by another CA is not used, hard", "forged", good, 401, "names the issuer \\\"CN=Test Issuing CA,O=Portcullis Test\\\" but is not signed by it", "unavailable", "refused"},
		{"CRL signed by another CA is not used, soft", "forgedsoft", good, 200, "CN=good", "unavailable", "admitted held"},
		{"CRL signed by another CA does not revoke beside the real one", "forgedandok", good, 200, "CN=good", "good", "admitted held"},
		{"CRL of another CA does not cover the certificate", "otherca", good, 200, "CN=good", "", "admitted held"},
		{"OCSP hard: good", "ocsphard", good, 200, "CN=good", "good", "admitted held"},
		{"OCSP hard: revoked", "ocsphard", ocspRevoked, 401, fmt.Sprintf("serial number %X, was revoked at 2026-12-05T09:00:00Z (OCSP responder %s)", ocspRevoked.Leaf.SerialNumber, responder.URL), "revoked", "refused"},
		{"OCSP soft: revoked", "ocspsoft", ocspRevoked, 401, "was revoked at", "revoked", "refused"},
		{"OCSP hard: unknown", "ocsphard", unknown, 401, "does not know the certificate", "unknown", "refused"},
		{"OCSP soft: unknown", "ocspsoft", unknown, 200, "CN=unknown-to-ocsp", "unknown", "admitted held"},
		{"OCSP hard: responder down", "ocsphard", down, 401, "cannot be checked for revocation: the OCSP responder " + dead + " cannot be reached", "unavailable", "refused"},
		{"OCSP soft: responder down", "ocspsoft", down, 200, "CN=responder-down", "unavailable", "admitted held"},
		{"OCSP hard: no responder named", "ocsphard", noAIA, 401, "names no http(s) OCSP responder", "unavailable", "refused"},
		{"CRL and OCSP: both good", "both", good, 200, "CN=good", "good good", "admitted held"},
		{"CRL and OCSP: the CRL revokes first", "both", revoked, 401, "listed in policy.methods[0].revocation.crls[0]", "revoked", "refused"},
		{"CRL and OCSP: OCSP revokes", "both", ocspRevoked, 401, "OCSP responder", "good revoked", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := client.Transport.(*http.Transport).Clone()
			cert := tt.cert
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			log.take()
			resp, err := cl.Get(base + "/" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %s\nwant %d containing %s", resp.StatusCode, body, tt.status, tt.body)
			}
			// Decide reported; Explain ran the check again only on refusals
			// (an admission is cached).
			want := tt.reported
			if tt.status != 200 {
				want += " " + tt.reported
			}
			if got := log.take(); got != want {
				t.Errorf("reported %q, want %q", got, want)
			}
			if got := resp.Header.Get("X-Outcomes"); got != tt.explained {
				t.Errorf("Explain outcomes %q, want %q", got, tt.explained)
			}
			if tt.status == 200 && resp.Header.Get("X-Revocation-Step") == "" {
				t.Error("no revocation step explained")
			}
			if strings.Contains(string(body), "BEGIN") {
				t.Errorf("a refusal quotes the CRL: %s", body)
			}
		})
	}
}

func TestRevocation_WithoutWaitingAsksTheResponderInTheBackground(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	inter := root.sub(t, "Test Issuing CA")
	responder := newOCSPResponder(t, inter)
	current := crlPEM(crl(t, inter, inter, 7, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour)))
	log := &outcomeLog{}
	p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"crls":[%q],"ocsp":"hard"}}]}`, root.pem(), current),
		&testResolver{}, CompileOptions{Now: c.Now, OnRevocation: log.report})
	request := func(cert tls.Certificate) *http.Request {
		r := httptest.NewRequest("GET", "https://api.test/x", nil)
		r.TLS = &tls.ConnectionState{}
		for _, der := range cert.Certificate {
			x, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			r.TLS.PeerCertificates = append(r.TLS.PeerCertificates, x)
		}
		return r
	}
	noWait := WithoutWaiting(context.Background())
	for _, tc := range []struct {
		name   string
		status int // what the responder says: ocsp.Good, ocsp.Revoked
		want   int // once the answer came: 0 admitted, else the refusal's status
	}{
		{"good", ocsp.Good, 0},
		{"revoked", ocsp.Revoked, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := inter.issueOCSP(t, tc.name, responder.URL)
			if tc.status != ocsp.Good {
				responder.set(cert, tc.status)
			}
			log.take()
			_, e := p.DecideWithin(noWait, request(cert))
			if e == nil || !errors.Is(e, ErrWouldWait) || e.Status != http.StatusServiceUnavailable {
				t.Fatalf("without waiting, no answer cached: %v, want a 503 wrapping ErrWouldWait", e)
			}
			if got := log.take(); got != "" {
				t.Errorf("a decision not taken reported %q", got)
			}
			waitFor(t, "the answer cached", func() bool {
				_, e = p.DecideWithin(noWait, request(cert))
				return e == nil || !errors.Is(e, ErrWouldWait)
			})
			if got := 0; e != nil {
				got = e.Status
				if got != tc.want {
					t.Errorf("once answered: %v, want %d", e, tc.want)
				}
			} else if tc.want != 0 {
				t.Errorf("once answered: admitted, want %d", tc.want)
			}
			// The CRL and the OCSP answer, each counted once, by the decision taken.
			if got, want := log.take(), map[int]string{0: "good good", 401: "good revoked"}[tc.want]; got != want {
				t.Errorf("reported %q, want %q", got, want)
			}
		})
	}

	t.Run("a responder that hangs holds up no decision, and is asked once", func(t *testing.T) {
		block := make(chan struct{})
		responder.mu.Lock()
		responder.block = block
		responder.mu.Unlock()
		before := responder.requests.Load()
		cert := inter.issueOCSP(t, "hanging", responder.URL)
		const callers = 20
		done := make(chan *Error, callers)
		for range callers {
			go func() {
				_, e := p.DecideWithin(noWait, request(cert))
				done <- e
			}()
		}
		for range callers {
			select {
			case e := <-done:
				if e == nil || !errors.Is(e, ErrWouldWait) {
					t.Errorf("without waiting, responder hanging: %v, want ErrWouldWait", e)
				}
			case <-time.After(10 * time.Second): // a liveness bound, not a speed figure
				t.Fatal("a decision without waiting waited for the responder")
			}
		}
		waitFor(t, "the question asked", func() bool { return responder.requests.Load() > before })
		close(block)
		waitFor(t, "the answer cached", func() bool {
			_, e := p.DecideWithin(noWait, request(cert))
			return e == nil
		})
		if n := responder.requests.Load() - before; n != 1 {
			t.Errorf("%d questions for %d decisions of one certificate, want 1", n, callers)
		}
	})
}

// crlResolver resolves CRL references from a map.
type crlResolver struct {
	testResolver
	crls map[string]CRLSource
}

func (cr *crlResolver) CRL(ref string) (CRLSource, error) {
	s, ok := cr.crls[ref]
	if !ok {
		return nil, fmt.Errorf("CRL %q does not exist", ref)
	}
	return s, nil
}

// crlServer serves a CRL that the test replaces.
type crlServer struct {
	URL string
	mu  sync.Mutex
	der []byte
}

func newCRLServer(t testing.TB, der []byte) *crlServer {
	s := &crlServer{der: der}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := s.der
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/issuing.crl"
	return s
}

func (s *crlServer) publish(der []byte) {
	s.mu.Lock()
	s.der = der
	s.mu.Unlock()
}

func TestRevocation_RefreshedCRLRevokesACachedCertificate(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	inter := root.sub(t, "Test Issuing CA")
	cert := inter.issueOCSP(t, "orders", "")
	other := inter.issueOCSP(t, "billing", "")
	srv := newCRLServer(t, crl(t, inter, inter, 1, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := NewCRLURLSource(ctx, srv.URL, CRLURLOptions{Now: c.Now, Refresh: time.Hour})
	waitFor(t, "the first CRL download", func() bool { return src.CurrentCRL() != nil })

	log := &outcomeLog{}
	res := &crlResolver{crls: map[string]CRLSource{srv.URL: src}}
	p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"crls":[%q]}}]}`, root.pem(), srv.URL),
		res, CompileOptions{Now: c.Now, OnRevocation: log.report})
	decide := func(cert tls.Certificate) *Error {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf, inter.cert}}
		_, e := p.Decide(r)
		return e
	}
	for i := range 2 {
		if e := decide(cert); e != nil {
			t.Fatalf("decision %d: %v", i, e)
		}
	}
	if got := log.take(); got != "good" {
		t.Fatalf("checks %q: the second decision should come from the cache", got)
	}
	// The same list downloaded again changes nothing.
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if e := decide(cert); e != nil || log.take() != "" {
		t.Fatalf("after an unchanged download: %v", e)
	}

	srv.publish(crl(t, inter, inter, 2, testEpoch, testEpoch.Add(24*time.Hour), cert))
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	e := decide(cert)
	if e == nil || e.Status != 401 || !strings.Contains(e.Description, "was revoked at") ||
		!strings.Contains(e.Description, "revocation.crls[0] ("+srv.URL+")") {
		t.Errorf("cached certificate after the CRL revoked it: %v", e)
	}
	if e := decide(other); e != nil {
		t.Errorf("another certificate: %v", e)
	}

	// An older list is not taken.
	srv.publish(crl(t, inter, inter, 1, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour)))
	if err := src.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "older than the one held") {
		t.Errorf("older list: %v", err)
	}
	if e := decide(cert); e == nil {
		t.Error("an older list lifted the revocation")
	}
}

func TestRevocation_OCSPAnswerBoundsTheCacheAndIsAskedOnce(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	responder := newOCSPResponder(t, root)
	responder.now = c.Now
	cert := root.issueOCSP(t, "orders", responder.URL)
	p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"ocsp":"hard"}}]}`, root.pem()),
		&testResolver{}, CompileOptions{Now: c.Now})
	decide := func() *Error {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
		_, e := p.Decide(r)
		return e
	}

	// Many callers at once with the same certificate: one OCSP request.
	block := make(chan struct{})
	responder.mu.Lock()
	responder.block = block
	responder.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan *Error, 8)
	for range 8 {
		wg.Go(func() { errs <- decide() })
	}
	waitFor(t, "the OCSP request", func() bool { return responder.requests.Load() > 0 })
	close(block)
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil {
			t.Error(e)
		}
	}
	if n := responder.requests.Load(); n != 1 {
		t.Errorf("%d OCSP requests for one certificate, want 1", n)
	}

	// The responder now says revoked; the acceptance lasts until the
	// good answer's nextUpdate (testEpoch + 1h), then the new answer counts.
	responder.set(cert, ocsp.Revoked)
	c.Advance(30 * time.Minute)
	if e := decide(); e != nil {
		t.Fatalf("within the good answer's validity: %v", e)
	}
	c.Advance(31 * time.Minute)
	if e := decide(); e == nil || !strings.Contains(e.Description, "was revoked at") {
		t.Errorf("after the good answer's nextUpdate: %v", e)
	}
	if n := responder.requests.Load(); n != 2 {
		t.Errorf("%d OCSP requests, want 2", n)
	}
}

func TestRevocation_SpecValidation(t *testing.T) {
	root := newTestCA(t, "Test Root")
	ca := fmt.Sprintf(`"trustedCAs":[%q]`, root.pem())
	good := crlPEM(crl(t, root, root, 1, testEpoch, testEpoch.Add(time.Hour)))
	tests := []struct{ name, method, want string }{
		{"pins only", `"pins":[{"thumbprint":"` + strings.Repeat("ab", 32) + `"}],"revocation":{"ocsp":"hard"}`, "policy.methods[0].revocation needs trustedCAs"},
		{"nothing to check", ca + `,"revocation":{}`, "policy.methods[0].revocation checks nothing"},
		{"ocsp off only", ca + `,"revocation":{"ocsp":"off"}`, "revocation checks nothing"},
		{"bad ocsp mode", ca + `,"revocation":{"ocsp":"strict"}`, `policy.methods[0].revocation.ocsp "strict": use "off", "soft" or "hard"`},
		{"bad crl mode", ca + `,"revocation":{"crls":[` + jsonString(good) + `],"crlMode":"off"}`, `revocation.crlMode "off": use "soft" or "hard"`},
		{"crl mode without crls", ca + `,"revocation":{"ocsp":"soft","crlMode":"soft"}`, "revocation.crlMode is set but revocation.crls is empty"},
		{"empty crl", ca + `,"revocation":{"crls":[""]}`, "revocation.crls[0] is empty"},
		{"URL without host", ca + `,"revocation":{"crls":["https:///x.crl"]}`, "revocation.crls[0] \"https:///x.crl\": not an absolute http(s) URL"},
		{"URL with user info, not echoed", ca + `,"revocation":{"crls":["https://crluser:S3cretPass@pki.example/ca.crl"]}`, "revocation.crls[0] \"https://pki.example/ca.crl\": not an absolute http(s) URL"},
		{"certificate instead of CRL", ca + `,"revocation":{"crls":[` + jsonString(root.pem()) + `]}`, "revocation.crls[0]: the PEM text holds no \"X509 CRL\" block"},
		{"repeated", ca + `,"revocation":{"crls":[` + jsonString(good) + `,` + jsonString(good) + `]}`, "revocation.crls[1] repeats revocation.crls[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustSpec(t, `{"methods":[{"type":"clientCertificate",`+tt.method+`}]}`).Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("revocation on a basic method", func(t *testing.T) {
		err := mustSpec(t, `{"methods":[{"type":"basic","users":[{"name":"a","password":"p"}],"revocation":{"ocsp":"soft"}}]}`).Validate()
		if err == nil || !strings.Contains(err.Error(), "revocation does not belong to a basic method") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a URL needs a CRL resolver", func(t *testing.T) {
		_, err := CompilePolicy(mustSpec(t, `{"methods":[{"type":"clientCertificate",`+ca+`,"revocation":{"crls":["https://crl.example/ca.crl"]}}]}`), &testResolver{}, CompileOptions{})
		if err == nil || !strings.Contains(err.Error(), "policy.methods[0].revocation.crls[0]: this resolver resolves no CRL references or URLs") {
			t.Errorf("got %v", err)
		}
	})
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// pendingCRL is a source whose first download has not succeeded.
type pendingCRL struct{}

func (pendingCRL) CurrentCRL() *x509.RevocationList { return nil }

func TestRevocation_ListNotLoadedYet(t *testing.T) {
	root := newTestCA(t, "Test Root")
	cert := root.issueOCSP(t, "orders", "")
	res := &crlResolver{crls: map[string]CRLSource{"https://crl.example/root.crl": pendingCRL{}}}
	tests := []struct {
		name, mode string
		status     int
		want       string
	}{
		{"hard: 503, the server's state", "hard", 503, "cannot be checked for revocation now: policy.methods[0].revocation.crls[0] (https://crl.example/root.crl) has no usable list yet"},
		{"soft: admitted", "soft", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"crls":["https://crl.example/root.crl"],"crlMode":%q}}]}`, root.pem(), tt.mode),
				res, CompileOptions{Now: newClock().Now, OnRevocation: func(string, string) {}})
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
			_, e := p.Decide(r)
			switch {
			case tt.status == 0 && e != nil:
				t.Errorf("refused: %v", e)
			case tt.status != 0 && (e == nil || e.Status != tt.status || !strings.Contains(e.Description, tt.want)):
				t.Errorf("got %v, want %d %s", e, tt.status, tt.want)
			}
		})
	}
}

func TestRevocation_OCSPAnswerSignedByADelegate(t *testing.T) {
	root := newTestCA(t, "Test Root")
	responder := newOCSPResponder(t, root)
	cert := root.issueOCSP(t, "orders", responder.URL)
	nb, na := testEpoch.Add(-time.Hour), testEpoch.Add(time.Hour)
	tests := []struct {
		name     string
		delegate tls.Certificate
		want     string // "" admitted
	}{
		{"a responder certificate for OCSP signing", root.issue(t, "OCSP responder", nb, na, x509.ExtKeyUsageOCSPSigning), ""},
		{"a client certificate of the same CA", root.issue(t, "mallory", nb, na, x509.ExtKeyUsageClientAuth), "is not issued for OCSP signing"},
		{"a certificate of another CA", newTestCA(t, "Other").issue(t, "OCSP responder", nb, na, x509.ExtKeyUsageOCSPSigning), "does not verify"},
		// openssl ocsp -rsigner ca.crt sends the CA's own certificate: not a delegate.
		{"the CA itself, its certificate sent with the answer", tls.Certificate{Leaf: root.cert, PrivateKey: root.key}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.delegate
			responder.mu.Lock()
			responder.delegate = &d
			responder.mu.Unlock()
			p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"ocsp":"hard"}}]}`, root.pem()),
				&testResolver{}, CompileOptions{Now: newClock().Now, OnRevocation: func(string, string) {}})
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
			_, e := p.Decide(r)
			switch {
			case tt.want == "" && e != nil:
				t.Errorf("refused: %v", e)
			case tt.want != "" && (e == nil || !strings.Contains(e.Description, tt.want)):
				t.Errorf("got %v, want a refusal with %q", e, tt.want)
			}
		})
	}
}

// swapCRL is a CRLSource whose list the test replaces.
type swapCRL struct {
	cur atomic.Pointer[x509.RevocationList]
}

func (s *swapCRL) CurrentCRL() *x509.RevocationList { return s.cur.Load() }

func (s *swapCRL) set(t testing.TB, der []byte) {
	t.Helper()
	l, err := ParseCRL(der)
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(l)
}

// A new version of a CRL is indexed and its signature verified in the background under WithoutWaiting
// (both take milliseconds for a large list), and without it by the caller, as before.
func TestRevocation_NewCRLVersionIsPreparedWithoutWaiting(t *testing.T) {
	c := newClock()
	root := newTestCA(t, "Test Root")
	inter := root.sub(t, "Test Issuing CA")
	cert := inter.issueOCSP(t, "orders", "")
	for _, tc := range []struct {
		name   string
		noWait bool
	}{
		{"without waiting", true},
		{"waiting allowed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &swapCRL{}
			src.set(t, crl(t, inter, inter, 1, testEpoch.Add(-time.Hour), testEpoch.Add(24*time.Hour)))
			log := &outcomeLog{}
			p := mustCompile(t, fmt.Sprintf(`{"methods":[{"type":"clientCertificate","trustedCAs":[%q],"revocation":{"crls":["ref:crl"]}}]}`, root.pem()),
				&crlResolver{crls: map[string]CRLSource{"ref:crl": src}}, CompileOptions{Now: c.Now, OnRevocation: log.report})
			ctx := context.Background()
			if tc.noWait {
				ctx = WithoutWaiting(ctx)
			}
			decide := func() *Error {
				r := httptest.NewRequest(http.MethodGet, "/orders", nil)
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf, inter.cert}}
				_, e := p.DecideWithin(ctx, r)
				return e
			}
			// settle decides until the decision no longer waits, and says why the decisions before would have.
			settle := func() (*Error, []string) {
				e := decide()
				var waits []string
				for ; e != nil && errors.Is(e, ErrWouldWait); e = decide() {
					if e.Status != http.StatusServiceUnavailable {
						t.Fatalf("a decision that would wait: %v, want a 503", e)
					}
					if got := log.take(); got != "" {
						t.Fatalf("a decision not taken reported %q", got)
					}
					if waits = append(waits, e.Description); len(waits) > 10000 {
						t.Fatal("the list was never prepared")
					}
					time.Sleep(time.Millisecond)
				}
				return e, waits
			}
			wantWaits := func(waits []string) {
				t.Helper()
				if !tc.noWait {
					if len(waits) != 0 {
						t.Errorf("decisions would have waited, with waiting allowed: %q", waits)
					}
					return
				}
				// Each step once in the background: the index of the new version, then its signature.
				all := strings.Join(waits, "\n")
				for _, want := range []string{"against a new version of policy.methods[0].revocation.crls[0]", "whose signature is being verified"} {
					if !strings.Contains(all, want) {
						t.Errorf("without waiting, the decisions that waited said %q; want one saying %q (the caller did that step)", waits, want)
					}
				}
			}
			e, waits := settle()
			if e != nil {
				t.Fatalf("first list: %v", e)
			}
			wantWaits(waits)
			if got := log.take(); got != "good" {
				t.Errorf("reported %q, want one good", got)
			}
			src.set(t, crl(t, inter, inter, 2, testEpoch, testEpoch.Add(24*time.Hour), cert))
			e, waits = settle()
			if e == nil || e.Status != http.StatusUnauthorized || !strings.Contains(e.Description, "was revoked at") {
				t.Fatalf("a new version revoking the certificate: %v", e)
			}
			wantWaits(waits)
			if got := log.take(); got != "revoked" {
				t.Errorf("reported %q, want one revoked", got)
			}
		})
	}
}
