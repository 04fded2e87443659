package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func FuzzCleanPath(f *testing.F) {
	for _, p := range []string{"/", "", "a", "/a/b/", "/a//b", "//", "/./a", "/a/..", "/a/../b", "/a/.b", "/a/b..", "/admin/v1/tenants/x/", "/a/b//"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// Clean means: http.ServeMux would not redirect it, i.e. it is its
		// own path.Clean (keeping one trailing slash).
		canonical := false
		if p != "" && p[0] == '/' {
			c := path.Clean(p)
			if strings.HasSuffix(p, "/") && c != "/" {
				c += "/"
			}
			canonical = c == p
		}
		if got := cleanPath(p); got != canonical {
			t.Fatalf("cleanPath(%q) = %v; path.Clean says %v", p, got, canonical)
		}
	})
}

// canary prefixes the credential of fuzzed Authorization headers: it must
// never come back in a response, whatever surface answers.
const canary = "c4n4ryT0k3n"

// Authorization modes of FuzzFrontDoor.
const (
	authNone = iota
	authCanary
	authAdmin
	authVault
	authRaw
	authTwo
	authModes
)

// FuzzFrontDoor sends arbitrary requests through the whole handler chain of
// a dev server (request metrics, the Key Vault handler, the path check, the
// token service, the admin API), in process. Client input must never yield
// a panic or a 5xx other than 501, and the credential must never be echoed.
func FuzzFrontDoor(f *testing.F) {
	r := startServer(f, Config{Dev: true, DataDir: f.TempDir()})
	tokenFor := func(scope string) string {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.cred.ClientID}, "client_secret": {r.cred.ClientSecret}, "scope": {scope}}
		resp, err := r.client.PostForm(r.base+"/"+r.cred.TenantID+"/oauth2/v2.0/token", form)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
			f.Fatalf("token for %s: %d %v", scope, resp.StatusCode, err)
		}
		return body.AccessToken
	}
	adminTok, vaultTok := tokenFor(r.cred.Scope), tokenFor(VaultIdentifierURI+"/.default")
	handler := r.srv.https.Server.(*http.Server).Handler
	_, port, _ := strings.Cut(r.srv.Addr(), ":")
	hosts := []string{r.srv.Addr(), "localhost:" + port, "default.localhost:" + port, "nope.localhost:" + port}
	const fuzzedHost = 4 // host values from 4 up take the fuzzed Host header

	for _, s := range []struct {
		method, target, cred, reqID, body string
		host, auth                        uint8
	}{
		{"GET", "/vaults/default/secrets/a?api-version=7.5", "", "", "", 0, authVault},
		{"PUT", "/secrets/a?api-version=7.5", "", "req-1", `{"value":"v"}`, 2, authVault},
		{"GET", "/secrets?api-version=7.5&maxresults=1", "", "", "", 2, authCanary},
		{"POST", "/vaults/default/keys/k//sign?api-version=7.5", "", "", "{}", 0, authVault},
		{"GET", "/vaults/default/secrets/%2e%2e/x?api-version=7.5", "", "", "", 0, authVault},
		{"GET", "/vaults/default/./secrets/a?api-version=7.5", "", "", "", 0, authVault},
		{"FOO", "/vaults/default/certificates/c?api-version=7.6-preview", "", "", "", 0, authVault},
		{"GET", "/admin/v1/tenants", "", "x-1", "", 0, authAdmin},
		{"GET", "/admin/v1/tenants/../tenants", "", "", "", 0, authAdmin},
		{"POST", "/admin/v1/tenants", "", "", `{"name":"x"}`, 0, authCanary},
		{"GET", "/admin/v1/tenants", "Basic Zm9vOmJhcg==", "", "", 0, authRaw},
		{"GET", "/admin/v1/tenants", "", "", "", 0, authTwo},
		{"POST", "/default/oauth2/v2.0/token", "", "", "grant_type=client_credentials&client_id=x&client_secret=y&scope=api://x/.default", 0, authNone},
		{"GET", "/default/v2.0/.well-known/openid-configuration", "", "", "", 1, authNone},
		{"GET", "/default/v2.0/.well-known/openid-configuration", "evil.example:443", "", "", fuzzedHost, authNone},
		{"GET", "/common/discovery/v2.0/keys", "[::1]:8443", "", "", fuzzedHost, authNone},
		{"GET", "/vaults/default/secrets/a?api-version=7.5", "default.vault.localhost", "", "", fuzzedHost, authVault},
		{"GET", "/%zz", "", "", "", 0, authCanary},
		{"GET", "/metrics", "", "", "", 0, authNone},
	} {
		f.Add(s.method, s.target, s.host, s.auth, s.cred, s.reqID, s.body)
	}
	f.Fuzz(func(t *testing.T, method, target string, host, auth uint8, cred, reqID, body string) {
		if !httpguts.ValidHeaderFieldName(method) { // a method is a token, as a header name is
			method = http.MethodGet // the server refuses other methods before any handler
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.ContainsAny(target, " \r\n\x00") {
			return // refused by net/http before any handler
		}
		reqHost := hosts[int(host)%len(hosts)]
		if host >= fuzzedHost {
			// Discovery and the Key Vault handler read Host; the cred
			// string stands in for it (net/http refuses invalid ones).
			if cred == "" || !httpguts.ValidHostHeader(cred) {
				return
			}
			reqHost, cred = cred, ""
		}
		req := httptest.NewRequest(method, "https://localhost/", strings.NewReader(body))
		req.URL = u
		req.RequestURI = target
		req.Host = reqHost
		if strings.HasPrefix(u.Path, "/admin/") || strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, name := range []string{"x-ms-client-request-id", "client-request-id", "X-Request-Id"} {
			if reqID != "" && httpguts.ValidHeaderFieldValue(reqID) {
				req.Header.Set(name, reqID)
			}
		}
		secret := ""
		switch int(auth) % authModes {
		case authCanary:
			secret = canary + cred
			if !httpguts.ValidHeaderFieldValue(secret) {
				return
			}
			req.Header.Set("Authorization", "Bearer "+secret)
		case authAdmin:
			req.Header.Set("Authorization", "Bearer "+adminTok)
		case authVault:
			req.Header.Set("Authorization", "Bearer "+vaultTok)
		case authRaw:
			if !httpguts.ValidHeaderFieldValue(cred) {
				return
			}
			req.Header.Set("Authorization", cred)
		case authTwo:
			secret = canary + cred
			if !httpguts.ValidHeaderFieldValue(secret) {
				return
			}
			req.Header.Add("Authorization", "Bearer "+vaultTok)
			req.Header.Add("Authorization", "Bearer "+secret)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (host %s): status %d: %.500s", method, target, req.Host, rec.Code, rec.Body.Bytes())
		}
		echoable := []string{adminTok, vaultTok}
		if secret != "" && !strings.Contains(target+reqID+body+cred, canary) {
			// The canary alone, so that a truncated echo counts too.
			echoable = append(echoable, canary)
		}
		for _, tok := range echoable {
			if bytes.Contains(rec.Body.Bytes(), []byte(tok)) {
				t.Fatalf("%s %s: the credential is echoed in the body: %.500s", method, target, rec.Body.Bytes())
			}
			for name, vs := range rec.Header() {
				for _, v := range vs {
					if strings.Contains(v, tok) {
						t.Fatalf("%s %s: the credential is echoed in header %s", method, target, name)
					}
				}
			}
		}
	})
}
