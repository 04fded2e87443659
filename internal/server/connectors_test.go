package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/sts"
)

// TestConnectorsComponent_FollowsTheSnapshot applies successive snapshots
// to the component and asks the token service's Enricher what it does: a
// connector is served as soon as it is stored, replaced when its revision
// moves, kept when an update does not touch it, dropped when removed, and
// one that cannot be compiled fails token issuance closed (or open, when
// it says so) instead of vanishing.
func TestConnectorsComponent_FollowsTheSnapshot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan string, 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"dept":"sales","cc":"CC-7"}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	endpoint := "http://" + ln.Addr().String()

	tenant := directory.Tenant{ID: "11111111-1111-1111-1111-111111111111", Name: "contoso"}
	resource := directory.Application{TenantID: tenant.ID, AppID: "22222222-2222-2222-2222-222222222222", DisplayName: "orders"}
	client := directory.Application{TenantID: tenant.ID, AppID: "33333333-3333-3333-3333-333333333333", DisplayName: "billing"}
	req := sts.EnrichRequest{Tenant: &tenant, Client: &client, Resource: &resource}
	def := func(rev int64, path, output string) directory.Connector {
		return directory.Connector{TenantID: tenant.ID, Name: "hr", Endpoint: endpoint + path, Revision: rev,
			Authentication: outbound.CredentialSpec{Type: outbound.TypeNone},
			OutputClaims:   []directory.ConnectorClaim{{ClaimType: output}},
			TokenIssuance:  &directory.ConnectorTokenIssuance{ResourceApps: []string{resource.AppID}}}
	}
	// A Basic credential in another tenant's vault never compiles.
	broken := func(rev int64, policy string) directory.Connector {
		d := def(rev, "/broken", "dept")
		d.Endpoint = "https://127.0.0.1:1/broken"
		d.Authentication = outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "u", Password: "vault://elsewhere/secrets/pw"}
		d.TokenIssuance.FailurePolicy = policy
		return d
	}
	snapshot := func(rev int64, cs ...directory.Connector) *directory.Snapshot {
		return directory.NewSnapshot(rev, []directory.Tenant{tenant}, []directory.Application{resource, client}, nil, nil).WithConnectors(cs)
	}

	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	en := connector.NewEnricher(log)
	c := newConnectorsComponent(en, connector.Options{VaultTenant: func(string) string { return "another-tenant" }, Logger: log}, true, log)
	t.Cleanup(c.close)

	steps := []struct {
		name      string
		update    Update
		wantClaim map[string]any
		wantPath  string // the path called; "" when no call is expected
		wantErr   string
		kept      bool // the compiled connector of the previous step is kept
	}{
		{"a stored connector is called", Update{Directory: snapshot(1, def(1, "/one", "dept"))}, map[string]any{"dept": "sales"}, "/one", "", false},
		{"an update that touches no connector keeps it", Update{Directory: snapshot(2, def(1, "/one", "dept")), Changes: &directory.Changes{Grants: []directory.ChangedGrant{{}}}},
			map[string]any{"dept": "sales"}, "/one", "", true},
		{"the same revision in a full update keeps it", Update{Directory: snapshot(2, def(1, "/one", "dept"))}, map[string]any{"dept": "sales"}, "/one", "", true},
		{"a new revision replaces it", Update{Directory: snapshot(3, def(3, "/two", "cc"))}, map[string]any{"cc": "CC-7"}, "/two", "", false},
		{"a connector that cannot compile fails closed", Update{Directory: snapshot(4, broken(4, ""))}, nil, "", "does not belong to tenant", false},
		{"with failOpen the token goes without its claims", Update{Directory: snapshot(5, broken(5, directory.FailOpen))}, nil, "", "", false},
		{"a removed connector is no longer called", Update{Directory: snapshot(6)}, nil, "", "", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := c.compiled[strings.ToLower(tenant.ID)+"/hr"]
			if err := c.Apply(st.update); err != nil {
				t.Fatal(err)
			}
			if after := c.compiled[strings.ToLower(tenant.ID)+"/hr"]; (after == before) != st.kept {
				t.Errorf("compiled connector kept: %v, want %v", after == before, st.kept)
			}
			got, err := en.Enrich(context.Background(), req)
			switch {
			case st.wantErr == "" && err != nil:
				t.Fatalf("Enrich: %v", err)
			case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
				t.Fatalf("Enrich error %v, want one saying %q", err, st.wantErr)
			}
			if len(got) != len(st.wantClaim) {
				t.Errorf("claims %v, want %v", got, st.wantClaim)
			}
			for k, v := range st.wantClaim {
				if got[k] != v {
					t.Errorf("claim %s = %v, want %v", k, got[k], v)
				}
			}
			select {
			case p := <-calls:
				if p != st.wantPath {
					t.Errorf("called %s, want %q", p, st.wantPath)
				}
			default:
				if st.wantPath != "" {
					t.Errorf("the endpoint was not called, want %s", st.wantPath)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "connector cannot be compiled") {
		t.Errorf("the compile failure is not logged:\n%s", logs.String())
	}
}

// TestWarnInsecure_NamesWhatIsUnsafe checks the --dev start warnings.
func TestWarnInsecure_NamesWhatIsUnsafe(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *directory.Connector
		a    *directory.API
		want string // "" when no warning is due
	}{
		{"basic over http", &directory.Connector{Name: "c", Endpoint: "http://x/", AllowInsecureAuth: true, Authentication: outbound.CredentialSpec{Type: outbound.TypeBasic}}, nil, "over plain HTTP"},
		{"no credential over http", &directory.Connector{Name: "c", Endpoint: "http://x/", AllowInsecureAuth: true, Authentication: outbound.CredentialSpec{Type: outbound.TypeNone}}, nil, ""},
		{"client credentials from an http authority", &directory.Connector{Name: "c", Endpoint: "https://x/", AllowInsecureAuth: true,
			Authentication: outbound.CredentialSpec{Type: outbound.TypeBearer, ClientCredentials: &outbound.ClientCredentialsSpec{Authority: "http://login/t"}}}, nil, "plain-HTTP authority"},
		{"skipped chain", &directory.Connector{Name: "c", Endpoint: "https://x/", TLS: &outbound.TLSSpec{SkipChainValidation: true}}, nil, "skipChainValidation"},
		{"https with a validated chain", &directory.Connector{Name: "c", Endpoint: "https://x/", Authentication: outbound.CredentialSpec{Type: outbound.TypeBasic}}, nil, ""},
		{"API admitting Basic over http", nil, &directory.API{Name: "a", AllowInsecureAuth: true}, "allowInsecureAuth"},
		{"API skipping backend verification", nil, &directory.API{Name: "a", Backend: directory.Backend{TLS: &directory.BackendTLS{SkipChainValidation: true}}}, "skipChainValidation"},
		{"API sending its backend credential over http", nil, &directory.API{Name: "a", Backend: directory.Backend{AllowInsecureAuth: true}}, "backend.allowInsecureAuth"},
		{"plain API", nil, &directory.API{Name: "a"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			log := slog.New(slog.NewTextHandler(&b, nil))
			if tc.c != nil {
				warnInsecureConnector(log, *tc.c)
			} else {
				warnInsecureAPIs(log, []directory.API{*tc.a})
			}
			switch {
			case tc.want == "" && b.Len() > 0:
				t.Errorf("unexpected warning: %s", b.String())
			case tc.want != "" && !strings.Contains(b.String(), tc.want):
				t.Errorf("warning %q lacks %q", b.String(), tc.want)
			}
		})
	}
}
