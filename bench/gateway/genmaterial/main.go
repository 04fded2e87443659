// Command genmaterial writes the test material of bench/gateway-bench.sh into
// one folder (after peer-bench's cmd/genmaterial, trimmed to what the gateway
// scenarios use):
//
//	ca.crt/ca.key                 test CA (RSA-2048) that signs the server and client certificates
//	server.crt/.key/.pem          server certificate for 127.0.0.1, ECDSA P-256 like the one of
//	                              Portcullis' dev CA (.pem = cert+key, for HAProxy)
//	client.crt/.key/.pem          client certificate (EKU clientAuth) signed by the CA
//	rogue-client.crt/.key         client certificate from another CA (must be refused)
//	jwt-public.pem                RS256 public key (PKIX PEM) for HAProxy's jwt_verify
//	material.env                  shell variables: password, bcrypt hash, Basic headers,
//	                              API key, RS256 tokens (valid, wrong audience, expired, bad signature)
//
// Everything is throw-away benchmark material: keys are world-readable because
// nginx workers run as nobody.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis/portcullis/internal/jws"
)

// The peers' JWT scenario checks these; the Portcullis JWT scenario uses a
// token from its own tenant instead.
const (
	issuer   = "https://issuer.bench.local/"
	audience = "api://bench-backend"
	user     = "bench"
	password = "S3cure-bench-Passw0rd"
)

func main() {
	out := flag.String("out", "material", "output folder")
	cost := flag.Int("bcrypt-cost", 10, "bcrypt cost of Caddy's basic_auth hash (peer-bench used 10)")
	flag.Parse()
	if err := run(*out, *cost); err != nil {
		log.Fatal(err)
	}
}

type writer struct {
	dir string
	err error
}

func (w *writer) file(name string, data []byte) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, name)
	if w.err = os.WriteFile(p, data, 0o644); w.err == nil {
		w.err = os.Chmod(p, 0o644)
	}
}

func (w *writer) cert(name string, c *x509.Certificate) []byte {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	w.file(name, b)
	return b
}

func (w *writer) key(name string, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		w.err = err
		return nil
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	w.file(name, b)
	return b
}

func run(out string, cost int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	w := &writer{dir: out}
	now := time.Now()

	caKey, caCert, err := newCA("Gateway Bench CA", now)
	if err != nil {
		return err
	}
	w.cert("ca.crt", caCert)
	w.key("ca.key", caKey)

	// The server key is ECDSA P-256 for every proxy because Portcullis' dev
	// listener has one: full TLS handshakes then cost the same kind of
	// signature everywhere. Client keys are RSA-2048, as in peer-bench.
	issue := func(name string, ca *x509.Certificate, caKey *rsa.PrivateKey, tmpl *x509.Certificate, ec bool) (*x509.Certificate, error) {
		var k crypto.Signer
		var err error
		if ec {
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		} else {
			k, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			return nil, err
		}
		c, err := sign(ca, caKey, k.Public(), tmpl, now)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", name, err)
		}
		cb, kb := w.cert(name+".crt", c), w.key(name+".key", k)
		w.file(name+".pem", append(cb, kb...))
		return c, nil
	}
	if _, err := issue("server", caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, true); err != nil {
		return err
	}
	if _, err := issue("client", caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "bench-client", Organization: []string{"Bench"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, false); err != nil {
		return err
	}
	rogueKey, rogueCA, err := newCA("Rogue Bench CA", now)
	if err != nil {
		return err
	}
	if _, err := issue("rogue-client", rogueCA, rogueKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "rogue-client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, false); err != nil {
		return err
	}

	jwtKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&jwtKey.PublicKey)
	if err != nil {
		return err
	}
	w.file("jwt-public.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	far := now.AddDate(10, 0, 0)
	tok := func(name, aud string, exp time.Time, key *rsa.PrivateKey) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = token(key, map[string]any{
			"iss": issuer, "aud": aud, "sub": "client-" + name, "azp": "bench-client",
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": exp.Unix(),
			"roles": []string{"api.read", "api.write", "admin"}, "jti": fmt.Sprintf("%s-%d", name, now.UnixNano()),
		})
		return s
	}
	valid := tok("admin", audience, far, jwtKey)
	wrongAud := tok("wrong-aud", "api://someone-else", far, jwtKey)
	expired := tok("expired", audience, now.Add(-time.Hour), jwtKey)
	badSig := tok("bad-signature", audience, far, otherKey)
	if err != nil {
		return fmt.Errorf("sign token: %w", err)
	}

	bc, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return err
	}
	apiKey := make([]byte, 24)
	if _, err := rand.Read(apiKey); err != nil {
		return err
	}
	env := [][2]string{
		{"BENCH_USER", user},
		{"BENCH_PASSWORD", password},
		{"BENCH_BCRYPT_HASH_B64", base64.StdEncoding.EncodeToString(bc)},
		{"BENCH_BASIC_HEADER", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))},
		{"BENCH_BAD_BASIC_HEADER", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":wrong-password"))},
		{"BENCH_API_KEY", hex.EncodeToString(apiKey)},
		{"BENCH_JWT_ISS", issuer},
		{"BENCH_JWT_AUD", audience},
		{"BENCH_JWT_VALID", valid},
		{"BENCH_JWT_WRONG_AUD", wrongAud},
		{"BENCH_JWT_EXPIRED", expired},
		{"BENCH_JWT_BAD_SIG", badSig},
	}
	var sb strings.Builder
	for _, kv := range env {
		if strings.ContainsAny(kv[1], "'\n") {
			return fmt.Errorf("value of %s contains a quote or a newline", kv[0])
		}
		fmt.Fprintf(&sb, "%s='%s'\n", kv[0], kv[1])
	}
	w.file("material.env", []byte(sb.String()))
	return w.err
}

// token signs claims as an RS256 compact JWS with our own JOSE leaf.
func token(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	h, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "bench-rsa-1"})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jws.Sign("RS256", key, input)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func newCA(cn string, now time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Bench"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return k, c, err
}

func sign(ca *x509.Certificate, caKey *rsa.PrivateKey, pub crypto.PublicKey, tmpl *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = sn
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.AddDate(5, 0, 0)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
