package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
)

// vaultEnv is env with the vault enabled: the admin API serves the vault
// routes over a vault.Service on the same SQLite store.
type vaultEnv struct {
	*env
	svc *vault.Service
}

func newVaultEnv(t *testing.T) *vaultEnv {
	t.Helper()
	e := newEnv(t)
	st := e.st
	b := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	root, err := seal.ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(root), Now: func() time.Time { return e.now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		t.Fatalf("EnsureDefault: %v", err)
	}
	tokens := fakeTokens{
		tokAdmin:  {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}},
		tokNoRole: {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{"Other.Role"}},
	}
	api := New(Config{
		Store: st, Authenticator: tokens, Keys: e.keys, ManagementAppID: e.mgmt.AppID,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Now: func() time.Time { return e.now },
		Vaults: svc,
		// As the server wires it: every vault belongs to the default tenant.
		VaultTenant: func(string) string { return e.tenant.ID },
	})
	mux := http.NewServeMux()
	api.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e.base = "http://" + ln.Addr().String()
	e.mux = mux
	return &vaultEnv{env: e, svc: svc}
}

type vaultOutT struct {
	Name                    string    `json:"name"`
	SoftDeleteRetentionDays int       `json:"softDeleteRetentionDays"`
	PurgeProtection         bool      `json:"purgeProtection"`
	RecoveryLevel           string    `json:"recoveryLevel"`
	VaultURI                string    `json:"vaultUri"`
	CreatedAt               time.Time `json:"createdAt"`
}

type roleAssignmentOutT struct {
	ID            string    `json:"id"`
	Vault         string    `json:"vault"`
	Scope         string    `json:"scope"`
	PrincipalID   string    `json:"principalId"`
	PrincipalName string    `json:"principalName"`
	Role          string    `json:"role"`
	CreatedAt     time.Time `json:"createdAt"`
}

type auditOutT struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	TenantID  string    `json:"tenantId"`
	AppID     string    `json:"appId"`
	ObjectID  string    `json:"objectId"`
	Vault     string    `json:"vault"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Operation string    `json:"operation"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
}

func TestVaults_CreateListShowUpdate(t *testing.T) {
	e := newVaultEnv(t)
	r := e.must(http.StatusCreated, "POST", "/admin/v1/vaults", map[string]any{"name": "Team-A", "softDeleteRetentionDays": 30})
	v := strictDecode[vaultOutT](t, r.body)
	if v.Name != "team-a" || v.SoftDeleteRetentionDays != 30 || v.PurgeProtection || !v.CreatedAt.Equal(testNow) {
		t.Errorf("created %+v", v)
	}
	if v.VaultURI != e.base+"/vaults/team-a" || v.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
		t.Errorf("vaultUri %q recoveryLevel %q", v.VaultURI, v.RecoveryLevel)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}

	// The caller can use the vault through the Key Vault API at once.
	as, err := e.svc.ListRoleAssignments(context.Background(), vault.Caller{Admin: true}, "team-a")
	if err != nil || len(as) != 1 || as[0].PrincipalID != e.adminClient.AppID || as[0].Role != vault.RoleAdministrator || as[0].Scope != "" {
		t.Fatalf("assignments after create: %+v, %v", as, err)
	}
	if _, err := e.svc.GetVault(context.Background(), vault.Caller{Principal: guard.Principal{AppID: e.adminClient.AppID}}, "team-a"); err != nil {
		t.Errorf("the creating application cannot read the vault: %v", err)
	}

	l := strictDecode[listOf[vaultOutT]](t, e.must(200, "GET", "/admin/v1/vaults", nil).body)
	if len(l.Value) != 2 || l.Value[0].Name != "default" || l.Value[1].Name != "team-a" {
		t.Errorf("list %+v", l.Value)
	}
	got := strictDecode[vaultOutT](t, e.must(200, "GET", "/admin/v1/vaults/TEAM-A", nil).body)
	if got.Name != "team-a" {
		t.Errorf("show %+v", got)
	}
	up := strictDecode[vaultOutT](t, e.must(200, "PATCH", "/admin/v1/vaults/team-a", map[string]any{"softDeleteRetentionDays": 14, "purgeProtection": true}).body)
	if up.SoftDeleteRetentionDays != 14 || !up.PurgeProtection || up.RecoveryLevel != "CustomizedRecoverable" {
		t.Errorf("updated %+v", up)
	}

	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		parts              []string
	}{
		{"duplicate name", "POST", "/admin/v1/vaults", map[string]any{"name": "team-a"}, 409, "Conflict", []string{"already exists"}},
		{"invalid name", "POST", "/admin/v1/vaults", map[string]any{"name": "a_b"}, 400, "BadRequest", []string{"3-24 characters"}},
		{"missing name", "POST", "/admin/v1/vaults", map[string]any{"purgeProtection": true}, 400, "BadRequest", []string{`"name" is required`}},
		{"retention too short", "POST", "/admin/v1/vaults", map[string]any{"name": "short", "softDeleteRetentionDays": 3}, 400, "BadRequest", []string{"between 7 and 90"}},
		{"unknown field", "POST", "/admin/v1/vaults", map[string]any{"name": "x1x", "retention": 9}, 400, "BadRequest", []string{`"retention"`}},
		{"unknown vault", "GET", "/admin/v1/vaults/nope", nil, 404, "NotFound", []string{`vault "nope" does not exist`}},
		{"purge protection off", "PATCH", "/admin/v1/vaults/team-a", map[string]any{"purgeProtection": false}, 400, "BadRequest", []string{"cannot be turned off"}},
		{"empty patch", "PATCH", "/admin/v1/vaults/team-a", map[string]any{}, 400, "BadRequest", []string{"nothing to change"}},
		{"patch retention out of range", "PATCH", "/admin/v1/vaults/team-a", map[string]any{"softDeleteRetentionDays": 91}, 400, "BadRequest", []string{"between 7 and 90"}},
		{"patch unknown vault", "PATCH", "/admin/v1/vaults/nope", map[string]any{"softDeleteRetentionDays": 10}, 404, "NotFound", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(tc.method, tc.path, tc.body), tc.status, tc.code, tc.parts...)
		})
	}
}

