package directory_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/vault"
)

// backend is a store the directory service runs on, with the vault's RBAC
// (to check that deletions reach it).
type backend interface {
	sqlstore.Contract
}

// nodes opens n stores on one database: n nodes of a cluster.
type nodes func(t *testing.T, n int) []backend

// backends are the real stores: SQLite (several handles on one file) and
// PostgreSQL (several pools on one schema; skipped visibly without
// PORTCULLIS_TEST_POSTGRES).
var backends = []struct {
	name string
	open nodes
}{
	{"sqlite", func(t *testing.T, n int) []backend {
		path := filepath.Join(t.TempDir(), "portcullis.db")
		out := make([]backend, n)
		for i := range out {
			out[i] = sqlitetest.OpenPath(t, path)
		}
		return out
	}},
	{"postgres", func(t *testing.T, n int) []backend {
		u := pgtest.NewDatabaseURL(t)
		out := make([]backend, n)
		for i := range out {
			out[i] = pgtest.OpenURL(t, u)
		}
		return out
	}},
}

// eachBackend runs test on every backend with n nodes.
func eachBackend(t *testing.T, n int, test func(t *testing.T, st []backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t, n)) })
	}
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// adminTenant is a tenant holding the management application with its
// Portcullis.Admin role, and administrators: client applications granted
// that role, each with a client secret.
type adminTenant struct {
	name   string
	mgmt   directory.Application
	admins []directory.Application
	grants []directory.GrantedRole
}

// newAdminTenant sets up an adminTenant with the given number of
// administrators through the service.
func newAdminTenant(t *testing.T, ctx context.Context, svc *directory.Service, name string, admins int) adminTenant {
	t.Helper()
	at := adminTenant{name: name}
	if _, err := svc.CreateTenant(ctx, name); err != nil {
		t.Fatal(err)
	}
	var err error
	at.mgmt, err = svc.CreateApplication(ctx, name, directory.NewApplication{DisplayName: "mgmt", IdentifierURIs: []string{directory.ManagementIdentifierURI}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddAppRole(ctx, name, at.mgmt.AppID, directory.NewAppRole{Value: directory.AdminRoleValue}); err != nil {
		t.Fatal(err)
	}
	for i := range admins {
		app, err := svc.CreateApplication(ctx, name, directory.NewApplication{DisplayName: fmt.Sprint("admin-", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.AddPasswordCredential(ctx, name, app.AppID, "", nil); err != nil {
			t.Fatal(err)
		}
		g, err := svc.CreateGrant(ctx, name, directory.GrantRequest{Client: app.AppID, Resource: directory.ManagementIdentifierURI, Role: directory.AdminRoleValue})
		if err != nil {
			t.Fatal(err)
		}
		at.admins = append(at.admins, app)
		at.grants = append(at.grants, g)
	}
	return at
}

// race runs one function per node at the same moment and returns their
// errors in node order.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOneWins checks that one of errs is nil and every other is the
// last-administrator refusal.
func exactlyOneWins(t *testing.T, round int, errs []error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case directory.KindOf(err) == directory.Conflict && strings.Contains(err.Error(), "lock every administrator out"):
		default:
			t.Fatalf("round %d: unexpected error %v", round, err)
		}
	}
	if won != 1 {
		t.Fatalf("round %d: %d of %d nodes won the race to remove the last two administrators (%v); want exactly 1", round, won, len(errs), errs)
	}
}

// rounds is how many times each race runs; every round must have exactly
// one winner.
const rounds = 50

func TestRace_TwoNodesRemovingTheLastTwoAdminGrantsLetExactlyOneWin(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		ctx := context.Background()
		a, b := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		for round := range rounds {
			at := newAdminTenant(t, ctx, a, fmt.Sprint("grants-", round), 2)
			errs := race(
				func() error { return a.DeleteGrant(ctx, at.name, at.grants[0].ID) },
				func() error { return b.DeleteGrant(ctx, at.name, at.grants[1].ID) },
			)
			exactlyOneWins(t, round, errs)
			left, err := a.Grants(ctx, at.name)
			if err != nil || len(left) != 1 {
				t.Fatalf("round %d: grants left %v, %v; want 1", round, left, err)
			}
		}
	})
}

func TestRace_TwoNodesDeletingTheLastTwoAdminAppsLetExactlyOneWin(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		ctx := context.Background()
		a, b := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		for round := range rounds {
			at := newAdminTenant(t, ctx, a, fmt.Sprint("apps-", round), 2)
			errs := race(
				func() error { return a.DeleteApplication(ctx, at.name, at.admins[0].AppID) },
				func() error { return b.DeleteApplication(ctx, at.name, at.admins[1].AppID) },
			)
			exactlyOneWins(t, round, errs)
			apps, err := a.Applications(ctx, at.name)
			if err != nil || len(apps) != 2 {
				t.Fatalf("round %d: applications left %d, %v; want the management app and one admin", round, len(apps), err)
			}
		}
	})
}

