package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// applyConfig is a configuration with every kind of object apply handles.
const applyConfig = `
tenants:
  - name: contoso
    applications:
      - displayName: orders-api
        identifierUris: [api://orders]
        accessTokenLifetimeSeconds: 1800
        appRoles:
          - value: Orders.Read
            displayName: Read orders
            description: Read all orders
          - value: Orders.Write
      - displayName: orders-client
        keyCredentials:
          - certificateFile: certs/orders-client.cer
            description: laptop
        passwordCredentials:
          - description: ci
            saveTo: out/orders-client.secret
    grants:
      - client: orders-client
        resource: orders-api
        role: Orders.Read
    apis:
      - name: orders
        match: {pathPrefix: /orders, methods: [GET]}
        backend: {urls: ["http://127.0.0.1:9"]}
        policy:
          methods:
            - type: bearer
              issuers: [{tenant: contoso}]
              audiences: [api://orders]
          rules: {roles: [Orders.Read]}
  # vaults belong to the default tenant: its connectors can use them
  - name: default
    applications:
      - displayName: billing-api
        identifierUris: [api://billing]
    connectors:
      - name: hr
        endpoint: https://hr.example.com/enrich
        authentication: {type: basic, username: portcullis, password: vault://default/secrets/hr-password}
        inputClaims: [{claimType: appid, partnerClaimType: clientId}]
        outputClaims: [{claimType: department}]
        tokenIssuance: {resourceApps: [billing-api]}
vaults:
  - name: default
    secrets:
      - name: hr-password
        value: {fromEnv: HR_PASSWORD}
  - name: orders
    softDeleteRetentionDays: 30
    roleAssignments:
      - principal: orders-client
        tenant: contoso
        role: Key Vault Secrets User
        scope: secrets/db-password
    secrets:
      - name: db-password
        contentType: text/plain
        value: {fromFile: values/db-password.txt}
    certificates:
      - name: tls
        fromFile: certs/tls.pem
    keys:
      - name: signing
        kty: RSA
        keySize: 2048
      - name: imported
        fromFile: certs/imported-key.pem
`

