package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portcullis/portcullis/internal/logbuf"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

// The tests in this file drive the CLI, only through runWithInput, against
// a real dev server started in-process on 127.0.0.1:0. The CLI finds the
// server, its CA and the admin credential through --data, as an operator's
// CLI does on the machine running `portcullis serve --dev`.

// syncBuffer is a log or audit sink the test reads while the server writes.
type syncBuffer = logbuf.Buffer

// devServer is a running dev server and what the CLI needs to reach it.
type devServer struct {
	dir  string // working directory of the test (files the CLI writes)
	data string // --data DIR: admin.json, tls/ca.pem, the database
	logs *syncBuffer
	cred server.AdminCredential
	// banner is what the server printed at start (its endpoints).
	banner *syncBuffer

	mu      sync.Mutex
	secrets []string // values that must never appear on stderr or in the server log
}

// startDevServer starts `portcullis serve --dev` in-process in a fresh
// data directory and stops it when the test ends.
func startDevServer(t *testing.T) *devServer {
	t.Helper()
	return startDevServerWith(t, nil)
}

// startDevServerWith is startDevServer with the configuration changed by
// edit (nil: none), e.g. its gateway listeners.
func startDevServerWith(t *testing.T, edit func(*server.Config)) *devServer {
	t.Helper()
	dir := isolate(t)
	s := &devServer{dir: dir, data: filepath.Join(dir, "data"), logs: &syncBuffer{}, banner: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	cfg := server.Config{Listen: "127.0.0.1:0", Dev: true, DataDir: s.data, ShutdownTimeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.Start(ctx, cfg, log, s.banner)
	if err != nil {
		cancel()
		t.Fatalf("server.Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		logs := s.logs.String()
		for _, sec := range s.secretList() {
			if strings.Contains(logs, sec) {
				t.Errorf("the server log contains a secret (%.4s…)", sec)
			}
		}
	})
	if err := json.Unmarshal(mustRead(t, filepath.Join(s.data, "admin.json")), &s.cred); err != nil {
		t.Fatalf("admin.json: %v", err)
	}
	_, port, _ := net.SplitHostPort(srv.Addr())
	if want := "https://localhost:" + port; cfg.PublicURL == "" && cfg.DatabaseURL == "" && s.cred.Addr != want {
		t.Fatalf("admin.json addr = %q, want the dev public URL %s (server listens on %s)", s.cred.Addr, want, srv.Addr())
	}
	s.addSecret(s.cred.ClientSecret)
	return s
}

func (s *devServer) addSecret(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, v)
}

func (s *devServer) secretList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// cli runs the CLI with --data pointing at the server's data directory
// (except for `cert create`, which contacts no server) and checks that no
// known secret appears on stderr.
func (s *devServer) cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	if args[0] != "cert" {
		args = append(slices.Clone(args), "--data", s.data)
	}
	code, out, errOut := exec(t, stdin, args...)
	for _, sec := range s.secretList() {
		if strings.Contains(errOut, sec) {
			t.Errorf("portcullis %s: stderr shows a secret (%.4s…): %q", strings.Join(args, " "), sec, errOut)
		}
	}
	if code == 0 && errOut != "" {
		t.Errorf("portcullis %s: exit 0 with stderr %q", strings.Join(args, " "), errOut)
	}
	return code, out, errOut
}

