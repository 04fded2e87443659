package declarative

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

const (
	callerID = "11111111-1111-1111-1111-111111111111"
	mgmtID   = "22222222-2222-2222-2222-222222222222"
	vaultID  = "33333333-3333-3333-3333-333333333333"
	ordersID = "44444444-4444-4444-4444-444444444444"
	clientID = "55555555-5555-5555-5555-555555555555"
	opsID    = "66666666-6666-6666-6666-666666666666"
)

// serverState is a server after its first start plus an orders API with
// a client granted Orders.Read, and a vault secret.
func serverState() *State {
	secret := adminclient.PasswordCredential{ID: "pc-1", Hint: "abc", Description: "bootstrap admin credential"}
	return &State{
		VaultsAvailable: true,
		Tenants: []TenantState{{
			Tenant: adminclient.Tenant{ID: "t-default", Name: "default"},
			Applications: []adminclient.Application{
				{AppID: mgmtID, DisplayName: directory.ManagementName, IdentifierURIs: []string{directory.ManagementIdentifierURI}, AccessTokenLifetimeSeconds: 3600,
					AppRoles: []adminclient.AppRole{{ID: "r-admin", Value: directory.AdminRoleValue, DisplayName: "Portcullis administrator"}}},
				{AppID: vaultID, DisplayName: "Portcullis Vault", IdentifierURIs: []string{directory.VaultIdentifierURI, "https://localhost:8443"}, AccessTokenLifetimeSeconds: 3600},
				{AppID: callerID, DisplayName: directory.AdminClientName, IdentifierURIs: []string{"api://" + callerID}, AccessTokenLifetimeSeconds: 3600,
					PasswordCredentials: []adminclient.PasswordCredential{secret}},
				{AppID: ordersID, DisplayName: "orders", IdentifierURIs: []string{"api://orders"}, AccessTokenLifetimeSeconds: 3600,
					AppRoles: []adminclient.AppRole{{ID: "r-read", Value: "Orders.Read", DisplayName: "Read orders"}}},
				{AppID: clientID, DisplayName: "orders-client", IdentifierURIs: []string{"api://" + clientID}, AccessTokenLifetimeSeconds: 3600},
			},
			Grants: []adminclient.Grant{
				{ID: "g-admin", ClientAppID: callerID, ResourceAppID: mgmtID, AppRoleID: "r-admin", RoleValue: directory.AdminRoleValue},
				{ID: "g-read", ClientAppID: clientID, ResourceAppID: ordersID, AppRoleID: "r-read", RoleValue: "Orders.Read"},
			},
		}},
		Vaults: []VaultState{{
			Vault:           vaultclient.Vault{Name: "default", SoftDeleteRetentionDays: 90},
			RoleAssignments: []vaultclient.RoleAssignment{{ID: "ra-1", Vault: "default", PrincipalID: callerID, Role: vault.RoleAdministrator}},
			Secrets:         []SecretState{{Name: "db", ValueSHA256: digest("old-value")}},
		}},
	}
}

// baseYAML declares serverState as it is.
// ecX and ecY are a P-256 public key (the curve's base point) for a JWK
// Set in a document.
const (
	ecX = "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"
	ecY = "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"
)

const baseYAML = `
tenants:
  - name: default
    applications:
      - displayName: Portcullis Management
        identifierUris: [api://portcullis-management]
        appRoles: [{value: Portcullis.Admin}]
      - displayName: Portcullis Vault
      - displayName: portcullis-admin
        passwordCredentials: [{description: bootstrap admin credential, saveTo: admin.secret}]
      - displayName: orders
        identifierUris: [api://orders]
        appRoles: [{value: Orders.Read, displayName: Read orders}]
      - displayName: orders-client
    grants:
      - {client: portcullis-admin, resource: Portcullis Management, role: Portcullis.Admin}
      - {client: orders-client, resource: orders, role: Orders.Read}
vaults:
  - name: default
    roleAssignments: [{principal: portcullis-admin, role: Key Vault Administrator}]
    secrets: [{name: db, value: {fromEnv: DB}}]
`

// issuerAPI is the apis: line of a tenant with one API that accepts tokens
// of the Portcullis tenant tenant.
func issuerAPI(tenant string) string {
	return "    apis: [{name: orders-gw, match: {pathPrefix: /orders}, backend: {urls: ['https://orders.internal']}, policy: {methods: [{type: bearer, issuers: [{tenant: " + tenant + "}], audiences: ['api://orders']}]}}]\n"
}

