package declarative

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

// writeFiles writes name → content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// testCertificate returns a self-signed certificate as PEM (certificate
// and key) and its DER.
func testCertificate(t *testing.T, cn string) (pemText string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pki.EncodeCertificatePEM(cert)) + string(keyPEM), cert.Raw
}

func env(vars map[string]string) Env {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

func TestLoad_ValidationErrorsNameFilePathAndFix(t *testing.T) {
	certPEM, _ := testCertificate(t, "c")
	for _, tc := range []struct {
		name string
		doc  string
		want []string // each must appear in the error
	}{
		{"not YAML", "tenants: [", []string{"main.yaml: not valid YAML or JSON"}},
		{"several documents", "tenants: [{name: a}]\n---\nvaults: [{name: orders}]\n", []string{"main.yaml: the file holds 2 YAML documents", "its own file"}},
		{"key twice", "tenants:\n  - name: a\n    name: b\n", []string{"main.yaml: line 3: the key \"name\" is given twice"}},
		{"key twice in JSON", `{"tenants": [{"name": "a", "apis": [{"name": "x", "name": "y"}]}]}`, []string{"main.yaml: line 1: the key \"name\" is given twice"}},
		{"key twice in an API", "tenants:\n  - name: a\n    apis:\n      - name: x\n        match: {pathPrefix: /a, pathPrefix: /b}\n", []string{"line 5: the key \"pathPrefix\" is given twice"}},
		{"list as a number", "tenants: 5\n", []string{`field "tenants" must be a list, not a JSON number`, "docs/apply.md"}},
		{"name as a list", "tenants:\n  - name: [a]\n", []string{`field "tenants.name" must be a string, not a JSON array`}},
		{"name read as a boolean", "tenants:\n  - name: yes\n", []string{`field "tenants.name" must be a string, not a JSON bool`, "put the value in quotes"}},
		{"name read as a number", "tenants:\n  - name: default\n    apis: [{name: 0123}]\n", []string{`field "tenants.apis.name" must be a string, not a JSON number`, "quotes"}},
		{"document as a list", "- name: a\n", []string{"the document must be a mapping (an object), not a JSON array"}},
		{"unknown field", "tenants:\n  - name: a\n    colour: red\n", []string{"main.yaml: ", `unknown field "colour"`, "docs/apply.md"}},
		{"tenant name", "tenants:\n  - name: 'has space'\n", []string{"main.yaml: tenants[0].name: ", "letters a-z"}},
		{"display name required", "tenants:\n  - name: a\n    applications:\n      - identifierUris: [api://x]\n", []string{"tenants[0].applications[0].displayName: ", "required"}},
		{"identifier URI", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        identifierUris: ['not a uri']\n", []string{"tenants[0].applications[0].identifierUris: ", "whitespace"}},
		{"lifetime", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        accessTokenLifetimeSeconds: 5\n", []string{"accessTokenLifetimeSeconds: ", "from 300"}},
		{"role value", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        appRoles: [{value: 'a b'}]\n", []string{"appRoles[0].value: ", "space"}},
		{"role twice", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        appRoles: [{value: R}, {value: R}]\n", []string{"appRoles[1].value: ", "declared twice"}},
		{"secret without saveTo", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        passwordCredentials: [{description: ci}]\n", []string{"passwordCredentials[0].saveTo: required", "never in the configuration"}},
		{"secret lifetime", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        passwordCredentials: [{description: ci, saveTo: s, expiresInSeconds: 10}]\n", []string{"expiresInSeconds: ", "1 hour"}},
		{"certificate file missing", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        keyCredentials: [{certificateFile: nope.cer}]\n", []string{"keyCredentials[0].certificateFile: cannot read nope.cer", "relative paths start at"}},
		{"certificate thumbprint wrong", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        keyCredentials: [{certificateFile: c.pem, thumbprint: 'AB'}]\n", []string{"keyCredentials[0].thumbprint: is AB but c.pem holds"}},
		{"federated credential issuer", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials: [{name: gh1, issuer: 'http://ci.example.com', subject: s}]\n", []string{"federatedIdentityCredentials[0]: ", "https"}},
		{"federated credential name twice", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials: [{name: ghx, issuer: 'https://i.test', subject: s}, {name: GHX, issuer: 'https://i.test', subject: t}]\n", []string{"federatedIdentityCredentials[1].name: ", "declared twice"}},
		{"federated credential keys", "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials: [{name: k8s, issuer: 'https://i.test', subject: s, keys: {keys: []}}]\n", []string{"federatedIdentityCredentials[0]: ", "no usable signature key"}},
		{"grant fields", "tenants:\n  - name: a\n    grants: [{client: c}]\n", []string{"grants[0].resource: required", "grants[0].role: required"}},
		{"API server field", "tenants:\n  - name: a\n    apis: [{name: x, revision: 3}]\n", []string{`"revision" is set by the server`}},
		{"API invalid", "tenants:\n  - name: a\n    apis: [{name: x, match: {pathPrefix: nope}, backend: {urls: ['http://h']}}]\n", []string{"tenants[0].apis[0]: ", "pathPrefix"}},
		{"connector with a literal password", "tenants:\n  - name: a\n    connectors: [{name: c, endpoint: 'https://h', authentication: {type: basic, username: u, password: hunter2}}]\n", []string{"tenants[0].connectors[0]: ", "vault://"}},
		{"vault name", "vaults: [{name: x}]\n", []string{"vaults[0].name: "}},
		{"vault retention", "vaults: [{name: orders, softDeleteRetentionDays: 1}]\n", []string{"vaults[0].softDeleteRetentionDays: is 1"}},
		{"vault role", "vaults: [{name: orders, roleAssignments: [{principal: p, role: Owner}]}]\n", []string{"roleAssignments[0].role: \"Owner\" is not a vault role", "Key Vault Secrets User"}},
		{"vault scope", "vaults: [{name: orders, roleAssignments: [{principal: p, role: Key Vault Reader, scope: tables/x}]}]\n", []string{"roleAssignments[0].scope: ", "secrets/NAME"}},
		{"secret inline value", "vaults: [{name: orders, secrets: [{name: s, value: hunter2}]}]\n", []string{"main.yaml: "}},
		{"secret without source", "vaults: [{name: orders, secrets: [{name: s}]}]\n", []string{"secrets[0].value: required", "fromEnv"}},
		{"secret two sources", "vaults: [{name: orders, secrets: [{name: s, value: {fromEnv: A, fromFile: b}}]}]\n", []string{"secrets[0].value: give one of fromEnv and fromFile"}},
		{"secret env unset", "vaults: [{name: orders, secrets: [{name: s, value: {fromEnv: UNSET_VARIABLE}}]}]\n", []string{"secrets[0].value.fromEnv: environment variable UNSET_VARIABLE is not set"}},
		{"secret name", "vaults: [{name: orders, secrets: [{name: 'a_b', value: {fromEnv: SET}}]}]\n", []string{"secrets[0].name: "}},
		{"certificate without key", "vaults: [{name: orders, certificates: [{name: c, fromFile: c.cer}]}]\n", []string{"certificates[0].fromFile: c.cer", "private key"}},
		{"key without kty", "vaults: [{name: orders, keys: [{name: k}]}]\n", []string{"keys[0].kty: required"}},
		{"key size", "vaults: [{name: orders, keys: [{name: k, kty: RSA, keySize: 1024}]}]\n", []string{"keys[0].keySize: is 1024"}},
		{"key file not a key", "vaults: [{name: orders, keys: [{name: k, fromFile: c.cer}]}]\n", []string{"keys[0].fromFile: c.cer: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, der := testCertificate(t, "der")
			writeFiles(t, dir, map[string]string{"main.yaml": tc.doc, "c.pem": certPEM, "c.cer": string(der)})
			t.Chdir(dir)
			doc, err := Load([]string{"main.yaml"}, env(map[string]string{"SET": "v"}))
			if err == nil {
				t.Fatalf("Load accepted it: %+v", doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, goWords := range []string{"Go struct", "Go value", "declarative.", "[]struct", "map["} {
				if strings.Contains(err.Error(), goWords) {
					t.Errorf("the error speaks of Go types (%q): %v", goWords, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats a secret value: %v", err)
			}
		})
	}
}

// YAML 1.1 reads a bare y or n as a boolean; a JWK Set written by hand in
// YAML (an EC key's y, an RSA key's n) must still mean what it says.
func TestParse_JWKSetMembersYAMLReadsAsBooleansAreRestored(t *testing.T) {
	fic := func(keys string) string {
		return "tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials:\n          - {name: k8s, issuer: 'https://i.test', subject: s, keys: " + keys + "}\n"
	}
	tests := []struct{ name, yaml, want string }{
		{"EC key with a bare y", fic("{keys: [{kty: EC, kid: k1, crv: P-256, x: '" + ecX + "', y: '" + ecY + "'}]}"),
			`{"keys":[{"crv":"P-256","kid":"k1","kty":"EC","x":"` + ecX + `","y":"` + ecY + `"}]}`},
		{"RSA key with a bare n", fic("{keys: [{kty: RSA, kid: r1, n: AQAB, e: AQAB}]}"),
			`{"keys":[{"e":"AQAB","kid":"r1","kty":"RSA","n":"AQAB"}]}`},
		{"quoted names are left alone", fic(`{keys: [{kty: EC, kid: k1, crv: P-256, x: a, "y": b}]}`),
			`{"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":"a","y":"b"}]}`},
		{"a y already present wins over true", fic(`{keys: [{kty: EC, "y": b, "true": c}]}`),
			`{"keys":[{"kty":"EC","y":"b","true":"c"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := doc.Tenants[0].Applications[0].FederatedIdentityCredentials[0].Keys
			if !sameJSON(got, json.RawMessage(tt.want)) {
				t.Errorf("keys = %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLoad_DirectoryMergesFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	certPEM, _ := testCertificate(t, "c")
	writeFiles(t, dir, map[string]string{
		"b.yaml":       "tenants:\n  - name: contoso\n    applications: [{displayName: two}]\nvaults: [{name: orders, secrets: [{name: s, value: {fromFile: values/s.txt}}]}]\n",
		"a.json":       `{"tenants": [{"name": "contoso", "applications": [{"displayName": "one"}]}]}`,
		"c.yml":        "vaults: [{name: orders, certificates: [{name: tls, fromFile: tls.pem}]}]\n",
		"notes.txt":    "ignored",
		"values/s.txt": "the-value",
		"tls.pem":      certPEM,
	})
	doc, err := Load([]string{dir}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Tenants) != 1 || len(doc.Tenants[0].Applications) != 2 || doc.Tenants[0].Applications[0].DisplayName != "one" || doc.Tenants[0].Applications[1].DisplayName != "two" {
		t.Errorf("tenants not merged in name order: %+v", doc.Tenants)
	}
	if len(doc.Vaults) != 1 || len(doc.Vaults[0].Secrets) != 1 || len(doc.Vaults[0].Certificates) != 1 {
		t.Fatalf("vaults not merged: %+v", doc.Vaults)
	}
	if got := doc.Vaults[0].Secrets[0].value.v; got != "the-value" {
		t.Errorf("secret value read relative to its file = %q", got)
	}
	if doc.Vaults[0].Certificates[0].x5t == "" {
		t.Errorf("certificate thumbprint not computed")
	}
}

func TestLoad_ObjectDeclaredInTwoFilesIsRefused(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": "tenants:\n  - name: contoso\n    applications: [{displayName: orders}]\n",
		"b.yaml": "tenants:\n  - name: Contoso\n    applications: [{displayName: orders}]\n",
	})
	_, err := Load([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}, env(nil))
	// The error names both places (docs/apply.md: "an object declared
	// twice is an error naming both places").
	for _, want := range []string{
		`b.yaml: tenants[0].applications[0]: application "orders" is also declared at `,
		`a.yaml: tenants[0].applications[0]; declare it once`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestLoad_EmptyDirectoryAndMissingPathAreErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, path, want string }{
		{"empty directory", dir, "has no .yaml, .yml or .json file"},
		{"missing", filepath.Join(dir, "nope.yaml"), "nope.yaml: no such file or directory; give a configuration file or a directory of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]string{tc.path}, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSecretString_NeverPrintsTheValue(t *testing.T) {
	s := Secret{Name: "s", value: secretString{"hunter2"}}
	for _, got := range []string{s.value.String(), s.value.GoString()} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("secret value printed: %s", got)
		}
	}
	b, err := s.value.MarshalJSON()
	if err != nil || strings.Contains(string(b), "hunter2") {
		t.Errorf("secret value marshalled: %s", b)
	}
}

func TestLoad_ReadsAPipeToTheEnd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := fmt.Sprintf("/dev/fd/%d", r.Fd())
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no /dev/fd on this system: %v", err)
	}
	go func() {
		w.Write([]byte("tenants:\n  - name: contoso\n"))
		w.Close()
	}()
	doc, err := Load([]string{path}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Tenants) != 1 || doc.Tenants[0].Name != "contoso" {
		t.Errorf("a piped file read as %+v (a pipe's size is 0: it must be read to its end)", doc)
	}
}
