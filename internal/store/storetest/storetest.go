// Package storetest is the conformance suite every Backend
// implementation passes: Run exercises each method and each rule documented
// on Backend against a fresh store per test.
//
// The rules it holds implementations to, beyond the interface comments:
// every time comes back in UTC truncated to the microsecond; every slice in a
// returned value (lists, identifier URIs, app roles, credentials, and byte
// slices such as hashes and DER) is non-nil, empty when there is nothing;
// lists are ordered by creation time then id (signing keys by ActivateAt then
// kid); listing an unknown tenant gives an empty list; errors wrap
// store.ErrConflict or store.ErrNotFound and name the offending value.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

// Backend is what a store backend implements: every consumer's seam and
// what the stores share.
type Backend interface {
	sqlstore.Contract
}

// suite is a list of named conformance tests, each run on a fresh store.
type suite []struct {
	name string
	fn   func(t *testing.T, s Backend)
}

func (cases suite) run(t *testing.T, open func(t *testing.T) Backend) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Run runs every conformance suite. open must return a new, empty store for
// each call and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("Directory", func(t *testing.T) { directorySuite.run(t, open) })
	t.Run("KeyStore", func(t *testing.T) { keyStoreSuite.run(t, open) })
	t.Run("Vault", func(t *testing.T) {
		vaulttest.Run(t, func(t *testing.T) vault.Store { return open(t) })
	})
	t.Run("Shared", func(t *testing.T) { sharedSuite.run(t, open) })
	t.Run("AuditLog", func(t *testing.T) { auditLogSuite.run(t, open) })
}

