package vault_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
)

// downStore is a real store that can be made unreachable: while down, every
// method a read, a write or the audit writer uses fails with
// store.ErrUnavailable, as the PostgreSQL store does when its database
// cannot be reached.
type downStore struct {
	vault.Store
	down atomic.Bool
}

func errDown() error { return fmt.Errorf("%w: connection refused (test)", store.ErrUnavailable) }

func (d *downStore) GetVault(ctx context.Context, name string) (vault.Vault, error) {
	if d.down.Load() {
		return vault.Vault{}, errDown()
	}
	return d.Store.GetVault(ctx, name)
}

func (d *downStore) ListRoleAssignments(ctx context.Context, v, p string) ([]vault.RoleAssignment, error) {
	if d.down.Load() {
		return nil, errDown()
	}
	return d.Store.ListRoleAssignments(ctx, v, p)
}

func (d *downStore) GetObject(ctx context.Context, v string, typ vault.ObjectType, name string) (vault.Object, error) {
	if d.down.Load() {
		return vault.Object{}, errDown()
	}
	return d.Store.GetObject(ctx, v, typ, name)
}

func (d *downStore) GetObjectVersion(ctx context.Context, v string, typ vault.ObjectType, name, version string) (vault.Object, vault.ObjectVersion, error) {
	if d.down.Load() {
		return vault.Object{}, vault.ObjectVersion{}, errDown()
	}
	return d.Store.GetObjectVersion(ctx, v, typ, name, version)
}

func (d *downStore) AddVersion(ctx context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	if d.down.Load() {
		return vault.ObjectVersion{}, errDown()
	}
	return d.Store.AddVersion(ctx, v, opts)
}

func (d *downStore) AppendAudit(ctx context.Context, recs ...vault.AuditRecord) error {
	if d.down.Load() {
		return errDown()
	}
	return d.Store.AppendAudit(ctx, recs...)
}

func (d *downStore) Revision(ctx context.Context) (int64, error) {
	if d.down.Load() {
		return 0, errDown()
	}
	return d.Store.Revision(ctx)
}

// outageService is a Service over a downStore on real SQLite, with the
// audit spool in dir ("" for none).
func outageService(t *testing.T, st vault.Store, dir string, opts ...func(*vault.Config)) (*vault.Service, *downStore) {
	t.Helper()
	ds := &downStore{Store: st}
	cfg := vault.Config{Store: ds, Sealer: seal.NewSealer(outageRoot), Logger: slog.New(slog.DiscardHandler), AuditSpoolDir: dir}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := vault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	t.Cleanup(func() { ds.down.Store(false) }) // runs first: Close can write what is queued
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc, ds
}

var outageRoot = func() seal.RootKey {
	k, err := seal.ParseRootKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	return k
}()

func TestOutage_ReadsComeFromHeldAnswersChangesAre503(t *testing.T) {
	ctx := context.Background()
	svc, ds := outageService(t, sqlitetest.Open(t), t.TempDir())
	reader := vault.Caller{Principal: guard.Principal{AppID: "reader-app"}, RequestID: "r"}
	must[vault.RoleAssignment](t)(svc.AssignRole(ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "reader-app", Role: "Key Vault Secrets User"}))
	for _, n := range []string{"read-before", "changed-here", "never-read"} {
		must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", n, vault.SecretInput{Value: vault.NewStringValue("v-" + n)}))
	}
	for _, n := range []string{"read-before", "changed-here"} {
		must[vault.Secret](t)(svc.GetSecret(ctx, reader, "default", n, ""))
	}
	if _, err := svc.GetSecret(ctx, reader, "default", "absent", ""); !vault.IsKind(err, vault.KindNotFound) {
		t.Fatalf("absent before the outage: %v", err)
	}
	// A change on this node drops what it held of the object.
	off := false
	must[vault.Secret](t)(svc.UpdateSecret(ctx, admin, "default", "changed-here", "", vault.Update{Enabled: &off}))

	ds.down.Store(true)
	cases := []struct {
		name string
		do   func() error
		want vault.ErrorKind // -1: success
	}{
		{"a secret read before is served", func() error {
			s, err := svc.GetSecret(ctx, reader, "default", "read-before", "")
			if err == nil && s.Value.String() != "[redacted]" {
				return errors.New("value not redacted")
			}
			if err == nil && string(s.Value.Bytes()) != "v-read-before" {
				return fmt.Errorf("value %q", s.Value.Bytes())
			}
			return err
		}, -1},
		{"an absent secret read before is still absent", func() error {
			_, err := svc.GetSecret(ctx, reader, "default", "absent", "")
			return err
		}, vault.KindNotFound},
		{"a secret changed on this node since its read is not served stale", func() error {
			_, err := svc.GetSecret(ctx, reader, "default", "changed-here", "")
			return err
		}, vault.KindUnavailable},
		{"a secret never read here is unavailable", func() error {
			_, err := svc.GetSecret(ctx, reader, "default", "never-read", "")
			return err
		}, vault.KindUnavailable},
		{"a change is unavailable", func() error {
			_, err := svc.SetSecret(ctx, admin, "default", "new", vault.SecretInput{Value: vault.NewStringValue("x")})
			return err
		}, vault.KindUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if c.want < 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if !vault.IsKind(err, c.want) {
				t.Fatalf("got %v (%T), want kind %s", err, err, c.want)
			}
		})
	}
}