func TestVaultRoleAssignments_AssignListRemove(t *testing.T) {
	e := newVaultEnv(t)
	client := e.createApp("orders-client")
	otherApp := directory.Application{TenantID: e.other.ID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: "elsewhere", CreatedAt: e.now}
	if err := e.st.CreateApplication(context.Background(), otherApp); err != nil {
		t.Fatal(err)
	}

	byName := strictDecode[roleAssignmentOutT](t, e.must(201, "POST", "/admin/v1/vaults/default/roleAssignments",
		map[string]any{"principal": "orders-client", "role": "key vault secrets user"}).body)
	if byName.PrincipalID != client.AppID || byName.PrincipalName != "orders-client" || byName.Role != vault.RoleSecretsUser || byName.Scope != "" || byName.Vault != "default" {
		t.Errorf("by name: %+v", byName)
	}
	scoped := strictDecode[roleAssignmentOutT](t, e.must(201, "POST", "/admin/v1/vaults/default/roleAssignments",
		map[string]any{"principal": strings.ToUpper(client.AppID), "role": vault.RoleCertificatesOfficer, "scope": "certificates/gw-cert"}).body)
	if scoped.PrincipalID != client.AppID || scoped.Scope != "certificates/gw-cert" {
		t.Errorf("scoped: %+v", scoped)
	}
	other := strictDecode[roleAssignmentOutT](t, e.must(201, "POST", "/admin/v1/vaults/default/roleAssignments",
		map[string]any{"principal": "elsewhere", "role": vault.RoleReader, "tenant": "other"}).body)
	if other.PrincipalID != otherApp.AppID {
		t.Errorf("other tenant: %+v", other)
	}
	// The assignment takes effect in the vault.
	if _, err := e.svc.GetVault(context.Background(), vault.Caller{Principal: guard.Principal{AppID: client.AppID}}, "default"); err != nil {
		t.Errorf("assigned application cannot read the vault: %v", err)
	}

	tests := []struct {
		name   string
		body   any
		status int
		code   string
		parts  []string
	}{
		{"unknown role", map[string]any{"principal": "orders-client", "role": "Owner"}, 400, "BadRequest", []string{`unknown role "Owner"`, "Key Vault Secrets User"}},
		{"missing role", map[string]any{"principal": "orders-client"}, 400, "BadRequest", []string{`"role" is required`}},
		{"missing principal", map[string]any{"role": vault.RoleReader}, 400, "BadRequest", []string{`"principal" is required`}},
		{"unknown principal", map[string]any{"principal": "ghost", "role": vault.RoleReader}, 404, "NotFound", []string{"ghost"}},
		{"principal by object id", map[string]any{"principal": client.ObjectID, "role": vault.RoleSecretsUser}, 409, "Conflict", []string{"already holds", client.AppID}},
		{"principal of another tenant", map[string]any{"principal": "elsewhere", "role": vault.RoleSecretsUser}, 404, "NotFound", []string{"elsewhere", "tenant default"}},
		{"bad scope", map[string]any{"principal": "orders-client", "role": vault.RoleReader, "scope": "vaults/x"}, 400, "BadRequest", []string{"invalid role assignment scope"}},
		{"duplicate", map[string]any{"principal": "orders-client", "role": vault.RoleSecretsUser}, 409, "Conflict", []string{"already holds"}},
		{"unknown tenant", map[string]any{"principal": "orders-client", "role": vault.RoleReader, "tenant": "nowhere"}, 404, "NotFound", []string{"tenant"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/admin/v1/vaults/default/roleAssignments", tc.body), tc.status, tc.code, tc.parts...)
		})
	}
	wantError(t, e.do("POST", "/admin/v1/vaults/nope/roleAssignments", map[string]any{"principal": "orders-client", "role": vault.RoleReader}), 404, "NotFound")

	l := strictDecode[listOf[roleAssignmentOutT]](t, e.must(200, "GET", "/admin/v1/vaults/default/roleAssignments", nil).body)
	if len(l.Value) != 3 || l.Value[2].PrincipalName != "elsewhere" {
		t.Errorf("list: %+v", l.Value)
	}
	e.must(204, "DELETE", "/admin/v1/vaults/default/roleAssignments/"+byName.ID, nil)
	wantError(t, e.do("DELETE", "/admin/v1/vaults/default/roleAssignments/"+byName.ID, nil), 404, "NotFound", byName.ID)
	l = strictDecode[listOf[roleAssignmentOutT]](t, e.must(200, "GET", "/admin/v1/vaults/default/roleAssignments", nil).body)
	if len(l.Value) != 2 {
		t.Errorf("after remove: %+v", l.Value)
	}
}