// directorySuite holds implementations to directory.Store.
var directorySuite = suite{
	{"TenantsRoundTripInCreationOrder", testTenantsRoundTrip},
	{"TenantConflicts", testTenantConflicts},
	{"ApplicationRoundTrip", testApplicationRoundTrip},
	{"ApplicationsListedInCreationOrder", testApplicationsOrder},
	{"ApplicationConflicts", testApplicationConflicts},
	{"NotFound", testNotFound},
	{"InvalidInputIsRefused", testInvalidInput},
	{"UpdateApplication", testUpdateApplication},
	{"UpdateApplicationMutateErrorWritesNothing", testUpdateMutateError},
	{"UpdateApplicationCannotChangeIDs", testUpdateImmutable},
	{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
	{"DeleteApplicationRemovesItsGrants", testDeleteCascade},
	{"DeleteApplicationRemovesItsVaultRoleAssignments", testDeleteApplicationRemovesVaultRoleAssignments},
	{"DeleteTenantRemovesEverythingItHolds", testDeleteTenantRemovesEverythingItHolds},
	{"UpdateDirectoryIsOneTransaction", testUpdateDirectoryIsOneTransaction},
	{"FindApplications", testFindApplications},
	{"FindGrants", testFindGrants},
	{"Grants", testGrants},
	{"APIs", testAPIs},
	{"Connectors", testConnectors},
}

// keyStoreSuite holds implementations to sts.KeyStore (and the signing
// keys' compare-and-swap used by root-key rotation).
var keyStoreSuite = suite{
	{"SigningKeys", testSigningKeys},
	{"ReplaceSigningKeySealedIsACompareAndSwap", testReplaceSigningKeySealed},
}

// sharedSuite holds implementations to what every store shares: the
// revision, the consistent Load, leases, health.
var sharedSuite = suite{
	{"RevisionCountsWritesOnly", testRevision},
	{"LoadReturnsEverything", testLoad},
	{"LoadIsConsistentUnderWrites", testLoadConsistent},
	{"ChangesSinceRebuildsTheSnapshotThatLoadWould", testChangesSince},
	{"ChangesSinceFallsBackBeyondItsLimit", testChangesSinceLimit},
	{"TryLease", testTryLease},
	{"PingAndClose", testPingClose},
}

var ctx = context.Background()

// base is deliberately not UTC and has nanoseconds, which must come back
// as UTC microseconds.
var base = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+2", 2*3600))

func newID() string { return uuid.NewString() }

func tenant(name string, created time.Time) directory.Tenant {
	return directory.Tenant{ID: newID(), Name: name, CreatedAt: created}
}

func mustTenant(t *testing.T, s Backend, name string) directory.Tenant {
	t.Helper()
	tn := tenant(name, base)
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

// fullApp returns an application with every field set.
func fullApp(tenantID, name string) directory.Application {
	appID := newID()
	return directory.Application{
		TenantID:                      tenantID,
		AppID:                         appID,
		ObjectID:                      newID(),
		DisplayName:                   name,
		IdentifierURIs:                []string{"api://" + appID, "https://example.test/" + name},
		AccessTokenLifetime:           90*time.Minute + 7*time.Nanosecond,
		RequireCertificateBoundTokens: true,
		AppRoles: []directory.AppRole{
			{ID: newID(), Value: "Data.Read", DisplayName: "Read data", Description: "Reads", Enabled: true},
			{ID: newID(), Value: "Data.Write", DisplayName: "Write data", Description: "", Enabled: false},
		},
		PasswordCredentials: []directory.PasswordCredential{
			{ID: newID(), Hint: "abc", Description: "ci", Hash: []byte{0, 1, 2, 0xff, 0}, StartAt: base, ExpiresAt: base.AddDate(1, 0, 0), CreatedAt: base.Add(time.Nanosecond)},
			{ID: newID(), Hint: "xyz", Hash: []byte{}, StartAt: time.Time{}, ExpiresAt: base.AddDate(2, 0, 0), CreatedAt: base},
		},
		KeyCredentials: []directory.KeyCredential{
			{ID: newID(), Description: "cert", CertificateDER: []byte{0x30, 0x82, 0, 1, 2, 3}, ThumbprintSHA1: "0A1B", ThumbprintS256: "abc_-", Subject: "CN=x", NotBefore: base.Add(-time.Hour), NotAfter: base.AddDate(1, 0, 0), CreatedAt: base},
		},
		FederatedIdentityCredentials: []directory.FederatedIdentityCredential{
			{ID: newID(), Name: "github-main", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/orders:ref:refs/heads/main",
				Audiences: []string{"api://AzureADTokenExchange"}, Description: "CI", CreatedAt: base.Add(time.Nanosecond)},
			{ID: newID(), Name: "k8s", Issuer: "https://kubernetes.default.svc.cluster.local", Subject: "system:serviceaccount:orders:api",
				Audiences: []string{"api://orders"}, Keys: json.RawMessage(`{"keys":[{"kty":"EC","kid":"k1"}]}`), CreatedAt: base},
			{ID: newID(), Name: "jwks", Issuer: "https://issuer.test", Subject: "s", Audiences: []string{"a"}, JWKSURI: "https://issuer.test/jwks", CreatedAt: base},
		},
		CreatedAt: base,
	}
}

// minimalApp returns an application with nil slices and zero optional fields.
func minimalApp(tenantID, name string) directory.Application {
	return directory.Application{TenantID: tenantID, AppID: newID(), ObjectID: newID(), DisplayName: name, CreatedAt: base}
}

func mustApp(t *testing.T, s Backend, a directory.Application) directory.Application {
	t.Helper()
	if err := s.CreateApplication(ctx, a); err != nil {
		t.Fatalf("CreateApplication(%q): %v", a.DisplayName, err)
	}
	return a
}

// ts is the store's time rule: UTC, truncated to microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nb(b []byte) []byte { return append([]byte{}, b...) }

// normalizeApplication returns a as a conforming store returns it: times in
// UTC truncated to microseconds and no nil slices.
func normalizeApplication(a directory.Application) directory.Application {
	a.CreatedAt = ts(a.CreatedAt)
	a.IdentifierURIs = append([]string{}, a.IdentifierURIs...)
	a.AppRoles = append([]directory.AppRole{}, a.AppRoles...)
	pcs := []directory.PasswordCredential{}
	for _, c := range a.PasswordCredentials {
		c.Hash = nb(c.Hash)
		c.StartAt, c.ExpiresAt, c.CreatedAt = ts(c.StartAt), ts(c.ExpiresAt), ts(c.CreatedAt)
		pcs = append(pcs, c)
	}
	a.PasswordCredentials = pcs
	kcs := []directory.KeyCredential{}
	for _, c := range a.KeyCredentials {
		c.CertificateDER = nb(c.CertificateDER)
		c.NotBefore, c.NotAfter, c.CreatedAt = ts(c.NotBefore), ts(c.NotAfter), ts(c.CreatedAt)
		kcs = append(kcs, c)
	}
	a.KeyCredentials = kcs
	fics := []directory.FederatedIdentityCredential{}
	for _, c := range a.FederatedIdentityCredentials {
		c.Audiences = append([]string{}, c.Audiences...)
		if len(c.Keys) == 0 {
			c.Keys = nil
		}
		c.CreatedAt = ts(c.CreatedAt)
		fics = append(fics, c)
	}
	a.FederatedIdentityCredentials = fics
	return a
}

func normTenant(x directory.Tenant) directory.Tenant { x.CreatedAt = ts(x.CreatedAt); return x }
func normGrant(g directory.Grant) directory.Grant    { g.CreatedAt = ts(g.CreatedAt); return g }

func normKey(k sts.SigningKey) sts.SigningKey {
	k.PublicDER, k.CertDER, k.Sealed = nb(k.PublicDER), nb(k.CertDER), nb(k.Sealed)
	k.CreatedAt, k.ActivateAt = ts(k.CreatedAt), ts(k.ActivateAt)
	return k
}

func normApps(as ...directory.Application) []directory.Application {
	out := []directory.Application{}
	for _, a := range as {
		out = append(out, normalizeApplication(a))
	}
	return out
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// checkNonNil fails if a returned application holds a nil slice.
func checkNonNil(t *testing.T, a directory.Application) {
	t.Helper()
	if a.IdentifierURIs == nil || a.AppRoles == nil || a.PasswordCredentials == nil || a.KeyCredentials == nil || a.FederatedIdentityCredentials == nil {
		t.Fatalf("application %s has a nil slice: %#v", a.AppID, a)
	}
	for _, c := range a.PasswordCredentials {
		if c.Hash == nil {
			t.Fatalf("password credential %s has a nil Hash", c.ID)
		}
	}
	for _, c := range a.KeyCredentials {
		if c.CertificateDER == nil {
			t.Fatalf("key credential %s has a nil CertificateDER", c.ID)
		}
	}
}

func wantErr(t *testing.T, err, sentinel error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error = %v, want %v", err, sentinel)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("error %q does not mention %q", err, m)
		}
	}
}

func revision(t *testing.T, s Backend) int64 {
	t.Helper()
	r, err := s.Revision(ctx)
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return r
}

func testTenantsRoundTrip(t *testing.T, s Backend) {
	if got, err := s.ListTenants(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListTenants on an empty store = %#v, %v; want an empty non-nil slice", got, err)
	}
	// Created out of order, two at the same instant (ordered by id), one
	// at the zero time.
	a := directory.Tenant{ID: "b-" + newID(), Name: "Alpha", CreatedAt: base.Add(time.Hour)}
	b := directory.Tenant{ID: "a-" + newID(), Name: "Bravo", CreatedAt: base.Add(time.Hour + 100*time.Nanosecond)}
	c := directory.Tenant{ID: newID(), Name: "Charlie", CreatedAt: base}
	z := directory.Tenant{ID: newID(), Name: "Zero"}
	for _, tn := range []directory.Tenant{a, b, c, z} {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatalf("CreateTenant(%q): %v", tn.Name, err)
		}
	}
	got, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// a and b share the same microsecond; b's id sorts first.
	equal(t, "ListTenants", got, []directory.Tenant{normTenant(z), normTenant(c), normTenant(b), normTenant(a)})
	if got[0].CreatedAt.Location() != time.UTC || !got[0].CreatedAt.IsZero() {
		t.Fatalf("zero time came back as %v", got[0].CreatedAt)
	}
}

