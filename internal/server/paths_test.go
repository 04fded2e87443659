package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestServe_UncleanPathsAreRefusedNotRedirected(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	r.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"dot-dot after an app role", "DELETE", "/admin/v1/tenants/default/applications/x/appRoles/..", http.StatusBadRequest},
		{"escaped dot-dot", "DELETE", "/admin/v1/tenants/default/applications/x/appRoles/%2e%2e", http.StatusBadRequest},
		{"single dot", "GET", "/admin/v1/tenants/./applications", http.StatusBadRequest},
		{"double slash", "GET", "/admin/v1//tenants", http.StatusBadRequest},
		{"token endpoint with dot-dot", "POST", "/default/oauth2/v2.0/../v2.0/token", http.StatusBadRequest},
		{"canonical path still served", "GET", "/healthz", http.StatusOK},
		{"trailing slash allowed", "GET", "/admin/v1/", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, r.base+tc.path, strings.NewReader(""))
			// Keep the path exactly as written: no client-side cleaning.
			req.URL.Opaque = "//" + req.URL.Host + tc.path
			resp, err := r.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d; want %d (Location %q)", tc.method, tc.path, resp.StatusCode, tc.want, resp.Header.Get("Location"))
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/b/": true, "": false, "a": false,
		"/a//b": false, "//": false, "/./a": false, "/a/..": false, "/a/../b": false, "/a/.b": true, "/a/b..": true,
	} {
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v; want %v", p, got, want)
		}
	}
}

func TestServe_KeyVaultPathWithEmptyVersionIsNotRefused(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0"})
	req, _ := http.NewRequest("POST", r.base+"/vaults/default/keys/k//sign?api-version=7.5", strings.NewReader("{}"))
	req.URL.Opaque = "//" + req.URL.Host + "/vaults/default/keys/k//sign"
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// No token: the Key Vault handler answers with its challenge, not the
	// path check with 400.
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "authorization=") {
		t.Fatalf("status %d, WWW-Authenticate %q; want the Key Vault 401 challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Key Vault requests are counted under their own route label.
	if want := `portcullis_http_requests_total{code="401",route="keyvault POST keys"} 1`; !strings.Contains(r.scrape(t), want) {
		t.Fatalf("metrics lack %q", want)
	}
}
