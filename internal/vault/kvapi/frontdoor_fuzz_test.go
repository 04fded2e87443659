package kvapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/server"
)

// fuzzCanary prefixes fuzzed bearer credentials; no response may carry it.
const fuzzCanary = "kvC4n4ry"

// FuzzKeyVaultFrontDoor sends arbitrary Key Vault requests to a real dev
// server over TLS, in both URL forms: the Authorization header (absent,
// junk, a real token, two of them), x-ms-client-request-id, paths with
// %-escapes and dot segments, api-version. The server must never answer a
// client's request with a 5xx other than 501, never drop the connection (a
// panic), and never echo the credential.
func FuzzKeyVaultFrontDoor(f *testing.F) {
	data := f.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", Dev: true, DataDir: data, ShutdownTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		f.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	f.Cleanup(func() { cancel(); <-done })
	var cred server.AdminCredential
	if b, err := os.ReadFile(filepath.Join(data, "admin.json")); err != nil || json.Unmarshal(b, &cred) != nil {
		f.Fatalf("admin credential: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "tls", "ca.pem"))
	if err != nil {
		f.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	_, port, _ := net.SplitHostPort(srv.Addr())
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Addr()) // *.localhost too
		},
	}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID}, "client_secret": {cred.ClientSecret}, "scope": {server.VaultIdentifierURI + "/.default"}}
	resp, err := hc.PostForm("https://"+srv.Addr()+"/"+cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		f.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		f.Fatalf("vault token: %d", resp.StatusCode)
	}
	bases := []string{"https://127.0.0.1:" + port + "/vaults/default", "https://default.localhost:" + port, "https://localhost:" + port + "/vaults/nope", "https://127.0.0.1:" + port}

	for _, s := range []struct {
		base                          uint8
		method, path, apiVersion, rid string
		auth                          uint8
		cred, body                    string
	}{
		{0, "GET", "/secrets/a", "7.5", "", 2, "", ""},
		{1, "PUT", "/secrets/a", "7.6-preview.2", "11111111-2222-3333-4444-555555555555", 2, "", `{"value":"v"}`},
		{0, "GET", "/secrets", "2025-07-01", "", 1, "eyJhbGciOiJub25lIn0.e30.", ""},
		{0, "POST", "/keys/k//sign", "7.5", "", 2, "", `{"alg":"ES256","value":"AAAA"}`},
		{0, "GET", "/secrets/%2e%2e/x", "7.5", "", 2, "", ""},
		{0, "GET", "/secrets/a%2Fb", "7.5", "", 2, "", ""},
		{1, "GET", "/./secrets/a", "7.5", "", 2, "", ""},
		{0, "DELETE", "/certificates/c/../x", "7.4", "", 2, "", ""},
		{0, "FOO", "/certificates/c", "7.5", "", 2, "", ""},
		{0, "GET", "/secrets/a", "", "", 0, "", ""},
		{0, "GET", "/secrets/a", "6.0", "", 3, "Bearer x", ""},
		{2, "GET", "/secrets/a", "7.5", "", 4, "", ""},
		{3, "GET", "/secrets/a", "7.5", "", 2, "", ""},
		{0, "GET", "/deletedsecrets?maxresults=1&$skiptoken=zz", "7.5", "", 2, "", ""},
		{0, "GET", "/certificates?includePending=true&maxresults=1", "7.5", "", 2, "", ""},
		{0, "GET", "/certificates?includePending=TRUE&includePending=false", "7.5", "", 2, "", ""},
	} {
		f.Add(s.base, s.method, s.path, s.apiVersion, s.rid, s.auth, s.cred, s.body)
	}
	f.Fuzz(func(t *testing.T, base uint8, method, path, apiVersion, rid string, auth uint8, credIn, body string) {
		if !httpguts.ValidHeaderFieldName(method) { // a method is a token, as a header name is
			method = http.MethodGet
		}
		raw := bases[int(base)%len(bases)] + "/" + strings.TrimPrefix(path, "/")
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || strings.ContainsAny(raw, " \r\n\t\x00#") {
			return
		}
		if apiVersion != "" {
			q := u.Query()
			q.Set("api-version", apiVersion)
			u.RawQuery = q.Encode()
		}
		req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if rid != "" && headerValue(rid) {
			req.Header.Set("x-ms-client-request-id", rid)
			req.Header.Set("x-ms-return-client-request-id", "true")
		}
		echoable := []string{tok.AccessToken}
		if !strings.Contains(path+apiVersion+rid+body, fuzzCanary) {
			echoable = append(echoable, fuzzCanary)
		}
		switch auth % 5 {
		case 1:
			if !headerValue(credIn) {
				return
			}
			req.Header.Set("Authorization", "Bearer "+fuzzCanary+credIn)
		case 2:
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		case 3:
			if !headerValue(credIn) {
				return
			}
			req.Header.Set("Authorization", credIn) // scheme variants; no canary
		case 4:
			req.Header.Add("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Add("Authorization", "Bearer "+fuzzCanary)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (a panic drops the connection)", method, u, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented {
			t.Fatalf("%s %s: status %d: %.500s", method, u, res.StatusCode, b)
		}
		for _, secret := range echoable {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s %s: the credential is echoed in the body: %.500s", method, u, b)
			}
			for name, vs := range res.Header {
				for _, v := range vs {
					if strings.Contains(v, secret) {
						t.Fatalf("%s %s: the credential is echoed in header %s", method, u, name)
					}
				}
			}
		}
	})
}

// headerValue reports whether net/http sends v unchanged as a header value:
// valid, and without the surrounding white space it would trim.
func headerValue(v string) bool {
	return httpguts.ValidHeaderFieldValue(v) && strings.TrimSpace(v) == v
}