func testTenantConflicts(t *testing.T, s Backend) {
	first := mustTenant(t, s, "Contoso")
	tests := []struct {
		name    string
		tenant  directory.Tenant
		mention string
	}{
		{"same id", directory.Tenant{ID: first.ID, Name: "Other", CreatedAt: base}, first.ID},
		{"same name", tenant("Contoso", base), "Contoso"},
		{"same name in another case", tenant("cONTOSO", base), "cONTOSO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.CreateTenant(ctx, tc.tenant), store.ErrConflict, tc.mention)
		})
	}
	got, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "tenants after conflicts", got, []directory.Tenant{normTenant(first)})
}

func testApplicationRoundTrip(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	tests := []struct {
		name string
		app  directory.Application
	}{
		{"every field set", fullApp(tn.ID, "full")},
		{"nil slices", minimalApp(tn.ID, "minimal")},
		{"empty slices", func() directory.Application {
			a := minimalApp(tn.ID, "empty")
			a.IdentifierURIs, a.AppRoles = []string{}, []directory.AppRole{}
			a.PasswordCredentials, a.KeyCredentials = []directory.PasswordCredential{}, []directory.KeyCredential{}
			return a
		}()},
		{"unicode and zero times", func() directory.Application {
			a := minimalApp(tn.ID, "Ünïcødé ✓")
			a.IdentifierURIs = []string{"api://ÜNÏ"}
			a.CreatedAt = time.Time{}
			a.PasswordCredentials = []directory.PasswordCredential{{ID: newID(), Hash: nil}}
			a.KeyCredentials = []directory.KeyCredential{{ID: newID()}}
			return a
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustApp(t, s, tc.app)
			got, err := s.GetApplication(ctx, tn.ID, tc.app.AppID)
			if err != nil {
				t.Fatal(err)
			}
			checkNonNil(t, got)
			equal(t, "GetApplication", got, normalizeApplication(tc.app))
			if got.AccessTokenLifetime != tc.app.AccessTokenLifetime {
				t.Fatalf("AccessTokenLifetime = %v, want %v", got.AccessTokenLifetime, tc.app.AccessTokenLifetime)
			}
		})
	}
}

func testApplicationsOrder(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	if got, err := s.ListApplications(ctx, tn.ID); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListApplications on an empty tenant = %#v, %v; want an empty non-nil slice", got, err)
	}
	late := fullApp(tn.ID, "late")
	late.CreatedAt = base.Add(time.Hour)
	early := minimalApp(tn.ID, "early")
	early.CreatedAt = base.Add(-time.Hour)
	tieB := minimalApp(tn.ID, "tie b")
	tieB.AppID = "b-" + tieB.AppID
	tieA := minimalApp(tn.ID, "tie a")
	tieA.AppID = "a-" + tieA.AppID
	elsewhere := minimalApp(other.ID, "late") // same name, other tenant: no conflict
	for _, a := range []directory.Application{late, tieB, early, tieA, elsewhere} {
		mustApp(t, s, a)
	}
	got, err := s.ListApplications(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		checkNonNil(t, a)
	}
	equal(t, "ListApplications", got, normApps(early, tieA, tieB, late))
	got, err = s.ListApplications(ctx, "no-such-tenant")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListApplications(unknown tenant) = %#v, %v; want an empty non-nil slice", got, err)
	}
}

