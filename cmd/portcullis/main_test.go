package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/pki"
)

// exec runs the CLI in-process and returns exit code, stdout and stderr.
func exec(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWithInput(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// isolate clears the environment the CLI reads and moves into a temp dir.
func isolate(t *testing.T) string {
	t.Helper()
	for _, k := range []string{adminclient.EnvAddr, adminclient.EnvCA, adminclient.EnvData, adminclient.EnvClientID, adminclient.EnvClientSecret, adminclient.EnvTenant} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func TestHelp_EveryCommandRendersWithLongAndExamples(t *testing.T) {
	root := newRootCommand()
	var walk func(c *cobra.Command)
	var cmds []*cobra.Command
	walk = func(c *cobra.Command) {
		cmds = append(cmds, c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for _, c := range cmds {
		path := c.CommandPath()
		// help and completion are cobra's.
		if strings.HasPrefix(path, "portcullis help") || strings.HasPrefix(path, "portcullis completion") {
			continue
		}
		t.Run(path, func(t *testing.T) {
			if c.Long == "" || c.Example == "" || c.Short == "" {
				t.Errorf("%s lacks Short, Long or Example", path)
			}
			args := append(strings.Fields(path)[1:], "--help")
			code, out, errOut := exec(t, "", args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			firstLong := strings.SplitN(c.Long, "\n", 2)[0]
			for _, want := range []string{firstLong, "Usage:", "Examples:"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestRun_ErrorsArePrefixedAndExitOne(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"app", "list", "--bogus"}, []string{"error: unknown flag: --bogus", "portcullis app list --help"}},
		{"unknown subcommand", []string{"app", "lst"}, []string{`error: unknown command "lst" for "portcullis app"`, "did you mean list?"}},
		{"unknown top-level command", []string{"nope"}, []string{`error: unknown command "nope"`}},
		{"no admin credential", []string{"app", "list"}, []string{"error: no admin credential", "admin.json does not exist", "PORTCULLIS_CLIENT_ID"}},
		{"bad output", []string{"tenant", "list", "-o", "yaml"}, []string{`error: --output "yaml": use table or json`}},
		{"empty tenant", []string{"api", "list", "--tenant", ""}, []string{"error: --tenant is empty", "'portcullis tenant list'"}},
		{"blank tenant", []string{"connector", "show", "hr", "--tenant", " "}, []string{"error: --tenant is empty"}},
		{"missing required flag", []string{"grant", "add", "--client", "a"}, []string{"error: required flag(s)", "resource", "role"}},
		{"nothing to update", []string{"app", "update", "x"}, []string{"error: nothing to update"}},
		{"bad expires", []string{"app", "secret", "add", "x", "--expires", "soon"}, []string{`error: --expires "soon"`, "180d"}},
		{"bad token lifetime", []string{"app", "create", "x", "--token-lifetime", "10s"}, []string{"error: --token-lifetime 10s", "between 5m and 24h"}},
		{"token get without credential", []string{"token", "get", "--client-id", "c", "--scope", "s"}, []string{"error: no client credential", "--secret", "--cert"}},
		{"token get with both credentials", []string{"token", "get", "--client-id", "c", "--scope", "s", "--secret", "x", "--cert", "y"}, []string{"error: give either --secret or --cert"}},
		{"token get without address", []string{"token", "get", "--client-id", "c", "--scope", "s", "--secret", "x"}, []string{"error: no server address", "--addr", "PORTCULLIS_ADDR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := exec(t, "", tc.args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1 (stdout %q)", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if strings.Count(errOut, "error:") != 1 {
				t.Errorf("stderr should have exactly one error line: %q", errOut)
			}
		})
	}
}

func TestParseExpires(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"180d", 180 * 86400, ""},
		{"1d", 86400, ""},
		{"26w", 26 * 7 * 86400, ""},
		{"2y", 2 * 365 * 86400, ""},
		{"720h", 720 * 3600, ""},
		{"90m", 5400, ""},
		{"1h30m", 5400, ""},
		{" 3d ", 3 * 86400, ""},
		{"", 0, "use a number of days"},
		{"0d", 0, "use a number of days"},
		{"-5d", 0, "use a number of days"},
		{"d", 0, "use a number of days"},
		{"1.5d", 0, "use a number of days"},
		{"abc", 0, "use a number of days"},
		{"-1h", 0, "at least 1h0m0s; give --expires 1h or more"},
		{"500ms", 0, "at least 1h0m0s"},
		{"59m", 0, "at least 1h0m0s"},
		{"1h", 3600, ""},
		{"730d", 730 * 86400, ""},
		{"3y", 0, "at most 2y (2 years); give --expires 2y or less"},
		{"731d", 0, "at most 730d (2 years); give --expires 730d or less"},
		{"105w", 0, "at most 104w (2 years); give --expires 104w or less"},
		{"17521h", 0, "at most 17520h0m0s (2 years)"},
		{"99999999999y", 0, "at most 2y"},
		{"101y", 0, "at most 2y"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseExpires(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("parseExpires(%q) = %d, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseExpires(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"1h", 3600, true}, {"5m", 300, true}, {"24h", 86400, true}, {"90m", 5400, true},
		{"4m59s", 0, false}, {"25h", 0, false}, {"1h0.5s", 0, false}, {"one hour", 0, false}, {"", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTokenLifetime(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseTokenLifetime(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
}

var passwordLine = regexp.MustCompile(`PFX password \(generated[^)]*\): (\S+)`)

func TestCertCreate_WritesReadableFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		password string
	}{
		{"rsa2048 with generated password", "rsa2048", ""},
		{"ec256 with given password", "ec256", "given-pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := isolate(t)
			args := []string{"cert", "create", "--subject", "CN=orders-client, O=Example", "--out", "client", "--key", tc.key, "--days", "30"}
			if tc.password != "" {
				args = append(args, "--password", tc.password)
			}
			code, out, errOut := exec(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			password := tc.password
			if m := passwordLine.FindStringSubmatch(out); tc.password == "" {
				if m == nil || len(m[1]) < 20 {
					t.Fatalf("no generated password in output:\n%s", out)
				}
				password = m[1]
			} else if m != nil {
				t.Errorf("a given password is printed:\n%s", out)
			}

			cer, err := os.ReadFile(filepath.Join(dir, "client.cer"))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := pki.ParseCertificateFile(cer, "")
			if err != nil {
				t.Fatalf("client.cer: %v", err)
			}
			if cert.Subject.CommonName != "orders-client" || cert.NotAfter.Sub(cert.NotBefore) < 30*24*time.Hour {
				t.Errorf("certificate subject %s validity %s..%s", cert.Subject, cert.NotBefore, cert.NotAfter)
			}
			for _, want := range []string{pki.ThumbprintSHA1Hex(cert), pki.X5TS256(cert), "client.cer", "client.pem", "client.pfx"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, f := range []struct {
				name     string
				password string
				mode     os.FileMode
			}{{"client.pem", "", 0o600}, {"client.pfx", password, 0o600}} {
				data, err := os.ReadFile(filepath.Join(dir, f.name))
				if err != nil {
					t.Fatal(err)
				}
				leaf, _, key, err := pki.ParseCertificateAndKey(data, f.password)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if !leaf.Equal(cert) || key == nil {
					t.Errorf("%s holds another certificate", f.name)
				}
				st, _ := os.Stat(filepath.Join(dir, f.name))
				if st.Mode().Perm() != f.mode {
					t.Errorf("%s mode = %v, want %v", f.name, st.Mode().Perm(), f.mode)
				}
			}
			if _, _, _, err := pki.ParseCertificateAndKey(mustRead(t, filepath.Join(dir, "client.pfx")), "wrong"); err == nil {
				t.Error("the PFX opens with a wrong password")
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCertCreate_RefusesOverwriteUnlessForce(t *testing.T) {
	dir := isolate(t)
	if err := os.WriteFile(filepath.Join(dir, "c.pfx"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=c", "--out", "c")
	if code != 1 || !strings.Contains(errOut, "c.pfx already exists") || !strings.Contains(errOut, "--force") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming c.pfx", code, errOut)
	}
	for _, f := range []string{"c.cer", "c.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written although the command was refused", f)
		}
	}
	if string(mustRead(t, filepath.Join(dir, "c.pfx"))) != "keep me" {
		t.Error("c.pfx was changed")
	}
	code, _, errOut = exec(t, "", "cert", "create", "--subject", "CN=c", "--out", "c", "--force", "--password", "pw")
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, errOut)
	}
	if _, _, _, err := pki.ParseCertificateAndKey(mustRead(t, filepath.Join(dir, "c.pfx")), "pw"); err != nil {
		t.Errorf("overwritten c.pfx: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "c.pfx")); st.Mode().Perm() != 0o600 {
		t.Errorf("overwritten c.pfx mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestCertCreate_ValidatesFlags(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no CN", []string{"--subject", "O=x", "--out", "a"}, "--subject"},
		{"bad key", []string{"--subject", "CN=a", "--out", "a", "--key", "dsa"}, "--key"},
		{"zero days", []string{"--subject", "CN=a", "--out", "a", "--days", "0"}, "--days 0"},
		{"missing out", []string{"--subject", "CN=a"}, `required flag(s) "out"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := exec(t, "", append([]string{"cert", "create"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %q", code, errOut, tc.want)
			}
		})
	}
}

// fakeServer is a TLS server with a token endpoint and a few admin routes,
// enough to check what the CLI sends and prints; the real server is tested
// end to end elsewhere.
type fakeServer struct {
	addr, caFile string
	mu           sync.Mutex
	forms        []map[string][]string
	bodies       map[string]string
	// answers are the canned admin answers by route, "STATUS BODY"
	// (set with answer); see the gateway routes below.
	answers map[string]string
}

// answer makes the fake answer route (one of the gateway routes) with
// status and body.
func (fs *fakeServer) answer(route string, status int, body string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.answers[route] = fmt.Sprintf("%d %s", status, body)
}

func startFakeServer(t *testing.T, dir string) *fakeServer {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{caFile: filepath.Join(dir, "ca.pem"), bodies: map[string]string{}, answers: map[string]string{}}
	if err := os.WriteFile(fs.caFile, pki.EncodeCertificatePEM(ca), 0o644); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	jwt := b64(`{"alg":"RS256","typ":"JWT","kid":"k1"}`) + "." + b64(`{"aud":"api://orders","roles":["Orders.Read"]}`) + ".c2ln"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		fs.mu.Lock()
		form := map[string][]string(r.PostForm)
		form["tenant"] = []string{r.PathValue("tenant")}
		fs.forms = append(fs.forms, form)
		fs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, jwt)
	})
	mux.HandleFunc("POST /admin/v1/tenants/default/applications/{app}/passwordCredentials", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fs.mu.Lock()
		fs.bodies["secret"] = string(b)
		fs.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id":"p1","hint":"Abc","description":"ci","startDateTime":"2030-01-01T00:00:00Z","endDateTime":"2030-03-01T00:00:00Z","createdAt":"2030-01-01T00:00:00Z","secretText":"Abc~the-secret-text"}`)
	})
	mux.HandleFunc("POST /admin/v1/tenants/default/applications/{app}/keyCredentials", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fs.mu.Lock()
		fs.bodies["cert"] = string(b)
		fs.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id":"k1","description":"","thumbprint":"AB","x5tS256":"cd","subject":"CN=c","startDateTime":"2030-01-01T00:00:00Z","endDateTime":"2031-01-01T00:00:00Z","createdAt":"2030-01-01T00:00:00Z"}`)
	})
	for _, route := range []string{"GET /admin/v1/gateway", "GET /admin/v1/tenants/default/apis/{name}", "POST /admin/v1/tenants/default/apis/{name}/explain"} {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fs.mu.Lock()
			fs.bodies[route] = string(b)
			a, ok := fs.answers[route]
			fs.mu.Unlock()
			status, body, _ := strings.Cut(a, " ")
			if !ok {
				status, body = "404", `{"error":{"code":"NotFound","message":"nothing here"}}`
			}
			code, _ := strconv.Atoi(status)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprint(w, body)
		})
	}
	mux.HandleFunc("GET /admin/v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value":[{"id":"t1","name":"default","createdAt":"2030-01-01T00:00:00Z"}]}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	fs.addr = "https://" + ln.Addr().String()
	return fs
}

// writeDevCredential writes DATA/admin.json for the fake server.
func (fs *fakeServer) writeDevCredential(t *testing.T, dataDir string) {
	t.Helper()
	os.MkdirAll(dataDir, 0o700)
	b, _ := json.Marshal(map[string]string{"addr": fs.addr, "ca": fs.caFile, "tenantId": "t1", "clientId": "admin", "clientSecret": "admin-secret", "scope": adminclient.ManagementScope})
	if err := os.WriteFile(filepath.Join(dataDir, "admin.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTokenGet_SecretFromStdinAndDecode(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	code, out, errOut := exec(t, "the-secret\n", "token", "get", "--addr", fs.addr, "--ca", fs.caFile,
		"--client-id", "c1", "--secret", "-", "--scope", "api://orders/.default", "--tenant", "contoso", "--decode")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	form := fs.forms[len(fs.forms)-1]
	if form["client_secret"][0] != "the-secret" || form["client_id"][0] != "c1" || form["tenant"][0] != "contoso" || form["scope"][0] != "api://orders/.default" {
		t.Errorf("form = %v", form)
	}
	for _, want := range []string{"eyJ", "signature NOT verified", `"kid": "k1"`, `"Orders.Read"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = exec(t, "", "token", "get", "--addr", fs.addr, "--ca", fs.caFile, "--client-id", "c1", "--secret", "s", "--scope", "x/.default", "-o", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	var resp map[string]any
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp["ext_expires_in"] != float64(3599) || resp["token_type"] != "Bearer" {
		t.Errorf("json output = %s (%v), want the full token response", out, err)
	}
}

func TestTokenGet_CertificateFromCertCreateAndDevDataDir(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	if code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=client", "--out", "client", "--password", "pw"); code != 0 {
		t.Fatal(errOut)
	}
	// Address and CA come from ./portcullis-data/admin.json; no admin credential is used.
	code, out, errOut := exec(t, "", "token", "get", "--client-id", "c2", "--cert", "client.pfx", "--password", "pw", "--scope", "api://orders/.default")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	form := fs.forms[len(fs.forms)-1]
	if form["client_assertion_type"][0] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || form["client_secret"] != nil || form["tenant"][0] != "default" {
		t.Errorf("form = %v", form)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "eyJ") {
		t.Errorf("table output should be the token alone: %q", out)
	}
}

func TestAppSecretAdd_ShowsSecretOnceWithWarning(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	code, out, errOut := exec(t, "", "app", "secret", "add", "orders-client", "--expires", "8w", "--description", "ci")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Abc~the-secret-text") || !strings.Contains(out, "will not be shown again") {
		t.Errorf("output:\n%s", out)
	}
	if got := fs.bodies["secret"]; got != `{"description":"ci","expiresInSeconds":4838400}` {
		t.Errorf("request body = %s", got)
	}
	code, out, _ = exec(t, "", "app", "secret", "add", "orders-client", "-o", "json")
	var p map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p["secretText"] != "Abc~the-secret-text" || p["endDateTime"] != "2030-03-01T00:00:00Z" {
		t.Errorf("json output = %s", out)
	}
	if got := fs.bodies["secret"]; got != `{}` {
		t.Errorf("without --expires the body should leave the default to the server: %s", got)
	}
}

func TestAppCertAdd_UploadsOnlyThePublicCertificate(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	if code, _, errOut := exec(t, "", "cert", "create", "--subject", "CN=client", "--out", "client", "--password", "pw"); code != 0 {
		t.Fatal(errOut)
	}
	cert, err := pki.ParseCertificateFile(mustRead(t, "client.cer"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"client.pfx", "client.pem", "client.cer"} {
		t.Run(file, func(t *testing.T) {
			code, out, errOut := exec(t, "", "app", "cert", "add", "orders-client", file, "--password", "pw")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var body struct {
				Certificate []byte `json:"certificate"`
				Password    string `json:"password"`
			}
			if err := json.Unmarshal([]byte(fs.bodies["cert"]), &body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body.Certificate, cert.Raw) || body.Password != "" {
				t.Errorf("uploaded %d bytes (password %q), want the DER certificate only", len(body.Certificate), body.Password)
			}
			if !strings.Contains(out, "THUMBPRINT (SHA-1)") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
	code, _, errOut := exec(t, "", "app", "cert", "add", "orders-client", "client.pfx", "--password", "wrong")
	if code != 1 || !strings.Contains(errOut, "client.pfx") {
		t.Errorf("wrong PFX password: exit %d, %q", code, errOut)
	}
}

func TestTenantList_TableAndJSON(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	code, out, errOut := exec(t, "", "tenant", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^ID\s+NAME\s+CREATED$`).MatchString(out) || !strings.Contains(out, "t1  default") {
		t.Errorf("exit %d, stdout:\n%s\nstderr %s", code, out, errOut)
	}
	code, out, _ = exec(t, "", "tenant", "list", "-o", "json")
	want := "{\n  \"value\": [\n    {\n      \"id\": \"t1\",\n      \"name\": \"default\",\n      \"createdAt\": \"2030-01-01T00:00:00Z\"\n    }\n  ]\n}\n"
	if code != 0 || out != want {
		t.Errorf("json = %q, want %q", out, want)
	}
}