func loadYAML(t *testing.T, doc string, vars map[string]string) *Document {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.yaml": doc})
	d, err := Load([]string{filepath.Join(dir, "main.yaml")}, env(vars))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

func TestNewPlan_ComputesTheDiff(t *testing.T) {
	vars := map[string]string{"DB": "old-value"}
	for _, tc := range []struct {
		name  string
		doc   string
		prune bool
		vars  map[string]string
		edit  func(*State)
		want  []string // in this order in the written plan
		not   []string
	}{
		{name: "the server's own configuration is no change", doc: baseYAML, prune: true,
			want: []string{"No changes: the server holds this configuration.\n"}},
		{name: "creates run parents first", doc: baseYAML + `
  - name: orders
`, edit: nil,
			want: []string{"+ vault orders\n", "No changes"}, not: []string{"No changes"}},
		{name: "a new tenant with an application, a role and a grant", doc: strings.Replace(baseYAML, "tenants:\n", `tenants:
  - name: contoso
    grants: [{client: shop, resource: billing, role: Bill.Read}]
    applications:
      - displayName: shop
      - displayName: billing
        identifierUris: [api://billing]
        accessTokenLifetimeSeconds: 600
        appRoles: [{value: Bill.Read, displayName: Read bills}]
`, 1),
			want: []string{"+ tenant contoso\n", "+ application contoso/shop\n", "+ application contoso/billing\n    identifierUris: [api://billing]\n    accessTokenLifetimeSeconds: 600\n",
				"+ app role contoso/billing/Bill.Read\n    displayName: Read bills\n", "+ grant contoso/shop → billing Bill.Read\n", "Plan: 5 to create, 0 to update, 0 to delete.\n"}},
		{name: "changed fields of an application", doc: strings.Replace(baseYAML, "identifierUris: [api://orders]", "identifierUris: [api://orders, api://orders.example.com]\n        accessTokenLifetimeSeconds: 900", 1),
			want: []string{"~ application default/orders\n    identifierUris: [api://orders] → [api://orders, api://orders.example.com]\n    accessTokenLifetimeSeconds: 3600 → 900\n", "Plan: 0 to create, 1 to update, 0 to delete.\n"}},
		{name: "an application starts requiring certificate-bound tokens", doc: strings.Replace(baseYAML, "identifierUris: [api://orders]", "identifierUris: [api://orders]\n        requireCertificateBoundTokens: true", 1),
			want: []string{"~ application default/orders\n    requireCertificateBoundTokens: false → true\n", "Plan: 0 to create, 1 to update, 0 to delete.\n"}},
		{name: "a new application requiring certificate-bound tokens", doc: strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n      - displayName: payments\n        requireCertificateBoundTokens: true\n", 1),
			want: []string{"+ application default/payments\n    requireCertificateBoundTokens: true\n", "Plan: 1 to create, 0 to update, 0 to delete.\n"}},
		{name: "a changed secret value shows its source, never the value", doc: baseYAML, vars: map[string]string{"DB": "new-value"},
			want: []string{"~ vault secret default/db\n    value: (current) → (from environment variable DB)\n"}, not: []string{"new-value", "old-value"}},
		{name: "without prune what the files leave out stays", doc: strings.Replace(baseYAML, "      - {client: orders-client, resource: orders, role: Orders.Read}\n", "", 1),
			want: []string{"No changes"}},
		{name: "prune deletes a grant the files leave out", prune: true, doc: strings.Replace(baseYAML, "      - {client: orders-client, resource: orders, role: Orders.Read}\n", "", 1),
			want: []string{"- grant default/orders-client → orders Orders.Read\n", "Plan: 0 to create, 0 to update, 1 to delete.\n"}},
		{name: "prune deletes an application with its grants in one change", prune: true,
			doc:  strings.Replace(strings.Replace(baseYAML, "      - displayName: orders-client\n", "", 1), "      - {client: orders-client, resource: orders, role: Orders.Read}\n", "", 1),
			want: []string{"- application default/orders-client\n", "Plan: 0 to create, 0 to update, 1 to delete.\n"}, not: []string{"- grant"}},
		{name: "prune deletes dependents before what they depend on", prune: true,
			doc:  strings.Replace(strings.Replace(baseYAML, "        appRoles: [{value: Orders.Read, displayName: Read orders}]\n", "", 1), "      - {client: orders-client, resource: orders, role: Orders.Read}\n", "", 1),
			want: []string{"- grant default/orders-client → orders Orders.Read\n", "- app role default/orders/Orders.Read\n"}},
		{name: "prune deletes vault objects and role assignments, keeps the caller's role and the vault", prune: true,
			doc: strings.SplitN(baseYAML, "vaults:", 2)[0] + "vaults:\n  - name: default\n",
			edit: func(s *State) {
				s.Vaults[0].RoleAssignments = append(s.Vaults[0].RoleAssignments, vaultclient.RoleAssignment{ID: "ra-2", PrincipalID: clientID, Role: vault.RoleSecretsUser, Scope: "secrets/db"})
			},
			want: []string{"- vault secret default/db\n", "- vault role assignment default/default/orders-client Key Vault Secrets User on secrets/db\n",
				"note: vault default: the role \"Key Vault Administrator\" of default/portcullis-admin, the application this command authenticates as, is kept"}},
		{name: "a federated credential is created", doc: strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n        federatedIdentityCredentials:\n          - {name: github-main, issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:contoso/orders:ref:refs/heads/main'}\n", 1),
			want: []string{"+ federated credential default/orders-client/github-main\n    issuer: https://token.actions.githubusercontent.com\n    subject: repo:contoso/orders:ref:refs/heads/main\n", "Plan: 1 to create, 0 to update, 0 to delete.\n"}},
		{name: "a federated credential's key source is shown when it is created", doc: strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n        federatedIdentityCredentials:\n          - {name: cluster-b, issuer: 'https://kubernetes.default.svc', subject: 'system:serviceaccount:orders:api', jwksUri: 'https://k8s.example.com:6443/openid/v1/jwks'}\n          - {name: cluster-c, issuer: 'https://kubernetes.default.svc', subject: 'system:serviceaccount:orders:worker', audiences: [api://orders-k8s], keys: {keys: [{kty: EC, kid: c1, crv: P-256, x: '"+ecX+"', y: '"+ecY+"'}]}}\n", 1),
			want: []string{"+ federated credential default/orders-client/cluster-b\n    issuer: https://kubernetes.default.svc\n    subject: system:serviceaccount:orders:api\n    jwksUri: https://k8s.example.com:6443/openid/v1/jwks\n",
				"+ federated credential default/orders-client/cluster-c\n    issuer: https://kubernetes.default.svc\n    subject: system:serviceaccount:orders:worker\n    audiences: [api://orders-k8s]\n    keys: kids [c1]\n", "Plan: 2 to create, 0 to update, 0 to delete.\n"}},
		{name: "a federated credential as the server holds it is no change", doc: strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n        federatedIdentityCredentials:\n          - {name: github-main, issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:contoso/orders:ref:refs/heads/main'}\n", 1), prune: true,
			edit: func(s *State) {
				s.Tenants[0].Applications[4].FederatedIdentityCredentials = []adminclient.FederatedIdentityCredential{ghFIC("repo:contoso/orders:ref:refs/heads/main")}
			},
			want: []string{"No changes"}},
		{name: "a changed federated credential is replaced", doc: strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n        federatedIdentityCredentials:\n          - {name: github-main, issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:contoso/orders:ref:refs/heads/main'}\n", 1),
			edit: func(s *State) {
				s.Tenants[0].Applications[4].FederatedIdentityCredentials = []adminclient.FederatedIdentityCredential{ghFIC("repo:contoso/orders:pull_request")}
			},
			want: []string{"~ federated credential default/orders-client/github-main\n    subject: repo:contoso/orders:pull_request → repo:contoso/orders:ref:refs/heads/main\n", "Plan: 0 to create, 1 to update, 0 to delete.\n"}},
		{name: "prune removes a federated credential the files leave out", doc: baseYAML, prune: true,
			edit: func(s *State) {
				s.Tenants[0].Applications[4].FederatedIdentityCredentials = []adminclient.FederatedIdentityCredential{ghFIC("x")}
			},
			want: []string{"- federated credential default/orders-client/github-main\n", "Plan: 0 to create, 0 to update, 1 to delete.\n"}},
		{name: "a new vault's creator role needs no call", doc: baseYAML + `
  - name: orders
    roleAssignments:
      - {principal: portcullis-admin, role: Key Vault Administrator}
      - {principal: orders-client, role: Key Vault Secrets User}
`,
			want: []string{"+ vault orders\n", "+ vault role assignment orders/default/orders-client Key Vault Secrets User\n", "Plan: 2 to create"}},
		{name: "an API compares after the server's defaults", doc: strings.Replace(baseYAML, "    grants:\n", `    apis:
      - name: orders
        match: {pathPrefix: /orders}
        backend: {urls: ['http://127.0.0.1:9']}
        policy: {methods: [{type: bearer, issuers: [{tenant: default}], audiences: [api://orders]}]}
    grants:
`, 1),
			edit: func(s *State) {
				var in directory.API
				if err := yaml.Unmarshal([]byte(`{name: orders, match: {pathPrefix: /orders}, backend: {urls: ['http://127.0.0.1:9']},
policy: {methods: [{type: bearer, issuers: [{tenant: t-default}], audiences: [api://orders]}]}}`), &in); err != nil {
					panic(err)
				}
				a, err := directory.NormalizeAPI(in)
				if err != nil {
					panic(err)
				}
				a.TenantID, a.Revision = "t-default", 7
				s.Tenants[0].APIs = []adminclient.API{a}
			},
			want: []string{"No changes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vars
			if tc.vars != nil {
				v = tc.vars
			}
			doc := loadYAML(t, tc.doc, v)
			st := serverState()
			if tc.edit != nil {
				tc.edit(st)
			}
			plan, err := NewPlan(doc, st, PlanOptions{Prune: tc.prune, CallerAppID: callerID})
			if err != nil {
				t.Fatalf("NewPlan: %v", err)
			}
			var buf bytes.Buffer
			plan.Write(&buf)
			out := buf.String()
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					if strings.Contains(out, w) {
						t.Errorf("plan has %q out of order:\n%s", w, out)
					} else if !slicesContains(tc.not, w) {
						t.Errorf("plan lacks %q:\n%s", w, out)
					}
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) && !slicesContains(tc.want, n) {
					t.Errorf("plan has %q:\n%s", n, out)
				}
			}
			if len(plan.Refused()) > 0 {
				t.Errorf("unexpected refusals:\n%s", out)
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestNewPlan_RefusesToPruneWhatPortcullisDependsOn(t *testing.T) {
	drop := func(doc string, lines ...string) string {
		for _, l := range lines {
			if !strings.Contains(doc, l) {
				panic("no line " + l)
			}
			doc = strings.Replace(doc, l, "", 1)
		}
		return doc
	}
	for _, tc := range []struct {
		name   string
		doc    string
		caller string
		edit   func(*State)
		want   string // the refused change and its reason
	}{
		{"the tenant holding the management API", "tenants: []\n", callerID,
			nil, "!- tenant default\n    refused: it holds the management API"},
		{"the management application", drop(baseYAML, "      - displayName: Portcullis Management\n        identifierUris: [api://portcullis-management]\n        appRoles: [{value: Portcullis.Admin}]\n", "      - {client: portcullis-admin, resource: Portcullis Management, role: Portcullis.Admin}\n"), callerID,
			nil, "!- application default/Portcullis Management\n    refused: it is a built-in application (api://portcullis-management)"},
		{"the vault application", drop(baseYAML, "      - displayName: Portcullis Vault\n"), callerID,
			nil, "!- application default/Portcullis Vault\n    refused: it is a built-in application (api://portcullis-vault)"},
		{"the admin role", drop(baseYAML, "        appRoles: [{value: Portcullis.Admin}]\n", "      - {client: portcullis-admin, resource: Portcullis Management, role: Portcullis.Admin}\n"), callerID,
			nil, "!- app role default/Portcullis Management/Portcullis.Admin\n    refused: the Portcullis.Admin role of the management API"},
		{"the caller's application", drop(baseYAML, "      - displayName: portcullis-admin\n        passwordCredentials: [{description: bootstrap admin credential, saveTo: admin.secret}]\n", "      - {client: portcullis-admin, resource: Portcullis Management, role: Portcullis.Admin}\n", "    roleAssignments: [{principal: portcullis-admin, role: Key Vault Administrator}]\n"), callerID,
			nil, "!- application default/portcullis-admin\n    refused: it is the application this command authenticates as"},
		{"the caller's client secret", drop(baseYAML, "\n        passwordCredentials: [{description: bootstrap admin credential, saveTo: admin.secret}]"), callerID,
			nil, "!- client secret default/portcullis-admin/bootstrap admin credential (abc…)\n    refused: it may be the client secret this command authenticates with"},
		{"the caller's admin grant", drop(baseYAML, "      - {client: portcullis-admin, resource: Portcullis Management, role: Portcullis.Admin}\n"), callerID,
			nil, "!- grant default/portcullis-admin → Portcullis Management Portcullis.Admin\n    refused: this command authenticates as that client"},
		{"the last administrator", `
tenants:
  - name: default
    applications:
      - {displayName: Portcullis Management, appRoles: [{value: Portcullis.Admin}]}
      - displayName: Portcullis Vault
      - displayName: ops
      - displayName: orders
        appRoles: [{value: Orders.Read}]
      - displayName: orders-client
    grants:
      - {client: ops, resource: Portcullis Management, role: Portcullis.Admin}
      - {client: orders-client, resource: orders, role: Orders.Read}
`, opsID,
			func(s *State) {
				// The caller, ops, holds the admin role but no credential of
				// its own (it runs on a credential in its own way); the only
				// administrator with a credential is portcullis-admin.
				t := &s.Tenants[0]
				t.Applications = append(t.Applications, adminclient.Application{AppID: opsID, DisplayName: "ops", IdentifierURIs: []string{"api://ops"}})
				t.Grants = append(t.Grants, adminclient.Grant{ID: "g-ops", ClientAppID: opsID, ResourceAppID: mgmtID, RoleValue: directory.AdminRoleValue})
			}, "!- application default/portcullis-admin\n    refused: it would leave the admin API without an administrator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := loadYAML(t, tc.doc, map[string]string{"DB": "old-value"})
			st := serverState()
			if tc.edit != nil {
				tc.edit(st)
			}
			plan, err := NewPlan(doc, st, PlanOptions{Prune: true, CallerAppID: tc.caller})
			if err != nil {
				t.Fatalf("NewPlan: %v", err)
			}
			var buf bytes.Buffer
			plan.Write(&buf)
			if !strings.Contains(buf.String(), tc.want) {
				t.Errorf("plan lacks %q:\n%s", tc.want, buf.String())
			}
			// Apply changes nothing: it refuses before the first call.
			err = plan.Apply(t.Context(), Clients{}, &buf)
			if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("Apply of a refused plan: %v", err)
			}
		})
	}
}

func TestNewPlan_ErrorsWhenTheFilesCannotBeApplied(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.secret")
	if err := os.WriteFile(existing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		doc   string
		prune bool
		edit  func(*State)
		want  string
	}{
		{"an app role changed in place", strings.Replace(baseYAML, "displayName: Read orders", "displayName: Read all orders", 1), false, nil,
			`app role "Orders.Read" of default/orders differs from the server's`},
		{"a grant of a role nobody declares", strings.Replace(baseYAML, "role: Orders.Read}", "role: Orders.Write}", 1), false, nil,
			`application "orders" will have no app role "Orders.Write"`},
		{"a grant of an application prune deletes", strings.Replace(baseYAML, "      - displayName: orders-client\n", "", 1), true, nil,
			`tenant default will have no application named "orders-client"`},
		{"a role assignment of an unknown application", strings.Replace(baseYAML, "principal: portcullis-admin", "principal: nobody", 1), false, nil,
			`tenant default will have no application named "nobody"`},
		{"a client secret whose file exists", strings.Replace(baseYAML, "      - displayName: orders-client\n", "      - displayName: orders-client\n        passwordCredentials: [{description: ci, saveTo: "+existing+"}]\n", 1), false, nil,
			"its saveTo file " + existing + " exists"},
		{"vaults on a server without the vault", baseYAML, false, func(s *State) { s.VaultsAvailable = false; s.Vaults = nil },
			"the server runs without the vault"},
		{"a connector referencing a vault secret prune deletes", strings.Replace(strings.Replace(baseYAML, "    secrets: [{name: db, value: {fromEnv: DB}}]\n", "", 1), "    grants:\n",
			"    connectors: [{name: hr, endpoint: 'https://hr.example.com', authentication: {type: basic, username: u, password: 'vault://default/secrets/db'}}]\n    grants:\n", 1), true, nil,
			"connector default/hr references vault://default/secrets/db, which will not exist"},
		{"an API referencing a vault object nobody declares", strings.Replace(baseYAML, "    grants:\n",
			"    connectors: [{name: hr, endpoint: 'https://hr.example.com', authentication: {type: basic, username: u, password: 'vault://default/secrets/nope'}}]\n    grants:\n", 1), false, nil,
			"connector default/hr references vault://default/secrets/nope, which will not exist"},
		{"an API trusting a tenant prune deletes", strings.Replace(baseYAML, "    grants:\n", issuerAPI("fabrikam")+"    grants:\n", 1), true, func(s *State) {
			s.Tenants = append(s.Tenants, TenantState{Tenant: adminclient.Tenant{ID: "t-fabrikam", Name: "fabrikam"}})
		}, "API default/orders-gw accepts tokens of tenant fabrikam (policy.methods[0].issuers[0].tenant), which will not exist"},
		{"an API trusting a tenant nobody declares", strings.Replace(baseYAML, "    grants:\n", issuerAPI("nowhere")+"    grants:\n", 1), false, nil,
			"API default/orders-gw accepts tokens of tenant nowhere"},
		{"a connector attached to an application nobody declares", strings.Replace(baseYAML, "    grants:\n", "    connectors: [{name: enrich, endpoint: 'https://hr.example.com', tokenIssuance: {resourceApps: [nobody]}}]\n    grants:\n", 1), false, nil,
			`connector default/enrich: tokenIssuance.resourceApps[0]: tenant default will have no application "nobody"`},
		{"a connector attached by appId to an application prune deletes", strings.Replace(strings.Replace(strings.Replace(baseYAML, "      - {client: orders-client, resource: orders, role: Orders.Read}\n", "", 1), "      - displayName: orders-client\n", "", 1), "    grants:\n", "    connectors: [{name: enrich, endpoint: 'https://hr.example.com', tokenIssuance: {resourceApps: ["+clientID+"]}}]\n    grants:\n", 1), true, nil,
			`tokenIssuance.resourceApps[0]: tenant default will have no application "` + clientID + `"`},
		{"two applications with the name the files use", baseYAML, false, func(s *State) {
			s.Tenants[0].Applications = append(s.Tenants[0].Applications, adminclient.Application{AppID: opsID, DisplayName: "orders"})
		}, `tenant default has two applications named "orders"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := loadYAML(t, tc.doc, map[string]string{"DB": "old-value"})
			st := serverState()
			if tc.edit != nil {
				tc.edit(st)
			}
			_, err := NewPlan(doc, st, PlanOptions{Prune: tc.prune, CallerAppID: callerID})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExport_AppliesToTheSameStateAsNoChange(t *testing.T) {
	st := serverState()
	st.Vaults[0].Secrets = nil // a secret's value comes from the environment
	st.Vaults[0].Keys = []KeyState{{Name: "signing", Kty: "RSA", KeySize: 2048}}
	st.Vaults[0].Certificates = []CertificateState{{Name: "tls", X5T: "aHqZwa6q4RHLk-rKZe9UlSIyG_k"}}
	st.Tenants[0].Applications[4].KeyCredentials = []adminclient.KeyCredential{{ID: "kc", Thumbprint: "90FACC335790A1988E38C5FFD9FA8CE7EDDB0916"}}
	out, err := MarshalYAML(Export(st))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"thumbprint: 90FACC335790A1988E38C5FFD9FA8CE7EDDB0916", "saveTo: secrets/default-portcullis-admin-bootstrap_admin_credential.secret",
		"fromFile: certs/default-tls.pem", "kty: RSA", "keySize: 2048"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("export lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "api://"+clientID) || strings.Contains(string(out), "localhost:8443") {
		t.Errorf("export holds the server's own identifier URIs:\n%s", out)
	}
	doc := loadYAML(t, string(out), nil)
	plan, err := NewPlan(doc, st, PlanOptions{Prune: true, CallerAppID: callerID})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Empty() {
		var buf bytes.Buffer
		plan.Write(&buf)
		t.Errorf("export applied to its own state:\n%s", buf.String())
	}
}

// ghFIC is a federated credential named github-main as the server returns it.
func ghFIC(subject string) adminclient.FederatedIdentityCredential {
	return adminclient.FederatedIdentityCredential{ID: "fic-1", Name: "github-main", Issuer: "https://token.actions.githubusercontent.com",
		Subject: subject, Audiences: []string{directory.DefaultFederatedAudience}}
}