func testApplicationConflicts(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	first := mustApp(t, s, fullApp(tn.ID, "Payroll API"))
	mustApp(t, s, minimalApp(other.ID, "Elsewhere"))
	tests := []struct {
		name     string
		mutate   func(a *directory.Application)
		mentions []string
	}{
		{"same app id", func(a *directory.Application) { a.AppID = first.AppID }, []string{first.AppID}},
		{"same object id", func(a *directory.Application) { a.ObjectID = first.ObjectID }, []string{first.ObjectID}},
		{"identifier URI of another application", func(a *directory.Application) {
			a.IdentifierURIs = []string{"api://new", first.IdentifierURIs[1]}
		}, []string{first.IdentifierURIs[1], first.AppID}},
		{"identifier URI in another case", func(a *directory.Application) {
			a.IdentifierURIs = []string{strings.ToUpper(first.IdentifierURIs[0])}
		}, []string{strings.ToUpper(first.IdentifierURIs[0]), first.AppID}},
		{"identifier URI listed twice", func(a *directory.Application) {
			a.IdentifierURIs = []string{"api://dup", "API://DUP"}
		}, []string{"API://DUP"}},
		{"display name", func(a *directory.Application) { a.DisplayName = "Payroll API" }, []string{"Payroll API", first.AppID}},
		{"display name in another case", func(a *directory.Application) { a.DisplayName = "PAYROLL api" }, []string{"PAYROLL api", first.AppID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := fullApp(tn.ID, "candidate")
			tc.mutate(&a)
			rev := revision(t, s)
			wantErr(t, s.CreateApplication(ctx, a), store.ErrConflict, tc.mentions...)
			if r := revision(t, s); r != rev {
				t.Fatalf("revision moved from %d to %d on a refused write", rev, r)
			}
		})
	}
	// The same identifier URI and display name are free in another tenant.
	a := fullApp(other.ID, "Payroll API")
	a.IdentifierURIs = first.IdentifierURIs
	mustApp(t, s, a)
	got, err := s.ListApplications(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "applications after conflicts", got, normApps(first))
}

func testNotFound(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	app := mustApp(t, s, fullApp(tn.ID, "app"))
	missing := "missing-" + newID()
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateApplication in unknown tenant", func() error { return s.CreateApplication(ctx, minimalApp(missing, "x")) }},
		{"GetApplication", func() error { _, err := s.GetApplication(ctx, tn.ID, missing); return err }},
		{"GetApplication in another tenant", func() error { _, err := s.GetApplication(ctx, missing, app.AppID); return err }},
		{"UpdateApplication", func() error {
			_, err := s.UpdateApplication(ctx, tn.ID, missing, func(*directory.Application) error { return nil })
			return err
		}},
		{"DeleteApplication", func() error { return s.DeleteApplication(ctx, tn.ID, missing) }},
		{"CreateGrant with unknown client", func() error {
			return s.CreateGrant(ctx, directory.Grant{ID: newID(), TenantID: tn.ID, ClientAppID: missing, ResourceAppID: app.AppID, AppRoleID: app.AppRoles[0].ID, CreatedAt: base})
		}},
		{"CreateGrant with unknown resource", func() error {
			return s.CreateGrant(ctx, directory.Grant{ID: newID(), TenantID: tn.ID, ClientAppID: app.AppID, ResourceAppID: missing, AppRoleID: app.AppRoles[0].ID, CreatedAt: base})
		}},
		{"CreateGrant in unknown tenant", func() error {
			return s.CreateGrant(ctx, directory.Grant{ID: newID(), TenantID: missing, ClientAppID: app.AppID, ResourceAppID: app.AppID, AppRoleID: app.AppRoles[0].ID, CreatedAt: base})
		}},
		{"DeleteGrant", func() error { return s.DeleteGrant(ctx, tn.ID, missing) }},
		{"CreateSigningKey in unknown tenant", func() error {
			return s.CreateSigningKey(ctx, sts.SigningKey{TenantID: missing, KID: "k", Algorithm: "RS256", CreatedAt: base, ActivateAt: base})
		}},
		{"DeleteSigningKey", func() error { return s.DeleteSigningKey(ctx, tn.ID, missing) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := revision(t, s)
			wantErr(t, tc.call(), store.ErrNotFound, missing)
			if r := revision(t, s); r != rev {
				t.Fatalf("revision moved from %d to %d on a failed write", rev, r)
			}
		})
	}
}

func testInvalidInput(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	tests := []struct {
		name string
		call func() error
	}{
		{"tenant without id", func() error { return s.CreateTenant(ctx, directory.Tenant{Name: "x"}) }},
		{"tenant without name", func() error { return s.CreateTenant(ctx, directory.Tenant{ID: newID()}) }},
		{"application without app id", func() error {
			a := minimalApp(tn.ID, "x")
			a.AppID = ""
			return s.CreateApplication(ctx, a)
		}},
		{"application with an empty identifier URI", func() error {
			a := minimalApp(tn.ID, "x")
			a.IdentifierURIs = []string{""}
			return s.CreateApplication(ctx, a)
		}},
		{"grant without role", func() error {
			return s.CreateGrant(ctx, directory.Grant{ID: newID(), TenantID: tn.ID, ClientAppID: "a", ResourceAppID: "b"})
		}},
		{"lease with zero ttl", func() error { _, err := s.TryLease(ctx, "l", "h", 0, base); return err }},
		{"lease without holder", func() error { _, err := s.TryLease(ctx, "l", "", time.Minute, base); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := revision(t, s)
			err := tc.call()
			if err == nil {
				t.Fatal("accepted; want an error")
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Fatalf("error %v is ErrNotFound; want a validation error", err)
			}
			if r := revision(t, s); r != rev {
				t.Fatalf("revision moved from %d to %d on a refused write", rev, r)
			}
		})
	}
}

