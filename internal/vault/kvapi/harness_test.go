package kvapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/portcullis/portcullis/internal/logbuf"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/vault"
)

// env is a real Portcullis server (dev mode, SQLite in a temp dir, loopback
// TLS) with clients that trust its development CA.
type env struct {
	srv  *server.Server
	cred server.AdminCredential
	base string // https://127.0.0.1:PORT
	port string
	hc   *http.Client
	// dnsHC resolves *.localhost to 127.0.0.1, standing in for the DNS
	// record that the host form of the vault URL needs.
	dnsHC *http.Client
	logs  *syncBuffer // the server log, from level Debug
}

// syncBuffer is a log or audit sink the test reads while the server writes.
type syncBuffer = logbuf.Buffer

// onEveryBackend runs an end-to-end test against a server on SQLite and
// against one on PostgreSQL (skipped, saying so, when
// PORTCULLIS_TEST_POSTGRES is not set).
func onEveryBackend(t *testing.T, test func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { test(t, startEnv(t, "")) })
	t.Run("postgres", func(t *testing.T) { test(t, startEnv(t, pgtest.NewDatabaseURL(t))) })
}

// startEnv starts a dev server; databaseURL "" means SQLite in a temp dir.
func startEnv(t *testing.T, databaseURL string) *env {
	t.Helper()
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", Dev: true, DataDir: data, DatabaseURL: databaseURL, ShutdownTimeout: 5 * time.Second}, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("server.Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e := &env{srv: srv, base: "https://" + srv.Addr(), logs: logs}
	_, e.port, _ = net.SplitHostPort(srv.Addr())
	b, err := os.ReadFile(filepath.Join(data, "admin.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &e.cred); err != nil {
		t.Fatal(err)
	}
	e.base = e.cred.Addr // the public URL: https://localhost:PORT on SQLite, the listen address on PostgreSQL
	caPEM, err := os.ReadFile(filepath.Join(data, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	e.hc = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	e.dnsHC = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && strings.HasSuffix(host, ".localhost") {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	return e
}

// pathURL is the vault URL in path form on 127.0.0.1.
func (e *env) pathURL(vaultName string) string { return e.base + "/vaults/" + vaultName }

// hostURL is the vault URL in host form: https://{vault}.localhost:PORT.
func (e *env) hostURL(vaultName string) string {
	return "https://" + vaultName + ".localhost:" + e.port
}

// adminCall calls the admin API with the bootstrap admin credential.
func (e *env) adminCall(t *testing.T, method, path string, body, out any) {
	t.Helper()
	tok := e.token(t, e.cred.ClientID, e.cred.ClientSecret, e.cred.Scope)
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+"/admin/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// token gets an access token by client_secret_post.
func (e *env) token(t *testing.T, clientID, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	res, err := e.hc.PostForm(e.base+"/"+e.cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	if res.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("token for %s: %d %v", scope, res.StatusCode, body)
	}
	return tok
}

// app is a client application with a secret.
type app struct {
	AppID  string
	Secret string
}

// newApp registers a client application with a client secret.
func (e *env) newApp(t *testing.T, name string) app {
	t.Helper()
	var a struct {
		AppID string `json:"appId"`
	}
	e.adminCall(t, "POST", "/tenants/default/applications", map[string]any{"displayName": name}, &a)
	var s struct {
		SecretText string `json:"secretText"`
	}
	e.adminCall(t, "POST", "/tenants/default/applications/"+name+"/passwordCredentials", map[string]any{"description": "kvapi test"}, &s)
	return app{AppID: a.AppID, Secret: s.SecretText}
}

// assign gives an application a vault role on the default vault.
func (e *env) assign(t *testing.T, appID, role, scope string) {
	t.Helper()
	_, err := e.srv.Vault().AssignRole(context.Background(), vault.Caller{Admin: true}, vault.RoleAssignment{Vault: vault.DefaultVault, PrincipalID: appID, Role: role, Scope: scope})
	if err != nil {
		t.Fatalf("assign %s: %v", role, err)
	}
}

func (e *env) azOptions(hc *http.Client) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.base + "/"},
		Transport: hc,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// secretCredential is an azidentity credential for a client of the token service.
func (e *env) secretCredential(t *testing.T, a app) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.cred.TenantID, a.AppID, a.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.azOptions(e.hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func (e *env) adminApp() app { return app{AppID: e.cred.ClientID, Secret: e.cred.ClientSecret} }

// clientOptions for the path form (verification disabled) or host form
// (default options, *.localhost dialled to loopback).
type form int

const (
	pathForm form = iota
	hostForm
)

func (e *env) vaultURL(f form) string {
	if f == hostForm {
		return e.hostURL(vault.DefaultVault)
	}
	return e.pathURL(vault.DefaultVault)
}

func (e *env) secrets(t *testing.T, cred azcore.TokenCredential, f form, perCall ...policy.Policy) *azsecrets.Client {
	t.Helper()
	opts := &azsecrets.ClientOptions{ClientOptions: e.azOptions(e.hc), DisableChallengeResourceVerification: f == pathForm}
	if f == hostForm {
		opts.ClientOptions = e.azOptions(e.dnsHC)
	}
	opts.PerCallPolicies = perCall
	c, err := azsecrets.NewClient(e.vaultURL(f), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) certificates(t *testing.T, cred azcore.TokenCredential, f form) *azcertificates.Client {
	t.Helper()
	opts := &azcertificates.ClientOptions{ClientOptions: e.azOptions(e.hc), DisableChallengeResourceVerification: f == pathForm}
	if f == hostForm {
		opts.ClientOptions = e.azOptions(e.dnsHC)
	}
	c, err := azcertificates.NewClient(e.vaultURL(f), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) keys(t *testing.T, cred azcore.TokenCredential, f form) *azkeys.Client {
	t.Helper()
	opts := &azkeys.ClientOptions{ClientOptions: e.azOptions(e.hc), DisableChallengeResourceVerification: f == pathForm}
	if f == hostForm {
		opts.ClientOptions = e.azOptions(e.dnsHC)
	}
	c, err := azkeys.NewClient(e.vaultURL(f), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// respErr asserts err is a Key Vault error with status and code, and
// returns its message.
func respErr(t *testing.T, err error, status int, code string) string {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want a %d %s response error, got %v", status, code, err)
	}
	if re.StatusCode != status || (code != "" && re.ErrorCode != code) {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
	return re.Error()
}

// raw sends a request with an optional bearer token and returns status,
// headers and decoded JSON body.
func (e *env) raw(t *testing.T, method, rawURL, token, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, rawURL, b)
		}
	}
	return res.StatusCode, res.Header, out
}

func errCode(body map[string]any) (string, string) {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	m, _ := e["message"].(string)
	return c, m
}

// pollCertificateOperation follows certificate name's creation as code
// written for Key Vault does (azcertificates has no poller): it polls
// GetCertificateOperation until the status is no longer inProgress, and
// fails unless it is completed.
func pollCertificateOperation(t *testing.T, certs *azcertificates.Client, name string) azcertificates.GetCertificateOperationResponse {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		op, err := certs.GetCertificateOperation(context.Background(), name, nil)
		if err != nil {
			t.Fatalf("GetCertificateOperation(%s): %v", name, err)
		}
		switch *op.Status {
		case "completed":
			return op
		case "inProgress":
		default:
			t.Fatalf("certificate %s: operation %s: %+v", name, *op.Status, op.Error)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("certificate %s: operation still inProgress after a minute", name)
		}
	}
}

// createCertificate creates certificate name through the SDK, checks the
// answer is an operation inProgress (as Key Vault's is) and polls it to
// completion.
func createCertificate(t *testing.T, certs *azcertificates.Client, name string, p azcertificates.CreateCertificateParameters) azcertificates.GetCertificateOperationResponse {
	t.Helper()
	op, err := certs.CreateCertificate(context.Background(), name, p, nil)
	if err != nil {
		t.Fatalf("CreateCertificate(%s): %v", name, err)
	}
	if *op.Status != "inProgress" {
		t.Fatalf("CreateCertificate(%s): status %q, want inProgress", name, *op.Status)
	}
	return pollCertificateOperation(t, certs, name)
}