// ok runs the CLI and fails the test unless it exits 0; it returns stdout.
func (s *devServer) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := s.cli(t, stdin, args...)
	if code != 0 {
		t.Fatalf("portcullis %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// okJSON runs the CLI with -o json, fails unless it exits 0, and decodes
// stdout into a generic value.
func (s *devServer) okJSON(t *testing.T, stdin string, args ...string) map[string]any {
	t.Helper()
	out := s.ok(t, stdin, append(args, "-o", "json")...)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("portcullis %s -o json: stdout is not a JSON object (%v):\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// httpClient trusts the dev CA, for calls the CLI does not make itself.
func (s *devServer) httpClient(t *testing.T) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mustRead(t, s.cred.CA)) {
		t.Fatalf("no certificate in %s", s.cred.CA)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// rawAdmin GETs an admin API path with a management token obtained through
// `portcullis token get` and returns the decoded body: what the server
// itself says, to compare with the CLI's -o json.
func (s *devServer) rawAdmin(t *testing.T, token, path string) any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.cred.Addr+"/admin/v1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return v
}

// Field names of the admin API's JSON objects (admin-contract.md).
var (
	tenantFields        = []string{"id", "name", "createdAt"}
	tenantShowFields    = []string{"id", "name", "createdAt", "issuer", "tokenEndpoint", "jwksUri"}
	applicationFields   = []string{"tenantId", "appId", "objectId", "displayName", "identifierUris", "appRoles", "passwordCredentials", "keyCredentials", "federatedIdentityCredentials", "accessTokenLifetimeSeconds", "requireCertificateBoundTokens", "createdAt"}
	appRoleFields       = []string{"id", "value", "displayName", "description", "isEnabled"}
	passwordFields      = []string{"id", "hint", "description", "startDateTime", "endDateTime", "createdAt"}
	passwordNewFields   = append(slices.Clone(passwordFields), "secretText")
	keyCredentialFields = []string{"id", "description", "thumbprint", "x5tS256", "subject", "startDateTime", "endDateTime", "createdAt"}
	grantFields         = []string{"id", "tenantId", "clientAppId", "resourceAppId", "appRoleId", "roleValue", "createdAt"}
	signingKeyFields    = []string{"kid", "status", "createdAt", "activateAt", "publishedUntil"}
)

// wantFields checks that obj has exactly the given JSON field names.
func wantFields(t *testing.T, what string, obj any, want []string) {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Errorf("%s is %T, want a JSON object", what, obj)
		return
	}
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	w := slices.Clone(want)
	sort.Strings(w)
	if !slices.Equal(got, w) {
		t.Errorf("%s has fields %v, want %v", what, got, w)
	}
}

// values returns the "value" array of a list answer, checking its shape.
func values(t *testing.T, what string, list map[string]any) []map[string]any {
	t.Helper()
	wantFields(t, what, list, []string{"value"})
	arr, ok := list["value"].([]any)
	if !ok {
		t.Fatalf("%s: \"value\" is %T, want an array", what, list["value"])
	}
	out := make([]map[string]any, 0, len(arr))
	for i, v := range arr {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: value[%d] is %T", what, i, v)
		}
		out = append(out, m)
	}
	return out
}

func find(items []map[string]any, field, want string) map[string]any {
	for _, it := range items {
		if it[field] == want {
			return it
		}
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

// tokenClaims is the -o json --decode output of `token get`.
type tokenClaims struct {
	Response struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	} `json:"response"`
	Header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	} `json:"header"`
	Claims struct {
		Aud    string   `json:"aud"`
		Iss    string   `json:"iss"`
		Tid    string   `json:"tid"`
		Azp    string   `json:"azp"`
		Azpacr string   `json:"azpacr"`
		Roles  []string `json:"roles"`
		Ver    string   `json:"ver"`
		Iat    int64    `json:"iat"`
		Exp    int64    `json:"exp"`
	} `json:"claims"`
}

// TestE2E_ReadmeJourneyAgainstRealServer follows the README's journey with
// the CLI only: an API with a role, a client with a secret and a
// certificate, a grant, tokens with each credential, then listing, key
// rotation and a second tenant.
func TestE2E_ReadmeJourneyAgainstRealServer(t *testing.T) {
	s := startDevServer(t)

	// The API and its role.
	orders := s.okJSON(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")
	wantFields(t, "app create", orders, applicationFields)
	ordersID := str(orders["appId"])
	if ordersID == "" || !reflect.DeepEqual(orders["identifierUris"], []any{"api://orders"}) || orders["displayName"] != "orders-api" {
		t.Fatalf("app create orders-api = %v", orders)
	}
	role := s.okJSON(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	wantFields(t, "app role add", role, appRoleFields)
	if role["value"] != "Orders.Read" || role["isEnabled"] != true {
		t.Errorf("app role add = %v", role)
	}

	// The client, with a secret and a certificate.
	billing := s.okJSON(t, "", "app", "create", "billing-job")
	billingID := str(billing["appId"])
	if !reflect.DeepEqual(billing["identifierUris"], []any{"api://" + billingID}) {
		t.Errorf("default identifier URIs = %v, want [api://%s]", billing["identifierUris"], billingID)
	}
	sec := s.okJSON(t, "", "app", "secret", "add", "billing-job")
	wantFields(t, "app secret add", sec, passwordNewFields)
	secret := str(sec["secretText"])
	if len(secret) < 32 || !strings.HasPrefix(secret, str(sec["hint"])) {
		t.Fatalf("secretText %q (hint %q): want a long secret starting with its hint", secret, sec["hint"])
	}
	s.addSecret(secret)

	certOut := s.ok(t, "", "cert", "create", "--subject", "CN=billing-job", "--out", filepath.Join(s.dir, "billing-job"))
	m := passwordLine.FindStringSubmatch(certOut)
	if m == nil {
		t.Fatalf("cert create printed no generated password:\n%s", certOut)
	}
	pfxPassword := m[1]
	s.addSecret(pfxPassword)
	cert, err := pki.ParseCertificateFile(mustRead(t, filepath.Join(s.dir, "billing-job.cer")), "")
	if err != nil {
		t.Fatal(err)
	}
	kc := s.okJSON(t, "", "app", "cert", "add", "billing-job", filepath.Join(s.dir, "billing-job.cer"))
	wantFields(t, "app cert add", kc, keyCredentialFields)
	if kc["thumbprint"] != pki.ThumbprintSHA1Hex(cert) || kc["x5tS256"] != pki.X5TS256(cert) || !strings.Contains(str(kc["subject"]), "CN=billing-job") {
		t.Errorf("app cert add = %v; want thumbprint %s, x5tS256 %s", kc, pki.ThumbprintSHA1Hex(cert), pki.X5TS256(cert))
	}

	grant := s.okJSON(t, "", "grant", "add", "--client", "billing-job", "--resource", "orders-api", "--role", "Orders.Read")
	wantFields(t, "grant add", grant, grantFields)
	if grant["clientAppId"] != billingID || grant["resourceAppId"] != ordersID || grant["roleValue"] != "Orders.Read" || grant["appRoleId"] != role["id"] {
		t.Errorf("grant add = %v", grant)
	}

	// Tokens for the API with each kind of credential.
	issuer := s.cred.Addr + "/" + s.cred.TenantID + "/v2.0"
	var lastToken string
	for _, tc := range []struct {
		name   string
		stdin  string
		cred   []string
		azpacr string
	}{
		{"secret from stdin", secret + "\n", []string{"--secret", "-"}, "1"},
		{"PEM certificate", "", []string{"--cert", filepath.Join(s.dir, "billing-job.pem")}, "2"},
		{"PFX certificate", "", []string{"--cert", filepath.Join(s.dir, "billing-job.pfx"), "--password", pfxPassword}, "2"},
	} {
		t.Run("token get with "+tc.name, func(t *testing.T) {
			args := append([]string{"token", "get", "--client-id", billingID, "--scope", "api://orders/.default", "--decode", "-o", "json"}, tc.cred...)
			out := s.ok(t, tc.stdin, args...)
			var tok tokenClaims
			if err := json.Unmarshal([]byte(out), &tok); err != nil {
				t.Fatalf("token get -o json --decode: %v\n%s", err, out)
			}
			c := tok.Claims
			if !slices.Equal(c.Roles, []string{"Orders.Read"}) || c.Azpacr != tc.azpacr || c.Aud != ordersID ||
				c.Azp != billingID || c.Tid != s.cred.TenantID || c.Iss != issuer || c.Ver != "2.0" {
				t.Errorf("claims = %+v; want roles [Orders.Read], azpacr %s, aud %s, azp %s, tid %s, iss %s, ver 2.0",
					c, tc.azpacr, ordersID, billingID, s.cred.TenantID, issuer)
			}
			if tok.Header.Kid == "" || tok.Header.Alg != "RS256" || tok.Response.TokenType != "Bearer" || tok.Response.ExpiresIn <= 0 {
				t.Errorf("header %+v, response type %q expires_in %d", tok.Header, tok.Response.TokenType, tok.Response.ExpiresIn)
			}
			lastToken = tok.Response.AccessToken
		})
	}
	// Table output is the token alone, and it verifies against the
	// tenant's published keys (the CLI itself only decodes).
	out := s.ok(t, secret+"\n", "token", "get", "--client-id", billingID, "--secret", "-", "--scope", "api://orders/.default")
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "eyJ") {
		t.Errorf("token get table output should be the token alone: %q", out)
	}
	for _, raw := range []string{strings.TrimSpace(out), lastToken} {
		ctx := oidc.ClientContext(context.Background(), s.httpClient(t))
		p, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery of %s: %v", issuer, err)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: ordersID}).Verify(ctx, raw); err != nil {
			t.Errorf("the token from token get does not verify: %v", err)
		}
	}

	// Listing.
	apps := values(t, "app list", s.okJSON(t, "", "app", "list"))
	for _, a := range apps {
		wantFields(t, "app list: "+str(a["displayName"]), a, applicationFields)
	}
	for _, name := range []string{"orders-api", "billing-job", "portcullis-admin", "Portcullis Management"} {
		if find(apps, "displayName", name) == nil {
			t.Errorf("app list lacks %s", name)
		}
	}
	if b := find(apps, "appId", billingID); b != nil {
		pcs, _ := b["passwordCredentials"].([]any)
		kcs, _ := b["keyCredentials"].([]any)
		if len(pcs) != 1 || len(kcs) != 1 {
			t.Errorf("billing-job lists %d secrets and %d certificates, want 1 and 1", len(pcs), len(kcs))
		} else {
			wantFields(t, "app list: passwordCredential", pcs[0], passwordFields)
			wantFields(t, "app list: keyCredential", kcs[0], keyCredentialFields)
		}
	}
	if o := find(apps, "appId", ordersID); o != nil {
		roles, _ := o["appRoles"].([]any)
		if len(roles) != 1 {
			t.Errorf("orders-api lists roles %v", roles)
		} else {
			wantFields(t, "app list: appRole", roles[0], appRoleFields)
		}
	}
	table := s.ok(t, "", "app", "list")
	if !regexp.MustCompile(`(?m)^` + billingID + `\s+billing-job\s+api://` + billingID + `\s+0\s+1\s+1$`).MatchString(table) {
		t.Errorf("app list table lacks billing-job with 0 roles, 1 secret, 1 certificate:\n%s", table)
	}
	for _, o := range []string{table, s.ok(t, "", "app", "show", "billing-job"), s.ok(t, "", "app", "secret", "list", "billing-job")} {
		if strings.Contains(o, secret) {
			t.Errorf("a listing shows the client secret:\n%s", o)
		}
	}

	grants := s.ok(t, "", "grant", "list")
	if !regexp.MustCompile(`(?m)^` + str(grant["id"]) + `\s+billing-job\s+orders-api\s+Orders\.Read\s`).MatchString(grants) {
		t.Errorf("grant list lacks billing-job → orders-api Orders.Read by name:\n%s", grants)
	}
	if !regexp.MustCompile(`(?m)\sportcullis-admin\s+Portcullis Management\s+Portcullis\.Admin\s`).MatchString(grants) {
		t.Errorf("grant list lacks the bootstrap admin grant:\n%s", grants)
	}
	gl := values(t, "grant list", s.okJSON(t, "", "grant", "list"))
	if len(gl) != 2 {
		t.Errorf("grant list -o json has %d grants, want 2", len(gl))
	}
	for _, g := range gl {
		wantFields(t, "grant list", g, grantFields)
	}

	// Signing keys: a non-immediate rotation publishes a "next" key.
	keys := values(t, "keys list", s.okJSON(t, "", "keys", "list"))
	if len(keys) != 1 || keys[0]["status"] != "active" {
		t.Fatalf("keys list before rotation = %v, want one active key", keys)
	}
	wantFields(t, "keys list", keys[0], signingKeyFields)
	rot := s.okJSON(t, "", "keys", "rotate")
	wantFields(t, "keys rotate", rot, []string{"kid"})
	newKid := str(rot["kid"])
	keys = values(t, "keys list", s.okJSON(t, "", "keys", "list"))
	if k := find(keys, "kid", newKid); k == nil || k["status"] != "next" || len(keys) != 2 {
		t.Errorf("after keys rotate: %v; want the old key active and %s next", keys, newKid)
	}
	if kt := s.ok(t, "", "keys", "list"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(newKid) + `\s+next\s`).MatchString(kt) {
		t.Errorf("keys list table lacks %s next:\n%s", newKid, kt)
	}

	// A second tenant, with an application of its own.
	contoso := s.okJSON(t, "", "tenant", "create", "contoso")
	wantFields(t, "tenant create", contoso, tenantFields)
	tenants := values(t, "tenant list", s.okJSON(t, "", "tenant", "list"))
	if find(tenants, "name", "contoso") == nil || find(tenants, "name", "default") == nil || len(tenants) != 2 {
		t.Errorf("tenant list = %v", tenants)
	}
	if tt := s.ok(t, "", "tenant", "list"); !strings.Contains(tt, str(contoso["id"])+"  contoso") {
		t.Errorf("tenant list table lacks contoso:\n%s", tt)
	}
	x := s.okJSON(t, "", "app", "create", "x", "--tenant", "contoso")
	if x["tenantId"] != contoso["id"] {
		t.Errorf("app create x --tenant contoso: tenantId %v, want %v", x["tenantId"], contoso["id"])
	}
	if ca := values(t, "app list --tenant contoso", s.okJSON(t, "", "app", "list", "--tenant", "contoso")); len(ca) != 1 || ca[0]["appId"] != x["appId"] {
		t.Errorf("app list --tenant contoso = %v, want only x", ca)
	}
	if code, _, errOut := s.cli(t, "", "app", "show", "x"); code != 1 || !strings.Contains(errOut, `"x" not found`) {
		t.Errorf("app x of contoso is visible in the default tenant: exit %d, %q", code, errOut)
	}
	show := s.okJSON(t, "", "tenant", "show", "contoso")
	wantFields(t, "tenant show", show, tenantShowFields)
	if show["issuer"] != s.cred.Addr+"/"+str(contoso["id"])+"/v2.0" {
		t.Errorf("tenant show issuer = %v", show["issuer"])
	}
}

// TestE2E_JSONOutputIsTheAdminAPIsJSON compares every -o json listing with
// the admin API's own answer: same field names, same values.
func TestE2E_JSONOutputIsTheAdminAPIsJSON(t *testing.T) {
	s := startDevServer(t)
	s.ok(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders", "--token-lifetime", "30m")
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read", "--display-name", "Read orders", "--description", "Read all orders")
	s.ok(t, "", "app", "create", "billing-job")
	s.addSecret(str(s.okJSON(t, "", "app", "secret", "add", "billing-job", "--description", "ci", "--expires", "30d")["secretText"]))
	s.ok(t, "", "cert", "create", "--subject", "CN=billing-job", "--out", filepath.Join(s.dir, "bj"), "--key", "ec256", "--password", "pw")
	s.ok(t, "", "app", "cert", "add", "billing-job", filepath.Join(s.dir, "bj.pem"), "--description", "laptop")
	s.ok(t, "", "grant", "add", "--client", "billing-job", "--resource", "orders-api", "--role", "Orders.Read")
	s.ok(t, "", "tenant", "create", "contoso")

	// A management token, obtained with the CLI from the dev credential.
	var tok tokenClaims
	out := s.ok(t, s.cred.ClientSecret, "token", "get", "--client-id", s.cred.ClientID, "--secret", "-",
		"--tenant", s.cred.TenantID, "--scope", s.cred.Scope, "--decode", "-o", "json")
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok.Claims.Roles, []string{"Portcullis.Admin"}) {
		t.Fatalf("admin token roles = %v", tok.Claims.Roles)
	}

	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"tenant", "list"}, "/tenants"},
		{[]string{"tenant", "show", "contoso"}, "/tenants/contoso"},
		{[]string{"app", "list"}, "/tenants/default/applications"},
		{[]string{"app", "show", "orders-api"}, "/tenants/default/applications/orders-api"},
		{[]string{"app", "show", "billing-job"}, "/tenants/default/applications/billing-job"},
		{[]string{"app", "role", "list", "orders-api"}, "/tenants/default/applications/orders-api/appRoles"},
		{[]string{"app", "secret", "list", "billing-job"}, "/tenants/default/applications/billing-job/passwordCredentials"},
		{[]string{"app", "cert", "list", "billing-job"}, "/tenants/default/applications/billing-job/keyCredentials"},
		{[]string{"grant", "list"}, "/tenants/default/grants"},
		{[]string{"keys", "list", "--tenant", "contoso"}, "/tenants/contoso/signingKeys"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var cli any = s.okJSON(t, "", tc.args...)
			raw := s.rawAdmin(t, tok.Response.AccessToken, tc.path)
			if !reflect.DeepEqual(cli, raw) {
				a, _ := json.MarshalIndent(cli, "", "  ")
				b, _ := json.MarshalIndent(raw, "", "  ")
				t.Errorf("CLI -o json differs from GET /admin/v1%s\nCLI:\n%s\nAPI:\n%s", tc.path, a, b)
			}
		})
	}
}