func testUpdateApplication(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	app := mustApp(t, s, fullApp(tn.ID, "app"))
	other := mustApp(t, s, fullApp(tn.ID, "other"))

	t.Run("changes every mutable field", func(t *testing.T) {
		var want directory.Application
		got, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error {
			checkNonNil(t, *a)
			equal(t, "application handed to mutate", *a, normalizeApplication(app))
			a.DisplayName = "renamed"
			a.IdentifierURIs = append(a.IdentifierURIs[1:], "api://added")
			a.AccessTokenLifetime = 5 * time.Minute
			a.RequireCertificateBoundTokens = !a.RequireCertificateBoundTokens
			a.AppRoles[0].Enabled = false
			a.AppRoles = append(a.AppRoles, directory.AppRole{ID: newID(), Value: "New", Enabled: true})
			a.PasswordCredentials = a.PasswordCredentials[:1]
			a.PasswordCredentials[0].ExpiresAt = base.Add(time.Nanosecond * 1500)
			a.KeyCredentials = nil
			a.FederatedIdentityCredentials = a.FederatedIdentityCredentials[1:]
			a.FederatedIdentityCredentials[0].Subject = "system:serviceaccount:orders:worker"
			want = *a
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkNonNil(t, got)
		equal(t, "UpdateApplication result", got, normalizeApplication(want))
		read, err := s.GetApplication(ctx, tn.ID, app.AppID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "GetApplication after update", read, normalizeApplication(want))
	})

	t.Run("may keep its own URIs and change the case of its name", func(t *testing.T) {
		_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error {
			a.DisplayName = "RENAMED"
			a.IdentifierURIs = []string{strings.ToUpper(a.IdentifierURIs[0])}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	conflicts := []struct {
		name     string
		mutate   func(a *directory.Application)
		mentions []string
	}{
		{"identifier URI of another application", func(a *directory.Application) {
			a.IdentifierURIs = append(a.IdentifierURIs, strings.ToUpper(other.IdentifierURIs[0]))
		}, []string{strings.ToUpper(other.IdentifierURIs[0]), other.AppID}},
		{"display name of another application", func(a *directory.Application) { a.DisplayName = "OTHER" }, []string{"OTHER", other.AppID}},
	}
	for _, tc := range conflicts {
		t.Run("conflict: "+tc.name, func(t *testing.T) {
			before, err := s.GetApplication(ctx, tn.ID, app.AppID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error { tc.mutate(a); return nil })
			wantErr(t, err, store.ErrConflict, tc.mentions...)
			after, err := s.GetApplication(ctx, tn.ID, app.AppID)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "application after refused update", after, before)
		})
	}
}

func testUpdateMutateError(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	app := mustApp(t, s, fullApp(tn.ID, "app"))
	rev := revision(t, s)
	boom := fmt.Errorf("the caller refused: %w", errors.New("boom"))
	_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error {
		a.DisplayName = "changed"
		a.AppRoles = nil
		return boom
	})
	if err != boom {
		t.Fatalf("error = %v, want the mutate error as is", err)
	}
	got, err := s.GetApplication(ctx, tn.ID, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "application after failed mutate", got, normalizeApplication(app))
	if r := revision(t, s); r != rev {
		t.Fatalf("revision moved from %d to %d", rev, r)
	}
}

func testUpdateImmutable(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	tn2 := mustTenant(t, s, "t2")
	app := mustApp(t, s, fullApp(tn.ID, "app"))
	tests := []struct {
		name   string
		mutate func(a *directory.Application)
	}{
		{"tenant id", func(a *directory.Application) { a.TenantID = tn2.ID }},
		{"app id", func(a *directory.Application) { a.AppID = newID() }},
		{"object id", func(a *directory.Application) { a.ObjectID = newID() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := revision(t, s)
			_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error {
				a.DisplayName = "changed"
				tc.mutate(a)
				return nil
			})
			if err == nil {
				t.Fatal("accepted; want an error")
			}
			got, err := s.GetApplication(ctx, tn.ID, app.AppID)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "application after refused update", got, normalizeApplication(app))
			if r := revision(t, s); r != rev {
				t.Fatalf("revision moved from %d to %d", rev, r)
			}
		})
	}
}

func testConcurrentUpdates(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	app := mustApp(t, s, minimalApp(tn.ID, "app"))
	rev := revision(t, s)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error {
				a.AppRoles = append(a.AppRoles, directory.AppRole{ID: newID(), Value: fmt.Sprintf("Role.%d", i), Enabled: true})
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent UpdateApplication: %v", err)
		}
	}
	got, err := s.GetApplication(ctx, tn.ID, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for _, r := range got.AppRoles {
		seen[r.Value] = true
	}
	if len(got.AppRoles) != n || len(seen) != n {
		t.Fatalf("after %d concurrent appends the application has %d roles (%d distinct); updates were lost", n, len(got.AppRoles), len(seen))
	}
	if r := revision(t, s); r != rev+n {
		t.Fatalf("revision = %d after %d updates from %d", r, n, rev)
	}
}

func grant(tenantID, client, resource, role string) directory.Grant {
	return directory.Grant{ID: newID(), TenantID: tenantID, ClientAppID: client, ResourceAppID: resource, AppRoleID: role, CreatedAt: base}
}

func mustGrant(t *testing.T, s Backend, g directory.Grant) directory.Grant {
	t.Helper()
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return g
}

