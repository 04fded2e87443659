package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis/portcullis/internal/jws"
)

func TestRun_MaterialFitsTheScenarios(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, filepath.Join(dir, "material.env"))

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, dir, "ca.crt"))
	for _, tc := range []struct {
		name    string
		usage   x509.ExtKeyUsage
		trusted bool
	}{
		{"server", x509.ExtKeyUsageServerAuth, true},
		{"client", x509.ExtKeyUsageClientAuth, true},
		{"rogue-client", x509.ExtKeyUsageClientAuth, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.name+".crt"), filepath.Join(dir, tc.name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			if _, ec := pair.PrivateKey.(*ecdsa.PrivateKey); ec != (tc.name == "server") {
				t.Fatalf("key %T: the server key must be ECDSA (like Portcullis' dev listener), client keys RSA", pair.PrivateKey)
			}
			_, err = pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{tc.usage}})
			if (err == nil) != tc.trusted {
				t.Fatalf("verify against the bench CA: %v, want trusted=%v", err, tc.trusted)
			}
		})
	}

	block, _ := pem.Decode(readFile(t, dir, "jwt-public.pem"))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		signatureOK bool
	}{
		{"BENCH_JWT_VALID", true},
		{"BENCH_JWT_WRONG_AUD", true},
		{"BENCH_JWT_EXPIRED", true},
		{"BENCH_JWT_BAD_SIG", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := jws.Parse(env[tc.name], 0)
			if err != nil {
				t.Fatal(err)
			}
			err = jws.VerifySignature("RS256", pub, tok.SigningInput, tok.Signature)
			if (err == nil) != tc.signatureOK {
				t.Fatalf("signature check: %v, want ok=%v", err, tc.signatureOK)
			}
		})
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<16)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			t.Fatalf("material.env line %q is not NAME='value'", sc.Text())
		}
		env[k] = v[1 : len(v)-1]
	}
	return env
}