func TestRace_TwoNodesRemovingTheLastTwoAdminSecretsLetExactlyOneWin(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		ctx := context.Background()
		a, b := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		for round := range rounds / 5 {
			at := newAdminTenant(t, ctx, a, fmt.Sprint("secrets-", round), 2)
			var ids [2]string
			for i, app := range at.admins {
				_, got, err := a.Application(ctx, at.name, app.AppID)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = got.PasswordCredentials[0].ID
			}
			errs := race(
				func() error { return a.RemovePasswordCredential(ctx, at.name, at.admins[0].AppID, ids[0]) },
				func() error { return b.RemovePasswordCredential(ctx, at.name, at.admins[1].AppID, ids[1]) },
			)
			exactlyOneWins(t, round, errs)
		}
	})
}

func TestService_KeepsAnAdministratorWithACredential(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		ctx := context.Background()
		svc := directory.NewService(st[0], clock)
		at := newAdminTenant(t, ctx, svc, "contoso", 1)
		admin := at.admins[0]
		_, got, err := svc.Application(ctx, at.name, admin.AppID)
		if err != nil {
			t.Fatal(err)
		}
		secret := got.PasswordCredentials[0].ID

		// A second administrator without a credential cannot take over:
		// it could never obtain a token.
		bare, err := svc.CreateApplication(ctx, at.name, directory.NewApplication{DisplayName: "bare"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateGrant(ctx, at.name, directory.GrantRequest{Client: "bare", Resource: "mgmt", Role: directory.AdminRoleValue}); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name   string
			change func() error
			want   string
		}{
			{"its last secret", func() error { return svc.RemovePasswordCredential(ctx, at.name, admin.AppID, secret) }, "last credential"},
			{"its grant", func() error { return svc.DeleteGrant(ctx, at.name, at.grants[0].ID) }, "to an application with a credential"},
			{"the application", func() error { return svc.DeleteApplication(ctx, at.name, admin.AppID) }, "last application with a credential"},
			{"the admin role", func() error { return svc.RemoveAppRole(ctx, at.name, at.mgmt.AppID, directory.AdminRoleValue) }, "cannot be removed"},
			{"the management application", func() error { return svc.DeleteApplication(ctx, at.name, at.mgmt.AppID) }, "cannot be deleted"},
		}
		for _, tc := range tests {
			t.Run("refuses to remove "+tc.name, func(t *testing.T) {
				err := tc.change()
				if directory.KindOf(err) != directory.Conflict || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want a conflict saying %q", err, tc.want)
				}
			})
		}
		// Nothing of the refused changes was written.
		_, got, err = svc.Application(ctx, at.name, admin.AppID)
		if err != nil || len(got.PasswordCredentials) != 1 {
			t.Fatalf("admin after refusals: %+v, %v", got, err)
		}

		// Once the bare administrator has a certificate, the first may go.
		if _, err := svc.AddKeyCredential(ctx, at.name, bare.AppID, testCertificate(t), "ci"); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteApplication(ctx, at.name, admin.AppID); err != nil {
			t.Fatalf("delete the first administrator once another holds a credential: %v", err)
		}
	})
}

