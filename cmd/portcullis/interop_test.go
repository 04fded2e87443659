package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The interop tests run Microsoft's own Node.js and Python clients, which
// nobody on this project wrote, against a dev server: MSAL, the Azure
// Identity credentials and the Key Vault clients, each script asserting the
// values it reads back, the signatures it verifies and the token claims.
// The scripts are in testdata/interop; see testdata/interop/README.md.
//
// A missing node/npm or Python module skips the test, naming what is
// missing, unless PORTCULLIS_TEST_INTEROP names that language ("node
// python", set by .ci/run once it has installed them): then it fails.

const interopRequireEnv = "PORTCULLIS_TEST_INTEROP"

func interopSkip(t *testing.T, lang, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if slices.Contains(strings.Fields(os.Getenv(interopRequireEnv)), lang) {
		t.Fatalf("%s (%s names %s: these clients must run)", msg, interopRequireEnv, lang)
	}
	t.Skip("SKIP: " + msg)
}

// interopEnv starts a dev server, registers what the scripts need (an API
// with an app role, a client with a secret, a certificate, the grant and
// Key Vault Administrator on the default vault) and returns the environment
// the scripts read (see common.mjs and common.py).
func interopEnv(t *testing.T) []string {
	t.Helper()
	s := startDevServer(t)
	const api, client, role = "interop-api", "interop-client", "Orders.Read"
	s.ok(t, "", "app", "create", api, "--identifier-uri", "api://interop")
	s.ok(t, "", "app", "role", "add", "api://interop", "--value", role)
	s.ok(t, "", "app", "create", client)
	secret := str(s.okJSON(t, "", "app", "secret", "add", client, "--expires", "1d")["secretText"])
	if secret == "" {
		t.Fatal("app secret add returned no secretText")
	}
	s.addSecret(secret)
	certBase := filepath.Join(s.dir, "interop-client")
	s.ok(t, "", "cert", "create", "--subject", "CN=interop-client", "--out", certBase)
	s.ok(t, "", "app", "cert", "add", client, certBase+".cer")
	s.ok(t, "", "grant", "add", "--client", client, "--resource", "api://interop", "--role", role)
	s.ok(t, "", "vault", "role", "assign", "--app", client, "--role", "Key Vault Administrator")
	clientID := str(s.okJSON(t, "", "app", "show", client)["appId"])
	apiID := str(s.okJSON(t, "", "app", "show", api)["appId"])
	tenant := str(s.okJSON(t, "", "tenant", "show")["id"])
	if clientID == "" || apiID == "" || tenant == "" {
		t.Fatalf("app show / tenant show: appId %q, %q, tenant %q", clientID, apiID, tenant)
	}
	u, err := url.Parse(s.cred.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") && !strings.HasPrefix(kv, "NODE_OPTIONS=") && !strings.HasPrefix(kv, "PYTHONPATH=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"PORTCULLIS_BASE="+s.cred.Addr,
		"PORTCULLIS_TENANT="+tenant,
		"PORTCULLIS_CLIENT_ID="+clientID,
		"PORTCULLIS_CLIENT_SECRET="+secret,
		"PORTCULLIS_CLIENT_CERT_PEM="+certBase+".pem",
		"PORTCULLIS_SCOPE=api://interop/.default",
		"PORTCULLIS_RESOURCE_APP_ID="+apiID,
		"PORTCULLIS_ROLE="+role,
		"PORTCULLIS_VAULT_URL=https://default."+u.Host, // host form: default.localhost:PORT
		"PORTCULLIS_VAULT_PATH_URL="+s.cred.Addr+"/vaults/default",
		// TLS trust for the dev CA, as a user would set it.
		"NODE_EXTRA_CA_CERTS="+s.cred.CA,
		"SSL_CERT_FILE="+s.cred.CA,
		"REQUESTS_CA_BUNDLE="+s.cred.CA,
	)
}

// runScript runs one client script and fails with its output unless it
// exits 0 and prints its closing "N checks passed" line.
func runScript(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), " checks passed") {
		t.Fatalf("%s %s printed no closing \"checks passed\" line:\n%s", name, strings.Join(args, " "), out)
	}
	t.Logf("%s", out)
}

// TestInterop_NodeClients runs @azure/msal-node, @azure/identity and
// @azure/keyvault-{secrets,keys,certificates} (versions pinned in
// testdata/interop/node/package-lock.json) against a dev server.
func TestInterop_NodeClients(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: the interop tests install npm packages")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "interop", "node"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := osexec.LookPath(tool); err != nil {
			interopSkip(t, "node", "the Node.js interop test needs %s, which is not installed", tool)
		}
	}
	out, err := osexec.Command("node", "-p", "process.versions.node.split('.')[0]").Output()
	if err != nil {
		interopSkip(t, "node", "node does not run: %v", err)
	}
	if major, err := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || major < 20 {
		interopSkip(t, "node", "the Node.js interop test needs Node.js 20 or later, found %q", strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	npm := osexec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	npm.Dir = dir
	if out, err := npm.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}

	env := interopEnv(t)
	// NAME.localhost resolves to loopback, as with systemd-resolved (see
	// localhost-dns.cjs): the host form of the vault URL then works.
	env = append(env, `NODE_OPTIONS=--require "`+filepath.Join(dir, "localhost-dns.cjs")+`"`)
	for _, script := range []string{"msal.mjs", "identity.mjs", "secrets.mjs", "keys.mjs", "certificates.mjs"} {
		t.Run(script, func(t *testing.T) { runScript(t, dir, env, "node", script) })
	}
}

// TestInterop_PythonClients runs msal and the Azure SDK for Python
// (azure.identity, azure.keyvault.*) as Debian packages them
// (python3-msal, python3-azure) against a dev server.
func TestInterop_PythonClients(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "interop", "python"))
	if err != nil {
		t.Fatal(err)
	}
	py, missing := findInteropPython()
	if py == "" {
		interopSkip(t, "python", "the Python interop test needs the Debian packages python3-msal and python3-azure (apt-get install python3-msal python3-azure): %s", missing)
	}
	// sitecustomize.py: NAME.localhost resolves to loopback; no __pycache__
	// in the source tree.
	env := append(interopEnv(t), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	t.Run("msal_client.py", func(t *testing.T) { runScript(t, dir, env, py, "msal_client.py") })
	t.Run("azure_clients.py", func(t *testing.T) { runScript(t, dir, env, py, "azure_clients.py") })
}

// findInteropPython returns the first Python that imports every module the
// scripts use ($PORTCULLIS_TEST_PYTHON, Debian's /usr/bin/python3, then
// python3 on PATH), or "" and what the last one lacked.
func findInteropPython() (string, string) {
	const probe = `import importlib.util as u
mods = ["msal", "cryptography", "azure.identity", "azure.keyvault.secrets", "azure.keyvault.keys", "azure.keyvault.certificates"]
def has(m):
    try:
        return u.find_spec(m) is not None
    except ImportError:
        return False
print(" ".join(m for m in mods if not has(m)))`
	var candidates []string
	if p := os.Getenv("PORTCULLIS_TEST_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	if p, err := osexec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	missing := "no python3 found"
	for _, c := range candidates {
		out, err := osexec.Command(c, "-c", probe).Output()
		if err != nil {
			continue
		}
		if m := strings.TrimSpace(string(out)); m != "" {
			missing = fmt.Sprintf("%s lacks %s", c, strings.Join(strings.Fields(m), ", "))
			continue
		}
		return c, ""
	}
	return "", missing
}
