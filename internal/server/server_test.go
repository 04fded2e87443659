package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
)

// running is a server started for a test, with a client that trusts its CA.
type running struct {
	srv    *Server
	cfg    Config
	cred   AdminCredential
	client *http.Client
	base   string
	stop   func() error
}

func startServer(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, cfg, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
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
	t.Cleanup(func() { stop() })

	r := &running{srv: srv, cfg: cfg, stop: stop, base: "https://" + srv.Addr()}
	if cfg.Dev && cfg.PublicURL == "" && cfg.DatabaseURL == "" {
		r.base = devPublicURL(srv.Addr()) // the issuer's base: one public URL per instance
	}
	credFile := cfg.AdminCredentialFile
	if credFile == "" {
		credFile = filepath.Join(cfg.DataDir, "admin.json")
	}
	b, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatalf("admin credential: %v", err)
	}
	if err := json.Unmarshal(b, &r.cred); err != nil {
		t.Fatalf("admin credential: %v", err)
	}
	pool := x509.NewCertPool()
	ca := r.cred.CA
	if ca == "" {
		ca = filepath.Join(cfg.DataDir, "tls", "ca.pem")
	}
	if caPEM, err := os.ReadFile(ca); err == nil {
		pool.AppendCertsFromPEM(caPEM) // production tests bring their own CA
	}
	r.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	return r
}

// adminToken obtains a token for the management resource with the
// bootstrap admin credential, by client_secret_post.
func (r *running) token(t *testing.T, tenant, clientID, secret, scope string) (string, int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	resp, err := r.client.PostForm(r.base+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	tok, _ := body["access_token"].(string)
	return tok, resp.StatusCode, body
}

func TestServe_DevStartIssuesVerifiableAdminToken(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	tok, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	ctx := oidc.ClientContext(context.Background(), r.client)
	p, err := oidc.NewProvider(ctx, r.base+"/"+r.cred.TenantID+"/v2.0")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
		Tid   string   `json:"tid"`
		Azp   string   `json:"azp"`
	}
	idt, err := p.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, tok)
	if err != nil {
		t.Fatalf("go-oidc rejected the token: %v", err)
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Tid != r.cred.TenantID || claims.Azp != r.cred.ClientID || len(claims.Roles) != 1 || claims.Roles[0] != "Portcullis.Admin" {
		t.Fatalf("claims = %+v", claims)
	}
	// The CLI credential file is private to the operator.
	st, err := os.Stat(filepath.Join(r.cfg.DataDir, "admin.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.json mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
}

func TestServe_HealthReadyMetrics(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0"})
	r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := r.client.Get(r.base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s: %d, body lacks %q:\n%.2000s", tc.path, resp.StatusCode, tc.want, b)
			}
		})
	}
	if want := `portcullis_http_requests_total{code="200",route="POST /{tenant}/oauth2/v2.0/token"} 1`; !strings.Contains(r.scrape(t), want) {
		t.Errorf("metrics lack %s", want)
	}
	resp, err := r.client.Get(r.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol = %s; want HTTP/2 over TLS", resp.Proto)
	}
}

