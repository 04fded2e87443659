package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

// recordingBackend is a gateway backend on loopback TLS that asks for a
// client certificate (without requiring one, so that APIs with other
// credentials can use it too) and records what each request carried, and
// which of its connections are still open.
type recordingBackend struct {
	addr   string
	caFile string
	srv    *http.Server

	mu    sync.Mutex
	seen  []backendRequest
	conns map[net.Conn]string // open connection → the client certificate thumbprint it was made with
}

// backendRequest is what one request brought to the backend.
type backendRequest struct {
	path, thumbprint string
	auth             []string // Authorization values
	apiKey           []string // X-Api-Key values
}

func startRecordingBackend(t *testing.T, dir string) *recordingBackend {
	t.Helper()
	ca, caKey, err := pki.NewCA("backend CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := &recordingBackend{caFile: filepath.Join(dir, "backend-ca.pem"), conns: map[net.Conn]string{}}
	if err := os.WriteFile(b.caFile, pki.EncodeCertificatePEM(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	b.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: leafKey, Leaf: leaf}},
			ClientAuth:   tls.RequestClientCert,
			NextProtos:   []string{"http/1.1"},
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			b.mu.Lock()
			defer b.mu.Unlock()
			switch s {
			case http.StateActive:
				if _, ok := b.conns[c]; !ok {
					b.conns[c] = thumbprintOf(c.(*tls.Conn).ConnectionState())
				}
			case http.StateClosed, http.StateHijacked:
				delete(b.conns, c)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.seen = append(b.seen, backendRequest{path: r.URL.Path, thumbprint: thumbprintOf(*r.TLS),
				auth: r.Header.Values("Authorization"), apiKey: r.Header.Values("X-Api-Key")})
			b.mu.Unlock()
			io.WriteString(w, "ok")
		})}
	go b.srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func thumbprintOf(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// last returns the last request to path.
func (b *recordingBackend) last(path string) (backendRequest, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.seen) - 1; i >= 0; i-- {
		if b.seen[i].path == path {
			return b.seen[i], true
		}
	}
	return backendRequest{}, false
}

// openWith counts the open connections made with the client certificate
// of thumbprint.
func (b *recordingBackend) openWith(thumbprint string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, th := range b.conns {
		if th == thumbprint {
			n++
		}
	}
	return n
}

// TestE2E_BackendCredentialsThroughTheGateway configures, with the CLI, APIs
// whose backend is called with a client certificate, Basic, an API key and
// bearer tokens (static and by client credentials against the server
// itself), all from the vault; the backend records what it got. A caller's
// own Authorization or API-key header never reaches it; a new certificate
// version reaches the route within 5 s while a load loop runs, with no
// failed request, and the connections made with the old one are closed;
// the certificate cannot be deleted while the API uses it.
//
// It runs through an https gateway listener (the goroutine engine) and a
// plain-HTTP one (the event-loop engine where it exists, which hands
// https backends to the goroutine engine).
func TestE2E_BackendCredentialsThroughTheGateway(t *testing.T) {
	for _, listener := range []string{"https", "http"} {
		t.Run(listener+" listener", func(t *testing.T) {
			s := startDevServerWith(t, func(c *server.Config) {
				c.GatewayListen = []string{listener + "://127.0.0.1:0"}
			})
			backendCredentials(t, s, listener)
		})
	}
}