// TestE2E_ErrorsThroughRealServer checks what the CLI says when the real
// server (or the token endpoint) refuses: exit code 1, one "error:" line
// naming what was wrong, and never a secret.
func TestE2E_ErrorsThroughRealServer(t *testing.T) {
	s := startDevServer(t)
	s.ok(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	billingID := str(s.okJSON(t, "", "app", "create", "billing-job")["appId"])
	secret := str(s.okJSON(t, "", "app", "secret", "add", "billing-job")["secretText"])
	s.addSecret(secret)
	grantID := str(s.okJSON(t, "", "grant", "add", "--client", "billing-job", "--resource", "orders-api", "--role", "Orders.Read")["id"])
	s.ok(t, "", "cert", "create", "--subject", "CN=stranger", "--out", filepath.Join(s.dir, "stranger"), "--password", "pw")
	s.ok(t, "", "app", "cert", "add", "orders-api", filepath.Join(s.dir, "stranger.cer")) // not billing-job's
	var adminGrant string
	for _, g := range values(t, "grant list", s.okJSON(t, "", "grant", "list")) {
		if g["roleValue"] == "Portcullis.Admin" {
			adminGrant = str(g["id"])
		}
	}
	if adminGrant == "" {
		t.Fatal("no Portcullis.Admin grant in grant list")
	}
	wrongSecret := "Wr0ng~" + strings.Repeat("x", 34)
	s.addSecret(wrongSecret)

	tokenArgs := func(scope string, cred ...string) []string {
		return append([]string{"token", "get", "--client-id", billingID, "--scope", scope}, cred...)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"unknown app", "", []string{"app", "show", "no-such-app"}, []string{`"no-such-app" not found`, "tenant default", "'portcullis app list'"}},
		{"unknown identifier URI", "", []string{"app", "show", "api://nowhere"}, []string{`"api://nowhere"`, "'portcullis app list'"}},
		{"unknown app in secret add", "", []string{"app", "secret", "add", "no-such-app"}, []string{`"no-such-app" not found`}},
		{"unknown tenant", "", []string{"app", "list", "--tenant", "nowhere"}, []string{`tenant "nowhere" not found`}},
		{"duplicate identifier URI", "", []string{"app", "create", "orders-api-2", "--identifier-uri", "api://orders"},
			[]string{`identifier URI "api://orders" is used by application "orders-api"`, "choose another URI"}},
		{"duplicate display name", "", []string{"app", "create", "orders-api"}, []string{`display name "orders-api" is used`}},
		{"bad identifier URI", "", []string{"app", "create", "y", "--identifier-uri", "api://y/.default"}, []string{"/.default"}},
		{"grant of a non-existent role", "", []string{"grant", "add", "--client", "billing-job", "--resource", "orders-api", "--role", "Orders.Write"},
			[]string{`has no app role "Orders.Write"`, "Orders.Read"}},
		{"grant of a role the resource does not define", "", []string{"grant", "add", "--client", "orders-api", "--resource", "billing-job", "--role", "Orders.Read"},
			[]string{`"billing-job" defines no app roles`}},
		{"duplicate grant", "", []string{"grant", "add", "--client", "billing-job", "--resource", "orders-api", "--role", "Orders.Read"},
			[]string{"already holds", grantID}},
		{"secret with unparsable --expires", "", []string{"app", "secret", "add", "billing-job", "--expires", "soon"}, []string{`--expires "soon"`}},
		{"secret expiring after the server maximum", "", []string{"app", "secret", "add", "billing-job", "--expires", "3y"}, []string{"--expires 3y", "at most 2y", "--expires 2y or less"}},
		{"secret expiring before the server minimum", "", []string{"app", "secret", "add", "billing-job", "--expires", "30m"}, []string{"--expires 30m", "at least 1h0m0s"}},
		{"token get with a wrong secret", wrongSecret, tokenArgs("api://orders/.default", "--secret", "-"), []string{"invalid_client", "AADSTS7000215"}},
		{"token get with a scope without /.default", secret, tokenArgs("api://orders/Orders.Read", "--secret", "-"), []string{"invalid_scope", "AADSTS1002012"}},
		{"token get with two resources", secret, tokenArgs("api://orders/.default api://other/.default", "--secret", "-"), []string{"AADSTS70011"}},
		{"token get for an unknown resource", secret, tokenArgs("api://nowhere/.default", "--secret", "-"), []string{"AADSTS500011"}},
		{"token get with an unregistered certificate", "", tokenArgs("api://orders/.default", "--cert", filepath.Join(s.dir, "stranger.pfx"), "--password", "pw"),
			[]string{"invalid_client", "AADSTS700027"}},
		{"token get with a PFX and no password", "", tokenArgs("api://orders/.default", "--cert", filepath.Join(s.dir, "stranger.pfx")),
			[]string{"password-protected PFX and no password was given", "--password -"}},
		{"token get with a wrong PFX password", "nope\n", tokenArgs("api://orders/.default", "--cert", filepath.Join(s.dir, "stranger.pfx"), "--password", "-"),
			[]string{"the PFX password is wrong"}},
		{"app cert add of a PFX without password", "", []string{"app", "cert", "add", "billing-job", filepath.Join(s.dir, "stranger.pfx")},
			[]string{"password-protected PFX and no password was given"}},
		{"token get for an unknown client", secret, []string{"token", "get", "--client-id", "00000000-0000-4000-8000-000000000000", "--secret", "-", "--scope", "api://orders/.default"},
			[]string{"AADSTS700016"}},
		{"token get in an unknown tenant", secret, tokenArgs("api://orders/.default", "--secret", "-", "--tenant", "nowhere"), []string{"AADSTS90002"}},
		{"app role remove of a role in use", "", []string{"app", "role", "remove", "orders-api", "Orders.Read"},
			[]string{`app role "Orders.Read" is granted`, grantID, "delete them first"}},
		{"removing the management app", "", []string{"app", "delete", "Portcullis Management"}, []string{"management API", "cannot be deleted"}},
		{"removing the admin role", "", []string{"app", "role", "remove", "Portcullis Management", "Portcullis.Admin"}, []string{"Portcullis.Admin", "cannot be removed"}},
		{"removing the last admin grant", "", []string{"grant", "remove", adminGrant}, []string{"Portcullis.Admin"}},
		{"dropping the management identifier URI", "", []string{"app", "update", "Portcullis Management", "--identifier-uri", "api://other"},
			[]string{"api://portcullis-management"}},
		// Go's ServeMux answers a path with a ".." segment with a 307 to the
		// cleaned path; followed, these deleted the application itself.
		{"role named ..", "", []string{"app", "role", "remove", "orders-api", ".."}, []string{`".." cannot name an object`}},
		{"secret named ..", "", []string{"app", "secret", "remove", "billing-job", ".."}, []string{`".." cannot name an object`}},
		{"certificate named ..", "", []string{"app", "cert", "remove", "billing-job", ".."}, []string{`".." cannot name an object`}},
		{"app named ..", "", []string{"app", "show", ".."}, []string{`".." cannot name an object`}},
		{"empty app", "", []string{"app", "delete", ""}, []string{"empty name or id"}},
		{"empty tenant", "", []string{"app", "list", "--tenant", ""}, []string{"--tenant is empty", "'portcullis tenant list'"}},
		{"registering a certificate twice", "", []string{"app", "cert", "add", "orders-api", filepath.Join(s.dir, "stranger.cer")}, []string{`"orders-api" already has this certificate`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.cli(t, tc.stdin, tc.args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1 (stdout %q)", code, out)
			}
			if !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "error:") != 1 {
				t.Errorf("stderr should be one \"error: …\" message: %q", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if strings.Contains(out, secret) {
				t.Errorf("stdout shows the client secret: %q", out)
			}
		})
	}

	// The refusals left everything in place: the grant, the role, the
	// management application and its admin grant still work.
	gl := values(t, "grant list", s.okJSON(t, "", "grant", "list"))
	if find(gl, "id", grantID) == nil || find(gl, "id", adminGrant) == nil || len(gl) != 2 {
		t.Errorf("grants after the refusals = %v", gl)
	}
	if code, _, errOut := s.cli(t, secret, "token", "get", "--client-id", billingID, "--secret", "-", "--scope", "api://orders/.default"); code != 0 {
		t.Errorf("token get after the refusals: %s", errOut)
	}
	apps := values(t, "app list", s.okJSON(t, "", "app", "list"))
	if find(apps, "displayName", "orders-api") == nil || find(apps, "displayName", "billing-job") == nil || find(apps, "displayName", "Portcullis Management") == nil {
		t.Errorf("applications after the refusals = %v", apps)
	}
	if ss := values(t, "secret list", s.okJSON(t, "", "app", "secret", "list", "billing-job")); len(ss) != 1 {
		t.Errorf("refused secret adds left %d secrets, want 1", len(ss))
	}

	// Every command taking an application accepts its name, appId or
	// identifier URI.
	ordersID := str(find(apps, "displayName", "orders-api")["appId"])
	for _, ref := range []string{"orders-api", ordersID, "api://orders", "API://Orders/"} {
		if got := s.okJSON(t, "", "app", "show", ref); got["appId"] != ordersID {
			t.Errorf("app show %s = %v, want appId %s", ref, got["appId"], ordersID)
		}
		if out := s.ok(t, "", "app", "role", "list", ref); !strings.Contains(out, "Orders.Read") {
			t.Errorf("app role list %s = %q, want Orders.Read", ref, out)
		}
	}
	s.ok(t, "", "vault", "role", "assign", "--app", "api://orders", "--role", "Key Vault Secrets User")

	// --password - reads a PFX password from standard input everywhere.
	s.ok(t, "pw2\n", "cert", "create", "--subject", "CN=piped", "--out", filepath.Join(s.dir, "piped"), "--password", "-")
	s.ok(t, "pw2\n", "app", "cert", "add", "billing-job", filepath.Join(s.dir, "piped.pfx"), "--password", "-")
	if code, _, errOut := s.cli(t, "pw2\n", "token", "get", "--client-id", billingID, "--cert", filepath.Join(s.dir, "piped.pfx"), "--password", "-", "--scope", "api://orders/.default"); code != 0 {
		t.Errorf("token get with --password -: %s", errOut)
	}
}

// token runs `token get --decode -o json` and returns the decoded output;
// on failure it returns the exit code and stderr instead.
func (s *devServer) token(t *testing.T, stdin string, args ...string) (tokenClaims, int, string) {
	t.Helper()
	code, out, errOut := s.cli(t, stdin, append([]string{"token", "get", "--decode", "-o", "json"}, args...)...)
	var tok tokenClaims
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatalf("token get -o json --decode: %v\n%s", err, out)
		}
	}
	return tok, code, errOut
}

