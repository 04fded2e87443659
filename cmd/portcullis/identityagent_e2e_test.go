package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// The tests in this file run `portcullis identity-agent` in-process, the
// way an operator runs it on an application host, against a real dev
// server, and let azidentity's ManagedIdentityCredential and
// DefaultAzureCredential find it through IDENTITY_ENDPOINT and
// IDENTITY_HEADER only, unchanged.

// managedIdentityEnv lists the environment variables that select an
// azidentity credential; the tests clear them all and set only the two
// the agent prints.
var managedIdentityEnv = []string{
	"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
	"AZURE_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
}

// unsetEnv removes k from the environment for the rest of the test (an
// empty value is not the same as unset for AZURE_CLIENT_ID).
func unsetEnv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

// hostSetup is a dev server with what an operator registers for a host:
// a host certificate on two applications, an API with a role granted to
// one of them, a vault secret readable by it, and a third application the
// host certificate is not registered on.
type hostSetup struct {
	s                            *devServer
	worker, reports, stranger    string // app ids: system-assigned, user-assigned "reports", unregistered
	api                          string // identifier URI of the API, unique per server
	secretValue                  string
	certPEM, headerFile, envFile string
}

func newHostSetup(t *testing.T, databaseURL string) *hostSetup {
	t.Helper()
	s := startDevServerWith(t, func(c *server.Config) { c.DatabaseURL = databaseURL })
	h := &hostSetup{s: s, api: "api://orders-" + uuid.NewString()[:8], secretValue: "db-pass-" + uuid.NewString()}
	s.addSecret(h.secretValue)
	s.ok(t, "", "cert", "create", "--subject", "CN=web-01", "--out", filepath.Join(s.dir, "web-01"), "--password", "web01-pfx-pass")
	h.certPEM = filepath.Join(s.dir, "web-01.pem")
	appID := func(name string, extra ...string) string {
		v := s.okJSON(t, "", append([]string{"app", "create", name}, extra...)...)
		id := str(v["appId"])
		if id == "" {
			t.Fatalf("app create %s: no appId in %v", name, v)
		}
		return id
	}
	h.worker = appID("orders-worker")
	h.reports = appID("reports")
	h.stranger = appID("stranger")
	appID("orders-api", "--identifier-uri", h.api)
	s.ok(t, "", "app", "cert", "add", "orders-worker", filepath.Join(s.dir, "web-01.cer"))
	s.ok(t, "", "app", "cert", "add", "reports", filepath.Join(s.dir, "web-01.cer"))
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	s.ok(t, "", "grant", "add", "--client", "orders-worker", "--resource", "orders-api", "--role", "Orders.Read")
	s.ok(t, h.secretValue+"\n", "secret", "set", "db-password", "--value", "-")
	s.ok(t, "", "vault", "role", "assign", "--app", "orders-worker", "--role", "Key Vault Secrets User")
	h.headerFile = filepath.Join(s.dir, "run", "identity-header")
	h.envFile = filepath.Join(s.dir, "run", "identity.env")
	if err := os.Mkdir(filepath.Join(s.dir, "run"), 0o750); err != nil {
		t.Fatal(err)
	}
	return h
}

// startAgent runs `portcullis identity-agent` until the test ends and
// returns the IDENTITY_ENDPOINT it printed.
func (h *hostSetup) startAgent(t *testing.T) (endpoint string, stderr *syncBuffer) {
	t.Helper()
	args := []string{"identity-agent", "--data", h.s.data, "--cert", h.certPEM,
		"--system-assigned", h.worker, "--user-assigned", "reports=" + h.reports, "--user-assigned", h.stranger,
		"--listen", "127.0.0.1:0", "--header-file", h.headerFile, "--env-file", h.envFile}
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs(args)
		root.SetIn(strings.NewReader(""))
		root.SetOut(out)
		root.SetErr(errOut)
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("identity-agent: %v\nstderr: %s", err, errOut)
		}
		if _, err := os.Stat(h.headerFile); !os.IsNotExist(err) {
			t.Errorf("the header file is left behind after the agent stopped (stat: %v)", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "IDENTITY_ENDPOINT="); ok {
				return v, errOut
			}
		}
		select {
		case err := <-done:
			t.Fatalf("identity-agent exited before it listened: %v\nstderr: %s", err, errOut)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity-agent printed no IDENTITY_ENDPOINT in 10s; stdout: %s\nstderr: %s", out, errOut)
		}
	}
}