func TestService_DeleteApplicationRemovesWhatHangsOnIt(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		ctx := context.Background()
		s := st[0]
		svc := directory.NewService(s, clock)
		at := newAdminTenant(t, ctx, svc, "contoso", 1)
		api, err := svc.CreateApplication(ctx, at.name, directory.NewApplication{DisplayName: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddAppRole(ctx, at.name, "orders", directory.NewAppRole{Value: "Orders.Read"}); err != nil {
			t.Fatal(err)
		}
		client, err := svc.CreateApplication(ctx, at.name, directory.NewApplication{DisplayName: "billing"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateGrant(ctx, at.name, directory.GrantRequest{Client: "billing", Resource: "orders", Role: "Orders.Read"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateVault(ctx, vault.Vault{Name: "v", SoftDeleteRetentionDays: 90, Created: testNow}); err != nil {
			t.Fatal(err)
		}
		for i, principal := range []string{client.AppID, strings.ToUpper(client.ObjectID), at.admins[0].AppID} {
			if err := s.CreateRoleAssignment(ctx, vault.RoleAssignment{ID: fmt.Sprint("ra-", i), Vault: "v", PrincipalID: principal, Role: vault.RoleSecretsUser, Created: testNow}); err != nil {
				t.Fatal(err)
			}
		}

		if err := svc.DeleteApplication(ctx, at.name, "billing"); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteApplication(ctx, at.name, api.AppID); err != nil {
			t.Fatal(err)
		}
		grants, err := svc.Grants(ctx, at.name)
		if err != nil || len(grants) != 1 || grants[0].ClientAppID != at.admins[0].AppID {
			t.Fatalf("grants after deleting client and resource: %+v, %v; want only the admin grant", grants, err)
		}
		ras, err := s.ListRoleAssignments(ctx, "v", "")
		if err != nil || len(ras) != 1 || ras[0].PrincipalID != at.admins[0].AppID {
			t.Fatalf("vault role assignments after deleting billing: %+v, %v; want only the admin's", ras, err)
		}
		if _, _, err := svc.Application(ctx, at.name, client.AppID); directory.KindOf(err) != directory.NotFound {
			t.Fatalf("deleted application: %v, want not found", err)
		}
	})
}

func TestService_BootstrapOnTwoNodesCreatesOneAdministrator(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		ctx := context.Background()
		var res [2]directory.Bootstrapped
		errs := race(
			func() (err error) { res[0], err = directory.NewService(st[0], clock).Bootstrap(ctx); return err },
			func() (err error) { res[1], err = directory.NewService(st[1], clock).Bootstrap(ctx); return err },
		)
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		created := 0
		for _, r := range res {
			if r.AdminClient != nil {
				created++
				if r.AdminSecret.Text == "" || !directory.SecretMatches(r.AdminClient.PasswordCredentials[0].Hash, r.AdminSecret.Text) {
					t.Errorf("the created admin's secret does not match its stored hash")
				}
			}
			if len(r.AdminAppIDs) != 1 || r.Tenant.ID != res[0].Tenant.ID || r.Management.AppID != res[0].Management.AppID {
				t.Errorf("bootstrap result %+v differs from %+v", r, res[0])
			}
		}
		if created != 1 {
			t.Fatalf("%d nodes created an admin client, want 1", created)
		}
		tenants, err := st[0].ListTenants(ctx)
		if err != nil || len(tenants) != 1 {
			t.Fatalf("tenants %+v, %v", tenants, err)
		}
	})
}

func TestService_RefusalsAreTypedAndSayWhatToDo(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		ctx := context.Background()
		svc := directory.NewService(st[0], clock)
		newAdminTenant(t, ctx, svc, "contoso", 1)
		if _, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "orders", IdentifierURIs: []string{"api://orders"}}); err != nil {
			t.Fatal(err)
		}
		lifetime := int64(10)
		tests := []struct {
			name string
			err  func() error
			kind directory.Kind
			want string
		}{
			{"tenant name taken", func() error { _, err := svc.CreateTenant(ctx, "CONTOSO"); return err }, directory.Conflict, "unique regardless of case"},
			{"tenant name reserved", func() error { _, err := svc.CreateTenant(ctx, ".."); return err }, directory.Invalid, "reserved"},
			{"unknown tenant", func() error { _, err := svc.Applications(ctx, "nowhere"); return err }, directory.NotFound, `tenant "nowhere" not found`},
			{"display name taken", func() error {
				_, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "Orders"})
				return err
			}, directory.Conflict, "choose another name"},
			{"identifier URI taken", func() error {
				_, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "x", IdentifierURIs: []string{"API://ORDERS"}})
				return err
			}, directory.Conflict, "choose another URI"},
			{"lifetime out of range", func() error {
				_, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "y", AccessTokenLifetimeSeconds: &lifetime})
				return err
			}, directory.Invalid, "accessTokenLifetimeSeconds"},
			{"built-in URI dropped", func() error {
				uris := []string{"api://other"}
				_, err := svc.UpdateApplication(ctx, "contoso", "mgmt", directory.ApplicationChange{IdentifierURIs: &uris})
				return err
			}, directory.Conflict, directory.ManagementIdentifierURI},
			{"role unknown", func() error {
				_, err := svc.CreateGrant(ctx, "contoso", directory.GrantRequest{Client: "admin-0", Resource: "api://orders", Role: "x"})
				return err
			}, directory.NotFound, "defines no app roles"},
			{"grant id unknown", func() error { return svc.DeleteGrant(ctx, "contoso", "nope") }, directory.NotFound, "no grant"},
			{"certificate with a 1024-bit RSA key", func() error {
				_, err := svc.AddKeyCredential(ctx, "contoso", "orders", certWithKey(t, rsa1024(t)), "")
				return err
			}, directory.Invalid, "1024-bit RSA key; client assertions need at least 2048 bits"},
			{"certificate with an Ed25519 key", func() error {
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				_, err := svc.AddKeyCredential(ctx, "contoso", "orders", certWithKey(t, priv), "")
				return err
			}, directory.Invalid, "client assertions are signed with RSA"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.err()
				var de *directory.Error
				if !errors.As(err, &de) || de.Kind != tc.kind || !strings.Contains(de.Msg, tc.want) {
					t.Fatalf("error %v, want a %v *directory.Error saying %q", err, tc.kind, tc.want)
				}
			})
		}
		// A store error keeps its sentinel through the service.
		_, err := st[0].GetApplication(ctx, "none", "none")
		if !errors.Is(err, store.ErrNotFound) || directory.KindOf(err) != directory.NotFound {
			t.Fatalf("store error %v", err)
		}
	})
}

