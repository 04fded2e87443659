package guard

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/jws"
)

// Keys generated once per test binary: RSA generation is slow.
var (
	keysOnce  sync.Once
	rsaA      *rsa.PrivateKey // the issuer's current key
	rsaB      *rsa.PrivateKey // the issuer's next key
	rsaEvil   *rsa.PrivateKey // an attacker's key
	ecA       *ecdsa.PrivateKey
	rsaSmall  *rsa.PrivateKey // 1024 bits: too weak
	testEpoch = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(bits int) *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			return k
		}
		rsaA, rsaB, rsaEvil, rsaSmall = gen(2048), gen(2048), gen(2048), gen(1024)
		var err error
		if ecA, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func b64(b []byte) string  { return base64.RawURLEncoding.EncodeToString(b) }
func b64s(s string) string { return b64([]byte(s)) }
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signJWT builds a compact JWS of header and claims, signed with key.
func signJWT(t testing.TB, key crypto.Signer, header, claims map[string]any) string {
	t.Helper()
	in := b64(mustJSON(header)) + "." + b64(mustJSON(claims))
	sig, err := jws.Sign(header["alg"].(string), key, in)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

// fakeKeys is an in-process KeySource: issuer → kid → key.
type fakeKeys struct {
	mu          sync.Mutex
	m           map[string]map[string]crypto.PublicKey
	unavailable bool
	wouldWait   bool // under WithoutWaiting: answer ErrWouldWait, as a source of your own should
	calls       atomic.Int64
}

func newFakeKeys() *fakeKeys { return &fakeKeys{m: map[string]map[string]crypto.PublicKey{}} }

func (f *fakeKeys) set(issuer, kid string, pub crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[issuer] == nil {
		f.m[issuer] = map[string]crypto.PublicKey{}
	}
	if pub == nil {
		delete(f.m[issuer], kid)
		return
	}
	f.m[issuer][kid] = pub
}

func (f *fakeKeys) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return nil, fmt.Errorf("%w: test", ErrKeySourceUnavailable)
	}
	if f.wouldWait && MustNotWait(ctx) {
		return nil, fmt.Errorf("test: %w", ErrWouldWait)
	}
	k, ok := f.m[issuer][kid]
	if !ok {
		return nil, errors.New("no such key")
	}
	return k, nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: testEpoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// selfSigned returns a certificate for 127.0.0.1 (and a client name) and its key.
func selfSigned(t testing.TB, cn string, notBefore, notAfter time.Time) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Portcullis Test"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert
}

// serveTLS serves h on a real TLS listener on 127.0.0.1:0 and returns its
// base URL and a client that trusts it.
func serveTLS(t testing.TB, h http.Handler, cfg *tls.Config) (string, *http.Client) {
	t.Helper()
	cert, leaf := selfSigned(t, "127.0.0.1", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.Certificates = []tls.Certificate{cert}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	return "https://" + ln.Addr().String(), client
}

// testIssuer is a minimal OIDC issuer on loopback TLS: discovery and a
// JWKS of the keys published with publish.
type testIssuer struct {
	URL    string // issuer: https://127.0.0.1:port/contoso/v2.0
	base   string
	client *http.Client

	mu        sync.Mutex
	keys      map[string]crypto.PublicKey
	order     []string
	docIssuer string        // when set, the discovery document names this issuer
	jwksURI   string        // when set, the discovery document's jwks_uri
	status    int           // when set, the JWKS answers this status
	block     chan struct{} // when set, the JWKS handler waits for it to close
	entered   chan struct{} // receives when the JWKS handler is entered (if set)

	jwksFetches atomic.Int64
}

func newTestIssuer(t testing.TB) *testIssuer {
	ti := &testIssuer{keys: map[string]crypto.PublicKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contoso/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.mu.Lock()
		iss, ju := ti.URL, ti.base+"/contoso/discovery/v2.0/keys"
		if ti.docIssuer != "" {
			iss = ti.docIssuer
		}
		if ti.jwksURI != "" {
			ju = ti.jwksURI
		}
		ti.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(mustJSON(map[string]any{"issuer": iss, "jwks_uri": ju}))
	})
	mux.HandleFunc("GET /contoso/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksFetches.Add(1)
		ti.mu.Lock()
		block, entered, status := ti.block, ti.entered, ti.status
		ti.mu.Unlock()
		if entered != nil {
			entered <- struct{}{}
		}
		if block != nil {
			<-block
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(ti.jwks())
	})
	ti.base, ti.client = serveTLS(t, mux, nil)
	ti.URL = ti.base + "/contoso/v2.0"
	return ti
}

func (ti *testIssuer) publish(kid string, pub crypto.PublicKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if pub == nil {
		delete(ti.keys, kid)
		return
	}
	if _, ok := ti.keys[kid]; !ok {
		ti.order = append(ti.order, kid)
	}
	ti.keys[kid] = pub
}

func (ti *testIssuer) jwks() []byte {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	keys := []map[string]any{}
	for _, kid := range ti.order {
		switch k := ti.keys[kid].(type) {
		case *rsa.PublicKey:
			keys = append(keys, map[string]any{"kty": "RSA", "use": "sig", "kid": kid,
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PublicKey:
			b, _ := k.Bytes()
			size := (len(b) - 1) / 2
			keys = append(keys, map[string]any{"kty": "EC", "use": "sig", "kid": kid, "crv": k.Curve.Params().Name,
				"x": b64(b[1 : 1+size]), "y": b64(b[1+size:])})
		}
	}
	return mustJSON(map[string]any{"keys": keys})
}

func (ti *testIssuer) configure(f func(ti *testIssuer)) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	f(ti)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