// useAgent sets only IDENTITY_ENDPOINT and IDENTITY_HEADER, as an
// application on the host has them, and returns the header value.
func (h *hostSetup) useAgent(t *testing.T, endpoint string) string {
	t.Helper()
	for _, k := range managedIdentityEnv {
		unsetEnv(t, k)
	}
	header := strings.TrimSpace(string(mustRead(t, h.headerFile)))
	h.s.addSecret(header)
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", header)
	return header
}

// claims decodes a JWT's payload without verifying it (the resource does
// that; here only what the token says matters).
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func noRetry() azcore.ClientOptions {
	return azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}
}

func TestE2E_IdentityAgent_AzidentityGetsTokensAndReadsTheVault(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabaseURL(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			h := newHostSetup(t, backend.url(t))
			endpoint, agentLog := h.startAgent(t)
			header := h.useAgent(t, endpoint)
			ctx := context.Background()

			// The files hold the value with mode 0640; the env file has both lines.
			for _, f := range []string{h.headerFile, h.envFile} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o640 {
					t.Errorf("%s has mode %v, want 0640", f, fi.Mode().Perm())
				}
			}
			if env := string(mustRead(t, h.envFile)); env != "IDENTITY_ENDPOINT="+endpoint+"\nIDENTITY_HEADER="+header+"\n" {
				t.Errorf("env file = %q", env)
			}

			// ManagedIdentityCredential, system-assigned: the worker's token with its role.
			mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: noRetry()})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{h.api + "/.default"}})
			if err != nil {
				t.Fatalf("ManagedIdentityCredential: %v", err)
			}
			c := claims(t, tok.Token)
			if c["azp"] != h.worker || fmt.Sprint(c["roles"]) != "[Orders.Read]" {
				t.Errorf("system-assigned token: azp %v roles %v, want %s [Orders.Read]", c["azp"], c["roles"], h.worker)
			}
			if d := time.Until(tok.ExpiresOn); d < 10*time.Minute {
				t.Errorf("token expires in %v", d)
			}

			// DefaultAzureCredential with only the two variables, then azsecrets.
			dac, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: noRetry()})
			if err != nil {
				t.Fatal(err)
			}
			sc, err := azsecrets.NewClient(h.s.cred.Addr+"/vaults/default", dac, &azsecrets.ClientOptions{
				ClientOptions:                        azcore.ClientOptions{Transport: h.s.httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}},
				DisableChallengeResourceVerification: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			sec, err := sc.GetSecret(ctx, "db-password", "", nil)
			if err != nil {
				t.Fatalf("azsecrets through DefaultAzureCredential: %v", err)
			}
			if sec.Value == nil || *sec.Value != h.secretValue {
				t.Errorf("secret value differs")
			}

			// User-assigned: by client id, by resource id ending in the name,
			// and DefaultAzureCredential with AZURE_CLIENT_ID.
			for _, id := range []azidentity.ManagedIDKind{
				azidentity.ClientID(h.reports),
				azidentity.ResourceID("/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reports"),
			} {
				cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: id, ClientOptions: noRetry()})
				if err != nil {
					t.Fatal(err)
				}
				tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{h.api + "/.default"}})
				if err != nil {
					t.Fatalf("user-assigned %T: %v", id, err)
				}
				if c := claims(t, tok.Token); c["azp"] != h.reports || c["roles"] != nil {
					// reports has no grant on the API: Entra's behaviour is a token without roles.
					t.Errorf("user-assigned %T: azp %v roles %v, want %s and no roles", id, c["azp"], c["roles"], h.reports)
				}
			}
			t.Setenv("AZURE_CLIENT_ID", h.reports)
			dacUser, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: noRetry()})
			if err != nil {
				t.Fatal(err)
			}
			sc2, err := azsecrets.NewClient(h.s.cred.Addr+"/vaults/default", dacUser, &azsecrets.ClientOptions{
				ClientOptions:                        azcore.ClientOptions{Transport: h.s.httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}},
				DisableChallengeResourceVerification: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			// A resource without a grant: the token carries no role and the
			// vault refuses it; the agent does not decide what a token allows.
			_, err = sc2.GetSecret(ctx, "db-password", "", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
				t.Errorf("reports reading the secret without a vault role: %v, want 403 from the vault", err)
			}
			unsetEnv(t, "AZURE_CLIENT_ID")

			if log := agentLog.String(); strings.Contains(log, header) {
				t.Errorf("the agent's log shows the header value")
			}
		})
	}
}