func testDeleteCascade(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	doomed := mustApp(t, s, fullApp(tn.ID, "doomed"))
	api := mustApp(t, s, fullApp(tn.ID, "api"))
	client := mustApp(t, s, fullApp(tn.ID, "client"))
	mustGrant(t, s, grant(tn.ID, doomed.AppID, api.AppID, api.AppRoles[0].ID))       // doomed as client
	mustGrant(t, s, grant(tn.ID, client.AppID, doomed.AppID, doomed.AppRoles[0].ID)) // doomed as resource
	mustGrant(t, s, grant(tn.ID, doomed.AppID, doomed.AppID, doomed.AppRoles[1].ID)) // doomed as both
	kept := mustGrant(t, s, grant(tn.ID, client.AppID, api.AppID, api.AppRoles[0].ID))

	rev := revision(t, s)
	if err := s.DeleteApplication(ctx, tn.ID, doomed.AppID); err != nil {
		t.Fatal(err)
	}
	if r := revision(t, s); r != rev+1 {
		t.Fatalf("revision = %d after one delete from %d", r, rev)
	}
	_, err := s.GetApplication(ctx, tn.ID, doomed.AppID)
	wantErr(t, err, store.ErrNotFound, doomed.AppID)
	grants, err := s.ListGrants(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "grants after delete", grants, []directory.Grant{normGrant(kept)})
	// Its identifier URIs, display name and credentials went with it.
	again := doomed
	again.ObjectID = newID()
	mustApp(t, s, again)
	got, err := s.GetApplication(ctx, tn.ID, doomed.AppID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "recreated application", got, normalizeApplication(again))
	grants, err = s.ListGrants(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "grants after recreate", grants, []directory.Grant{normGrant(kept)})
}

func testGrants(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	api := mustApp(t, s, fullApp(tn.ID, "api"))
	client := mustApp(t, s, fullApp(tn.ID, "client"))
	otherApp := mustApp(t, s, fullApp(other.ID, "api"))
	if got, err := s.ListGrants(ctx, tn.ID); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListGrants with none = %#v, %v; want an empty non-nil slice", got, err)
	}
	late := grant(tn.ID, client.AppID, api.AppID, api.AppRoles[0].ID)
	late.CreatedAt = base.Add(time.Minute)
	tieB := grant(tn.ID, client.AppID, api.AppID, api.AppRoles[1].ID)
	tieB.ID = "b-" + tieB.ID
	tieA := grant(tn.ID, api.AppID, client.AppID, client.AppRoles[0].ID)
	tieA.ID = "a-" + tieA.ID
	elsewhere := grant(other.ID, otherApp.AppID, otherApp.AppID, otherApp.AppRoles[0].ID)
	for _, g := range []directory.Grant{late, tieB, tieA, elsewhere} {
		mustGrant(t, s, g)
	}
	got, err := s.ListGrants(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListGrants", got, []directory.Grant{normGrant(tieA), normGrant(tieB), normGrant(late)})

	conflicts := []struct {
		name     string
		g        directory.Grant
		mentions []string
	}{
		{"same client, resource and role", grant(tn.ID, client.AppID, api.AppID, api.AppRoles[0].ID), []string{api.AppRoles[0].ID, late.ID}},
		{"same id", func() directory.Grant {
			g := grant(tn.ID, api.AppID, api.AppID, api.AppRoles[0].ID)
			g.ID = late.ID
			return g
		}(), []string{late.ID}},
	}
	for _, tc := range conflicts {
		t.Run("conflict: "+tc.name, func(t *testing.T) {
			wantErr(t, s.CreateGrant(ctx, tc.g), store.ErrConflict, tc.mentions...)
		})
	}

	if err := s.DeleteGrant(ctx, tn.ID, tieB.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteGrant(ctx, tn.ID, tieB.ID), store.ErrNotFound, tieB.ID)
	wantErr(t, s.DeleteGrant(ctx, tn.ID, elsewhere.ID), store.ErrNotFound, elsewhere.ID)
	got, err = s.ListGrants(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListGrants after delete", got, []directory.Grant{normGrant(tieA), normGrant(late)})
}

func signingKey(tenantID, kid string, activate time.Time) sts.SigningKey {
	return sts.SigningKey{
		TenantID: tenantID, KID: kid, Algorithm: "RS256",
		PublicDER: []byte{0x30, 1, 2, 0}, CertDER: []byte{0x30, 3, 4}, Sealed: []byte{9, 0, 8, 0xfe},
		CreatedAt: base.Add(-time.Hour), ActivateAt: activate,
	}
}

func testSigningKeys(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	other := mustTenant(t, s, "other")
	if got, err := s.ListSigningKeys(ctx, tn.ID); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListSigningKeys with none = %#v, %v; want an empty non-nil slice", got, err)
	}
	k3 := signingKey(tn.ID, "k3", base.Add(48*time.Hour))
	k1 := signingKey(tn.ID, "k1", base)
	k2 := signingKey(tn.ID, "k2", base.Add(24*time.Hour))
	k0 := signingKey(tn.ID, "k0", base.Add(24*time.Hour)) // same ActivateAt as k2: kid decides
	k0.PublicDER, k0.CertDER, k0.Sealed = nil, []byte{}, []byte{1}
	elsewhere := signingKey(other.ID, "k1", base)
	for _, k := range []sts.SigningKey{k3, k1, k2, k0, elsewhere} {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatalf("CreateSigningKey(%s): %v", k.KID, err)
		}
	}
	got, err := s.ListSigningKeys(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListSigningKeys", got, []sts.SigningKey{normKey(k1), normKey(k0), normKey(k2), normKey(k3)})
	for _, k := range got {
		if k.PublicDER == nil || k.CertDER == nil || k.Sealed == nil {
			t.Fatalf("signing key %s has a nil byte slice", k.KID)
		}
	}
	wantErr(t, s.CreateSigningKey(ctx, signingKey(tn.ID, "k2", base)), store.ErrConflict, "k2")

	rev := revision(t, s)
	if err := s.DeleteSigningKey(ctx, tn.ID, "k1"); err != nil {
		t.Fatal(err)
	}
	if r := revision(t, s); r != rev+1 {
		t.Fatalf("revision = %d after deleting a key from %d", r, rev)
	}
	wantErr(t, s.DeleteSigningKey(ctx, tn.ID, "k1"), store.ErrNotFound, "k1")
	got, err = s.ListSigningKeys(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListSigningKeys after delete", got, []sts.SigningKey{normKey(k0), normKey(k2), normKey(k3)})
	got, err = s.ListSigningKeys(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "other tenant's keys", got, []sts.SigningKey{normKey(elsewhere)})
}

func testReplaceSigningKeySealed(t *testing.T, s Backend) {
	tn := mustTenant(t, s, "t")
	k := signingKey(tn.ID, "k1", base)
	if err := s.CreateSigningKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	sealedOf := func() []byte {
		t.Helper()
		ks, err := s.ListSigningKeys(ctx, tn.ID)
		if err != nil || len(ks) != 1 {
			t.Fatalf("ListSigningKeys = %d keys, %v", len(ks), err)
		}
		return ks[0].Sealed
	}
	resealed := []byte{7, 7, 0, 7}
	for _, tc := range []struct {
		name      string
		tenantID  string
		kid       string
		old, new  []byte
		want      bool
		wantErr   error
		wantBytes []byte
		bumps     bool
	}{
		{"stale old bytes change nothing", tn.ID, "k1", []byte{1, 2, 3}, resealed, false, nil, k.Sealed, false},
		{"matching old bytes are replaced", tn.ID, "k1", k.Sealed, resealed, true, nil, resealed, true},
		{"a second swap from the same old bytes loses", tn.ID, "k1", k.Sealed, []byte{8, 8}, false, nil, resealed, false},
		{"unknown kid", tn.ID, "nope", resealed, []byte{8}, false, store.ErrNotFound, resealed, false},
		{"unknown tenant", newID(), "k1", resealed, []byte{8}, false, store.ErrNotFound, resealed, false},
		{"empty new bytes are refused", tn.ID, "k1", resealed, nil, false, nil, resealed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev := revision(t, s)
			ok, err := s.ReplaceSigningKeySealed(ctx, tc.tenantID, tc.kid, tc.old, tc.new)
			switch {
			case tc.wantErr != nil:
				wantErr(t, err, tc.wantErr, tc.kid)
			case len(tc.new) == 0:
				if err == nil {
					t.Fatal("empty sealed bytes accepted")
				}
			case err != nil:
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Fatalf("replaced = %v, want %v", ok, tc.want)
			}
			if got := sealedOf(); !bytes.Equal(got, tc.wantBytes) {
				t.Fatalf("sealed = %x, want %x", got, tc.wantBytes)
			}
			want := rev
			if tc.bumps {
				want++
			}
			if r := revision(t, s); r != want {
				t.Fatalf("revision %d -> %d, want %d", rev, r, want)
			}
		})
	}

	// Concurrent swaps from the same old bytes: exactly one wins.
	cur := sealedOf()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ReplaceSigningKeySealed(ctx, tn.ID, "k1", cur, []byte{byte(i), 0xaa})
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent swaps won, want exactly 1", wins.Load())
	}
}

