package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
)

// vaultTarget is a started server with a vault token of the admin client.
type vaultTarget struct {
	srv    *Server
	client *http.Client
	base   string
	token  string
	stop   func() error
}

func startVaultTarget(tb testing.TB, dir string) *vaultTarget {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, Config{Listen: "127.0.0.1:0", Dev: true, DataDir: dir, ShutdownTimeout: 10 * time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		cancel()
		tb.Fatalf("Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	tb.Cleanup(func() { stop() })

	var cred AdminCredential
	b, err := os.ReadFile(filepath.Join(dir, "admin.json"))
	if err == nil {
		err = json.Unmarshal(b, &cred)
	}
	if err != nil {
		tb.Fatalf("admin credential: %v", err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 256,
	}}
	base := "https://" + srv.Addr()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID}, "client_secret": {cred.ClientSecret}, "scope": {VaultIdentifierURI + "/.default"}}
	res, err := client.PostForm(base+"/"+cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		tb.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if err != nil || body.AccessToken == "" {
		tb.Fatalf("vault token: %d %v", res.StatusCode, err)
	}
	return &vaultTarget{srv: srv, client: client, base: base, token: body.AccessToken, stop: stop}
}

func (v *vaultTarget) do(method, name, body string) (int, error) {
	req, err := http.NewRequest(method, kvapi.PathVaultURL(v.base, vault.DefaultVault)+"/secrets/"+name+"?api-version=7.5", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := v.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func TestServe_GracefulStopWritesTheQueuedVaultAudit(t *testing.T) {
	dir := t.TempDir()
	v := startVaultTarget(t, dir)
	if st, err := v.do(http.MethodPut, "audited", `{"value":"v"}`); err != nil || st != http.StatusOK {
		t.Fatalf("set: %d %v", st, err)
	}
	const reads = 200
	for range reads {
		if st, err := v.do(http.MethodGet, "audited", ""); err != nil || st != http.StatusOK {
			t.Fatalf("get: %d %v", st, err)
		}
	}
	if err := v.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), vault.AuditQuery{Vault: vault.DefaultVault})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		if r.Name == "audited" {
			got[r.Operation]++
		}
	}
	if got[string(vault.PermSecretsGet)] != reads || got[string(vault.PermSecretsSet)] != 1 {
		t.Fatalf("audit records after a graceful stop: %v; want %d reads and 1 set", got, reads)
	}
}

// BenchmarkVaultHTTPS measures the whole path of a Key Vault request: TLS,
// HTTP, bearer token, RBAC, store, sealing and audit, client and server in
// one process. Profile the server side with
//
//	go test -run XXX -bench VaultHTTPS -cpuprofile /tmp/srv.cpu ./internal/server
func BenchmarkVaultHTTPS(b *testing.B) {
	for _, op := range []string{"get", "set"} {
		b.Run(op, func(b *testing.B) {
			v := startVaultTarget(b, b.TempDir())
			if st, err := v.do(http.MethodPut, "bench", `{"value":"v"}`); err != nil || st != http.StatusOK {
				b.Fatalf("set: %d %v", st, err)
			}
			var n atomic.Int64
			b.SetParallelism(8) // 16 connections on 2 cores, like vaultload -c 16
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var st int
					var err error
					if op == "get" {
						st, err = v.do(http.MethodGet, "bench", "")
					} else {
						st, err = v.do(http.MethodPut, fmt.Sprint("bench", n.Add(1)%8), `{"value":"v"}`)
					}
					if err != nil || st != http.StatusOK {
						b.Errorf("%s: %d %v", op, st, err)
						return
					}
				}
			})
		})
	}
}