func rsa1024(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certWithKey is a valid self-signed certificate for key.
func certWithKey(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "weak"}, key, 365*24*time.Hour, testNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// testCertificate is a valid self-signed certificate.
func testCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "admin"}, key, 365*24*time.Hour, testNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestService_DeleteTenantRemovesWhatHangsOnItButNeverTheManagementTenant(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		ctx := context.Background()
		s := st[0]
		svc := directory.NewService(s, clock)
		b, err := svc.Bootstrap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = svc.DeleteTenant(ctx, directory.DefaultTenantName)
		if directory.KindOf(err) != directory.Conflict || !strings.Contains(err.Error(), "cannot be deleted") {
			t.Fatalf("delete the management tenant: %v, want a conflict", err)
		}
		if _, err := svc.CreateTenant(ctx, "fabrikam"); err != nil {
			t.Fatal(err)
		}
		app, err := svc.CreateApplication(ctx, "fabrikam", directory.NewApplication{DisplayName: "worker"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateVault(ctx, vault.Vault{Name: "v", SoftDeleteRetentionDays: 90, Created: testNow}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{app.AppID, b.AdminAppIDs[0]} {
			if err := s.CreateRoleAssignment(ctx, vault.RoleAssignment{ID: "ra-" + p, Vault: "v", PrincipalID: p, Role: vault.RoleReader, Created: testNow}); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.DeleteTenant(ctx, "FABRIKAM"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Tenant(ctx, "fabrikam"); directory.KindOf(err) != directory.NotFound {
			t.Fatalf("deleted tenant: %v, want not found", err)
		}
		ras, err := s.ListRoleAssignments(ctx, "v", "")
		if err != nil || len(ras) != 1 || ras[0].PrincipalID != b.AdminAppIDs[0] {
			t.Fatalf("role assignments after deleting the tenant: %+v, %v", ras, err)
		}
	})
}
