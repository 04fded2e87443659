package vault_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
)

// countingStore counts the reads the authorization cache saves.
type countingStore struct {
	vault.Store
	roleReads  atomic.Int64
	vaultReads atomic.Int64
}

func (c *countingStore) ListRoleAssignments(ctx context.Context, v, p string) ([]vault.RoleAssignment, error) {
	c.roleReads.Add(1)
	return c.Store.ListRoleAssignments(ctx, v, p)
}

func (c *countingStore) GetVault(ctx context.Context, name string) (vault.Vault, error) {
	c.vaultReads.Add(1)
	return c.Store.GetVault(ctx, name)
}

// cluster is two Services ("nodes") over one SQLite store with one clock.
type cluster struct {
	a, b  *vault.Service
	store *countingStore // what b reads through
	clock *clock
	ctx   context.Context
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	st := sqlitetest.Open(t)
	root := rootKey(t)
	clk := &clock{t: start}
	cs := &countingStore{Store: st}
	mk := func(s vault.Store) *vault.Service {
		svc, err := vault.New(vault.Config{Store: s, Sealer: seal.NewSealer(root), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close(context.Background()) })
		return svc
	}
	c := &cluster{a: mk(st), b: mk(cs), store: cs, clock: clk, ctx: context.Background()}
	if _, err := c.a.EnsureDefault(c.ctx); err != nil {
		t.Fatal(err)
	}
	must[vault.Secret](t)(c.a.SetSecret(c.ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	return c
}

var reader = vault.Caller{Principal: guard.Principal{AppID: "reader-app"}, RequestID: "r"}

func (c *cluster) assign(t *testing.T, svc *vault.Service, role string) vault.RoleAssignment {
	t.Helper()
	return must[vault.RoleAssignment](t)(svc.AssignRole(c.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: reader.AppID, Role: role}))
}

func TestCache_LocalRoleRemovalTakesEffectAtOnce(t *testing.T) {
	c := newCluster(t)
	ra := c.assign(t, c.b, vault.RoleSecretsUser)
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", ""))
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", "")) // cached now
	if err := c.b.RemoveRoleAssignment(c.ctx, admin, "default", ra.ID); err != nil {
		t.Fatal(err)
	}
	_, err := c.b.GetSecret(c.ctx, reader, "default", "s", "")
	wantErr(t, err, vault.KindForbidden, "secrets/getSecret")
}

func TestCache_LocalGrantTakesEffectAtOnce(t *testing.T) {
	c := newCluster(t)
	_, err := c.b.GetSecret(c.ctx, reader, "default", "s", "")
	wantErr(t, err, vault.KindForbidden)
	c.assign(t, c.b, vault.RoleSecretsUser)
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", ""))
}

func TestCache_OtherNodesChangesAreSeenWithinTheRevalidationInterval(t *testing.T) {
	c := newCluster(t)
	ra := c.assign(t, c.a, vault.RoleSecretsOfficer)
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", "")) // b caches the assignment

	if err := c.a.RemoveRoleAssignment(c.ctx, admin, "default", ra.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		run     func() error
		allowed bool
	}{
		// A change needs no cache: b reads the assignments from the store.
		{"a write on b is refused at once", 0, func() error {
			_, err := c.b.SetSecret(c.ctx, reader, "default", "s", vault.SecretInput{Value: vault.NewStringValue("w")})
			return err
		}, false},
		// A read may use what b cached, for less than DefaultCacheRevalidate.
		{"a read on b within the interval may still pass", vault.DefaultCacheRevalidate - time.Millisecond, func() error {
			_, err := c.b.GetSecret(c.ctx, reader, "default", "s", "")
			return err
		}, true},
		{"a read on b once the interval has passed is refused", time.Millisecond, func() error {
			_, err := c.b.GetSecret(c.ctx, reader, "default", "s", "")
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.clock.Advance(tc.advance)
			err := tc.run()
			if tc.allowed && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.allowed {
				wantErr(t, err, vault.KindForbidden)
			}
		})
	}
}

func TestCache_UnchangedRevisionKeepsTheCache(t *testing.T) {
	c := newCluster(t)
	c.assign(t, c.a, vault.RoleSecretsUser)
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", ""))
	roles, vaults := c.store.roleReads.Load(), c.store.vaultReads.Load()
	for range 5 {
		c.clock.Advance(vault.DefaultCacheRevalidate)
		must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", ""))
	}
	if r, v := c.store.roleReads.Load()-roles, c.store.vaultReads.Load()-vaults; r != 0 || v != 0 {
		t.Fatalf("%d role and %d vault reads while nothing changed, want none", r, v)
	}
	// Any write moves the revision: b reloads after the interval.
	must[vault.Secret](t)(c.a.SetSecret(c.ctx, admin, "default", "other", vault.SecretInput{Value: vault.NewStringValue("v")}))
	c.clock.Advance(vault.DefaultCacheRevalidate)
	must[vault.Secret](t)(c.b.GetSecret(c.ctx, reader, "default", "s", ""))
	if r := c.store.roleReads.Load() - roles; r != 1 {
		t.Fatalf("%d role reads after the revision moved, want 1", r)
	}
}

func TestCache_OtherNodesPurgeProtectionIsSeenByPurgeAtOnce(t *testing.T) {
	c := newCluster(t)
	must[vault.Secret](t)(c.b.DeleteSecret(c.ctx, admin, "default", "s"))
	must[vault.Vault](t)(c.b.GetVault(c.ctx, admin, "default")) // b caches the vault
	on := true
	must[vault.Vault](t)(c.a.UpdateVault(c.ctx, admin, "default", vault.VaultUpdate{PurgeProtection: &on}))
	err := c.b.PurgeSecret(c.ctx, admin, "default", "s")
	wantErr(t, err, vault.KindForbidden)
}

func TestCache_NegativeRevalidateDisablesCaching(t *testing.T) {
	st := &countingStore{Store: sqlitetest.Open(t)}
	svc, err := vault.New(vault.Config{Store: st, Sealer: seal.NewSealer(rootKey(t)), Logger: slog.New(slog.DiscardHandler), CacheRevalidate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	ctx := context.Background()
	if _, err := svc.EnsureDefault(ctx); err != nil {
		t.Fatal(err)
	}
	must[vault.RoleAssignment](t)(svc.AssignRole(ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: reader.AppID, Role: vault.RoleSecretsOfficer}))
	must[vault.Secret](t)(svc.SetSecret(ctx, reader, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	before := st.roleReads.Load()
	for range 3 {
		must[vault.Secret](t)(svc.GetSecret(ctx, reader, "default", "s", ""))
	}
	if n := st.roleReads.Load() - before; n != 3 {
		t.Fatalf("%d role reads for 3 reads without caching, want 3", n)
	}
}
