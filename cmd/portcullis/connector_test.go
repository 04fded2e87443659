package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/pki"
)

// applyConnectorArgs parses args as the flags of 'connector create' and
// applies them to base.
func applyConnectorArgs(base directory.Connector, args ...string) (directory.Connector, error) {
	var cf connectorFlags
	fs := pflag.NewFlagSet("connector", pflag.ContinueOnError)
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return base, err
	}
	c := base
	err := cf.apply(fs, &c)
	return c, err
}

func TestConnectorFlags_MapToTheAdminAPIsJSON(t *testing.T) {
	dir := t.TempDir()
	ca, key, err := pki.NewCA("hr CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	// A CA file that also holds the key: only the certificate is sent.
	if err := os.WriteFile(caFile, append([]byte(caPEM), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"basic", []string{"--endpoint", "https://hr.example.com/x", "--auth", "basic", "--username", "u", "--password", "vault://default/secrets/p",
			"--input-claim", "appid=clientId", "--input-claim", "tid", "--output-claim", "department=dept", "--timeout", "2500ms", "--retries", "2"},
			`{"tenantId":"","name":"hr","endpoint":"https://hr.example.com/x","authentication":{"type":"basic","username":"u","password":"vault://default/secrets/p"},
			  "inputClaims":[{"claimType":"appid","partnerClaimType":"clientId"},{"claimType":"tid"}],"outputClaims":[{"claimType":"department","partnerClaimType":"dept"}],
			  "timeoutSeconds":2.5,"retries":2,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"client certificate with TLS", []string{"--endpoint", "https://hr:8443", "--auth", "clientCertificate", "--certificate", "vault://default/certificates/c",
			"--ca", caFile, "--ca", "vault://default/certificates/ca", "--server-name", "hr.internal", "--pin", pin, "--send-claims-in", "header"},
			`{"tenantId":"","name":"hr","endpoint":"https://hr:8443","authentication":{"type":"clientCertificate","certificate":"vault://default/certificates/c"},
			  "tls":{"caCertificates":[` + jsonOf(t, caPEM) + `,"vault://default/certificates/ca"],"serverName":"hr.internal","pinnedThumbprints":["` + pin + `"]},
			  "sendClaimsIn":"header","revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"bearer by client credentials", []string{"--endpoint", "https://x", "--auth", "bearer", "--token-authority", "https://login/t", "--client-id", "c",
			"--client-certificate", "vault://default/certificates/cc", "--scope", "api://x/.default", "--attach-resource", "orders", "--attach-client", "billing", "--failure-policy", "failOpen"},
			`{"tenantId":"","name":"hr","endpoint":"https://x","authentication":{"type":"bearer","clientCredentials":{"authority":"https://login/t","clientId":"c","clientCertificate":"vault://default/certificates/cc","scope":"api://x/.default"}},
			  "tokenIssuance":{"resourceApps":["orders"],"clientApps":["billing"],"failurePolicy":"failOpen"},"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"api key header over http", []string{"--endpoint", "http://127.0.0.1:7071/api", "--auth", "apiKeyHeader", "--header", "x-functions-key", "--key", "vault://default/secrets/k", "--allow-insecure-auth", "--skip-chain-validation"},
			`{"tenantId":"","name":"hr","endpoint":"http://127.0.0.1:7071/api","authentication":{"type":"apiKeyHeader","header":"x-functions-key","key":"vault://default/secrets/k"},
			  "tls":{"skipChainValidation":true},"allowInsecureAuth":true,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := applyConnectorArgs(directory.Connector{Name: "hr"}, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := compactJSON(t, jsonOf(t, c)), compactJSON(t, tc.want); got != want {
				t.Fatalf("\n got  %s\n want %s", got, want)
			}
		})
	}
}

func TestConnectorFlags_ReplaceWhatTheyNameAndKeepTheRest(t *testing.T) {
	base := directory.Connector{
		Name: "hr", Endpoint: "https://hr",
		Authentication: outbound.CredentialSpec{Type: outbound.TypeBearer, ClientCredentials: &outbound.ClientCredentialsSpec{Authority: "https://a", ClientID: "c", ClientSecret: "vault://v1x/secrets/s", Scope: "s"}},
		TLS:            &outbound.TLSSpec{ServerName: "hr.internal", PinnedThumbprints: []string{"p"}},
		InputClaims:    []directory.ConnectorClaim{{ClaimType: "a"}},
		TokenIssuance:  &directory.ConnectorTokenIssuance{ResourceApps: []string{"r"}, FailurePolicy: directory.FailClosed},
	}
	for _, tc := range []struct {
		name  string
		args  []string
		check func(directory.Connector) bool
	}{
		{"client certificate replaces the secret, keeps the rest", []string{"--client-certificate", "vault://v1x/certificates/c"}, func(c directory.Connector) bool {
			cc := c.Authentication.ClientCredentials
			return cc.ClientSecret == "" && cc.ClientCertificate == "vault://v1x/certificates/c" && cc.Authority == "https://a" && cc.ClientID == "c"
		}},
		{"token endpoint replaces the authority", []string{"--token-endpoint", "https://t/token"}, func(c directory.Connector) bool {
			cc := c.Authentication.ClientCredentials
			return cc.Authority == "" && cc.TokenEndpoint == "https://t/token"
		}},
		{"a static token drops client credentials", []string{"--token", "vault://v1x/secrets/t"}, func(c directory.Connector) bool {
			return c.Authentication.ClientCredentials == nil && c.Authentication.Token == "vault://v1x/secrets/t"
		}},
		{"the same --auth keeps the fields", []string{"--auth", "bearer", "--scope", "s2"}, func(c directory.Connector) bool {
			return c.Authentication.ClientCredentials.ClientID == "c" && c.Authentication.ClientCredentials.Scope == "s2"
		}},
		{"another --auth starts from nothing", []string{"--auth", "basic", "--username", "u", "--password", "vault://v1x/secrets/p"}, func(c directory.Connector) bool {
			return c.Authentication == outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://v1x/secrets/p"}
		}},
		{"--server-name keeps the pins", []string{"--server-name", "other"}, func(c directory.Connector) bool {
			return c.TLS.ServerName == "other" && len(c.TLS.PinnedThumbprints) == 1
		}},
		{"--no-tls drops TLS", []string{"--no-tls"}, func(c directory.Connector) bool { return c.TLS == nil }},
		{"an empty --pin is sent, for the server to refuse", []string{"--server-name", "", "--pin", ""}, func(c directory.Connector) bool { return c.TLS != nil && c.TLS.PinnedThumbprints[0] == "" }},
		{"--no-input-claims", []string{"--no-input-claims"}, func(c directory.Connector) bool { return c.InputClaims == nil }},
		{"--attach-client keeps the resources", []string{"--attach-client", "b"}, func(c directory.Connector) bool {
			return c.TokenIssuance.ResourceApps[0] == "r" && c.TokenIssuance.ClientApps[0] == "b"
		}},
		{"--detach", []string{"--detach"}, func(c directory.Connector) bool { return c.TokenIssuance == nil }},
		{"--endpoint alone keeps everything else", []string{"--endpoint", "https://new"}, func(c directory.Connector) bool {
			return c.Endpoint == "https://new" && c.TLS.ServerName == "hr.internal" && c.Authentication.ClientCredentials.ClientID == "c"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			ti, tls, cc := *base.TokenIssuance, *base.TLS, *base.Authentication.ClientCredentials
			b.TokenIssuance, b.TLS, b.Authentication.ClientCredentials = &ti, &tls, &cc
			c, err := applyConnectorArgs(b, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("after %v: %s", tc.args, jsonOf(t, c))
			}
		})
	}
}

func TestConnectorFlags_RefuseContradictions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", "vault://v1x/secrets/t", "--client-id", "c"}, "contradict"},
		{[]string{"--client-secret", "vault://v1x/secrets/s", "--client-certificate", "vault://v1x/certificates/c"}, "alternatives"},
		{[]string{"--token-authority", "https://a", "--token-endpoint", "https://t"}, "alternatives"},
		{[]string{"--no-tls", "--pin", "x"}, "contradict"},
		{[]string{"--detach", "--attach-client", "x"}, "contradict"},
		{[]string{"--input-claim", "a", "--no-input-claims"}, "contradict"},
		{[]string{"--input-claim", "=x"}, "CLAIM=NAME"},
		{[]string{"--input-claim", "appid="}, `--input-claim "appid=": use CLAIM or CLAIM=NAME`},
		{[]string{"--output-claim", "department="}, `--output-claim "department=": use CLAIM or CLAIM=NAME`},
		{[]string{"--timeout", "3m"}, "2m"},
		{[]string{"--ca", "/does/not/exist.pem"}, "ca"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := applyConnectorArgs(directory.Connector{Name: "hr"}, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConnectorFromFile_ReadsJSONAndYAMLAndRefusesUnknownFields(t *testing.T) {
	c, err := readConnectorFile("-", strings.NewReader("name: hr\nendpoint: https://hr\nauthentication: {type: basic, username: u, password: 'vault://default/secrets/p'}\ninputClaims: [{claimType: appid}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "hr" || c.Authentication.Password != "vault://default/secrets/p" || c.InputClaims[0].ClaimType != "appid" {
		t.Fatalf("read %+v", c)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"name":"hr","authentication":{"type":"basic","user":"u"}}`, `"authentication.user"`},
		{`{"name":"hr","Endpoint":"x"}`, `"Endpoint"`},
		{`{"name":"hr","inputClaims":[{"claimtype":"a"}]}`, `"inputClaims[0].claimtype"`},
		{`[1]`, "connector show"},
		{`{"retries":"x"}`, "retries"},
	} {
		if _, err := readConnectorFile("-", strings.NewReader(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %s", tc.doc, err, tc.want)
		}
	}
}

// TestE2E_ConnectorCommandsAgainstRealServer drives 'connector create|show|
// list|update|delete' through a real dev server, with the vault refusing to
// delete a secret a connector uses.
func TestE2E_ConnectorCommandsAgainstRealServer(t *testing.T) {
	s := startDevServer(t)
	s.addSecret("hunter2-connector")
	s.ok(t, "hunter2-connector\n", "secret", "set", "hr-password", "--value", "-")
	s.ok(t, "token-value\n", "secret", "set", "hr-token", "--value", "-")
	app := s.okJSON(t, "", "app", "create", "orders")

	created := s.okJSON(t, "", "connector", "create", "hr", "--endpoint", "https://hr.example.com/enrich",
		"--auth", "basic", "--username", "portcullis", "--password", "vault://default/secrets/hr-password",
		"--input-claim", "appid=clientId", "--output-claim", "department", "--attach-resource", "orders")
	wantFields(t, "created connector", created, []string{"tenantId", "name", "endpoint", "authentication", "sendClaimsIn", "inputClaims", "outputClaims", "tokenIssuance", "revision", "createdAt", "updatedAt"})
	if ti := created["tokenIssuance"].(map[string]any); ti["resourceApps"].([]any)[0] != app["appId"] || ti["failurePolicy"] != "failClosed" {
		t.Errorf("tokenIssuance %v, want the app id of orders and failClosed", ti)
	}
	rev := created["revision"].(float64)

	out := s.ok(t, "", "connector", "show", "hr")
	for _, w := range []string{"Name:", "hr", "https://hr.example.com/enrich", "basic: user portcullis, password vault://default/secrets/hr-password", "appid as clientId", "department", "10s (default)", "failClosed"} {
		if !strings.Contains(out, w) {
			t.Errorf("connector show lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "WARNING") {
		t.Errorf("connector show warns about a validated chain:\n%s", out)
	}
	out = s.ok(t, "", "connector", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "hr") || !strings.Contains(out, "basic") {
		t.Errorf("connector list:\n%s", out)
	}
	if l := values(t, "connector list", s.okJSON(t, "", "connector", "list")); len(l) != 1 || str(l[0]["name"]) != "hr" {
		t.Errorf("connector list -o json: %v", l)
	}

	// The vault refuses to delete the password while the connector uses it.
	code, _, errOut := s.cli(t, "", "secret", "delete", "hr-password")
	if want := "error: delete secret hr-password: Secret hr-password cannot be deleted: it is referenced by connector/default/hr; remove those references first (Conflict)"; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("secret delete of a referenced secret: exit %d, %q, want %q", code, errOut, want)
	}

	updated := s.okJSON(t, "", "connector", "update", "hr", "--auth", "bearer", "--token", "vault://default/secrets/hr-token",
		"--skip-chain-validation", "--pin", strings.Repeat("AB", 32), "--timeout", "5s")
	if updated["revision"].(float64) <= rev || updated["timeoutSeconds"] != 5.0 {
		t.Errorf("after update: %v", updated)
	}
	out = s.ok(t, "", "connector", "show", "hr")
	if !strings.Contains(out, "chain NOT validated") || !strings.Contains(out, "WARNING: the endpoint's certificate chain is not validated") {
		t.Errorf("connector show hides skipChainValidation:\n%s", out)
	}
	// The old password is released, the token is not.
	s.ok(t, "", "secret", "delete", "hr-password")
	if code, _, errOut := s.cli(t, "", "secret", "delete", "hr-token"); code != 1 || !strings.Contains(errOut, "connector/default/hr") {
		t.Fatalf("secret delete of the new reference: exit %d, %q", code, errOut)
	}

	file := filepath.Join(s.dir, "audit.yaml")
	os.WriteFile(file, []byte("name: audit\nendpoint: http://127.0.0.1:9/audit\nsendClaimsIn: query\ninputClaims: [{claimType: appid}]\n"), 0o600)
	audit := s.okJSON(t, "", "connector", "create", "--from-file", file, "--retries", "1")
	if audit["name"] != "audit" || audit["retries"] != 1.0 || audit["sendClaimsIn"] != "query" {
		t.Errorf("created from file: %v", audit)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"duplicate", []string{"connector", "create", "hr", "--endpoint", "https://x"}, []string{`"hr"`, "already"}},
		{"literal password", []string{"connector", "create", "x", "--endpoint", "https://x", "--auth", "basic", "--username", "u", "--password", "hunter2-connector"}, []string{"authentication.password", "vault://"}},
		{"missing secret", []string{"connector", "create", "x", "--endpoint", "https://x", "--auth", "bearer", "--token", "vault://default/secrets/nope"}, []string{"authentication.token", "nope"}},
		{"basic over http", []string{"connector", "create", "x", "--endpoint", "http://x", "--auth", "basic", "--username", "u", "--password", "vault://default/secrets/hr-token"}, []string{"allowInsecureAuth"}},
		{"the app taken", []string{"connector", "create", "x", "--endpoint", "https://x", "--attach-resource", "orders"}, []string{`"hr"`, "at most one"}},
		{"unknown connector", []string{"connector", "show", "nope"}, []string{`no connector named "nope"`}},
		{"update without flags", []string{"connector", "update", "hr"}, []string{"nothing to change"}},
		{"unknown tenant", []string{"connector", "list", "--tenant", "nowhere"}, []string{"nowhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.cli(t, "", tc.args...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "error: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}

	if out := s.ok(t, "", "connector", "delete", "hr"); out != "deleted connector hr\n" {
		t.Errorf("delete printed %q", out)
	}
	s.ok(t, "", "secret", "delete", "hr-token")
	if code, _, errOut := s.cli(t, "", "connector", "show", "hr"); code != 1 || !strings.Contains(errOut, "hr") {
		t.Errorf("show after delete: %d %q", code, errOut)
	}
}

// FuzzReadConnectorFile feeds any file to --from-file: it is read or refused
// with an error naming the flag, never a panic.
func FuzzReadConnectorFile(f *testing.F) {
	for _, s := range []string{
		"name: hr\nendpoint: https://hr\nauthentication: {type: basic, username: u, password: 'vault://v1x/secrets/p'}\n",
		`{"name":"a","tls":{"pinnedThumbprints":["ab"]},"tokenIssuance":{"clientApps":["x"]}}`,
		"name: &a x\nb: *a\n", "- 1\n", "{", "null", "", "inputClaims: [{claimtype: a}]\n", "timeoutSeconds: 1e999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := readConnectorFile("-", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--from-file") {
				t.Fatalf("error without its flag: %v", err)
			}
			return
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("read a connector that does not marshal: %v", err)
		}
	})
}

// TestShow_SkippedCertificateValidationIsLoud: 'connector show' and 'api
// show' say on a line of their own when the peer's certificate is not
// validated, and stay quiet when it is.
func TestShow_SkippedCertificateValidationIsLoud(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		show func(p *printer) error
		want string // "" for no warning
	}{
		{"connector validated", func(p *printer) error {
			return showConnector(p, directory.Connector{Name: "c", TLS: &outbound.TLSSpec{ServerName: "h"}})
		}, ""},
		{"connector skipped and pinned", func(p *printer) error {
			return showConnector(p, directory.Connector{Name: "c", TLS: &outbound.TLSSpec{SkipChainValidation: true, PinnedThumbprints: []string{pin}}})
		}, "WARNING: the endpoint's certificate chain is not validated"},
		{"connector skipped without pin", func(p *printer) error {
			return showConnector(p, directory.Connector{Name: "c", TLS: &outbound.TLSSpec{SkipChainValidation: true}})
		}, "WARNING: the endpoint's certificate is not validated at all"},
		{"API verified", func(p *printer) error {
			return showAPI(p, directory.API{Name: "a", Backend: directory.Backend{TLS: &directory.BackendTLS{ServerName: "h"}}})
		}, ""},
		{"API not verified", func(p *printer) error {
			return showAPI(p, directory.API{Name: "a", Backend: directory.Backend{TLS: &directory.BackendTLS{SkipChainValidation: true}}})
		}, "WARNING: the backend's certificate is not verified"},
		{"API pinned without chain", func(p *printer) error {
			return showAPI(p, directory.API{Name: "a", Backend: directory.Backend{TLS: &directory.BackendTLS{SkipChainValidation: true, PinnedThumbprints: []string{"ab"}}}})
		}, "WARNING: the backend's certificate chain is not validated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.show(&printer{w: &b}); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && strings.Contains(b.String(), "WARNING"):
				t.Fatalf("a warning without cause:\n%s", b.String())
			case tc.want != "" && !strings.Contains(b.String(), tc.want):
				t.Fatalf("no %q in:\n%s", tc.want, b.String())
			}
		})
	}
}

// TestE2E_ConnectorInvokeExplainsEachAnswer drives 'connector invoke'
// through a real dev server against a loopback endpoint that answers each
// response class in turn.
func TestE2E_ConnectorInvokeExplainsEachAnswer(t *testing.T) {
	s := startDevServer(t)
	s.addSecret("hunter2-invoke")
	s.ok(t, "hunter2-invoke\n", "secret", "set", "ep-password", "--value", "-")
	answers := []struct {
		status int
		body   string
	}{
		{200, `{"version":"1.0.0","action":"Continue","dept":"Finance"}`},
		{200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Suspended."}`},
		{400, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Unknown cost centre."}`},
		{502, `<html>bad gateway</html>`},
	}
	var mu sync.Mutex
	next, gotAuth := 0, ""
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answers[next%len(answers)]
		next++
		gotAuth = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.ok(t, "", "connector", "create", "ep", "--endpoint", "http://"+ln.Addr().String()+"/enrich", "--allow-insecure-auth",
		"--auth", "basic", "--username", "portcullis", "--password", "vault://default/secrets/ep-password",
		"--input-claim", "appid=clientId", "--input-claim", "roles", "--output-claim", "department=dept")

	out := s.ok(t, "", "connector", "invoke", "ep", "--claim", "appid=app-1", "--claim", "roles=A", "--claim", "roles=B")
	for _, w := range []string{"Request:   POST http://", "Authorization: [redacted]", `body: {"clientId":"app-1","roles":["A","B"]}`,
		"Response:  200 OK, application/json", "Decision:  continue", `department = "Finance"`, "Attempts:  1"} {
		if !strings.Contains(out, w) {
			t.Errorf("invoke (continue) lacks %q:\n%s", w, out)
		}
	}
	mu.Lock()
	if gotAuth != "Basic cG9ydGN1bGxpczpodW50ZXIyLWludm9rZQ==" {
		t.Errorf("the endpoint got Authorization %q", gotAuth)
	}
	mu.Unlock()
	for _, tc := range []struct{ stdout, stderr string }{
		{"Decision:  block — the flow stops; the user sees: Suspended.", "error: connector ep blocked: Suspended."},
		{"Decision:  validation error — the flow stops with: Unknown cost centre.", "error: connector ep refused with a validation error: Unknown cost centre."},
		{"Decision:  error — ", "error: connector ep failed: "},
	} {
		code, out, errOut := s.cli(t, "", "connector", "invoke", "ep", "--claim", "appid=app-1")
		if code != 1 || !strings.Contains(out, tc.stdout) || !strings.HasPrefix(errOut, tc.stderr) {
			t.Errorf("exit %d\nstdout %s\nstderr %s\nwant %q and %q", code, out, errOut, tc.stdout, tc.stderr)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("invoke shows the password:\n%s", out)
		}
	}
	inv := s.okJSON(t, "", "connector", "invoke", "ep", "--claim", "appid=app-1")
	wantFields(t, "invocation", inv, []string{"connector", "request", "response", "decision", "outputClaims", "attempts", "durationMs"})
	if code, _, errOut := s.cli(t, "", "connector", "invoke", "ep", "--claim", "novalue"); code != 1 || !strings.Contains(errOut, "CLAIM=VALUE") {
		t.Errorf("a --claim without '=': exit %d, %q", code, errOut)
	}
}

// TestTLSFlags_CAsAndSkippedChainValidationReplaceEachOther: the server
// refuses CAs with skipChainValidation, so on a connector or an API that
// holds one, the flag of the other replaces it rather than leading to a
// refusal that no single update could get out of.
func TestTLSFlags_CAsAndSkippedChainValidationReplaceEachOther(t *testing.T) {
	const ca, pin = "vault://default/certificates/hr-ca", "de9f4df119dd5815bdfdd3e505955e3f4b442f5284e8f17c3ff87494fc3d4cef"
	withCA := outbound.TLSSpec{CACertificates: []string{ca}, ServerName: "hr.internal"}
	skipped := outbound.TLSSpec{SkipChainValidation: true, PinnedThumbprints: []string{pin}}
	for _, tc := range []struct {
		name   string
		stored outbound.TLSSpec
		args   []string
		want   outbound.TLSSpec
	}{
		{"--skip-chain-validation replaces the CAs", withCA, []string{"--skip-chain-validation", "--pin", pin},
			outbound.TLSSpec{ServerName: "hr.internal", SkipChainValidation: true, PinnedThumbprints: []string{pin}}},
		{"--ca turns chain validation back on", skipped, []string{"--ca", ca},
			outbound.TLSSpec{CACertificates: []string{ca}, PinnedThumbprints: []string{pin}}},
		{"--skip-chain-validation=false keeps the CAs", withCA, []string{"--skip-chain-validation=false"}, withCA},
		{"both at once are sent, for the server to refuse", outbound.TLSSpec{}, []string{"--ca", ca, "--skip-chain-validation"},
			outbound.TLSSpec{CACertificates: []string{ca}, SkipChainValidation: true}},
		{"--pin alone keeps the CAs", withCA, []string{"--pin", pin},
			outbound.TLSSpec{CACertificates: []string{ca}, ServerName: "hr.internal", PinnedThumbprints: []string{pin}}},
	} {
		t.Run("connector/"+tc.name, func(t *testing.T) {
			stored := tc.stored
			c, err := applyConnectorArgs(directory.Connector{Name: "hr", Endpoint: "https://hr", TLS: &stored}, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, c.TLS), jsonOf(t, tc.want); g != w {
				t.Errorf("after %v:\n got  %s\n want %s", tc.args, g, w)
			}
		})
		t.Run("api/"+tc.name, func(t *testing.T) {
			stored := directory.BackendTLS(tc.stored)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.Replace(a, "--", "--backend-", 1)
			}
			api, err := applyArgs(directory.API{Name: "orders", Backend: directory.Backend{URLs: []string{"https://b"}, TLS: &stored}}, args...)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, api.Backend.TLS), jsonOf(t, directory.BackendTLS(tc.want)); g != w {
				t.Errorf("after %v:\n got  %s\n want %s", args, g, w)
			}
		})
	}
}
