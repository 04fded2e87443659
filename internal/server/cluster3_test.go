package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/tcpproxy"
	"github.com/portcullis/portcullis/internal/vault"
)

// clusterBound is how long a test waits for a change to reach every node
// before it fails: generous, so that a loaded machine does not fail it;
// the measured time is logged (docs/BENCHMARKS.md has the benchmark).
const clusterBound = 10 * time.Second

// startThreeNodes starts three nodes on one fresh PostgreSQL schema. Their
// revision poll is 30 s, so that a change arriving within clusterBound
// proves the notification path; the poll stays the safety net.
func startThreeNodes(t *testing.T) []*running {
	t.Helper()
	return startThreeNodesWith(t, Config{})
}

// startThreeNodesWith is startThreeNodes with base's key rotation
// settings, and with a plain-HTTP gateway listener on each node when
// base.GatewayListen is not nil (its value is ignored; gatewayURL gives the
// listener's URL).
func startThreeNodesWith(t *testing.T, base Config) []*running {
	t.Helper()
	dbURL := pgtest.NewDatabaseURL(t)
	t.Setenv(RootKeyEnv, strings.Repeat("5a", 32))
	first := t.TempDir()
	cfg := func(dir string) Config {
		c := Config{Dev: true, DataDir: dir, DatabaseURL: dbURL, ReloadInterval: 30 * time.Second,
			RotationInterval: base.RotationInterval, KeyPrepublish: base.KeyPrepublish}
		if base.GatewayListen != nil {
			c.GatewayListen = []string{"http://" + freeLoopbackAddr(t)}
		}
		return c
	}
	nodes := []*running{startServer(t, cfg(first))}
	tls := devTLSPaths(first)
	for range 2 {
		c := cfg(t.TempDir())
		c.TLSCertFile, c.TLSKeyFile, c.AdminCredentialFile = tls.CertFile, tls.KeyFile, filepath.Join(first, "admin.json")
		nodes = append(nodes, startServer(t, c))
	}
	return nodes
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port is free now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gatewayURL is the URL of r's gateway listener.
func gatewayURL(r *running) string { return r.cfg.GatewayListen[0] }

// waitAll waits until ok holds on every node but the writer (index from),
// and logs how long the slowest took.
func waitAll(t *testing.T, nodes []*running, from int, what string, ok func(r *running) bool) {
	t.Helper()
	start := time.Now()
	for i, r := range nodes {
		if i == from {
			continue
		}
		for !ok(r) {
			if time.Since(start) > clusterBound {
				t.Fatalf("%s: node %d still does not see it after %s", what, i, clusterBound)
			}
			time.Sleep(10 * time.Millisecond) // polling interval for the condition above
		}
	}
	t.Logf("%s: on every node after %s", what, time.Since(start).Round(time.Millisecond))
}

type secretOut struct {
	SecretText string `json:"secretText"`
	KeyID      string `json:"id"`
}

// newClient registers an application with a secret on node r.
func newClient(t *testing.T, r *running, name string) (flowApp, secretOut) {
	t.Helper()
	var app flowApp
	if st := r.admin(t, "POST", "/tenants/default/applications", map[string]any{"displayName": name}, &app); st != http.StatusCreated {
		t.Fatalf("create %s: %d", name, st)
	}
	var s secretOut
	if st := r.admin(t, "POST", "/tenants/default/applications/"+name+"/passwordCredentials", map[string]any{}, &s); st != http.StatusCreated {
		t.Fatalf("add secret to %s: %d", name, st)
	}
	return app, s
}

func (r *running) getsToken(t *testing.T, appID, secret, scope string) bool {
	_, st, _ := r.token(t, r.cred.TenantID, appID, secret, scope)
	return st == http.StatusOK
}

// TestCluster_ThreeNodesSeeEveryKindOfChange makes each kind of change on
// one node and waits until the two others serve it.
func TestCluster_ThreeNodesSeeEveryKindOfChange(t *testing.T) {
	nodes := startThreeNodes(t)
	ctx := context.Background()
	vaultScope := directory.VaultIdentifierURI + "/.default"
	app, secret := newClient(t, nodes[0], "propagation-client")
	waitAll(t, nodes, 0, "application with a secret (directory)", func(r *running) bool {
		return r.getsToken(t, app.AppID, secret.SecretText, vaultScope)
	})

	if st := nodes[1].admin(t, "POST", "/vaults/default/roleAssignments", map[string]any{"principal": app.AppID, "role": vault.RoleSecretsUser}, nil); st != http.StatusCreated {
		t.Fatalf("assign vault role: %d", st)
	}
	if _, err := nodes[1].srv.Vault().SetSecret(ctx, vault.Caller{Admin: true}, vault.DefaultVault, "hr-password", vault.SecretInput{Value: vault.NewStringValue("v1")}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, nodes, 1, "vault role assignment and secret", func(r *running) bool {
		tok, st, _ := r.token(t, r.cred.TenantID, app.AppID, secret.SecretText, vaultScope)
		if st != http.StatusOK {
			return false
		}
		st, _, _ = r.call(t, "GET", "/vaults/default/secrets/hr-password?api-version=7.6", "Bearer "+tok)
		return st == http.StatusOK
	})

	if st := nodes[2].admin(t, "POST", "/tenants/default/applications", map[string]any{"displayName": "orders", "identifierUris": []string{"api://orders"}}, nil); st != http.StatusCreated {
		t.Fatalf("create api://orders: %d", st)
	}
	api := map[string]any{
		"name":    "orders",
		"match":   map[string]any{"hosts": []string{"api.example.com"}, "pathPrefix": "/orders", "methods": []string{"GET"}},
		"backend": map[string]any{"urls": []string{"http://127.0.0.1:9000"}},
		"policy":  map[string]any{"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": "default"}}, "audiences": []string{"api://orders"}}}},
	}
	if st := nodes[2].admin(t, "POST", "/tenants/default/apis", api, nil); st != http.StatusCreated {
		t.Fatalf("create API: %d", st)
	}
	tenantID := nodes[2].cred.TenantID
	waitAll(t, nodes, 2, "API (gateway route)", func(r *running) bool {
		_, ok := r.srv.sts.Snapshot().API(tenantID, "orders")
		return ok
	})

	connector := map[string]any{
		"name": "hr", "endpoint": "https://hr.example.com/enrich",
		"authentication": map[string]any{"type": "basic", "username": "portcullis", "password": "vault://default/secrets/hr-password"},
		"inputClaims":    []any{map[string]any{"claimType": "appid", "partnerClaimType": "clientId"}},
		"outputClaims":   []any{map[string]any{"claimType": "department"}},
	}
	if st := nodes[0].admin(t, "POST", "/tenants/default/connectors", connector, nil); st != http.StatusCreated {
		t.Fatalf("create connector: %d", st)
	}
	waitAll(t, nodes, 0, "connector", func(r *running) bool {
		_, ok := r.srv.sts.Snapshot().Connector(tenantID, "hr")
		return ok
	})
}

