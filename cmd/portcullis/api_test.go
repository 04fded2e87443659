package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

// applyArgs parses args as the flags of 'api create' and applies them to base.
func applyArgs(base directory.API, args ...string) (directory.API, error) {
	var af apiFlags
	fs := pflag.NewFlagSet("api", pflag.ContinueOnError)
	af.register(fs)
	if err := fs.Parse(args); err != nil {
		return base, err
	}
	api := base
	err := af.apply(fs, &api)
	return api, err
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compactJSON normalizes a JSON text for comparison.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in the test: %v\n%s", err, s)
	}
	return jsonOf(t, v)
}

func TestAPIFlags_MapToTheAdminAPIsJSON(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := pki.NewCA("backend CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	caJSON := jsonOf(t, caPEM)
	cases := []struct {
		name string
		args []string
		want string // the API's JSON, read-only fields zero
	}{
		{"match, backend and basic", []string{
			"--host", "api.example.com", "--host", "*.example.org", "--path-prefix", "/claims", "--method", "get", "--method", "POST",
			"--backend", "http://127.0.0.1:7071", "--strip-path-prefix", "--basic-user", "connector=vault://default/secrets/pw",
			"--basic-user", "a=b=vault://default/secrets/pw2", "--description", "claims",
		}, `{"tenantId":"","name":"","description":"claims","match":{"hosts":["api.example.com","*.example.org"],"pathPrefix":"/claims","methods":["GET","POST"]},
			"backend":{"urls":["http://127.0.0.1:7071"],"stripPathPrefix":true},
			"policy":{"methods":[{"type":"basic","users":[{"name":"connector","password":"vault://default/secrets/pw"},{"name":"a=b","password":"vault://default/secrets/pw2"}]}]},
			"principalHeaders":null,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"method order is the order of the first flag of each", []string{
			"--audience", "api://orders", "--api-key", "k1=vault://default/secrets/k1", "--bearer-tenant", "default",
			"--client-cert-thumbprint", "AB", "--api-key-header", "x-functions-key", "--basic-user", "u=vault://default/secrets/u",
			"--role", "Orders.Read", "--role", "Orders.Write", "--require", "ALL", "--allowed-tenant", "t1", "--allowed-app", "a1", "--allowed-object-id", "o1", "--scope", "s1",
		}, `{"tenantId":"","name":"","match":{"pathPrefix":""},"backend":{"urls":null},"policy":{"methods":[
			{"type":"bearer","issuers":[{"tenant":"default"}],"audiences":["api://orders"]},
			{"type":"apiKey","header":"x-functions-key","keys":[{"name":"k1","secret":"vault://default/secrets/k1"}]},
			{"type":"clientCertificate","pins":[{"thumbprint":"AB"}]},
			{"type":"basic","users":[{"name":"u","password":"vault://default/secrets/u"}]}],
			"rules":{"roles":["Orders.Read","Orders.Write"],"scopes":["s1"],"require":"all","tenants":["t1"],"applications":["a1"],"objectIds":["o1"]}},
			"principalHeaders":null,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"certificates from files and vault, pins in pairs, TLS and timeouts", []string{
			"--client-ca", caFile, "--client-ca", "vault://default/certificates/ca", "--client-cert-subject", "CN=a", "--client-cert-issuer", "CN=ca",
			"--client-cert-subject", "CN=b", "--client-cert-issuer", "CN=ca2", "--backend-ca", caFile, "--backend-server-name", "orders.internal",
			"--backend-insecure-skip-verify", "--connect-timeout", "2500ms", "--response-header-timeout", "1m", "--idle-timeout", "0s",
			"--allow-insecure-auth", "--principal-header", "X-Caller=subject", "--principal-header", "X-Roles=roles",
			"--bearer-issuer", "https://login.microsoftonline.com/x/v2.0", "--algorithm", "ES256", "--audience", "a", "--realm", "orders",
		}, `{"tenantId":"","name":"","match":{"pathPrefix":""},"backend":{"urls":null,"tls":{"caCertificates":[` + caJSON + `],"serverName":"orders.internal","skipChainValidation":true},
			"timeouts":{"connectSeconds":2.5,"responseHeaderSeconds":60}},
			"policy":{"methods":[
			{"type":"clientCertificate","trustedCAs":[` + caJSON + `,"vault://default/certificates/ca"],"pins":[{"subject":"CN=a","issuer":"CN=ca"},{"subject":"CN=b","issuer":"CN=ca2"}]},
			{"type":"bearer","issuers":[{"issuer":"https://login.microsoftonline.com/x/v2.0"}],"audiences":["a"],"algorithms":["ES256"]}],"realm":"orders"},
			"principalHeaders":{"X-Caller":"subject","X-Roles":"roles"},"allowInsecureAuth":true,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"backend client certificate, pins and chain skipped", []string{
			"--backend", "https://orders.internal", "--backend-auth", "clientCertificate", "--backend-certificate", "vault://default/certificates/gw",
			"--backend-pin", "AB:CD", "--backend-skip-chain-validation",
		}, `{"tenantId":"","name":"","match":{"pathPrefix":""},"backend":{"urls":["https://orders.internal"],"tls":{"pinnedThumbprints":["AB:CD"],"skipChainValidation":true},
			"credential":{"type":"clientCertificate","certificate":"vault://default/certificates/gw"}},"policy":{},
			"principalHeaders":null,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"backend bearer by client credentials over http", []string{
			"--backend-auth", "bearer", "--backend-token-authority", "https://login.example/t1", "--backend-client-id", "c1",
			"--backend-client-secret", "vault://default/secrets/cs", "--backend-scope", "api://b/.default", "--backend-allow-insecure-auth",
		}, `{"tenantId":"","name":"","match":{"pathPrefix":""},"backend":{"urls":null,"allowInsecureAuth":true,
			"credential":{"type":"bearer","clientCredentials":{"authority":"https://login.example/t1","clientId":"c1","clientSecret":"vault://default/secrets/cs","scope":"api://b/.default"}}},"policy":{},
			"principalHeaders":null,"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{"no principal headers", []string{"--no-principal-headers"},
			`{"tenantId":"","name":"","match":{"pathPrefix":""},"backend":{"urls":null},"policy":{},"principalHeaders":{},"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyArgs(directory.API{}, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := compactJSON(t, jsonOf(t, got)), compactJSON(t, tc.want); g != w {
				t.Errorf("\n got  %s\n want %s", g, w)
			}
		})
	}
}

func TestAPIFlags_ReplaceWhatTheyNameAndKeepTheRest(t *testing.T) {
	base, err := applyArgs(directory.API{Name: "orders"},
		"--path-prefix", "/orders", "--backend", "http://a", "--host", "h.example.com",
		"--bearer-tenant", "default", "--bearer-issuer", "https://idp.example.com", "--audience", "api://orders",
		"--api-key-header", "x-functions-key", "--api-key", "old=vault://default/secrets/old",
		"--client-cert-thumbprint", "OLD", "--client-cert-subject", "CN=a", "--client-cert-issuer", "CN=ca",
		"--role", "Orders.Read", "--principal-header", "X-A=subject")
	if err != nil {
		t.Fatal(err)
	}
	got, err := applyArgs(base,
		"--api-key", "old=vault://default/secrets/old", "--api-key", "new=vault://default/secrets/new", // the rollover
		"--client-cert-thumbprint", "OLD", "--client-cert-thumbprint", "NEW",
		"--bearer-tenant", "contoso", "--basic-user", "u=vault://default/secrets/u",
		"--backend", "http://b", "--no-principal-headers")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tenantId":"","name":"orders","match":{"hosts":["h.example.com"],"pathPrefix":"/orders"},"backend":{"urls":["http://b"]},"policy":{"methods":[
		{"type":"bearer","issuers":[{"issuer":"https://idp.example.com"},{"tenant":"contoso"}],"audiences":["api://orders"]},
		{"type":"apiKey","header":"x-functions-key","keys":[{"name":"old","secret":"vault://default/secrets/old"},{"name":"new","secret":"vault://default/secrets/new"}]},
		{"type":"clientCertificate","pins":[{"subject":"CN=a","issuer":"CN=ca"},{"thumbprint":"OLD"},{"thumbprint":"NEW"}]},
		{"type":"basic","users":[{"name":"u","password":"vault://default/secrets/u"}]}],
		"rules":{"roles":["Orders.Read"]}},"principalHeaders":{},"revision":0,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`
	if g, w := compactJSON(t, jsonOf(t, got)), compactJSON(t, want); g != w {
		t.Errorf("\n got  %s\n want %s", g, w)
	}
	removed, err := applyArgs(got, "--remove-method", "apiKey", "--remove-method", "basic")
	if err != nil {
		t.Fatal(err)
	}
	if m := methodTypes(removed.Policy); strings.Join(m, ",") != "bearer,clientCertificate" {
		t.Errorf("after --remove-method: %v", m)
	}
	if len(got.Policy.Methods) != 4 {
		t.Errorf("--remove-method changed the API it was given: %v", methodTypes(got.Policy))
	}
}

func TestAPIFlags_RefuseWhatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unpaired subject", []string{"--client-cert-subject", "CN=a"}, "come in pairs"},
		{"more issuers", []string{"--client-cert-subject", "CN=a", "--client-cert-issuer", "CN=b", "--client-cert-issuer", "CN=c"}, "1 subjects, 2 issuers"},
		{"basic user without reference", []string{"--basic-user", "alice"}, "NAME=vault://VAULT/secrets/SECRET"},
		{"api key without name", []string{"--api-key", "=vault://v/secrets/s"}, "KEYNAME="},
		{"principal header without field", []string{"--principal-header", "X-A="}, "NAME=FIELD"},
		{"both principal flags", []string{"--principal-header", "X-A=subject", "--no-principal-headers"}, "contradict"},
		{"missing CA file", []string{"--client-ca", "/nonexistent/ca.pem"}, "--client-ca"},
		{"negative timeout", []string{"--connect-timeout", "-1s"}, "--connect-timeout"},
		{"timeout too long", []string{"--idle-timeout", "2h"}, "--idle-timeout"},
		{"unknown method to remove", []string{"--remove-method", "oauth"}, "--remove-method"},
		{"remove and set", []string{"--remove-method", "basic", "--basic-user", "u=vault://v/secrets/s"}, "contradict"},
		{"remove an absent method", []string{"--remove-method", "basic"}, "--remove-method basic: the API has no basic method (its methods: none)"},
		{"bad duration", []string{"--connect-timeout", "5"}, "connect-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyArgs(directory.API{}, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	notPEM := filepath.Join(t.TempDir(), "ca.der")
	os.WriteFile(notPEM, []byte{0x30, 0x82}, 0o600)
	if _, err := applyArgs(directory.API{}, "--backend-ca", notPEM); err == nil || !strings.Contains(err.Error(), "holds no certificate") {
		t.Fatalf("not a certificate: %v", err)
	}
}

// TestAPIFlags_CAFilesSendOnlyCertificates: a CA file that also holds the
// CA's private key (as 'cert create' may write it) sends the certificate
// and never the key; a DER file is sent as PEM.
func TestAPIFlags_CAFilesSendOnlyCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, key, err := pki.NewCA("backend CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	withKey := filepath.Join(dir, "ca+key.pem")
	os.WriteFile(withKey, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), certPEM...), 0o600)
	derFile := filepath.Join(dir, "ca.cer")
	os.WriteFile(derFile, ca.Raw, 0o600)
	for _, file := range []string{withKey, derFile} {
		got, err := applyArgs(directory.API{}, "--backend-ca", file, "--client-ca", file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if strings.Contains(jsonOf(t, got), "PRIVATE KEY") {
			t.Fatalf("%s: a PRIVATE KEY block is sent", file)
		}
		if got.Backend.TLS == nil || len(got.Backend.TLS.CACertificates) != 1 || got.Backend.TLS.CACertificates[0] != string(certPEM) {
			t.Fatalf("%s: backend CAs %+v, want the certificate alone", file, got.Backend.TLS)
		}
		if m := got.Policy.Methods; len(m) != 1 || len(m[0].TrustedCAs) != 1 || m[0].TrustedCAs[0] != string(certPEM) {
			t.Fatalf("%s: client CAs %+v, want the certificate alone", file, m)
		}
	}
}

func TestAPIFromFile_ReadsJSONAndYAMLAndRefusesUnknownFields(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yamlFile := write("orders.yaml", `
name: orders
match:
  pathPrefix: /orders
  methods: [GET]
backend:
  urls: ["http://127.0.0.1:9000"]
  timeouts: {connectSeconds: 2}
policy:
  methods:
    - type: bearer
      issuers: [{tenant: default}]
      audiences: [api://orders]
  rules:
    roles: [Orders.Read]
principalHeaders: {}
`)
	jsonFile := write("orders.json", `{"name":"orders","match":{"pathPrefix":"/orders","methods":["GET"]},"backend":{"urls":["http://127.0.0.1:9000"],"timeouts":{"connectSeconds":2}},
		"policy":{"methods":[{"type":"bearer","issuers":[{"tenant":"default"}],"audiences":["api://orders"]}],"rules":{"roles":["Orders.Read"]}},"principalHeaders":{}}`)
	fromYAML, err := readAPIFile(yamlFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := readAPIFile(jsonFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, fromYAML) != jsonOf(t, fromJSON) {
		t.Errorf("YAML and JSON differ:\n%s\n%s", jsonOf(t, fromYAML), jsonOf(t, fromJSON))
	}
	if fromYAML.PrincipalHeaders == nil || fromYAML.Backend.Timeouts.ConnectSeconds != 2 || fromYAML.Policy.Methods[0].Issuers[0].Tenant != "default" {
		t.Errorf("from YAML: %s", jsonOf(t, fromYAML))
	}
	fromStdin, err := readAPIFile("-", strings.NewReader(`{"name":"x","match":{"pathPrefix":"/x"}}`))
	if err != nil || fromStdin.Match.PathPrefix != "/x" {
		t.Fatalf("from stdin: %+v, %v", fromStdin, err)
	}

	// Flags alongside replace what they name.
	withFlags, err := applyArgs(fromYAML, "--backend", "http://127.0.0.1:9001", "--role", "Orders.Write")
	if err != nil {
		t.Fatal(err)
	}
	if withFlags.Backend.URLs[0] != "http://127.0.0.1:9001" || withFlags.Policy.Rules.Roles[0] != "Orders.Write" || withFlags.Match.PathPrefix != "/orders" {
		t.Errorf("file + flags: %s", jsonOf(t, withFlags))
	}

	for _, tc := range []struct{ name, content, want string }{
		{"unknown field", "name: a\nmatch: {pathprefix: /a}\n", "unknown field"},
		{"wrong type", "name: a\nbackend: {urls: http://x}\n", `field "backend.urls" must be a list, not a JSON string`},
		{"name as a number", `{"name": 5}`, `field "name" must be a string, not a JSON number`},
		{"not YAML", "name: [a\n", "not valid YAML or JSON"},
		{"key twice", "name: a\nmatch: {pathPrefix: /a}\nname: b\n", `line 3: the key "name" is given twice`},
		{"key twice in JSON", `{"name":"a","match":{"pathPrefix":"/a","pathPrefix":"/b"}}`, `the key "pathPrefix" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAPIFile(write(tc.name+".yaml", tc.content), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := readAPIFile(filepath.Join(dir, "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "--from-file") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestE2E_APICommandsAgainstRealServer drives 'api create|show|list|update|
// delete' through a real dev server.
func TestE2E_APICommandsAgainstRealServer(t *testing.T) {
	s := startDevServer(t)
	created := s.okJSON(t, "", "api", "create", "orders", "--path-prefix", "/orders", "--method", "GET",
		"--backend", "http://127.0.0.1:9000", "--bearer-tenant", "default", "--audience", "api://orders", "--role", "Orders.Read")
	wantFields(t, "created API", created, []string{"tenantId", "name", "match", "backend", "policy", "principalHeaders", "revision", "createdAt", "updatedAt"})
	rev := created["revision"].(float64)

	out := s.ok(t, "", "api", "show", "orders")
	for _, w := range []string{"Name:", "orders", "/orders", "GET", "http://127.0.0.1:9000", "1. bearer: issuers tenant ", "audiences api://orders", "any of roles Orders.Read", "default (X-Portcullis-*)"} {
		if !strings.Contains(out, w) {
			t.Errorf("api show lacks %q:\n%s", w, out)
		}
	}
	out = s.ok(t, "", "api", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "orders") || !strings.Contains(out, "bearer") {
		t.Errorf("api list:\n%s", out)
	}
	l := values(t, "api list", s.okJSON(t, "", "api", "list"))
	if len(l) != 1 || str(l[0]["name"]) != "orders" {
		t.Errorf("api list -o json: %v", l)
	}

	// Referenced secrets must exist: the API's references are recorded in the vault.
	s.ok(t, "k1-value\n", "secret", "set", "k1", "--value", "-")
	s.ok(t, "pw-value\n", "secret", "set", "pw", "--value", "-")
	updated := s.okJSON(t, "", "api", "update", "orders", "--api-key-header", "x-functions-key", "--api-key", "k1=vault://default/secrets/k1", "--role", "Orders.Write")
	if updated["revision"].(float64) <= rev {
		t.Errorf("revision %v after update from %v", updated["revision"], rev)
	}
	methods := updated["policy"].(map[string]any)["methods"].([]any)
	if len(methods) != 2 || methods[1].(map[string]any)["type"] != "apiKey" {
		t.Errorf("methods after update: %v", methods)
	}

	file := filepath.Join(s.dir, "billing.yaml")
	os.WriteFile(file, []byte("name: billing\nmatch: {pathPrefix: /billing}\nbackend: {urls: ['http://127.0.0.1:9001']}\npolicy:\n  methods:\n    - {type: basic, users: [{name: u, password: 'vault://default/secrets/pw'}]}\n"), 0o600)
	billing := s.okJSON(t, "", "api", "create", "--from-file", file, "--allow-insecure-auth")
	if billing["name"] != "billing" || billing["allowInsecureAuth"] != true {
		t.Errorf("created from file: %v", billing)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"duplicate", []string{"api", "create", "orders", "--path-prefix", "/x", "--backend", "http://h", "--bearer-tenant", "default", "--audience", "a"}, []string{`"orders"`, "already"}},
		{"same match", []string{"api", "create", "copy", "--path-prefix", "/orders", "--backend", "http://h", "--bearer-tenant", "default", "--audience", "a"}, []string{`API "orders" of tenant default`}},
		{"literal password", []string{"api", "create", "x", "--path-prefix", "/x", "--backend", "http://h", "--basic-user", "u=hunter2"}, []string{"policy.methods[0].users[0].password", "vault://"}},
		{"no policy", []string{"api", "create", "x", "--path-prefix", "/x", "--backend", "http://h"}, []string{"policy.methods is empty"}},
		{"unknown API", []string{"api", "show", "nope"}, []string{`no API named "nope"`}},
		{"update unknown", []string{"api", "update", "nope", "--role", "x"}, []string{`"nope"`}},
		{"update without flags", []string{"api", "update", "orders"}, []string{"nothing to change"}},
		{"unknown tenant", []string{"api", "list", "--tenant", "nowhere"}, []string{"nowhere"}},
		{"backend none with a user name", []string{"api", "update", "billing", "--backend-auth", "none", "--backend-username", "u"}, []string{`"backend.credential.username" is set but type is none`}},
		{"remove a method the API lacks", []string{"api", "update", "billing", "--remove-method", "bearer"}, []string{"--remove-method bearer: the API has no bearer method (its methods: basic)"}},
		{"role with a space", []string{"api", "update", "orders", "--role", "Orders Write"}, []string{`"policy.rules.roles[0]" "Orders Write" contains whitespace`}},
		{"tenant rule by name", []string{"api", "update", "orders", "--allowed-tenant", "default"}, []string{`"policy.rules.tenants[0]" "default" is not an id`}},
		{"timeout of a nanosecond", []string{"api", "update", "orders", "--connect-timeout", "1ns"}, []string{`"backend.timeouts.connectSeconds"`, "1 ms"}},
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

	if got := s.okJSON(t, "", "api", "show", "billing"); got["backend"].(map[string]any)["credential"] != nil || len(got["policy"].(map[string]any)["methods"].([]any)) != 1 {
		t.Errorf("a refused update changed the API: %v", got)
	}
	if out := s.ok(t, "", "api", "delete", "orders"); out != "deleted API orders\n" {
		t.Errorf("delete printed %q", out)
	}
	if code, _, errOut := s.cli(t, "", "api", "show", "orders"); code != 1 || !strings.Contains(errOut, "orders") {
		t.Errorf("show after delete: %d %q", code, errOut)
	}
}

// FuzzReadAPIFile feeds any file to --from-file: YAML or JSON, it is read or
// refused with an error, never a panic, and what is read has only fields
// the admin API knows (it marshals back to JSON the server accepts).
func FuzzReadAPIFile(f *testing.F) {
	for _, s := range []string{
		"name: orders\nmatch: {pathPrefix: /orders}\nbackend: {urls: ['http://h']}\npolicy: {methods: [{type: basic, users: [{name: u, password: 'vault://v1x/secrets/p'}]}]}\n",
		`{"name":"a","match":{"pathPrefix":"/a","hosts":["h"]},"principalHeaders":{"X-A":"subject"}}`,
		"name: &a x\nb: *a\n", "- 1\n- 2\n", "{", "null", "", "name: [a\n", "match: {pathprefix: /a}\n",
		"backend:\n  timeouts:\n    connectSeconds: 1e999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		api, err := readAPIFile("-", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--from-file") {
				t.Fatalf("error without its flag: %v", err)
			}
			return
		}
		if _, err := json.Marshal(api); err != nil {
			t.Fatalf("read an API that does not marshal: %v", err)
		}
	})
}

func TestCertSources_CountsCertificatesInWords(t *testing.T) {
	block := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	for _, tt := range []struct {
		name string
		srcs []string
		want string
	}{
		{"one PEM certificate", []string{block}, "PEM (1 certificate)"},
		{"two in one PEM", []string{block + block}, "PEM (2 certificates)"},
		{"a reference and a PEM", []string{"vault://default/certificates/ca", block}, "vault://default/certificates/ca, PEM (1 certificate)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := certSources(tt.srcs); got != tt.want {
				t.Errorf("certSources = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPIFlags_Revocation(t *testing.T) {
	dir := t.TempDir()
	ca, key, err := pki.NewCA("clients CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(dir, "clients.crl")
	os.WriteFile(crlFile, crlDER, 0o600) // DER, sent as PEM
	crlPEM := string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER}))
	// apply edits the methods it is given in place: a fresh base per use.
	mkBase := func() directory.API {
		base, err := applyArgs(directory.API{}, "--client-ca", "vault://default/certificates/ca",
			"--crl", "https://pki.example.com/clients.crl", "--crl", "vault://default/secrets/clients-crl", "--crl", crlFile, "--ocsp", "soft")
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	base := mkBase()
	want := `{"type":"clientCertificate","trustedCAs":["vault://default/certificates/ca"],"revocation":{"crls":["https://pki.example.com/clients.crl","vault://default/secrets/clients-crl",` +
		jsonOf(t, crlPEM) + `],"ocsp":"soft"}}`
	if g, w := compactJSON(t, jsonOf(t, base.Policy.Methods[0])), compactJSON(t, want); g != w {
		t.Errorf("\n got  %s\n want %s", g, w)
	}
	if d := describeMethod(base.Policy.Methods[0]); !strings.Contains(d, "revocation checked by CRLs https://pki.example.com/clients.crl, vault://default/secrets/clients-crl, PEM CRL (hard) and OCSP (soft)") {
		t.Errorf("described as %q", d)
	}

	tests := []struct {
		name string
		args []string
		want string // the method's revocation as JSON, or the error
	}{
		{"--ocsp alone keeps the CRLs", []string{"--ocsp", "hard"}, `"ocsp":"hard"`},
		{"--crl replaces the CRLs", []string{"--crl", "https://pki.example.com/new.crl", "--crl-mode", "soft"}, `{"crls":["https://pki.example.com/new.crl"],"crlMode":"soft","ocsp":"soft"}`},
		{"--no-revocation drops it", []string{"--no-revocation"}, `null`},
		{"bad OCSP mode", []string{"--ocsp", "strict"}, `error: --ocsp "strict": use "off", "soft" or "hard"`},
		{"bad CRL mode", []string{"--crl-mode", "off"}, `error: --crl-mode "off": use "soft" or "hard"`},
		{"not a CRL", []string{"--crl", filepath.Join(dir, "missing.crl")}, `error: --crl ` + filepath.Join(dir, "missing.crl")},
		{"contradiction", []string{"--no-revocation", "--ocsp", "hard"}, "error: --no-revocation and --crl, --crl-mode or --ocsp contradict each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyArgs(mkBase(), tt.args...)
			if strings.HasPrefix(tt.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tt.want, "error: ")) {
					t.Errorf("err = %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := jsonOf(t, got.Policy.Methods[0].Revocation); !strings.Contains(g, tt.want) {
				t.Errorf("revocation %s, want %s", g, tt.want)
			}
		})
	}
	onlyOCSP, err := applyArgs(directory.API{}, "--client-ca", "vault://default/certificates/ca", "--ocsp", "hard")
	if err != nil {
		t.Fatal(err)
	}
	off, err := applyArgs(onlyOCSP, "--ocsp", "off")
	if err != nil || off.Policy.Methods[0].Revocation != nil {
		t.Errorf("--ocsp off on an OCSP-only method: %v %+v", err, off.Policy.Methods[0].Revocation)
	}
}