func TestE2E_IdentityAgent_RefusalsAreReportedByAzidentity(t *testing.T) {
	h := newHostSetup(t, "")
	endpoint, agentLog := h.startAgent(t)
	header := h.useAgent(t, endpoint)
	ctx := context.Background()

	// Each case asks for a resource no other case asked for: MSAL keeps a
	// process-wide token cache per identity and resource.
	for _, tc := range []struct {
		name     string
		id       azidentity.ManagedIDKind
		header   string // "" = the right one
		resource string
		want     []string // in azidentity's error text
	}{
		{"wrong header value", nil, "not-the-host-value-0123456789", h.api + "-wrong-header",
			[]string{"RESPONSE 401", "unauthorized_client", "does not match this host's value"}},
		{"unknown identity", azidentity.ClientID(uuid.NewString()), "", h.api,
			[]string{"RESPONSE 400", "Identity not found", "may not hand out"}},
		{"unknown identity name", azidentity.ResourceID("/subscriptions/s/x/userAssignedIdentities/payroll"), "", h.api,
			[]string{"RESPONSE 400", `no user-assigned identity named \"payroll\"`}},
		{"object id selector", azidentity.ObjectID(uuid.NewString()), "", h.api,
			[]string{"RESPONSE 400", "not by object id"}},
		{"identity whose application does not trust the host certificate", azidentity.ClientID(h.stranger), "", h.api,
			[]string{"RESPONSE 401", "invalid_client", "AADSTS700027", "the token service refused a token for identity " + h.stranger}},
		{"resource unknown to the token service", nil, "", "api://no-such-api-" + uuid.NewString()[:8],
			[]string{"RESPONSE 400", "invalid_resource", "AADSTS500011", "500011"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.header != "" {
				t.Setenv("IDENTITY_HEADER", tc.header)
			}
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: tc.id, ClientOptions: noRetry()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tc.resource + "/.default"}})
			if err == nil {
				t.Fatal("got a token")
			}
			t.Logf("azidentity reports: %v", err)
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Errorf("error is %T, want *azidentity.AuthenticationFailedError: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}

	// What azidentity cannot send: raw requests.
	base := strings.TrimSuffix(endpoint, "/msi/token")
	q := "?api-version=2019-08-01&resource=" + h.api
	for _, tc := range []struct {
		name       string
		method     string
		url        string
		header     string
		host       string
		wantStatus int
		want       string
	}{
		{"no header", "GET", endpoint + q, "", "", 401, "has no X-IDENTITY-HEADER header"},
		{"other api-version", "GET", endpoint + "?api-version=2017-09-01&resource=" + h.api, header, "", 400, "api-version"},
		{"no resource", "GET", endpoint + "?api-version=2019-08-01", header, "", 400, "resource is missing"},
		{"two resources", "GET", endpoint + q + "&resource=api://x", header, "", 400, "appears 2 times"},
		{"scope smuggled in the resource", "GET", endpoint + "?api-version=2019-08-01&resource=api%3A%2F%2Fa%2F.default+api%3A%2F%2Fb", header, "", 400, "white space"},
		{"POST", "POST", endpoint + q, header, "", 405, "GET"},
		{"other path", "GET", base + "/metadata/identity/oauth2/token" + q, header, "", 404, "/msi/token"},
		{"rebinding host name", "GET", endpoint + q, header, "attacker.example:80", 403, "call the agent at the address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("X-IDENTITY-HEADER", tc.header)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(b, &body); err != nil || body.Error == "" {
				t.Fatalf("body is not an error object: %s", b)
			}
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body.Description, tc.want) {
				t.Errorf("got %d %s, want %d and %q", resp.StatusCode, b, tc.wantStatus, tc.want)
			}
		})
	}
	log := agentLog.String()
	if !strings.Contains(log, "request refused") {
		t.Errorf("the agent logged no refusal:\n%s", log)
	}
	if strings.Contains(log, header) || strings.Contains(log, "not-the-host-value") {
		t.Errorf("the agent's log shows a header value:\n%s", log)
	}
}