// TestE2E_ChangesTakeEffectOnTheNextToken changes registrations with the
// CLI and checks that the very next token request sees each change:
// lifetime and identifier URIs, removed grants, certificates and secrets,
// an immediate key rotation and a deleted application.
func TestE2E_ChangesTakeEffectOnTheNextToken(t *testing.T) {
	s := startDevServer(t)
	ordersID := str(s.okJSON(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")["appId"])
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	billingID := str(s.okJSON(t, "", "app", "create", "billing-job")["appId"])
	sec := s.okJSON(t, "", "app", "secret", "add", "billing-job", "--expires", "1d")
	secret := str(sec["secretText"])
	s.addSecret(secret)
	s.ok(t, "", "cert", "create", "--subject", "CN=billing-job", "--out", filepath.Join(s.dir, "bj"), "--password", "pw")
	thumbprint := str(s.okJSON(t, "", "app", "cert", "add", "billing-job", filepath.Join(s.dir, "bj.pfx"), "--password", "pw")["thumbprint"])
	grantID := str(s.okJSON(t, "", "grant", "add", "--client", billingID, "--resource", ordersID, "--role", "Orders.Read")["id"])
	withSecret := func(scope string, extra ...string) []string {
		return append([]string{"--client-id", billingID, "--secret", "-", "--scope", scope}, extra...)
	}
	withCert := []string{"--client-id", billingID, "--cert", filepath.Join(s.dir, "bj.pem"), "--scope", "api://orders/.default"}

	// The secret's expiry is what --expires asked for.
	start, _ := time.Parse(time.RFC3339, str(sec["startDateTime"]))
	end, _ := time.Parse(time.RFC3339, str(sec["endDateTime"]))
	if end.Sub(start) != 24*time.Hour {
		t.Errorf("secret add --expires 1d: valid %s .. %s", sec["startDateTime"], sec["endDateTime"])
	}

	upd := s.okJSON(t, "", "app", "update", "orders-api", "--display-name", "orders", "--token-lifetime", "10m",
		"--identifier-uri", "api://orders", "--identifier-uri", "https://orders.example.com")
	if upd["displayName"] != "orders" || upd["accessTokenLifetimeSeconds"] != float64(600) ||
		!reflect.DeepEqual(upd["identifierUris"], []any{"api://orders", "https://orders.example.com"}) {
		t.Errorf("app update = %v", upd)
	}
	tok, code, errOut := s.token(t, secret, withSecret("https://orders.example.com/.default")...)
	if code != 0 {
		t.Fatalf("token for the new identifier URI: %s", errOut)
	}
	if tok.Claims.Aud != ordersID || tok.Claims.Exp-tok.Claims.Iat != 600 || !slices.Equal(tok.Claims.Roles, []string{"Orders.Read"}) {
		t.Errorf("after app update: aud %s, lifetime %ds, roles %v; want %s, 600s, [Orders.Read]",
			tok.Claims.Aud, tok.Claims.Exp-tok.Claims.Iat, tok.Claims.Roles, ordersID)
	}
	oldKid := tok.Header.Kid

	s.ok(t, "", "grant", "remove", grantID)
	if tok, code, errOut = s.token(t, secret, withSecret("api://orders/.default")...); code != 0 || len(tok.Claims.Roles) != 0 {
		t.Errorf("after grant remove: exit %d %s, roles %v; want a token without roles", code, errOut, tok.Claims.Roles)
	}
	s.ok(t, "", "grant", "add", "--client", "billing-job", "--resource", "orders", "--role", "Orders.Read")

	rot := s.okJSON(t, "", "keys", "rotate", "--immediate")
	if tok, code, errOut = s.token(t, "", withCert...); code != 0 || tok.Header.Kid != str(rot["kid"]) || tok.Header.Kid == oldKid {
		t.Errorf("after keys rotate --immediate: exit %d %s, kid %s; want the new kid %s", code, errOut, tok.Header.Kid, rot["kid"])
	}
	keys := values(t, "keys list", s.okJSON(t, "", "keys", "list"))
	if k := find(keys, "kid", str(rot["kid"])); k == nil || k["status"] != "active" {
		t.Errorf("keys list after an immediate rotation = %v; want %s active", keys, rot["kid"])
	}
	if k := find(keys, "kid", oldKid); k == nil || k["status"] != "retired" {
		t.Errorf("keys list after an immediate rotation = %v; want the old key %s retired (still published)", keys, oldKid)
	}

	s.ok(t, "", "app", "cert", "remove", "billing-job", thumbprint)
	if _, code, errOut = s.token(t, "", withCert...); code != 1 || !strings.Contains(errOut, "AADSTS700027") {
		t.Errorf("token with a removed certificate: exit %d, %q", code, errOut)
	}
	s.ok(t, "", "app", "secret", "remove", "billing-job", str(sec["id"]))
	if _, code, errOut = s.token(t, secret, withSecret("api://orders/.default")...); code != 1 || !strings.Contains(errOut, "AADSTS7000215") {
		t.Errorf("token with a removed secret: exit %d, %q", code, errOut)
	}

	s.ok(t, "", "app", "delete", "billing-job")
	for _, g := range values(t, "grant list", s.okJSON(t, "", "grant", "list")) {
		if g["clientAppId"] == billingID {
			t.Errorf("app delete left grant %v", g)
		}
	}
	if _, code, errOut = s.token(t, secret, withSecret("api://orders/.default")...); code != 1 || !strings.Contains(errOut, "AADSTS700016") {
		t.Errorf("token for a deleted client: exit %d, %q", code, errOut)
	}

	// Another tenant issues its own tokens, named in any case.
	s.ok(t, "", "tenant", "create", "contoso")
	apiID := str(s.okJSON(t, "", "app", "create", "api", "--tenant", "CONTOSO", "--identifier-uri", "api://orders")["appId"])
	s.ok(t, "", "app", "role", "add", "api", "--value", "Orders.Read", "--tenant", "contoso")
	cliID := str(s.okJSON(t, "", "app", "create", "cli", "--tenant", "contoso")["appId"])
	cs := str(s.okJSON(t, "", "app", "secret", "add", "cli", "--tenant", "contoso")["secretText"])
	s.addSecret(cs)
	s.ok(t, "", "grant", "add", "--client", "cli", "--resource", "api", "--role", "Orders.Read", "--tenant", "contoso")
	tok, code, errOut = s.token(t, cs, "--client-id", cliID, "--secret", "-", "--scope", "api://orders/.default", "--tenant", "Contoso")
	contosoID := str(s.okJSON(t, "", "tenant", "show", "contoso")["id"])
	if code != 0 || tok.Claims.Aud != apiID || tok.Claims.Tid != contosoID || !slices.Equal(tok.Claims.Roles, []string{"Orders.Read"}) {
		t.Errorf("contoso token: exit %d %s, claims %+v; want aud %s tid %s", code, errOut, tok.Claims, apiID, contosoID)
	}
	if _, code, errOut = s.token(t, cs, "--client-id", cliID, "--secret", "-", "--scope", "api://orders/.default"); code != 1 || !strings.Contains(errOut, "AADSTS700016") {
		t.Errorf("contoso's client in the default tenant: exit %d, %q", code, errOut)
	}
}