// writeApplyFixtures writes the certificate, key and value files
// applyConfig names into dir.
func writeApplyFixtures(t *testing.T, s *devServer, dir string) {
	t.Helper()
	for _, sub := range []string{"values", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.ok(t, "", "cert", "create", "--subject", "CN=orders-client", "--out", filepath.Join(dir, "certs", "orders-client"), "--password", "pfx-pass-1")
	s.ok(t, "", "cert", "create", "--subject", "CN=tls", "--out", filepath.Join(dir, "certs", "tls"), "--password", "pfx-pass-2")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "certs", "imported-key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	writeFile(t, filepath.Join(dir, "values", "db-password.txt"), "db-secret-value-7f3a")
	writeFile(t, filepath.Join(dir, "portcullis.yaml"), applyConfig)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestE2E_ApplyExportRoundTrip applies a configuration to a real server,
// checks that applying it again changes nothing, exports it, applies the
// export to a second, empty server, and checks that the second server then
// exports the same configuration and has nothing left to change.
func TestE2E_ApplyExportRoundTrip(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("HR_PASSWORD", "hr-secret-value-91c2")
	a := startDevServer(t)
	a.addSecret("hr-secret-value-91c2")
	a.addSecret("db-secret-value-7f3a")
	writeApplyFixtures(t, a, cfg)
	file := filepath.Join(cfg, "portcullis.yaml")

	plan := a.ok(t, "", "apply", "-f", file, "--dry-run")
	wantLines(t, "apply --dry-run", plan,
		"+ tenant contoso\n",
		"+ application contoso/orders-api\n    identifierUris: [api://orders]\n    accessTokenLifetimeSeconds: 1800\n",
		"+ app role contoso/orders-api/Orders.Read\n",
		"+ client secret contoso/orders-client/ci\n",
		"+ grant contoso/orders-client → orders-api Orders.Read\n",
		"+ API contoso/orders\n", "+ connector default/hr\n", "+ application default/billing-api\n",
		"+ vault orders\n    softDeleteRetentionDays: 30\n",
		"+ vault role assignment orders/contoso/orders-client Key Vault Secrets User on secrets/db-password\n",
		"+ vault secret orders/db-password\n    value: (from file values/db-password.txt)\n",
		"+ vault secret default/hr-password\n    value: (from environment variable HR_PASSWORD)\n",
		"+ vault certificate orders/tls\n", "+ vault key orders/signing\n", "+ vault key orders/imported\n",
		"Plan: 18 to create, 0 to update, 0 to delete.\n")
	if strings.Contains(plan, "db-secret-value") || strings.Contains(plan, "hr-secret-value") {
		t.Errorf("the plan shows a secret value:\n%s", plan)
	}
	if _, err := os.Stat(filepath.Join(cfg, "out")); err == nil {
		t.Errorf("--dry-run created the saveTo directory")
	}

	wantLines(t, "apply", a.ok(t, "", "apply", "-f", file), "Applied: 18 created, 0 updated, 0 deleted.\n")
	secretFile := filepath.Join(cfg, "out", "orders-client.secret")
	st, err := os.Stat(secretFile)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() < 20 {
		t.Fatalf("client secret file: %v, %v", st, err)
	}
	a.addSecret(strings.TrimSpace(string(mustRead(t, secretFile))))
	// The created objects are what the CLI shows.
	wantLines(t, "app show", a.ok(t, "", "app", "show", "orders-api", "--tenant", "contoso"), "api://orders", "Orders.Read", "Orders.Write")
	if v := a.okJSON(t, "", "secret", "show", "db-password", "--vault", "orders"); v["value"] != "db-secret-value-7f3a" {
		t.Errorf("vault secret db-password = %v", v["value"])
	}

	wantLines(t, "second apply", a.ok(t, "", "apply", "-f", file), "No changes: the server holds this configuration.\n")

	// A change shows as an update with its fields.
	writeFile(t, filepath.Join(cfg, "values", "db-password.txt"), "db-secret-value-7f3a-2")
	a.addSecret("db-secret-value-7f3a-2")
	writeFile(t, file, strings.Replace(applyConfig, "accessTokenLifetimeSeconds: 1800", "accessTokenLifetimeSeconds: 900", 1))
	wantLines(t, "apply --dry-run after edits", a.ok(t, "", "apply", "-f", file, "--dry-run"),
		"~ application contoso/orders-api\n    accessTokenLifetimeSeconds: 1800 → 900\n",
		"~ vault secret orders/db-password\n    value: (current) → (from file values/db-password.txt)\n",
		"Plan: 0 to create, 2 to update, 0 to delete.\n")
	a.ok(t, "", "apply", "-f", file)

	// Export, then apply the export to a second, empty server.
	exported := filepath.Join(cfg, "export", "portcullis.yaml")
	if err := os.MkdirAll(filepath.Dir(exported), 0o700); err != nil {
		t.Fatal(err)
	}
	a.ok(t, "", "export", "-o", exported)
	text := string(mustRead(t, exported))
	for _, sec := range a.secretList() {
		if strings.Contains(text, sec) {
			t.Fatalf("the export holds a secret (%.4s…)", sec)
		}
	}
	wantLines(t, "export", text, "name: contoso", "displayName: orders-api", "fromEnv: PORTCULLIS_SECRET_ORDERS_DB_PASSWORD",
		"saveTo: secrets/contoso-orders-client-ci.secret", "- tenant: contoso", "- billing-api")
	t.Setenv("PORTCULLIS_SECRET_ORDERS_DB_PASSWORD", "db-secret-value-7f3a-2")
	t.Setenv("PORTCULLIS_SECRET_DEFAULT_HR_PASSWORD", "hr-secret-value-91c2")
	wantLines(t, "apply of the export on its own server", a.ok(t, "", "apply", "-f", exported, "--prune", "--dry-run"), "No changes")

	// One tenant, as JSON: no other tenant, no vaults.
	one := a.ok(t, "", "export", "--tenant", "contoso", "--format", "json")
	var oneDoc struct {
		Tenants []struct{ Name string } `json:"tenants"`
		Vaults  []any                   `json:"vaults"`
	}
	if err := json.Unmarshal([]byte(one), &oneDoc); err != nil || len(oneDoc.Tenants) != 1 || oneDoc.Tenants[0].Name != "contoso" || oneDoc.Vaults != nil {
		t.Errorf("export --tenant contoso --format json (%v):\n%s", err, one)
	}

	b := startDevServer(t)
	for _, sec := range a.secretList() {
		b.addSecret(sec)
	}
	exportDir := filepath.Dir(exported)
	// What the export references and no server can export: the client
	// certificate, the vault certificate with its key, the secret values.
	thumb := strings.ToUpper(strings.TrimSpace(between(text, "thumbprint: ", "\n")))
	writeFile(t, filepath.Join(exportDir, "certs", "contoso-orders-client-"+thumb+".cer"), string(mustRead(t, filepath.Join(cfg, "certs", "orders-client.cer"))))
	writeFile(t, filepath.Join(exportDir, "certs", "orders-tls.pem"), string(mustRead(t, filepath.Join(cfg, "certs", "tls.pem"))))

	out := b.ok(t, "", "apply", "-f", exported)
	wantLines(t, "apply of the export on an empty server", out, "+ tenant contoso\n", "+ connector default/hr\n", "Applied: ")
	if _, err := os.Stat(filepath.Join(exportDir, "secrets", "contoso-orders-client-ci.secret")); err != nil {
		t.Errorf("the new client secret was not written to its saveTo file: %v", err)
	}
	wantLines(t, "second apply on the new server", b.ok(t, "", "apply", "-f", exported, "--prune"), "No changes: the server holds this configuration.\n")
	exportedB := filepath.Join(cfg, "export-b.yaml")
	b.ok(t, "", "export", "-o", exportedB)
	if got := string(mustRead(t, exportedB)); got != text {
		t.Errorf("the second server exports another configuration:\n--- first\n%s\n--- second\n%s", text, got)
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// TestE2E_ApplyRefusesWhatTheSafetyRulesProtect prunes with files that
// leave out the tenant holding the management API: nothing is changed.
func TestE2E_ApplyRefusesWhatTheSafetyRulesProtect(t *testing.T) {
	s := startDevServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "contoso.yaml")
	writeFile(t, file, "tenants:\n  - name: contoso\n    applications:\n      - displayName: orders-api\n")
	code, out, errOut := s.cli(t, "", "apply", "-f", file, "--prune")
	if code != 1 {
		t.Fatalf("apply --prune without the default tenant: exit %d, stdout %q", code, out)
	}
	wantLines(t, "refusal", errOut, "nothing was changed", "- tenant default: it holds the management API", "add the tenant to the files")
	if strings.Contains(s.ok(t, "", "tenant", "list"), "contoso") {
		t.Errorf("a refused apply created tenant contoso")
	}
	if code, _, errOut := s.cli(t, "", "apply"); code != 1 || !strings.Contains(errOut, "give the configuration with -f FILE or -f DIR") {
		t.Errorf("apply without -f: exit %d, %q", code, errOut)
	}
	// Empty files never prune.
	writeFile(t, file, "# nothing yet\n")
	if code, _, errOut := s.cli(t, "", "apply", "-f", file, "--prune"); code != 1 || !strings.Contains(errOut, "the files declare nothing") {
		t.Errorf("apply --prune of an empty file: exit %d, %q", code, errOut)
	}
	// A validation error names the file and the path, and changes nothing.
	writeFile(t, file, "tenants:\n  - name: contoso\n    applications:\n      - displayName: orders-api\n        appRoles: [{value: 'has space'}]\n")
	code, _, errOut = s.cli(t, "", "apply", "-f", file)
	if code != 1 || !strings.Contains(errOut, file+": tenants[0].applications[0].appRoles[0].value: ") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("invalid role value: exit %d, %q", code, errOut)
	}
	// A key given twice, or a value of the wrong type, is refused by its
	// line or field in words: a lenient reader would apply one of the two
	// keys silently (here a second backend or a second tenant).
	api := "    apis:\n      - name: dup\n        match: {pathPrefix: /dup}\n        backend: {urls: ['http://127.0.0.1:9']}\n        policy: {anonymous: true}\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"key twice", "tenants:\n  - name: contoso\n    name: fabrikam\n", `line 3: the key "name" is given twice in the same mapping`},
		{"key twice in an API", "tenants:\n  - name: default\n" + strings.Replace(api, "pathPrefix: /dup}", "pathPrefix: /dup, pathPrefix: /other}", 1), `line 5: the key "pathPrefix" is given twice`},
		{"key twice in JSON", `{"tenants":[{"name":"default","apis":[{"name":"dup","name":"other"}]}]}`, `line 1: the key "name" is given twice`},
		{"list of the wrong type", "tenants:\n  - name: default\n    apis: dup\n", `field "tenants.apis" must be a list, not a JSON string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, file, tc.doc)
			code, _, errOut := s.cli(t, "", "apply", "-f", file)
			if code != 1 || !strings.Contains(errOut, file+": "+tc.want) || !strings.Contains(errOut, "nothing was changed") {
				t.Errorf("exit %d, %q; want exit 1 and %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "Go struct") || strings.Contains(errOut, "declarative.") {
				t.Errorf("the error speaks of Go types: %q", errOut)
			}
		})
	}
	if out := s.ok(t, "", "tenant", "list") + s.ok(t, "", "api", "list"); strings.Contains(out, "fabrikam") || strings.Contains(out, "dup") {
		t.Errorf("a refused apply changed the server:\n%s", out)
	}
}