func TestIdentityAgent_BadFlagsAreRefusedBeforeAnythingIsWritten(t *testing.T) {
	dir := isolate(t)
	t.Setenv(envCertPassword, "")
	const app = "0c4d5e6f-1111-2222-3333-444455556666"
	header := filepath.Join(dir, "header")
	base := []string{"identity-agent", "--addr", "https://127.0.0.1:1", "--header-file", header, "--cert", filepath.Join(dir, "host.pem"), "--system-assigned", app}
	cert := filepath.Join(dir, "web-01")
	if code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=web-01", "--out", cert); code != 0 {
		t.Fatalf("cert create: %s", errOut)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"listen on all interfaces", append(slices.Clone(base), "--listen", "0.0.0.0:40380"), "not a loopback address"},
		{"listen on another host", append(slices.Clone(base), "--listen", "192.0.2.1:40380"), "not a loopback address"},
		{"no identity", []string{"identity-agent", "--header-file", header, "--cert", "x"}, "no identity to hand out"},
		{"identity not an app id", append(slices.Clone(base), "--user-assigned", "orders"), "not an application (client) id"},
		{"same identity twice", append(slices.Clone(base), "--user-assigned", app), "given twice"},
		{"no header file", []string{"identity-agent", "--system-assigned", app, "--cert", "x"}, "--header-file is required"},
		{"no certificate", []string{"identity-agent", "--system-assigned", app, "--header-file", header}, "--cert is required"},
		{"missing certificate file", base, "--cert:"},
		{"unknown group", append(slices.Clone(base), "--group", "no-such-group-portcullis"), "--group"},
		{"port in use", []string{"identity-agent", "--addr", "https://127.0.0.1:1", "--header-file", header, "--cert", cert + ".pem", "--system-assigned", app, "--listen", busy.Addr().String()},
			"is another identity agent running? give another port with --listen"},
		{"PFX without its password", []string{"identity-agent", "--addr", "https://127.0.0.1:1", "--header-file", header, "--cert", cert + ".pfx", "--system-assigned", app},
			"the PFX is protected by a password: give it with --password-file FILE or $" + envCertPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := exec(t, "", tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tc.want)
			}
			if _, err := os.Stat(header); !os.IsNotExist(err) {
				t.Errorf("the header file was written (stat: %v)", err)
			}
		})
	}
}

func TestIdentityAgent_HostCertificateFromPFXWithPasswordFile(t *testing.T) {
	dir := isolate(t)
	out := filepath.Join(dir, "web-01")
	if code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=web-01", "--out", out, "--password", "pfx-pass-8c2"); code != 0 {
		t.Fatalf("cert create: %s", errOut)
	}
	pw := filepath.Join(dir, "pfx-password")
	if err := os.WriteFile(pw, []byte("pfx-pass-8c2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		o       identityAgentOptions
		env     string
		wantErr string
	}{
		{"PEM", identityAgentOptions{certFile: out + ".pem"}, "", ""},
		{"PFX with --password-file", identityAgentOptions{certFile: out + ".pfx", passwordFile: pw}, "", ""},
		{"PFX with the environment variable", identityAgentOptions{certFile: out + ".pfx"}, "pfx-pass-8c2", ""},
		{"PFX with a wrong password", identityAgentOptions{certFile: out + ".pfx"}, "wrong", "PFX password is wrong"},
		{"PFX without a password", identityAgentOptions{certFile: out + ".pfx"}, "", "protected by a password: give it with --password-file"},
		{"certificate without its key", identityAgentOptions{certFile: out + ".cer"}, "", "--cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envCertPassword, tc.env)
			cred, err := agentCredential(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cred.IsCertificate() || cred.Certificate().Subject.CommonName != "web-01" {
				t.Errorf("credential %v", cred)
			}
		})
	}
}