func TestOutage_HeldAnswersExpire(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	svc, ds := outageService(t, sqlitetest.Open(t), "", func(c *vault.Config) { c.Now = clock; c.HeldReadMaxAge = time.Minute })
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	ds.down.Store(true)
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	now = now.Add(2 * time.Minute)
	if _, err := svc.GetSecret(ctx, admin, "default", "s", ""); !vault.IsKind(err, vault.KindUnavailable) {
		t.Fatalf("read of an answer older than HeldReadMaxAge: %v, want unavailable", err)
	}
}

func readRecords(t *testing.T, st vault.Store, name string) []vault.AuditRecord {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), vault.AuditQuery{Vault: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []vault.AuditRecord
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		if recs[i].Name == name && recs[i].Operation == string(vault.PermSecretsGet) {
			out = append(out, recs[i])
		}
	}
	return out
}

func TestOutage_ReadAuditsAreSpooledAndReplayedInOrder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := sqlitetest.Open(t)
	svc, ds := outageService(t, st, dir)
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, vault.Caller{Admin: true, RequestID: "before"}, "default", "s", ""))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	ds.down.Store(true)
	const reads = 50
	for i := range reads {
		must[vault.Secret](t)(svc.GetSecret(ctx, vault.Caller{Admin: true, RequestID: fmt.Sprintf("during-%02d", i)}, "default", "s", ""))
	}
	if err := svc.Flush(ctx); err != nil {
		t.Fatalf("flush while the store is down (records spooled): %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, vault.AuditSpoolFile)); err != nil || fi.Size() == 0 {
		t.Fatalf("spool after the outage's reads: %v %v", fi, err)
	}
	if n := len(readRecords(t, st, "s")); n != 1 {
		t.Fatalf("%d read records in the store during the outage, want 1 (the one before)", n)
	}

	ds.down.Store(false)
	must[vault.Secret](t)(svc.GetSecret(ctx, vault.Caller{Admin: true, RequestID: "after"}, "default", "s", ""))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, st, "s")
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	if len(ids) != reads+2 || ids[0] != "before" || ids[len(ids)-1] != "after" {
		t.Fatalf("records after the outage: %v", ids)
	}
	for i := range reads {
		if want := fmt.Sprintf("during-%02d", i); ids[i+1] != want {
			t.Fatalf("record %d is %s, want %s (order of the log): %v", i+1, ids[i+1], want, ids)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, vault.AuditSpoolFile)); err != nil || fi.Size() != 0 {
		t.Fatalf("spool after the replay: %v %v, want empty", fi, err)
	}
}

func TestOutage_SpoolLeftAtShutdownIsReplayedByTheNextStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := sqlitetest.Open(t)
	svc, ds := outageService(t, st, dir)
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ds.down.Store(true)
	for range 5 {
		must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatalf("close while the store is down: %v", err)
	}
	if n := len(readRecords(t, st, "s")); n != 1 {
		t.Fatalf("%d read records before the restart, want 1", n)
	}
	next, _ := outageService(t, st, dir)
	if err := next.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(readRecords(t, st, "s")); n != 6 {
		t.Fatalf("%d read records after the restart, want 6", n)
	}
}

func TestOutage_AReadThatFindsTheAuditQueueFullIsRefusedAtItsDeadline(t *testing.T) {
	ctx := context.Background()
	// No spool: the writer holds the queue while the store is down.
	svc, ds := outageService(t, sqlitetest.Open(t), "", func(c *vault.Config) { c.AuditQueueSize = 1 })
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ds.down.Store(true)
	var refused error
	for i := 0; i < 2000 && refused == nil; i++ { // a batch gathers up to 512, then the queue fills
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := svc.GetSecret(rctx, admin, "default", "s", "")
		cancel()
		refused = err
	}
	if !vault.IsKind(refused, vault.KindUnavailable) {
		t.Fatalf("read with a full audit queue: %v, want unavailable (refused, never unaudited)", refused)
	}
	ds.down.Store(false)
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
