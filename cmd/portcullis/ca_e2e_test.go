package main

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pki"
)

// TestE2E_CAThroughCLI makes a root and an intermediate CA with the CLI,
// issues a server and a client certificate from the intermediate, downloads
// the root with 'ca show --out', and checks the chains verify against it
// for the right purposes.
func TestE2E_CAThroughCLI(t *testing.T) {
	s := startDevServer(t)
	out := s.ok(t, "", "ca", "create", "root-ca", "--subject", "CN=CLI Root CA, O=Example", "--validity-months", "120")
	if !strings.Contains(out, "created root CA root-ca") || !strings.Contains(out, "not exportable") {
		t.Fatalf("ca create (root):\n%s", out)
	}
	if e := s.wantFailure(t, "", "ca", "create", "orphan-ca", "--intermediate-of", "no-such-ca"); !strings.Contains(e, "portcullis ca create no-such-ca") {
		t.Errorf("intermediate of a missing CA: %s", e)
	}
	if e := s.wantFailure(t, "", "ca", "create", "self-ca", "--intermediate-of", "SELF-ca"); !strings.Contains(e, "itself") {
		t.Errorf("intermediate of itself: %s", e)
	}
	inter := s.okJSON(t, "", "ca", "create", "issuing-ca", "--intermediate-of", "root-ca", "--validity-months", "36", "--key", "ec256")
	if pol, _ := inter["policy"].(map[string]any); pol == nil || pol["issuer"].(map[string]any)["name"] != "root-ca" {
		t.Fatalf("intermediate policy: %v", inter["policy"])
	}

	rootFile := filepath.Join(s.dir, "root-ca.pem")
	if out := s.ok(t, "", "ca", "show", "root-ca", "--out", rootFile); !strings.Contains(out, "CN=CLI Root CA") {
		t.Fatalf("ca show --out: %s", out)
	}
	if e := s.wantFailure(t, "", "ca", "show", "root-ca", "--out", rootFile); !strings.Contains(e, "--force") {
		t.Errorf("overwrite: %s", e)
	}
	if out := s.ok(t, "", "ca", "show", "issuing-ca"); !strings.Contains(out, "provider Portcullis") || !strings.Contains(out, "CN=CLI Root CA") {
		t.Errorf("ca show:\n%s", out)
	}
	if e := s.wantFailure(t, "", "ca", "show", "missing"); !strings.Contains(e, "ca create missing") {
		t.Errorf("ca show of a missing CA: %s", e)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(mustRead(t, rootFile)) {
		t.Fatal("root-ca.pem holds no certificate")
	}

	for _, tc := range []struct {
		name, eku string
		usage     x509.ExtKeyUsage
	}{
		{"api-server", "server", x509.ExtKeyUsageServerAuth},
		{"api-client", "client", x509.ExtKeyUsageClientAuth},
	} {
		s.ok(t, "", "certificate", "create", tc.name, "--issuer", "issuing-ca", "--subject", "CN="+tc.name, "--dns", tc.name+".internal", "--eku", tc.eku, "--key", "ec256")
		pemFile := filepath.Join(s.dir, tc.name+".pem")
		s.ok(t, "", "certificate", "download", tc.name, "--format", "pem", "--out", pemFile)
		kp, err := tls.X509KeyPair(mustRead(t, pemFile), mustRead(t, pemFile))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(kp.Certificate) != 3 {
			t.Fatalf("%s: %d certificates in the PEM, want leaf, intermediate and root", tc.name, len(kp.Certificate))
		}
		leaf, _ := x509.ParseCertificate(kp.Certificate[0])
		inters := x509.NewCertPool()
		ic, _ := x509.ParseCertificate(kp.Certificate[1])
		inters.AddCert(ic)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not verify for its purpose: %v", tc.name, err)
		}
		other := x509.ExtKeyUsageServerAuth
		if tc.usage == other {
			other = x509.ExtKeyUsageClientAuth
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{other}}); err == nil {
			t.Errorf("%s verifies for a purpose it was not issued for", tc.name)
		}
	}
	if e := s.wantFailure(t, "", "certificate", "create", "bad-eku", "--subject", "CN=x", "--eku", "sign-everything"); !strings.Contains(e, "--eku") {
		t.Errorf("bad --eku: %s", e)
	}
	if _, _, _, err := pki.ParseCertificateAndKey(mustRead(t, rootFile), ""); err == nil {
		t.Error("the downloaded CA file holds a private key")
	}
}
