package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// handshake connects to addr with SNI name and the dev CA as only root.
func handshake(addr, name string, roots *x509.CertPool) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return err
	}
	return c.Close()
}

func TestDevTLS_NamesEveryVaultExplicitlyAndFollowsNewVaults(t *testing.T) {
	dir := t.TempDir()
	r := startServer(t, Config{Dev: true, DataDir: dir})
	roots := x509.NewCertPool()
	b, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	roots.AppendCertsFromPEM(b)

	leaf, _, err := readCertAndKey(filepath.Join(dir, "tls", "server.pem"), filepath.Join(dir, "tls", "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(leaf.DNSNames, "*.localhost") {
		t.Fatalf("certificate names *.localhost, which curl, OpenSSL and Python refuse: %v", leaf.DNSNames)
	}
	for _, name := range []string{"localhost", "default.localhost", "127.0.0.1"} {
		if err := handshake(r.srv.Addr(), name, roots); err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
	}
	if err := handshake(r.srv.Addr(), "orders.localhost", roots); err == nil {
		t.Fatal("handshake as orders.localhost succeeded before the vault exists")
	}

	if _, err := r.srv.Vault().CreateVault(context.Background(), vault.Caller{Admin: true}, vault.VaultInput{Name: "Orders"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := handshake(r.srv.Addr(), "orders.localhost", roots)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the certificate does not name orders.localhost after the vault was created: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDevStart_AdminCredentialFollowsTheListenAddress(t *testing.T) {
	dir := t.TempDir()
	r1 := startServer(t, Config{Dev: true, DataDir: dir})
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := startServer(t, Config{Dev: true, DataDir: dir}) // another free port
	b, err := os.ReadFile(filepath.Join(dir, "admin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cred AdminCredential
	if err := json.Unmarshal(b, &cred); err != nil {
		t.Fatal(err)
	}
	if cred.Addr != r2.base || cred.ClientID != r1.cred.ClientID || cred.ClientSecret != r1.cred.ClientSecret {
		t.Fatalf("admin.json after a restart on %s: addr %s, client %s (want the new address and the same credential)", r2.base, cred.Addr, cred.ClientID)
	}
	if st, err := os.Stat(filepath.Join(dir, "admin.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.json mode after the update: %v %v", st.Mode(), err)
	}
}