// TestCluster_RevocationReachesEveryNode deletes, on one node, each kind of
// thing a caller relies on, and waits until the two other nodes refuse it.
func TestCluster_RevocationReachesEveryNode(t *testing.T) {
	nodes := startThreeNodes(t)
	vaultScope := directory.VaultIdentifierURI + "/.default"
	secretPath := "/vaults/default/secrets/db?api-version=7.6"
	if _, err := nodes[0].srv.Vault().SetSecret(context.Background(), vault.Caller{Admin: true}, vault.DefaultVault, "db", vault.SecretInput{Value: vault.NewStringValue("x")}); err != nil {
		t.Fatal(err)
	}
	// prepare registers a vault reader on node 0 and returns, once every
	// node reads with it, a token per node.
	prepare := func(t *testing.T, name string) (flowApp, secretOut, []string) {
		app, s := newClient(t, nodes[0], name)
		if st := nodes[0].admin(t, "POST", "/vaults/default/roleAssignments", map[string]any{"principal": app.AppID, "role": vault.RoleSecretsUser}, nil); st != http.StatusCreated {
			t.Fatalf("assign vault role: %d", st)
		}
		toks := make([]string, len(nodes))
		waitAll(t, nodes, -1, name+" reads the vault", func(r *running) bool {
			tok, st, _ := r.token(t, r.cred.TenantID, app.AppID, s.SecretText, vaultScope)
			if st != http.StatusOK {
				return false
			}
			st, _, _ = r.call(t, "GET", secretPath, "Bearer "+tok)
			return st == http.StatusOK
		})
		for i, r := range nodes {
			tok, st, body := r.token(t, r.cred.TenantID, app.AppID, s.SecretText, vaultScope)
			if st != http.StatusOK {
				t.Fatalf("token on node %d: %d %v", i, st, body)
			}
			toks[i] = tok
		}
		return app, s, toks
	}
	refusedRead := func(toks []string) func(r *running) bool {
		return func(r *running) bool {
			for i, n := range nodes {
				if n == r {
					st, _, _ := r.call(t, "GET", secretPath, "Bearer "+toks[i])
					return st == http.StatusUnauthorized || st == http.StatusForbidden
				}
			}
			return false
		}
	}

	t.Run("application", func(t *testing.T) {
		app, _, toks := prepare(t, "revoked-app")
		if st := nodes[0].admin(t, "DELETE", "/tenants/default/applications/"+app.AppID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete: %d", st)
		}
		waitAll(t, nodes, 0, "deleted application's tokens refused", refusedRead(toks))
	})
	t.Run("credential", func(t *testing.T) {
		app, s, _ := prepare(t, "revoked-secret")
		if st := nodes[0].admin(t, "DELETE", "/tenants/default/applications/revoked-secret/passwordCredentials/"+s.KeyID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete secret %q: %d", s.KeyID, st)
		}
		waitAll(t, nodes, 0, "deleted secret refused", func(r *running) bool { return !r.getsToken(t, app.AppID, s.SecretText, vaultScope) })
	})
	t.Run("vault role assignment", func(t *testing.T) {
		app, _, toks := prepare(t, "revoked-role")
		var list struct {
			Value []struct {
				ID          string `json:"id"`
				PrincipalID string `json:"principalId"`
			} `json:"value"`
		}
		nodes[0].admin(t, "GET", "/vaults/default/roleAssignments", nil, &list)
		id := ""
		for _, a := range list.Value {
			if strings.EqualFold(a.PrincipalID, app.AppID) {
				id = a.ID
			}
		}
		if st := nodes[0].admin(t, "DELETE", "/vaults/default/roleAssignments/"+id, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete role assignment %q: %d", id, st)
		}
		waitAll(t, nodes, 0, "removed vault role refused", refusedRead(toks))
	})
	t.Run("tenant", func(t *testing.T) {
		var tn struct {
			ID string `json:"id"`
		}
		if st := nodes[0].admin(t, "POST", "/tenants", map[string]any{"name": "fabrikam"}, &tn); st != http.StatusCreated {
			t.Fatalf("create tenant: %d", st)
		}
		waitAll(t, nodes, 0, "new tenant's discovery", func(r *running) bool {
			st, _, _ := r.call(t, "GET", "/"+tn.ID+"/v2.0/.well-known/openid-configuration")
			return st == http.StatusOK
		})
		if st := nodes[0].admin(t, "DELETE", "/tenants/fabrikam", nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete tenant: %d", st)
		}
		waitAll(t, nodes, 0, "deleted tenant's discovery gone", func(r *running) bool {
			st, _, _ := r.call(t, "GET", "/"+tn.ID+"/v2.0/.well-known/openid-configuration")
			return st == http.StatusNotFound || st == http.StatusBadRequest
		})
	})
	t.Run("signing key", func(t *testing.T) {
		_, _, toks := prepare(t, "revoked-key")
		kid := tokenKid(t, toks[0])
		if err := nodes[0].srv.store.DeleteSigningKey(context.Background(), nodes[0].cred.TenantID, kid); err != nil {
			t.Fatal(err)
		}
		waitAll(t, nodes, -1, "tokens of a deleted signing key refused", refusedRead(toks))
	})
}

