package adminclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/pki"
)

func TestClient_RefusesNamesThatAreNotPathSegments(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"role ..", func() error { return c.RemoveAppRole(ctx, "default", "orders-api", "..") }, `".." cannot name an object`},
		{"secret .", func() error { return c.RemoveSecret(ctx, "default", "orders-api", ".") }, `"." cannot name an object`},
		{"app ..", func() error { _, err := c.GetApplication(ctx, "default", ".."); return err }, `".." cannot name an object`},
		{"empty grant", func() error { return c.RemoveGrant(ctx, "default", "") }, "empty name or id"},
		{"empty tenant", func() error { _, err := c.ListApplications(ctx, ""); return err }, "empty name or id"},
		{"delete empty tenant", func() error { return c.DeleteTenant(ctx, "") }, "empty name or id"},
		{"delete tenant ..", func() error { return c.DeleteTenant(ctx, "..") }, `".." cannot name an object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if len(f.requests) != 0 {
		t.Errorf("requests were sent: %v", f.requests)
	}
	// Names that merely contain dots or slashes are escaped, not refused.
	if _, err := c.GetApplication(ctx, "default", "a/../b"); err != nil {
		t.Fatal(err)
	}
	if got := f.requests[len(f.requests)-1]; got != "GET /admin/v1/tenants/default/applications/a%2F..%2Fb" {
		t.Errorf("request = %q", got)
	}
}

// TestClient_DoesNotFollowRedirects: a followed 307 would repeat a DELETE,
// with the bearer token, on another path (or host).
func TestClient_DoesNotFollowRedirects(t *testing.T) {
	now := time.Now()
	ca, caKey, err := pki.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tid/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"tok"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/appRoles/r1") {
			http.Redirect(w, r, "/admin/v1/tenants/default/applications/orders-api", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cfg := Config{Endpoint: Endpoint{Addr: "https://" + ln.Addr().String()}, TokenTenant: "tid", ClientID: "admin", ClientSecret: oauthclient.NewSecret("s"), Source: "test"}
	c, err := New(cfg, WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	err = c.RemoveAppRole(context.Background(), "default", "orders-api", "r1")
	if err == nil || !strings.Contains(err.Error(), "HTTP 307") || !strings.Contains(err.Error(), "not followed") {
		t.Errorf("err = %v, want a refused redirect", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "DELETE /admin/v1/tenants/default/applications/orders-api/appRoles/r1" {
		t.Errorf("server saw %v; the redirect must not be followed", seen)
	}
	if hc.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}