// verifyAdminToken verifies tok as this node's admin API does: guard's
// Verifier over the node's in-process key source (the token service's
// published keys, no HTTP hop), for the management API's audience, RS256
// only. Bearer verification lives only in guard; the token service has none.
func (r *running) verifyAdminToken(t *testing.T, tok string) (*guard.Principal, error) {
	t.Helper()
	mgmt, ok := r.srv.sts.Snapshot().Resource(r.cred.TenantID, directory.ManagementIdentifierURI)
	if !ok {
		t.Fatalf("the management application %s is not in node %s's directory", directory.ManagementIdentifierURI, r.base)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: r.srv.sts, Audiences: []string{mgmt.AppID}, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err == nil && p.TenantID != r.cred.TenantID {
		t.Fatalf("token of tenant %s verified by tenant %s's node", p.TenantID, r.cred.TenantID)
	}
	return p, err
}

func TestServe_RestartReusesDevMaterialAndKeys(t *testing.T) {
	dir := t.TempDir()
	r1 := startServer(t, Config{Dev: true, DataDir: dir})
	tok, status, _ := r1.token(t, r1.cred.TenantID, r1.cred.ClientID, r1.cred.ClientSecret, r1.cred.Scope)
	if status != http.StatusOK {
		t.Fatalf("first run token: %d", status)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err := r1.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Same port: same issuer. The gateway on a free port: --dev's default,
	// the port after --listen, may be held by another test's listener.
	r2 := startServer(t, Config{Dev: true, DataDir: dir, Listen: r1.srv.Addr(), GatewayListen: []string{"https://127.0.0.1:0"}})
	ca2, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if string(ca1) != string(ca2) {
		t.Fatal("the dev CA changed across restarts")
	}
	if r2.cred != r1.cred {
		t.Fatal("the admin credential changed across restarts")
	}
	if p, err := r2.verifyAdminToken(t, tok); err != nil || p.AppID != r1.cred.ClientID {
		t.Fatalf("a token from before the restart no longer verifies: %+v, %v", p, err)
	}
	if _, status, body := r2.token(t, r2.cred.TenantID, r2.cred.ClientID, r2.cred.ClientSecret, r2.cred.Scope); status != http.StatusOK {
		t.Fatalf("second run token: %d %v", status, body)
	}
}

func TestServe_ProductionRefusesMissingMaterial(t *testing.T) {
	t.Setenv(RootKeyEnv, "")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "root.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no TLS certificate", Config{DataDir: dir, RootKeyFile: keyFile}, "--tls-cert"},
		{"no root key", Config{DataDir: dir, TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}, "root encryption key"},
		{"plain http public URL", Config{Dev: true, DataDir: dir, PublicURL: "http://x"}, "https://"},
		{"bad listen address", Config{Dev: true, DataDir: dir, Listen: "nope"}, "--listen"},
		{"mysql database", Config{Dev: true, DataDir: dir, DatabaseURL: "mysql://x"}, "postgres://"},
		{"unreadable TLS files", Config{DataDir: dir, RootKeyFile: keyFile, TLSCertFile: filepath.Join(dir, "missing.pem"), TLSKeyFile: filepath.Join(dir, "missing-key.pem")}, "missing.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestServe_ProductionModeWithOwnCertificateAndEnvRootKey(t *testing.T) {
	dir := t.TempDir()
	// Make a CA and server certificate the way an operator would bring them.
	p, _, err := ensureDevTLS(filepath.Join(dir, "ops"), "127.0.0.1", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(RootKeyEnv, strings.Repeat("cd", 32))
	r := startServer(t, Config{DataDir: filepath.Join(dir, "data"), TLSCertFile: p.CertFile, TLSKeyFile: p.KeyFile})
	if _, err := os.Stat(filepath.Join(dir, "data", "root.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("production mode wrote a root key into the data directory (err=%v)", err)
	}
	// The credential names no CA in production; trust the operator's CA.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(p.CAFile)
	pool.AppendCertsFromPEM(b)
	r.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	if _, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
}

func TestServe_GracefulShutdownFinishesInFlightRequest(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir()})
	tr := r.client.Transport.(*http.Transport)
	conn, err := tls.Dial("tcp", r.srv.Addr(), &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.cred.ClientID}, "client_secret": {r.cred.ClientSecret}, "scope": {r.cred.Scope}}.Encode()
	// Expect: 100-continue makes the server answer "100 Continue" once the
	// handler starts reading the body: from then on the request is in flight.
	head := "POST /" + r.cred.TenantID + "/oauth2/v2.0/token HTTP/1.1\r\nHost: " + r.srv.Addr() +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue before the body, got %v %v", cont, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	// Wait until the listener is closed: new connections are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", r.srv.Addr(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 10 s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond) // polling interval for the condition above
	}
	if _, err := io.WriteString(conn, form); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request was dropped: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight request status %d", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