func backendCredentials(t *testing.T, s *devServer, scheme string) {
	m := regexp.MustCompile(`Gateway \(APIs\):\s+(` + scheme + `://\S+)`).FindStringSubmatch(s.banner.String())
	if m == nil {
		t.Fatalf("the dev server's banner names no gateway listener:\n%s", s.banner.String())
	}
	gw := m[1]
	be := startRecordingBackend(t, s.dir)
	backend := "https://" + be.addr

	s.ok(t, "", "cert", "create", "--subject", "CN=gateway-client", "--out", filepath.Join(s.dir, "gw1"), "--password", "pw-gw1-77a")
	s.ok(t, "pw-gw1-77a\n", "certificate", "import", "gw-client", filepath.Join(s.dir, "gw1.pfx"), "--password", "-")
	first := certThumbprint(t, filepath.Join(s.dir, "gw1.cer"))

	const password, key, token = "backend-pw-1c9e", "backend-key-55d0", "backend-token-93ab"
	for _, v := range []string{password, key, token, "backend-pw-2f81"} {
		s.addSecret(v)
	}
	s.ok(t, password+"\n", "secret", "set", "backend-pw", "--value", "-")
	s.ok(t, key+"\n", "secret", "set", "backend-key", "--value", "-")
	s.ok(t, token+"\n", "secret", "set", "backend-token", "--value", "-")
	// A client of this very server, whose secret the vault holds: the
	// gateway obtains its tokens by client credentials.
	orders := s.okJSON(t, "", "app", "create", "orders-backend", "--identifier-uri", "api://orders-backend")
	caller := s.okJSON(t, "", "app", "create", "gateway-caller")
	callerSecret := str(s.okJSON(t, "", "app", "secret", "add", "gateway-caller")["secretText"])
	s.addSecret(callerSecret)
	s.ok(t, callerSecret+"\n", "secret", "set", "caller-secret", "--value", "-")
	_ = orders

	common := []string{"--anonymous", "--backend", backend, "--backend-ca", be.caFile}
	s.ok(t, "", append([]string{"api", "create", "mtls", "--path-prefix", "/mtls",
		"--backend-auth", "clientCertificate", "--backend-certificate", "vault://default/certificates/gw-client"}, common...)...)
	s.ok(t, "", append([]string{"api", "create", "basic", "--path-prefix", "/basic",
		"--backend-auth", "basic", "--backend-username", "gateway", "--backend-password", "vault://default/secrets/backend-pw"}, common...)...)
	s.ok(t, "", append([]string{"api", "create", "key", "--path-prefix", "/key",
		"--backend-auth", "apiKeyHeader", "--backend-header", "X-Api-Key", "--backend-key", "vault://default/secrets/backend-key"}, common...)...)
	s.ok(t, "", append([]string{"api", "create", "bearer", "--path-prefix", "/bearer",
		"--backend-auth", "bearer", "--backend-token", "vault://default/secrets/backend-token"}, common...)...)
	s.ok(t, "", append([]string{"api", "create", "cc", "--path-prefix", "/cc",
		"--backend-auth", "bearer", "--backend-token-authority", s.cred.Addr + "/" + s.cred.TenantID,
		"--backend-client-id", str(caller["appId"]), "--backend-client-secret", "vault://default/secrets/caller-secret",
		"--backend-scope", "api://orders-backend/.default"}, common...)...)

	out := s.ok(t, "", "api", "show", "mtls")
	for _, w := range []string{"clientCertificate: vault://default/certificates/gw-client", "Backend TLS:"} {
		if !strings.Contains(out, w) {
			t.Errorf("api show lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "WARNING") {
		t.Errorf("api show warns about a validated chain:\n%s", out)
	}

	client := s.httpClient(t)
	get := func(path string, h http.Header) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, gw+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitOK := func(path string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := get(path, nil)
			if code == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s through the gateway: %d %s", path, code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	basic := func(pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+pw))
	}
	forged := http.Header{"Authorization": {"Basic Zm9yZ2VkOmZvcmdlZA=="}, "X-Api-Key": {"forged-key"}}
	for _, tc := range []struct {
		path  string
		check func(r backendRequest) string // "" when right
	}{
		{"/mtls/a", func(r backendRequest) string {
			if r.thumbprint != first {
				return "client certificate " + r.thumbprint + ", want " + first
			}
			return ""
		}},
		{"/basic/a", func(r backendRequest) string {
			if len(r.auth) != 1 || r.auth[0] != basic(password) {
				return "Authorization is not exactly the configured Basic credential"
			}
			return ""
		}},
		{"/key/a", func(r backendRequest) string {
			if len(r.apiKey) != 1 || r.apiKey[0] != key {
				return "X-Api-Key is not exactly the configured key"
			}
			return ""
		}},
		{"/bearer/a", func(r backendRequest) string {
			if len(r.auth) != 1 || r.auth[0] != "Bearer "+token {
				return "Authorization is not exactly the configured bearer token"
			}
			return ""
		}},
		{"/cc/a", func(r backendRequest) string {
			if len(r.auth) != 1 || !strings.HasPrefix(r.auth[0], "Bearer ey") {
				return "Authorization is not one bearer token obtained by client credentials"
			}
			return ""
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			waitOK(tc.path)
			// The caller's own Authorization and X-Api-Key: replaced by the
			// configured credential where it sets that header.
			if code, body := get(tc.path, forged); code != http.StatusOK {
				t.Fatalf("with forged headers: %d %s", code, body)
			}
			r, _ := be.last(tc.path)
			if p := tc.check(r); p != "" {
				t.Error(p)
			}
		})
	}

	t.Run("Basic to a plain-HTTP backend with backend.allowInsecureAuth", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var got atomic.Value
		plain := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(strings.Join(r.Header.Values("Authorization"), ","))
		})}
		go plain.Serve(ln)
		defer plain.Close()
		args := []string{"api", "create", "plain", "--path-prefix", "/plain", "--anonymous", "--backend", "http://" + ln.Addr().String(),
			"--backend-auth", "basic", "--backend-username", "gateway", "--backend-password", "vault://default/secrets/backend-pw"}
		if code, _, errOut := s.cli(t, "", args...); code != 1 || !strings.Contains(errOut, "backend.allowInsecureAuth") {
			t.Fatalf("Basic to an http backend without the flag: exit %d, %q", code, errOut)
		}
		s.ok(t, "", append(args, "--backend-allow-insecure-auth")...)
		waitOK("/plain/a")
		if code, body := get("/plain/a", forged); code != http.StatusOK || got.Load() != basic(password) {
			t.Fatalf("%d %s: the plain backend got Authorization %q, want the configured one only", code, body, got.Load())
		}
		s.ok(t, "", "api", "delete", "plain")
	})

	// The vault refuses to delete the certificate while the API uses it.
	code, _, errOut := s.cli(t, "", "certificate", "delete", "gw-client")
	if code != 1 || !strings.Contains(errOut, "gateway/default/mtls") || !strings.Contains(errOut, "Conflict") {
		t.Fatalf("certificate delete of a referenced certificate: exit %d, %q", code, errOut)
	}

	t.Run("a new Basic password reaches the backend", func(t *testing.T) {
		s.ok(t, "backend-pw-2f81\n", "secret", "set", "backend-pw", "--value", "-")
		deadline := time.Now().Add(5 * time.Second)
		for {
			get("/basic/a", nil)
			if r, _ := be.last("/basic/a"); len(r.auth) == 1 && r.auth[0] == basic("backend-pw-2f81") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("5 s after the secret set the backend still gets the old password")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("rotation while requests run", func(t *testing.T) {
		s.ok(t, "", "cert", "create", "--subject", "CN=gateway-client", "--out", filepath.Join(s.dir, "gw2"), "--password", "pw-gw2-0be")
		second := certThumbprint(t, filepath.Join(s.dir, "gw2.cer"))
		var calls, failures atomic.Int64
		var failure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 { // several connections in the pool
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					code, body := get("/mtls/load", nil)
					calls.Add(1)
					if code != http.StatusOK {
						failures.Add(1)
						failure.Store(body)
					}
				}
			}()
		}
		for calls.Load() < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		if n := be.openWith(first); n == 0 {
			t.Fatal("no backend connection made with the first certificate is open before the rotation")
		}
		imported := time.Now()
		s.ok(t, "pw-gw2-0be\n", "certificate", "import", "gw-client", filepath.Join(s.dir, "gw2.pfx"), "--password", "-")
		deadline := imported.Add(5 * time.Second)
		for {
			if r, _ := be.last("/mtls/load"); r.thumbprint == second {
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("5 s after the import the backend still sees the old certificate")
			}
			time.Sleep(10 * time.Millisecond)
		}
		seen := time.Since(imported)
		// The connections made with the old certificate are closed (idle
		// ones at once, busy ones after their exchange) while the load
		// goes on over new ones.
		closedBy := time.Now().Add(5 * time.Second)
		for be.openWith(first) > 0 {
			if time.Now().After(closedBy) {
				t.Errorf("%d backend connections made with the old certificate are still open", be.openWith(first))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		t.Logf("new certificate seen %v after the import; %d requests, %d failed", seen.Round(time.Millisecond), calls.Load(), failures.Load())
		if failures.Load() > 0 {
			t.Errorf("%d requests failed during the rotation, e.g. %v", failures.Load(), failure.Load())
		}
	})

	// Deleting the API releases the certificate.
	s.ok(t, "", "api", "delete", "mtls")
	s.ok(t, "", "certificate", "delete", "gw-client")
}
