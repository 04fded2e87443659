package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

// writeCertPEM writes a self-signed certificate with a new key of type kt
// (or, with otherKey, a key that does not belong to it) to a PEM file.
func writeCertPEM(t *testing.T, kt pki.KeyType, otherKey bool) string {
	t.Helper()
	key, err := pki.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := pki.ParseSubject("CN=tokenload-test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(subject, key, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if otherKey {
		if key, err = pki.GenerateKey(kt); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(path, append(pki.EncodeCertificatePEM(cert), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTokenEndpoint serves a token endpoint on 127.0.0.1 over TLS that
// records the alg of each client assertion, and returns its URL and CA file.
func startTokenEndpoint(t *testing.T) (tokenURL, caFile string, algs func() []string) {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA("tokenload test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pki.EncodeCertificatePEM(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /t/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		alg := "none"
		if a := r.PostFormValue("client_assertion"); a != "" {
			var hdr struct{ Alg string }
			b, _ := base64.RawURLEncoding.DecodeString(strings.Split(a, ".")[0])
			_ = json.Unmarshal(b, &hdr)
			alg = hdr.Alg
		}
		mu.Lock()
		seen = append(seen, alg)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"a.b.c"}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String() + "/t/oauth2/v2.0/token", caFile, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestRun_CertificateAssertionAlgorithmFollowsTheKey(t *testing.T) {
	for _, tc := range []struct {
		kt   pki.KeyType
		want string
	}{
		{pki.KeyTypeRSA2048, "PS256"},
		{pki.KeyTypeEC256, "ES256"},
		// A P-384 key used to be signed with ES256, which fails, and the
		// load generator panicked on the first request.
		{pki.KeyTypeEC384, "ES384"},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			target, caFile, algs := startTokenEndpoint(t)
			if err := run(target, caFile, "client-1", "", writeCertPEM(t, tc.kt, false), "api://x/.default", 1, time.Minute, 3); err != nil {
				t.Fatal(err)
			}
			got := algs()
			if len(got) != 3 {
				t.Fatalf("the endpoint got %d requests, want 3", len(got))
			}
			for _, alg := range got {
				if alg != tc.want {
					t.Fatalf("assertion algs %v, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestRun_RefusesBadInputBeforeSendingAnything(t *testing.T) {
	target, caFile, algs := startTokenEndpoint(t)
	for _, tc := range []struct {
		name, target, secret, cert, want string
	}{
		{"remote target", "https://login.example.com/t/oauth2/v2.0/token", "s", "", "loopback"},
		{"no credential", target, "", "", "give -secret or -cert"},
		{"key of another certificate", target, "", writeCertPEM(t, pki.KeyTypeEC256, true), "does not match the certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.target, caFile, "client-1", tc.secret, tc.cert, "api://x/.default", 1, time.Minute, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if n := len(algs()); n != 0 {
		t.Errorf("the endpoint got %d requests, want none", n)
	}
}
