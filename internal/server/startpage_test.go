package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestStartPage_LinksDiscoveryVaultAndDocsThatAnswer(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	get := func(url string) (int, string, string) {
		t.Helper()
		resp, err := r.client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ctype, page := get(r.base + "/")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("GET / = %d %s", code, ctype)
	}
	for _, want := range []string{r.base + "/" + r.cred.TenantID + "/v2.0/.well-known/openid-configuration", r.base + "/vaults/default", "go1.", "/docs/vault.md"} {
		if !strings.Contains(page, want) {
			t.Errorf("start page lacks %q:\n%s", want, page)
		}
	}
	// Every link on the page answers 200.
	for _, m := range regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		u := m[1]
		if strings.HasPrefix(u, "/") {
			u = r.base + u
		}
		if u == r.base+"/readyz" || strings.HasSuffix(u, "openapi.json") { // readiness may lag; the OpenAPI document needs a token
			continue
		}
		if code, _, body := get(u); code != http.StatusOK {
			t.Errorf("link %s = %d %s", u, code, body)
		}
	}
	for _, tc := range []struct {
		path string
		want int
	}{{"/docs/operations.md", 200}, {"/docs/nope.md", 404}, {"/docs/docs.go", 404}, {"/docs/..%2fgo.mod", 400}, {"/nowhere", 404}} {
		if code, _, _ := get(r.base + tc.path); code != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, code, tc.want)
		}
	}
}