// tokenKid returns the kid of a JWT's header.
func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("token header %s: %v", b, err)
	}
	return hdr.Kid
}

// TestCluster_AssertionAcceptedOnOneNodeIsRefusedOnTheOthers sends one
// client assertion to node 0, then the same one to nodes 1 and 2.
func TestCluster_AssertionAcceptedOnOneNodeIsRefusedOnTheOthers(t *testing.T) {
	nodes := startThreeNodes(t)
	app, _ := newClient(t, nodes[0], "assertion-client")
	key, err := pki.GenerateKey(pki.KeyTypeRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pki.ParseSubject("CN=assertion-client")
	cert, err := pki.SelfSigned(subject, key, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := nodes[0].admin(t, "POST", "/tenants/default/applications/assertion-client/keyCredentials", map[string]any{"certificate": base64.StdEncoding.EncodeToString(cert.Raw)}, nil); st != http.StatusCreated {
		t.Fatalf("add certificate: %d", st)
	}
	cred, err := oauthclient.CertificateCredential(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	tenant := nodes[0].cred.TenantID
	post := func(r *running, assertion string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.AppID}, "scope": {directory.VaultIdentifierURI + "/.default"},
			"client_assertion_type": {oauthclient.ClientAssertionType}, "client_assertion": {assertion}}
		res, err := r.client.PostForm(r.base+"/"+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	// A fresh assertion per node until each accepts one: the certificate
	// has reached every node.
	waitAll(t, nodes, -1, "certificate credential", func(r *running) bool {
		a, err := cred.ClientAssertion(r.base+"/"+tenant+"/oauth2/v2.0/token", app.AppID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		st, _ := post(r, a)
		return st == http.StatusOK
	})
	// The aud claim names node 0's token endpoint; the nodes derive their
	// endpoint from the Host header (no --public-url, as behind a load
	// balancer passing the public Host), so the replays carry node 0's Host.
	a, err := cred.ClientAssertion(nodes[0].base+"/"+tenant+"/oauth2/v2.0/token", app.AppID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, body := post(nodes[0], a); st != http.StatusOK {
		t.Fatalf("node 0 refused a fresh assertion: %d %v", st, body)
	}
	for i, r := range nodes[1:] {
		st, body := postWithHost(t, r, nodes[0], tenant, app.AppID, a)
		desc, _ := body["error_description"].(string)
		if st != http.StatusUnauthorized || !strings.Contains(desc, "already used") {
			t.Fatalf("node %d answered the replayed assertion with %d %v; want 401 'already used'", i+1, st, body)
		}
	}
}

// postWithHost sends a token request with an assertion to node r under
// the Host of node as (the assertion's audience).
func postWithHost(t *testing.T, r, as *running, tenant, clientID, assertion string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {directory.VaultIdentifierURI + "/.default"},
		"client_assertion_type": {oauthclient.ClientAssertionType}, "client_assertion": {assertion}}
	req, err := http.NewRequest("POST", r.base+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = strings.TrimPrefix(as.base, "https://")
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

// TestCluster_FailureBudgetIsSharedAcrossNodes spends a client id's whole
// failure budget (20) on node 0; node 1 then throttles the client id after
// far fewer failures of its own than a per-node budget would allow.
func TestCluster_FailureBudgetIsSharedAcrossNodes(t *testing.T) {
	nodes := startThreeNodes(t)
	app, _ := newClient(t, nodes[0], "guessed")
	waitAll(t, nodes, 0, "client registered", func(r *running) bool {
		_, ok := r.srv.sts.Snapshot().Application(r.cred.TenantID, app.AppID)
		return ok
	})
	for range 20 {
		if _, st, body := nodes[0].token(t, nodes[0].cred.TenantID, app.AppID, "wrong", "api://portcullis-management/.default"); st != http.StatusUnauthorized {
			t.Fatalf("a wrong secret on node 0: %d %v; want 401", st, body)
		}
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		_, st, body := nodes[1].token(t, nodes[1].cred.TenantID, app.AppID, "wrong", "api://portcullis-management/.default")
		if st == http.StatusTooManyRequests {
			t.Logf("node 1 throttled the client id after %d failures of its own, %s after node 0's", attempt, time.Since(start).Round(time.Millisecond))
			return
		}
		if st != http.StatusUnauthorized {
			t.Fatalf("node 1: %d %v", st, body)
		}
		if attempt >= 10 {
			t.Fatalf("node 1 took %d failures without throttling: the budget spent on node 0 did not reach it", attempt)
		}
		time.Sleep(500 * time.Millisecond) // attempts spread over ~5 s, 20 exchange intervals
	}
}

// TestCluster_LeasesElectOneNode: with a rotation always due (a 2 ms
// rotation interval), three nodes running the rotation pass at once create
// exactly one new signing key; and exactly one of them takes the vault
// maintenance lease (lifetime actions, purges).
func TestCluster_LeasesElectOneNode(t *testing.T) {
	nodes := startThreeNodesWith(t, Config{RotationInterval: 2 * time.Millisecond, KeyPrepublish: time.Millisecond})
	ctx := context.Background()
	tenant := nodes[0].cred.TenantID
	count := func() int {
		keys, err := nodes[0].srv.store.ListSigningKeys(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	// The lease holder's first pass at start rotates once (the first key is
	// already due); wait for it, so that no pass of Serve's runs meanwhile
	// (the next is a minute away).
	deadline := time.Now().Add(clusterBound)
	for count() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no node rotated at start: %d keys", count())
		}
		time.Sleep(10 * time.Millisecond) // polling interval for the condition above
	}
	before := count()
	var mu sync.Mutex
	rotated, maintained := 0, 0
	var wg sync.WaitGroup
	for _, r := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, err := r.srv.sts.RotateDueKeys(ctx, time.Minute)
			if err != nil {
				t.Error(err)
			}
			ok, err := r.srv.store.TryLease(ctx, vaultMaintenanceLease, r.srv.nodeID, time.Minute, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if held {
				rotated++
			}
			if ok {
				maintained++
			}
		}()
	}
	wg.Wait()
	if rotated != 1 || maintained != 1 {
		t.Fatalf("rotation ran on %d nodes, vault maintenance on %d; want exactly 1 each", rotated, maintained)
	}
	if after := count(); after != before+1 {
		t.Fatalf("%d signing keys after three nodes' rotation passes, %d before; want exactly one more", after, before)
	}
}

// TestCluster_AssertionTokensDuringADatabaseOutage: with PostgreSQL
// unreachable, a node keeps issuing tokens for client assertions on its own
// replay cache (static stability, documented as degraded replay protection)
// and still refuses a replay on itself.
func TestCluster_AssertionTokensDuringADatabaseOutage(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), DatabaseURL: u.String(), MetricsListen: "127.0.0.1:0"})
	app, _ := newClient(t, r, "outage-client")
	key, err := pki.GenerateKey(pki.KeyTypeRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := pki.ParseSubject("CN=outage-client")
	cert, err := pki.SelfSigned(subject, key, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := r.admin(t, "POST", "/tenants/default/applications/outage-client/keyCredentials", map[string]any{"certificate": base64.StdEncoding.EncodeToString(cert.Raw)}, nil); st != http.StatusCreated {
		t.Fatalf("add certificate: %d", st)
	}
	cred, err := oauthclient.CertificateCredential(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func() string {
		a, err := cred.ClientAssertion(r.base+"/"+r.cred.TenantID+"/oauth2/v2.0/token", app.AppID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if st, body := postWithHost(t, r, r, r.cred.TenantID, app.AppID, assertion()); st != http.StatusOK {
		t.Fatalf("before the outage: %d %v", st, body)
	}
	proxy.Cut()
	a := assertion()
	if st, body := postWithHost(t, r, r, r.cred.TenantID, app.AppID, a); st != http.StatusOK {
		t.Fatalf("during the outage: %d %v; want a token", st, body)
	}
	st, body := postWithHost(t, r, r, r.cred.TenantID, app.AppID, a)
	if desc, _ := body["error_description"].(string); st != http.StatusUnauthorized || !strings.Contains(desc, "already used") {
		t.Fatalf("a replay on the same node during the outage: %d %v; want 401 'already used'", st, body)
	}
	if m := r.scrape(t); !strings.Contains(m, "portcullis_sts_replay_unshared_total 1") {
		t.Errorf("portcullis_sts_replay_unshared_total is not 1 after one unshared assertion")
	}
}

// TestCluster_GatewayFailureBudgetIsSharedAcrossNodes spends a source
// address's gateway budget (30 failed authentications) on node 0; node 1's
// gateway then refuses the address after far fewer failures of its own.
func TestCluster_GatewayFailureBudgetIsSharedAcrossNodes(t *testing.T) {
	nodes := startThreeNodesWith(t, Config{GatewayListen: []string{}})
	if st := nodes[0].admin(t, "POST", "/tenants/default/applications", map[string]any{"displayName": "orders", "identifierUris": []string{"api://orders"}}, nil); st != http.StatusCreated {
		t.Fatalf("create api://orders: %d", st)
	}
	api := map[string]any{
		"name":    "orders",
		"match":   map[string]any{"pathPrefix": "/orders"},
		"backend": map[string]any{"urls": []string{"http://127.0.0.1:9"}},
		"policy":  map[string]any{"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": "default"}}, "audiences": []string{"api://orders"}}}},
	}
	if st := nodes[0].admin(t, "POST", "/tenants/default/apis", api, nil); st != http.StatusCreated {
		t.Fatalf("create API: %d", st)
	}
	get := func(r *running, auth string) int {
		req, _ := http.NewRequest("GET", gatewayURL(r)+"/orders", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitAll(t, nodes, -1, "API routed", func(r *running) bool { return get(r, "") == http.StatusUnauthorized })
	const forged = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vIn0.e30.c2ln"
	for range 30 {
		if st := get(nodes[0], forged); st != http.StatusUnauthorized {
			t.Fatalf("a forged token on node 0: %d; want 401", st)
		}
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		st := get(nodes[1], forged)
		if st == http.StatusTooManyRequests {
			t.Logf("node 1 refused the address after %d failures of its own, %s after node 0's", attempt, time.Since(start).Round(time.Millisecond))
			return
		}
		if st != http.StatusUnauthorized {
			t.Fatalf("node 1: %d", st)
		}
		if attempt >= 10 {
			t.Fatalf("node 1 took %d failures without refusing: the budget spent on node 0 did not reach it", attempt)
		}
		time.Sleep(500 * time.Millisecond) // attempts spread over ~5 s, 20 exchange intervals
	}
}