func TestVaultAudit_NewestFirstWithLimit(t *testing.T) {
	e := newVaultEnv(t)
	client := e.createApp("orders-client")
	created := e.must(201, "POST", "/admin/v1/vaults/default/roleAssignments", map[string]any{"principal": "orders-client", "role": vault.RoleSecretsUser})
	e.must(200, "GET", "/admin/v1/vaults/default", nil)
	// A denied data-plane call is audited too.
	if _, err := e.svc.ListRoleAssignments(context.Background(), vault.Caller{Principal: guard.Principal{AppID: client.AppID}, RequestID: "req-denied"}, "default"); !vault.IsKind(err, vault.KindForbidden) {
		t.Fatalf("want forbidden, got %v", err)
	}

	l := strictDecode[listOf[auditOutT]](t, e.must(200, "GET", "/admin/v1/vaults/default/audit", nil).body)
	if len(l.Value) != 3 {
		t.Fatalf("audit: %+v", l.Value)
	}
	newest, assign := l.Value[0], l.Value[2]
	if newest.Outcome != vault.OutcomeDenied || newest.AppID != client.AppID || newest.RequestID != "req-denied" || newest.Code != "Forbidden" {
		t.Errorf("newest record %+v", newest)
	}
	if assign.Operation != string(vault.PermRoleAssignmentsWrite) || assign.AppID != e.adminClient.AppID || assign.Outcome != vault.OutcomeSuccess ||
		assign.RequestID != created.header.Get("X-Request-Id") || assign.Vault != "default" {
		t.Errorf("assignment record %+v (request id header %q)", assign, created.header.Get("X-Request-Id"))
	}
	one := strictDecode[listOf[auditOutT]](t, e.must(200, "GET", "/admin/v1/vaults/default/audit?limit=1", nil).body)
	if len(one.Value) != 1 || one.Value[0] != newest {
		t.Errorf("limit=1: %+v", one.Value)
	}

	for _, tc := range []struct{ name, path string }{
		{"zero", "/admin/v1/vaults/default/audit?limit=0"},
		{"not a number", "/admin/v1/vaults/default/audit?limit=ten"},
		{"too many", "/admin/v1/vaults/default/audit?limit=1001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("GET", tc.path, nil), 400, "BadRequest", "between 1 and 1000")
		})
	}
	wantError(t, e.do("GET", "/admin/v1/vaults/nope/audit", nil), 404, "NotFound", "nope")
}

func TestVaultRoutes_NeedAnAdminToken(t *testing.T) {
	e := newVaultEnv(t)
	paths := []struct{ method, path string }{
		{"GET", "/admin/v1/vaults"},
		{"POST", "/admin/v1/vaults"},
		{"GET", "/admin/v1/vaults/default"},
		{"PATCH", "/admin/v1/vaults/default"},
		{"GET", "/admin/v1/vaults/default/roleAssignments"},
		{"POST", "/admin/v1/vaults/default/roleAssignments"},
		{"DELETE", "/admin/v1/vaults/default/roleAssignments/x"},
		{"GET", "/admin/v1/vaults/default/audit"},
	}
	for _, p := range paths {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			r := e.send(request{method: p.method, path: p.path, noToken: true})
			wantError(t, r, 401, "Unauthorized")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			wantError(t, e.send(request{method: p.method, path: p.path, token: tokNoRole}), 403, "Forbidden")
		})
	}
	wantError(t, e.do("PUT", "/admin/v1/vaults/default", nil), 405, "MethodNotAllowed")
}

func TestVaultRoutes_WithoutVaultAnswer503(t *testing.T) {
	e := newEnv(t)
	for _, p := range []struct{ method, path string }{
		{"GET", "/admin/v1/vaults"},
		{"POST", "/admin/v1/vaults"},
		{"GET", "/admin/v1/vaults/default/audit"},
	} {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			wantError(t, e.do(p.method, p.path, map[string]any{"name": "x"}), 503, "ServiceUnavailable", "runs without the vault")
		})
	}
}