func testRevision(t *testing.T, s Backend) {
	r0 := revision(t, s)
	tn := tenant("t", base)
	var app, client directory.Application
	var g directory.Grant
	writes := []struct {
		name string
		call func() error
	}{
		{"CreateTenant", func() error { return s.CreateTenant(ctx, tn) }},
		{"CreateApplication", func() error { app = fullApp(tn.ID, "api"); return s.CreateApplication(ctx, app) }},
		{"CreateApplication (client)", func() error { client = minimalApp(tn.ID, "client"); return s.CreateApplication(ctx, client) }},
		{"UpdateApplication", func() error {
			_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error { a.DisplayName = "api2"; return nil })
			return err
		}},
		{"UpdateApplication without change", func() error {
			_, err := s.UpdateApplication(ctx, tn.ID, app.AppID, func(a *directory.Application) error { return nil })
			return err
		}},
		{"CreateGrant", func() error {
			g = grant(tn.ID, client.AppID, app.AppID, app.AppRoles[0].ID)
			return s.CreateGrant(ctx, g)
		}},
		{"DeleteGrant", func() error { return s.DeleteGrant(ctx, tn.ID, g.ID) }},
		{"CreateSigningKey", func() error { return s.CreateSigningKey(ctx, signingKey(tn.ID, "k", base)) }},
		{"DeleteSigningKey", func() error { return s.DeleteSigningKey(ctx, tn.ID, "k") }},
		{"DeleteApplication", func() error { return s.DeleteApplication(ctx, tn.ID, client.AppID) }},
	}
	want := r0
	for _, w := range writes {
		if err := w.call(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		want++
		if r := revision(t, s); r != want {
			t.Fatalf("after %s revision = %d, want %d", w.name, r, want)
		}
	}
	reads := []struct {
		name string
		call func() error
	}{
		{"ListTenants", func() error { _, err := s.ListTenants(ctx); return err }},
		{"GetApplication", func() error { _, err := s.GetApplication(ctx, tn.ID, app.AppID); return err }},
		{"ListApplications", func() error { _, err := s.ListApplications(ctx, tn.ID); return err }},
		{"ListGrants", func() error { _, err := s.ListGrants(ctx, tn.ID); return err }},
		{"ListSigningKeys", func() error { _, err := s.ListSigningKeys(ctx, tn.ID); return err }},
		{"Load", func() error { _, err := s.Load(ctx); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
		{"TryLease", func() error { _, err := s.TryLease(ctx, "rotation", "node-1", time.Minute, base); return err }},
		{"TryLease refused", func() error { _, err := s.TryLease(ctx, "rotation", "node-2", time.Minute, base); return err }},
	}
	for _, rd := range reads {
		if err := rd.call(); err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		if r := revision(t, s); r != want {
			t.Fatalf("after %s revision = %d, want it unchanged at %d", rd.name, r, want)
		}
	}
}

func testLoad(t *testing.T, s Backend) {
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tenants == nil || st.Applications == nil || st.Grants == nil || st.APIs == nil || st.Connectors == nil || st.SigningKeys == nil {
		t.Fatalf("Load on an empty store has nil slices: %#v", st)
	}
	if len(st.Tenants)+len(st.Applications)+len(st.Grants)+len(st.APIs)+len(st.Connectors)+len(st.SigningKeys) != 0 {
		t.Fatalf("Load on an empty store = %#v", st)
	}

	t1 := mustTenant(t, s, "one")
	t2 := tenant("two", base.Add(time.Second))
	if err := s.CreateTenant(ctx, t2); err != nil {
		t.Fatal(err)
	}
	a1 := fullApp(t1.ID, "a1")
	a2 := fullApp(t2.ID, "a2")
	a2.CreatedAt = base.Add(-time.Hour)
	mustApp(t, s, a1)
	mustApp(t, s, a2)
	g1 := mustGrant(t, s, grant(t1.ID, a1.AppID, a1.AppID, a1.AppRoles[0].ID))
	g2 := grant(t2.ID, a2.AppID, a2.AppID, a2.AppRoles[0].ID)
	g2.CreatedAt = base.Add(-time.Minute)
	mustGrant(t, s, g2)
	k1 := signingKey(t1.ID, "k", base.Add(time.Hour))
	k2 := signingKey(t2.ID, "k", base)
	for _, k := range []sts.SigningKey{k1, k2} {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	api2, err := s.CreateAPI(ctx, fullAPI(t2.ID, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	api1, err := s.CreateAPI(ctx, fullAPI(t1.ID, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := s.CreateConnector(ctx, fullConnector(t1.ID, "hr", a1.AppID))
	if err != nil {
		t.Fatal(err)
	}
	apis := []directory.API{api1, api2}
	if t2.ID < t1.ID {
		apis = []directory.API{api2, api1}
	}
	st, err = s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Load", st, sqlstore.State{
		APIs:         apis,
		Connectors:   []directory.Connector{c1},
		Revision:     revision(t, s),
		Tenants:      []directory.Tenant{normTenant(t1), normTenant(t2)},
		Applications: normApps(a2, a1),
		Grants:       []directory.Grant{normGrant(g2), normGrant(g1)},
		SigningKeys:  []sts.SigningKey{normKey(k2), normKey(k1)},
	})
}

// testLoadConsistent checks that each Load reflects exactly the writes its
// revision counts, while a writer keeps adding tenants.
func testLoadConsistent(t *testing.T, s Backend) {
	r0 := revision(t, s)
	const n = 30
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := s.CreateTenant(ctx, tenant(fmt.Sprintf("tenant-%02d", i), base.Add(time.Duration(i)*time.Second))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	check := func(st sqlstore.State) {
		t.Helper()
		if got := int64(len(st.Tenants)); got != st.Revision-r0 {
			t.Fatalf("Load at revision %d (start %d) has %d tenants; the read was not consistent", st.Revision, r0, got)
		}
	}
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		st, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(st)
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(st)
	if st.Revision != r0+n {
		t.Fatalf("final revision %d, want %d", st.Revision, r0+n)
	}
}

func testTryLease(t *testing.T, s Backend) {
	const ttl = time.Minute
	t0 := base
	steps := []struct {
		name   string
		lease  string
		holder string
		now    time.Time
		want   bool
	}{
		{"first holder acquires", "rotation", "node-a", t0, true},
		{"other holder refused while held", "rotation", "node-b", t0.Add(30 * time.Second), false},
		{"holder renews", "rotation", "node-a", t0.Add(50 * time.Second), true},
		{"other holder refused before renewed expiry", "rotation", "node-b", t0.Add(50*time.Second + ttl - time.Microsecond), false},
		{"other lease is independent", "cleanup", "node-b", t0.Add(time.Second), true},
		{"other holder takes over at expiry", "rotation", "node-b", t0.Add(50*time.Second + ttl), true},
		{"previous holder refused now", "rotation", "node-a", t0.Add(50*time.Second + ttl + time.Second), false},
		{"new holder renews", "rotation", "node-b", t0.Add(50*time.Second + ttl + time.Second), true},
		{"taken over long after expiry", "rotation", "node-a", t0.Add(time.Hour), true},
	}
	for _, st := range steps {
		got, err := s.TryLease(ctx, st.lease, st.holder, ttl, st.now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s: TryLease(%s, %s, %v) = %v, want %v", st.name, st.lease, st.holder, st.now.Sub(t0), got, st.want)
		}
	}
}

func testPingClose(t *testing.T, s Backend) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}
